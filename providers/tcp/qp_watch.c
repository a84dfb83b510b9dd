// SPDX-License-Identifier: MIT
/* How the engine serves QPs: see qp_watch.h. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "conn.h"
#include "qp.h"
#include "ud.h"

unsigned int tcp_qp_ready(struct tcp_context *ctx, struct tcp_watch *w,
			  uint32_t events)
{
	struct tcp_qp *qp = container_of(w, struct tcp_qp_poll, p)->qp;
	uint64_t l;

	(void)ctx;
	tcp_mutex_lock(&qp->lock);
	if (qp->dead) {
		tcp_qp_unlock(qp);
		return TCP_READY_IO;
	}
	l = qp->prog.io_large;
	if (qp->type == IBV_QPT_UD) {
		if (events & (EPOLLIN | EPOLLERR))
			tcp_ud_rx(qp);
	} else if (!qp->conn.connected && qp->conn.connecting &&
		   (events & (EPOLLOUT | EPOLLERR | EPOLLHUP) ||
		    (qp->sec.hs && (events & (EPOLLIN | EPOLLRDHUP))))) {
		tcp_qp_conn_ready(qp);
	} else if (qp->conn.connected) {
		if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
			tcp_qp_rx(qp);
		if (qp->conn.connected && (events & EPOLLOUT))
			tcp_qp_tx(qp);
	}
	/* frames, reads and sends over TCP_SPIN_BYTES: see engine_wait */
	l = qp->prog.io_large - l;
	tcp_qp_unlock(qp);
	return TCP_READY_IO | (l ? TCP_READY_LARGE : 0);
}

/*
 * The engine's blocking way into a QP's lock: announced, so that the
 * application hands the lock over (tcp_qp_yield) instead of taking it
 * again a microsecond after each unlock while the engine is still being
 * woken, a queue the engine could otherwise stay in for milliseconds.
 */
static void engine_lock_qp(struct tcp_qp *qp)
{
	atomic_fetch_add_explicit(&qp->engine_wants, 1, memory_order_relaxed);
	tcp_mutex_lock(&qp->lock);
	atomic_fetch_sub_explicit(&qp->engine_wants, 1, memory_order_relaxed);
}

void tcp_qp_yield_slow(struct tcp_qp *qp)
{
	uint64_t t0 = tcp_now_ns();

	/* sched_yield: the engine may be waiting for this very CPU */
	while (atomic_load_explicit(&qp->engine_wants, memory_order_relaxed) &&
	       tcp_now_ns() - t0 < TCP_YIELD_NS)
		sched_yield();
}

/* How each_qp takes a QP lock that is taken. */
enum qp_lock_mode {
	QP_LOCK_WAIT,	  /* wait for it (engine_lock_qp) */
	QP_LOCK_SKIP_FEW, /* skip it TCP_TIMER_SKIPS times in a row at most */
	QP_LOCK_TRY,	  /* skip it, and the context if its lock is taken */
};

/* Which QPs each_qp visits. */
enum qp_set {
	QP_SET_ALL,	/* every live QP of the context */
	QP_SET_WATCHED, /* those whose listener's watch bit is set */
};

/*
 * The engine's timer and flush passes look at QPs whose bit is set in
 * their listener's watch map, not at every QP: at each wake-up while any
 * timer reference is held, a walk of 2000 QPs' locks cost ~25 us
 * (docs/design.md, "Tick"). A QP sets its bit under its lock
 * when it takes its first reference or holds WRs back; only the engine
 * clears it, under the same lock, once the QP has neither.
 */
static void watch_mark(struct tcp_qp *qp)
{
	_Atomic uint64_t *w;
	uint64_t bit;

	tcp_assert_held(&qp->lock);
	if (!qp->lis)
		return; /* its number is gone: destroyed */
	w = &qp->lis->watch[qp->slot / 64];
	bit = 1ull << (qp->slot % 64);
	if (!(atomic_load_explicit(w, memory_order_relaxed) & bit))
		atomic_fetch_or(w, bit);
}

