/* SPDX-License-Identifier: MIT */
/*
 * Queue pairs, shared receive queues, address handles.
 *
 * Locking order: ctx->lock -> qp->lock -> srq->lock -> (cq->lock, keys.lock,
 * async_lock). The QP lock covers the QP's queues, state and its socket's
 * transmit/receive state; the engine thread and the posting thread both
 * drive the socket under it.
 */
#ifndef RDMA_TCP_QP_H
#define RDMA_TCP_QP_H

#include <sys/uio.h>

#include <rdma_tcp/wire.h>

#include "tcp.h"
#include "engine.h"

/* One scatter/gather element resolved to process memory. */
struct tcp_seg {
	char *addr;
	uint32_t len;
	uint32_t lkey;
};

enum tcp_wqe_state {
	WQE_QUEUED, /* posted, not yet on the wire */
	WQE_SENT,   /* on the wire, waiting for ack or response */
	WQE_DONE,   /* completed: waiting to be reaped in order */
};

struct tcp_send_wqe {
	uint64_t wr_id;
	enum ibv_wr_opcode opcode;
	unsigned int send_flags;
	uint32_t imm;
	uint32_t rkey;
	uint64_t raddr;
	uint64_t compare_add, swap;
	uint32_t length; /* total payload bytes */
	uint32_t msn;
	uint32_t nseg;
	enum tcp_wqe_state state;
	enum ibv_wc_status status; /* set when it fails at post/local check */
	uint32_t resp_done;	   /* READ: response bytes placed so far */
	struct tcp_seg *seg;	   /* max_send_sge entries (inline: one) */
	char *inl;		   /* inline copy, max_inline_data bytes */
};

struct tcp_recv_wqe {
	uint64_t wr_id;
	uint32_t nseg;
	struct tcp_seg *seg; /* max_recv_sge entries */
};

struct tcp_srq {
	struct verbs_srq vsrq;
	tcp_mutex_t lock;
	struct tcp_recv_wqe *ring;
	struct tcp_seg *segs;
	uint32_t size, max_wr, max_sge, limit;
	uint32_t head, tail;
	atomic_int users;
	struct tcp_pd *pd;
};

/* A frame being transmitted (response or ack queued by the responder). */
struct tcp_resp {
	struct tcp_resp *next;
	struct rtcp_hdr hdr;
	char *payload;
	uint32_t len;
	/* READ source region: checked at the request, pinned only around
	 * each sendmsg (so dereg never waits on a requester that stops
	 * reading); identity only otherwise, may be freed */
	struct tcp_mr *mr;
	uint32_t key;
	uint64_t serial;
};

/* Receive-side state machine for the frame in progress. */
enum rx_phase {
	RX_HDR,	    /* collecting a header */
	RX_PAYLOAD, /* placing payload into dst iovs */
	RX_STALL,   /* SEND waits for an SRQ receive */
};

#define TCP_RXBUF 16384
/*
 * Payloads from this size skip the staging buffer: after one, the next
 * header is read alone and its payload goes straight into place. Below
 * it, a copy out of the staging buffer costs less than the second system
 * call a frame (ib_write_bw 4 KiB: 1.26 -> 2.4 GB/s with 16 KiB, not 4).
 */
#define TCP_RX_DIRECT 16384
/*
 * While the engine places a large payload, the socket wakes it only when
 * this much more of the frame has arrived (SO_RCVLOWAT), never more than
 * the frame still owes: ib_write_bw 1 MiB 4.22 -> 5.89 GB/s (medians of
 * 5; iperf3 4.70). On loopback every wake-up is paid by the sender's CPU
 * (the softirq that queues the data wakes the reader), and a stream of
 * large WRITEs is bound by that CPU. The low mark only starts when the frame
 * owes at least TCP_RX_LOWAT_MIN: below that a frame costs about one
 * wake-up anyway, and two setsockopt calls would add, not save.
 */
#define TCP_RX_LOWAT_MIN 65536
#define TCP_RX_LOWAT_MAX (1u << 20)
#define TCP_TX_IOV	 256
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
 * the ack for the next post or poll: ib_send_bw 64 B 2.51 -> 2.82 Mmsg/s,
 * -q 8 3.56 -> 4.11 (interleaved medians of 11 and 7); the requester's
 * reads fall by more than a quarter.
 */
