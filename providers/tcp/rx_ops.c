// SPDX-License-Identifier: MIT
/*
 * What a received frame does, one handler per opcode (rx_ops[] below):
 * each checks its header and sets up where its payload goes (handle), and
 * completes what the frame completes once the payload is placed (done).
 * Caller holds qp->lock.
 *
 * Requests of the peer (SEND, WRITE, READ, atomics) arrive in msn order and
 * are checked against this QP's limits before their handler runs; an
 * access the checks refuse sends a TERMINATE and fails the QP, as a NIC's
 * responder NAKs and the requester's QP goes to error.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "mw.h"
#include "stat.h"
#include "transport.h"

struct rx_op {
	/* the header was read: check it, set up placement of its payload */
	void (*handle)(struct tcp_qp *qp, const struct rtcp_hdr *h);
	/* its payload is all placed (NULL: nothing left to do) */
	void (*done)(struct tcp_qp *qp, const struct rtcp_hdr *h);
	bool request;	/* a request of the peer: in msn order */
	bool rd_atomic; /* ...answered by a response: counts against IRD */
};

/* How a requester's WR completes for a TERMINATE syndrome. */
static enum ibv_wc_status syndrome_status(uint32_t syn)
{
	switch (syn) {
	case RTCP_SYN_REM_ACCESS:
		return IBV_WC_REM_ACCESS_ERR;
	case RTCP_SYN_REM_INV_REQ:
		return IBV_WC_REM_INV_REQ_ERR;
	case RTCP_SYN_RNR:
		return IBV_WC_RNR_RETRY_EXC_ERR;
	default:
		return IBV_WC_REM_OP_ERR;
	}
}

/* A response that answers nothing we asked, or does not fit the request. */
static void bad_response(struct tcp_qp *qp)
{
	tcp_qp_fail_oldest(qp, IBV_WC_BAD_RESP_ERR);
}

/*
 * Tells the requester that request msn waits for a receive (the SRQ is
 * empty), as a NIC's RNR NAK does: the requester then gives up after its
 * rnr_retry budget instead of waiting for ever. The message stays in the
 * stream and lands if a receive comes first.
 */
static void rnr_nak(struct tcp_qp *qp, uint32_t msn)
{
	struct tcp_resp *r = calloc(1, sizeof(*r));

	if (!r)
		return; /* the requester waits, as with rnr_retry 7 */
	r->hdr.opcode = RTCP_OP_ACK;
	r->hdr.flags = RTCP_F_RNR;
	r->hdr.msn = msn;
	r->hdr.imm = htobe32(qp->attr.min_rnr_timer);
	tcp_qp_queue_resp(qp, r);
}

bool tcp_rx_take_rwqe(struct tcp_qp *qp)
{
	if (qp->srq) {
		if (!tcp_srq_take(qp->srq, &qp->rx.rwqe))
			return false;
	} else {
		struct tcp_recv_wqe *w;

		if (qp->rq.head == qp->rq.tail)
			return false;
		w = &qp->rq.wqe[qp->rq.tail++ & (qp->rq.size - 1)];
		qp->rx.rwqe.wr_id = w->wr_id;
		qp->rx.rwqe.nseg = w->nseg;
		memcpy(qp->rx.rwqe.seg, w->seg, w->nseg * sizeof(*w->seg));
		if (tcp_credit_update_due(qp))
			qp->resp.want_ack = true;
	}
	qp->rx.has_rwqe = true;
	return true;
}

