// SPDX-License-Identifier: MIT
/* QP lifecycle: create, modify (through qp_state.c), query, destroy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "conn.h"
#include "qp.h"
#include "qp_state.h"
#include "debug.h"
#include "stat.h"
#include "ud.h"

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static void qp_free_queues(struct tcp_qp *qp)
{
	tcp_qbuf_free(&qp->alloc, &qp->qbuf, TCP_RES_TYPE_QP);
	free(qp->rx.rwqe.seg);
	tcp_qp_bufs_free(qp);
}

/* Takes n bytes at *off of the block being laid out (64-byte aligned). */
static size_t qp_carve(size_t *off, size_t n)
{
	size_t at = *off;

	*off = (at + n + 63) & ~(size_t)63;
	return at;
}

/* Points the SQ's and RQ's arrays into the block at the offsets given. */
static void qp_lay_out(struct tcp_qp *qp, const size_t at[5], uint32_t ssge,
		       uint32_t rsge)
{
	char *b = qp->qbuf.p;

	/* (a WQE's own pointers into them are set as it is posted: the
	 * rings' pages are written only as far as they are used) */
	qp->sq.wqe = (void *)(b + at[0]);
	qp->sq.segs = ssge > 1 ? (void *)(b + at[1]) : NULL;
	qp->sq.sges = ssge;
	qp->sq.inl = qp->cap.max_inline_data ? b + at[2] : NULL;
	if (qp->srq)
		return;
	qp->rq.wqe = (void *)(b + at[3]);
	qp->rq.segs = rsge > 1 ? (void *)(b + at[4]) : NULL;
	qp->rq.sges = rsge;
}

static int qp_alloc_queues(struct tcp_qp *qp)
{
	uint32_t ssge, rsge;
	size_t at[5] = { 0 }, off = 0;

	/*
	 * Rings indexed by free-running counters, capacity checked against
	 * cap before a slot is taken: max_wr slots suffice (rounded up to a
	 * power of two). The queues' WQEs, SGE lists and inline buffers are
	 * one block (an idle QP's memory is mostly these:
	 * docs/performance.md), the queue buffer a parent domain's
	 * allocator is asked for.
	 */
	qp->sq.size = pow2_at_least(qp->cap.max_send_wr);
	ssge = qp->cap.max_send_sge ? qp->cap.max_send_sge : 1;
	at[0] = qp_carve(&off, (size_t)qp->sq.size * sizeof(*qp->sq.wqe));
	/* (one SGE a WQE: in the WQE itself, seg1) */
	at[1] = qp_carve(&off, ssge > 1 ? (size_t)qp->sq.size * ssge *
						  sizeof(struct tcp_seg)
					: 0);
	at[2] = qp_carve(&off, (size_t)qp->sq.size * qp->cap.max_inline_data);
	rsge = qp->cap.max_recv_sge ? qp->cap.max_recv_sge : 1;
	if (!qp->srq) {
		qp->rq.size = pow2_at_least(qp->cap.max_recv_wr);
		at[3] = qp_carve(&off,
				 (size_t)qp->rq.size * sizeof(*qp->rq.wqe));
		at[4] = qp_carve(&off, rsge > 1 ? (size_t)qp->rq.size * rsge *
							  sizeof(struct tcp_seg)
						: 0);
	}
	if (tcp_qbuf_alloc(&qp->alloc, &qp->qbuf, off, TCP_RES_TYPE_QP))
		return ENOMEM;
	qp_lay_out(qp, at, ssge, rsge);
	qp->rx.rwqe.seg = calloc(TCP_MAX_SGE, sizeof(struct tcp_seg));
	if (!qp->rx.rwqe.seg)
		return ENOMEM;
	return 0;
}

