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
#include "progress.h"
#include "psp.h"
#include "qp_watch.h"

struct tcp_hs;
struct tcp_listener;
struct tcp_tx_seal;
struct tcp_ud;

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
	uint32_t imm;  /* BIND_MW: the window's rights (access flags) */
	uint32_t rkey; /* SEND_WITH_INV, LOCAL_INV: the key; BIND_MW: new key */
	uint64_t raddr; /* BIND_MW: the window's address */
	union {
		struct {
			uint64_t compare_add, swap; /* atomics */
		};
		struct {		  /* BIND_MW (rkey, raddr above) */
			uint64_t mw_len;  /* the window's length */
			uint32_t mw_key;  /* the window */
			uint32_t mr_lkey; /* the region */
		};
	};
	uint32_t length; /* total payload bytes */
	uint32_t msn;
	uint32_t nseg;
	enum tcp_wqe_state state;
	enum ibv_wc_status status; /* set when it fails at post/local check */
	uint32_t tx_off;	   /* payload bytes framed so far (seg.c) */
	struct tcp_seg *seg;	   /* max_send_sge entries (inline: one) */
	char *inl;		   /* inline copy, max_inline_data bytes */
	/* seg of a QP whose max_send_sge is 1: the WQE's own, so a posted
	 * WR writes one slot of the ring, not a slot and a list elsewhere */
	struct tcp_seg seg1;
};

struct tcp_recv_wqe {
	uint64_t wr_id;
	uint32_t nseg;
	struct tcp_seg *seg; /* max_recv_sge entries */
	struct tcp_seg seg1; /* seg of an RQ whose max_recv_sge is 1 */
};

struct tcp_srq {
	struct verbs_srq vsrq;
	struct tcp_obj id;
	tcp_mutex_t lock;
	struct tcp_recv_wqe *ring;
	uint32_t size, max_wr, max_sge, limit;
	uint32_t head, tail;
	atomic_int users;
	struct tcp_pd *pd;
	struct tcp_qbuf buf;	/* ring and segs: one block */
	struct tcp_pd *pdom;	/* parent domain it was made through, or NULL */
	struct tcp_alloc alloc; /* its allocator, or none */
};

