// SPDX-License-Identifier: MIT
/*
 * The send queue's completions and the QP's move to error: WQEs complete
 * in order as they are done or acked, a failed request takes the QP to
 * error, and the error flushes everything still queued. Caller holds
 * qp->lock.
 */
#include "debug.h"
#include "mw.h"
#include "stat.h"
#include "transport.h"

/* Pushes a flushed (or failed) completion for a work request. */
void tcp_flush_wc(struct tcp_cq *cq, struct tcp_qp *qp, uint64_t wr_id,
		  enum ibv_wc_opcode op, enum ibv_wc_status st)
{
	struct ibv_wc wc = { .wr_id = wr_id,
			     .status = st,
			     .opcode = op,
			     .qp_num = qp->vqp.qp.qp_num,
			     .src_qp = qp->attr.dest_qp_num };

	tcp_stat_add(qp->stat, RTCP_STAT_ERR_WC, 1);
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
	case IBV_WR_ATOMIC_WRITE:
		return IBV_WC_ATOMIC_WRITE;
	case IBV_WR_BIND_MW:
		return IBV_WC_BIND_MW;
	case IBV_WR_LOCAL_INV:
		return IBV_WC_LOCAL_INV;
	default:
		return IBV_WC_SEND;
	}
}

/* Counts a retired WQE by what it did (stat.h), signaled or not. */
static void stat_retired(struct tcp_qp *qp, const struct tcp_send_wqe *w)
{
	enum rtcp_stat_ctr ops = RTCP_STAT_ATOMIC_OPS;

	if (!qp->stat && !TCP_DBG_ON(RTCP_DBG_WC))
		return;
	if (w->status != IBV_WC_SUCCESS) {
		tcp_stat_add(qp->stat, RTCP_STAT_ERR_WC, 1);
		TCP_DBG_QP(RTCP_DBG_WC, qp,
			   "wr_id %#llx (opcode %d) failed: %s",
			   (unsigned long long)w->wr_id, w->opcode,
			   ibv_wc_status_str(w->status));
		return;
	}
	switch (wc_op(w->opcode)) {
	case IBV_WC_SEND:
		ops = RTCP_STAT_SEND_OPS;
		break;
	case IBV_WC_RDMA_WRITE:
		ops = RTCP_STAT_WRITE_OPS;
		break;
	case IBV_WC_RDMA_READ:
		ops = RTCP_STAT_READ_OPS;
		break;
	case IBV_WC_BIND_MW:
	case IBV_WC_LOCAL_INV:
		return;
	default:
		break;
	}
	tcp_stat_add(qp->stat, ops, 1);
	/* the byte counter follows its op counter in the enum */
	if (ops != RTCP_STAT_ATOMIC_OPS)
		tcp_stat_add(qp->stat, ops + 1, w->length);
}

