// SPDX-License-Identifier: MIT
/*
 * The transport: framing work requests onto a QP's TCP stream (tx), and
 * parsing, checking and placing frames from it (rx). Caller holds qp->lock.
 *
 * Transmit gathers many frames (headers plus payload straight from
 * registered memory) into one sendmsg(); runs of small elements are copied
 * together first (iov_gather.h). Receive reads headers through a
 * small staging buffer and payload with readv() straight into the target
 * memory; only bytes that arrived together with a header are copied.
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "iov_gather.h"
#include "qp.h"

uint64_t tcp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static bool msn_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/*
 * What the engine watches on a connected QP's socket. Nothing but the
 * peer's close while the application drives the socket (rx_app_driven):
 * its polls read, and send what waits for room (tcp_qp_app_pass). An
 * engine woken for room queued for the QP lock behind a requester that
 * retakes it a microsecond after each unlock: in ib_write_bw 64 KiB one
 * such wait lasted 24 ms with the socket writable, and the wake-ups
 * (~12,000 futex calls a second) cost the peer's engine its CPU.
 */
uint32_t tcp_qp_events(const struct tcp_qp *qp)
{
	if (qp->rx_app_driven)
		return EPOLLRDHUP;
	return EPOLLRDHUP | EPOLLIN | (qp->epollout ? EPOLLOUT : 0);
}

static void set_epollout(struct tcp_qp *qp, bool on)
{
	if (qp->epollout == on || qp->fd < 0)
		return;
	qp->epollout = on;
	if (!qp->rx_app_driven) /* (else the watch stays EPOLLRDHUP) */
		tcp_engine_rewatch(qp->ctx, qp->fd, &qp->poll.p,
				   tcp_qp_events(qp));
}

/*
 * Counts one poll or post of the application; false while it is out of
 * the mode for calling too slowly (rx_app_lazy). It counts as busy again
 * after TCP_APP_RX_BUSY_POLLS polls and posts in a coarse-clock tick: a
 * requester posting 64 KiB WRITEs spends ~20 us in each post's sendmsg
 * and polls less often than that, yet it is the busiest user of its QP
 * lock.
 */
bool tcp_qp_app_call(struct tcp_qp *qp)
{
	struct timespec ts;

	if (!qp->rx_app_lazy)
		return true;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	if ((uint32_t)ts.tv_nsec != qp->lazy_win) {
		qp->lazy_win = ts.tv_nsec;
		qp->lazy_polls = 0;
	}
	if (++qp->lazy_polls < TCP_APP_RX_BUSY_POLLS)
		return false;
	qp->rx_app_lazy = false;
	return true;
}

/*
 * The application polls this QP's receive CQ (the QP has had receives
 * posted), or its send CQ with requests outstanding: it reads the socket
 * itself (tcp_progress_cq), so the engine stops watching for input --
 * waking it for every frame would only make it fight the application for
 * the QP lock, and on a busy host preempt a spinning poller.
 *
 * Two cases:
 * - Two-sided traffic, or a bandwidth test waiting for acks (at least
 *   TCP_APP_RX_MIN_INFLIGHT requests out): the engine's 1 ms timer takes
 *   the socket back once the polls stop (tcp_qp_timers), and
 *   ibv_req_notify_cq does at once (the application is about to sleep).
 *   Until then, one-sided requests from the peer are served by the
 *   application's polls: an application that stops polling and spins on
 *   memory waits up to a tick for them (a bandwidth test's final flag).
 *   Handing the socket back each time nothing is outstanding cost more
 *   (epoll_ctl and engine wake-ups every burst) than it saved.
 * - A one-sided requester (no receives) waiting for fewer requests, as
 *   ib_write_lat / ib_read_lat do (one WRITE or READ, poll until it is
 *   done, then spin on memory for the peer's WRITE): the socket goes back
 *   to the engine as soon as nothing is outstanding (rx_app_oneway), so
 *   the memory spinner's peer is placed by the engine at once. Two
 *   epoll_ctl a message cost far less than the engine wake-up they save:
 *   the ack (or READ response) is read by the poller itself, and a peer
 *   that answers with its own WRITE carries the ack in that WRITE's
 *   header (the ack held here waits for the next post, or for the
 *   engine's next tick).
 * Either way only for an application that spins: one that polls fewer
 * than TCP_APP_RX_BUSY_POLLS times a millisecond (it sleeps between
 * polls) would see its completions a poll interval late, so the engine's
 * tick takes the socket back and the QP stays out of the mode until the
 * polls come that fast again (rx_app_lazy).
 */
void tcp_qp_app_rx(struct tcp_qp *qp, struct tcp_cq *cq)
{
	/* receives posted now or before: a ping-pong with one receive has
	 * none posted between its completion and its repost */
	bool recvs = !qp->srq && qp->rq_posted_total;
	uint32_t inflight = qp->sq_head - qp->sq_done;
	bool oneway = false;

	tcp_assert_held(&qp->lock);
	if (qp->rx_app_driven) {
		/* (a peer that never sent a request -- ib_read_lat's -- has
		 * nothing for the engine to serve: the tick hands back) */
		if (qp->rx_app_oneway && !inflight && qp->expect_msn)
			tcp_qp_engine_rx(qp);
		return;
	}
	if (qp->fd < 0 || !qp->connected)
		return;
	if (!tcp_qp_app_call(qp))
		return;
	if (!(cq == qp->rcq && recvs) &&
	    !(cq == qp->scq && inflight >= TCP_APP_RX_MIN_INFLIGHT)) {
		/* the one-sided latency loop, or nothing */
		if (cq != qp->scq || !inflight || recvs)
			return;
		oneway = true;
	}
	qp->rx_app_driven = true;
	qp->rx_app_oneway = oneway;
	tcp_engine_rewatch(qp->ctx, qp->fd, &qp->poll.p, tcp_qp_events(qp));
	if (!qp->rx_tick) {
		/* the tick counts polls from here (a QP entering and leaving
		 * every message keeps counting across) */
		qp->rx_app_mark = qp_cq_polls(qp);
		qp->rx_tick = true;
		tcp_engine_timer_get(
			qp->ctx); /* the timer that hands it back */
	}
}

/*
 * The application's look at the socket, from poll_cq. Returns true when
 * it found nothing and the QP is a bandwidth test's requester (the second
 * case above, with no receives): such an application polls far more often
 * than acks come (one a batch; perftest ~14 million polls a second), and
 * each look costs a system call and three lock round trips, so
 * tcp_progress_cq lets the CQ's next polls skip it (1, 3, 7 ... up to
 * TCP_APP_RX_SKIP_MAX, ~20 us), until a look finds data or a post comes.
 */