static int check_init_attr(struct ibv_context *ctx,
			   struct ibv_qp_init_attr_ex *a)
{
	if (a->qp_type != IBV_QPT_RC && a->qp_type != IBV_QPT_UC &&
	    a->qp_type != IBV_QPT_UD)
		return EOPNOTSUPP;
	if (!(a->comp_mask & IBV_QP_INIT_ATTR_PD) || !a->pd)
		return EINVAL;
	if (a->comp_mask &
	    ~(IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_CREATE_FLAGS |
	      IBV_QP_INIT_ATTR_SEND_OPS_FLAGS))
		return EOPNOTSUPP;
	/* the mask may be set with no flag in it: nothing is asked then */
	if ((a->comp_mask & IBV_QP_INIT_ATTR_CREATE_FLAGS) && a->create_flags)
		return EOPNOTSUPP;
	if (!a->send_cq || !a->recv_cq)
		return EINVAL;
	/*
	 * Objects of another context (another open of this device, or
	 * another device) are not ours to cast: the kernel finds no such
	 * handle in this context either.
	 */
	if (a->pd->context != ctx || a->send_cq->context != ctx ||
	    a->recv_cq->context != ctx || (a->srq && a->srq->context != ctx))
		return EINVAL;
	if (a->cap.max_send_wr > TCP_MAX_QP_WR ||
	    a->cap.max_send_sge > TCP_MAX_SGE ||
	    a->cap.max_inline_data > TCP_MAX_INLINE)
		return EINVAL;
	if (!a->srq && (a->cap.max_recv_wr > TCP_MAX_QP_WR ||
			a->cap.max_recv_sge > TCP_MAX_SGE))
		return EINVAL;
	if (a->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) {
		uint64_t ok = IBV_QP_EX_WITH_SEND |
			      IBV_QP_EX_WITH_SEND_WITH_IMM |
			      IBV_QP_EX_WITH_RDMA_WRITE |
			      IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM |
			      IBV_QP_EX_WITH_SEND_WITH_INV |
			      IBV_QP_EX_WITH_LOCAL_INV | IBV_QP_EX_WITH_BIND_MW;

		if (a->qp_type == IBV_QPT_UD)
			ok = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM;
		if (a->qp_type == IBV_QPT_RC)
			ok |= IBV_QP_EX_WITH_RDMA_READ |
			      IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP |
			      IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD |
			      IBV_QP_EX_WITH_ATOMIC_WRITE;
		/* an op we cannot do would leave a NULL ibv_wr_* pointer */
		if (a->send_ops_flags & ~ok)
			return EOPNOTSUPP;
	}
	return 0;
}

/* The engine frees a destroyed QP once no event names it (tcp_engine_bury). */
static void qp_watch_free(struct tcp_watch *w)
{
	tcp_qp_free(container_of(w, struct tcp_qp_poll, p)->qp);
}

/* The QP's socket: served by the transport (qp_watch.c). */
static const struct tcp_watch_ops qp_watch_ops = {
	.ready = tcp_qp_ready,
	.free = qp_watch_free,
};

/*
 * As rxe_init_sq() does: a send WQE's SGE area and its inline area are the
 * same bytes, so the inline capacity is at least max_send_sge SGEs' worth
 * (16 bytes each), and that is what the caps report. rxe also raises
 * max_send_sge to what a larger inline area holds; that gives an
 * application nothing it asked for, so the SGE count stays as requested.
 */
static void qp_round_inline(struct ibv_qp_cap *cap)
{
	uint32_t area = cap->max_send_sge * sizeof(struct ibv_sge);

	if (area > cap->max_inline_data)
		cap->max_inline_data = area;
}

/* What the QP takes from its creation attributes. */
static void qp_init_fields(struct tcp_qp *qp, struct tcp_context *ctx,
			   const struct ibv_qp_init_attr_ex *a)
{
	qp->ctx = ctx;
	qp->conn.fd = -1;
	qp->conn.closing_fd = -1;
	qp->type = a->qp_type;
	qp->pd = tcp_pd_prot(a->pd);
	qp->pdom = tcp_pdom_get(a->pd, &qp->alloc);
	qp->scq = to_tcq(a->send_cq);
	qp->rcq = to_tcq(a->recv_cq);
	qp->srq = a->srq ? to_tsrq(a->srq) : NULL;
	qp->sq_sig_all = a->sq_sig_all;
	qp->cap = a->cap;
	qp_round_inline(&qp->cap);
	if (qp->srq) {
		qp->cap.max_recv_wr = 0;
		qp->cap.max_recv_sge = 0;
	}
}

