/* SPDX-License-Identifier: MIT */
/*
 * The per-context progress engine: one thread that sleeps in epoll_wait on
 * the fds the context's files register with it (listeners, half-open
 * connections, QP sockets, rtnetlink) and calls back the file that serves
 * each, so that one-sided operations land while the application is busy
 * elsewhere. It knows nothing of what it serves: watches carry their
 * callbacks (struct tcp_watch_ops), periodic work is hooked in at start
 * (struct tcp_engine_hooks). Application threads also drive their own
 * QP's socket under the QP lock (post_send transmits directly), so the
 * engine is off the fast path of two-sided traffic.
 */
#ifndef RDMA_TCP_ENGINE_H
#define RDMA_TCP_ENGINE_H

#include <sys/socket.h>

#include "tcp.h"

/*
 * What the engine watches: an fd registered with tcp_engine_watch, and the
 * callbacks of the file that serves it. The engine calls ready() for each
 * event and never looks inside.
 */
struct tcp_watch;
struct tcp_watch_ops {
	/* events on the watched fd (engine thread); returns TCP_READY_* */
	unsigned int (*ready)(struct tcp_context *ctx, struct tcp_watch *w,
			      uint32_t events);
	/* buried (tcp_engine_bury), and no event of a batch names it now;
	 * only what is buried needs one */
	void (*free)(struct tcp_watch *w);
};
/* what ready() did, for the engine's spin policy (engine_wait) */
#define TCP_READY_IO	1u /* served a socket's traffic */
#define TCP_READY_LARGE 2u /* ...with a frame, read or send > TCP_SPIN_BYTES */

struct tcp_watch {
	const struct tcp_watch_ops *ops;
	uint64_t dead_epoch; /* the engine's epoch when buried */
	struct tcp_watch *grave_next;
};

/*
 * The periodic work of what the engine serves: each table is given to
 * tcp_engine_start and every member may be NULL. All run on the engine
 * thread except start and stop (the thread is not running yet, or any
 * more) and flush with at_exit (the exiting thread: take no lock that may
 * be held, wait for nothing).
 */
struct tcp_engine_hooks {
	/* in the order given; an error (errno) fails tcp_engine_start */
	int (*start)(struct tcp_context *ctx);
	/* in reverse order; also when start failed or did not run */
	void (*stop)(struct tcp_context *ctx);
	/* every wake-up while a timer reference is held (tick set: a
	 * TCP_TICK_NS tick is due as well) */
	void (*timers)(struct tcp_context *ctx, uint64_t now);
	/* every TCP_LIVE_PERIOD_NS while live_qps is not 0 */
	void (*liveness)(struct tcp_context *ctx, uint64_t now);
	/* held-back work, after the kick grace (tcp_engine_kick) */
	void (*flush)(struct tcp_context *ctx, bool at_exit);
	/* deadline_at has passed: returns the next deadline (0: none) */
	uint64_t (*deadlines)(struct tcp_context *ctx, uint64_t now);
};

/* A QP socket being closed gracefully (see tcp_engine_linger). */
struct tcp_closing {
	struct tcp_watch p;
	int fd;
	uint64_t deadline_ns;
	struct tcp_closing *next;
};

struct tcp_engine {
	pthread_t thread;
	bool running;
	int epfd;
	int wakefd;
	struct tcp_watch wake;
	atomic_bool stop;
	/* what it serves: NULL-terminated (tcp_engine_start) */
	const struct tcp_engine_hooks *const *hooks;
	/* the list of running engines flushed at exit (engine.c) */
	struct tcp_context *ctx;
	pid_t pid; /* the process that started it */
	struct tcp_engine *live_next;
	atomic_uint_fast64_t epoch;
	atomic_int stalled; /* timer users (RNR waits, ...): the tick */
	/* coarse ones, the application's reads of its sockets: a tick of
	 * TCP_COARSE_TICK_NS (see tcp_engine_coarse_get) */
	atomic_int coarse;
	atomic_bool tx_kick; /* held-back work: flush it (tcp_engine_kick) */
	/* QPs whose peer is watched (qp_timers.c), and the next pass */
	atomic_int live_qps;
	uint64_t live_at;
	/* this timer pass is a tick: 1 ms since the last, or
	 * TCP_COARSE_TICK_NS while only coarse references are held (engine
	 * thread) */
	bool tick;
	uint64_t tick_at;
	/* the applications' lease (tcp_engine_lease_renew): a timerfd, and
	 * when it runs out; lease_due: this timer pass is its end (engine
	 * thread) */
	int lease_fd;
	struct tcp_watch lease;
	atomic_uint_fast64_t lease_until;
	atomic_uint lease_seen; /* QPs of the mode that looked during it */
	bool lease_due;
	uint64_t spin_ns;     /* busy-poll budget (engine_wait) */
	uint64_t spin_max_ns; /* its ceiling: RDMA_TCP_ENGINE_SPIN_US */
	/* /proc/loadavg (-1: none) and the online CPUs: the engine spins
	 * only while a CPU would otherwise be idle (cpu_idle) */
	int loadfd;
	unsigned int ncpu;
	uint64_t gate_at; /* when cpu_idle last read it, and what it found */
	bool gate_open;
	struct tcp_watch *grave; /* buried watches awaiting free, ctx->lock */
	tcp_mutex_t closing_lock;
	struct tcp_closing *closing;
	/* the hooks' next deadline (tcp_engine_deadline), engine thread */
	uint64_t deadline_at;
};