/* Counts a reference of either kind: the first puts the QP on the watch. */
static void qp_ref_take(struct tcp_qp *qp)
{
	if (qp->timer_refs++ == 0)
		watch_mark(qp);
}

void tcp_qp_timer_get(struct tcp_qp *qp)
{
	qp_ref_take(qp);
	tcp_engine_timer_get(qp->ctx);
}

/* Drops the QP's own count of its references (both kinds). */
static void qp_ref_drop(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
#ifdef RDMA_TCP_LOCK_CHECK
	if (!qp->timer_refs) {
		fprintf(stderr,
			"rdma-tcp: QP %#x drops a timer reference "
			"it does not hold\n",
			qp->vqp.qp.qp_num);
		abort();
	}
#endif
	qp->timer_refs--;
}

void tcp_qp_timer_put(struct tcp_qp *qp)
{
	qp_ref_drop(qp);
	tcp_engine_timer_put(qp->ctx);
}

void tcp_qp_coarse_get(struct tcp_qp *qp)
{
	qp_ref_take(qp);
	tcp_engine_coarse_get(qp->ctx);
}

void tcp_qp_coarse_put(struct tcp_qp *qp)
{
	qp_ref_drop(qp);
	tcp_engine_coarse_put(qp->ctx);
}

/* Does the engine still need to look at the QP (caller holds its lock)? */
static bool watch_needed(const struct tcp_qp *qp)
{
	return !qp->dead && (qp->timer_refs || qp->prog.tx_deferred);
}

/*
 * Runs fn on @qp, its lock taken as mode says and left held; false if
 * it was skipped (lock taken). Caller holds ctx->lock.
 */
static bool visit_qp(struct tcp_qp *qp, void (*fn)(struct tcp_qp *, uint64_t),
		     uint64_t now, enum qp_lock_mode mode)
{
	/*
	 * A QP whose lock is taken is in use by its application, which may
	 * hold it nearly all the time and retake it a microsecond after
	 * each unlock (a requester posting 64 KiB WRITEs, through each
	 * sendmsg): blocking would queue this pass behind it for
	 * milliseconds. Its timers wait a few passes instead,
	 * TCP_TIMER_SKIPS at most; then, and for work that cannot wait
	 * (held-back WRs), the engine asks for the lock (engine_lock_qp).
	 */
	if (tcp_mutex_trylock(&qp->lock)) {
		if (mode == QP_LOCK_TRY ||
		    (mode == QP_LOCK_SKIP_FEW &&
		     ++qp->timer_skips < TCP_TIMER_SKIPS))
			return false;
		engine_lock_qp(qp);
	}
	qp->timer_skips = 0;
	if (!qp->dead)
		fn(qp, now);
	return true;
}

/* The watched QPs of listener l: each visited, its bit kept if needed. */
static void each_watched(struct tcp_listener *l,
			 void (*fn)(struct tcp_qp *, uint64_t), uint64_t now,
			 enum qp_lock_mode mode)
{
	unsigned int w;

	for (w = 0; w < TCP_QPS_PER_LISTENER / 64; w++) {
		uint64_t bits = atomic_load(&l->watch[w]);

		while (bits) {
			unsigned int b = (unsigned int)__builtin_ctzll(bits);
			struct tcp_qp *qp = l->slots[w * 64 + b];
			uint64_t bit = 1ull << b;

			bits &= bits - 1;
			if (!qp) { /* destroyed since */
				atomic_fetch_and(&l->watch[w], ~bit);
				continue;
			}
			if (!visit_qp(qp, fn, now, mode))
				continue; /* skipped: kept */
			if (!watch_needed(qp))
				atomic_fetch_and(&l->watch[w], ~bit);
			tcp_qp_unlock(qp);
		}
	}
}

/*
 * Runs fn on the context's QPs of the set, under ctx->lock and each QP's
 * lock, taken as mode says (the timers skip a few times; see visit_qp).
 */