/* Completes the receive the frame consumed, with status st. */
static void complete_recv(struct tcp_qp *qp, enum ibv_wc_status st)
{
	struct ibv_wc wc = { 0 };
	const struct rtcp_hdr *h = &qp->rx.hdr;

	wc.wr_id = qp->rx.rwqe.wr_id;
	wc.status = st;
	wc.opcode = h->opcode == RTCP_OP_WRITE_IMM ? IBV_WC_RECV_RDMA_WITH_IMM
						   : IBV_WC_RECV;
	wc.byte_len = qp->rx.msg_len; /* (of all its frames) */
	wc.qp_num = qp->vqp.qp.qp_num;
	wc.src_qp = qp->attr.dest_qp_num;
	if (h->opcode == RTCP_OP_SEND_IMM || h->opcode == RTCP_OP_WRITE_IMM) {
		wc.wc_flags = IBV_WC_WITH_IMM;
		wc.imm_data = h->imm;
	} else if (h->opcode == RTCP_OP_SEND_INV) {
		wc.wc_flags = IBV_WC_WITH_INV;
		wc.invalidated_rkey = h->rkey;
	}
	qp->rx.has_rwqe = false;
	tcp_stat_add(qp->stat, RTCP_STAT_RECV_OPS, 1);
	tcp_stat_add(qp->stat, RTCP_STAT_RECV_BYTES, wc.byte_len);
	if (st != IBV_WC_SUCCESS) {
		tcp_stat_add(qp->stat, RTCP_STAT_ERR_WC, 1);
		TCP_DBG_QP(RTCP_DBG_WC, qp, "receive wr_id %#llx failed: %s",
			   (unsigned long long)wc.wr_id, ibv_wc_status_str(st));
	}
	tcp_cq_push(qp->rcq, &wc, h->flags & RTCP_F_SOLICITED);
}

/*
 * A WRITE (with immediate) whose target fails the checks. UC drops the
 * message and carries on, as a NIC's UC responder does; RC fails: a
 * WRITE_IMM's receive completes with the error first (as rxe completes
 * it), then the QP goes to error and the requester learns why.
 */
static void write_refused(struct tcp_qp *qp)
{
	const struct rtcp_hdr *h = &qp->rx.hdr;

	if (qp->type == IBV_QPT_UC) {
		qp->rx.discard = true;
		return;
	}
	if (h->opcode == RTCP_OP_WRITE_IMM &&
	    (qp->rx.has_rwqe || tcp_rx_take_rwqe(qp)))
		complete_recv(qp, IBV_WC_REM_ACCESS_ERR);
	tcp_qp_terminate(qp, h->msn, RTCP_SYN_REM_ACCESS,
			 IBV_EVENT_QP_ACCESS_ERR);
}

/*
 * A request of the peer, before its handler: next in msn order, of a kind
 * the QP serves, within the READs and atomics this responder accepts.
 */
static bool request_ok(struct tcp_qp *qp, const struct rtcp_hdr *h,
		       const struct rx_op *op)
{
	if (h->msn != qp->resp.expect_msn) {
		tcp_qp_terminate(qp, h->msn, RTCP_SYN_REM_INV_REQ,
				 IBV_EVENT_QP_FATAL);
		return false;
	}
	if (qp->type == IBV_QPT_UC && op->rd_atomic) {
		tcp_qp_terminate(qp, h->msn, RTCP_SYN_REM_INV_REQ,
				 IBV_EVENT_QP_REQ_ERR);
		return false;
	}
	/*
	 * More READs and atomics in flight than this responder accepts
	 * (max_dest_rd_atomic): the requester broke the limit it was given,
	 * and its responses would grow here without bound.
	 */
	if (op->rd_atomic &&
	    qp->resp.rd_queued >= qp->attr.max_dest_rd_atomic) {
		tcp_qp_terminate(qp, h->msn, RTCP_SYN_REM_INV_REQ,
				 IBV_EVENT_QP_REQ_ERR);
		return false;
	}
	return true;
}

/*
 * The receive a SEND or WRITE_IMM consumes; false when there is none and
 * the frame is dropped (UC), waits (SRQ) or failed the QP.
 */
static bool rx_recv_wqe(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	if (qp->rx.has_rwqe || tcp_rx_take_rwqe(qp))
		return true;
	if (qp->type == IBV_QPT_UC) {
		/*
		 * UC has no RNR: a NIC drops a message that finds no
		 * receive, and its sender has completed already. Nothing of
		 * it lands, not even a WRITE_IMM's data.
		 */
		qp->rx.mr = NULL;
		qp->rx.iov_n = 0;
		qp->rx.discard = true;
		return false;
	}
	if (qp->srq) {
		qp->rx.phase = RX_STALL;
		tcp_qp_timer_get(qp);
		rnr_nak(qp, h->msn);
		return false;
	}
	/* the requester ignored our credits */
	tcp_qp_terminate(qp, h->msn, RTCP_SYN_RNR, IBV_EVENT_QP_FATAL);
	return false;
}

