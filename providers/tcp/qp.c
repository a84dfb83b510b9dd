// SPDX-License-Identifier: MIT
/* QP lifecycle: create, modify (through qp_state.c), query, destroy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qp.h"
#include "qp_state.h"

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static void qp_free_queues(struct tcp_qp *qp)
{
	free(qp->sq_segs);
	free(qp->sq_inl);
	free(qp->rq_segs);
	free(qp->rx_rwqe.seg);
	free(qp->sq);
	free(qp->rq);
	free(qp->rxbuf);
}

static int qp_alloc_queues(struct tcp_qp *qp)
{
	uint32_t i, sge;

	/*
	 * Rings indexed by free-running counters, capacity checked against
	 * cap before a slot is taken: max_wr slots suffice (rounded up to a
	 * power of two). SGE lists and inline buffers are one allocation per
	 * queue: an idle QP's memory is mostly these (docs/performance.md).
	 */
	qp->sq_size = pow2_at_least(qp->cap.max_send_wr);
	qp->sq = calloc(qp->sq_size, sizeof(*qp->sq));
	sge = qp->cap.max_send_sge ? qp->cap.max_send_sge : 1;
	qp->sq_segs = calloc((size_t)qp->sq_size * sge, sizeof(struct tcp_seg));
	if (qp->cap.max_inline_data)
		qp->sq_inl =
			malloc((size_t)qp->sq_size * qp->cap.max_inline_data);
	if (!qp->sq || !qp->sq_segs || (qp->cap.max_inline_data && !qp->sq_inl))
		return ENOMEM;
	for (i = 0; i < qp->sq_size; i++) {
		qp->sq[i].seg = &qp->sq_segs[(size_t)i * sge];
		if (qp->cap.max_inline_data)
			qp->sq[i].inl = qp->sq_inl +
					(size_t)i * qp->cap.max_inline_data;
	}
	if (!qp->srq) {
		qp->rq_size = pow2_at_least(qp->cap.max_recv_wr);
		qp->rq = calloc(qp->rq_size, sizeof(*qp->rq));
		sge = qp->cap.max_recv_sge ? qp->cap.max_recv_sge : 1;
		qp->rq_segs = calloc((size_t)qp->rq_size * sge,
				     sizeof(struct tcp_seg));
		if (!qp->rq || !qp->rq_segs)
			return ENOMEM;
		for (i = 0; i < qp->rq_size; i++)
			qp->rq[i].seg = &qp->rq_segs[(size_t)i * sge];
	}
	qp->rx_rwqe.seg = calloc(TCP_MAX_SGE, sizeof(struct tcp_seg));
	qp->rxbuf = malloc(TCP_RXBUF);
	if (!qp->rx_rwqe.seg || !qp->rxbuf)
		return ENOMEM;
	return 0;
}

static int check_init_attr(struct ibv_context *ctx,
			   struct ibv_qp_init_attr_ex *a)
{
	if (a->qp_type != IBV_QPT_RC && a->qp_type != IBV_QPT_UC)
		return EOPNOTSUPP;
	if (!(a->comp_mask & IBV_QP_INIT_ATTR_PD) || !a->pd)
		return EINVAL;
	if (a->comp_mask &
	    ~(IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS))
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
			      IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM;

		if (a->qp_type == IBV_QPT_RC)
			ok |= IBV_QP_EX_WITH_RDMA_READ |
			      IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP |
			      IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD;
		/* an op we cannot do would leave a NULL ibv_wr_* pointer */
		if (a->send_ops_flags & ~ok)
			return EOPNOTSUPP;
	}
	return 0;
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
	qp->ctx = ctx;
	qp->fd = -1;
	qp->closing_fd = -1;
	qp->type = a->qp_type;
	qp->pd = to_tpd(a->pd);
	qp->scq = to_tcq(a->send_cq);
	qp->rcq = to_tcq(a->recv_cq);
	qp->srq = a->srq ? to_tsrq(a->srq) : NULL;
	qp->sq_sig_all = a->sq_sig_all;
	qp->cap = a->cap;
	if (qp->srq) {
		qp->cap.max_recv_wr = 0;
		qp->cap.max_recv_sge = 0;
	}
	qp->state = IBV_QPS_RESET;
	qp->poll.p.kind = POLL_QP;
	qp->poll.qp = qp;
	tcp_mutex_init(&qp->lock, TCP_LOCK_RANK_QP);
	err = qp_alloc_queues(qp);
	if (err)
		goto fail;

	tcp_mutex_lock(&ctx->lock);
	err = tcp_qpn_alloc(qp);
	tcp_mutex_unlock(&ctx->lock);
	if (err)
		goto fail;

	qp->vqp.qp.context = ibctx;
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
	if (tcp_cq_attach(qp->scq, qp) ||
	    (qp->rcq != qp->scq && tcp_cq_attach(qp->rcq, qp))) {
		tcp_cq_detach(qp->scq, qp);
		tcp_mutex_lock(&ctx->lock);
		tcp_qpn_free(qp);
		tcp_mutex_unlock(&ctx->lock);
		err = ENOMEM;
		goto fail;
	}
	atomic_fetch_add(&qp->pd->users, 1);
	atomic_fetch_add(&qp->scq->users, 1);
	atomic_fetch_add(&qp->rcq->users, 1);
	if (qp->srq)
		atomic_fetch_add(&qp->srq->users, 1);
	/* report what the QP really holds */
	a->cap = qp->cap;
	return &qp->vqp.qp;
