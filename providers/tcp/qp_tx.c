// SPDX-License-Identifier: MIT
/*
 * Transmit: the send queue and the responder's answers framed onto the
 * QP's TCP stream. Caller holds qp->lock.
 *
 * A batch gathers many frames (headers plus payload straight from
 * registered memory) into one sendmsg(): responses first, then an ack,
 * then requests, at most TCP_TX_SEG bytes of each kind (a longer message
 * goes as several frames, seg.c). Runs of small elements are copied
 * together first (iov_gather.h). On a secured connection frames are cut
 * into sealed chunks, and a frame larger than a batch continues in the
 * next ones (qp_seal.c).
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "debug.h"
#include "stat.h"
#include "iov_gather.h"
#include "mw.h"
#include "transport.h"

/* Requests that consume a receive at the peer: they need its credit. */
static bool needs_credit(enum ibv_wr_opcode op)
{
	return op == IBV_WR_SEND || op == IBV_WR_SEND_WITH_IMM ||
	       op == IBV_WR_SEND_WITH_INV || op == IBV_WR_RDMA_WRITE_WITH_IMM;
}

/* Fills the piggybacked fields every header carries. */
static void hdr_common(struct tcp_qp *qp, struct rtcp_hdr *h)
{
	h->ack_msn = qp->resp.expect_msn;
	h->credits = qp->rq.posted_total;
	if (qp->srq)
		h->flags |= RTCP_F_NO_CREDIT;
	qp->resp.ack_sent = qp->resp.expect_msn;
	qp->resp.credits_sent = qp->rq.posted_total;
	qp->resp.want_ack = false;
	qp->resp.ack_held_ns = 0;
	qp->prog.ack_grace = false;
}

/*
 * A secured frame: the header and its chunk 0 go into the batch together,
 * or not at all; chunks that do not fit wait in tx.cur for the next batch
 * (qp_seal.c).
 */
static bool add_sec_frame(struct tcp_qp *qp, int *nh, struct rtcp_hdr *h,
			  const struct tcp_seg *seg, uint32_t nseg,
			  bool snapshot)
{
	struct tcp_tx_frame f;
	uint8_t *hb;

	if (qp->tx.cur.active)
		return false; /* nothing goes between a frame's chunks */
	tcp_tx_frame_init(qp, &f, h, seg, nseg, snapshot);
	if (!tcp_tx_chunk_fits(qp, &f, true))
		return false;
	hdr_common(qp, h);
	qp->prog.io_large += h->len > TCP_SPIN_BYTES;
	tcp_tx_sec_join(qp, &f); /* (may move tx.seq) */
	h->spi = qp->sec.tx.spi;
	h->sseq = qp->tx.seq + RTCP_HDR_LEN;
	hb = qp->tx.hdrs[(*nh)++];
	rtcp_hdr_encode(h, hb);
	qp->tx.cur = f;
	tcp_tx_sec_add(qp, hb);
	return true;
}

/*
 * Appends a frame (header, then the payload's segments) to the batch;
 * false when the batch has no room for it. @snapshot: the payload is a
 * region others may write while it is sent (a READ response).
 */
static bool add_frame(struct tcp_qp *qp, int *nh, struct rtcp_hdr *h,
		      const struct tcp_seg *seg, uint32_t nseg, bool snapshot)
{
	uint32_t i;
	uint8_t *hb;

	if (*nh >= TCP_TX_IOV / 2)
		return false;
	if (qp->sec.mode != TCP_PSP_OFF)
		return add_sec_frame(qp, nh, h, seg, nseg, snapshot);
	if (qp->tx.iov_n + 1 + nseg > TCP_TX_IOV)
		return false;
	hdr_common(qp, h);
	qp->prog.io_large += h->len > TCP_SPIN_BYTES;
	h->sseq = qp->tx.seq + RTCP_HDR_LEN;
	hb = qp->tx.hdrs[(*nh)++];
	rtcp_hdr_encode(h, hb);
	qp->tx.iov[qp->tx.iov_n].iov_base = hb;
	qp->tx.iov[qp->tx.iov_n++].iov_len = RTCP_HDR_LEN;
	for (i = 0; i < nseg; i++) {
		if (!seg[i].len)
			continue;
		qp->tx.iov[qp->tx.iov_n].iov_base = seg[i].addr;
		qp->tx.iov[qp->tx.iov_n++].iov_len = seg[i].len;
	}
	qp->tx.seq += RTCP_HDR_LEN + h->len;
	return true;
}

