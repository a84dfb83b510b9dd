// SPDX-License-Identifier: MIT
/* Shared receive queues, with the srq_limit event of the verbs spec. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qp.h"

/*
 * A ring of size WQEs of max_sge SGEs each, in one block from the SRQ's
 * allocator (a parent domain's, or calloc).
 */
static int srq_ring_alloc(struct tcp_srq *srq, uint32_t size, uint32_t max_sge,
			  struct tcp_qbuf *b)
{
	size_t ring_len = (size_t)size * sizeof(struct tcp_recv_wqe);
	struct tcp_recv_wqe *ring;
	struct tcp_seg *segs;
	uint32_t i;

	ring_len = (ring_len + 63) & ~(size_t)63;
	if (tcp_qbuf_alloc(&srq->alloc, b,
			   ring_len + (size_t)size * max_sge * sizeof(*segs),
			   TCP_RES_TYPE_SRQ))
		return ENOMEM;
	ring = b->p;
	segs = (struct tcp_seg *)((char *)b->p + ring_len);
	for (i = 0; i < size; i++)
		ring[i].seg = &segs[(size_t)i * max_sge];
	return 0;
}

static struct tcp_srq *srq_new(struct tcp_context *ctx, struct ibv_pd *pd,
			       struct ibv_srq_attr *a)
{
	struct tcp_srq *srq;

	if (!a->max_wr || a->max_wr > TCP_MAX_SRQ_WR || !a->max_sge ||
	    a->max_sge > TCP_MAX_SRQ_SGE || a->srq_limit > a->max_wr) {
		errno = EINVAL;
		return NULL;
	}
	if (atomic_fetch_add(&ctx->n_srq, 1) >= TCP_MAX_SRQ) {
		atomic_fetch_sub(&ctx->n_srq, 1);
		errno = ENOMEM;
		return NULL;
	}
	srq = calloc(1, sizeof(*srq));
	if (!srq)
		goto nomem;
	srq->pdom = tcp_pdom_get(pd, &srq->alloc);
	srq->size = 1;
	while (srq->size < a->max_wr + 1)
		srq->size <<= 1;
	if (srq_ring_alloc(srq, srq->size, a->max_sge, &srq->buf))
		goto nomem;
	srq->ring = srq->buf.p;
	srq->max_wr = a->max_wr;
	srq->max_sge = a->max_sge;
	srq->limit = a->srq_limit;
	srq->pd = tcp_pd_prot(pd);
	tcp_mutex_init(&srq->lock, TCP_LOCK_RANK_SRQ);
	atomic_fetch_add(&srq->pd->users, 1);
	srq->vsrq.srq.context = &ctx->vctx.context;
	tcp_obj_init(&srq->id, ctx, &srq->vsrq.srq.handle);
	srq->vsrq.srq_type = IBV_SRQT_BASIC;
	return srq;
nomem:
	if (srq) {
		tcp_pdom_put(srq->pdom);
		free(srq);
	}
	atomic_fetch_sub(&ctx->n_srq, 1);
	errno = ENOMEM;
	return NULL;
}

struct ibv_srq *tcp_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr *a)
{
	struct tcp_srq *srq = srq_new(to_tctx(pd->context), pd, &a->attr);

	return srq ? &srq->vsrq.srq : NULL;
}

struct ibv_srq *tcp_create_srq_ex(struct ibv_context *ctx,
				  struct ibv_srq_init_attr_ex *a)
{
	struct tcp_srq *srq;

	if (!(a->comp_mask & IBV_SRQ_INIT_ATTR_PD) ||
	    ((a->comp_mask & IBV_SRQ_INIT_ATTR_TYPE) &&
	     a->srq_type != IBV_SRQT_BASIC) ||
	    (a->comp_mask & ~(IBV_SRQ_INIT_ATTR_PD | IBV_SRQ_INIT_ATTR_TYPE))) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	srq = srq_new(to_tctx(ctx), a->pd, &a->attr);
	if (!srq)
		return NULL;
	srq->vsrq.srq.pd = a->pd;
	srq->vsrq.srq.srq_context = a->srq_context;
	pthread_mutex_init(&srq->vsrq.srq.mutex, NULL);
	pthread_cond_init(&srq->vsrq.srq.cond, NULL);
	return &srq->vsrq.srq;
}

int tcp_destroy_srq(struct ibv_srq *ibsrq)
{
	struct tcp_srq *srq = to_tsrq(ibsrq);

	if (!tcp_obj_ok(&srq->id, ibsrq->context, ibsrq->handle))
		return tcp_fail(ENOENT);
	if (atomic_load(&srq->users))
		return tcp_fail(EBUSY);
	atomic_fetch_sub(&srq->pd->users, 1);
	atomic_fetch_sub(&to_tctx(ibsrq->context)->n_srq, 1);
	tcp_mutex_destroy(&srq->lock);
	tcp_qbuf_free(&srq->alloc, &srq->buf, TCP_RES_TYPE_SRQ);
	tcp_pdom_put(srq->pdom);
	free(srq);
	return 0;
}