/* Completes the SQ from the oldest WQE while WQEs are done, in order. */
void tcp_sq_reap(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	while (qp->sq.done != qp->sq.tx) {
		struct tcp_send_wqe *w =
			&qp->sq.wqe[qp->sq.done & (qp->sq.size - 1)];
		bool acked = w->state == WQE_SENT &&
			     (w->opcode == IBV_WR_SEND ||
			      w->opcode == IBV_WR_SEND_WITH_IMM ||
			      w->opcode == IBV_WR_SEND_WITH_INV ||
			      w->opcode == IBV_WR_RDMA_WRITE ||
			      w->opcode == IBV_WR_RDMA_WRITE_WITH_IMM ||
			      w->opcode == IBV_WR_ATOMIC_WRITE) &&
			     (int32_t)(w->msn - qp->sq.peer_acked) < 0;
		struct ibv_wc wc = { 0 };

		if (w->state != WQE_DONE && !acked)
			break;
		qp->sq.done++;
		stat_retired(qp, w);
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

/* Moves the QP to ERR: the connection closes, every WR is flushed. */
void tcp_qp_to_error(struct tcp_qp *qp, enum ibv_event_type ev)
{
	tcp_assert_held(&qp->lock);
	if (qp->state == IBV_QPS_ERR)
		return;
	TCP_DBG_QP(RTCP_DBG_QP, qp, "%s -> ERR%s%s, %u send WRs flushed",
		   tcp_qps_name(qp->state), ev ? ": " : "",
		   ev ? ibv_event_type_str(ev) : "",
		   (unsigned int)(qp->sq.head - qp->sq.done));
	qp->state = IBV_QPS_ERR;
	tcp_qp_close_conn(qp);
	tcp_qp_dead_peer_cancel(qp);
	/* everything still queued or unacknowledged is flushed, in order */
	while (qp->sq.done != qp->sq.head) {
		struct tcp_send_wqe *w =
			&qp->sq.wqe[qp->sq.done++ & (qp->sq.size - 1)];

		tcp_flush_wc(qp->scq, qp, w->wr_id, wc_op(w->opcode),
			     IBV_WC_WR_FLUSH_ERR);
	}
	qp->sq.tx = qp->sq.head;
	qp->sq.rd_out = 0; /* (their responses will not come) */
	qp->prog.tx_unsent_bytes = qp->prog.tx_unsig = 0;
	if (qp->rx.has_rwqe) {
		tcp_flush_wc(qp->rcq, qp, qp->rx.rwqe.wr_id, IBV_WC_RECV,
			     IBV_WC_WR_FLUSH_ERR);
		qp->rx.has_rwqe = false;
	}
	while (qp->rq.wqe && qp->rq.tail != qp->rq.head) {
		struct tcp_recv_wqe *w =
			&qp->rq.wqe[qp->rq.tail++ & (qp->rq.size - 1)];

		tcp_flush_wc(qp->rcq, qp, w->wr_id, IBV_WC_RECV,
			     IBV_WC_WR_FLUSH_ERR);
	}
	if (ev)
		tcp_async_post(qp->ctx, ev, (uint64_t)(uintptr_t)&qp->vqp.qp);
	if (qp->srq)
		tcp_async_post(qp->ctx, IBV_EVENT_QP_LAST_WQE_REACHED,
			       (uint64_t)(uintptr_t)&qp->vqp.qp);
}

/* Completes UC sends that can no longer go anywhere. */
void tcp_uc_drain(struct tcp_qp *qp)
{
	while (qp->sq.tx != qp->sq.head) {
		struct tcp_send_wqe *w =
			&qp->sq.wqe[qp->sq.tx++ & (qp->sq.size - 1)];

		/* a bind or invalidate still happens (mw.c) */
		if (w->status != IBV_WC_SUCCESS || !tcp_mw_sq_op(qp, w))
			w->state = WQE_DONE;
	}
	tcp_sq_reap(qp);
}

struct tcp_send_wqe *tcp_sq_find_sent(struct tcp_qp *qp, uint32_t msn)
{
	uint32_t i;

	for (i = qp->sq.done; i != qp->sq.tx; i++) {
		struct tcp_send_wqe *w = &qp->sq.wqe[i & (qp->sq.size - 1)];

		if (w->state == WQE_SENT && w->msn == msn)
			return w;
	}
	return NULL;
}

/*
 * Fails the oldest unfinished request with `status` (completions stay in
 * order), moves the QP to ERR and raises IBV_EVENT_QP_FATAL.
 */
void tcp_qp_fail_oldest(struct tcp_qp *qp, enum ibv_wc_status status)
{
	struct tcp_send_wqe *w = NULL;
	uint32_t i;

	tcp_sq_reap(qp); /* acked WRs are not the ones failing */
	if (qp->state == IBV_QPS_ERR)
		return;
	/* the first not yet done among those on the wire... */
	for (i = qp->sq.done; i != qp->sq.tx; i++) {
		if (qp->sq.wqe[i & (qp->sq.size - 1)].state != WQE_DONE) {
			w = &qp->sq.wqe[i & (qp->sq.size - 1)];
			break;
		}
	}
	/* ...or the next one held back (no credit): it fails all the same */
	if (!w && qp->sq.tx != qp->sq.head)
		w = &qp->sq.wqe[qp->sq.tx++ & (qp->sq.size - 1)];
	if (w) {
		w->state = WQE_DONE;
		w->status = status;
	}
	qp->conn.connected = false;
	tcp_sq_reap(qp); /* completes in order; the error moves QP to ERR */
	if (qp->state != IBV_QPS_ERR)
		tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
	else
		tcp_async_post(qp->ctx, IBV_EVENT_QP_FATAL,
			       (uint64_t)(uintptr_t)&qp->vqp.qp);
}