#define TCP_ACK_STREAM_FRAMES 8
/*
 * Transmit batching (see send_or_defer): a WR posted while the application
 * is in a burst (it posted on this QP since it last polled a CQ) is held
 * back, up to TCP_TX_DEFER_WRS WRs and TCP_TX_DEFER_BATCH bytes, if it is
 * at most TCP_TX_DEFER_BYTES long; larger WRs go out at once, so big
 * transfers keep streaming. 128 WRs is a whole perftest window of small
 * WRs in one sendmsg (64 B: 2.0 -> 2.9 Mmsg/s with the signaled-WR rule;
 * 128 frames also fill the transmit batch, TCP_TX_IOV).
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
/* most polls such a poller skips after reads that found nothing */
#define TCP_APP_RX_SKIP_MAX 255
/* longest wait between losing the peer and failing the QP */
#define TCP_DEAD_PEER_MAX_NS 1000000000ull
/* shortest wait for a peer that has not answered yet (tcp_qp_unheard_arm) */
#define TCP_UNHEARD_MIN_NS 1000000000ull
/* shortest silence of a waiting kernel that makes a peer dead
 * (qp_liveness.c) */
#define TCP_LIVE_MIN_NS 1000000000ull

struct tcp_qp {
	struct verbs_qp vqp;
	struct tcp_context *ctx;
	tcp_mutex_t lock;
	bool dead; /* destroyed; engine frees it later */
	uint64_t dead_epoch;
	struct tcp_qp *grave_next;
	unsigned int timer_skips; /* engine only: see each_qp */
	atomic_uint engine_wants; /* the engine waits for `lock` */

	enum ibv_qp_state state;
	enum ibv_qp_type type;
	struct tcp_pd *pd;
	struct tcp_cq *scq, *rcq;
	struct tcp_srq *srq;
	bool sq_sig_all;
	struct ibv_qp_cap cap;

	/* attributes set by modify_qp and reported by query_qp */
	struct ibv_qp_attr attr;
	int attr_mask_set;

	/* send queue: [sq_done, sq_tx) sent, [sq_tx, sq_head) queued */
	struct tcp_send_wqe *sq;
	uint32_t sq_size;	 /* power of two */
	struct tcp_seg *sq_segs; /* the SQ's SGE lists, one block */
	char *sq_inl;		 /* the SQ's inline buffers, one block */
	uint32_t sq_head, sq_tx, sq_done;
	uint32_t next_msn; /* msn for the next request */
	uint32_t
		peer_acked; /* peer's ack_msn: our requests below it are done */
	uint32_t peer_credits; /* peer's receive WQE count */
	bool peer_no_credit;   /* peer uses an SRQ */
	bool peer_heard; /* a frame from the peer arrived: credits known */
	uint32_t sends_issued; /* SEND/WRITE_IMM sent (consume credits) */
	/* READs and atomics on the wire without their response: at most
	 * attr.max_rd_atomic (the requester's ORD) */
	uint32_t rd_out;
	uint64_t rnr_since_ns; /* when the head SEND began waiting for credit */
	/* the responder NAKed request rnr_nak_msn (no receive in its SRQ):
	 * it fails with RNR_RETRY_EXC_ERR at rnr_nak_at_ns unless acked */
	uint64_t rnr_nak_at_ns;
	uint32_t rnr_nak_msn;

	/* receive queue */
	struct tcp_recv_wqe *rq;
	uint32_t rq_size, rq_head, rq_tail;
	struct tcp_seg *rq_segs;  /* the RQ's SGE lists, one block */
	uint32_t rq_posted_total; /* our credits as advertised */

	/* responder state */
	uint32_t expect_msn; /* next request msn we expect */
	uint32_t ack_sent;   /* last ack_msn we sent */
	uint32_t credits_sent;
	struct tcp_resp *resp_head, *resp_tail;
	/* READ and atomic responses waiting for a transmit batch: at most
	 * attr.max_dest_rd_atomic (the responder's IRD; one batch more may be
	 * on its way out, TCP_TX_IOV / 2 frames at most) */
	uint32_t rd_resp_queued;
	bool want_ack;

