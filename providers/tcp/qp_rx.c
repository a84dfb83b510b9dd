// SPDX-License-Identifier: MIT
/*
 * Receive: the loop that reads a QP's TCP stream, frame by frame. Caller
 * holds qp->lock.
 *
 * Headers are read through a small staging buffer, payload with readv()
 * straight into the target memory; only bytes that arrived together with
 * a header are copied. What a frame means is its opcode's handler's
 * business (rx_ops.c). A secured connection's frames are read through
 * the staging buffer whole and verified chunk by chunk before anything of
 * them is used or placed (qp_open.c); the frames of a group (psp.h) are
 * taken from the staging buffer once the whole group has verified.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "debug.h"
#include "transport.h"

/* What one step of the receive loop leaves it to do. */
enum rx_step {
	RX_MORE,   /* go on */
	RX_WAIT,   /* the socket has no more for now */
	RX_FAILED, /* the connection or the QP failed: the pass ends */
};

/*
 * The payload's destination: the segments' memory from byte @off (where a
 * message's later frame goes, seg.c), cut at the frame's length
 * (rx.left). A receive buffer is usually larger than the message, and
 * readv() fills every iovec it is given: left uncut, it would read the
 * frames behind this one into the application's buffer.
 */
void tcp_rx_segs_to_iov(struct tcp_qp *qp, const struct tcp_seg *s, uint32_t n,
			uint32_t off)
{
	uint32_t i, left = qp->rx.left;

	qp->rx.iov_n = qp->rx.iov_i = 0;
	for (i = 0; i < n && left; i++) {
		uint32_t len;

		if (off >= s[i].len) {
			off -= s[i].len;
			continue;
		}
		len = s[i].len - off < left ? s[i].len - off : left;
		qp->rx.iov[qp->rx.iov_n].iov_base = s[i].addr + off;
		qp->rx.iov[qp->rx.iov_n++].iov_len = len;
		left -= len;
		off = 0;
	}
}

/*
 * Drops the rest of the payload: the staged bytes, then the socket's
 * (MSG_TRUNC discards TCP data without copying it). Returns as
 * rx_payload.
 */
static int rx_drop_payload(struct tcp_qp *qp)
{
	while (qp->rx.left) {
		uint32_t avail = qp->rx.end - qp->rx.start;
		ssize_t n;

		if (avail) {
			n = avail < qp->rx.left ? avail : qp->rx.left;
			qp->rx.start += n;
		} else {
			n = recv(qp->conn.fd, NULL, qp->rx.left,
				 MSG_TRUNC | MSG_DONTWAIT);
			if (n <= 0)
				return n < 0 && (errno == EAGAIN ||
						 errno == EINTR)
					       ? 1
					       : -1;
			qp->prog.io_rx += n;
		}
		qp->rx.left -= n;
	}
	return 0;
}

/*
 * Copies staged bytes, then reads the rest of the payload in place.
 * Returns 0 when done, 1 to wait for more bytes, -1 on a broken stream,
 * -2 when the WRITE's target region was deregistered meanwhile.
 */
