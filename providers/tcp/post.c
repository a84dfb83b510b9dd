// SPDX-License-Identifier: MIT
/*
 * Posting work: ibv_post_send / ibv_post_recv and the ibv_wr_* API. Every
 * work request is checked against the QP's capacities and the verbs rules
 * before it is queued; the posting thread then transmits directly when the
 * connection is up (no hand-off to the engine on the fast path).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qp.h"
#include "ud.h"

static bool valid_opcode(struct tcp_qp *qp, enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM:
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
	case IBV_WR_SEND_WITH_INV:
	case IBV_WR_BIND_MW:
	case IBV_WR_LOCAL_INV:
		return true;
	case IBV_WR_RDMA_READ:
	case IBV_WR_ATOMIC_CMP_AND_SWP:
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
	case IBV_WR_ATOMIC_WRITE:
		return qp->type == IBV_QPT_RC;
	default:
		return false;
	}
}

/*
 * Checks one send WR against the QP and the verbs rules; returns 0 or the
 * errno for bad_wr. Done in every state, ERR included (as rxe does): a WR
 * that could never be posted is refused, not flushed.
 */
static int check_send(struct tcp_qp *qp, const struct ibv_send_wr *wr)
{
	uint64_t total = 0;
	int i;

	if (!valid_opcode(qp, wr->opcode) || wr->num_sge < 0 ||
	    (uint32_t)wr->num_sge > qp->cap.max_send_sge ||
	    (wr->num_sge && !wr->sg_list))
		return EINVAL;
	if (wr->opcode == IBV_WR_BIND_MW && !wr->bind_mw.mw)
		return EINVAL;
	if (wr->send_flags & ~(IBV_SEND_FENCE | IBV_SEND_SIGNALED |
			       IBV_SEND_SOLICITED | IBV_SEND_INLINE))
		return EINVAL;
	for (i = 0; i < wr->num_sge; i++)
		total += wr->sg_list[i].length;
	if (total > TCP_MAX_MSG_SZ)
		return EINVAL;
	if (wr->opcode == IBV_WR_ATOMIC_CMP_AND_SWP ||
	    wr->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		if (wr->num_sge != 1 || wr->sg_list[0].length != 8 ||
		    (wr->send_flags & IBV_SEND_INLINE))
			return EINVAL;
	}
	/* its 8 bytes are named by one SGE and copied at post (as rxe) */
	if (wr->opcode == IBV_WR_ATOMIC_WRITE &&
	    (wr->num_sge != 1 || wr->sg_list[0].length != 8 ||
	     !wr->sg_list[0].addr))
		return EINVAL;
	if ((wr->send_flags & IBV_SEND_INLINE) &&
	    (total > qp->cap.max_inline_data || wr->opcode == IBV_WR_RDMA_READ))
		return EINVAL;
	return 0;
}

/* Work requests the send queue performs itself, nothing on the wire. */
static bool is_local_op(enum ibv_wr_opcode op)
{
	return op == IBV_WR_BIND_MW || op == IBV_WR_LOCAL_INV;
}

/* A BIND_MW's arguments: checked when the send queue reaches it (mw.c). */
static void queue_bind(struct tcp_send_wqe *w, const struct ibv_send_wr *wr)
{
	const struct ibv_mw_bind_info *b = &wr->bind_mw.bind_info;

	w->mw_key = wr->bind_mw.mw->rkey;
	w->rkey = wr->bind_mw.rkey;
	w->raddr = b->addr;
	w->mw_len = b->mr ? b->length : 0;
	w->imm = (uint32_t)b->mw_access_flags;
	w->mr_lkey = b->mr ? b->mr->lkey : 0;
}