bool tcp_qp_app_pass(struct tcp_qp *qp, struct tcp_cq *cq)
{
	uint64_t before = qp->io_rx;

	tcp_assert_held(&qp->lock);
	qp->rx_by_app = true;
	tcp_qp_rx(qp);
	qp->rx_by_app = false;
	if (qp->connected)
		tcp_qp_app_rx(qp, cq);
	/*
	 * What waits for socket room: the engine does not watch for it now.
	 * (A pass that read something has just tried, at its end.)
	 */
	if (qp->connected && qp->rx_app_driven && qp->epollout &&
	    qp->io_rx == before)
		tcp_qp_tx(qp);
	return qp->io_rx == before && qp->rx_app_driven && cq == qp->scq &&
	       !qp->rq_posted_total &&
	       qp->sq_head - qp->sq_done >= TCP_APP_RX_MIN_INFLIGHT;
}

/* The engine watches the socket's input again. */
void tcp_qp_engine_rx(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	if (!qp->rx_app_driven)
		return;
	qp->rx_app_driven = false;
	if (qp->fd >= 0)
		tcp_engine_rewatch(qp->ctx, qp->fd, &qp->poll.p,
				   tcp_qp_events(qp));
}

/* The socket is gone: the mode ends with its timer reference. */
void tcp_qp_rx_mode_end(struct tcp_qp *qp)
{
	tcp_qp_engine_rx(qp);
	if (qp->rx_tick) {
		qp->rx_tick = false;
		tcp_engine_timer_put(qp->ctx);
	}
}

static bool needs_credit(enum ibv_wr_opcode op)
{
	return op == IBV_WR_SEND || op == IBV_WR_SEND_WITH_IMM ||
	       op == IBV_WR_RDMA_WRITE_WITH_IMM;
}

/* Fills the piggybacked fields every header carries. */
static void hdr_common(struct tcp_qp *qp, struct rtcp_hdr *h)
{
	h->ack_msn = qp->expect_msn;
	h->credits = qp->rq_posted_total;
	if (qp->srq)
		h->flags |= RTCP_F_NO_CREDIT;
	qp->ack_sent = qp->expect_msn;
	qp->credits_sent = qp->rq_posted_total;
	qp->want_ack = false;
	qp->ack_grace = false;
}

static bool add_frame(struct tcp_qp *qp, int *nh, struct rtcp_hdr *h,
		      const struct tcp_seg *seg, uint32_t nseg)
{
	uint32_t i;
	uint8_t *hb;

	if (*nh >= TCP_TX_IOV / 2 || qp->tx_iov_n + 1 + nseg > TCP_TX_IOV)
		return false;
	hdr_common(qp, h);
	qp->io_large += h->len > TCP_SPIN_BYTES;
	h->sseq = qp->tx_seq + RTCP_HDR_LEN;
	hb = qp->tx_hdrs[(*nh)++];
	rtcp_hdr_encode(h, hb);
	qp->tx_iov[qp->tx_iov_n].iov_base = hb;
	qp->tx_iov[qp->tx_iov_n++].iov_len = RTCP_HDR_LEN;
	for (i = 0; i < nseg; i++) {
		if (!seg[i].len)
			continue;
		qp->tx_iov[qp->tx_iov_n].iov_base = seg[i].addr;
		qp->tx_iov[qp->tx_iov_n++].iov_len = seg[i].len;
	}
	qp->tx_seq += RTCP_HDR_LEN + h->len;
	return true;
}

static uint8_t wr_to_op(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_SEND:
		return RTCP_OP_SEND;
	case IBV_WR_SEND_WITH_IMM:
		return RTCP_OP_SEND_IMM;
	case IBV_WR_RDMA_WRITE:
		return RTCP_OP_WRITE;
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		return RTCP_OP_WRITE_IMM;
	case IBV_WR_RDMA_READ:
		return RTCP_OP_READ_REQ;
	case IBV_WR_ATOMIC_CMP_AND_SWP:
		return RTCP_OP_ATOMIC_CMP_SWP;
	default:
		return RTCP_OP_ATOMIC_FADD;
	}
}

static bool is_resp_rd_atomic(const struct tcp_resp *r)
{
	return r->hdr.opcode == RTCP_OP_READ_RESP ||
	       r->hdr.opcode == RTCP_OP_ATOMIC_RESP;
}

static bool is_rd_atomic(enum ibv_wr_opcode op)
{
	return op == IBV_WR_RDMA_READ || op == IBV_WR_ATOMIC_CMP_AND_SWP ||
	       op == IBV_WR_ATOMIC_FETCH_AND_ADD;
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

	return qp->rd_out < ord;
}

/* Are READs or atomics before sq_tx still waiting for their response? */
static bool reads_pending(struct tcp_qp *qp)
{
	uint32_t i;

	for (i = qp->sq_done; i != qp->sq_tx; i++) {
		struct tcp_send_wqe *w = &qp->sq[i & (qp->sq_size - 1)];

		if (w->state != WQE_DONE &&
		    (w->opcode == IBV_WR_RDMA_READ ||
		     w->opcode == IBV_WR_ATOMIC_CMP_AND_SWP ||
		     w->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD))
			return true;
	}
	return false;
}