/* the engine's period while something needs timers (see stalled) */
#define TCP_TICK_NS 1000000ull
/* ...while only coarse references are held (see coarse) */
#define TCP_COARSE_TICK_NS 8000000ull
/* an application's lease: the engine looks once it has run out */
#define TCP_LEASE_NS 1000000ull
/* the period of the dead-peer pass while QPs are watched */
#define TCP_LIVE_PERIOD_NS 125000000ull
/* bounds of the engine's busy-polling after serving sockets; the
 * ceiling is RDMA_TCP_ENGINE_SPIN_US microseconds when set (0: never) */
#define TCP_SPIN_MAX_NS 50000ull
#define TCP_SPIN_MIN_NS 5000ull
#define TCP_SPIN_ENV	"RDMA_TCP_ENGINE_SPIN_US"
/* how long the spin gate's look stays good (cpu_idle) */
#define TCP_SPIN_CHECK_NS 20000ull
/* ...after a wake-up that touched no message, read or send over this */
#define TCP_SPIN_BYTES 16384

/* Starts the engine serving what hooks names (NULL-terminated, static);
 * caller holds ctx->lock. */
int tcp_engine_start(struct tcp_context *ctx,
		     const struct tcp_engine_hooks *const *hooks);
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
 * Coarse timer references: what needs a look now and then, not every
 * millisecond -- with only these held the engine ticks every
 * TCP_COARSE_TICK_NS. Each tick wakes the engine, and while an application
 * spins on the CPU the engine shares with it, every wake-up preempts it:
 * at 1 ms, one round trip in ~55 of ib_write_lat met a tick (its p99,
 * docs/performance.md). What must notice at once that an application
 * stopped calling renews a lease instead (tcp_engine_lease_renew).
 */
static inline void tcp_engine_coarse_get(struct tcp_context *ctx)
{
	if (atomic_fetch_add(&ctx->engine->coarse, 1) == 0 &&
	    !atomic_load(&ctx->engine->stalled))
		tcp_engine_wake(ctx);
}
static inline void tcp_engine_coarse_put(struct tcp_context *ctx)
{
	atomic_fetch_sub(&ctx->engine->coarse, 1);
}
/*
 * An application thread that reads its own sockets calls this at each
 * look at a QP in the mode (now: tcp_now_ns; mark: the QP's own, which
 * this keeps): the engine's timer pass runs with lease_due set once the
 * lease runs out, TCP_LEASE_NS after it was set. It is set again once half
 * of it is gone and every QP holding a coarse reference has looked during
 * it: a QP whose application stopped calling -- while it still polls
 * others -- is seen within a lease too. One system call a half lease, on
 * the application's CPU, instead of an engine wake-up a millisecond. Any
 * thread; takes no lock.
 */
void tcp_engine_lease_renew(struct tcp_context *ctx, uint64_t now,
			    uint64_t *mark);
/*
 * Work is held back (transmit batching): the hooks' flush runs one kick
 * grace (TCP_KICK_GRACE_NS) after the engine sees this, unless it is
 * already pending. One wake-up per burst, not per call.
 */
void tcp_engine_kick(struct tcp_context *ctx);
/* The hooks' deadlines run at `at` at the latest; engine thread only. */
static inline void tcp_engine_deadline(struct tcp_context *ctx, uint64_t at)
{
	struct tcp_engine *e = ctx->engine;

	if (!e->deadline_at || at < e->deadline_at)
		e->deadline_at = at;
}
/* Adds w to the epoll set; its ops->ready serves the events. */
int tcp_engine_watch(struct tcp_context *ctx, int fd, struct tcp_watch *w,
		     uint32_t events);
int tcp_engine_rewatch(struct tcp_context *ctx, int fd, struct tcp_watch *w,
		       uint32_t events);
void tcp_engine_unwatch(struct tcp_context *ctx, int fd);
/*
 * w is gone for its owner, but may still sit in the event batch the
 * engine is working through: ops->free runs once a later batch begins
 * (at once without an engine). Caller holds ctx->lock.
 */
void tcp_engine_bury(struct tcp_context *ctx, struct tcp_watch *w);
/* Closes a half-closed QP socket once the peer has closed too. */
void tcp_engine_linger(struct tcp_context *ctx, int fd);

#endif