static void each_qp(struct tcp_context *ctx,
		    void (*fn)(struct tcp_qp *, uint64_t), uint64_t now,
		    enum qp_lock_mode mode, enum qp_set set)
{
	struct tcp_rendezvous *rv = ctx->rv;
	int i, j;

	if (mode != QP_LOCK_TRY)
		tcp_mutex_lock(&ctx->lock);
	else if (tcp_mutex_trylock(&ctx->lock))
		return;
	for (i = 0; i < rv->nlis; i++) {
		struct tcp_listener *l = rv->lis[i];

		if (set == QP_SET_WATCHED) {
			each_watched(l, fn, now, mode);
			continue;
		}
		for (j = 0; j < TCP_QPS_PER_LISTENER; j++) {
			struct tcp_qp *qp = l->slots[j];

			if (qp && visit_qp(qp, fn, now, mode))
				tcp_qp_unlock(qp);
		}
	}
	tcp_mutex_unlock(&ctx->lock);
}

/*
 * Time-based work (RNR waits, deadlines, stalled receives) on every QP,
 * at every wake-up while timer references are held; what is measured in
 * ticks (hand-backs, held-back acks) only when the engine's tick is set.
 */
void tcp_qp_each(struct tcp_context *ctx, void (*fn)(struct tcp_qp *, uint64_t),
		 uint64_t now)
{
	each_qp(ctx, fn, now, QP_LOCK_WAIT, QP_SET_ALL);
}

static void qp_timers(struct tcp_context *ctx, uint64_t now)
{
	each_qp(ctx, tcp_qp_timers, now, QP_LOCK_SKIP_FEW, QP_SET_WATCHED);
	tcp_cq_retry_events(ctx);
}

/*
 * The dead-peer pass (qp_timers.c), every TCP_LIVE_PERIOD_NS while QPs
 * have requests outstanding: coarse, so a busy QP costs a few system
 * calls a second, not one a tick.
 */
static void qp_liveness(struct tcp_context *ctx, uint64_t now)
{
	each_qp(ctx, tcp_qp_liveness, now, QP_LOCK_WAIT, QP_SET_ALL);
}

/* Sends what QPs held back for batching (see tcp_engine_defer_tx). */
static void flush_one(struct tcp_qp *qp, uint64_t now)
{
	(void)now;
	tcp_qp_flush(qp);
}

/* ...and at exit what a transmit left for input to be read first */
static void flush_all(struct tcp_qp *qp, uint64_t now)
{
	(void)now;
	tcp_qp_tx_all(qp);
}

/*
 * At exit (at_exit), a QP or context whose lock is taken is skipped: its
 * holder may be the thread that exits, from a signal handler.
 */
static void qp_flush(struct tcp_context *ctx, bool at_exit)
{
	/* (at exit every QP: a missed bit must not lose WRs there) */
	if (at_exit)
		each_qp(ctx, flush_all, 0, QP_LOCK_TRY, QP_SET_ALL);
	else
		each_qp(ctx, flush_one, 0, QP_LOCK_WAIT, QP_SET_WATCHED);
}

const struct tcp_engine_hooks tcp_qp_hooks = {
	.timers = qp_timers,
	.liveness = qp_liveness,
	.flush = qp_flush,
};

/*
 * The safety net of transmit batching: an application that posts a burst
 * and then spins on memory instead of polling a CQ still sees its WRs go,
 * one engine wake-up later. One wake per burst, not per WR: the QP's
 * tx_kicked stays set until its WRs go, the engine's kick until it looks.
 */
void tcp_engine_defer_tx(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	if (qp->prog.tx_kicked)
		return;
	qp->prog.tx_deferred = true;
	/*
	 * An application that reads this QP's socket itself (rx_app_driven)
	 * polls again soon, and the engine looks at it anyway once it stops
	 * (its lease, tcp_qp_timers sends what is held back): no wake-up.
	 */
	if (qp->prog.rx_app_driven)
		return;
	/* (an ack held back alone kicked nothing: WRs after it must) */
	qp->prog.tx_kicked = true;
	watch_mark(qp);
	tcp_engine_kick(qp->ctx);
}