static uint8_t wr_to_op(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_SEND:
		return RTCP_OP_SEND;
	case IBV_WR_SEND_WITH_IMM:
		return RTCP_OP_SEND_IMM;
	case IBV_WR_SEND_WITH_INV:
		return RTCP_OP_SEND_INV;
	case IBV_WR_RDMA_WRITE:
		return RTCP_OP_WRITE;
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		return RTCP_OP_WRITE_IMM;
	case IBV_WR_RDMA_READ:
		return RTCP_OP_READ_REQ;
	case IBV_WR_ATOMIC_CMP_AND_SWP:
		return RTCP_OP_ATOMIC_CMP_SWP;
	case IBV_WR_ATOMIC_WRITE:
		return RTCP_OP_ATOMIC_WRITE;
	default:
		return RTCP_OP_ATOMIC_FADD;
	}
}

static bool is_resp_rd_atomic(const struct tcp_resp *r)
{
	return r->hdr.opcode == RTCP_OP_READ_RESP ||
	       r->hdr.opcode == RTCP_OP_ATOMIC_RESP;
}

/*
 * May another READ or atomic go on the wire? Not while max_rd_atomic are
 * waiting for their response: the responder holds at most its
 * max_dest_rd_atomic of them and refuses more. A QP set to 0 still gets
 * one at a time (rxe would stall it for ever).
 */
static bool rd_atomic_room(const struct tcp_qp *qp)
{
	uint32_t ord = qp->attr.max_rd_atomic ? qp->attr.max_rd_atomic : 1;

	return qp->sq.rd_out < ord;
}

/*
 * Are READs or atomics sent earlier still waiting for their response?
 * Each one on the wire is counted in rd_out until its response completes
 * it (or the QP fails, which flushes them all).
 */
static bool reads_pending(const struct tcp_qp *qp)
{
	return qp->sq.rd_out != 0;
}

/*
 * The next frame of response r into the batch: all of it, or its next
 * TCP_TX_SEG bytes (seg.c). *last: nothing of it is left.
 */
static bool add_resp_frame(struct tcp_qp *qp, int *nh, struct tcp_resp *r,
			   bool *last)
{
	struct rtcp_hdr h = r->hdr;
	struct tcp_seg one = { .addr = r->payload, .len = r->len }, part;
	const struct tcp_seg *s = &one;
	uint32_t ns = 1;

	tcp_tx_seg_cut(&h, r->off, r->len, TCP_TX_SEG, &s, &ns, &part);
	if (!add_frame(qp, nh, &h, s, ns, r->mr != NULL))
		return false;
	r->off += h.len;
	qp->tx.resp_bytes += h.len;
	*last = !(h.flags & RTCP_F_MORE);
	return true;
}

/*
 * Responses and acks the responder queued go first. A response cut into
 * frames stays first in the queue until its last frame is in a batch:
 * the ones behind it wait, and so does the rest of it for the next
 * batch, after the requests of this one.
 */
static void batch_resps(struct tcp_qp *qp, int *nh)
{
	struct tcp_resp *r;

	while ((r = qp->resp.head)) {
		bool last;

		if (qp->tx.resp_bytes >= TCP_TX_SEG ||
		    !add_resp_frame(qp, nh, r, &last))
			break;
		if (!last) {
			if (!qp->tx.cur.active)
				continue;
			/* (pinned as the queue's head) requests go next */
			qp->tx.req_turn = true;
			break;
		}
		/*
		 * The requester may count this answer done once its own
		 * bytes arrive, long before the rest of the batch leaves:
		 * the queue's bound counts what waits for a batch.
		 */
		if (is_resp_rd_atomic(r))
			qp->resp.rd_queued--;
		qp->resp.head = r->next;
		if (qp->tx.cur.active) {
			/* the rest of it goes in the next batches */
			qp->tx.cur.resp = r;
			break;
		}
		r->next = qp->tx.batch_resps;
		qp->tx.batch_resps = r;
	}
	if (!qp->resp.head)
		qp->resp.tail = NULL;
}

