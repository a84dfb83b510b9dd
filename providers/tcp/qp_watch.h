/* SPDX-License-Identifier: MIT */
/*
 * How the engine serves QPs (qp_watch.c): the ready callback of a QP's
 * socket and the periodic passes over the context's QPs (timers, the
 * dead-peer pass, held-back WRs), taken under the QP lock with the
 * hand-over tcp_qp_yield grants.
 */
#ifndef RDMA_TCP_QP_WATCH_H
#define RDMA_TCP_QP_WATCH_H

#include "engine.h"

/* A QP's watch on its socket; the QP owns it. */
struct tcp_qp;
struct tcp_qp_poll {
	struct tcp_watch p;
	struct tcp_qp *qp;
};

/* passes in a row the engine's timers skip a QP whose lock is taken */
#define TCP_TIMER_SKIPS 8
/* how long an application thread lets the engine take a QP lock it asked
 * for before taking the lock anyway (tcp_qp_yield) */
#define TCP_YIELD_NS 50000ull

/* The engine hooks of the context's QPs. */
extern const struct tcp_engine_hooks tcp_qp_hooks;
/* Engine thread: fn on every live QP, under ctx->lock and its lock. */
void tcp_qp_each(struct tcp_context *ctx, void (*fn)(struct tcp_qp *, uint64_t),
		 uint64_t now);
/* Serves events on a QP's socket (the ready of its watch ops). */
unsigned int tcp_qp_ready(struct tcp_context *ctx, struct tcp_watch *w,
			  uint32_t events);
/*
 * A QP's timer references (caller holds qp->lock): tcp_engine_timer_get
 * and _put, which also put the QP on the set the engine's timer pass
 * looks at while it holds any. Every QP's reference goes through these.
 */
void tcp_qp_timer_get(struct tcp_qp *qp);
void tcp_qp_timer_put(struct tcp_qp *qp);
/* ...the same with a coarse reference (tcp_engine_coarse_get) */
void tcp_qp_coarse_get(struct tcp_qp *qp);
void tcp_qp_coarse_put(struct tcp_qp *qp);
/*
 * A QP holds back WRs for batching (caller holds qp->lock): the engine
 * sends them if the application does not first (poll_cq, another post).
 */
void tcp_engine_defer_tx(struct tcp_qp *qp);

#endif