/* A frame being transmitted (response or ack queued by the responder). */
struct tcp_resp {
	struct tcp_resp *next;
	struct rtcp_hdr hdr;
	char *payload;
	uint32_t len;
	uint32_t off; /* bytes framed so far: a long one is cut (seg.c) */
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

/* the staging buffer headers (and small payloads) are read through */
#define TCP_RXBUF 16384
/* iovecs of a transmit batch: half as many frames at most */
#define TCP_TX_IOV 256

/* The send queue, and what the requester knows of its peer. */
struct tcp_sq_state {
	/* [done, tx) sent, [tx, head) queued */
	struct tcp_send_wqe *wqe;
	uint32_t size;	      /* power of two */
	struct tcp_seg *segs; /* the SQ's SGE lists, one block (NULL: seg1) */
	uint32_t sges;	      /* ...each of this many entries */
	char *inl;	      /* the SQ's inline buffers, one block */
	uint32_t head, tx, done;
	uint32_t next_msn; /* msn for the next request */
	/* the peer's ack_msn: our requests below it are done */
	uint32_t peer_acked;
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
};

/* The receive queue (none with an SRQ). */
struct tcp_rq_state {
	struct tcp_recv_wqe *wqe;
	uint32_t size, head, tail;
	struct tcp_seg *segs;  /* the RQ's SGE lists, one block (NULL: seg1) */
	uint32_t sges;	       /* ...each of this many entries */
	uint32_t posted_total; /* our credits as advertised */
};

/* The responder: the peer's requests taken, acks owed, answers queued. */
struct tcp_resp_state {
	uint32_t expect_msn; /* next request msn we expect */
	uint32_t ack_sent;   /* last ack_msn we sent */
	uint32_t credits_sent;
	bool want_ack;
	/* since when an ack that is due has been held back for the
	 * application's reply to carry it (progress.c), 0: none */
	uint64_t ack_held_ns;
	struct tcp_resp *head, *tail;
	/* READ and atomic responses waiting for a transmit batch: at most
	 * attr.max_dest_rd_atomic (the responder's IRD; one batch more may be
	 * on its way out, TCP_TX_IOV / 2 frames at most) */
	uint32_t rd_queued;
	/* a TERMINATE is on its way out behind earlier frames: the QP goes
	 * to error (term_ev) once it has left, or at term_at_ns (qp_tx.c) */
	uint64_t term_at_ns;
	enum ibv_event_type term_ev;
};

/* The connection: its socket, its hello, whether the peer is still there. */
struct tcp_conn_state {
	struct tcp_qp_poll poll;
	int fd;
	int closing_fd; /* shut down after an error, closed at reset/destroy */
	bool active;	/* we connect (smaller GID,QPN) */
	bool connected; /* hello exchanged, frames may flow */
	bool connecting;
	bool lost;	     /* UC whose peer went away: sends are dropped */
	uint64_t fail_at_ns; /* RC whose peer went away: fails then */
	/* RC with work posted that has not heard its peer yet (the peer QP
	 * is not at RTR, or never connects): the oldest WR fails then */
	uint64_t unheard_fail_ns;
	/* ...at the latest while the connection is up but still greeting */
	uint64_t unheard_cap_ns;
	/* dead-peer watch while requests are outstanding (qp_timers.c) */
	bool live_armed;     /* counted in the engine's live_qps */
	bool live_ka;	     /* SO_KEEPALIVE is on */
	bool live_ka_opts;   /* ...its timing is set on this socket */
	uint64_t live_next;  /* the engine's next look */
	uint64_t live_since; /* first look of this wait of the kernel */
	uint8_t hello_out[RTCP_HELLO_LEN];
	uint32_t hello_sent;
	bool epollout; /* EPOLLOUT armed */
	/* not in its CQs' ready sets (tcp_cq_ready_add failed): every poll
	 * of them visits it; cq_gone: detached from them, never added again */
	bool cq_unready, cq_gone;
	/* on its CQs' due lists ([0] the send CQ's, [1] the receive CQ's if
	 * another), and the next QP there (cq_progress.c) */
	atomic_bool due_on[2];
	struct tcp_qp *due_next[2];
	/* the QP's own congestion control (tcpdv_modify_qp_cc); "": the
	 * device's (qp_net.c) */
	char cc[16];
};

/*
 * A secured frame that spans batches (qp_seal.c): its payload's pieces
 * and how far they are in a batch. A frame of up to 2 GiB is sealed chunk
 * by chunk as batches take it, and nothing else goes between its chunks.
 */
struct tcp_tx_frame {
	const struct tcp_seg *seg; /* the payload's pieces (NULL: one) */
	struct tcp_seg one;	   /* ...a response's or inline payload */
	uint32_t nseg, si, soff;   /* next piece, and the offset in it */
	uint32_t left;		   /* payload bytes not in a batch yet */
	enum tcp_psp_mode mode;	   /* how its chunks are sealed */
	bool copy; /* auth: sealed over a snapshot (memory others write) */
	bool active;
	struct tcp_resp *resp;	  /* a response: freed once all sent */
	struct tcp_send_wqe *wqe; /* a request: SENT, not yet all sent */
};

/* The transmit batch in flight (qp_tx.c). */
struct tcp_tx_state {
	/* TCP_TX_IOV iovecs and TCP_TX_IOV / 2 headers: one block, taken at
	 * the first transmit and given back once the QP idles (qp_idle.c) */
	struct iovec *iov;
	int iov_n, iov_i;
	uint8_t (*hdrs)[RTCP_HDR_LEN];
	/* frames in the batch: what to mark done once the batch drains */
	uint32_t batch_wqes; /* SQ WQEs moved to SENT by this batch */
	struct tcp_resp *batch_resps;
	uint64_t seq;		 /* bytes sent on this stream, hello excluded */
	struct tcp_tx_frame cur; /* secured: the frame the batch ends in */
	/* payload bytes of requests and of responses in the batch: each
	 * kind stops at TCP_TX_SEG, so one waits at most that for the other */
	uint32_t req_bytes, resp_bytes;
	bool req_turn; /* a response's frame spanned batches: requests next */
	/* this batch's request frame size, and the batches left that use
	 * the short one (tx_seg) */
	uint32_t seg, short_batches;
	/* tcp_qp_tx sends all it can, never yielding to input (settling) */
	bool no_yield;
	/* the pieces of a request's frame cut out of its WQE (seg.c) */
	struct tcp_seg slice[TCP_MAX_SGE];
};

/* A message of the peer whose frames are still coming (seg.c). */
struct tcp_rx_msg {
	bool active;
	bool discard; /* dropped (UC): the rest is dropped too */
	uint8_t opcode;
	uint32_t msn, off, total;
};

/* The frame being received (qp_rx.c, rx_ops.c). */
struct tcp_rx_state {
	/* staging buffer, tcp_rx_cap() bytes: taken at the first read and
	 * given back once the QP idles (qp_idle.c) */
	uint8_t *buf;
	uint32_t start, end;
	uint64_t seq;
	enum rx_phase phase;
	struct rtcp_hdr hdr;
	struct iovec iov[TCP_MAX_SGE];
	int iov_n, iov_i;
	uint32_t left; /* payload bytes still to place */
	/* secured: verified bytes of the current chunk at buf + start */
	uint32_t sec_avail;
	uint32_t total; /* payload bytes of the frame */
	/* WRITE target region: checked at the header, pinned per chunk */
	struct tcp_mr *mr; /* identity only: may be freed (tcp_mr_repin) */
	uint32_t key;
	uint64_t serial;
	struct tcp_send_wqe *wqe; /* READ_RESP target */
	struct tcp_recv_wqe rwqe; /* SEND target, copied out of the RQ */
	bool has_rwqe;
	bool discard; /* UC message nobody receives: its payload is dropped */
	bool by_app;  /* this rx pass runs in the application's poll_cq */
	/* the socket's SO_RCVLOWAT, 0 for the default (1): see rx_lowat() */
	uint32_t lowat;
	/* the frame's message: its length, the frame's offset in it */
	uint32_t msg_len, msg_off;
	/* a request of the peer, a response to ours, cut into frames */
	struct tcp_rx_msg req_msg, resp_msg;
};

/*
 * The progress policy's state (progress.c, and post.c's batching): what
 * is held back, and whether the application or the engine reads the
 * socket.
 */
struct tcp_progress_state {
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
	/* the application reads the socket in its CQ polls: the engine
	 * leaves it alone (no EPOLLIN) until they stop, see tcp_qp_app_rx() */
	bool rx_app_driven;
	/* ...only until its requests are all done: a one-sided requester
	 * (no receives) that waits on its send CQ, see tcp_qp_app_rx() */
	bool rx_app_oneway;
	/* the mode holds one of the engine's coarse timer references and
	 * renews its lease (tcp_engine_lease_renew): from the first entry
	 * until the engine finds the application silent, so that a
	 * requester entering and leaving it every message does not wake
	 * the engine every time */
	bool rx_tick;
	/* the application's last look, and the engine's last count of its
	 * polls and posts (tcp_qp_rx_mode_check) */
	uint64_t rx_seen_ns, rx_check_ns;
	/* the application's thread waits for its CPU (rx_preempted): the
	 * QP holds the engine's 1 ms tick until then (rx_fine) */
	uint64_t rx_crowded_until;
	bool rx_fine;
	uint64_t rx_lease_mark; /* the lease of its last look (engine.h) */
	/* app_posts at its last look, or when the lease last ran out */
	unsigned int rx_lease_posts;
	unsigned int rx_app_mark; /* CQ polls at the engine's last count */
	unsigned int rcq_seen;	  /* rcq polls at the last send-CQ pass */
	unsigned int app_posts, rx_posts_mark; /* ibv_post_send calls, ditto */
	/* app_posts at the last send-CQ poll of a one-sided requester: the
	 * first poll after a post is no spin yet (tcp_qp_app_rx) */
	unsigned int oneway_mark;
	/* polls too slow for the mode: stay out until they speed up */
	bool rx_app_lazy;
	uint32_t lazy_win, lazy_polls;
	/* bytes read (tcp_qp_app_pass), and reads, sends and frames of
	 * more than TCP_SPIN_BYTES (the engine's spin policy) */
	uint64_t io_rx, io_large;
};

/*
 * The connection's security (docs/design.md, "Security model"; psp.h has
 * the frame layout). mode OFF: the plain wire format, nothing else here is
 * used. Set when the handshake completes (conn.c), cleared with the
 * connection.
 */
struct tcp_sec_state {
	enum tcp_psp_mode mode;
	/* the configuration this connection started with (sec_cfg.h), from
	 * its first step to its end; NULL between connections */
	struct tcp_sec_cfg *cfg;
	struct tcp_hs *hs; /* the key exchange in progress, or NULL */
	uint8_t hs_phase;  /* sec_conn.c: handshake, offer, answer */
	/* the peer refused our credentials or mode while the QP was at RTR:
	 * it fails (QP_FATAL) when the application moves it to RTS, as
	 * ibv_modify_qp itself must succeed */
	bool refused;
	/* the accepting side said our offer's QP is not at RTR yet
	 * (RTCP_SA_WAIT): the unheard budget counts from then on */
	bool peer_waits;
	struct tcp_psp_sa tx; /* the peer's receive SA: we seal with it */
	/* the peer's next receive SA (its REKEY): it replaces tx at the
	 * start of the first batch that begins between frames, since every
	 * chunk of a frame is sealed with the SA its header names (qp_seal.c;
	 * spi 0: none waiting) */
	struct tcp_psp_sa tx_next;
	/* our receive SAs: [0] current, [1] the one before the last rekey,
	 * valid until the next (PSP: one rotation) */
	struct tcp_psp_sa rx[2];
	uint32_t rx_gen;   /* device key generation rx[0] was derived from */
	uint64_t rejected; /* frames that failed verification */
	/* encrypt mode: ciphertext of the batch in flight (qp_tx.c) */
	uint8_t *tx_cipher;
	uint32_t tx_cipher_cap, tx_cipher_used;
	/* the batch's tags and what they cover, sealed before it is sent;
	 * allocated with tx_cipher on first use (qp_seal.c) */
	struct tcp_tx_seal *seal;
	/* the frame being received: its SA and mode (qp_open.c) */
	uint32_t rx_spi;
	enum tcp_psp_mode rx_mode;
	uint32_t rx_cap; /* staging bytes, grown for secured frames */
	/* bytes of a verified group (psp.h) still to take from the staging
	 * buffer, its tag not counted; in_grp: its frames are being taken */
	uint32_t grp_left;
	bool in_grp;
	/* a REKEY's payload, until tcp_qp_rekey_rx has taken it */
	uint8_t rekey[RTCP_REKEY_LEN];
};

/* ibv_wr_* API: work requests staged between wr_start and wr_complete */
struct tcp_wr_stage {
	struct ibv_send_wr *stage;
	struct ibv_sge *sges; /* TCP_MAX_SGE per staged WR */
	char *inl;	      /* TCP_MAX_INLINE per staged WR */
	uint32_t n, cap;
	int err;
};

struct rtcp_stat_slot;

struct tcp_qp {
	struct verbs_qp vqp;
	struct tcp_obj id;
	struct tcp_context *ctx;
	tcp_mutex_t lock;
	bool dead;		  /* destroyed; engine frees it later */
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

