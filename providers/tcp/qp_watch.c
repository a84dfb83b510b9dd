// SPDX-License-Identifier: MIT
/* How the engine serves QPs: see qp_watch.h. */
#include <sched.h>
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

/*
 * Runs fn on every live QP of the context, under ctx->lock and its lock,
 * taken as mode says (the timers skip a few times; see below).
 */
static void each_qp(struct tcp_context *ctx,
		    void (*fn)(struct tcp_qp *, uint64_t), uint64_t now,
		    enum qp_lock_mode mode)
{
	struct tcp_rendezvous *rv = ctx->rv;
	int i, j;

	if (mode != QP_LOCK_TRY)
		tcp_mutex_lock(&ctx->lock);
	else if (tcp_mutex_trylock(&ctx->lock))
		return;
	for (i = 0; i < rv->nlis; i++) {
		for (j = 0; j < TCP_QPS_PER_LISTENER; j++) {
			struct tcp_qp *qp = rv->lis[i]->slots[j];

			if (!qp)
				continue;
			/*
			 * A QP whose lock is taken is in use by its
			 * application, which may hold it nearly all the time
			 * and retake it a microsecond after each unlock (a
			 * requester posting 64 KiB WRITEs, through each
			 * sendmsg): blocking would queue this pass behind it
			 * for milliseconds. Its timers wait a few passes
			 * instead, TCP_TIMER_SKIPS at most; then, and for
			 * work that cannot wait (held-back WRs), the engine
			 * asks for the lock (engine_lock_qp).
			 */
			if (tcp_mutex_trylock(&qp->lock)) {
				if (mode == QP_LOCK_TRY ||
				    (mode == QP_LOCK_SKIP_FEW &&
				     ++qp->timer_skips < TCP_TIMER_SKIPS))
					continue;
				engine_lock_qp(qp);
			}
			qp->timer_skips = 0;
			if (!qp->dead)
				fn(qp, now);
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
	each_qp(ctx, fn, now, QP_LOCK_WAIT);
}

static void qp_timers(struct tcp_context *ctx, uint64_t now)
{
	each_qp(ctx, tcp_qp_timers, now, QP_LOCK_SKIP_FEW);
	tcp_cq_retry_events(ctx);
}

/*
 * The dead-peer pass (qp_timers.c), every TCP_LIVE_PERIOD_NS while QPs
 * have requests outstanding: coarse, so a busy QP costs a few system
 * calls a second, not one a tick.
 */
static void qp_liveness(struct tcp_context *ctx, uint64_t now)
{
	each_qp(ctx, tcp_qp_liveness, now, QP_LOCK_WAIT);
}

/* Sends what QPs held back for batching (see tcp_engine_defer_tx). */
static void flush_one(struct tcp_qp *qp, uint64_t now)
{
	(void)now;
	tcp_qp_flush(qp);
}

/*
 * At exit (at_exit), a QP or context whose lock is taken is skipped: its
 * holder may be the thread that exits, from a signal handler.
 */
static void qp_flush(struct tcp_context *ctx, bool at_exit)
{
	each_qp(ctx, flush_one, 0, at_exit ? QP_LOCK_TRY : QP_LOCK_WAIT);
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
	 * polls again soon, and the engine's 1 ms tick is running for it
	 * anyway (tcp_qp_timers sends what is held back): no wake-up.
	 */
	if (qp->prog.rx_app_driven)
		return;
	/* (an ack held back alone kicked nothing: WRs after it must) */
	qp->prog.tx_kicked = true;
	tcp_engine_kick(qp->ctx);
}
