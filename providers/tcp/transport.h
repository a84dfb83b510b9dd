/* SPDX-License-Identifier: MIT */
/*
 * The transport's inner interface: what its files call in each other.
 *
 *   qp_tx.c      frames the send queue and the responder's answers into
 *                sendmsg() batches
 *   qp_rx.c      the receive loop: headers through a staging buffer,
 *                payload read straight into place
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
/* Tells the requester its request failed; the QP then goes to error. */
/* the TERMINATE on its way out: the engine's tick, and its end */
void tcp_qp_term_timer(struct tcp_qp *qp, uint64_t now);
void tcp_qp_term_cancel(struct tcp_qp *qp);
void tcp_qp_terminate(struct tcp_qp *qp, uint32_t msn, uint32_t syn,
		      enum ibv_event_type ev);

/* qp_rx.c: frames in */
void tcp_rx_segs_to_iov(struct tcp_qp *qp, const struct tcp_seg *s, uint32_t n);

/* rx_ops.c: per opcode */
/* Sets up placement for the frame whose header was just read. */
void tcp_rx_dispatch(struct tcp_qp *qp);
/* The frame's payload is all placed: completes what the opcode completes. */
void tcp_rx_op_done(struct tcp_qp *qp);
/* Takes a receive WQE for SEND / WRITE_IMM; false when none is posted. */
bool tcp_rx_take_rwqe(struct tcp_qp *qp);

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
void tcp_qp_rx_mode_tick(struct tcp_qp *qp);
void tcp_qp_rx_pass_done(struct tcp_qp *qp, bool progress, unsigned int frames,
			 bool ack_pending);

#endif