/* An ATOMIC_WRITE's 8 bytes, as the big-endian integer the wire carries. */
static uint64_t atomic_write_value(const struct ibv_send_wr *wr)
{
	const uint8_t *b = (const uint8_t *)(uintptr_t)wr->sg_list[0].addr;
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* Queues one checked send WR; returns 0 or ENOMEM (queue full). */
static int queue_send(struct tcp_qp *qp, struct ibv_send_wr *wr)
{
	struct tcp_send_wqe *w;
	uint64_t total = 0;
	uint32_t idx;
	int i;

	if (qp->sq.head - qp->sq.done >= qp->cap.max_send_wr)
		return ENOMEM;
	for (i = 0; i < wr->num_sge; i++)
		total += wr->sg_list[i].length;
	idx = qp->sq.head & (qp->sq.size - 1);
	w = &qp->sq.wqe[idx];
	w->seg = qp->sq.segs ? &qp->sq.segs[(size_t)idx * qp->sq.sges]
			     : &w->seg1;
	w->inl = qp->sq.inl ? qp->sq.inl + (size_t)idx * qp->cap.max_inline_data
			    : NULL;
	w->wr_id = wr->wr_id;
	w->opcode = wr->opcode;
	w->send_flags = wr->send_flags;
	w->imm = wr->imm_data;
	w->length = (uint32_t)total;
	w->state = WQE_QUEUED;
	w->status = IBV_WC_SUCCESS;
	w->tx_off = 0;
	w->nseg = wr->num_sge;
	w->rkey = 0;
	w->raddr = 0;
	switch (wr->opcode) {
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
	case IBV_WR_RDMA_READ:
		w->rkey = wr->wr.rdma.rkey;
		w->raddr = wr->wr.rdma.remote_addr;
		break;
	case IBV_WR_ATOMIC_WRITE:
		w->rkey = wr->wr.rdma.rkey;
		w->raddr = wr->wr.rdma.remote_addr;
		w->compare_add = atomic_write_value(wr);
		break;
	case IBV_WR_ATOMIC_CMP_AND_SWP:
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		w->rkey = wr->wr.atomic.rkey;
		w->raddr = wr->wr.atomic.remote_addr;
		w->compare_add = wr->wr.atomic.compare_add;
		w->swap = wr->wr.atomic.swap;
		break;
	case IBV_WR_SEND_WITH_INV:
	case IBV_WR_LOCAL_INV:
		w->rkey = wr->invalidate_rkey;
		break;
	case IBV_WR_BIND_MW:
		queue_bind(w, wr);
		break;
	default:
		break;
	}
	if (is_local_op(wr->opcode) || wr->opcode == IBV_WR_ATOMIC_WRITE) {
		w->nseg = 0;
		w->length = 0;
		total = 0;
	} else if (wr->send_flags & IBV_SEND_INLINE) {
		char *p = w->inl;

		/* the application may reuse its buffers as soon as we return;
		 * an empty SGE may name no memory at all (address 0, and no
		 * buffer when max_inline_data is 0) */
		for (i = 0; i < wr->num_sge; i++) {
			if (!wr->sg_list[i].length)
				continue;
			memcpy(p, (void *)(uintptr_t)wr->sg_list[i].addr,
			       wr->sg_list[i].length);
			p += wr->sg_list[i].length;
		}
	} else {
		uint32_t t;
		bool write = wr->opcode == IBV_WR_RDMA_READ ||
			     wr->opcode == IBV_WR_ATOMIC_CMP_AND_SWP ||
			     wr->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD;

		w->status = tcp_resolve_sges(qp->ctx, qp->pd, wr->sg_list,
					     wr->num_sge, write, w->seg, &t);
	}
	/* what send_or_defer weighs, until the batch takes them */
	qp->prog.tx_unsent_bytes += total;
	if (!(wr->send_flags & IBV_SEND_SIGNALED) && !qp->sq_sig_all)
		qp->prog.tx_unsig++;
	qp->sq.head++;
	return 0;
}

/*
 * Transmit now, or hold the new WRs back to batch them into one sendmsg.
 * The first post after the application polled a CQ goes out at once (a
 * latency test posts one WR and waits) unless the application streams
 * bursts; further posts before the next poll are a burst (a bandwidth test
 * fills its send queue, then polls): small WRs of a burst wait, up to
 * TCP_TX_DEFER_WRS and TCP_TX_DEFER_BATCH bytes, and go out with the next
 * poll_cq, req_notify_cq or post that fills the batch -- or, if none comes,
 * from the engine one wake-up later. A signaled WR after unsignaled ones
 * goes at once with them: the application will wait for its completion
 * (perftest signals one WR in 100 of a 128-WR window, so only 28 WRs
 * overlap that wait). While the socket is full (EPOLLOUT armed), the
 * engine sends anyway once it drains.
 */
static void send_or_defer(struct tcp_qp *qp, uint32_t nwr)
{
	uint32_t unsent = qp->sq.head - qp->sq.tx;
	struct tcp_send_wqe *last =
		&qp->sq.wqe[(qp->sq.head - 1) & (qp->sq.size - 1)];
	unsigned int mark = qp_cq_polls(qp);
	bool burst = qp->prog.posted && mark == qp->prog.poll_mark;

	if (!burst) {
		qp->prog.prev_burst_wrs = qp->prog.burst_wrs;
		qp->prog.burst_wrs = 0;
		/*
		 * A stream of bursts (the application posted many WRs
		 * between its last two polls): the first WR of this one
		 * waits for the rest too. A bandwidth test posts a window's
		 * worth after each completion, so this saves it a sendmsg of
		 * one frame a window; a latency loop posts one WR per poll
		 * and still sends it at once.
		 */
		burst = qp->prog.prev_burst_wrs >= TCP_TX_STREAM_BURST;
	}
	qp->prog.burst_wrs += nwr;
	qp->prog.posted = true;
	qp->prog.poll_mark = mark;
	if (!qp->sq.peer_heard && unsent)
		tcp_qp_unheard_arm(qp);
	if (!qp->conn.connected || !unsent)
		return; /* sent once connected / nothing new */
	if (qp->conn.epollout)
		return; /* the engine sends on EPOLLOUT */
	if (burst && unsent < TCP_TX_DEFER_WRS &&
	    qp->prog.tx_unsent_bytes < TCP_TX_DEFER_BATCH &&
	    last->length <= TCP_TX_DEFER_BYTES &&
	    !((last->send_flags & IBV_SEND_SIGNALED) &&
	      qp->prog.tx_unsig >= TCP_TX_STREAM_BURST)) {
		tcp_engine_defer_tx(qp);
		tcp_qp_no_skip(qp); /* the next poll sends them */
		return;
	}
	tcp_qp_tx(qp);
}

/* ibv_post_send's work, for a caller that holds qp->lock. */
static int post_send_locked(struct tcp_qp *qp, struct ibv_send_wr *wr,
			    struct ibv_send_wr **bad)
{
	uint32_t nwr = 0;
	int err = 0;

	tcp_assert_held(&qp->lock);
	if (qp->type == IBV_QPT_UD) {
		/* datagrams: sent now, nothing held back (ud_tx.c) */
		err = tcp_ud_post_send(qp, wr, bad);
		qp->prog.app_posts++;
		tcp_qp_app_call(qp);
		return err;
	}
	for (; wr; wr = wr->next, nwr++) {
		if (!tcp_qp_takes_sends(qp)) {
			err = EINVAL;
			break;
		}
		err = check_send(qp, wr);
		if (err)
			break;
		if (qp->state == IBV_QPS_ERR) {
			tcp_flush_wc(qp->scq, qp, wr->wr_id, IBV_WC_SEND,
				     IBV_WC_WR_FLUSH_ERR);
			continue;
		}
		err = queue_send(qp, wr);
		if (err)
			break;
	}
	if (err)
		*bad = wr;
	/* the application's activity, for the engine (tcp_qp_timers) */
	qp->prog.app_posts++;
	tcp_qp_app_call(qp);
	if (qp->conn.lost)
		tcp_uc_drain(qp);
	else if (qp->state == IBV_QPS_RTS)
		send_or_defer(qp, nwr);
	tcp_qp_live_arm(qp);
	return err;
}

int tcp_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		  struct ibv_send_wr **bad)
{
	struct tcp_qp *qp = to_tqp(ibqp);
	int err;

	tcp_qp_yield(qp);
	tcp_mutex_lock(&qp->lock);
	err = post_send_locked(qp, wr, bad);
	tcp_qp_unlock(qp);
	return tcp_fail(err);
}