fail:
	qp_free_queues(qp);
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

static void close_conn(struct tcp_qp *qp)
{
	if (qp->fd >= 0) {
		if (qp->ctx->engine)
			tcp_engine_unwatch(qp->ctx, qp->fd);
		/*
		 * Half-close rather than close: what the kernel still holds
		 * (a TERMINATE frame) reaches the peer before its FIN, and
		 * unread bytes here do not turn our FIN into a reset that
		 * could discard them at the peer.
		 */
		shutdown(qp->fd, SHUT_WR);
		if (qp->closing_fd >= 0)
			tcp_engine_linger(qp->ctx, qp->closing_fd);
		qp->closing_fd = qp->fd;
		qp->fd = -1;
	}
	tcp_qp_rx_mode_end(qp); /* the socket is gone: clears the mode */
	tcp_qp_live_disarm(qp);
	qp->connected = qp->connecting = false;
	qp->epollout = false;
	if (qp->rnr_since_ns) {
		qp->rnr_since_ns = 0;
		tcp_engine_timer_put(qp->ctx);
	}
	if (qp->rnr_nak_at_ns) {
		qp->rnr_nak_at_ns = 0;
		tcp_engine_timer_put(qp->ctx);
	}
	if (qp->unheard_fail_ns) {
		qp->unheard_fail_ns = 0;
		tcp_engine_timer_put(qp->ctx);
	}
	if (qp->rx_phase == RX_STALL)
		tcp_engine_timer_put(qp->ctx);
	qp->rx_phase = RX_HDR;
	qp->rx_lowat = 0; /* (a new socket starts at the default) */
	qp->rx_mr = NULL; /* not pinned between chunks */
	while (qp->resp_head) {
		struct tcp_resp *r = qp->resp_head;

		qp->resp_head = r->next;
		free(r); /* regions are not pinned between sends */
	}
	qp->resp_tail = NULL;
	qp->rd_resp_queued = 0;
	while (qp->tx_batch_resps) {
		struct tcp_resp *r = qp->tx_batch_resps;

		qp->tx_batch_resps = r->next;
		free(r);
	}
	qp->tx_iov_n = qp->tx_iov_i = 0;
}

/* UC after losing its connection: unsent work completes (lost). */
void tcp_qp_drop_conn(struct tcp_qp *qp)
{
	close_conn(qp);
	qp->conn_lost = true;
	tcp_uc_drain(qp);
}

/* RC after losing its connection: close it, fail later (see xfer.c). */
void tcp_qp_drop_conn_rc(struct tcp_qp *qp)
{
	close_conn(qp);
}

/* Completes UC sends that can no longer go anywhere. */
void tcp_uc_drain(struct tcp_qp *qp)
{
	while (qp->sq_tx != qp->sq_head) {
		struct tcp_send_wqe *w =
			&qp->sq[qp->sq_tx++ & (qp->sq_size - 1)];

		w->state = WQE_DONE;
	}
	tcp_sq_reap(qp);
}

/* Stops the pending "peer vanished" deadline, if any (see xfer.c). */
static void cancel_dead_peer(struct tcp_qp *qp)
{
	if (qp->fail_at_ns) {
		qp->fail_at_ns = 0;
		tcp_engine_timer_put(qp->ctx);
	}
}