	/* connection */
	struct tcp_qp_poll poll;
	int fd;
	int closing_fd; /* shut down after an error, closed at reset/destroy */
	bool active;	/* we connect (smaller GID,QPN) */
	bool connected; /* hello exchanged, frames may flow */
	bool connecting;
	bool conn_lost;	     /* UC whose peer went away: sends are dropped */
	uint64_t fail_at_ns; /* RC whose peer went away: fails then */
	/* RC with work posted that has not heard its peer yet (the peer QP
	 * is not at RTR, or never connects): the oldest WR fails then */
	uint64_t unheard_fail_ns;
	/* dead-peer watch while requests are outstanding (qp_liveness.c) */
	bool live_armed;     /* counted in the engine's live_qps */
	bool live_ka;	     /* SO_KEEPALIVE is on */
	bool live_ka_opts;   /* ...its timing is set on this socket */
	uint64_t live_next;  /* the engine's next look */
	uint64_t live_since; /* first look of this wait of the kernel */
	uint8_t hello_out[RTCP_HELLO_LEN];
	uint32_t hello_sent;
	bool epollout; /* EPOLLOUT armed */
	/* transmit batching (tcp_post_send) */
	bool posted;		/* poll_mark is set */
	unsigned int poll_mark; /* CQ poll counts at the last post */
	bool tx_deferred;	/* WRs or an ack held back */
	bool tx_kicked;		/* ...and the engine was kicked for them */
	/* WRs posted since the application last polled, and in the burst
	 * before (send_or_defer) */
	uint32_t burst_wrs, prev_burst_wrs;
	/* bytes and unsignaled WRs queued since the SQ was last all sent */
	uint64_t tx_unsent_bytes;
	uint32_t tx_unsig;
	/* an ack held back by the application's rx pass may wait through
	 * one more poll for the reply it can ride on (tcp_progress_cq) */
	bool ack_grace;

	/* transmit batch in flight */
	struct iovec tx_iov[TCP_TX_IOV];
	int tx_iov_n, tx_iov_i;
	uint8_t tx_hdrs[TCP_TX_IOV / 2][RTCP_HDR_LEN];
	/* frames in the batch: what to mark done once the batch drains */
	uint32_t tx_batch_wqes; /* SQ WQEs moved to SENT by this batch */
	struct tcp_resp *tx_batch_resps;
	uint64_t tx_seq; /* bytes sent on this stream, hello excluded */
	/* bytes read (tcp_qp_app_pass), and reads, sends and frames of
	 * more than TCP_SPIN_BYTES (the engine's spin policy) */
	uint64_t io_rx, io_large;

	/* receive */
	uint8_t *rxbuf;
	uint32_t rx_start, rx_end;
	uint64_t rx_seq;
	enum rx_phase rx_phase;
	struct rtcp_hdr rx_hdr;
	struct iovec rx_iov[TCP_MAX_SGE];
	int rx_iov_n, rx_iov_i;
	uint32_t rx_left; /* payload bytes still to place */
	/* WRITE target region: checked at the header, pinned per chunk */
	struct tcp_mr *rx_mr; /* identity only: may be freed (tcp_mr_repin) */
	uint32_t rx_key;
	uint64_t rx_serial;
	struct tcp_send_wqe *rx_wqe; /* READ_RESP target */
	struct tcp_recv_wqe rx_rwqe; /* SEND target, copied out of the RQ */
	bool rx_has_rwqe;
	bool rx_discard; /* UC message nobody receives: its payload is dropped */
	bool rx_by_app;	 /* this rx pass runs in the application's poll_cq */
	/* the application reads the socket in its CQ polls: the engine
	 * leaves it alone (no EPOLLIN) until they stop, see tcp_qp_app_rx() */
	bool rx_app_driven;
	/* ...only until its requests are all done: a one-sided requester
	 * (no receives) that waits on its send CQ, see tcp_qp_app_rx() */
	bool rx_app_oneway;
	/* the mode holds one of the engine's timer references (stalled):
	 * from the first entry until a tick without polls, so that a
	 * requester entering and leaving it every message does not wake
	 * the engine every time */
	bool rx_tick;
	unsigned int rx_app_mark; /* CQ polls at the engine's last look */
	unsigned int app_posts, rx_posts_mark; /* ibv_post_send calls, ditto */
	/* polls too slow for the mode: stay out until they speed up */
	bool rx_app_lazy;
	uint32_t lazy_win, lazy_polls;
	uint32_t rx_total; /* payload bytes of the frame */
	/* the socket's SO_RCVLOWAT, 0 for the default (1): see rx_lowat() */
	uint32_t rx_lowat;

	/* ibv_wr_* API: work requests staged between wr_start and wr_complete */
	struct ibv_send_wr *wr_stage;
	struct ibv_sge *wr_sges; /* TCP_MAX_SGE per staged WR */
	char *wr_inl;		 /* TCP_MAX_INLINE per staged WR */
	uint32_t wr_n, wr_cap;
	int wr_err;