/*
 * When a SEND that waits for credit starts its receiver-not-ready clock.
 * A NIC acks a request on arrival; an ack we held back for this reply
 * (progress.c) reaches the peer only with it, as late as it was held, and
 * the peer may be waiting for that very completion to post the receive
 * (rdma-core's test_rdmacm_async_traffic_external_qp does): its budget
 * starts as much later as a NIC's would have.
 */
static uint64_t rnr_clock_start(const struct tcp_qp *qp)
{
	uint64_t now = tcp_now_ns(), held = 0;

	if (qp->resp.ack_held_ns && qp->resp.ack_held_ns < now)
		held = now - qp->resp.ack_held_ns;
	return now + held;
}

/* May the WQE at sq.tx go on the wire now? Later WRs wait behind it. */
static bool wqe_may_go(struct tcp_qp *qp, const struct tcp_send_wqe *w)
{
	/* a fenced WR waits for earlier READs and atomics to finish */
	if ((w->send_flags & IBV_SEND_FENCE) && reads_pending(qp))
		return false;
	/* in order: later WRs wait behind it, as on a NIC */
	if (is_rd_atomic(w->opcode) && !rd_atomic_room(qp))
		return false;
	/* (UC has no RNR: its receiver drops what finds no receive) */
	if (needs_credit(w->opcode) && !qp->sq.peer_no_credit &&
	    qp->type != IBV_QPT_UC &&
	    qp->sq.sends_issued == qp->sq.peer_credits) {
		/*
		 * Before the peer's first frame its credits are not
		 * known yet: that wait is not receiver-not-ready.
		 */
		if (!qp->sq.rnr_since_ns && qp->sq.peer_heard) {
			qp->sq.rnr_since_ns = rnr_clock_start(qp);
			tcp_stat_add(qp->stat, RTCP_STAT_RNR_WAITS, 1);
			tcp_qp_timer_get(qp);
		}
		return false;
	}
	return true;
}

/* The request header of a WQE (the piggybacked fields: hdr_common). */
static void wqe_hdr(struct tcp_qp *qp, const struct tcp_send_wqe *w,
		    struct rtcp_hdr *h)
{
	h->opcode = wr_to_op(w->opcode);
	h->flags = (w->send_flags & IBV_SEND_SOLICITED) ? RTCP_F_SOLICITED : 0;
	/*
	 * Ask for an immediate ack when a completion waits on it;
	 * otherwise acks are coalesced (see also the batch's last
	 * frame, batch_requests).
	 */
	if ((w->send_flags & IBV_SEND_SIGNALED) || qp->sq_sig_all)
		h->flags |= RTCP_F_ACK_REQ;
	h->msn = qp->sq.next_msn;
	h->rkey = w->rkey;
	h->raddr = w->raddr;
	h->imm = w->imm;
	if (w->opcode == IBV_WR_RDMA_READ) {
		h->aux0 = w->length;
	} else if (w->opcode == IBV_WR_ATOMIC_CMP_AND_SWP ||
		   w->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		h->aux0 = w->compare_add;
		h->aux1 = w->swap;
	} else if (w->opcode == IBV_WR_ATOMIC_WRITE) {
		h->aux0 = w->compare_add; /* header only */
	} else {
		h->len = w->length;
	}
}

/* The WQE is on the wire from its first frame: it has its msn. */
static void wqe_first_frame(struct tcp_qp *qp, struct tcp_send_wqe *w)
{
	if (qp->sq.rnr_since_ns) {
		qp->sq.rnr_since_ns = 0;
		tcp_qp_timer_put(qp);
	}
	if (needs_credit(w->opcode))
		qp->sq.sends_issued++;
	if (is_rd_atomic(w->opcode))
		qp->sq.rd_out++;
	w->msn = qp->sq.next_msn++;
	w->state = WQE_SENT;
	qp->tx.batch_wqes++;
}

/*
 * Frames the WQE at sq.tx into *h and the batch -- all of it, or its next
 * TCP_TX_SEG bytes (seg.c): it leaves sq.tx with its last frame. False if
 * the batch is full.
 */
