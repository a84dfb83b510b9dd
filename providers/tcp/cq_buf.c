// SPDX-License-Identifier: MIT
/*
 * A completion queue's memory: its ring of work completions and, for a CQ
 * created with IBV_WC_EX_WITH_COMPLETION_TIMESTAMP(_WALLCLOCK), one
 * timestamp per slot beside it -- one block, from the allocator of the
 * parent domain the CQ was made through (or calloc); ibv_resize_cq; the
 * clocks the timestamps are read from.
 *
 * The timestamps sit in arrays of their own, not in the ring's entries, so
 * that ibv_poll_cq copies exactly what it copied before.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "tcp.h"

/*
 * The "raw" completion clock: CLOCK_MONOTONIC_RAW, in nanoseconds -- a
 * free-running counter as a NIC's is, not slewed by NTP; so 1 GHz, which
 * ibv_query_device_ex reports as hca_core_clock (kHz).
 */
uint64_t tcp_clock_raw(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The wall clock, in nanoseconds since the epoch (read_completion_wallclock_ns). */
uint64_t tcp_clock_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

int tcp_cq_ring_alloc(struct tcp_cq *cq, uint32_t size, struct tcp_cq_ring *r)
{
	size_t ring = align64((size_t)size * sizeof(struct ibv_wc));
	size_t ts = (size_t)size * sizeof(uint64_t);
	bool raw = cq->wc_flags_ex & IBV_WC_EX_WITH_COMPLETION_TIMESTAMP;
	bool wall =
		cq->wc_flags_ex & IBV_WC_EX_WITH_COMPLETION_TIMESTAMP_WALLCLOCK;
	char *p;

	if (tcp_qbuf_alloc(&cq->alloc, &r->buf,
			   ring + (raw ? align64(ts) : 0) + (wall ? ts : 0),
			   TCP_RES_TYPE_CQ))
		return ENOMEM;
	p = r->buf.p;
	r->ring = (struct ibv_wc *)p;
	p += ring;
	r->ts_raw = raw ? (uint64_t *)p : NULL;
	p += raw ? align64(ts) : 0;
	r->ts_wall = wall ? (uint64_t *)p : NULL;
	return 0;
}

void tcp_cq_ring_free(struct tcp_cq *cq)
{
	tcp_qbuf_free(&cq->alloc, &cq->buf, TCP_RES_TYPE_CQ);
	cq->ring = NULL;
	cq->ts_raw = cq->ts_wall = NULL;
}

/* Moves the n queued entries (and their timestamps) to the new ring's start. */
static void ring_move(struct tcp_cq *cq, struct tcp_cq_ring *r, uint32_t n)
{
	uint32_t i, from;

	for (i = 0; i < n; i++) {
		from = (cq->head + i) & (cq->size - 1);
		r->ring[i] = cq->ring[from];
		if (r->ts_raw)
			r->ts_raw[i] = cq->ts_raw[from];
		if (r->ts_wall)
			r->ts_wall[i] = cq->ts_wall[from];
	}
}

int tcp_resize_cq(struct ibv_cq *ibcq, int cqe)
{
	struct tcp_cq *cq = to_tcq(ibcq);
	struct tcp_cq_ring r;
	uint32_t size, n;

	if (cqe < 1 || cqe > TCP_MAX_CQE)
		return tcp_fail(EINVAL);
	size = tcp_cq_ring_size_for(cqe);
	if (tcp_cq_ring_alloc(cq, size, &r))
		return tcp_fail(ENOMEM);
	tcp_mutex_lock(&cq->lock);
	n = cq->tail - cq->head;
	/* Shrinking below the queued completions would lose them. */
	if (n > (uint32_t)cqe) {
		tcp_mutex_unlock(&cq->lock);
		tcp_qbuf_free(&cq->alloc, &r.buf, TCP_RES_TYPE_CQ);
		return tcp_fail(EINVAL);
	}
	ring_move(cq, &r, n);
	tcp_cq_ring_free(cq);
	cq->buf = r.buf;
	cq->ring = r.ring;
	cq->ts_raw = r.ts_raw;
	cq->ts_wall = r.ts_wall;
	cq->size = size;
	tcp_cq_set_head(cq, 0);
	tcp_cq_set_tail(cq, n);
	cq->cqe = cqe;
	ibcq->cqe = cqe;
	tcp_mutex_unlock(&cq->lock);
	return 0;
}
