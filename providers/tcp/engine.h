/* SPDX-License-Identifier: MIT */
/*
 * The per-context progress engine: one thread that sleeps in epoll_wait on
 * the context's listeners, half-open connections and QP sockets, so that
 * one-sided operations land while the application is busy elsewhere.
 * Application threads also drive their own QP's socket under the QP lock
 * (post_send transmits directly), so the engine is off the fast path of
 * two-sided traffic.
 */
#ifndef RDMA_TCP_ENGINE_H
#define RDMA_TCP_ENGINE_H

#include <sys/socket.h>

#include "tcp.h"

enum tcp_poll_kind {
	POLL_WAKE,
	POLL_LISTENER,
	POLL_PENDING,
	POLL_QP,
	POLL_NETLINK,
	POLL_CLOSING
};

struct tcp_pollable {
	enum tcp_poll_kind kind;
};

struct tcp_qp;
struct tcp_qp_poll {
	struct tcp_pollable p;
	struct tcp_qp *qp;
};

#define TCP_QPS_PER_LISTENER 256
/* a listener's port is open on at most this many of the netdev's addresses
 * (as many as the GID table holds) */
#define TCP_LISTEN_ADDRS TCP_GID_TBL_LEN
/*
 * Accepted connections whose hello is not complete yet, per listener. A
 * peer sends its hello as soon as its engine sees the connection up, so
 * only idle or hostile connections stay so for long: past the cap the
 * oldest is closed. A peer bringing up all the listener's QPs at once has
 * one such connection per QP (its engine writes the hellos one after the
 * other): with a cap of 64, QPs past the 64th of a burst lost theirs.
 */
#define TCP_PENDING_MAX TCP_QPS_PER_LISTENER
/*
 * Connections whose hello names a QP of the listener that has not reached
 * RTR yet: legitimate while the application brings its QPs up (one per QP,
 * TCP_QPS_PER_LISTENER at most) -- past twice that, the oldest is closed.
 */
#define TCP_PENDING_HELLO_MAX (2 * TCP_QPS_PER_LISTENER)
/* a connection whose hello is not complete this long after accept closes */
#define TCP_HELLO_TIMEOUT_NS 5000000000ull
/* accept() out of fds or memory: the listener rests this long, not spins */
#define TCP_ACCEPT_BACKOFF_NS 100000000ull
/* rests in a row after which a listener still out of fds refuses its
 * backlog (accept into the spare fd, close) rather than leave its peers
 * waiting for ever: about TCP_DEAD_PEER_MAX_NS */
#define TCP_ACCEPT_RESTS 10
/* connections accepted per readiness event, so that QPs get their turn */
#define TCP_ACCEPT_BATCH 32

struct tcp_listener;
/* The listener's port on one of the netdev's addresses (listen.c). */
struct tcp_lsock {
	struct tcp_pollable p; /* POLL_LISTENER */
	struct tcp_listener *l;
	int fd;		    /* -1: a free entry */
	bool watched;	    /* in the epoll set (not while accept backs off) */
	unsigned int rests; /* back-offs since accept last succeeded */
	struct tcp_addr addr;
};

struct tcp_listener {
	/* bound to the wildcard address, never listening: holds the port on
	 * every address for the sockets below (listen.c) */
	int resv_fd;
	uint16_t port;
	uint32_t nused;
	uint32_t npending; /* its connections on the pending list */
	struct tcp_lsock socks[TCP_LISTEN_ADDRS];
	struct tcp_qp *slots[TCP_QPS_PER_LISTENER];
};

/* An accepted connection whose hello has not been matched to a QP yet. */
struct tcp_pending {
	struct tcp_pollable p;
	int fd;
	bool gone; /* unlinked: freed by the engine once no event can name it */
	uint64_t dead_epoch;
	uint8_t buf[32];
	uint32_t got;
	bool complete;
	struct tcp_listener *l; /* accepted by (counts in its npending) */
	uint64_t accepted_ns;
	struct tcp_pending *next;
};

/* A QP socket being closed gracefully (see tcp_engine_linger). */
struct tcp_closing {
	struct tcp_pollable p;
	int fd;
	uint64_t deadline_ns;
	struct tcp_closing *next;
};

struct tcp_engine {
	pthread_t thread;
	bool running;
	int epfd;
	int wakefd;
	struct tcp_pollable wake;
	atomic_bool stop;
	/* the list of running engines flushed at exit (engine.c) */
	struct tcp_context *ctx;
	pid_t pid; /* the process that started it */
	struct tcp_engine *live_next;
	atomic_uint_fast64_t epoch;
	atomic_int stalled;  /* timer users (RNR waits, modes): tick */
	atomic_bool tx_kick; /* some QP holds back WRs: flush them */
	/* QPs whose peer is watched (qp_liveness.c), and the next pass */
	atomic_int live_qps;
	uint64_t live_at;
	/* this timer pass is a tick: 1 ms since the last (engine thread) */
	bool tick;
	uint64_t tick_at;
	uint64_t spin_ns;	   /* busy-poll budget (engine_wait) */
	uint64_t spin_max_ns;	   /* its ceiling: RDMA_TCP_ENGINE_SPIN_US */
	struct tcp_listener **lis; /* under ctx->lock */
	int nlis;
	struct tcp_pending *pending;	   /* under ctx->lock, newest first */
	struct tcp_pending *pending_grave; /* under ctx->lock */
	struct tcp_qp *grave; /* destroyed QPs awaiting free, ctx->lock */
	tcp_mutex_t closing_lock;
	struct tcp_closing *closing;
	/* the next connection timer (tcp_conn_timers), engine thread only */
	uint64_t conn_timer_at;
	uint64_t accept_resume_at; /* listeners resting after EMFILE & co */
	int spare_fd; /* given up to accept a connection only to refuse it */
	/* port events (port_events.c) */
	struct tcp_pollable nl;
	int nlfd;
	int ifindex;
	int port_up;
};