static bool batch_wqe(struct tcp_qp *qp, int *nh, struct tcp_send_wqe *w,
		      struct rtcp_hdr *h)
{
	const struct tcp_seg *segs = w->seg;
	uint32_t nseg = w->nseg;
	struct tcp_seg inl;

	wqe_hdr(qp, w, h);
	if (w->tx_off)
		h->msn = w->msn; /* a later frame of the same message */
	if (w->send_flags & IBV_SEND_INLINE) {
		inl.addr = w->inl;
		inl.len = w->length;
		segs = &inl;
		nseg = 1;
	}
	if (!h->len)
		nseg = 0;
	else
		tcp_tx_seg_cut(h, w->tx_off, w->length, qp->tx.seg, &segs,
			       &nseg, qp->tx.slice);
	if (!add_frame(qp, nh, h, segs, nseg, false))
		return false;
	if (qp->tx.cur.active)
		qp->tx.cur.wqe = w; /* the rest goes in the next batches */
	if (!w->tx_off)
		wqe_first_frame(qp, w);
	w->tx_off += h->len;
	qp->tx.req_bytes += h->len;
	if (!(h->flags & RTCP_F_MORE))
		qp->sq.tx++;
	return true;
}

/* Requests from the send queue, in order, as far as they may go. */
static void batch_requests(struct tcp_qp *qp, int *nh)
{
	struct rtcp_hdr last;
	uint8_t *last_hb = NULL;

	while (qp->sq.tx != qp->sq.head) {
		struct tcp_send_wqe *w =
			&qp->sq.wqe[qp->sq.tx & (qp->sq.size - 1)];
		struct rtcp_hdr h = { 0 };
		/* a message half framed goes on (even into SQD) */
		bool next = w->tx_off != 0;

		if ((qp->state == IBV_QPS_SQD && !next) ||
		    qp->tx.req_bytes >= qp->tx.seg)
			break;
		if (!next && w->status != IBV_WC_SUCCESS) {
			/* failed its local checks: completes in order */
			w->state = WQE_DONE;
			qp->sq.tx++;
			continue;
		}
		if (!next && !wqe_may_go(qp, w))
			break;
		if (!next && tcp_mw_sq_op(qp, w)) {
			/* done here, after the requests before it */
			qp->sq.tx++;
			continue;
		}
		if (!batch_wqe(qp, nh, w, &h))
			break;
		if (!(h.flags & RTCP_F_MORE)) {
			last = h;
			last_hb = qp->tx.hdrs[*nh - 1];
		}
		if (qp->tx.cur.active)
			break; /* nothing goes between a frame's chunks */
	}
	if (qp->sq.tx == qp->sq.head)
		qp->prog.tx_unsent_bytes = qp->prog.tx_unsig =
			0; /* see send_or_defer */
	/*
	 * A send queue filling with unsignaled work has slots only an ack
	 * frees: the batch's last request asks for one (one ack a batch,
	 * not one a frame) once three quarters are sent and unacknowledged.
	 * (At half, a bandwidth test that signals one WR in 100 of 128 got
	 * an ack for each of its two batches a window, though only the
	 * signaled WR's ack frees anything it waits for. WRs still queued
	 * -- waiting for credit, a fence or socket room -- are not freed by
	 * an ack, so they do not count.)
	 */
	if (last_hb && !(last.flags & RTCP_F_ACK_REQ) &&
	    (qp->sq.tx - qp->sq.done) * 4 >= qp->cap.max_send_wr * 3) {
		/* (the flag alone: a group may have moved its sseq) */
		last_hb[RTCP_OFF_FLAGS] |= RTCP_F_ACK_REQ;
	}
}

/*
 * The size of this batch's request frames, and of its requests in all. A
 * READ or atomic response waits for what of our requests is in the
 * batches before it (and in the kernel behind them); while the peer is
 * asking for responses -- one was queued in the last
 * TCP_TX_SHORT_BATCHES batches -- our requests go in frames and batches
 * of TCP_TX_SEG_SHORT, so a response waits a quarter as long, and a
 * stream nobody reads from keeps its large batches (fewer sendmsg).
 */
