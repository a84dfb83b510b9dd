// SPDX-License-Identifier: MIT
/* keyguess: the two sides' objects and connected QP pairs */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "keyguess.h"
#include "tdev.h"

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
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_INIT, .port_num = 1 };

	a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	return ibv_modify_qp(qp, &a,
			     IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				     IBV_QP_ACCESS_FLAGS);
}

static int to_rts(struct ibv_qp *qp, uint32_t dqpn, const union ibv_gid *dgid)
{
	struct ibv_qp_attr a = { 0 };
	bool uc = qp->qp_type == IBV_QPT_UC;
	int mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
		   IBV_QP_DEST_QPN | IBV_QP_RQ_PSN;

	if (to_init(qp))
		return -1;
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = dqpn;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.dgid = *dgid;
	a.ah_attr.grh.hop_limit = 1;
	if (!uc)
		mask |= IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
	if (ibv_modify_qp(qp, &a, mask))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 1;
	mask = IBV_QP_STATE | IBV_QP_SQ_PSN;
	if (!uc)
		mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			IBV_QP_MAX_QP_RD_ATOMIC;
	return ibv_modify_qp(qp, &a, mask);
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