/* SEND, SEND_IMM: the payload goes into the receive's buffers. */
static void rx_send(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	struct ibv_sge sg[TCP_MAX_SGE];
	enum ibv_wc_status st;
	uint32_t i, total;

	if (!rx_recv_wqe(qp, h))
		return;
	for (i = 0; i < qp->rx.rwqe.nseg; i++) {
		sg[i].addr = (uintptr_t)qp->rx.rwqe.seg[i].addr;
		sg[i].length = qp->rx.rwqe.seg[i].len;
		sg[i].lkey = qp->rx.rwqe.seg[i].lkey;
	}
	/* an SRQ's receives belong to the SRQ's PD */
	st = tcp_resolve_sges(qp->ctx, qp->srq ? qp->srq->pd : qp->pd, sg,
			      qp->rx.rwqe.nseg, true, qp->rx.rwqe.seg, &total);
	if (st == IBV_WC_SUCCESS && total < qp->rx.msg_len)
		st = IBV_WC_LOC_LEN_ERR;
	if (st != IBV_WC_SUCCESS) {
		complete_recv(qp, st);
		tcp_qp_terminate(qp, h->msn,
				 st == IBV_WC_LOC_LEN_ERR ? RTCP_SYN_REM_INV_REQ
							  : RTCP_SYN_REM_OP,
				 IBV_EVENT_QP_FATAL);
		return;
	}
	tcp_rx_segs_to_iov(qp, qp->rx.rwqe.seg, qp->rx.rwqe.nseg, 0);
}

/*
 * SEND_INV: a SEND that invalidates the window h->rkey once it has its
 * receive (an SRQ's stall runs this again). A key that names no window
 * this QP may invalidate fails the receive with REM_INV_REQ_ERR, as rxe
 * completes it, and RC's request too.
 */
static void rx_send_inv(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	if (!rx_recv_wqe(qp, h))
		return;
	if (tcp_mw_remote_inv(qp, h->rkey)) {
		rx_send(qp, h);
		return;
	}
	complete_recv(qp, IBV_WC_REM_INV_REQ_ERR);
	if (qp->type == IBV_QPT_UC) {
		qp->rx.discard = true; /* the payload is dropped */
		return;
	}
	tcp_qp_terminate(qp, h->msn, RTCP_SYN_REM_INV_REQ,
			 IBV_EVENT_QP_REQ_ERR);
}

/* WRITE, WRITE_IMM: the payload goes into the checked target region. */
static void rx_write(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	enum ibv_wc_status st;
	char *where;

	if (h->len) {
		st = tcp_place_check(qp, h->rkey, h->raddr, h->len,
				     IBV_ACCESS_REMOTE_WRITE, &qp->rx.mr,
				     &where);
		if (st != IBV_WC_SUCCESS) {
			write_refused(qp);
			return;
		}
		/* from now on pinned per chunk (rx_payload) */
		qp->rx.key = h->rkey;
		qp->rx.serial = qp->rx.mr->serial;
		tcp_mr_unpin(qp->rx.mr);
		qp->rx.iov[0].iov_base = where;
		qp->rx.iov[0].iov_len = h->len;
		qp->rx.iov_n = 1;
	}
	/* WRITE_IMM also consumes a receive */
	if (h->opcode == RTCP_OP_WRITE_IMM)
		rx_recv_wqe(qp, h);
}

/* READ request: a response carrying the source region is queued. */
static void rx_read_req(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	struct tcp_resp *r = calloc(1, sizeof(*r));
	enum ibv_wc_status st;

	if (!r) {
		tcp_qp_terminate(qp, h->msn, RTCP_SYN_REM_OP,
				 IBV_EVENT_QP_FATAL);
		return;
	}
	if (h->aux0) {
		st = tcp_place_check(qp, h->rkey, h->raddr, h->aux0,
				     IBV_ACCESS_REMOTE_READ, &r->mr,
				     &r->payload);
		if (st != IBV_WC_SUCCESS) {
			free(r);
			tcp_qp_terminate(qp, h->msn, RTCP_SYN_REM_ACCESS,
					 IBV_EVENT_QP_ACCESS_ERR);
			return;
		}
		/* from now on pinned per sendmsg (pin_batch) */
		r->key = h->rkey;
		r->serial = r->mr->serial;
		tcp_mr_unpin(r->mr);
	}
	r->len = (uint32_t)h->aux0;
	r->hdr.opcode = RTCP_OP_READ_RESP;
	r->hdr.msn = h->msn;
	r->hdr.len = r->len;
	tcp_qp_queue_resp(qp, r);
}