static void tx_seg(struct tcp_qp *qp)
{
	if (!qp->tx.short_batches) {
		qp->tx.seg = TCP_TX_SEG;
		return;
	}
	qp->tx.short_batches--;
	qp->tx.seg = TCP_TX_SEG_SHORT;
}

/*
 * Builds the next batch: the rest of a secured frame first, then
 * responses, then an ack, then requests (in the next batch if a READ or
 * atomic response is in this one) -- except after a frame of a long
 * response that spanned batches: then requests first, or a READ response
 * of a GiB would hold them all that time. False when the batch cannot be
 * built (no memory for a secured connection's buffers).
 */
static bool build_batch(struct tcp_qp *qp)
{
	uint32_t rd;
	int nh = 0;

	qp->tx.iov_n = qp->tx.iov_i = 0;
	qp->tx.batch_wqes = 0;
	qp->tx.req_bytes = qp->tx.resp_bytes = 0;
	tx_seg(qp);
	if (qp->sec.mode != TCP_PSP_OFF) {
		if (!tcp_tx_sec_prepare(qp))
			return false;
		if (qp->tx.cur.active && !tcp_tx_sec_add(qp, NULL))
			return true; /* the batch is that frame's */
	}
	if (qp->tx.req_turn) {
		/* a response's frame filled the batches before */
		qp->tx.req_turn = false;
		batch_requests(qp, &nh);
	}
	rd = qp->resp.rd_queued;
	batch_resps(qp, &nh);
	/*
	 * A READ or atomic response leaves in a sendmsg of its own: in one
	 * with a frame of requests it reached the peer only once that frame
	 * was sealed and copied too (docs/performance.md).
	 */
	if (qp->resp.rd_queued == rd)
		batch_requests(qp, &nh);
	if (!nh && qp->resp.want_ack) {
		struct rtcp_hdr h = { .opcode = RTCP_OP_ACK };

		add_frame(qp, &nh, &h, NULL, 0, false);
	}
	if (qp->sec.mode != TCP_PSP_OFF)
		tcp_tx_sec_close(qp);
	return true;
}

/* The batch is all in the kernel: what it carried is sent. */
static void batch_done(struct tcp_qp *qp)
{
	struct tcp_resp *r;

	while ((r = qp->tx.batch_resps)) {
		qp->tx.batch_resps = r->next;
		free(r);
	}
	if (qp->type == IBV_QPT_UC) {
		/* UC has no acks: done once handed to the stream */
		uint32_t i;

		for (i = qp->sq.done; i != qp->sq.tx; i++) {
			struct tcp_send_wqe *w =
				&qp->sq.wqe[i & (qp->sq.size - 1)];

			/* (not one whose frame is still going out) */
			if (w->state == WQE_SENT && w != qp->tx.cur.wqe)
				w->state = WQE_DONE;
		}
	}
	qp->tx.iov_n = qp->tx.iov_i = 0;
}

/*
 * A READ response cut into frames (seg.c) stays at the head of the queue
 * until its last frame is in a batch: its earlier frames may be in this
 * one.
 */
static struct tcp_resp *resp_partly_sent(const struct tcp_qp *qp)
{
	struct tcp_resp *r = qp->resp.head;

	return r && r->off && r->mr ? r : NULL;
}

static bool repin_resp(struct tcp_qp *qp, struct tcp_resp *r)
{
	return !r || !r->mr || tcp_mr_repin(qp->ctx, r->key, r->mr, r->serial);
}

/*
 * Pins the regions READ responses of the batch are sent from, for one
 * sendmsg; false (nothing left pinned) if one was deregistered or
 * re-registered since the request was checked.
 */
static bool pin_batch(struct tcp_qp *qp)
{
	struct tcp_resp *r, *s, *cur = qp->tx.cur.resp;
	struct tcp_resp *part = resp_partly_sent(qp);

	if (!repin_resp(qp, cur))
		return false;
	if (!repin_resp(qp, part)) {
		if (cur)
			tcp_mr_unpin(cur->mr);
		return false;
	}
	for (r = qp->tx.batch_resps; r; r = r->next) {
		if (!r->mr)
			continue;
		if (!tcp_mr_repin(qp->ctx, r->key, r->mr, r->serial)) {
			for (s = qp->tx.batch_resps; s != r; s = s->next)
				tcp_mr_unpin(s->mr);
			if (cur)
				tcp_mr_unpin(cur->mr);
			if (part)
				tcp_mr_unpin(part->mr);
			return false;
		}
	}
	return true;
}