	struct tcp_sq_state sq;	    /* requester */
	struct tcp_rq_state rq;	    /* receives */
	struct tcp_resp_state resp; /* responder */
	struct tcp_conn_state conn;
	struct tcp_tx_state tx;
	struct tcp_rx_state rx;
	struct tcp_progress_state prog;
	struct tcp_wr_stage wr;
	struct tcp_sec_state sec;
	/* published counters (stat.h): relaxed atomic adds, no lock */
	uint64_t *stat;
	struct rtcp_stat_slot *stat_slot;

	/* slot in the context's QP table: its listener's slots[slot] */
	struct tcp_listener *lis;
	uint32_t slot;
	/* engine timer references this QP holds (tcp_qp_timer_get) */
	uint32_t timer_refs;
	/* the QP's traffic at the idle pass's last look (qp_idle.c) */
	uint64_t idle_mark;

	/* the SQ's and RQ's WQEs, SGE lists and inline buffers: one block,
	 * from the parent domain's allocator if it was made through one */
	struct tcp_qbuf qbuf;
	struct tcp_pd *pdom;
	struct tcp_alloc alloc;
	struct tcp_ud *ud; /* UD QPs only (ud.h) */
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
	struct tcp_obj id;
	struct ibv_ah_attr attr;
	struct tcp_pd *pd; /* the protection domain (of a parent domain) */
	union ibv_gid
		sgid; /* the source GID's address: UD sends leave from it */
};

/* The states in which ibv_post_send takes WRs (in ERR, to flush them). */
static inline bool tcp_qp_takes_sends(const struct tcp_qp *qp)
{
	return qp->state == IBV_QPS_RTS || qp->state == IBV_QPS_SQD ||
	       qp->state == IBV_QPS_SQE || qp->state == IBV_QPS_ERR;
}

static inline struct tcp_ah *to_tah(struct ibv_ah *ah)
{
	return container_of(ah, struct tcp_ah, ibv_ah);
}

/* ud_mcast.c: UD multicast over IP multicast */
int tcp_attach_mcast(struct ibv_qp *qp, const union ibv_gid *gid, uint16_t lid);
int tcp_detach_mcast(struct ibv_qp *qp, const union ibv_gid *gid, uint16_t lid);

/* ah.c */
struct ibv_ah *tcp_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr);
int tcp_destroy_ah(struct ibv_ah *ah);

