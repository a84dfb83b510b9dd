/* SPDX-License-Identifier: MIT */
/*
 * The soak test's shared state (tests/soak/soak.c drives it, soak_check.c
 * verifies bytes, soak_ctl.c is the TCP control channel).
 */
#ifndef SOAK_H
#define SOAK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <infiniband/verbs.h>

#define CAN	64   /* canary bytes before/after every target range */
#define GAP	64   /* canary bytes between the pieces of a multi-SGE buffer */
#define TAILWIN 4096 /* receive-buffer tail checked after each message */
#define RXEXTRA 4096 /* receive buffers are up to this much larger than -M */
#define MAXSGE	3
#define WMAX	16 /* send window per QP (also max_rd_atomic) */
#define SRQ_QPS 8  /* QPs sharing one SRQ */

enum kind {
	K_SEND,
	K_SEND_IMM,
	K_WRITE_IMM,
	K_WRITE,
	K_READBACK,
	K_READ,
	K_FA,
	K_CS,
	K_CREDIT,
	K_FINAL_REGION,
	K_FINAL_ATOM,
	K_TAIL, /* a signaled 0-byte WRITE after an unsignaled WR */
	K_NKINDS
};

/* One outstanding send-queue work request. */
struct swr {
	uint32_t seq;
	uint8_t kind;
	bool unsig;	 /* posted without IBV_SEND_SIGNALED */
	uint32_t len;	 /* message / read length */
	uint64_t off;	 /* pattern offset (static READ: in P) */
	uint64_t expect; /* atomics: the old value the responder returns */
	uint32_t slot;	 /* atomics: result slot */
	uint32_t nsge;
	struct ibv_sge sge[MAXSGE]; /* READ: where the data lands */
	struct timespec posted;
};

/* One entry of a region's write history (see soak_check.c). */
struct hist {
	uint32_t len;
	uint64_t off;
};

struct sqp {
	struct ibv_qp *qp;
	int idx;
	int srq; /* -1: own receive queue */
	bool dead;
	/* requester */
	uint32_t next_seq;
	struct swr ring[WMAX];
	unsigned head, n;
	uint64_t k_sent;   /* receive-consuming messages posted */
	int region_busy;   /* 0, K_WRITE (until read back), K_WRITE_IMM */
	uint64_t region_k; /* the WRITE_IMM's message number */
	struct hist *h;
	unsigned hn, hcap;
	bool landing_busy;
	uint64_t fa_val, cs_val; /* the peer's counters as they must be */
	unsigned atom_slot;
	int final_stage; /* 0 none, 1 region read, 2 atom read, 3 done */
	bool credit_out;
	/* responder side */
	uint64_t k_recv; /* receive-consuming messages received */
	uint64_t credit_given, credit_sent;
	uint32_t rq_ring[64]; /* own RQ: buffers in posting order */
	unsigned rq_head, rq_n;
	uint64_t peer_sent; /* from the peer's DONE */
	bool peer_dead;
	unsigned share; /* receive credit this QP may use */
};

struct rbuf {
	size_t off; /* in the big buffer */
	uint32_t cap[MAXSGE];
	unsigned npieces;
	int owner; /* QP index (own RQ) or SRQ index */
	bool srq, posted;
};

struct layout {
	size_t p, plen;	    /* the pattern, the same bytes in both processes */
	size_t reg, reg_sz; /* per QP: the peer writes here */
	size_t atom;	    /* per QP: 64 B, counters at 16 and 24 */
	size_t cred;	    /* per QP: 64 B, credit word at 16 */
	size_t cred_src;    /* per QP: 8 B */
	size_t res;	    /* per QP WMAX slots of 24 B, result at 8 */
	size_t land, land_sz; /* per QP: READ landing */
	size_t rbuf, rbuf_sz;
	size_t total;
};

struct stats {
	uint64_t posted, ops, bytes, scomp, rcomp, errors, corrupt, lost, dup,
		bad;
};

enum phase { RUN, DRAIN, WAIT_PEER, FINAL, FIN_WAIT, END };

/* What the control thread and the worker threads share. */
struct shared {
	atomic_int phase;
	atomic_uint idle;     /* workers whose windows drained */
	atomic_uint finished; /* workers done with the final reads */
	struct soak **w;
	unsigned nw;
};