static void unpin_batch(struct tcp_qp *qp)
{
	struct tcp_resp *r, *part = resp_partly_sent(qp);

	if (part)
		tcp_mr_unpin(part->mr);
	if (qp->tx.cur.resp)
		tcp_mr_unpin(qp->tx.cur.resp->mr);
	for (r = qp->tx.batch_resps; r; r = r->next)
		tcp_mr_unpin(r->mr);
}

/*
 * Where a batch's small elements are gathered for one sendmsg (see
 * iov_gather.h). Per thread: the application's threads and the engine
 * transmit concurrently on different QPs, and the copy is dead once
 * sendmsg returns.
 */
#define TCP_GATHER_BUF 16384
static _Thread_local struct {
	struct iovec iov[TCP_TX_IOV];
	unsigned char buf[TCP_GATHER_BUF];
} tx_gather;

/*
 * Has a transmit that sent @sent bytes so far done its share while the
 * peer's frames wait to be read? A transmit runs until the socket is
 * full, and on a fast path (loopback) the socket takes all of a deep
 * queue of large WRITEs: the thread sending them read nothing for
 * milliseconds, and a READ request or ack that came meanwhile waited
 * for all of it (docs/performance.md, "READ behind a stream"). So past
 * a batch's frame size (tx_seg) it looks whether input is waiting (one
 * ioctl a batch of that size) and, if so, stops as if the socket were full:
 * whoever serves output next -- the engine on EPOLLOUT, the
 * application's next poll -- reads first, then sends the rest, with the
 * responses the pass queued at the head of the next batch. Only while
 * requests of ours wait to be sent: a responder with nothing else to send
 * (ib_read_bw's) would only read more requests to queue behind the same
 * responses.
 */
static bool tx_yields(const struct tcp_qp *qp, size_t sent)
{
	int queued = 0;

	return sent && sent >= qp->tx.seg && !qp->tx.no_yield &&
	       qp->sq.tx != qp->sq.head &&
	       !ioctl(qp->conn.fd, FIONREAD, &queued) && queued > 0;
}

/*
 * Sends batch after batch until nothing is left to send, the socket is
 * full or input waits (tx_yields); then EPOLLOUT, or the application's
 * next pass, resumes.
 */
void tcp_qp_tx(struct tcp_qp *qp)
{
	struct msghdr m = { 0 };
	size_t sent = 0;
	ssize_t n;

	tcp_assert_held(&qp->lock);
	if (!qp->conn.connected || qp->conn.fd < 0)
		return;
	if (!qp->tx.iov && !tcp_qp_tx_bufs(qp)) {
		tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
		return;
	}
	/* whatever is held back goes now, or waits on EPOLLOUT or credit */
	qp->prog.tx_deferred = qp->prog.tx_kicked = false;
	for (;;) {
		if (qp->tx.iov_i == qp->tx.iov_n) {
			batch_done(qp);
			tcp_sq_reap(qp);
			if (!qp->conn.connected)
				return;
			if (tx_yields(qp, sent)) {
				/* (the next poll serves it, back-off or not) */
				tcp_qp_set_epollout(qp, true);
				tcp_qp_no_skip(qp);
				return;
			}
			if (!build_batch(qp)) {
				tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
				return;
			}
			if (!qp->tx.iov_n) {
				tcp_qp_set_epollout(qp, false);
				/* WRs that failed local checks complete now */
				tcp_sq_reap(qp);
				return;
			}
		}
		if (!pin_batch(qp)) {
			/*
			 * A READ's source region went away mid-response: the
			 * stream cannot carry the promised bytes, so the QP
			 * fails, as a NIC's would on a local access error.
			 */
			tcp_qp_to_error(qp, IBV_EVENT_QP_ACCESS_ERR);
			return;
		}
		/* a secured batch's tags, once, while its regions are pinned */
		if (qp->sec.mode != TCP_PSP_OFF && tcp_tx_sec_seal(qp)) {
			unpin_batch(qp);
			tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
			return;
		}
		/* the same bytes: a partial send is accounted on tx.iov */
		m.msg_iov = tx_gather.iov;
		m.msg_iovlen = tcp_iov_gather(
			&qp->tx.iov[qp->tx.iov_i], qp->tx.iov_n - qp->tx.iov_i,
			tx_gather.iov, tx_gather.buf, sizeof(tx_gather.buf),
			TCP_GATHER_SMALL);
		n = sendmsg(qp->conn.fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		unpin_batch(qp);
		if (n > TCP_SPIN_BYTES)
			qp->prog.io_large++;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				tcp_qp_set_epollout(qp, true);
				return;
			}
			tcp_qp_fail_conn(qp);
			return;
		}
		sent += (size_t)n;
		while (n > 0) {
			struct iovec *v = &qp->tx.iov[qp->tx.iov_i];

			if ((size_t)n >= v->iov_len) {
				n -= v->iov_len;
				qp->tx.iov_i++;
			} else {
				v->iov_base = (char *)v->iov_base + n;
				v->iov_len -= n;
				n = 0;
			}
		}
	}
}