int tcp_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		  struct ibv_recv_wr **bad)
{
	struct tcp_qp *qp = to_tqp(ibqp);
	bool posted = false;
	uint32_t idx;
	int err = 0, i;

	if (qp->srq) {
		*bad = wr;
		return tcp_fail(EINVAL);
	}
	tcp_qp_yield(qp);
	tcp_mutex_lock(&qp->lock);
	for (; wr; wr = wr->next) {
		struct tcp_recv_wqe *w;

		if (qp->state == IBV_QPS_RESET) {
			err = EINVAL;
			break;
		}
		if (wr->num_sge < 0 ||
		    (uint32_t)wr->num_sge > qp->cap.max_recv_sge ||
		    (wr->num_sge && !wr->sg_list)) {
			err = EINVAL;
			break;
		}
		if (qp->state == IBV_QPS_ERR) {
			tcp_flush_wc(qp->rcq, qp, wr->wr_id, IBV_WC_RECV,
				     IBV_WC_WR_FLUSH_ERR);
			continue;
		}
		if (qp->rq.head - qp->rq.tail >= qp->cap.max_recv_wr) {
			err = ENOMEM;
			break;
		}
		idx = qp->rq.head & (qp->rq.size - 1);
		w = &qp->rq.wqe[idx];
		w->seg = qp->rq.segs ? &qp->rq.segs[(size_t)idx * qp->rq.sges]
				     : &w->seg1;
		w->wr_id = wr->wr_id;
		w->nseg = wr->num_sge;
		/* resolved when a message arrives, as a NIC reads the WQE */
		for (i = 0; i < wr->num_sge; i++) {
			w->seg[i].addr = (char *)(uintptr_t)wr->sg_list[i].addr;
			w->seg[i].len = wr->sg_list[i].length;
			w->seg[i].lkey = wr->sg_list[i].lkey;
		}
		qp->rq.head++;
		qp->rq.posted_total++;
		posted = true;
	}
	if (err)
		*bad = wr;
	/*
	 * A requester may be waiting for credit: tell it when due -- at once,
	 * or, while the application polls this QP's receives itself
	 * (rx_app_driven), with its next post (every header carries credits),
	 * or poll, or the engine once it stops calling, as held-back acks
	 * go (tcp_qp_rx_pass_done).
	 */
	if (posted && qp->type == IBV_QPT_UD)
		tcp_ud_recv_posted(qp);
	if (posted && qp->conn.connected && tcp_credit_update_due(qp)) {
		qp->resp.want_ack = true;
		if (qp->prog.rx_app_driven)
			qp->prog.tx_deferred = true;
		else
			tcp_qp_tx(qp);
	}
	tcp_qp_unlock(qp);
	return tcp_fail(err);
}

