// SPDX-License-Identifier: MIT
/*
 * Messages cut into frames (wire.h, RTCP_F_MORE). Caller holds qp->lock.
 *
 * A SEND, WRITE or READ response longer than TCP_TX_SEG travels as frames
 * of at most that many bytes (requests TCP_TX_SEG_SHORT while the peer
 * waits for responses, qp_tx.c), each a frame of its own -- its own header,
 * and on a secured connection its own tags, so every frame is verified
 * before a byte of it is placed. Between a request's frames the sender
 * may put its responses and acks, between a response's frames its
 * requests: a READ response or an ack waits for one frame of a large
 * message, not for all of it. A WRITE frame carries its own raddr and is
 * placed like any WRITE; a SEND's or READ response's frames land at their
 * offset in the receive's or the READ's buffers. What the message
 * completes (the receive, a WRITE_IMM's immediate, the READ, the ack) it
 * completes at its last frame; a SEND takes its receive (and may meet
 * RNR) at its first.
 */
#include <string.h>

#include "transport.h"

/*
 * Cuts the payload (@*seg, @*nseg pieces, @total bytes in all) at @off
 * for a frame of at most @max bytes in *h: the header gets the frame's
 * length, offset and flags, *seg and *nseg the frame's pieces (written to
 * @slice). A message that fits in one frame is left alone; frames of one
 * message may differ in size (each says where it goes).
 */
void tcp_tx_seg_cut(struct rtcp_hdr *h, uint32_t off, uint32_t total,
		    uint32_t max, const struct tcp_seg **seg, uint32_t *nseg,
		    struct tcp_seg *slice)
{
	uint32_t c, i, n = 0, skip = off;

	if (!off && total <= max)
		return;
	c = total - off < max ? total - off : max;
	h->len = c;
	h->aux0 = off;
	h->aux1 = total;
	if (h->opcode == RTCP_OP_WRITE || h->opcode == RTCP_OP_WRITE_IMM)
		h->raddr += off;
	if (off + c < total) {
		/* the message completes (and asks for its ack) at the end */
		h->flags |= RTCP_F_MORE;
		h->flags &= ~RTCP_F_ACK_REQ;
	}
	for (i = 0; i < *nseg && c; i++) {
		const struct tcp_seg *s = &(*seg)[i];
		uint32_t k;

		if (skip >= s->len) {
			skip -= s->len;
			continue;
		}
		k = s->len - skip < c ? s->len - skip : c;
		slice[n].addr = s->addr + skip;
		slice[n].len = k;
		slice[n++].lkey = s->lkey;
		skip = 0;
		c -= k;
	}
	*seg = slice;
	*nseg = n;
}

/* The message a frame of this opcode belongs to, if it can be cut. */
static struct tcp_rx_msg *msg_of(struct tcp_qp *qp, uint8_t opcode)
{
	switch (opcode) {
	case RTCP_OP_SEND:
	case RTCP_OP_SEND_IMM:
	case RTCP_OP_SEND_INV:
	case RTCP_OP_WRITE:
	case RTCP_OP_WRITE_IMM:
		return &qp->rx.req_msg;
	case RTCP_OP_READ_RESP:
		return &qp->rx.resp_msg;
	default:
		return NULL;
	}
}

/*
 * Frames that break the rules of a cut message: a request is refused as
 * one out of order is, a response fails the READ it claims to answer,
 * and anything else as a bad header does.
 */
static int seg_bad(struct tcp_qp *qp, const struct rtcp_hdr *h, bool request)
{
	if (request)
		tcp_qp_terminate(qp, h->msn, RTCP_SYN_REM_INV_REQ,
				 IBV_EVENT_QP_FATAL);
	else if (h->opcode == RTCP_OP_READ_RESP)
		tcp_qp_fail_oldest(qp, IBV_WC_BAD_RESP_ERR);
	else
		tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
	return -1;
}

/* A frame after the first of message m: the next bytes of it, in order. */
static int seg_next(struct tcp_qp *qp, const struct rtcp_hdr *h,
		    const struct tcp_rx_msg *m, bool request)
{
	bool more = h->flags & RTCP_F_MORE;
	uint32_t rest = m->total - m->off;

	if (h->opcode != m->opcode || h->msn != m->msn || h->aux0 != m->off ||
	    h->aux1 != m->total || !h->len || h->len > rest ||
	    more == (h->len == rest))
		return seg_bad(qp, h, request);
	qp->rx.msg_len = m->total;
	qp->rx.msg_off = m->off;
	return TCP_SEG_NEXT;
}

int tcp_rx_seg_begin(struct tcp_qp *qp, const struct rtcp_hdr *h, bool request)
{
	struct tcp_rx_msg *m = msg_of(qp, h->opcode);
	bool more = h->flags & RTCP_F_MORE;

	qp->rx.msg_len = h->len;
	qp->rx.msg_off = 0;
	/* no other request comes between a request's frames */
	if (request && qp->rx.req_msg.active && m != &qp->rx.req_msg)
		return seg_bad(qp, h, request);
	if (!m)
		return more ? seg_bad(qp, h, request) : TCP_SEG_FIRST;
	if (m->active)
		return seg_next(qp, h, m, request);
	/* a later frame without its first */
	if (h->aux0)
		return seg_bad(qp, h, request);
	if (!more)
		return TCP_SEG_FIRST;
	if (!h->len || h->aux1 <= h->len || h->aux1 > TCP_MAX_MSG_SZ)
		return seg_bad(qp, h, request);
	qp->rx.msg_len = (uint32_t)h->aux1;
	return TCP_SEG_FIRST;
}

/*
 * Recorded here, once the frame is placed, not at its header: an SRQ's
 * SEND that waits for a receive runs its header's checks again.
 */
bool tcp_rx_seg_end(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	struct tcp_rx_msg *m = msg_of(qp, h->opcode);

	if (!m || (!m->active && !(h->flags & RTCP_F_MORE)))
		return true;
	if (!m->active) {
		m->active = true;
		m->opcode = h->opcode;
		m->msn = h->msn;
		m->total = (uint32_t)h->aux1;
		m->off = 0;
	}
	m->off += h->len;
	m->discard = qp->rx.discard;
	if (h->flags & RTCP_F_MORE)
		return false;
	m->active = false;
	return true;
}

void tcp_rx_seg_reset(struct tcp_qp *qp)
{
	memset(&qp->rx.req_msg, 0, sizeof(qp->rx.req_msg));
	memset(&qp->rx.resp_msg, 0, sizeof(qp->rx.resp_msg));
}
