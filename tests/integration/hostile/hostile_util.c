// SPDX-License-Identifier: MIT
/* hostile_verbs: the QP helpers every area uses */
#include <poll.h>
#include <unistd.h>

#include "hostile.h"

/* ------------------------------------------------------------- QPs */

struct ibv_qp *new_qp(enum ibv_qp_type t, uint32_t swr, uint32_t rwr,
		      struct ibv_srq *srq)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = cq,
		.recv_cq = cq,
		.srq = srq,
		.cap = { .max_send_wr = swr,
			 .max_recv_wr = rwr,
			 .max_send_sge = 2,
			 .max_recv_sge = 2,
			 .max_inline_data = qp_inline },
		.qp_type = t,
	};

	return ibv_create_qp(pd, &ia);
}

int to_init(struct ibv_qp *qp)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_INIT, .port_num = 1 };

	a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;
	return ibv_modify_qp(qp, &a,
			     IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				     IBV_QP_ACCESS_FLAGS);
}

void rtr_attr(struct ibv_qp_attr *a, uint32_t dqpn, int *mask)
{
	memset(a, 0, sizeof(*a));
	a->qp_state = IBV_QPS_RTR;
	a->path_mtu = IBV_MTU_1024;
	a->dest_qp_num = dqpn;
	a->max_dest_rd_atomic = 1;
	a->min_rnr_timer = 12;
	a->ah_attr.is_global = 1;
	a->ah_attr.port_num = 1;
	a->ah_attr.grh.dgid = gid0;
	a->ah_attr.grh.hop_limit = 1;
	*mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
		IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
		IBV_QP_MIN_RNR_TIMER;
}

void rts_attr(struct ibv_qp_attr *a, int *mask)
{
	memset(a, 0, sizeof(*a));
	a->qp_state = IBV_QPS_RTS;
	a->timeout = 14;
	a->retry_cnt = 7;
	a->rnr_retry = 7;
	a->max_rd_atomic = 1;
	*mask = IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
		IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC;
}

int to_rts(struct ibv_qp *qp, uint32_t dqpn)
{
	struct ibv_qp_attr a;
	int mask;

	if (qp->state == IBV_QPS_RESET && to_init(qp))
		return -1;
	rtr_attr(&a, dqpn, &mask);
	if (qp->qp_type == IBV_QPT_UC)
		mask &= ~(IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
	if (ibv_modify_qp(qp, &a, mask))
		return -1;
	rts_attr(&a, &mask);
	if (qp->qp_type == IBV_QPT_UC)
		mask = IBV_QP_STATE | IBV_QP_SQ_PSN;
	return ibv_modify_qp(qp, &a, mask);
}

enum ibv_qp_state qstate(struct ibv_qp *qp)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr ia;

	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &ia))
		return (enum ibv_qp_state) - 1;
	return a.qp_state;
}

/* Two QPs of the context connected to each other; false on failure. */
bool pair_up(struct pair *p, enum ibv_qp_type t, uint32_t swr, uint32_t rwr)
{
	p->a = new_qp(t, swr, rwr, NULL);
	p->b = new_qp(t, swr, rwr, NULL);
	if (!p->a || !p->b || to_rts(p->a, p->b->qp_num) ||
	    to_rts(p->b, p->a->qp_num)) {
		check(false, "set up a connected %s pair: %s",
		      t == IBV_QPT_RC ? "RC" : "UC", strerror(errno));
		return false;
	}
	return true;
}

void pair_down(struct pair *p)
{
	if (p->a)
		ibv_destroy_qp(p->a);
	if (p->b)
		ibv_destroy_qp(p->b);
}

/* Takes up to n completions within the deadline; returns how many. */
int poll_n(struct ibv_wc *wc, int n)
{
	uint64_t t0 = now_ms();
	int got = 0, r;

	while (got < n && now_ms() - t0 < DEADLINE_MS) {
		r = ibv_poll_cq(cq, n - got, wc + got);
		if (r < 0)
			break;
		got += r;
		if (!r)
			usleep(200);
	}
	return got;
}

/* Drains the CQ (flushes of a QP on its way out); returns how many. */
int drain(void)
{
	struct ibv_wc wc[64];
	int n = 0, r;

	while ((r = ibv_poll_cq(cq, 64, wc)) > 0)
		n += r;
	return n;
}

struct ibv_sge sge(uint32_t off, uint32_t len)
{
	struct ibv_sge s = { .addr = (uintptr_t)(buf + off),
			     .length = len,
			     .lkey = mr->lkey };

	return s;
}

/* A QP in ERR on its own CQ: every receive posted is flushed into it. */
struct ibv_qp *err_qp_on(struct ibv_cq *c, uint32_t rwr)
{
	struct ibv_qp_init_attr ia = { .send_cq = c,
				       .recv_cq = c,
				       .cap = { .max_send_wr = 1,
						.max_recv_wr = rwr,
						.max_recv_sge = 1 },
				       .qp_type = IBV_QPT_RC };
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };
	struct ibv_qp *qp = ibv_create_qp(pd, &ia);

	if (qp && (to_init(qp) || ibv_modify_qp(qp, &a, IBV_QP_STATE))) {
		ibv_destroy_qp(qp);
		qp = NULL;
	}
	return qp;
}

int flush_recvs(struct ibv_qp *qp, int n)
{
	struct ibv_sge s = sge(0, 8);
	struct ibv_recv_wr rw = { .sg_list = &s, .num_sge = 1 }, *rbad;
	int i;

	for (i = 0; i < n; i++) {
		rw.wr_id = i;
		if (ibv_post_recv(qp, &rw, &rbad))
			return -1;
	}
	return 0;
}

/* Waits for one async event of type t; returns whether it came. */
bool async_event(enum ibv_event_type t)
{
	uint64_t t0 = now_ms();
	struct ibv_async_event ev;
	bool seen = false;
	struct pollfd pf = { .fd = ctx->async_fd, .events = POLLIN };

	while (!seen && now_ms() - t0 < DEADLINE_MS) {
		if (poll(&pf, 1, 100) != 1)
			continue;
		if (ibv_get_async_event(ctx, &ev))
			break;
		seen = ev.event_type == t;
		ibv_ack_async_event(&ev);
	}
	return seen;
}