/* Builds the next batch: responses first, then an ack, then requests. */
static void build_batch(struct tcp_qp *qp)
{
	struct tcp_resp *r;
	struct rtcp_hdr last;
	uint8_t *last_hb = NULL;
	int nh = 0;

	qp->tx_iov_n = qp->tx_iov_i = 0;
	qp->tx_batch_wqes = 0;
	while ((r = qp->resp_head)) {
		struct tcp_seg s = { .addr = r->payload, .len = r->len };

		if (!add_frame(qp, &nh, &r->hdr, &s, 1))
			break;
		/*
		 * The requester may count this answer done once its own
		 * bytes arrive, long before the rest of the batch leaves:
		 * the queue's bound counts what waits for a batch.
		 */
		if (is_resp_rd_atomic(r))
			qp->rd_resp_queued--;
		qp->resp_head = r->next;
		r->next = qp->tx_batch_resps;
		qp->tx_batch_resps = r;
	}
	if (!qp->resp_head)
		qp->resp_tail = NULL;

	while (qp->sq_tx != qp->sq_head && qp->state != IBV_QPS_SQD) {
		struct tcp_send_wqe *w = &qp->sq[qp->sq_tx & (qp->sq_size - 1)];
		struct rtcp_hdr h = { 0 };
		struct tcp_seg inl;

		if (w->status != IBV_WC_SUCCESS) {
			/* failed its local checks: completes in order */
			w->state = WQE_DONE;
			qp->sq_tx++;
			continue;
		}
		/* a fenced WR waits for earlier READs and atomics to finish */
		if ((w->send_flags & IBV_SEND_FENCE) && reads_pending(qp))
			break;
		/* in order: later WRs wait behind it, as on a NIC */
		if (is_rd_atomic(w->opcode) && !rd_atomic_room(qp))
			break;
		/* (UC has no RNR: its receiver drops what finds no receive) */
		if (needs_credit(w->opcode) && !qp->peer_no_credit &&
		    qp->type != IBV_QPT_UC &&
		    qp->sends_issued == qp->peer_credits) {
			/*
			 * Before the peer's first frame its credits are not
			 * known yet: that wait is not receiver-not-ready.
			 */
			if (!qp->rnr_since_ns && qp->peer_heard) {
				qp->rnr_since_ns = tcp_now_ns();
				tcp_engine_timer_get(qp->ctx);
			}
			break;
		}
		h.opcode = wr_to_op(w->opcode);
		h.flags = (w->send_flags & IBV_SEND_SOLICITED)
				  ? RTCP_F_SOLICITED
				  : 0;
		/*
		 * Ask for an immediate ack when a completion waits on it;
		 * otherwise acks are coalesced (see also the batch's last
		 * frame below).
		 */
		if ((w->send_flags & IBV_SEND_SIGNALED) || qp->sq_sig_all)
			h.flags |= RTCP_F_ACK_REQ;
		h.msn = qp->next_msn;
		h.rkey = w->rkey;
		h.raddr = w->raddr;
		h.imm = w->imm;
		if (w->opcode == IBV_WR_RDMA_READ) {
			h.aux0 = w->length;
		} else if (w->opcode == IBV_WR_ATOMIC_CMP_AND_SWP ||
			   w->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD) {
			h.aux0 = w->compare_add;
			h.aux1 = w->swap;
		} else {
			h.len = w->length;
		}
		if (w->send_flags & IBV_SEND_INLINE) {
			inl.addr = w->inl;
			inl.len = w->length;
		}
		if (!add_frame(qp, &nh, &h,
			       (w->send_flags & IBV_SEND_INLINE) ? &inl
								 : w->seg,
			       h.len ? ((w->send_flags & IBV_SEND_INLINE)
						? 1
						: w->nseg)
				     : 0))
			break;
		if (qp->rnr_since_ns) {
			qp->rnr_since_ns = 0;
			tcp_engine_timer_put(qp->ctx);
		}
		if (needs_credit(w->opcode))
			qp->sends_issued++;
		if (is_rd_atomic(w->opcode))
			qp->rd_out++;
		w->msn = qp->next_msn++;
		w->state = WQE_SENT;
		qp->sq_tx++;
		qp->tx_batch_wqes++;
		last = h;
		last_hb = qp->tx_hdrs[nh - 1];
	}
	if (qp->sq_tx == qp->sq_head)
		qp->tx_unsent_bytes = qp->tx_unsig = 0; /* see send_or_defer */
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
	    (qp->sq_tx - qp->sq_done) * 4 >= qp->cap.max_send_wr * 3) {
		last.flags |= RTCP_F_ACK_REQ;
		rtcp_hdr_encode(&last, last_hb);
	}

	if (!nh && qp->want_ack) {
		struct rtcp_hdr h = { .opcode = RTCP_OP_ACK };

		add_frame(qp, &nh, &h, NULL, 0);
	}
}

static void batch_done(struct tcp_qp *qp)
{
	struct tcp_resp *r;

	while ((r = qp->tx_batch_resps)) {
		qp->tx_batch_resps = r->next;
		free(r);
	}
	if (qp->type == IBV_QPT_UC) {
		/* UC has no acks: done once handed to the stream */
		uint32_t i;

		for (i = qp->sq_done; i != qp->sq_tx; i++) {
			struct tcp_send_wqe *w = &qp->sq[i & (qp->sq_size - 1)];

			if (w->state == WQE_SENT)
				w->state = WQE_DONE;
		}
	}
	qp->tx_iov_n = qp->tx_iov_i = 0;
}

/*
 * Pins the regions READ responses of the batch are sent from, for one
 * sendmsg; false (nothing left pinned) if one was deregistered or
 * re-registered since the request was checked.
 */
static bool pin_batch(struct tcp_qp *qp)
{
	struct tcp_resp *r, *s;

	for (r = qp->tx_batch_resps; r; r = r->next) {
		if (!r->mr)
			continue;
		if (!tcp_mr_repin(qp->ctx, r->key, r->mr, r->serial)) {
			for (s = qp->tx_batch_resps; s != r; s = s->next)
				tcp_mr_unpin(s->mr);
			return false;
		}
	}
	return true;
}