/* qp.c: lifecycle and the state machine */
struct ibv_qp *tcp_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
struct ibv_qp *tcp_create_qp_ex(struct ibv_context *ctx,
				struct ibv_qp_init_attr_ex *attr);
int tcp_destroy_qp(struct ibv_qp *qp);
void tcp_qp_destroy(struct tcp_qp *qp);
int tcp_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask);
int tcp_query_qp_data_in_order(struct ibv_qp *qp, enum ibv_wr_opcode op,
			       uint32_t flags);
int tcp_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask,
		 struct ibv_qp_init_attr *init);
void tcp_qp_free(struct tcp_qp *qp);

/* post.c: work requests */
int tcp_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
		  struct ibv_send_wr **bad);
int tcp_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
		  struct ibv_recv_wr **bad);
void tcp_qp_ex_init(struct tcp_qp *qp, uint64_t send_ops_flags);
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
/* qp_net.c: congestion control and traffic class of a QP's socket */
void tcp_qp_sock_net(struct tcp_qp *qp, int fd); /* qp->lock held */
int tcp_qp_set_cc(struct tcp_qp *qp, const char *name);
int tcp_qp_get_cc(struct tcp_qp *qp, char out[16]);
int tcp_qpn_alloc(struct tcp_qp *qp);
void tcp_qpn_free(struct tcp_qp *qp);

