/* SPDX-License-Identifier: MIT */
/*
 * The transport's inner interface: what its files call in each other.
 *
 *   qp_tx.c      frames the send queue and the responder's answers into
 *                sendmsg() batches
 *   qp_rx.c      the receive loop: headers through a staging buffer,
 *                payload read straight into place
 *   qp_seal.c    secured connections' transmit: frames cut into chunks,
 *                sealed once a batch is complete, spanning batches
 *   qp_open.c    secured connections' receive: each chunk verified in the
 *                staging buffer before a byte of it is placed
 *   rx_ops.c     one handler per received opcode
 *   qp_conn.c    the connection coming up and going away
 *   qp_timers.c  RNR waits, a peer that never answers, a dead peer
 *   qp_flush.c   send-queue completions, failing requests, the QP's move
 *                to error
 *   progress.c   who drives the socket (application or engine) and when
 *                an ack waits for a ride (policy constants: progress.h)
 *
 * Verbs files use qp.h only. Every function here runs with qp->lock held.
 */
#ifndef RDMA_TCP_TRANSPORT_H
#define RDMA_TCP_TRANSPORT_H

#include "qp.h"

/* Is message sequence number a before b (modulo 2^32)? */
static inline bool msn_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* READs and atomics: answered by a response, bounded by ORD and IRD */
static inline bool is_rd_atomic(enum ibv_wr_opcode op)
{
	return op == IBV_WR_RDMA_READ || op == IBV_WR_ATOMIC_CMP_AND_SWP ||
	       op == IBV_WR_ATOMIC_FETCH_AND_ADD;
}

/* qp_tx.c: frames out */
void tcp_qp_queue_resp(struct tcp_qp *qp, struct tcp_resp *r);
/* sec_rekey.c: a REKEY frame's verified payload (RTCP_REKEY_LEN bytes) */
void tcp_qp_rekey_rx(struct tcp_qp *qp, const uint8_t *payload);
/* Tells the requester its request failed; the QP then goes to error. */
/* the TERMINATE on its way out: the engine's tick, and its end */
void tcp_qp_term_timer(struct tcp_qp *qp, uint64_t now);
void tcp_qp_term_cancel(struct tcp_qp *qp);
void tcp_qp_terminate(struct tcp_qp *qp, uint32_t msn, uint32_t syn,
		      enum ibv_event_type ev);

/* qp_seal.c: secured frames out (see psp.h for the layout) */
/* The batch's buffers exist and are empty; false without memory. */
bool tcp_tx_sec_prepare(struct tcp_qp *qp);
/* What a frame's payload is, before its chunk 0 is tried. */
void tcp_tx_frame_init(const struct tcp_qp *qp, struct tcp_tx_frame *f,
		       const struct rtcp_hdr *h, const struct tcp_seg *seg,
		       uint32_t nseg, bool snapshot);
/* Is there room in the batch for f's next chunk (with a header)? */
bool tcp_tx_chunk_fits(const struct tcp_qp *qp, const struct tcp_tx_frame *f,
		       bool hdr);
/*
 * Adds tx.cur's chunks to the batch (the header @hb first, if not NULL)
 * while they fit; true when the frame is all in a batch.
 */
bool tcp_tx_sec_add(struct tcp_qp *qp, const uint8_t *hb);
/*
 * Called for a frame (tx_frame_init'ed, its room checked) before its
 * header is written: true when it joins the batch's last small frames
 * under one tag (psp.h, groups) -- the next tcp_tx_sec_add puts it there
 * -- false when it goes alone (a group before it is closed).
 */
bool tcp_tx_sec_join(struct tcp_qp *qp, const struct tcp_tx_frame *f);
/* The batch's last group is complete (its tag goes in); idempotent. */
void tcp_tx_sec_close(struct tcp_qp *qp);
/* Computes the batch's tags (and ciphertext); 0 or -1. */
int tcp_tx_sec_seal(struct tcp_qp *qp);
/* The connection is gone: the frame in progress and the buffers too. */
void tcp_tx_sec_reset(struct tcp_qp *qp);

/* qp_open.c: secured frames in */
/*
 * The header at rx.buf + rx.start, once its chunk 0 and tag_0 are staged
 * and verified; returns 0 (verified), 1 (wait for bytes), -1 (broken
 * stream) or -3 (rejected: the QP is in error).
 */