/* The libibverbs side of the QP, as ibv_create_qp would fill it. */
static void qp_init_public(struct tcp_qp *qp, struct ibv_context *ibctx,
			   const struct ibv_qp_init_attr_ex *a)
{
	qp->vqp.qp.context = ibctx;
	tcp_obj_init(&qp->id, qp->ctx, &qp->vqp.qp.handle);
	qp->vqp.qp.qp_context = a->qp_context;
	qp->vqp.qp.pd = a->pd;
	qp->vqp.qp.send_cq = a->send_cq;
	qp->vqp.qp.recv_cq = a->recv_cq;
	qp->vqp.qp.srq = a->srq;
	qp->vqp.qp.qp_type = a->qp_type;
	qp->vqp.qp.state = IBV_QPS_RESET;
	qp->vqp.qp.events_completed = 0;
	pthread_mutex_init(&qp->vqp.qp.mutex, NULL);
	pthread_cond_init(&qp->vqp.qp.cond, NULL);
	if (a->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS)
		tcp_qp_ex_init(qp, a->send_ops_flags);
}

/*
 * Who drives the new QP: the pollers of its CQs, and for a UD QP the
 * engine, which reads its socket from now on (qp_watch.c). 0 or an errno.
 */
static int qp_serve(struct tcp_qp *qp)
{
	int err = ENOMEM;

	if (tcp_cq_attach(qp->scq, qp) ||
	    (qp->rcq != qp->scq && tcp_cq_attach(qp->rcq, qp)))
		goto fail;
	if (qp->type == IBV_QPT_UD) {
		err = tcp_engine_watch(qp->ctx, qp->ud->fd, &qp->conn.poll.p,
				       EPOLLIN);
		if (err)
			goto fail;
	}
	return 0;
fail:
	/* (detaching a QP that is not attached does nothing) */
	tcp_cq_detach(qp->scq, qp);
	tcp_cq_detach(qp->rcq, qp);
	return err;
}

struct ibv_qp *tcp_create_qp_ex(struct ibv_context *ibctx,
				struct ibv_qp_init_attr_ex *a)
{
	struct tcp_context *ctx = to_tctx(ibctx);
	struct tcp_qp *qp;
	int err;

	err = check_init_attr(ibctx, a);
	if (err) {
		errno = err;
		return NULL;
	}
	if (atomic_fetch_add(&ctx->n_qp, 1) >= TCP_MAX_QP) {
		atomic_fetch_sub(&ctx->n_qp, 1);
		errno = ENOMEM;
		return NULL;
	}
	qp = calloc(1, sizeof(*qp));
	if (!qp) {
		err = ENOMEM;
		goto fail_count;
	}
	qp_init_fields(qp, ctx, a);
	qp->state = IBV_QPS_RESET;
	qp->conn.poll.p.ops = &qp_watch_ops;
	qp->conn.poll.qp = qp;
	tcp_mutex_init(&qp->lock, TCP_LOCK_RANK_QP);
	err = qp_alloc_queues(qp);
	if (!err && qp->type == IBV_QPT_UD)
		err = tcp_ud_create(qp);
	if (err)
		goto fail;

	tcp_mutex_lock(&ctx->lock);
	err = qp->type == IBV_QPT_UD ? tcp_ud_port_alloc(qp)
				     : tcp_qpn_alloc(qp);
	tcp_mutex_unlock(&ctx->lock);
	if (err)
		goto fail;

	qp_init_public(qp, ibctx, a);
	tcp_stat_qp_add(qp);
	if (qp->type == IBV_QPT_UD)
		tcp_stat_qp_conn(qp, qp->ud->fd); /* its UDP socket */
	err = qp_serve(qp);
	if (err)
		goto fail_qpn;
	atomic_fetch_add(&qp->pd->users, 1);
	atomic_fetch_add(&qp->scq->users, 1);
	atomic_fetch_add(&qp->rcq->users, 1);
	if (qp->srq)
		atomic_fetch_add(&qp->srq->users, 1);
	/* report what the QP really holds */
	a->cap = qp->cap;
	return &qp->vqp.qp;
fail_qpn:
	tcp_mutex_lock(&ctx->lock);
	if (qp->type == IBV_QPT_UD)
		tcp_ud_port_free(qp);
	else
		tcp_qpn_free(qp);
	tcp_mutex_unlock(&ctx->lock);
fail:
	tcp_ud_free(qp);
	qp_free_queues(qp);
	tcp_pdom_put(qp->pdom);
	free(qp);
fail_count:
	atomic_fetch_sub(&ctx->n_qp, 1);
	errno = err;
	return NULL;
}

