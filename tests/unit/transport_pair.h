/* SPDX-License-Identifier: MIT */
/*
 * Two RC QPs of the provider connected back to back, for unit tests of the
 * transport (qp_tx.c, qp_rx.c, rx_ops.c) with no engine thread.
 *
 * Each end is a context of its own (key table, async event pipe, and an
 * engine that is never started: its epoll set and eventfd exist, so the
 * transport may register its socket and take timer references), a PD, a
 * CQ, registered memory and a QP built as tcp_create_qp_ex builds one,
 * moved to RTS by hand (modify_qp to RTR would start the rendezvous).
 *
 * A's and B's sockets are not connected to each other: each QP has one
 * end of an AF_UNIX stream socketpair and the test holds the other, so
 * every byte between them passes through the test (tpair_take /
 * tpair_give), which can read frames off the wire, hold them back or feed
 * them one byte at a time. A tap decodes every frame that passes.
 * AF_UNIX rather than loopback TCP because a byte sent there is readable
 * when send() returns, so "nothing moved" means quiet; on TCP the
 * loopback's softirq may still hold it. (The price: recv(MSG_TRUNC)
 * discards only on TCP, see test_transport.c.)
 *
 * Driving is single-threaded and by hand: tpair_serve does what the
 * engine thread does for a QP (its timer pass while a timer reference is
 * held, socket events through tcp_qp_ready, work held back for
 * batching); tpair_pump relays and serves both ends until nothing
 * moves.
 */
#ifndef RDMA_TCP_TEST_TRANSPORT_PAIR_H
#define RDMA_TCP_TEST_TRANSPORT_PAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport.h"

/*
 * Each end's memory: [0, RW) every right, [RW, RW + RO) no remote write,
 * [OTHER, OTHER + RW) every right but in another PD, a guard, then
 * [BIG, BIG + BIG_LEN) every right: more than a socketpair holds.
 */
#define TNODE_RW      4096
#define TNODE_RO      2048
#define TNODE_OTHER   8192
#define TNODE_BIG     16384
#define TNODE_BIG_LEN (1 << 20)
#define TNODE_MEM     (TNODE_BIG + TNODE_BIG_LEN)

/* The frames a tap saw. */
#define TAP_LOG 512

/* Decodes the frames of one direction as they pass. */
struct tap {
	bool sec; /* secured frames: chunks carry tags */
	uint8_t hb[RTCP_HDR_LEN];
	unsigned int got; /* header bytes collected */
	uint64_t left;	  /* payload bytes still to skip */
	uint64_t pos;	  /* stream offset, as sseq counts it */
	struct rtcp_hdr log[TAP_LOG];
	unsigned int n;	  /* frames seen (log holds the first TAP_LOG) */
	unsigned int bad; /* frames rtcp_hdr_validate refused */
	/* groups seen (psp.h; not in log, their frames are), and the bytes
	 * of the one passing still to come, its tag not counted */
	unsigned int groups;
	uint64_t grp_left;
};

/*
 * The frames of opcode @op a tap saw, for one message of @len bytes cut
 * into frames: each at its offset, flagged RTCP_F_MORE but the last. How
 * many, or 0 if they break a rule or do not add up.
 */
unsigned int tap_cut_frames(const struct tap *t, uint8_t op, uint64_t len);

struct tnode {
	struct tcp_context *ctx;
	struct ibv_pd *pd, *pd2;
	struct ibv_cq *cq;
	struct ibv_srq *srq; /* with tqp_opts.srq */
	struct tcp_qp *qp;
	uint8_t *mem;
	struct ibv_mr *mr, *ro, *other, *big;
	int fd;	  /* the test's end of the QP's socketpair */
	bool eof; /* the QP shut its socket down: passed on to the peer */
};

/* What the QP is given at creation and modify time. */
struct tqp_opts {
	uint32_t max_rd_atomic;	     /* ORD */
	uint32_t max_dest_rd_atomic; /* IRD */
	unsigned int access;	     /* qp_access_flags */
	bool srq;		     /* receives from an SRQ (tnode.srq) */
	bool uc;		     /* a UC QP (RC otherwise) */
};