/* ------------------------------------------------------ ibv_wr_* API */

static struct tcp_qp *exqp(struct ibv_qp_ex *ex)
{
	return container_of(ex, struct tcp_qp, vqp.qp_ex);
}

static struct ibv_send_wr *stage_new(struct ibv_qp_ex *ex,
				     enum ibv_wr_opcode op)
{
	struct tcp_qp *qp = exqp(ex);
	struct ibv_send_wr *wr;

	if (qp->wr.err)
		return NULL;
	if (qp->wr.n == qp->wr.cap) {
		qp->wr.err = ENOMEM;
		return NULL;
	}
	wr = &qp->wr.stage[qp->wr.n++];
	memset(wr, 0, sizeof(*wr));
	wr->wr_id = ex->wr_id;
	wr->send_flags = ex->wr_flags;
	wr->opcode = op;
	wr->sg_list = &qp->wr.sges[(qp->wr.n - 1) * TCP_MAX_SGE];
	return wr;
}

static struct ibv_send_wr *stage_cur(struct ibv_qp_ex *ex)
{
	struct tcp_qp *qp = exqp(ex);

	return qp->wr.n && !qp->wr.err ? &qp->wr.stage[qp->wr.n - 1] : NULL;
}

static void ex_wr_start(struct ibv_qp_ex *ex)
{
	struct tcp_qp *qp = exqp(ex);

	qp->wr.n = 0;
	qp->wr.err = 0;
}