struct ibv_qp *tcp_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
	struct ibv_qp_init_attr_ex ex = { 0 };
	struct ibv_qp *qp;

	memcpy(&ex, attr, sizeof(*attr));
	ex.comp_mask = IBV_QP_INIT_ATTR_PD;
	ex.pd = pd;
	qp = tcp_create_qp_ex(pd->context, &ex);
	if (qp)
		attr->cap = ex.cap;
	return qp;
}

static void drop_closing(struct tcp_qp *qp)
{
	if (qp->conn.closing_fd >= 0) {
		tcp_engine_linger(qp->ctx, qp->conn.closing_fd);
		qp->conn.closing_fd = -1;
	}
}

static void qp_reset(struct tcp_qp *qp)
{
	tcp_qp_close_conn(qp);
	tcp_qp_dead_peer_cancel(qp);
	drop_closing(qp);
	qp->sq.head = qp->sq.tx = qp->sq.done = 0;
	qp->prog.tx_unsent_bytes = qp->prog.tx_unsig = 0;
	qp->prog.burst_wrs = qp->prog.prev_burst_wrs = 0;
	qp->rq.head = qp->rq.tail = 0;
	qp->sq.next_msn = qp->sq.peer_acked = qp->sq.peer_credits = 0;
	qp->sq.sends_issued = qp->rq.posted_total = 0;
	qp->sq.rd_out = 0;
	qp->sec.refused = false;
	qp->resp.expect_msn = qp->resp.ack_sent = qp->resp.credits_sent = 0;
	qp->resp.ack_held_ns = 0;
	qp->sq.peer_no_credit = false;
	qp->sq.peer_heard = false;
	qp->tx.seq = qp->rx.seq = 0;
	qp->rx.start = qp->rx.end = 0;
	qp->rx.has_rwqe = false;
	qp->conn.hello_sent = 0;
	qp->conn.active = false;
	qp->conn.lost = false;
}

/*
 * An empty GID table slot reads as the zero GID: a QP must not leave from
 * it (the connection would be made from whatever address the kernel
 * picks, to an address the peer never named).
 */
static bool sgid_valid(struct tcp_qp *qp, uint8_t index)
{
	static const union ibv_gid zero;
	union ibv_gid gid;

	/*
	 * libibverbs reads the GID from a file: out of fds, it cannot tell.
	 * Then the connection fails the QP (tcp_conn_start), as it would
	 * without an fd for its socket, rather than modify_qp with EINVAL.
	 */
	if (ibv_query_gid(&qp->ctx->vctx.context, 1, index, &gid))
		return errno == EMFILE || errno == ENFILE;
	return memcmp(&gid, &zero, sizeof(gid));
}