/*
 * The transport, as the verbs files and the engine call it (its own inner
 * interface and file list: transport.h). Caller holds qp->lock.
 */
/* qp_tx.c, qp_rx.c: send what waits; read and place what arrived */
void tcp_qp_tx(struct tcp_qp *qp);
void tcp_qp_rx(struct tcp_qp *qp);
/* ...and send what is held back, before the application's move to ERR
 * or destroy (qp_rx.c) */
void tcp_qp_settle(struct tcp_qp *qp);
/* qp_conn.c: the connection up, broken, closed */
void tcp_qp_conn_ready(struct tcp_qp *qp);
void tcp_qp_fail_conn(struct tcp_qp *qp);
void tcp_qp_close_conn(struct tcp_qp *qp);
/* qp_flush.c: completions of failed and flushed work */
/* Moves the QP to ERR, flushing queues. */
void tcp_qp_to_error(struct tcp_qp *qp, enum ibv_event_type ev);
/* Pushes a flushed (or failed) completion for a work request. */
void tcp_flush_wc(struct tcp_cq *cq, struct tcp_qp *qp, uint64_t wr_id,
		  enum ibv_wc_opcode op, enum ibv_wc_status st);
/* Completes UC sends that can no longer go anywhere. */
void tcp_uc_drain(struct tcp_qp *qp);
/* qp_timers.c: deadlines, and whether the peer is still there */
uint64_t tcp_now_ns(void);
void tcp_qp_timers(struct tcp_qp *qp, uint64_t now);
void tcp_qp_liveness(struct tcp_qp *qp, uint64_t now);
/* work posted to an RC QP that has not heard its peer yet */
void tcp_qp_unheard_arm(struct tcp_qp *qp);
void tcp_qp_dead_peer_cancel(struct tcp_qp *qp);
void tcp_qp_live_arm_slow(struct tcp_qp *qp);
/*
 * Requests are outstanding (after a post; caller holds qp->lock): the
 * engine watches the RC QP's peer until they are all done. timeout 0
 * waits forever, as on a NIC.
 */
