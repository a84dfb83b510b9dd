// SPDX-License-Identifier: MIT
/* keyguess: the two sides' objects and connected QP pairs */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "keyguess.h"
#include "tdev.h"

#include "tqp.h"

int side_open(struct side *s, const char *dev)
{
	s->ctx = open_dev(dev);
	if (!s->ctx)
		return -1;
	s->pd = ibv_alloc_pd(s->ctx);
	s->cq = ibv_create_cq(s->ctx, 1024, NULL, NULL, 0);
	if (!s->pd || !s->cq || ibv_query_gid(s->ctx, 1, 0, &s->gid))
		return -1;
	return 0;
}

static struct ibv_qp *new_qp(struct side *s, enum ibv_qp_type t)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = s->cq,
		.recv_cq = s->cq,
		.cap = { .max_send_wr = 512,
			 .max_recv_wr = 4,
			 .max_send_sge = 1,
			 .max_recv_sge = 1 },
		.qp_type = t,
	};

	return ibv_create_qp(s->pd, &ia);
}

static int to_init(struct ibv_qp *qp)
{
	return tqp_init(qp, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
}

static int to_rts(struct ibv_qp *qp, uint32_t dqpn, const union ibv_gid *dgid)
{
	struct tqp_path p = tqp_path(dqpn, dgid);

	return to_init(qp) || tqp_rtr(qp, &p) || tqp_rts(qp, &p) ? -1 : 0;
}

int pair_up(struct pair *p, enum ibv_qp_type t)
{
	p->v = new_qp(&vic, t);
	p->a = new_qp(&att, t);
	if (!p->v || !p->a || to_rts(p->v, p->a->qp_num, &att.gid) ||
	    to_rts(p->a, p->v->qp_num, &vic.gid))
		return -1;
	return 0;
}

void pair_down(struct pair *p)
{
	if (p->a)
		ibv_destroy_qp(p->a);
	if (p->v)
		ibv_destroy_qp(p->v);
	p->a = p->v = NULL;
}

/* One completion from cq within the deadline; -1 if none came. */
int poll_one(struct ibv_cq *cq, struct ibv_wc *wc)
{
	uint64_t t0 = now_ms();
	int r;

	while (now_ms() - t0 < DEADLINE_MS) {
		r = ibv_poll_cq(cq, 1, wc);
		if (r)
			return r < 0 ? -1 : 0;
		usleep(50);
	}
	return -1;
}

/* A guess: 32 bits from the kernel's CSPRNG, drawn in batches. */
uint32_t rand_key(void)
{
	static uint32_t pool[1024];
	static unsigned int left;

	if (!left) {
		if (getrandom(pool, sizeof(pool), 0) != (ssize_t)sizeof(pool))
			memset(pool, 0, sizeof(pool));
		left = 1024;
	}
	return pool[--left];
}

int post_write(struct ibv_qp *qp, uint32_t rkey, bool signaled)
{
	struct ibv_sge s = { .addr = (uintptr_t)abuf,
			     .length = 8,
			     .lkey = amr->lkey };
	struct ibv_send_wr wr = { .sg_list = &s, .num_sge = 1 }, *bad;

	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.send_flags = signaled ? IBV_SEND_SIGNALED : 0;
	wr.wr.rdma.rkey = rkey;
	wr.wr.rdma.remote_addr = (uintptr_t)vbuf;
	return ibv_post_send(qp, &wr, &bad);
}