static int check_attr_values(struct tcp_qp *qp, struct ibv_qp_attr *a, int mask)
{
	if ((mask & IBV_QP_PORT) && a->port_num != 1)
		return EINVAL;
	if ((mask & IBV_QP_PKEY_INDEX) && a->pkey_index != 0)
		return EINVAL;
	if ((mask & IBV_QP_ACCESS_FLAGS) &&
	    (a->qp_access_flags &
	     ~(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
	       IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)))
		return EINVAL;
	if ((mask & IBV_QP_PATH_MTU) &&
	    (a->path_mtu < IBV_MTU_256 || a->path_mtu > IBV_MTU_4096))
		return EINVAL;
	if (mask & IBV_QP_AV) {
		/* RoCE routing: only the GRH's GIDs matter, and it is required */
		if (!a->ah_attr.is_global ||
		    a->ah_attr.grh.sgid_index >= TCP_GID_TBL_LEN ||
		    (a->ah_attr.port_num && a->ah_attr.port_num != 1) ||
		    !sgid_valid(qp, a->ah_attr.grh.sgid_index))
			return EINVAL;
	}
	if (mask & IBV_QP_ALT_PATH) {
		/* stored and reported, never used: checked as rxe checks it */
		if (!a->alt_ah_attr.is_global ||
		    a->alt_ah_attr.grh.sgid_index >= TCP_GID_TBL_LEN ||
		    (a->alt_ah_attr.port_num && a->alt_ah_attr.port_num != 1) ||
		    a->alt_port_num != 1 || a->alt_pkey_index != 0 ||
		    a->alt_timeout > 31)
			return EINVAL;
	}
	if ((mask & IBV_QP_PATH_MIG_STATE) &&
	    (unsigned int)a->path_mig_state > IBV_MIG_ARMED)
		return EINVAL;
	if ((mask & IBV_QP_DEST_QPN) && a->dest_qp_num > 0xffffff)
		return EINVAL;
	if ((mask & IBV_QP_MAX_DEST_RD_ATOMIC) &&
	    a->max_dest_rd_atomic > TCP_MAX_QP_RD_ATOM)
		return EINVAL;
	if ((mask & IBV_QP_MAX_QP_RD_ATOMIC) &&
	    a->max_rd_atomic > TCP_MAX_QP_RD_ATOM)
		return EINVAL;
	if ((mask & IBV_QP_TIMEOUT) && a->timeout > 31)
		return EINVAL;
	if ((mask & IBV_QP_RETRY_CNT) && a->retry_cnt > 7)
		return EINVAL;
	if ((mask & IBV_QP_RNR_RETRY) && a->rnr_retry > 7)
		return EINVAL;
	if ((mask & IBV_QP_MIN_RNR_TIMER) && a->min_rnr_timer > 31)
		return EINVAL;
	if ((mask & IBV_QP_CUR_STATE) && a->cur_qp_state != qp->state)
		return EINVAL;
	if (mask & ~(IBV_QP_RATE_LIMIT - 1))
		return EINVAL;
	return 0;
}

static void store_attrs(struct tcp_qp *qp, struct ibv_qp_attr *a, int mask)
{
	struct ibv_qp_attr *s = &qp->attr;

#define COPY(bit, field)                     \
	do {                                 \
		if (mask & (bit))            \
			s->field = a->field; \
	} while (0)
	COPY(IBV_QP_PKEY_INDEX, pkey_index);
	COPY(IBV_QP_PORT, port_num);
	COPY(IBV_QP_ACCESS_FLAGS, qp_access_flags);
	COPY(IBV_QP_AV, ah_attr);
	COPY(IBV_QP_PATH_MTU, path_mtu);
	COPY(IBV_QP_DEST_QPN, dest_qp_num);
	COPY(IBV_QP_RQ_PSN, rq_psn);
	COPY(IBV_QP_SQ_PSN, sq_psn);
	COPY(IBV_QP_MAX_DEST_RD_ATOMIC, max_dest_rd_atomic);
	COPY(IBV_QP_MAX_QP_RD_ATOMIC, max_rd_atomic);
	COPY(IBV_QP_MIN_RNR_TIMER, min_rnr_timer);
	COPY(IBV_QP_TIMEOUT, timeout);
	COPY(IBV_QP_RETRY_CNT, retry_cnt);
	COPY(IBV_QP_RNR_RETRY, rnr_retry);
	COPY(IBV_QP_ALT_PATH, alt_ah_attr);
	COPY(IBV_QP_ALT_PATH, alt_port_num);
	COPY(IBV_QP_ALT_PATH, alt_pkey_index);
	COPY(IBV_QP_ALT_PATH, alt_timeout);
	COPY(IBV_QP_PATH_MIG_STATE, path_mig_state);
	COPY(IBV_QP_EN_SQD_ASYNC_NOTIFY, en_sqd_async_notify);
	COPY(IBV_QP_QKEY, qkey);
#undef COPY
	/* PSNs are 24 bits on the wire of every transport: keep those (rxe) */
	s->rq_psn &= 0xffffff;
	s->sq_psn &= 0xffffff;
	qp->attr_mask_set |= mask;
}