static inline void tcp_qp_live_arm(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	if (!qp->conn.live_armed && qp->type == IBV_QPT_RC &&
	    qp->attr.timeout && qp->sq.done != qp->sq.head)
		tcp_qp_live_arm_slow(qp);
}

/* qp_idle.c: the traffic buffers, taken on first use, dropped when idle */
bool tcp_qp_tx_bufs(struct tcp_qp *qp);
bool tcp_qp_rx_buf(struct tcp_qp *qp);
void tcp_qp_bufs_free(struct tcp_qp *qp);
extern const struct tcp_engine_hooks tcp_idle_hooks;

/* progress.c: receive-side hand-over between the application and engine */
bool tcp_qp_app_pass(struct tcp_qp *qp, struct tcp_cq *cq);
bool tcp_qp_app_requester(const struct tcp_qp *qp, const struct tcp_cq *cq);
bool tcp_qp_app_call(struct tcp_qp *qp);
void tcp_qp_engine_rx(struct tcp_qp *qp);
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
	return (qp->resp.credits_sent - qp->rq.tail) * 2 <
	       qp->rq.posted_total - qp->rq.tail;
}
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
void tcp_qp_yield_slow(struct tcp_qp *qp); /* engine.c */
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
	return qp->prog.tx_deferred && qp->sq.tx == qp->sq.head &&
	       !qp->resp.head && qp->tx.iov_i == qp->tx.iov_n;
}
/*
 * Must a poll of the QP's CQs serve it whatever its socket says? WRs, an
 * ack or responses held back; output waiting for socket room while the
 * application drives the socket (the engine does not watch for it then);
 * a frame waiting for a receive of the SRQ; a UD QP (its socket is not on
 * a CQ's ready set) or one a ready set refused. Caller holds qp->lock.
 */
static inline bool tcp_qp_poll_needed(const struct tcp_qp *qp)
{
	return qp->type == IBV_QPT_UD || qp->conn.cq_unready ||
	       qp->prog.tx_deferred || qp->resp.want_ack || qp->resp.head ||
	       qp->rx.phase == RX_STALL ||
	       (qp->conn.epollout && qp->prog.rx_app_driven);
}

/* Puts the QP on its CQs' due lists (cq_progress.c); qp->lock held. */
void tcp_qp_announce(struct tcp_qp *qp);

/*
 * Releases qp->lock. A QP that tcp_qp_poll_needed says a poll must serve
 * first puts itself on its CQs' due lists (cq->due): a CQ with a ready set
 * looks only at readable sockets and at those. Every release of qp->lock
 * goes through it, so no such state is left unannounced. Not for a
 * destroyed QP: its CQs may be gone.
 */
#define tcp_qp_unlock(qp)                                \
	do {                                             \
		struct tcp_qp *q_ = (qp);                \
		if (!q_->dead && tcp_qp_poll_needed(q_)) \
			tcp_qp_announce(q_);             \
		tcp_mutex_unlock_qp(&q_->lock);          \
	} while (0)

/*
 * Sends what is held back or was stopped for input (tx_yields) as far as
 * the socket takes it, without stopping for input: before a close and at
 * exit, where nobody would send the rest. Caller holds qp->lock.
 */
static inline void tcp_qp_tx_all(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	if (!qp->prog.tx_deferred && !qp->conn.epollout)
		return;
	qp->tx.no_yield = true;
	tcp_qp_tx(qp);
	qp->tx.no_yield = false;
}

/* Sends WRs held back by batching, if any; caller holds qp->lock. */
static inline void tcp_qp_flush(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	if (qp->prog.tx_deferred)
		tcp_qp_tx(qp);
}

#endif