	/* slot in the context's QP table */
	uint32_t slot;
};

static inline struct tcp_qp *to_tqp(struct ibv_qp *qp)
{
	return container_of(qp, struct tcp_qp, vqp.qp);
}

static inline struct tcp_srq *to_tsrq(struct ibv_srq *srq)
{
	return container_of(srq, struct tcp_srq, vsrq.srq);
}

struct tcp_ah {
	struct ibv_ah ibv_ah;
	struct ibv_ah_attr attr;
};

/* ah.c */
struct ibv_ah *tcp_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr);
int tcp_destroy_ah(struct ibv_ah *ah);

/* qp.c: lifecycle and the state machine */
struct ibv_qp *tcp_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
struct ibv_qp *tcp_create_qp_ex(struct ibv_context *ctx,
				struct ibv_qp_init_attr_ex *attr);
int tcp_destroy_qp(struct ibv_qp *qp);
int tcp_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask);
int tcp_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask,
		 struct ibv_qp_init_attr *init);
/* Moves the QP to ERR, flushing queues; caller holds qp->lock. */
void tcp_qp_to_error(struct tcp_qp *qp, enum ibv_event_type ev);
void tcp_qp_free(struct tcp_qp *qp);
/* Pushes a flushed (or failed) completion for a work request. */
void tcp_flush_wc(struct tcp_cq *cq, struct tcp_qp *qp, uint64_t wr_id,
		  enum ibv_wc_opcode op, enum ibv_wc_status st);
void tcp_qp_drop_conn(struct tcp_qp *qp);
void tcp_qp_drop_conn_rc(struct tcp_qp *qp);
void tcp_uc_drain(struct tcp_qp *qp);

/* post.c: work requests */
int tcp_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
		  struct ibv_send_wr **bad);
int tcp_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
		  struct ibv_recv_wr **bad);
void tcp_qp_ex_init(struct tcp_qp *qp, uint64_t send_ops_flags);
/* Completes SQ WQEs in order as far as they are done; caller holds lock. */
void tcp_sq_reap(struct tcp_qp *qp);
/* Resolves local SGEs to memory; returns a work completion status. */
enum ibv_wc_status tcp_resolve_sges(struct tcp_context *ctx, struct tcp_pd *pd,
				    const struct ibv_sge *sg, int n, bool write,
				    struct tcp_seg *out, uint32_t *total);

/* srq.c */
struct ibv_srq *tcp_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr *a);
struct ibv_srq *tcp_create_srq_ex(struct ibv_context *ctx,
				  struct ibv_srq_init_attr_ex *a);
int tcp_destroy_srq(struct ibv_srq *srq);
int tcp_modify_srq(struct ibv_srq *srq, struct ibv_srq_attr *a, int mask);
int tcp_query_srq(struct ibv_srq *srq, struct ibv_srq_attr *a);
int tcp_get_srq_num(struct ibv_srq *srq, uint32_t *num);
int tcp_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad);
/* Takes one receive WQE off the SRQ (copied into *out); false if empty. */
bool tcp_srq_take(struct tcp_srq *srq, struct tcp_recv_wqe *out);

/* place.c: responder-side checks before a byte is written */
enum ibv_wc_status tcp_place_check(struct tcp_qp *qp, uint32_t rkey,
				   uint64_t raddr, uint64_t len, int access,
				   struct tcp_mr **mr, char **where);
void tcp_mr_unpin(struct tcp_mr *mr);
bool tcp_mr_repin(struct tcp_context *ctx, uint32_t key, struct tcp_mr *mr,
		  uint64_t serial);

/* conn.c: the connection rendezvous */
int tcp_conn_start(struct tcp_qp *qp); /* at RTR */
int tcp_qpn_alloc(struct tcp_qp *qp);
void tcp_qpn_free(struct tcp_qp *qp);

/* xfer.c: the transport */
void tcp_qp_tx(struct tcp_qp *qp); /* caller holds qp->lock */
/* qp_liveness.c: a peer that never answered (caller holds qp->lock) */
void tcp_qp_unheard_arm(struct tcp_qp *qp);
void tcp_qp_unheard_timer(struct tcp_qp *qp, uint64_t now);
/*
 * Should a frame go out just to update the peer's credits? Yes once the
 * peer sees less than half of the receives actually posted and unused
 * (checked when a receive is posted and when one is consumed, so the
 * requester never waits on credit it has but does not know of). Every
 * header carries credits, so an application reposting one receive per
 * completion costs one update per half queue, not one frame per receive.
 */