void tcp_flush_wc(struct tcp_cq *cq, struct tcp_qp *qp, uint64_t wr_id,
		  enum ibv_wc_opcode op, enum ibv_wc_status st)
{
	struct ibv_wc wc = { .wr_id = wr_id,
			     .status = st,
			     .opcode = op,
			     .qp_num = qp->vqp.qp.qp_num,
			     .src_qp = qp->attr.dest_qp_num };

	tcp_cq_push(cq, &wc, true);
}

static enum ibv_wc_opcode wc_op(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		return IBV_WC_RDMA_WRITE;
	case IBV_WR_RDMA_READ:
		return IBV_WC_RDMA_READ;
	case IBV_WR_ATOMIC_CMP_AND_SWP:
		return IBV_WC_COMP_SWAP;
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		return IBV_WC_FETCH_ADD;
	default:
		return IBV_WC_SEND;
	}
}

/* Completes the SQ from the oldest WQE while WQEs are done, in order. */
void tcp_sq_reap(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	while (qp->sq_done != qp->sq_tx) {
		struct tcp_send_wqe *w =
			&qp->sq[qp->sq_done & (qp->sq_size - 1)];
		bool acked = w->state == WQE_SENT &&
			     (w->opcode == IBV_WR_SEND ||
			      w->opcode == IBV_WR_SEND_WITH_IMM ||
			      w->opcode == IBV_WR_RDMA_WRITE ||
			      w->opcode == IBV_WR_RDMA_WRITE_WITH_IMM) &&
			     (int32_t)(w->msn - qp->peer_acked) < 0;
		struct ibv_wc wc = { 0 };

		if (w->state != WQE_DONE && !acked)
			break;
		qp->sq_done++;
		if (w->status == IBV_WC_SUCCESS &&
		    !(w->send_flags & IBV_SEND_SIGNALED) && !qp->sq_sig_all)
			continue;
		wc.wr_id = w->wr_id;
		wc.status = w->status;
		wc.opcode = wc_op(w->opcode);
		wc.byte_len = w->length;
		wc.qp_num = qp->vqp.qp.qp_num;
		wc.src_qp = qp->attr.dest_qp_num;
		tcp_cq_push(qp->scq, &wc, true);
		if (w->status != IBV_WC_SUCCESS) {
			tcp_qp_to_error(qp, 0);
			return;
		}
	}
}

void tcp_qp_to_error(struct tcp_qp *qp, enum ibv_event_type ev)
{
	tcp_assert_held(&qp->lock);
	if (qp->state == IBV_QPS_ERR)
		return;
	qp->state = IBV_QPS_ERR;
	close_conn(qp);
	cancel_dead_peer(qp);
	/* everything still queued or unacknowledged is flushed, in order */
	while (qp->sq_done != qp->sq_head) {
		struct tcp_send_wqe *w =
			&qp->sq[qp->sq_done++ & (qp->sq_size - 1)];

		tcp_flush_wc(qp->scq, qp, w->wr_id, wc_op(w->opcode),
			     IBV_WC_WR_FLUSH_ERR);
	}
	qp->sq_tx = qp->sq_head;
	qp->tx_unsent_bytes = qp->tx_unsig = 0;
	if (qp->rx_has_rwqe) {
		tcp_flush_wc(qp->rcq, qp, qp->rx_rwqe.wr_id, IBV_WC_RECV,
			     IBV_WC_WR_FLUSH_ERR);
		qp->rx_has_rwqe = false;
	}
	while (qp->rq && qp->rq_tail != qp->rq_head) {
		struct tcp_recv_wqe *w =
			&qp->rq[qp->rq_tail++ & (qp->rq_size - 1)];

		tcp_flush_wc(qp->rcq, qp, w->wr_id, IBV_WC_RECV,
			     IBV_WC_WR_FLUSH_ERR);
	}
	if (ev)
		tcp_async_post(qp->ctx, ev, (uint64_t)(uintptr_t)&qp->vqp.qp);
	if (qp->srq)
		tcp_async_post(qp->ctx, IBV_EVENT_QP_LAST_WQE_REACHED,
			       (uint64_t)(uintptr_t)&qp->vqp.qp);
}

static void drop_closing(struct tcp_qp *qp)
{
	if (qp->closing_fd >= 0) {
		tcp_engine_linger(qp->ctx, qp->closing_fd);
		qp->closing_fd = -1;
	}
}