/* the engine's period while something needs timers (see stalled) */
#define TCP_TICK_NS 1000000ull
/* the period of the dead-peer pass while QPs are watched */
#define TCP_LIVE_PERIOD_NS 125000000ull
/* bounds of the engine's busy-polling after serving sockets; the
 * ceiling is RDMA_TCP_ENGINE_SPIN_US microseconds when set (0: never) */
#define TCP_SPIN_MAX_NS 50000ull
#define TCP_SPIN_MIN_NS 5000ull
#define TCP_SPIN_ENV	"RDMA_TCP_ENGINE_SPIN_US"
/* ...after a wake-up that touched no message, read or send over this */
#define TCP_SPIN_BYTES 16384
/* passes in a row the engine's timers skip a QP whose lock is taken */
#define TCP_TIMER_SKIPS 8
/* how long an application thread lets the engine take a QP lock it asked
 * for before taking the lock anyway (tcp_qp_yield) */
#define TCP_YIELD_NS 50000ull

int tcp_engine_start(struct tcp_context *ctx); /* caller holds ctx->lock */
void tcp_engine_stop(struct tcp_context *ctx);
void tcp_engine_wake(struct tcp_context *ctx);
/*
 * Timer references: something now needs the engine's periodic pass (an RNR
 * wait, a stalled receive, a lingering close, a dead-peer deadline) and
 * holds a reference until it does not. The engine sleeps in epoll_wait with
 * no timeout while no reference is held, so the first one wakes it. Every
 * user takes and drops its reference through these two calls only.
 */
static inline void tcp_engine_timer_get(struct tcp_context *ctx)
{
	if (atomic_fetch_add(&ctx->engine->stalled, 1) == 0)
		tcp_engine_wake(ctx);
}
static inline void tcp_engine_timer_put(struct tcp_context *ctx)
{
	atomic_fetch_sub(&ctx->engine->stalled, 1);
}
/*
 * A QP holds back WRs for batching (caller holds qp->lock): the engine
 * sends them if the application does not first (poll_cq, another post).
 */
void tcp_engine_defer_tx(struct tcp_qp *qp);
int tcp_engine_watch(struct tcp_context *ctx, int fd, struct tcp_pollable *p,
		     uint32_t events);
int tcp_engine_rewatch(struct tcp_context *ctx, int fd, struct tcp_pollable *p,
		       uint32_t events);
void tcp_engine_unwatch(struct tcp_context *ctx, int fd);
void tcp_engine_bury(struct tcp_context *ctx, struct tcp_qp *qp);
/* Closes a half-closed QP socket once the peer has closed too. */
void tcp_engine_linger(struct tcp_context *ctx, int fd);
void tcp_progress_cq(struct tcp_cq *cq);
void tcp_engine_takes_rx(struct tcp_cq *cq);
/* port_events.c */
int tcp_port_events_open(struct tcp_context *ctx);
void tcp_port_events_rx(struct tcp_context *ctx);
/* conn.c: engine callbacks */
void tcp_conn_accept(struct tcp_context *ctx, struct tcp_lsock *s);
void tcp_conn_pending_rx(struct tcp_context *ctx, struct tcp_pending *pc);
void tcp_conn_match_pending(struct tcp_context *ctx); /* ctx->lock held */
void tcp_conn_drop_pending(struct tcp_context *ctx, uint32_t qpn);
/* A QP of the context not destroyed yet, or NULL (ctx->lock held). */
struct tcp_qp *tcp_conn_live_qp(struct tcp_context *ctx);
/* closes overdue hellos, wakes resting listeners; returns the next
 * deadline (0: none); engine thread */
uint64_t tcp_conn_timers(struct tcp_context *ctx, uint64_t now);
/* conn.c: a GID's socket address (scope: for a link-local IPv6 GID) */
union ibv_gid;
struct sockaddr_storage;
socklen_t tcp_gid_sockaddr(const union ibv_gid *g, uint16_t port,
			   uint32_t scope, struct sockaddr_storage *ss);
/* listen.c: a listener's sockets (caller holds ctx->lock) */
int tcp_listen_open(struct tcp_context *ctx, struct tcp_listener *l);
void tcp_listen_close(struct tcp_context *ctx, struct tcp_listener *l);
/* the netdev's addresses changed: open and close sockets to match */
void tcp_listen_sync(struct tcp_context *ctx);
/* accept() failed for want of fds or memory: rest the socket */
void tcp_listen_rest(struct tcp_context *ctx, struct tcp_lsock *s);
void tcp_listen_resume(struct tcp_context *ctx); /* all resting sockets */

#endif
