// SPDX-License-Identifier: MIT
/*
 * The producer side of a completion queue: completions pushed by the
 * transport (the engine thread, or any application thread holding a QP's
 * lock), the completion-channel events they raise, and the events that
 * wait for room in a full channel. Every cq->lock -> ctx->ev_lock nesting
 * is here; the consumer side (ibv_poll_cq, the ibv_cq_ex iterator) is
 * cq.c. Lock order: docs/design.md.
 */
#include <unistd.h>

#include <rdma_tcp/chan.h>

#include "tcp.h"
#include "engine.h"

/* One event record for the CQ into its channel; false if it is full. */
static bool chan_write(struct tcp_cq *cq)
{
	struct ibv_comp_channel *ch = cq->vcq.cq.channel;
	struct vabi_comp_event_desc ev = {
		.cq_handle = (uint64_t)(uintptr_t)&cq->vcq.cq
	};

	/* create_cq only accepts channels made by librdmacm-ext */
	if (write(container_of(ch, struct rtcp_comp_channel, ch)->wfd, &ev,
		  sizeof(ev)) != sizeof(ev))
		return false;
	cq->events_written++;
	return true;
}

static void cq_notify_locked(struct tcp_cq *cq, bool solicited)
{
	struct tcp_context *ctx = to_tctx(cq->vcq.cq.context);

	if (!cq->armed || !cq->vcq.cq.channel)
		return;
	if (cq->armed == 2 && !solicited)
		return;
	cq->armed = 0;
	if (!cq->events_unsent && chan_write(cq))
		return;
	/*
	 * The channel (a socketpair) is full: an application re-arming
	 * without reading it. A kernel queues events without bound; here
	 * they wait in a count, and the engine's timer writes them as the
	 * application reads (tcp_cq_retry_events) -- delayed, never lost.
	 */
	cq->events_unsent++;
	if (!cq->ev_queued) {
		cq->ev_queued = true;
		tcp_mutex_lock(&ctx->ev_lock);
		cq->ev_next = ctx->ev_pending;
		ctx->ev_pending = cq;
		tcp_mutex_unlock(&ctx->ev_lock);
		tcp_engine_timer_get(ctx);
	}
}

/* Removes cq from the pending list; caller holds cq->lock. */
void tcp_cq_unqueue_locked(struct tcp_context *ctx, struct tcp_cq *cq)
{
	struct tcp_cq **pp;

	tcp_assert_held(&cq->lock);
	if (!cq->ev_queued)
		return;
	tcp_mutex_lock(&ctx->ev_lock);
	for (pp = &ctx->ev_pending; *pp; pp = &(*pp)->ev_next)
		if (*pp == cq) {
			*pp = cq->ev_next;
			break;
		}
	tcp_mutex_unlock(&ctx->ev_lock);
	cq->ev_queued = false;
	tcp_engine_timer_put(ctx);
}

void tcp_cq_retry_events(struct tcp_context *ctx)
{
	struct tcp_cq **pp, *cq;

	tcp_mutex_lock(&ctx->ev_lock);
	pp = &ctx->ev_pending;
	while ((cq = *pp)) {
		bool done = false;

		/* ev_lock comes after cq->lock: only try it from here */
		if (!tcp_mutex_trylock(&cq->lock)) {
			while (cq->events_unsent && chan_write(cq))
				cq->events_unsent--;
			done = !cq->events_unsent;
			if (done) {
				*pp = cq->ev_next;
				cq->ev_queued = false;
				tcp_engine_timer_put(ctx);
			}
			tcp_mutex_unlock(&cq->lock);
		}
		if (!done)
			pp = &cq->ev_next;
	}
	tcp_mutex_unlock(&ctx->ev_lock);
}

bool tcp_cq_push(struct tcp_cq *cq, const struct ibv_wc *wc, bool solicited)
{
	uint64_t raw = 0, wall = 0;
	bool ok = true;
	uint32_t i;

	/* the completion's time: when the transport makes it (wc_flags_ex
	 * is fixed at creation, so it is read without the lock) */
	if (cq->wc_flags_ex & TCP_CQ_TS_FLAGS) {
		if (cq->wc_flags_ex & IBV_WC_EX_WITH_COMPLETION_TIMESTAMP)
			raw = tcp_clock_raw();
		if (cq->wc_flags_ex &
		    IBV_WC_EX_WITH_COMPLETION_TIMESTAMP_WALLCLOCK)
			wall = tcp_clock_wall();
	}
	tcp_mutex_lock(&cq->lock);
	if (cq->overflow) {
		ok = false;
	} else if (cq->tail - cq->head >= cq->cqe) {
		cq->overflow = true;
		ok = false;
		tcp_async_post(to_tctx(cq->vcq.cq.context), IBV_EVENT_CQ_ERR,
			       (uint64_t)(uintptr_t)&cq->vcq.cq);
	} else {
		i = cq->tail & (cq->size - 1);
		cq->ring[i] = *wc;
		if (cq->ts_raw)
			cq->ts_raw[i] = raw;
		if (cq->ts_wall)
			cq->ts_wall[i] = wall;
		tcp_cq_set_tail(cq, cq->tail + 1);
		cq_notify_locked(cq, solicited || wc->status != IBV_WC_SUCCESS);
	}
	tcp_mutex_unlock(&cq->lock);
	return ok;
}

void tcp_cq_purge_qp(struct tcp_cq *cq, uint32_t qpn)
{
	uint32_t from, to;

	tcp_mutex_lock(&cq->lock);
	/* keep the others, in order, packed towards the tail */
	for (from = to = cq->tail; from != cq->head;) {
		uint32_t f = --from & (cq->size - 1), t;

		if (cq->ring[f].qp_num == qpn)
			continue;
		t = --to & (cq->size - 1);
		cq->ring[t] = cq->ring[f];
		if (cq->ts_raw)
			cq->ts_raw[t] = cq->ts_raw[f];
		if (cq->ts_wall)
			cq->ts_wall[t] = cq->ts_wall[f];
	}
	tcp_cq_set_head(cq, to);
	tcp_mutex_unlock(&cq->lock);
}