/* Queues a response, an ack or a TERMINATE for the next batch. */
void tcp_qp_queue_resp(struct tcp_qp *qp, struct tcp_resp *r)
{
	if (is_resp_rd_atomic(r)) {
		qp->resp.rd_queued++;
		qp->tx.short_batches = TCP_TX_SHORT_BATCHES;
	}
	r->next = NULL;
	if (qp->resp.tail)
		qp->resp.tail->next = r;
	else
		qp->resp.head = r;
	qp->resp.tail = r;
}

/*
 * A responder that fails a request tells the requester with a TERMINATE
 * and goes to error. The TERMINATE travels behind the frames already
 * queued -- a READ response of many MiB may still be in the batch -- and
 * a NIC's NAK is not lost because the requester reads slowly: so the QP
 * stops reading requests (tcp_qp_rx discards the stream), keeps sending,
 * and goes to error once the TERMINATE has left (the engine's tick,
 * tcp_qp_term_timer), or after TCP_TERM_MAX_NS: a requester that stopped
 * reading meets a closed connection, which its retry budget turns into
 * RETRY_EXC_ERR.
 */
#define TCP_TERM_MAX_NS 5000000000ull

/* Nothing queued or half-sent: the TERMINATE is in the kernel. */
static bool term_sent(const struct tcp_qp *qp)
{
	return !qp->resp.head && qp->tx.iov_i == qp->tx.iov_n;
}

void tcp_qp_terminate(struct tcp_qp *qp, uint32_t msn, uint32_t syn,
		      enum ibv_event_type ev)
{
	struct tcp_resp *r = calloc(1, sizeof(*r));

	tcp_assert_held(&qp->lock);
	TCP_DBG_QP(RTCP_DBG_CONN, qp,
		   "TERMINATE sent (msn %u, syndrome %u): %s", msn, syn,
		   ibv_event_type_str(ev));
	if (r) {
		r->hdr.opcode = RTCP_OP_TERMINATE;
		r->hdr.msn = msn;
		r->hdr.imm = htobe32(syn); /* network order, like every field */
		tcp_qp_queue_resp(qp, r);
		tcp_qp_tx(qp);
	}
	if (!r || !qp->conn.connected || term_sent(qp) || qp->resp.term_at_ns) {
		tcp_qp_to_error(qp, ev);
		return;
	}
	qp->resp.term_ev = ev;
	qp->resp.term_at_ns = tcp_now_ns() + TCP_TERM_MAX_NS;
	tcp_qp_timer_get(qp);
}

/* The engine's tick while a TERMINATE is on its way out. */
void tcp_qp_term_timer(struct tcp_qp *qp, uint64_t now)
{
	tcp_qp_tx(qp);
	if (qp->conn.connected && !term_sent(qp) && now < qp->resp.term_at_ns)
		return;
	tcp_qp_to_error(qp, qp->resp.term_ev);
}

/* The QP leaves the terminating state (its connection closes). */
void tcp_qp_term_cancel(struct tcp_qp *qp)
{
	if (!qp->resp.term_at_ns)
		return;
	qp->resp.term_at_ns = 0;
	tcp_qp_timer_put(qp);
}
