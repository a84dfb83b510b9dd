/* SPDX-License-Identifier: MIT */
/*
 * The progress policy's numbers, each explained once: when the receive
 * side reads straight into place, when a frame waits to be batched, when
 * an ack waits for a frame to ride on, and when the application rather
 * than the engine reads a QP's socket (progress.c). Measurements behind
 * them: docs/performance.md.
 */
#ifndef RDMA_TCP_PROGRESS_H
#define RDMA_TCP_PROGRESS_H

/*
 * Payloads from this size skip the staging buffer: after one, the next
 * header is read alone and its payload goes straight into place. Below
 * it, a copy out of the staging buffer costs less than the second system
 * call a frame.
 */
#define TCP_RX_DIRECT 16384
/*
 * While the engine places a large payload, the socket wakes it only when
 * this much more of the frame has arrived (SO_RCVLOWAT), never more than
 * the frame still owes. On loopback every wake-up is paid by the sender's
 * CPU (the softirq that queues the data wakes the reader), and a stream of
 * large WRITEs is bound by that CPU. The low mark only starts when the frame
 * owes at least TCP_RX_LOWAT_MIN: below that a frame costs about one
 * wake-up anyway, and two setsockopt calls would add, not save.
 */
#define TCP_RX_LOWAT_MIN 65536
#define TCP_RX_LOWAT_MAX (1u << 20)
/*
 * Unacked peer requests after which an ack goes out unasked. Requesters
 * ask for the acks they need (signaled WRs, a send queue 3/4 full); each
 * ack is a sendmsg for the responder and a read for the requester.
 */
#define TCP_ACK_EVERY 64
/*
 * A receive pass that placed this many frames came from a stream, not a
 * ping-pong: no reply for its ack to ride on is coming, and the requester
 * may be stalled on it (perftest's window frees 100 WRs at a time, at the
 * ack of the signaled one). Such a pass acks at once instead of holding
 * the ack for the next post or poll; the requester's reads fall too.
 */
#define TCP_ACK_STREAM_FRAMES 8
/*
 * Transmit batching (see send_or_defer): a WR posted while the application
 * is in a burst (it posted on this QP since it last polled a CQ) is held
 * back, up to TCP_TX_DEFER_WRS WRs and TCP_TX_DEFER_BATCH bytes, if it is
 * at most TCP_TX_DEFER_BYTES long; larger WRs go out at once, so big
 * transfers keep streaming. 128 WRs is a whole perftest window of small
 * WRs in one sendmsg (128 frames also fill the transmit batch, TCP_TX_IOV).
 */
#define TCP_TX_DEFER_WRS   128
#define TCP_TX_DEFER_BYTES 16384
#define TCP_TX_DEFER_BATCH (256 * 1024)
/* WRs a burst needs for the next burst's first WR to wait as well */
#define TCP_TX_STREAM_BURST 8
/* requests in flight from which a send-CQ poller reads its own acks */
#define TCP_APP_RX_MIN_INFLIGHT 4
/* polls a millisecond below which an application is not spinning */
#define TCP_APP_RX_BUSY_POLLS 16
/*
 * How long a QP keeps the engine's 1 ms tick after its application was
 * last found waiting for its CPU (progress.c, rx_preempted).
 */
#define TCP_APP_CROWDED_NS 64000000ull
/* most polls such a poller skips after reads that found nothing */
#define TCP_APP_RX_SKIP_MAX 255
/*
 * A poll of a CQ fed by more QPs than this asks an epoll set which of
 * their sockets are readable instead of reading each (cq_progress.c):
 * design.md, "Many QPs on one CQ".
 */
#define TCP_CQ_WALK_QPS 2
/* readable sockets one poll takes from that set (the rest: next poll) */
#define TCP_CQ_READY_BATCH 64
/*
 * Polls before a CQ tries again to make its ready set once epoll_create1
 * failed (out of fds). Trying at every poll took, now and then, the fd
 * the listener frees for a moment to refuse connections it cannot
 * accept (conn.c, refuse_one).
 */
#define TCP_CQ_READY_RETRY 4096

#endif