static int rx_payload(struct tcp_qp *qp)
{
	if (qp->rx.discard)
		return rx_drop_payload(qp);
	while (qp->rx.left) {
		uint32_t avail = qp->rx.end - qp->rx.start;
		struct tcp_mr *pin = NULL;
		struct iovec *v;
		ssize_t n;

		if (qp->rx.iov_i >= qp->rx.iov_n)
			return -1; /* destination smaller than payload */
		if (qp->rx.mr) {
			if (!tcp_mr_repin(qp->ctx, qp->rx.key, qp->rx.mr,
					  qp->rx.serial))
				return -2;
			pin = qp->rx.mr;
		}
		v = &qp->rx.iov[qp->rx.iov_i];
		if (avail) {
			n = avail < v->iov_len ? avail : v->iov_len;
			if ((uint32_t)n > qp->rx.left)
				n = qp->rx.left;
			memcpy(v->iov_base, qp->rx.buf + qp->rx.start, n);
			qp->rx.start += n;
		} else {
			int cnt = qp->rx.iov_n - qp->rx.iov_i;

			n = readv(qp->conn.fd, v,
				  cnt > IOV_MAX ? IOV_MAX : cnt);
			if (n > 0) {
				qp->prog.io_rx += n;
				qp->prog.io_large +=
					qp->rx.total > TCP_SPIN_BYTES;
			}
			if (n <= 0) {
				int again = n < 0 &&
					    (errno == EAGAIN || errno == EINTR);

				tcp_mr_unpin(pin);
				return again ? 1 : -1;
			}
		}
		tcp_mr_unpin(pin);
		qp->rx.left -= n;
		while (n > 0) {
			v = &qp->rx.iov[qp->rx.iov_i];
			if ((size_t)n >= v->iov_len) {
				n -= v->iov_len;
				qp->rx.iov_i++;
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
	/* a secured frame owes its tags too, less what is staged */
	uint64_t owed =
		qp->sec.mode != TCP_PSP_OFF ? tcp_rx_sec_owed(qp) : qp->rx.left;
	uint32_t want = 0;
	int v;

	if (qp->rx.phase != RX_PAYLOAD)
		want = 0;
	else if (qp->rx.by_app)
		want = qp->rx.lowat <= owed ? qp->rx.lowat : 0;
	else if (owed >= TCP_RX_LOWAT_MIN)
		want = owed < TCP_RX_LOWAT_MAX ? (uint32_t)owed
					       : TCP_RX_LOWAT_MAX;
	if (want == qp->rx.lowat)
		return;
	v = want ? (int)want : 1;
	if (!setsockopt(qp->conn.fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)))
		qp->rx.lowat = want;
}

/* The frame's payload is all placed: complete what it completes. */
static void rx_finish(struct tcp_qp *qp)
{
	struct rtcp_hdr *h = &qp->rx.hdr;

	if (h->flags & RTCP_F_ACK_REQ)
		qp->resp.want_ack = true;

	qp->rx.seq += qp->rx.total;
	if (qp->sec.in_grp) {
		/* a grouped frame has no tag: the group's follows its last */
		qp->sec.grp_left -= qp->rx.total;
		if (!qp->sec.grp_left) {
			qp->sec.in_grp = false;
			qp->rx.start += TCP_PSP_TAG_LEN;
			qp->rx.seq += TCP_PSP_TAG_LEN;
		}
	} else if (qp->sec.mode != TCP_PSP_OFF) {
		qp->rx.seq += (uint64_t)tcp_psp_nchunks(qp->rx.total) *
			      TCP_PSP_TAG_LEN;
	}
	qp->rx.phase = RX_HDR;
	tcp_rx_op_done(qp);
}

/*
 * Reads more of the stream into the staging buffer, for the next header.
 * *drained: a read came back short, the socket is empty.
 */
static enum rx_step rx_fill(struct tcp_qp *qp, bool *drained)
{
	uint32_t avail = qp->rx.end - qp->rx.start;
	size_t want;
	ssize_t n;

	/*
	 * Not another read to hear EAGAIN between frames: the engine's
	 * epoll is level-triggered, and an application that reads its
	 * socket itself polls again. A header begun is read on, as a
	 * payload is: its rest is usually arriving (see stage() in
	 * qp_open.c).
	 */
	if (*drained && !avail)
		return RX_WAIT;
	memmove(qp->rx.buf, qp->rx.buf + qp->rx.start, avail);
	qp->rx.start = 0;
	qp->rx.end = avail;
	/*
	 * After a large payload, the next is likely large too: read just
	 * its header, so the payload goes straight into place instead of
	 * through the staging buffer (one copy, not two). Small frames are
	 * read in bulk.
	 */
	if (qp->sec.mode != TCP_PSP_OFF)
		want = tcp_rx_cap(qp) - avail; /* nothing is read in place */
	else
		want = (qp->rx.total >= TCP_RX_DIRECT ? RTCP_HDR_LEN
						      : TCP_RXBUF) -
		       avail;
	n = recv(qp->conn.fd, qp->rx.buf + avail, want, MSG_DONTWAIT);
	if (n > 0) {
		*drained = (size_t)n < want;
		qp->rx.end += n;
		qp->prog.io_rx += n;
		return RX_MORE;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return RX_WAIT;
	tcp_qp_fail_conn(qp);
	return RX_FAILED;
}

/*
 * Takes the header at the front of the staging buffer: what it tells of
 * the peer (ack, credits), then its frame's handler (rx_ops.c).
 */
static enum rx_step rx_header(struct tcp_qp *qp, bool *drained)
{
	struct rtcp_hdr *h = &qp->rx.hdr;
	/* a frame of a verified group was verified with it */
	bool sec = qp->sec.mode != TCP_PSP_OFF && !qp->sec.in_grp;

	if (sec) {
		/* not a byte of it is looked at before its tag checks */
		int r = tcp_rx_sec_header(qp, drained);

		if (r == 1)
			return RX_WAIT;
		if (r == -1)
			tcp_qp_fail_conn(qp);
		if (r)
			return RX_FAILED;
	}
	rtcp_hdr_decode(qp->rx.buf + qp->rx.start, h);
	if (sec && h->opcode == RTCP_OP_GROUP)
		return tcp_rx_sec_group(qp) ? RX_FAILED : RX_MORE;
	if (rtcp_hdr_validate(h, qp->rx.seq + RTCP_HDR_LEN, TCP_MAX_MSG_SZ)) {
		/* the stream cannot be trusted any more */
		TCP_DBG_QP(RTCP_DBG_FRAME, qp,
			   "bad frame header (opcode %u, len %u): rejected",
			   h->opcode, h->len);
		tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
		return RX_FAILED;
	}
	qp->rx.start += RTCP_HDR_LEN;
	qp->rx.seq += RTCP_HDR_LEN;
	if (sec && !h->len)
		qp->rx.start += TCP_PSP_TAG_LEN; /* tag_0 covered the header */
	if (qp->sec.in_grp)
		qp->sec.grp_left -= RTCP_HDR_LEN;
	qp->prog.io_large += h->len > TCP_SPIN_BYTES;
	if (msn_before(qp->sq.peer_acked, h->ack_msn))
		qp->sq.peer_acked = h->ack_msn;
	qp->sq.peer_credits = h->credits;
	qp->sq.peer_heard = true;
	qp->sq.peer_no_credit = h->flags & RTCP_F_NO_CREDIT;
	tcp_rx_dispatch(qp);
	return RX_MORE;
}

/* Places the frame's payload; completes the frame once all is placed. */
static enum rx_step rx_place(struct tcp_qp *qp, bool *drained)
{
	/* (a grouped frame's payload is verified, staged: copied as is) */
	int r = qp->sec.mode != TCP_PSP_OFF && !qp->sec.in_grp
			? tcp_rx_sec_payload(qp, drained)
			: rx_payload(qp);

	if (r == -3)
		return RX_FAILED; /* verification failed: the QP is in error */
	if (r > 0) {
		rx_lowat(qp); /* the payload ran dry */
		return RX_WAIT;
	}
	if (r == -2) {
		/* as a NIC refuses the packets that follow */
		qp->rx.mr = NULL;
		tcp_qp_terminate(qp, qp->rx.hdr.msn, RTCP_SYN_REM_ACCESS,
				 IBV_EVENT_QP_ACCESS_ERR);
		return RX_FAILED;
	}
	if (r < 0) {
		tcp_qp_fail_conn(qp);
		return RX_FAILED;
	}
	rx_finish(qp);
	if (qp->rx.lowat && qp->conn.connected)
		rx_lowat(qp);
	return RX_MORE;
}

/*
 * A QP whose TERMINATE is on its way out (tcp_qp_terminate) reads no more
 * requests: what comes is discarded, so that the requester is not blocked
 * and the engine not woken again for the same bytes.
 */
static void rx_discard_stream(struct tcp_qp *qp)
{
	ssize_t n;

	do
		n = recv(qp->conn.fd, NULL, 1 << 20, MSG_DONTWAIT | MSG_TRUNC);
	while (n > 0);
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		tcp_qp_to_error(qp, qp->resp.term_ev);
}

/*
 * One receive pass: reads and places frames until the socket is empty,
 * then acknowledges (or holds the ack, tcp_qp_rx_pass_done).
 */
void tcp_qp_rx(struct tcp_qp *qp)
{
	bool progress = false;
	unsigned int frames = 0; /* placed by this pass */
	bool drained = false; /* a read came back short: the socket is empty */
	bool ack_pending = qp->resp.want_ack; /* held back by an earlier pass */
	enum rx_step step;

	tcp_assert_held(&qp->lock);
	if (qp->conn.connected && !qp->rx.buf && !tcp_qp_rx_buf(qp)) {
		tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
		return;
	}
	if (qp->resp.term_at_ns && qp->conn.connected) {
		rx_discard_stream(qp);
		return;
	}
	while (qp->conn.connected && !qp->resp.term_at_ns) {
		if (qp->rx.phase == RX_STALL) {
			if (!tcp_rx_take_rwqe(qp))
				break;
			tcp_qp_timer_put(qp);
			qp->rx.phase = RX_HDR;
			tcp_rx_dispatch(qp);
			continue;
		}
		if (qp->rx.phase == RX_HDR &&
		    qp->rx.end - qp->rx.start < RTCP_HDR_LEN) {
			step = rx_fill(qp, &drained);
		} else if (qp->rx.phase == RX_HDR) {
			step = rx_header(qp, &drained);
			progress |= step != RX_WAIT;
		} else {
			step = rx_place(qp, &drained);
			if (step == RX_MORE) {
				progress = true;
				frames++;
			}
		}
		if (step == RX_WAIT)
			break;
		if (step == RX_FAILED)
			return;
	}
	tcp_qp_rx_pass_done(qp, progress, frames, ack_pending);
}

/*
 * The application moves the QP to ERR (rdma_disconnect does) or destroys
 * it: what already reached the socket is placed, completed and acked
 * first, as a NIC did on arrival -- the peer's last SEND completes there
 * instead of flushing, and acks that came in complete our WRs -- then
 * what is held back (an ack, a burst) goes before the close
 * (docs/design.md, "Ending a QP"). A move to ERR closes the connection,
 * so a QP already in ERR has none.
 */
void tcp_qp_settle(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	if (!qp->conn.connected)
		return; /* (UD never is: it has no connection) */
	tcp_qp_rx(qp);
	if (!qp->conn.connected)
		return; /* the pass met a broken connection or a bad frame */
	tcp_qp_tx_all(qp);
	tcp_sq_reap(qp);
}