/* The debug log's line for a modify that changed the state. */
static void log_transition(struct tcp_qp *qp, enum ibv_qp_state was)
{
	if (qp->state != was)
		TCP_DBG_QP(RTCP_DBG_QP, qp, "%s -> %s (ibv_modify_qp)",
			   tcp_qps_name(was), tcp_qps_name(qp->state));
}

int tcp_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *a, int mask)
{
	struct tcp_qp *qp = to_tqp(ibqp);
	struct tcp_context *ctx = qp->ctx;
	enum ibv_qp_state next, was;
	int err = 0;

	/* the kernel's modify finds no such QP: EINVAL (ib_uverbs_modify_qp) */
	if (!tcp_obj_ok(&qp->id, ibqp->context, ibqp->handle))
		return tcp_fail(EINVAL);
	tcp_mutex_lock(&ctx->lock);
	tcp_mutex_lock(&qp->lock);
	was = qp->state;
	next = (mask & IBV_QP_STATE) ? a->qp_state : qp->state;
	if (!tcp_qp_mask_ok(qp->type, qp->state, next, mask | IBV_QP_STATE)) {
		err = EINVAL;
		goto out;
	}
	err = check_attr_values(qp, a, mask);
	if (err)
		goto out;
	if (next == IBV_QPS_RESET) {
		qp_reset(qp);
		qp->state = IBV_QPS_RESET;
		/* as hardware providers clean a reset QP's CQEs (mlx5) */
		tcp_cq_purge_qp(qp->scq, ibqp->qp_num);
		if (qp->rcq != qp->scq)
			tcp_cq_purge_qp(qp->rcq, ibqp->qp_num);
		goto out;
	}
	if (next == IBV_QPS_ERR) {
		/*
		 * A NIC has acked what it placed before the application could
		 * see it: rdma_disconnect after the last receive must not
		 * leave the peer's SEND unacked (it would fail, retries
		 * exceeded). What already arrived is taken and acked, and the
		 * held-back ack goes, before the close.
		 */
		tcp_qp_settle(qp);
		tcp_qp_to_error(qp, 0);
		goto out;
	}
	store_attrs(qp, a, mask);
	if (qp->state == IBV_QPS_INIT && next == IBV_QPS_RTR &&
	    qp->type != IBV_QPT_UD) {
		qp->state = IBV_QPS_RTR;
		err = tcp_conn_start(qp);
		if (err) {
			qp->state = IBV_QPS_INIT;
			goto out;
		}
		log_transition(qp, was);
		tcp_qp_unlock(qp);
		tcp_conn_match_pending(ctx);
		tcp_mutex_unlock(&ctx->lock);
		return 0;
	}
	if (next == IBV_QPS_SQD && qp->state == IBV_QPS_RTS &&
	    (mask & IBV_QP_EN_SQD_ASYNC_NOTIFY) && a->en_sqd_async_notify)
		tcp_async_post(ctx, IBV_EVENT_SQ_DRAINED,
			       (uint64_t)(uintptr_t)&qp->vqp.qp);
	qp->state = next;
	if (next == IBV_QPS_RTS && qp->sec.refused) {
		/* the peer refused our credentials while we were at RTR */
		qp->sec.refused = false;
		tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
	} else if (next == IBV_QPS_RTS && qp->type != IBV_QPT_UD) {
		tcp_qp_tx(qp); /* work posted earlier may now flow */
	}
out:
	log_transition(qp, was);
	tcp_qp_unlock(qp);
	tcp_mutex_unlock(&ctx->lock);
	return tcp_fail(err);
}

int tcp_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *a, int mask,
		 struct ibv_qp_init_attr *init)
{
	struct tcp_qp *qp = to_tqp(ibqp);

	tcp_mutex_lock(&qp->lock);
	*a = qp->attr;
	a->qp_state = qp->state;
	a->cur_qp_state = qp->state;
	a->cap = qp->cap;
	a->sq_draining = 0;
	a->port_num = qp->attr.port_num ? qp->attr.port_num : 1;
	memset(init, 0, sizeof(*init));
	init->qp_context = ibqp->qp_context;
	init->send_cq = ibqp->send_cq;
	init->recv_cq = ibqp->recv_cq;
	init->srq = ibqp->srq;
	init->cap = qp->cap;
	init->qp_type = qp->type;
	init->sq_sig_all = qp->sq_sig_all;
	tcp_qp_unlock(qp);
	return 0;
}