static void qp_reset(struct tcp_qp *qp)
{
	close_conn(qp);
	cancel_dead_peer(qp);
	drop_closing(qp);
	qp->sq_head = qp->sq_tx = qp->sq_done = 0;
	qp->tx_unsent_bytes = qp->tx_unsig = 0;
	qp->burst_wrs = qp->prev_burst_wrs = 0;
	qp->rq_head = qp->rq_tail = 0;
	qp->next_msn = qp->peer_acked = qp->peer_credits = 0;
	qp->sends_issued = qp->rq_posted_total = 0;
	qp->rd_out = 0;
	qp->expect_msn = qp->ack_sent = qp->credits_sent = 0;
	qp->peer_no_credit = false;
	qp->peer_heard = false;
	qp->tx_seq = qp->rx_seq = 0;
	qp->rx_start = qp->rx_end = 0;
	qp->rx_has_rwqe = false;
	qp->hello_sent = 0;
	qp->active = false;
	qp->conn_lost = false;
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
#undef COPY
	/* PSNs are 24 bits on the wire of every transport: keep those (rxe) */
	s->rq_psn &= 0xffffff;
	s->sq_psn &= 0xffffff;
	qp->attr_mask_set |= mask;
}

int tcp_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *a, int mask)
{
	struct tcp_qp *qp = to_tqp(ibqp);
	struct tcp_context *ctx = qp->ctx;
	enum ibv_qp_state next;
	int err = 0;

	tcp_mutex_lock(&ctx->lock);
	tcp_mutex_lock(&qp->lock);
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
		tcp_qp_to_error(qp, 0);
		goto out;
	}
	store_attrs(qp, a, mask);
	if (qp->state == IBV_QPS_INIT && next == IBV_QPS_RTR) {
		qp->state = IBV_QPS_RTR;
		err = tcp_conn_start(qp);
		if (err) {
			qp->state = IBV_QPS_INIT;
			goto out;
		}
		tcp_mutex_unlock(&qp->lock);
		tcp_conn_match_pending(ctx);
		tcp_mutex_unlock(&ctx->lock);
		return 0;
	}
	if (next == IBV_QPS_SQD && qp->state == IBV_QPS_RTS &&
	    (mask & IBV_QP_EN_SQD_ASYNC_NOTIFY) && a->en_sqd_async_notify)
		tcp_async_post(ctx, IBV_EVENT_SQ_DRAINED,
			       (uint64_t)(uintptr_t)&qp->vqp.qp);
	qp->state = next;
	if (next == IBV_QPS_RTS)
		tcp_qp_tx(qp); /* work posted earlier may now flow */
out:
	tcp_mutex_unlock(&qp->lock);
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
	tcp_mutex_unlock(&qp->lock);
	return 0;
}

int tcp_destroy_qp(struct ibv_qp *ibqp)
{
	struct tcp_qp *qp = to_tqp(ibqp);
	struct tcp_context *ctx = qp->ctx;

	/* pollers reach QPs through their CQs: unlink before anything */
	tcp_cq_detach(qp->scq, qp);
	if (qp->rcq != qp->scq)
		tcp_cq_detach(qp->rcq, qp);
	tcp_mutex_lock(&ctx->lock);
	tcp_mutex_lock(&qp->lock);
	if (qp->connected)
		tcp_qp_flush(qp); /* a held-back ack goes before the close */
	close_conn(qp);
	drop_closing(qp);
	cancel_dead_peer(qp);
	qp->dead = true;
	tcp_qpn_free(qp);
	tcp_conn_drop_pending(ctx, qp->vqp.qp.qp_num);
	atomic_fetch_sub(&qp->pd->users, 1);
	atomic_fetch_sub(&qp->scq->users, 1);
	atomic_fetch_sub(&qp->rcq->users, 1);
	if (qp->srq)
		atomic_fetch_sub(&qp->srq->users, 1);
	atomic_fetch_sub(&ctx->n_qp, 1);
	tcp_mutex_unlock(&qp->lock);
	tcp_engine_bury(ctx, qp);
	tcp_mutex_unlock(&ctx->lock);
	return 0;
}

void tcp_qp_free(struct tcp_qp *qp)
{
	qp_free_queues(qp);
	free(qp->wr_stage);
	free(qp->wr_sges);
	free(qp->wr_inl);
	tcp_mutex_destroy(&qp->lock);
	free(qp);
}