/* Compare-and-swap, fetch-and-add: done here, the old value answered. */
static void rx_atomic(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	enum ibv_wc_status st;
	struct tcp_resp *r;
	struct tcp_mr *mr;
	uint64_t *p, old;
	char *where;

	if (h->raddr & 7) {
		tcp_qp_terminate(qp, h->msn, RTCP_SYN_REM_INV_REQ,
				 IBV_EVENT_QP_REQ_ERR);
		return;
	}
	st = tcp_place_check(qp, h->rkey, h->raddr, 8, IBV_ACCESS_REMOTE_ATOMIC,
			     &mr, &where);
	if (st != IBV_WC_SUCCESS) {
		tcp_qp_terminate(qp, h->msn, RTCP_SYN_REM_ACCESS,
				 IBV_EVENT_QP_ACCESS_ERR);
		return;
	}
	r = calloc(1, sizeof(*r));
	p = (uint64_t *)(void *)where;
	if (h->opcode == RTCP_OP_ATOMIC_FADD) {
		old = __atomic_fetch_add(p, h->aux0, __ATOMIC_SEQ_CST);
	} else {
		old = h->aux0;
		__atomic_compare_exchange_n(p, &old, h->aux1, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
	tcp_mr_unpin(mr);
	if (!r) {
		tcp_qp_terminate(qp, h->msn, RTCP_SYN_REM_OP,
				 IBV_EVENT_QP_FATAL);
		return;
	}
	r->hdr.opcode = RTCP_OP_ATOMIC_RESP;
	r->hdr.msn = h->msn;
	r->hdr.aux0 = old;
	tcp_qp_queue_resp(qp, r);
}

/*
 * ATOMIC_WRITE: aux0's 8 bytes stored at raddr in one atomic store, so a
 * reader of the word sees all of them or none. Acked as a WRITE is.
 */
static void rx_atomic_write(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	uint8_t bytes[8];
	uint64_t v = h->aux0;
	struct tcp_mr *mr;
	char *where;
	int i;

	if (qp->type != IBV_QPT_RC || (h->raddr & 7)) {
		tcp_qp_terminate(qp, h->msn, RTCP_SYN_REM_INV_REQ,
				 IBV_EVENT_QP_REQ_ERR);
		return;
	}
	if (tcp_place_check(qp, h->rkey, h->raddr, 8, IBV_ACCESS_REMOTE_WRITE,
			    &mr, &where) != IBV_WC_SUCCESS) {
		tcp_qp_terminate(qp, h->msn, RTCP_SYN_REM_ACCESS,
				 IBV_EVENT_QP_ACCESS_ERR);
		return;
	}
	for (i = 7; i >= 0; i--, v >>= 8)
		bytes[i] = (uint8_t)v;
	memcpy(&v, bytes, 8); /* the requester's bytes, in memory order */
	__atomic_store_n((uint64_t *)(void *)where, v, __ATOMIC_SEQ_CST);
	tcp_mr_unpin(mr);
}

/* READ response: the payload goes into the READ's local buffers. */
static void rx_read_resp(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	struct tcp_send_wqe *w = tcp_sq_find_sent(qp, h->msn);

	if (!w || w->opcode != IBV_WR_RDMA_READ ||
	    w->length != qp->rx.msg_len) {
		bad_response(qp);
		return;
	}
	qp->rx.wqe = w;
	tcp_rx_segs_to_iov(qp, w->seg, w->nseg, qp->rx.msg_off);
}

/* Atomic response: the old value lands, the atomic is done. */
static void rx_atomic_resp(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	struct tcp_send_wqe *w = tcp_sq_find_sent(qp, h->msn);

	if (!w || (w->opcode != IBV_WR_ATOMIC_CMP_AND_SWP &&
		   w->opcode != IBV_WR_ATOMIC_FETCH_AND_ADD)) {
		bad_response(qp);
		return;
	}
	if (w->nseg && w->seg[0].len >= 8)
		memcpy(w->seg[0].addr, &h->aux0, 8);
	w->state = WQE_DONE;
	qp->sq.rd_out--;
}

/* TERMINATE: the responder failed our request h->msn. */
static void rx_terminate(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	struct tcp_send_wqe *w = tcp_sq_find_sent(qp, h->msn);

	TCP_DBG_QP(RTCP_DBG_CONN, qp,
		   "TERMINATE received (msn %u, syndrome %u)", h->msn,
		   be32toh(h->imm));
	if (w) {
		w->state = WQE_DONE;
		w->status = syndrome_status(be32toh(h->imm));
		tcp_sq_reap(qp);
	}
	/*
	 * With a request to blame, its error completion tells the
	 * application; otherwise only an async event can.
	 */
	if (qp->state != IBV_QPS_ERR)
		tcp_qp_to_error(qp, w ? 0 : IBV_EVENT_QP_FATAL);
}

/* ACK: its ack and credits are taken already (rx_header); an RNR NAK. */
static void rx_ack(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	if (h->flags & RTCP_F_RNR)
		tcp_qp_rnr_nak_arm(qp, h);
}

/*
 * REKEY: the peer's new receive SA. Only on a secured connection, where
 * its payload (RTCP_REKEY_LEN bytes: all in chunk 0) is verified and
 * decrypted in the staging buffer before this runs; it is taken from
 * there and wiped, never placed anywhere else.
 */
static void rx_rekey(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	uint8_t *p = qp->rx.buf + qp->rx.start;

	if (qp->sec.mode == TCP_PSP_OFF || h->len != RTCP_REKEY_LEN ||
	    qp->rx.sec_avail != RTCP_REKEY_LEN) {
		tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
		return;
	}
	memcpy(qp->sec.rekey, p, RTCP_REKEY_LEN);
	explicit_bzero(p, RTCP_REKEY_LEN);
	qp->rx.discard = true; /* (consumed here) */
}

static void done_rekey(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	(void)h;
	tcp_qp_rekey_rx(qp, qp->sec.rekey);
	explicit_bzero(qp->sec.rekey, sizeof(qp->sec.rekey));
}

/*
 * What a peer did to this process's memory, once it is done (placed, or
 * the request taken): the responder's side of rdma-tcp stat.
 */
static void count_target(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	enum rtcp_stat_ctr c = RTCP_STAT_TGT_ATOMIC_OPS;
	uint64_t bytes = h->len;

	if (!qp->stat || qp->rx.discard || qp->resp.term_at_ns)
		return; /* dropped, or refused */
	if (h->opcode == RTCP_OP_WRITE || h->opcode == RTCP_OP_WRITE_IMM) {
		c = RTCP_STAT_TGT_WRITE_OPS;
	} else if (h->opcode == RTCP_OP_READ_REQ) {
		c = RTCP_STAT_TGT_READ_OPS;
		bytes = h->aux0;
	}
	tcp_stat_add(qp->stat, c, 1);
	if (c != RTCP_STAT_TGT_ATOMIC_OPS)
		tcp_stat_add(qp->stat, c + 1, bytes);
}

/* SEND, SEND_IMM, WRITE_IMM placed: the receive completes. */
static void done_recv(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	qp->rx.mr = NULL;
	qp->resp.expect_msn++;
	if (qp->rx.discard)
		return; /* dropped: no receive, no completion */
	if (h->opcode == RTCP_OP_WRITE_IMM)
		count_target(qp, h);
	/*
	 * A NIC acks before the receiver can see the completion: an
	 * application that exits on its last completion must not leave the
	 * requester without the ack it waits for. When the application's
	 * own poll_cq reads the socket, the ack goes at the end of the pass,
	 * before poll_cq returns (one ack for all the pass completed); the
	 * engine thread acks first.
	 */
	if (qp->resp.want_ack && !qp->rx.by_app) {
		tcp_qp_tx(qp);
		if (!qp->rx.has_rwqe)
			return; /* the connection failed: flushed */
	}
	complete_recv(qp, IBV_WC_SUCCESS);
}

/* WRITE or ATOMIC_WRITE placed. */
static void done_write(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	qp->rx.mr = NULL;
	qp->resp.expect_msn++;
	count_target(qp, h);
}

/* READ request or atomic taken: its response is queued. */
static void done_request(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	qp->resp.expect_msn++;
	count_target(qp, h);
}

/* READ response placed: the READ is done. */
static void done_read_resp(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	(void)h;
	qp->rx.wqe->state = WQE_DONE;
	qp->sq.rd_out--;
	tcp_sq_reap(qp);
}

/* Indexed by opcode; rtcp_hdr_validate lets no other opcode through. */
static const struct rx_op rx_ops[RTCP_OP_MAX + 1] = {
	[RTCP_OP_SEND] = { .handle = rx_send,
			   .done = done_recv,
			   .request = true },
	[RTCP_OP_SEND_IMM] = { .handle = rx_send,
			       .done = done_recv,
			       .request = true },
	[RTCP_OP_SEND_INV] = { .handle = rx_send_inv,
			       .done = done_recv,
			       .request = true },
	[RTCP_OP_WRITE] = { .handle = rx_write,
			    .done = done_write,
			    .request = true },
	[RTCP_OP_WRITE_IMM] = { .handle = rx_write,
				.done = done_recv,
				.request = true },
	[RTCP_OP_READ_REQ] = { .handle = rx_read_req,
			       .done = done_request,
			       .request = true,
			       .rd_atomic = true },
	[RTCP_OP_READ_RESP] = { .handle = rx_read_resp,
				.done = done_read_resp },
	[RTCP_OP_ATOMIC_CMP_SWP] = { .handle = rx_atomic,
				     .done = done_request,
				     .request = true,
				     .rd_atomic = true },
	[RTCP_OP_ATOMIC_FADD] = { .handle = rx_atomic,
				  .done = done_request,
				  .request = true,
				  .rd_atomic = true },
	[RTCP_OP_ATOMIC_RESP] = { .handle = rx_atomic_resp },
	[RTCP_OP_ACK] = { .handle = rx_ack },
	[RTCP_OP_TERMINATE] = { .handle = rx_terminate },
	[RTCP_OP_REKEY] = { .handle = rx_rekey, .done = done_rekey },
	[RTCP_OP_ATOMIC_WRITE] = { .handle = rx_atomic_write,
				   .done = done_write,
				   .request = true },
};

static const struct rx_op *rx_op_of(uint8_t opcode)
{
	if (opcode >= sizeof(rx_ops) / sizeof(rx_ops[0]) ||
	    !rx_ops[opcode].handle)
		return NULL;
	return &rx_ops[opcode];
}

/*
 * A later frame of a message whose first frame was taken (seg.c): its
 * payload goes where the message's next bytes go. A WRITE's frame is
 * checked and placed as any WRITE is; a SEND's receive was taken, checked
 * and invalidated for at its first frame.
 */
static void rx_next_frame(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	bool resp = h->opcode == RTCP_OP_READ_RESP;

	if (resp ? qp->rx.resp_msg.discard : qp->rx.req_msg.discard) {
		qp->rx.discard = true; /* as its first frame was */
		return;
	}
	if (h->opcode == RTCP_OP_WRITE || h->opcode == RTCP_OP_WRITE_IMM)
		rx_write(qp, h);
	else if (resp)
		rx_read_resp(qp, h);
	else if (qp->rx.has_rwqe)
		tcp_rx_segs_to_iov(qp, qp->rx.rwqe.seg, qp->rx.rwqe.nseg,
				   qp->rx.msg_off);
}

void tcp_rx_dispatch(struct tcp_qp *qp)
{
	const struct rtcp_hdr *h = &qp->rx.hdr;
	const struct rx_op *op = rx_op_of(h->opcode);
	int seg;

	qp->rx.left = h->len;
	qp->rx.total = h->len;
	qp->rx.iov_n = qp->rx.iov_i = 0;
	qp->rx.mr = NULL;
	qp->rx.wqe = NULL;
	qp->rx.discard = false;
	qp->rx.phase = RX_PAYLOAD;
	if (!op) {
		/* a header the codec should have refused: as a bad header */
		tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
		return;
	}
	seg = tcp_rx_seg_begin(qp, h, op->request);
	if (seg < 0)
		return;
	if (op->request && !request_ok(qp, h, op))
		return;
	if (seg == TCP_SEG_NEXT)
		rx_next_frame(qp, h);
	else
		op->handle(qp, h);
}

void tcp_rx_op_done(struct tcp_qp *qp)
{
	const struct rx_op *op = rx_op_of(qp->rx.hdr.opcode);

	if (!tcp_rx_seg_end(qp, &qp->rx.hdr)) {
		qp->rx.mr = NULL; /* (pinned per chunk only) */
		return;		  /* its message completes at its last frame */
	}
	if (op && op->done)
		op->done(qp, &qp->rx.hdr);
}