static inline bool tcp_credit_update_due(const struct tcp_qp *qp)
{
	return (qp->credits_sent - qp->rq_tail) * 2 <
	       qp->rq_posted_total - qp->rq_tail;
}
/* Receive-side hand-over between the application and the engine
 * (xfer.c); caller holds qp->lock. */
void tcp_qp_app_rx(struct tcp_qp *qp, struct tcp_cq *cq);
bool tcp_qp_app_pass(struct tcp_qp *qp, struct tcp_cq *cq);
bool tcp_qp_app_call(struct tcp_qp *qp);
void tcp_qp_engine_rx(struct tcp_qp *qp);
void tcp_qp_rx_mode_end(struct tcp_qp *qp); /* the socket is gone */
uint32_t tcp_qp_events(const struct tcp_qp *qp);
/*
 * The next poll of the QP's CQs drives its QPs (tcp_progress_cq) even if
 * it would skip them: neither the requester back-off (rx_skip) nor a
 * backlogged CQ (fed_skips) may keep WRs held back for that poll
 * (send_or_defer) waiting any longer.
 */
static inline void tcp_qp_no_skip(struct tcp_qp *qp)
{
	atomic_store_explicit(&qp->scq->rx_skip, 0, memory_order_relaxed);
	atomic_store_explicit(&qp->rcq->rx_skip, 0, memory_order_relaxed);
	atomic_store_explicit(&qp->scq->fed_skips, TCP_CQ_FED_SKIPS,
			      memory_order_relaxed);
	atomic_store_explicit(&qp->rcq->fed_skips, TCP_CQ_FED_SKIPS,
			      memory_order_relaxed);
}
/* Polls of the QP's CQs so far: a change means the application polled. */
static inline unsigned int qp_cq_polls(const struct tcp_qp *qp)
{
	return atomic_load_explicit(&qp->scq->polls, memory_order_relaxed) +
	       atomic_load_explicit(&qp->rcq->polls, memory_order_relaxed);
}
void tcp_qp_yield_slow(struct tcp_qp *qp);
/*
 * An application thread about to take qp->lock lets the engine have it
 * first if it asked for it (engine_lock_qp): one hand-over instead of a
 * queue that the application's next lock keeps jumping.
 */
static inline void tcp_qp_yield(struct tcp_qp *qp)
{
	if (atomic_load_explicit(&qp->engine_wants, memory_order_relaxed))
		tcp_qp_yield_slow(qp);
}
/* Is an ack (or credit update) all that is held back? */
static inline bool tcp_qp_only_ack_held(const struct tcp_qp *qp)
{
	return qp->tx_deferred && qp->sq_tx == qp->sq_head && !qp->resp_head &&
	       qp->tx_iov_i == qp->tx_iov_n;
}
/* Sends WRs held back by batching, if any; caller holds qp->lock. */
static inline void tcp_qp_flush(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	if (qp->tx_deferred)
		tcp_qp_tx(qp);
}
void tcp_qp_rx(struct tcp_qp *qp); /* caller holds qp->lock */
void tcp_qp_conn_ready(struct tcp_qp *qp);
void tcp_qp_fail_retry(struct tcp_qp *qp);
uint64_t tcp_now_ns(void);
void tcp_qp_timers(struct tcp_qp *qp, uint64_t now);

/* qp_liveness.c: is the peer still there? */
void tcp_qp_fail_conn(struct tcp_qp *qp);
void tcp_qp_dead_peer_expired(struct tcp_qp *qp);
void tcp_qp_live_connected(struct tcp_qp *qp);
void tcp_qp_live_arm_slow(struct tcp_qp *qp);
void tcp_qp_live_disarm(struct tcp_qp *qp);
void tcp_qp_liveness(struct tcp_qp *qp, uint64_t now);
/*
 * Requests are outstanding (after a post; caller holds qp->lock): the
 * engine watches the RC QP's peer until they are all done. timeout 0
 * waits forever, as on a NIC.
 */
static inline void tcp_qp_live_arm(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	if (!qp->live_armed && qp->type == IBV_QPT_RC && qp->attr.timeout &&
	    qp->sq_done != qp->sq_head)
		tcp_qp_live_arm_slow(qp);
}

#endif