static void unpin_batch(struct tcp_qp *qp)
{
	struct tcp_resp *r;

	for (r = qp->tx_batch_resps; r; r = r->next)
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

void tcp_qp_tx(struct tcp_qp *qp)
{
	struct msghdr m = { 0 };
	ssize_t n;

	tcp_assert_held(&qp->lock);
	if (!qp->connected || qp->fd < 0)
		return;
	/* whatever is held back goes now, or waits on EPOLLOUT or credit */
	qp->tx_deferred = qp->tx_kicked = false;
	for (;;) {
		if (qp->tx_iov_i == qp->tx_iov_n) {
			batch_done(qp);
			tcp_sq_reap(qp);
			if (!qp->connected)
				return;
			build_batch(qp);
			if (!qp->tx_iov_n) {
				set_epollout(qp, false);
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
		/* the same bytes: a partial send is accounted on tx_iov */
		m.msg_iov = tx_gather.iov;
		m.msg_iovlen = tcp_iov_gather(
			&qp->tx_iov[qp->tx_iov_i], qp->tx_iov_n - qp->tx_iov_i,
			tx_gather.iov, tx_gather.buf, sizeof(tx_gather.buf),
			TCP_GATHER_SMALL);
		n = sendmsg(qp->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		unpin_batch(qp);
		if (n > TCP_SPIN_BYTES)
			qp->io_large++;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				set_epollout(qp, true);
				return;
			}
			tcp_qp_fail_conn(qp);
			return;
		}
		while (n > 0) {
			struct iovec *v = &qp->tx_iov[qp->tx_iov_i];

			if ((size_t)n >= v->iov_len) {
				n -= v->iov_len;
				qp->tx_iov_i++;
			} else {
				v->iov_base = (char *)v->iov_base + n;
				v->iov_len -= n;
				n = 0;
			}
		}
	}
}

/* ------------------------------------------------------------ receive */

static void queue_resp(struct tcp_qp *qp, struct tcp_resp *r)
{
	if (is_resp_rd_atomic(r))
		qp->rd_resp_queued++;
	r->next = NULL;
	if (qp->resp_tail)
		qp->resp_tail->next = r;
	else
		qp->resp_head = r;
	qp->resp_tail = r;
}

/*
 * Error path only: push queued frames into the kernel, waiting briefly for
 * send-buffer room, so the TERMINATE is not lost behind a full socket.
 */
static void flush_out(struct tcp_qp *qp)
{
	struct pollfd p = { .fd = qp->fd, .events = POLLOUT };
	int tries = 20;

	for (;;) {
		tcp_qp_tx(qp);
		if (!qp->connected || qp->tx_iov_i == qp->tx_iov_n || !tries--)
			return;
		if (poll(&p, 1, 10) < 0)
			return;
	}
}

/* Tells the requester its request failed; the QP then goes to error. */
static void terminate(struct tcp_qp *qp, uint32_t msn, uint32_t syn,
		      enum ibv_event_type ev)
{
	struct tcp_resp *r = calloc(1, sizeof(*r));

	if (r) {
		r->hdr.opcode = RTCP_OP_TERMINATE;
		r->hdr.msn = msn;
		r->hdr.imm = htobe32(syn); /* network order, like every field */
		queue_resp(qp, r);
		flush_out(qp);
	}
	tcp_qp_to_error(qp, ev);
}

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

static struct tcp_send_wqe *find_wqe(struct tcp_qp *qp, uint32_t msn)
{
	uint32_t i;

	for (i = qp->sq_done; i != qp->sq_tx; i++) {
		struct tcp_send_wqe *w = &qp->sq[i & (qp->sq_size - 1)];

		if (w->state == WQE_SENT && w->msn == msn)
			return w;
	}
	return NULL;
}

/*
 * The payload's destination: the segments' memory, cut at the message's
 * length (rx_left). A receive buffer is usually larger than the message,
 * and readv() fills every iovec it is given: left uncut, it would read the
 * frames behind this one into the application's buffer.
 */
static void segs_to_iov(struct tcp_qp *qp, const struct tcp_seg *s, uint32_t n)
{
	uint32_t i, left = qp->rx_left;

	qp->rx_iov_n = qp->rx_iov_i = 0;
	for (i = 0; i < n && left; i++) {
		uint32_t len = s[i].len < left ? s[i].len : left;

		if (!len)
			continue;
		qp->rx_iov[qp->rx_iov_n].iov_base = s[i].addr;
		qp->rx_iov[qp->rx_iov_n++].iov_len = len;
		left -= len;
	}
}

/*
 * Fails the oldest unfinished request with `status` (completions stay in
 * order), moves the QP to ERR and raises IBV_EVENT_QP_FATAL.
 */
static void fail_oldest(struct tcp_qp *qp, enum ibv_wc_status status)
{
	struct tcp_send_wqe *w = NULL;
	uint32_t i;

	tcp_sq_reap(qp); /* acked WRs are not the ones failing */
	if (qp->state == IBV_QPS_ERR)
		return;
	/* the first not yet done among those on the wire... */
	for (i = qp->sq_done; i != qp->sq_tx; i++) {
		if (qp->sq[i & (qp->sq_size - 1)].state != WQE_DONE) {
			w = &qp->sq[i & (qp->sq_size - 1)];
			break;
		}
	}
	/* ...or the next one held back (no credit): it fails all the same */
	if (!w && qp->sq_tx != qp->sq_head)
		w = &qp->sq[qp->sq_tx++ & (qp->sq_size - 1)];
	if (w) {
		w->state = WQE_DONE;
		w->status = status;
	}
	qp->connected = false;
	tcp_sq_reap(qp); /* completes in order; the error moves QP to ERR */
	if (qp->state != IBV_QPS_ERR)
		tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
	else
		tcp_async_post(qp->ctx, IBV_EVENT_QP_FATAL,
			       (uint64_t)(uintptr_t)&qp->vqp.qp);
}

/* A response that answers nothing we asked, or does not fit the request. */
static void bad_response(struct tcp_qp *qp)
{
	fail_oldest(qp, IBV_WC_BAD_RESP_ERR);
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
	queue_resp(qp, r);
}

static uint64_t rnr_timer_ns(uint8_t t);

/* The responder NAKed request h->msn for want of a receive. */
static void rnr_nak_heard(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	uint32_t t = be32toh(h->imm);

	if (qp->type != IBV_QPT_RC || qp->attr.rnr_retry == 7 ||
	    qp->rnr_nak_at_ns || !find_wqe(qp, h->msn))
		return;
	qp->rnr_nak_msn = h->msn;
	qp->rnr_nak_at_ns =
		tcp_now_ns() + (qp->attr.rnr_retry + 1) * rnr_timer_ns(t & 31);
	tcp_engine_timer_get(qp->ctx);
}

/* Takes a receive WQE for SEND / WRITE_IMM; false when none is posted. */
static bool take_rwqe(struct tcp_qp *qp)
{
	if (qp->srq) {
		if (!tcp_srq_take(qp->srq, &qp->rx_rwqe))
			return false;
	} else {
		struct tcp_recv_wqe *w;

		if (qp->rq_head == qp->rq_tail)
			return false;
		w = &qp->rq[qp->rq_tail++ & (qp->rq_size - 1)];
		qp->rx_rwqe.wr_id = w->wr_id;
		qp->rx_rwqe.nseg = w->nseg;
		memcpy(qp->rx_rwqe.seg, w->seg, w->nseg * sizeof(*w->seg));
		if (tcp_credit_update_due(qp))
			qp->want_ack = true;
	}
	qp->rx_has_rwqe = true;
	return true;
}

static void complete_recv(struct tcp_qp *qp, enum ibv_wc_status st)
{
	struct ibv_wc wc = { 0 };
	const struct rtcp_hdr *h = &qp->rx_hdr;

	wc.wr_id = qp->rx_rwqe.wr_id;
	wc.status = st;
	wc.opcode = h->opcode == RTCP_OP_WRITE_IMM ? IBV_WC_RECV_RDMA_WITH_IMM
						   : IBV_WC_RECV;
	wc.byte_len = h->len;
	wc.qp_num = qp->vqp.qp.qp_num;
	wc.src_qp = qp->attr.dest_qp_num;
	if (h->opcode == RTCP_OP_SEND_IMM || h->opcode == RTCP_OP_WRITE_IMM) {
		wc.wc_flags = IBV_WC_WITH_IMM;
		wc.imm_data = h->imm;
	}
	qp->rx_has_rwqe = false;
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
	const struct rtcp_hdr *h = &qp->rx_hdr;

	if (qp->type == IBV_QPT_UC) {
		qp->rx_discard = true;
		return;
	}
	if (h->opcode == RTCP_OP_WRITE_IMM &&
	    (qp->rx_has_rwqe || take_rwqe(qp)))
		complete_recv(qp, IBV_WC_REM_ACCESS_ERR);
	terminate(qp, h->msn, RTCP_SYN_REM_ACCESS, IBV_EVENT_QP_ACCESS_ERR);
}

/* Sets up placement for the frame whose header was just read. */
static void rx_dispatch(struct tcp_qp *qp)
{
	struct rtcp_hdr *h = &qp->rx_hdr;
	enum ibv_wc_status st;
	struct tcp_send_wqe *w;
	struct tcp_resp *r;
	char *where;
	uint32_t total;

	qp->rx_left = h->len;
	qp->rx_total = h->len;
	qp->rx_iov_n = qp->rx_iov_i = 0;
	qp->rx_mr = NULL;
	qp->rx_wqe = NULL;
	qp->rx_discard = false;
	qp->rx_phase = RX_PAYLOAD;

	switch (h->opcode) {
	case RTCP_OP_SEND:
	case RTCP_OP_SEND_IMM:
	case RTCP_OP_WRITE_IMM:
	case RTCP_OP_WRITE:
	case RTCP_OP_READ_REQ:
	case RTCP_OP_ATOMIC_CMP_SWP:
	case RTCP_OP_ATOMIC_FADD:
		if (h->msn != qp->expect_msn) {
			terminate(qp, h->msn, RTCP_SYN_REM_INV_REQ,
				  IBV_EVENT_QP_FATAL);
			return;
		}
		if (qp->type == IBV_QPT_UC && h->opcode >= RTCP_OP_READ_REQ) {
			terminate(qp, h->msn, RTCP_SYN_REM_INV_REQ,
				  IBV_EVENT_QP_REQ_ERR);
			return;
		}
		/*
		 * More READs and atomics in flight than this responder
		 * accepts (max_dest_rd_atomic): the requester broke the
		 * limit it was given, and its responses would grow here
		 * without bound.
		 */
		if (h->opcode >= RTCP_OP_READ_REQ &&
		    qp->rd_resp_queued >= qp->attr.max_dest_rd_atomic) {
			terminate(qp, h->msn, RTCP_SYN_REM_INV_REQ,
				  IBV_EVENT_QP_REQ_ERR);
			return;
		}
		break;
	default:
		break;
	}

	switch (h->opcode) {
	case RTCP_OP_WRITE:
	case RTCP_OP_WRITE_IMM:
		if (h->len) {
			st = tcp_place_check(qp, h->rkey, h->raddr, h->len,
					     IBV_ACCESS_REMOTE_WRITE,
					     &qp->rx_mr, &where);
			if (st != IBV_WC_SUCCESS) {
				write_refused(qp);
				return;
			}
			/* from now on pinned per chunk (rx_payload) */
			qp->rx_key = h->rkey;
			qp->rx_serial = qp->rx_mr->serial;
			tcp_mr_unpin(qp->rx_mr);
			qp->rx_iov[0].iov_base = where;
			qp->rx_iov[0].iov_len = h->len;
			qp->rx_iov_n = 1;
		}
		if (h->opcode == RTCP_OP_WRITE)
			return;
		/* WRITE_IMM also consumes a receive */
		__attribute__((fallthrough));
	case RTCP_OP_SEND:
	case RTCP_OP_SEND_IMM:
		if (!qp->rx_has_rwqe && !take_rwqe(qp)) {
			if (qp->type == IBV_QPT_UC) {
				/*
				 * UC has no RNR: a NIC drops a message that
				 * finds no receive, and its sender has
				 * completed already. Nothing of it lands,
				 * not even a WRITE_IMM's data.
				 */
				qp->rx_mr = NULL;
				qp->rx_iov_n = 0;
				qp->rx_discard = true;
				return;
			}
			if (qp->srq) {
				qp->rx_phase = RX_STALL;
				tcp_engine_timer_get(qp->ctx);
				rnr_nak(qp, h->msn);
				return;
			}
			/* the requester ignored our credits */
			terminate(qp, h->msn, RTCP_SYN_RNR, IBV_EVENT_QP_FATAL);
			return;
		}
		if (h->opcode == RTCP_OP_WRITE_IMM)
			return;
		{
			struct ibv_sge sg[TCP_MAX_SGE];
			uint32_t i;

			for (i = 0; i < qp->rx_rwqe.nseg; i++) {
				sg[i].addr = (uintptr_t)qp->rx_rwqe.seg[i].addr;
				sg[i].length = qp->rx_rwqe.seg[i].len;
				sg[i].lkey = qp->rx_rwqe.seg[i].lkey;
			}
			/* an SRQ's receives belong to the SRQ's PD */
			st = tcp_resolve_sges(qp->ctx,
					      qp->srq ? qp->srq->pd : qp->pd,
					      sg, qp->rx_rwqe.nseg, true,
					      qp->rx_rwqe.seg, &total);
		}
		if (st == IBV_WC_SUCCESS && total < h->len)
			st = IBV_WC_LOC_LEN_ERR;
		if (st != IBV_WC_SUCCESS) {
			complete_recv(qp, st);
			terminate(qp, h->msn,
				  st == IBV_WC_LOC_LEN_ERR
					  ? RTCP_SYN_REM_INV_REQ
					  : RTCP_SYN_REM_OP,
				  IBV_EVENT_QP_FATAL);
			return;
		}
		segs_to_iov(qp, qp->rx_rwqe.seg, qp->rx_rwqe.nseg);
		return;
	case RTCP_OP_READ_REQ:
		r = calloc(1, sizeof(*r));
		if (!r) {
			terminate(qp, h->msn, RTCP_SYN_REM_OP,
				  IBV_EVENT_QP_FATAL);
			return;
		}
		if (h->aux0) {
			st = tcp_place_check(qp, h->rkey, h->raddr, h->aux0,
					     IBV_ACCESS_REMOTE_READ, &r->mr,
					     &r->payload);
			if (st != IBV_WC_SUCCESS) {
				free(r);
				terminate(qp, h->msn, RTCP_SYN_REM_ACCESS,
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
		queue_resp(qp, r);
		return;
	case RTCP_OP_ATOMIC_CMP_SWP:
	case RTCP_OP_ATOMIC_FADD: {
		struct tcp_mr *mr;
		uint64_t *p, old;

		if (h->raddr & 7) {
			terminate(qp, h->msn, RTCP_SYN_REM_INV_REQ,
				  IBV_EVENT_QP_REQ_ERR);
			return;
		}
		st = tcp_place_check(qp, h->rkey, h->raddr, 8,
				     IBV_ACCESS_REMOTE_ATOMIC, &mr, &where);
		if (st != IBV_WC_SUCCESS) {
			terminate(qp, h->msn, RTCP_SYN_REM_ACCESS,
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
						    __ATOMIC_SEQ_CST,
						    __ATOMIC_SEQ_CST);
		}
		tcp_mr_unpin(mr);
		if (!r) {
			terminate(qp, h->msn, RTCP_SYN_REM_OP,
				  IBV_EVENT_QP_FATAL);
			return;
		}
		r->hdr.opcode = RTCP_OP_ATOMIC_RESP;
		r->hdr.msn = h->msn;
		r->hdr.aux0 = old;
		queue_resp(qp, r);
		return;
	}
	case RTCP_OP_READ_RESP:
		w = find_wqe(qp, h->msn);
		if (!w || w->opcode != IBV_WR_RDMA_READ ||
		    w->length != h->len) {
			bad_response(qp);
			return;
		}
		qp->rx_wqe = w;
		segs_to_iov(qp, w->seg, w->nseg);
		return;
	case RTCP_OP_ATOMIC_RESP:
		w = find_wqe(qp, h->msn);
		if (!w || (w->opcode != IBV_WR_ATOMIC_CMP_AND_SWP &&
			   w->opcode != IBV_WR_ATOMIC_FETCH_AND_ADD)) {
			bad_response(qp);
			return;
		}
		if (w->nseg && w->seg[0].len >= 8)
			memcpy(w->seg[0].addr, &h->aux0, 8);
		w->state = WQE_DONE;
		qp->rd_out--;
		return;
	case RTCP_OP_TERMINATE:
		w = find_wqe(qp, h->msn);
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
		return;
	default: /* ACK */
		if (h->flags & RTCP_F_RNR)
			rnr_nak_heard(qp, h);
		return;
	}
}

/* The frame's payload is all placed: complete what it completes. */
static void rx_finish(struct tcp_qp *qp)
{
	struct rtcp_hdr *h = &qp->rx_hdr;

	if (h->flags & RTCP_F_ACK_REQ)
		qp->want_ack = true;

	qp->rx_seq += qp->rx_total;
	qp->rx_phase = RX_HDR;
	switch (h->opcode) {
	case RTCP_OP_SEND:
	case RTCP_OP_SEND_IMM:
	case RTCP_OP_WRITE_IMM:
		qp->rx_mr = NULL;
		qp->expect_msn++;
		if (qp->rx_discard)
			break; /* dropped: no receive, no completion */
		/*
		 * A NIC acks before the receiver can see the completion: an
		 * application that exits on its last completion must not
		 * leave the requester without the ack it waits for. When the
		 * application's own poll_cq reads the socket, the ack goes at
		 * the end of the pass, before poll_cq returns (one ack for
		 * all the pass completed); the engine thread acks first.
		 */
		if (qp->want_ack && !qp->rx_by_app) {
			tcp_qp_tx(qp);
			if (!qp->rx_has_rwqe)
				break; /* the connection failed: flushed */
		}
		complete_recv(qp, IBV_WC_SUCCESS);
		break;
	case RTCP_OP_WRITE:
		qp->rx_mr = NULL;
		qp->expect_msn++;
		break;
	case RTCP_OP_READ_REQ:
	case RTCP_OP_ATOMIC_CMP_SWP:
	case RTCP_OP_ATOMIC_FADD:
		qp->expect_msn++;
		break;
	case RTCP_OP_READ_RESP:
		qp->rx_wqe->state = WQE_DONE;
		qp->rd_out--;
		tcp_sq_reap(qp);
		break;
	default:
		break;
	}
}

/*
 * Copies staged bytes, then reads the rest of the payload in place.
 * Returns 0 when done, 1 to wait for more bytes, -1 on a broken stream,
 * -2 when the WRITE's target region was deregistered meanwhile.
 */
/*
 * Drops the rest of the payload: the staged bytes, then the socket's
 * (MSG_TRUNC discards TCP data without copying it). Returns as
 * rx_payload.
 */
static int rx_drop_payload(struct tcp_qp *qp)
{
	while (qp->rx_left) {
		uint32_t avail = qp->rx_end - qp->rx_start;
		ssize_t n;

		if (avail) {
			n = avail < qp->rx_left ? avail : qp->rx_left;
			qp->rx_start += n;
		} else {
			n = recv(qp->fd, NULL, qp->rx_left,
				 MSG_TRUNC | MSG_DONTWAIT);
			if (n <= 0)
				return n < 0 && (errno == EAGAIN ||
						 errno == EINTR)
					       ? 1
					       : -1;
			qp->io_rx += n;
		}
		qp->rx_left -= n;
	}
	return 0;
}

static int rx_payload(struct tcp_qp *qp)
{
	if (qp->rx_discard)
		return rx_drop_payload(qp);
	while (qp->rx_left) {
		uint32_t avail = qp->rx_end - qp->rx_start;
		struct tcp_mr *pin = NULL;
		struct iovec *v;
		ssize_t n;

		if (qp->rx_iov_i >= qp->rx_iov_n)
			return -1; /* destination smaller than payload */
		if (qp->rx_mr) {
			if (!tcp_mr_repin(qp->ctx, qp->rx_key, qp->rx_mr,
					  qp->rx_serial))
				return -2;
			pin = qp->rx_mr;
		}
		v = &qp->rx_iov[qp->rx_iov_i];
		if (avail) {
			n = avail < v->iov_len ? avail : v->iov_len;
			if ((uint32_t)n > qp->rx_left)
				n = qp->rx_left;
			memcpy(v->iov_base, qp->rxbuf + qp->rx_start, n);
			qp->rx_start += n;
		} else {
			int cnt = qp->rx_iov_n - qp->rx_iov_i;

			n = readv(qp->fd, v, cnt > IOV_MAX ? IOV_MAX : cnt);
			if (n > 0) {
				qp->io_rx += n;
				qp->io_large += qp->rx_total > TCP_SPIN_BYTES;
			}
			if (n <= 0) {
				int again = n < 0 &&
					    (errno == EAGAIN || errno == EINTR);

				tcp_mr_unpin(pin);
				return again ? 1 : -1;
			}
		}
		tcp_mr_unpin(pin);
		qp->rx_left -= n;
		while (n > 0) {
			v = &qp->rx_iov[qp->rx_iov_i];
			if ((size_t)n >= v->iov_len) {
				n -= v->iov_len;
				qp->rx_iov_i++;
			} else {
				v->iov_base = (char *)v->iov_base + n;
				v->iov_len -= n;
				n = 0;
			}
		}
	}
	return 0;
}

/*
 * Sets the socket's receive low mark for the frame being placed (see
 * TCP_RX_LOWAT_MIN). The mark must never exceed what the frame still
 * owes: bytes of a next frame may never come, and the engine would wait
 * for them with the payload's tail unread. So it drops back to 1 as soon
 * as a frame ends, and the application's passes (which read without
 * waiting for the mark) lower it when they leave less owed than it. A
 * lingering socket keeps it: its drain runs on every engine tick anyway.
 */
static void rx_lowat(struct tcp_qp *qp)
{
	uint32_t want = 0;
	int v;

	if (qp->rx_phase != RX_PAYLOAD)
		want = 0;
	else if (qp->rx_by_app)
		want = qp->rx_lowat <= qp->rx_left ? qp->rx_lowat : 0;
	else if (qp->rx_left >= TCP_RX_LOWAT_MIN)
		want = qp->rx_left < TCP_RX_LOWAT_MAX ? qp->rx_left
						      : TCP_RX_LOWAT_MAX;
	if (want == qp->rx_lowat)
		return;
	v = want ? (int)want : 1;
	if (!setsockopt(qp->fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)))
		qp->rx_lowat = want;
}

void tcp_qp_rx(struct tcp_qp *qp)
{
	bool progress = false;
	unsigned int frames = 0; /* placed by this pass */
	bool drained = false; /* a read came back short: the socket is empty */
	bool ack_pending = qp->want_ack; /* held back by an earlier pass */

	tcp_assert_held(&qp->lock);
	while (qp->connected) {
		if (qp->rx_phase == RX_STALL) {
			if (!take_rwqe(qp))
				break;
			tcp_engine_timer_put(qp->ctx);
			qp->rx_phase = RX_HDR;
			rx_dispatch(qp);
			continue;
		}
		if (qp->rx_phase == RX_HDR) {
			uint32_t avail = qp->rx_end - qp->rx_start;
			struct rtcp_hdr *h = &qp->rx_hdr;
			int bad;

			if (avail < RTCP_HDR_LEN) {
				size_t want;
				ssize_t n;

				/*
				 * Not another read to hear EAGAIN: the engine's
				 * epoll is level-triggered, and an application
				 * that reads its socket itself polls again.
				 */
				if (drained)
					break;
				memmove(qp->rxbuf, qp->rxbuf + qp->rx_start,
					avail);
				qp->rx_start = 0;
				qp->rx_end = avail;
				/*
				 * After a large payload, the next is likely
				 * large too: read just its header, so the
				 * payload goes straight into place instead of
				 * through the staging buffer (one copy, not
				 * two). Small frames are read in bulk.
				 */
				want = (qp->rx_total >= TCP_RX_DIRECT
						? RTCP_HDR_LEN
						: TCP_RXBUF) -
				       avail;
				n = recv(qp->fd, qp->rxbuf + avail, want,
					 MSG_DONTWAIT);
				if (n > 0) {
					drained = (size_t)n < want;
					qp->rx_end += n;
					qp->io_rx += n;
					continue;
				}
				if (n < 0 &&
				    (errno == EAGAIN || errno == EINTR))
					break;
				tcp_qp_fail_conn(qp);
				return;
			}
			rtcp_hdr_decode(qp->rxbuf + qp->rx_start, h);
			bad = rtcp_hdr_validate(h, qp->rx_seq + RTCP_HDR_LEN,
						TCP_MAX_MSG_SZ);
			if (bad) {
				/* the stream cannot be trusted any more */
				tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
				return;
			}
			qp->rx_start += RTCP_HDR_LEN;
			qp->rx_seq += RTCP_HDR_LEN;
			qp->io_large += h->len > TCP_SPIN_BYTES;
			progress = true;
			if (msn_before(qp->peer_acked, h->ack_msn))
				qp->peer_acked = h->ack_msn;
			qp->peer_credits = h->credits;
			qp->peer_heard = true;
			qp->peer_no_credit = h->flags & RTCP_F_NO_CREDIT;
			rx_dispatch(qp);
			if (!qp->connected || qp->rx_phase == RX_STALL)
				continue;
		}
		{
			int r = rx_payload(qp);

			if (r > 0) {
				rx_lowat(qp); /* the payload ran dry */
				break;
			}
			if (r == -2) {
				/* as a NIC refuses the packets that follow */
				qp->rx_mr = NULL;
				terminate(qp, qp->rx_hdr.msn,
					  RTCP_SYN_REM_ACCESS,
					  IBV_EVENT_QP_ACCESS_ERR);
				return;
			}
			if (r < 0) {
				tcp_qp_fail_conn(qp);
				return;
			}
			rx_finish(qp);
			if (qp->rx_lowat && qp->connected)
				rx_lowat(qp);
			progress = true;
			frames++;
		}
	}
	/* Acknowledge what this pass completed (also frames whose header
	 * arrived in an earlier pass), and send responses it queued. */
	if (!qp->connected)
		return;
	if (qp->expect_msn - qp->ack_sent >= TCP_ACK_EVERY)
		qp->want_ack = true;
	/*
	 * An ack that is all there is to send waits for the application's
	 * next frame to ride on (a ping-pong then costs one frame a message,
	 * not two) when that frame is likely to come soon:
	 * - this pass runs in the poll of an application that reads its
	 *   socket itself (rx_app_driven): it most likely posts its reply
	 *   next;
	 * - the engine placed a request for a QP whose application is a
	 *   one-sided requester in a latency loop (it polled its send CQ
	 *   moments ago, tcp_qp_app_rx): it most likely answers with a WRITE
	 *   of its own, and the peer then gets both in one frame -- and reads
	 *   it itself, with no wake-up on either side.
	 * Otherwise the next poll_cq, req_notify_cq, post or destroy sends
	 * it, or the engine's next tick (tcp_qp_timers, within 1 ms): a
	 * peer's completion waits that long only after such a QP falls
	 * silent, and the QP leaves the mode a tick later. A pass that
	 * placed a stream of frames acks at once (TCP_ACK_STREAM_FRAMES).
	 */
	if (qp->want_ack && !qp->resp_head && qp->sq_tx == qp->sq_head &&
	    qp->tx_iov_i == qp->tx_iov_n && frames < TCP_ACK_STREAM_FRAMES &&
	    (qp->rx_by_app ? qp->rx_app_driven
			   : qp->rx_tick && qp->rx_app_oneway)) {
		qp->tx_deferred = true;
		/*
		 * One more poll of grace (see tcp_progress_cq), once: an ack
		 * already held back by an earlier pass goes at the next poll
		 * even if this pass read more. Otherwise a receiver fed a
		 * steady stream (every pass reads something) held its acks
		 * and credits until a pass found nothing: with several SEND
		 * QPs the requesters stalled on credit every ~10 messages.
		 */
		if (qp->rx_by_app && progress && !ack_pending)
			qp->ack_grace = true;
		tcp_sq_reap(qp); /* what the peer acked completes now */
		return;
	}
	if (progress || qp->want_ack || qp->resp_head)
		tcp_qp_tx(qp);
}

/* The socket is connected (active side) or accepted (passive side). */
void tcp_qp_conn_ready(struct tcp_qp *qp)
{
	int err = 0;
	socklen_t sl = sizeof(err);

	if (qp->active) {
		ssize_t n;

		if (getsockopt(qp->fd, SOL_SOCKET, SO_ERROR, &err, &sl) ||
		    err) {
			tcp_qp_fail_conn(qp);
			return;
		}
		n = send(qp->fd, qp->hello_out + qp->hello_sent,
			 RTCP_HELLO_LEN - qp->hello_sent,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN)
				tcp_qp_fail_conn(qp);
			return;
		}
		qp->hello_sent += n;
		if (qp->hello_sent < RTCP_HELLO_LEN)
			return;
		qp->epollout = true;
	} else {
		qp->epollout = false;
		if (tcp_engine_watch(qp->ctx, qp->fd, &qp->poll.p,
				     EPOLLIN | EPOLLRDHUP)) {
			tcp_qp_fail_conn(qp);
			return;
		}
	}
	qp->connecting = false;
	qp->connected = true;
	/* first frame tells the peer our credits (or that we use an SRQ) */
	qp->want_ack = true;
	tcp_qp_live_connected(qp); /* dead-peer detection: qp_liveness.c */
	set_epollout(qp, false);
	tcp_qp_tx(qp);
	tcp_qp_rx(qp);
}

/* The peer is gone (qp_liveness.c): the oldest request fails. */
void tcp_qp_fail_retry(struct tcp_qp *qp)
{
	if (qp->state != IBV_QPS_ERR)
		fail_oldest(qp, IBV_WC_RETRY_EXC_ERR);
}

static uint64_t rnr_timer_ns(uint8_t t)
{
	/* IB spec encoding of the RNR NAK timer, in microseconds x 100 */
	static const uint32_t tab[32] = {
		65536, 1,    2,	   3,	  4,	 6,	8,     12,
		16,    24,   32,   48,	  64,	 96,	128,   192,
		256,   384,  512,  768,	  1024,	 1536,	2048,  3072,
		4096,  6144, 8192, 12288, 16384, 24576, 32768, 49152,
	};

	return (uint64_t)tab[t & 31] * 10000;
}

/*
 * A request the responder NAKed for want of a receive: done once acked
 * (a receive came), failed once the RNR budget ran out -- the QP then
 * goes to error, as a NIC's requester does.
 */
static void rnr_nak_timer(struct tcp_qp *qp, uint64_t now)
{
	struct tcp_send_wqe *w = find_wqe(qp, qp->rnr_nak_msn);

	if (w && !msn_before(qp->rnr_nak_msn, qp->peer_acked) &&
	    now < qp->rnr_nak_at_ns)
		return;
	qp->rnr_nak_at_ns = 0;
	tcp_engine_timer_put(qp->ctx);
	if (w && !msn_before(qp->rnr_nak_msn, qp->peer_acked) &&
	    qp->state != IBV_QPS_ERR)
		fail_oldest(qp, IBV_WC_RNR_RETRY_EXC_ERR);
}

void tcp_qp_timers(struct tcp_qp *qp, uint64_t now)
{
	if (qp->fail_at_ns && now >= qp->fail_at_ns) {
		tcp_qp_dead_peer_expired(qp);
		return;
	}
	if (qp->ctx->engine->tick)
		tcp_qp_flush(qp); /* a held-back ack or burst (tcp_qp_rx) */
	if (qp->rx_tick && qp->ctx->engine->tick) {
		unsigned int polls = qp_cq_polls(qp) - qp->rx_app_mark;
		unsigned int posts = qp->app_posts - qp->rx_posts_mark;

		/*
		 * Too few polls and posts in a tick (an application that
		 * sleeps between polls, or stopped), or no poll at all: the
		 * engine takes the socket back, and keeps it until the calls
		 * come fast again (rx_app_lazy); a tick without any poll ends
		 * the QP's ticking.
		 */
		qp->rx_app_mark += polls;
		qp->rx_posts_mark += posts;
		if (!polls || polls + posts < TCP_APP_RX_BUSY_POLLS) {
			tcp_qp_engine_rx(qp);
			qp->rx_app_lazy = true;
		}
		if (!polls)
			tcp_qp_rx_mode_end(qp);
	}
	if (qp->rx_phase == RX_STALL)
		tcp_qp_rx(qp);
	if (qp->rnr_nak_at_ns)
		rnr_nak_timer(qp, now);
	if (qp->unheard_fail_ns)
		tcp_qp_unheard_timer(qp, now);
	if (qp->rnr_since_ns && qp->attr.rnr_retry != 7 &&
	    qp->state == IBV_QPS_RTS) {
		uint64_t budget = (qp->attr.rnr_retry + 1) *
				  rnr_timer_ns(qp->attr.min_rnr_timer);

		if (now - qp->rnr_since_ns > budget) {
			struct tcp_send_wqe *w =
				&qp->sq[qp->sq_tx & (qp->sq_size - 1)];

			qp->rnr_since_ns = 0;
			tcp_engine_timer_put(qp->ctx);
			w->state = WQE_DONE;
			w->status = IBV_WC_RNR_RETRY_EXC_ERR;
			qp->sq_tx++;
			tcp_sq_reap(qp);
		}
	} else if (qp->rnr_since_ns) {
		tcp_qp_tx(qp);
	}
}