/*
 * ibv_query_qp_data_in_order: may a reader poll the last byte of a
 * message instead of its completion? No, whatever the op: TCP delivers
 * the stream in order and messages are placed one after the other, but
 * within one message the bytes are stored by the CPU (the kernel's copy
 * into the region, or memcpy from the staging buffer), and neither x86's
 * fast-string copies nor glibc's overlapping head/tail stores make the
 * stores visible in address order. So 0, and no capability bit for
 * rdma-core 46's IBV_QUERY_QP_DATA_IN_ORDER_RETURN_CAPS either.
 */
int tcp_query_qp_data_in_order(struct ibv_qp *ibqp, enum ibv_wr_opcode op,
			       uint32_t flags)
{
	(void)ibqp;
	(void)op;
	(void)flags;
	return 0;
}

int tcp_destroy_qp(struct ibv_qp *ibqp)
{
	struct tcp_qp *qp = to_tqp(ibqp);

	if (!tcp_obj_ok(&qp->id, ibqp->context, ibqp->handle))
		return tcp_fail(ENOENT);
	tcp_qp_destroy(qp);
	return 0;
}

/* Destroys a QP known to be ours (ibv_destroy_qp, or a context closing). */
void tcp_qp_destroy(struct tcp_qp *qp)
{
	struct tcp_context *ctx = qp->ctx;

	/* pollers reach QPs through their CQs: unlink before anything */
	tcp_cq_detach(qp->scq, qp);
	if (qp->rcq != qp->scq)
		tcp_cq_detach(qp->rcq, qp);
	tcp_mutex_lock(&ctx->lock);
	tcp_mutex_lock(&qp->lock);
	/* as at a move to ERR: what arrived is taken and acked, and a
	 * held-back ack goes, before the close */
	tcp_qp_settle(qp);
	tcp_qp_close_conn(qp);
	drop_closing(qp);
	tcp_qp_dead_peer_cancel(qp);
	qp->dead = true;
	if (qp->type == IBV_QPT_UD) {
		/* the socket, then the ports: nobody may take the number
		 * while a datagram could still be read for this QP */
		while (qp->ud->mc)
			tcp_ud_mcast_leave(qp, &qp->ud->mc);
		tcp_engine_unwatch(ctx, qp->ud->fd);
		close(qp->ud->fd);
		qp->ud->fd = -1;
		tcp_ud_port_free(qp);
	} else {
		tcp_qpn_free(qp);
	}
	tcp_conn_drop_pending(ctx, qp->vqp.qp.qp_num);
	tcp_stat_qp_del(qp);
	atomic_fetch_sub(&qp->pd->users, 1);
	atomic_fetch_sub(&qp->scq->users, 1);
	atomic_fetch_sub(&qp->rcq->users, 1);
	if (qp->srq)
		atomic_fetch_sub(&qp->srq->users, 1);
	atomic_fetch_sub(&ctx->n_qp, 1);
	/*
	 * The queues go now, not at burial: a parent domain's allocator is
	 * the application's, and so is deallocating the domain once its QPs
	 * are destroyed. Nothing reads them from here: every path into a QP
	 * takes its lock and stops at `dead`.
	 */
	tcp_qbuf_free(&qp->alloc, &qp->qbuf, TCP_RES_TYPE_QP);
	tcp_pdom_put(qp->pdom);
	qp->pdom = NULL;
	tcp_qp_unlock(qp);
	tcp_engine_bury(ctx, &qp->conn.poll.p);
	tcp_mutex_unlock(&ctx->lock);
}

void tcp_qp_free(struct tcp_qp *qp)
{
	tcp_ud_free(qp);
	qp_free_queues(qp);
	free(qp->wr.stage);
	free(qp->wr.sges);
	free(qp->wr.inl);
	tcp_mutex_destroy(&qp->lock);
	free(qp);
}