/* Bytes taken from one QP that the other's socket had no room for yet. */
struct relay_buf {
	uint8_t data[65536];
	size_t off, len;
};

struct tpair {
	struct tnode a, b;
	struct tap ab, ba; /* A to B, B to A */
	struct relay_buf rab, rba;
	/* READs and atomics sent by A whose response has not passed the
	 * tap yet, and the most there ever were */
	int rd_out, rd_max;
};

/*
 * The connections' security for the pairs opened from now on: with auth
 * or encrypt, each direction gets an SA as the handshake would set it up
 * (A's tx is B's rx[0], B's tx A's rx[0]).
 */
extern enum tcp_psp_mode tpair_mode;
/* The keys and SPIs tpair_open gives A to B and B to A. */
extern const uint8_t tpair_key_ab[16], tpair_key_ba[16];
#define TPAIR_SPI_AB 0x1234abcdu
#define TPAIR_SPI_BA 0x0badf00du

/* Bytes a frame with @len payload bytes takes on the wire in tpair_mode. */
static inline size_t tframe(uint32_t len)
{
	return tpair_mode == TCP_PSP_OFF ? RTCP_HDR_LEN + (size_t)len
					 : tcp_psp_frame_bytes(len);
}

/* Sets up both ends with the options (NULL: defaults); 0 or an errno. */
int tpair_open(struct tpair *p, const struct tqp_opts *a,
	       const struct tqp_opts *b);
void tpair_close(struct tpair *p);
/*
 * A alone, connected to itself (the same SA both ways): what it sends
 * comes back to it through the test (tpair_take, then tpair_give to A).
 */
int tpair_open_self(struct tpair *p);

/* Registers memory the test allocated (every right, n's PD); the test
 * deregisters it (tnode_dereg) before tpair_close. */
struct ibv_mr *tnode_reg(struct tnode *n, void *addr, size_t len);
void tnode_dereg(struct ibv_mr *mr);

/* What n's QP has sent so far (at most max bytes), through its tap. */
size_t tpair_take(struct tpair *p, struct tnode *n, uint8_t *buf, size_t max);
/* Hands bytes to n's QP, as if its peer had sent them. */
void tpair_give(struct tpair *p, struct tnode *n, const uint8_t *buf,
		size_t len);
/* Moves what n's QP sent to its peer, as far as the peer's socket takes
 * it; returns the byte count. */
size_t tpair_relay(struct tpair *p, struct tnode *from);
/*
 * What the engine does for n's QP now: socket events, held-back work, and
 * its timer pass while the context holds a timer reference. True if it
 * had anything to do.
 */
bool tpair_serve(struct tnode *n);
/* Everything n's QP sends until it stops (its socket fills and drains),
 * at most max bytes. */
size_t tpair_take_all(struct tpair *p, struct tnode *n, uint8_t *buf,
		      size_t max);
/* Hands bytes to n's QP as its socket takes them, serving it meanwhile,
 * until it reads no more. */
void tnode_feed(struct tnode *n, const uint8_t *buf, size_t len);
/* Relays and serves both ends until nothing moves; false if it never
 * settled. */
bool tpair_pump(struct tpair *p);

/* Completions in n's CQ (at most max). */
int tnode_poll(struct tnode *n, struct ibv_wc *wc, int max);
/* The next async event of n's context; false if none is queued. */
bool tnode_async(struct tnode *n, uint32_t *type, uint64_t *element);

/* Posts one WR (a NULL laddr posts no SGE); returns ibv_post_send's. */
int tnode_post(struct tnode *n, enum ibv_wr_opcode op, uint64_t wr_id,
	       void *laddr, uint32_t len, struct ibv_mr *rmr, uint64_t raddr,
	       unsigned int flags);
int tnode_atomic(struct tnode *n, enum ibv_wr_opcode op, uint64_t wr_id,
		 void *laddr, struct ibv_mr *rmr, uint64_t raddr,
		 uint64_t compare_add, uint64_t swap);
/* Posts a receive to n's QP, or to its SRQ if it has one. */
int tnode_recv(struct tnode *n, uint64_t wr_id, void *addr, uint32_t len);

#endif