/* IBV_DEVICE_SRQ_RESIZE: a larger ring, posted WQEs kept in order. */
static int srq_grow(struct tcp_srq *srq, uint32_t max_wr)
{
	struct tcp_recv_wqe *ring;
	struct tcp_qbuf b;
	uint32_t size = 1, n = srq->head - srq->tail, i;

	while (size < max_wr + 1)
		size <<= 1;
	if (srq_ring_alloc(srq, size, srq->max_sge, &b))
		return ENOMEM;
	ring = b.p;
	for (i = 0; i < n; i++) {
		struct tcp_recv_wqe *o =
			&srq->ring[(srq->tail + i) & (srq->size - 1)];

		ring[i].wr_id = o->wr_id;
		ring[i].nseg = o->nseg;
		memcpy(ring[i].seg, o->seg, o->nseg * sizeof(*o->seg));
	}
	tcp_qbuf_free(&srq->alloc, &srq->buf, TCP_RES_TYPE_SRQ);
	srq->buf = b;
	srq->ring = ring;
	srq->size = size;
	srq->tail = 0;
	srq->head = n;
	return 0;
}

int tcp_modify_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *a, int mask)
{
	struct tcp_srq *srq = to_tsrq(ibsrq);
	int err = 0;

	if (mask & ~(IBV_SRQ_MAX_WR | IBV_SRQ_LIMIT))
		return tcp_fail(EINVAL);
	tcp_mutex_lock(&srq->lock);
	if (mask & IBV_SRQ_MAX_WR) {
		/* never below what is posted, nor below the armed limit
		 * (the one this call sets, if it sets one: rxe) */
		uint32_t limit =
			(mask & IBV_SRQ_LIMIT) ? a->srq_limit : srq->limit;

		if (!a->max_wr || a->max_wr > TCP_MAX_SRQ_WR ||
		    a->max_wr < srq->head - srq->tail || a->max_wr < limit)
			err = EINVAL;
		else if (a->max_wr > srq->size - 1)
			err = srq_grow(srq, a->max_wr);
		if (!err)
			srq->max_wr = a->max_wr;
	}
	if (!err && (mask & IBV_SRQ_LIMIT)) {
		if (a->srq_limit > srq->max_wr)
			err = EINVAL;
		else
			srq->limit = a->srq_limit;
	}
	tcp_mutex_unlock(&srq->lock);
	return tcp_fail(err);
}

int tcp_query_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *a)
{
	struct tcp_srq *srq = to_tsrq(ibsrq);

	tcp_mutex_lock(&srq->lock);
	a->max_wr = srq->max_wr;
	a->max_sge = srq->max_sge;
	a->srq_limit = srq->limit;
	tcp_mutex_unlock(&srq->lock);
	return 0;
}

int tcp_get_srq_num(struct ibv_srq *srq, uint32_t *num)
{
	return tcp_fail(EOPNOTSUPP); /* XRC only */
}

int tcp_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad)
{
	struct tcp_srq *srq = to_tsrq(ibsrq);
	int err = 0, i;

	tcp_mutex_lock(&srq->lock);
	for (; wr; wr = wr->next) {
		struct tcp_recv_wqe *w;

		if (wr->num_sge < 0 || (uint32_t)wr->num_sge > srq->max_sge ||
		    (wr->num_sge && !wr->sg_list)) {
			err = EINVAL;
			break;
		}
		if (srq->head - srq->tail >= srq->max_wr) {
			err = ENOMEM;
			break;
		}
		w = &srq->ring[srq->head++ & (srq->size - 1)];
		w->wr_id = wr->wr_id;
		w->nseg = wr->num_sge;
		for (i = 0; i < wr->num_sge; i++) {
			w->seg[i].addr = (char *)(uintptr_t)wr->sg_list[i].addr;
			w->seg[i].len = wr->sg_list[i].length;
			w->seg[i].lkey = wr->sg_list[i].lkey;
		}
	}
	if (err)
		*bad = wr;
	tcp_mutex_unlock(&srq->lock);
	/* QPs waiting on an empty SRQ retry from the engine's timer pass */
	return tcp_fail(err);
}

bool tcp_srq_take(struct tcp_srq *srq, struct tcp_recv_wqe *out)
{
	struct tcp_recv_wqe *w;
	bool fire = false;

	tcp_mutex_lock(&srq->lock);
	if (srq->head == srq->tail) {
		tcp_mutex_unlock(&srq->lock);
		return false;
	}
	w = &srq->ring[srq->tail++ & (srq->size - 1)];
	out->wr_id = w->wr_id;
	out->nseg = w->nseg;
	memcpy(out->seg, w->seg, w->nseg * sizeof(*w->seg));
	/* armed limit: one event when the count drops below it, then off */
	if (srq->limit && srq->head - srq->tail < srq->limit) {
		srq->limit = 0;
		fire = true;
	}
	tcp_mutex_unlock(&srq->lock);
	if (fire)
		tcp_async_post(to_tctx(srq->vsrq.srq.context),
			       IBV_EVENT_SRQ_LIMIT_REACHED,
			       (uint64_t)(uintptr_t)&srq->vsrq.srq);
	return true;
}