/*
 * Posts the staged batch whole or not at all, as mlx5 does: the caller has
 * no bad_wr to learn where a partial post stopped. So every WR is checked,
 * and the room in the send queue, before the first is queued.
 */
static int ex_wr_complete(struct ibv_qp_ex *ex)
{
	struct tcp_qp *qp = exqp(ex);
	struct ibv_send_wr *bad;
	uint32_t i;
	int err = qp->wr.err;

	if (!err && qp->wr.n) {
		for (i = 0; i + 1 < qp->wr.n; i++)
			qp->wr.stage[i].next = &qp->wr.stage[i + 1];
		qp->wr.stage[qp->wr.n - 1].next = NULL;
		tcp_qp_yield(qp);
		tcp_mutex_lock(&qp->lock);
		for (i = 0; i < qp->wr.n && !err; i++)
			err = qp->type == IBV_QPT_UD
				      ? tcp_ud_check_send(qp, &qp->wr.stage[i])
				      : check_send(qp, &qp->wr.stage[i]);
		if (!err && qp->state != IBV_QPS_ERR &&
		    qp->wr.n >
			    qp->cap.max_send_wr - (qp->sq.head - qp->sq.done))
			err = ENOMEM;
		if (!err)
			err = post_send_locked(qp, qp->wr.stage, &bad);
		tcp_qp_unlock(qp);
	}
	qp->wr.n = 0;
	qp->wr.err = 0;
	return tcp_fail(err);
}

static void ex_wr_abort(struct ibv_qp_ex *ex)
{
	exqp(ex)->wr.n = 0;
	exqp(ex)->wr.err = 0;
}

static void ex_send(struct ibv_qp_ex *ex)
{
	stage_new(ex, IBV_WR_SEND);
}

static void ex_send_imm(struct ibv_qp_ex *ex, __be32 imm)
{
	struct ibv_send_wr *wr = stage_new(ex, IBV_WR_SEND_WITH_IMM);

	if (wr)
		wr->imm_data = imm;
}

static void ex_write(struct ibv_qp_ex *ex, uint32_t rkey, uint64_t raddr)
{
	struct ibv_send_wr *wr = stage_new(ex, IBV_WR_RDMA_WRITE);

	if (wr) {
		wr->wr.rdma.rkey = rkey;
		wr->wr.rdma.remote_addr = raddr;
	}
}

static void ex_write_imm(struct ibv_qp_ex *ex, uint32_t rkey, uint64_t raddr,
			 __be32 imm)
{
	struct ibv_send_wr *wr = stage_new(ex, IBV_WR_RDMA_WRITE_WITH_IMM);

	if (wr) {
		wr->wr.rdma.rkey = rkey;
		wr->wr.rdma.remote_addr = raddr;
		wr->imm_data = imm;
	}
}

static void ex_read(struct ibv_qp_ex *ex, uint32_t rkey, uint64_t raddr)
{
	struct ibv_send_wr *wr = stage_new(ex, IBV_WR_RDMA_READ);

	if (wr) {
		wr->wr.rdma.rkey = rkey;
		wr->wr.rdma.remote_addr = raddr;
	}
}