int tcp_rx_sec_header(struct tcp_qp *qp, bool *drained);
/* Verifies and places the payload chunk by chunk; returns as rx_payload,
 * or -3 (rejected: the QP is in error). */
int tcp_rx_sec_payload(struct tcp_qp *qp, bool *drained);
/*
 * The verified group whose header (decoded in rx.hdr) is at rx.start:
 * checks that its frames fill it exactly and are well formed, then steps
 * over its header so that they are taken one by one. 0, or -3 (rejected:
 * the QP is in error) with nothing of the group used.
 */
int tcp_rx_sec_group(struct tcp_qp *qp);
/* Bytes of the stream the frame being placed still owes the socket. */
uint64_t tcp_rx_sec_owed(const struct tcp_qp *qp);
/* The staging buffer's size. */
static inline uint32_t tcp_rx_cap(const struct tcp_qp *qp)
{
	return qp->sec.rx_cap ? qp->sec.rx_cap : TCP_RXBUF;
}

/* qp_rx.c: frames in */
/* The frame's destination: @s's memory from byte @off of it, rx.left long. */
void tcp_rx_segs_to_iov(struct tcp_qp *qp, const struct tcp_seg *s, uint32_t n,
			uint32_t off);

/* seg.c: messages cut into frames */
/* Cuts a frame of at most @max bytes at @off out of the payload. */
void tcp_tx_seg_cut(struct rtcp_hdr *h, uint32_t off, uint32_t total,
		    uint32_t max, const struct tcp_seg **seg, uint32_t *nseg,
		    struct tcp_seg *slice);
enum { TCP_SEG_FIRST = 0, TCP_SEG_NEXT = 1 };
/*
 * Checks a frame against the message it continues and sets rx.msg_len and
 * rx.msg_off: TCP_SEG_FIRST (a message's first or only frame),
 * TCP_SEG_NEXT, or -1 when it breaks the rules (the QP fails).
 */
int tcp_rx_seg_begin(struct tcp_qp *qp, const struct rtcp_hdr *h, bool request);
/* The frame is placed: true when it was its message's last. */
bool tcp_rx_seg_end(struct tcp_qp *qp, const struct rtcp_hdr *h);
/* The connection is gone: no message is half received. */
void tcp_rx_seg_reset(struct tcp_qp *qp);

/* rx_ops.c: per opcode */
/* Sets up placement for the frame whose header was just read. */
void tcp_rx_dispatch(struct tcp_qp *qp);
/* The frame's payload is all placed: completes what the opcode completes. */
void tcp_rx_op_done(struct tcp_qp *qp);
/* Takes a receive WQE for SEND / WRITE_IMM; false when none is posted. */
bool tcp_rx_take_rwqe(struct tcp_qp *qp);

/*
 * A REKEY frame's payload (struct rtcp_rekey, verified and decrypted):
 * the peer's new receive SA (qp_rekey.c).
 */
void tcp_qp_rekey_rx(struct tcp_qp *qp, const uint8_t *payload);

/* qp_timers.c: deadlines */
/* The connection of an RC QP broke: it fails after its retry budget. */
void tcp_qp_dead_peer_arm(struct tcp_qp *qp);
/* The responder NAKed request h->msn for want of a receive. */
void tcp_qp_rnr_nak_arm(struct tcp_qp *qp, const struct rtcp_hdr *h);
void tcp_qp_live_connected(struct tcp_qp *qp);
void tcp_qp_live_disarm(struct tcp_qp *qp);

/* qp_flush.c: send-queue completions and errors */
void tcp_sq_reap(struct tcp_qp *qp);
/* The WQE on the wire for request msn, if any. */
struct tcp_send_wqe *tcp_sq_find_sent(struct tcp_qp *qp, uint32_t msn);
void tcp_qp_fail_oldest(struct tcp_qp *qp, enum ibv_wc_status status);

/* progress.c: who drives the socket, and when acks go */
uint32_t tcp_qp_events(const struct tcp_qp *qp);
void tcp_qp_set_epollout(struct tcp_qp *qp, bool on);
void tcp_qp_app_rx(struct tcp_qp *qp, struct tcp_cq *cq);
void tcp_qp_rx_mode_end(struct tcp_qp *qp); /* the socket is gone */
void tcp_qp_rx_mode_check(struct tcp_qp *qp, uint64_t now, bool lease_out);
void tcp_qp_rx_pass_done(struct tcp_qp *qp, bool progress, unsigned int frames,
			 bool ack_pending);

#endif