/* The end-of-run counts one side sends the other, per QP. */
struct done {
	uint64_t sent;
	uint32_t dead, pad;
};

/*
 * One per worker thread (a copy of the process's, with its own QP range,
 * CQs, counters and random state; the buffer, QPs and SRQs are shared but
 * each QP and receive buffer is used by one thread only), and the
 * process's own.
 */
struct soak {
	/* parameters */
	int role; /* 0 server, 1 client */
	unsigned q;
	uint32_t max;
	unsigned secs;
	uint64_t seed;
	unsigned share;
	unsigned over; /* -R: messages beyond the receives posted */
	unsigned wd_secs;
	int gidx;
	const char *dev;
	bool inject;	   /* -X */
	unsigned pause_ms; /* -P */
	bool all_signaled; /* -A */
	bool nobarrier;	   /* -B */
	/* verbs */
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	unsigned threads;
	struct ibv_cq **scqs, **rcqs; /* per thread */
	struct ibv_cq *scq, *rcq;     /* this thread's */
	unsigned q0, q1;	      /* this thread's QPs */
	struct shared *g;
	bool idle_done, fin_done;
	pthread_t th;
	struct ibv_srq **srqs;
	unsigned nsrq;
	struct ibv_mr *mr;
	uint8_t *buf;
	struct layout L;
	uint32_t max_inline;
	uint64_t peer_base;
	uint32_t peer_rkey;
	struct sqp *qps;
	struct rbuf *rb;
	unsigned nrb;
	uint8_t can[4096]; /* canary byte at offset x: can[x & 4095] */
	uint8_t *scratch;
	uint64_t rng;
	/* run */
	int ctl;
	struct stats st;
	struct timespec last_progress;
	atomic_long heartbeat; /* seconds, for the watchdog thread */
	unsigned reports;      /* detailed violation lines printed */
	int phase;
};

#define REPORT_MAX 40

/* soak_check.c */
uint64_t mix64(uint64_t x);
uint64_t h3(uint64_t a, uint64_t b, uint64_t c);
uint32_t pick_len(uint64_t r, uint32_t max);
void layout_init(struct soak *s);
void fill_canary(struct soak *s, size_t off, size_t n);
size_t check_canary(struct soak *s, const uint8_t *p, size_t off, size_t n);
size_t check_pattern(struct soak *s, const uint8_t *p, uint64_t poff, size_t n);
void hist_push(struct sqp *q, uint32_t len, uint64_t off);
size_t check_region(struct soak *s, struct sqp *q, const uint8_t *got,
		    size_t from, size_t n);
/* where the last check_* found its first wrong byte */
extern _Thread_local const uint8_t *diff_ptr;
extern _Thread_local uint8_t diff_got, diff_want;
void violation(struct soak *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A receive-consuming message: what both sides derive for number k. */
struct msg {
	int kind;
	uint32_t len;
	uint64_t off;
	uint32_t imm;
};

/* soak_send.c */
void msg_params(struct soak *s, int role, unsigned q, uint64_t k,
		struct msg *m);
uint64_t credit_word(struct soak *s, struct sqp *q);
void post_credit(struct soak *s, struct sqp *q);
void post_final(struct soak *s, struct sqp *q);
void post_tail(struct soak *s, struct sqp *q);
void issue(struct soak *s, struct sqp *q);

/* soak_comp.c */
int post_recv(struct soak *s, unsigned bi);
void on_send_wc(struct soak *s, struct ibv_wc *wc);
void on_recv_wc(struct soak *s, struct ibv_wc *wc);
size_t rbuf_check(struct soak *s, struct rbuf *b, uint32_t len, uint64_t poff,
		  bool full);
const char *kind_name(int kind);

/* soak.c */
void die(const char *what);
double now(void);

static inline unsigned thread_of(struct soak *s, unsigned qp)
{
	unsigned g = 0;

	while (qp >= (g + 1) * s->q / s->threads)
		g++;
	return g;
}

/* soak_run.c */
void start_watchdog(struct soak *s);
int run(struct soak *s);

/* soak_ctl.c */
int ctl_listen(const char *addr, int port);
int ctl_accept(int lfd, int secs);
int ctl_connect(const char *host, int port, int secs);
int ctl_write(int fd, const void *p, size_t n);
int ctl_read(int fd, void *p, size_t n);
bool ctl_readable(int fd);

#endif