static void ex_cmp_swp(struct ibv_qp_ex *ex, uint32_t rkey, uint64_t raddr,
		       uint64_t compare, uint64_t swap)
{
	struct ibv_send_wr *wr = stage_new(ex, IBV_WR_ATOMIC_CMP_AND_SWP);

	if (wr) {
		wr->wr.atomic.rkey = rkey;
		wr->wr.atomic.remote_addr = raddr;
		wr->wr.atomic.compare_add = compare;
		wr->wr.atomic.swap = swap;
	}
}

static void ex_fadd(struct ibv_qp_ex *ex, uint32_t rkey, uint64_t raddr,
		    uint64_t add)
{
	struct ibv_send_wr *wr = stage_new(ex, IBV_WR_ATOMIC_FETCH_AND_ADD);

	if (wr) {
		wr->wr.atomic.rkey = rkey;
		wr->wr.atomic.remote_addr = raddr;
		wr->wr.atomic.compare_add = add;
	}
}

/* Its 8 bytes are copied now, into the staged WR's inline slot. */
static void ex_atomic_write(struct ibv_qp_ex *ex, uint32_t rkey, uint64_t raddr,
			    const void *atomic_wr)
{
	struct ibv_send_wr *wr = stage_new(ex, IBV_WR_ATOMIC_WRITE);
	struct tcp_qp *qp = exqp(ex);
	char *slot;

	if (!wr)
		return;
	if (!atomic_wr) {
		qp->wr.err = EINVAL;
		return;
	}
	slot = qp->wr.inl + (size_t)(qp->wr.n - 1) * TCP_MAX_INLINE;
	memcpy(slot, atomic_wr, 8);
	wr->wr.rdma.rkey = rkey;
	wr->wr.rdma.remote_addr = raddr;
	wr->sg_list[0].addr = (uintptr_t)slot;
	wr->sg_list[0].length = 8;
	wr->num_sge = 1;
}

static void ex_send_inv(struct ibv_qp_ex *ex, uint32_t rkey)
{
	struct ibv_send_wr *wr = stage_new(ex, IBV_WR_SEND_WITH_INV);

	if (wr)
		wr->invalidate_rkey = rkey;
}

static void ex_local_inv(struct ibv_qp_ex *ex, uint32_t rkey)
{
	struct ibv_send_wr *wr = stage_new(ex, IBV_WR_LOCAL_INV);

	if (wr)
		wr->invalidate_rkey = rkey;
}

/* As rxe's: the application keeps track of the window's new key. */
static void ex_bind_mw(struct ibv_qp_ex *ex, struct ibv_mw *mw, uint32_t rkey,
		       const struct ibv_mw_bind_info *info)
{
	struct ibv_send_wr *wr = stage_new(ex, IBV_WR_BIND_MW);

	if (!wr)
		return;
	if (!mw || !info) {
		exqp(ex)->wr.err = EINVAL;
		return;
	}
	wr->bind_mw.mw = mw;
	wr->bind_mw.rkey = rkey;
	wr->bind_mw.bind_info = *info;
}

static void ex_set_ud_addr(struct ibv_qp_ex *ex, struct ibv_ah *ah,
			   uint32_t remote_qpn, uint32_t remote_qkey)
{
	struct ibv_send_wr *wr = stage_cur(ex);

	if (!wr)
		return;
	wr->wr.ud.ah = ah;
	wr->wr.ud.remote_qpn = remote_qpn;
	wr->wr.ud.remote_qkey = remote_qkey;
}

static void ex_set_sge_list(struct ibv_qp_ex *ex, size_t n,
			    const struct ibv_sge *sg)
{
	struct ibv_send_wr *wr = stage_cur(ex);

	if (!wr)
		return;
	if (n > TCP_MAX_SGE || (n && !sg)) {
		exqp(ex)->wr.err = EINVAL;
		return;
	}
	memcpy(wr->sg_list, sg, n * sizeof(*sg));
	wr->num_sge = n;
}

static void ex_set_sge(struct ibv_qp_ex *ex, uint32_t lkey, uint64_t addr,
		       uint32_t length)
{
	struct ibv_sge sg = { .addr = addr, .length = length, .lkey = lkey };

	ex_set_sge_list(ex, 1, &sg);
}

static void ex_set_inline_list(struct ibv_qp_ex *ex, size_t n,
			       const struct ibv_data_buf *buf)
{
	struct tcp_qp *qp = exqp(ex);
	struct ibv_send_wr *wr = stage_cur(ex);
	char *dst;
	size_t i, total = 0;

	if (!wr)
		return;
	if (n && !buf) {
		qp->wr.err = EINVAL;
		return;
	}
	/* each length checked on its own: their sum could wrap around */
	for (i = 0; i < n; i++) {
		if (buf[i].length > qp->cap.max_inline_data - total ||
		    (buf[i].length && !buf[i].addr)) {
			qp->wr.err = EINVAL;
			return;
		}
		total += buf[i].length;
	}
	/* copied now: the caller may reuse the buffers after this call */
	dst = qp->wr.inl + (size_t)(qp->wr.n - 1) * TCP_MAX_INLINE;
	for (i = 0; i < n; i++) {
		if (!buf[i].length)
			continue; /* its address may be NULL */
		memcpy(dst, buf[i].addr, buf[i].length);
		dst += buf[i].length;
	}
	wr->sg_list[0].addr = (uintptr_t)(qp->wr.inl + (size_t)(qp->wr.n - 1) *
							       TCP_MAX_INLINE);
	wr->sg_list[0].length = total;
	wr->num_sge = 1;
	wr->send_flags |= IBV_SEND_INLINE;
}

static void ex_set_inline(struct ibv_qp_ex *ex, void *addr, size_t length)
{
	struct ibv_data_buf b = { .addr = addr, .length = length };

	ex_set_inline_list(ex, 1, &b);
}

void tcp_qp_ex_init(struct tcp_qp *qp, uint64_t flags)
{
	struct ibv_qp_ex *ex = &qp->vqp.qp_ex;

	qp->wr.cap = qp->cap.max_send_wr ? qp->cap.max_send_wr : 1;
	qp->wr.stage = calloc(qp->wr.cap, sizeof(*qp->wr.stage));
	qp->wr.sges =
		calloc((size_t)qp->wr.cap * TCP_MAX_SGE, sizeof(*qp->wr.sges));
	qp->wr.inl = malloc((size_t)qp->wr.cap * TCP_MAX_INLINE);
	if (!qp->wr.stage || !qp->wr.sges || !qp->wr.inl)
		return; /* no ibv_qp_ex: ibv_qp_to_qp_ex() returns NULL */
	qp->vqp.comp_mask |= VERBS_QP_EX;
	ex->wr_start = ex_wr_start;
	ex->wr_complete = ex_wr_complete;
	ex->wr_abort = ex_wr_abort;
	ex->wr_send = ex_send;
	ex->wr_send_imm = ex_send_imm;
	ex->wr_rdma_write = ex_write;
	ex->wr_rdma_write_imm = ex_write_imm;
	ex->wr_rdma_read = ex_read;
	ex->wr_atomic_cmp_swp = ex_cmp_swp;
	ex->wr_atomic_fetch_add = ex_fadd;
	ex->wr_atomic_write = ex_atomic_write;
	ex->wr_send_inv = ex_send_inv;
	ex->wr_local_inv = ex_local_inv;
	ex->wr_bind_mw = ex_bind_mw;
	ex->wr_set_sge = ex_set_sge;
	ex->wr_set_ud_addr = ex_set_ud_addr;
	ex->wr_set_sge_list = ex_set_sge_list;
	ex->wr_set_inline_data = ex_set_inline;
	ex->wr_set_inline_data_list = ex_set_inline_list;
	(void)flags;
}
