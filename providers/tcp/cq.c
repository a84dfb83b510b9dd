// SPDX-License-Identifier: MIT
/*
 * Completion queues: a ring of work completions filled by the transport
 * (engine thread or the posting thread: cq_ring.c) and drained here, by
 * ibv_poll_cq or the ibv_cq_ex iterator. Overflow is reported as a NIC
 * reports it: the CQ stops accepting entries and an IBV_EVENT_CQ_ERR is
 * raised.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rdma_tcp/chan.h>

#include "tcp.h"
#include "cq_progress.h"
#include "engine.h"

#define TCP_CQ_WC_FLAGS_SUP                                                    \
	(IBV_WC_EX_WITH_BYTE_LEN | IBV_WC_EX_WITH_IMM |                        \
	 IBV_WC_EX_WITH_QP_NUM | IBV_WC_EX_WITH_SRC_QP | IBV_WC_EX_WITH_SLID | \
	 IBV_WC_EX_WITH_SL | IBV_WC_EX_WITH_DLID_PATH_BITS | TCP_CQ_TS_FLAGS)

/* A channel must be one librdmacm-ext made for this context. */
static bool channel_ok(struct tcp_context *ctx, struct ibv_comp_channel *ch)
{
	if (!ch)
		return true;
	return ch->context == &ctx->vctx.context &&
	       container_of(ch, struct rtcp_comp_channel, ch)->magic ==
		       RTCP_CHAN_MAGIC;
}

/* What the CQ's ring is allocated by and holds: set before cq_init. */
static int cq_init(struct tcp_context *ctx, struct tcp_cq *cq, int cqe, int vec,
		   struct ibv_comp_channel *ch)
{
	struct tcp_cq_ring r;

	if (!channel_ok(ctx, ch))
		return EINVAL;
	if (cqe < 1 || cqe > TCP_MAX_CQE || vec < 0 ||
	    vec >= ctx->vctx.context.num_comp_vectors)
		return EINVAL;
	if (atomic_fetch_add(&ctx->n_cq, 1) >= TCP_MAX_CQ) {
		atomic_fetch_sub(&ctx->n_cq, 1);
		return ENOMEM;
	}
	cq->size = tcp_cq_ring_size_for(cqe);
	if (tcp_cq_ring_alloc(cq, cq->size, &r)) {
		atomic_fetch_sub(&ctx->n_cq, 1);
		return ENOMEM;
	}
	cq->buf = r.buf;
	cq->ring = r.ring;
	cq->ts_raw = r.ts_raw;
	cq->ts_wall = r.ts_wall;
	cq->cqe = cqe;
	tcp_obj_init(&cq->id, ctx, &cq->vcq.cq.handle);
	tcp_mutex_init(&cq->lock, TCP_LOCK_RANK_CQ);
	tcp_mutex_init(&cq->qps_lock, TCP_LOCK_RANK_CQ_QPS);
	atomic_init(&cq->ready_ep, -1);
	return 0;
}

struct ibv_cq *tcp_create_cq(struct ibv_context *ibctx, int cqe,
			     struct ibv_comp_channel *ch, int vec)
{
	struct tcp_cq *cq = calloc(1, sizeof(*cq));
	int err;

	if (!cq) {
		errno = ENOMEM;
		return NULL;
	}
	err = cq_init(to_tctx(ibctx), cq, cqe, vec, ch);
	if (err) {
		free(cq);
		errno = err;
		return NULL;
	}
	cq->vcq.cq.cqe = cqe;
	return &cq->vcq.cq;
}

/*
 * Takes the CQ's events that the application has not read yet out of its
 * channel (the others go back, in order), as the kernel does when a CQ is
 * destroyed: a record read later would name freed memory. Returns how
 * many were taken.
 */
static uint32_t take_unread_events(struct ibv_comp_channel *ch,
				   struct ibv_cq *ibcq)
{
	struct rtcp_comp_channel *rc =
		container_of(ch, struct rtcp_comp_channel, ch);
	struct vabi_comp_event_desc ev, *keep = NULL, *k;
	uint32_t n = 0, nkeep = 0, cap = 0, i;

	while (recv(ch->fd, &ev, sizeof(ev), MSG_DONTWAIT) == sizeof(ev)) {
		if (ev.cq_handle == (uint64_t)(uintptr_t)ibcq) {
			n++;
			continue;
		}
		if (nkeep == cap) {
			cap = cap ? 2 * cap : 16;
			k = realloc(keep, cap * sizeof(*keep));
			if (!k)
				break; /* keep what we have: put it back */
			keep = k;
		}
		keep[nkeep++] = ev;
	}
	for (i = 0; i < nkeep; i++)
		if (write(rc->wfd, &keep[i], sizeof(keep[i])) !=
		    sizeof(keep[i]))
			break;
	free(keep);
	return n;
}

int tcp_destroy_cq(struct ibv_cq *ibcq)
{
	struct tcp_cq *cq = to_tcq(ibcq);

	if (!tcp_obj_ok(&cq->id, ibcq->context, ibcq->handle))
		return tcp_fail(ENOENT);
	if (atomic_load(&cq->users))
		return tcp_fail(EBUSY);
	if (ibcq->channel) {
		/*
		 * As with a kernel CQ: unread events are dropped, and destroy
		 * waits until the application has acknowledged those it read
		 * (ibv_ack_cq_events), see ibv_get_cq_event(3).
		 */
		uint32_t delivered;

		tcp_mutex_lock(&cq->lock);
		cq->armed = 0; /* no new event from here on */
		tcp_cq_unqueue_locked(to_tctx(ibcq->context), cq);
		cq->events_unsent = 0; /* never delivered: nothing to ack */
		tcp_mutex_unlock(&cq->lock);
		delivered = cq->events_written -
			    take_unread_events(ibcq->channel, ibcq);
		pthread_mutex_lock(&ibcq->mutex);
		while (ibcq->comp_events_completed != delivered)
			pthread_cond_wait(&ibcq->cond, &ibcq->mutex);
		pthread_mutex_unlock(&ibcq->mutex);
	}
	atomic_fetch_sub(&to_tctx(ibcq->context)->n_cq, 1);
	tcp_mutex_destroy(&cq->lock);
	tcp_mutex_destroy(&cq->qps_lock);
	if (atomic_load(&cq->ready_ep) >= 0)
		close(atomic_load(&cq->ready_ep));
	free(cq->qps);
	tcp_cq_ring_free(cq);
	tcp_pdom_put(cq->pdom);
	free(cq);
	return 0;
}

int tcp_cq_attach(struct tcp_cq *cq, struct tcp_qp *qp)
{
	struct tcp_qp **n;
	int err = 0;

	tcp_mutex_lock(&cq->qps_lock);
	if (cq->nqps == cq->qps_cap) {
		uint32_t cap = cq->qps_cap ? cq->qps_cap * 2 : 4;

		n = realloc(cq->qps, cap * sizeof(*n));
		if (!n) {
			err = ENOMEM;
			goto out;
		}
		cq->qps = n;
		cq->qps_cap = cap;
	}
	cq->qps[cq->nqps++] = qp;
out:
	tcp_mutex_unlock(&cq->qps_lock);
	return err;
}

void tcp_cq_detach(struct tcp_cq *cq, struct tcp_qp *qp)
{
	uint32_t i;

	tcp_mutex_lock(&cq->qps_lock);
	for (i = 0; i < cq->nqps; i++)
		if (cq->qps[i] == qp) {
			cq->qps[i] = cq->qps[--cq->nqps];
			break;
		}
	/* no poll of this CQ may find it in the ready set from now on */
	tcp_cq_ready_gone(cq, qp);
	tcp_mutex_unlock(&cq->qps_lock);
}

/* At least n entries queued? A hint read without the lock (the next poll
 * sees more). */
static bool ring_holds_hint(struct tcp_cq *cq, uint32_t n)
{
	return __atomic_load_n(&cq->tail, __ATOMIC_ACQUIRE) -
		       __atomic_load_n(&cq->head, __ATOMIC_RELAXED) >=
	       n;
}

/*
 * A poll that takes up to `want` entries (0: ibv_start_poll, which always
 * reads) counts itself
 * and drives the CQ's QPs (tcp_progress_cq), except:
 * - when the CQ already holds what it takes: reading the sockets again
 *   would only grow the backlog while the application's receives sit in
 *   it unreposted. (A receiver of several SEND QPs fell behind that way,
 *   advertised a few credits a frame and spent its CPU sending them.)
 *   Every TCP_CQ_FED_SKIPS-th such poll reads anyway, so QPs the engine
 *   keeps feeding the CQ from cannot starve those the poller reads;
 * - when a bandwidth test's requester found nothing lately: then a few
 *   polls skip it (rx_skip, tcp_progress_cq).
 */
static void poll_progress(struct tcp_cq *cq, uint32_t want)
{
	unsigned int skip;

	atomic_fetch_add_explicit(&cq->polls, 1, memory_order_relaxed);
	if (want && ring_holds_hint(cq, want) &&
	    atomic_fetch_add_explicit(&cq->fed_skips, 1, memory_order_relaxed) <
		    TCP_CQ_FED_SKIPS)
		return;
	atomic_store_explicit(&cq->fed_skips, 0, memory_order_relaxed);
	skip = atomic_load_explicit(&cq->rx_skip, memory_order_relaxed);
	if (skip)
		atomic_store_explicit(&cq->rx_skip, skip - 1,
				      memory_order_relaxed);
	else
		tcp_progress_cq(cq);
}

int tcp_poll_cq(struct ibv_cq *ibcq, int n, struct ibv_wc *wc)
{
	struct tcp_cq *cq = to_tcq(ibcq);
	int i = 0;

	if (n < 0)
		return -tcp_fail(EINVAL);
	poll_progress(cq, n);
	if (!ring_holds_hint(cq, 1))
		return 0;
	tcp_mutex_lock(&cq->lock);
	while (i < n && cq->head + i != cq->tail) {
		wc[i] = cq->ring[(cq->head + i) & (cq->size - 1)];
		i++;
	}
	tcp_cq_set_head(cq, cq->head + i);
	tcp_mutex_unlock(&cq->lock);
	return i;
}

int tcp_req_notify_cq(struct ibv_cq *ibcq, int solicited_only)
{
	struct tcp_cq *cq = to_tcq(ibcq);

	/* about to sleep: WRs held back for batching must go first, and
	 * the engine reads the sockets the application was reading */
	atomic_fetch_add_explicit(&cq->polls, 1, memory_order_relaxed);
	tcp_progress_cq(cq);
	tcp_engine_takes_rx(cq);
	tcp_mutex_lock(&cq->lock);
	/* "next completion" wins over "solicited only" until it fires */
	if (!solicited_only || cq->armed != 1)
		cq->armed = solicited_only ? 2 : 1;
	tcp_mutex_unlock(&cq->lock);
	return 0;
}

void tcp_cq_event(struct ibv_cq *ibcq)
{
	/* libibverbs counts events itself; no provider state to update. */
}

/*
 * ---- ibv_cq_ex iterator ----
 * Each step takes the CQ lock only to copy one entry out (into cq->cur,
 * which the single poller the API allows owns until its next step), never
 * across the window: a post that flushes into this CQ, or the engine
 * completing work, may push between start_poll and end_poll, and
 * next_poll sees what they pushed.
 */

static struct tcp_cq *ex_to_tcq(struct ibv_cq_ex *ex)
{
	return container_of(ex, struct tcp_cq, vcq.cq_ex);
}

static int cq_ex_pop(struct tcp_cq *cq)
{
	uint32_t i;

	tcp_mutex_lock(&cq->lock);
	if (cq->head == cq->tail) {
		tcp_mutex_unlock(&cq->lock);
		return ENOENT;
	}
	i = cq->head & (cq->size - 1);
	cq->cur = cq->ring[i];
	if (cq->ts_raw)
		cq->cur_ts_raw = cq->ts_raw[i];
	if (cq->ts_wall)
		cq->cur_ts_wall = cq->ts_wall[i];
	tcp_cq_set_head(cq, cq->head + 1);
	tcp_mutex_unlock(&cq->lock);
	cq->vcq.cq_ex.status = cq->cur.status;
	cq->vcq.cq_ex.wr_id = cq->cur.wr_id;
	return 0;
}

static int cq_ex_start_poll(struct ibv_cq_ex *ex, struct ibv_poll_cq_attr *a)
{
	struct tcp_cq *cq = ex_to_tcq(ex);

	if (a->comp_mask)
		return EINVAL;
	poll_progress(cq, 0); /* reads at every start, as it always has */
	if (!ring_holds_hint(cq, 1))
		return ENOENT;
	return cq_ex_pop(cq);
}

static int cq_ex_next_poll(struct ibv_cq_ex *ex)
{
	return cq_ex_pop(ex_to_tcq(ex));
}

static void cq_ex_end_poll(struct ibv_cq_ex *ex)
{
	(void)ex; /* nothing is held across the window */
}

static enum ibv_wc_opcode cq_ex_read_opcode(struct ibv_cq_ex *ex)
{
	return ex_to_tcq(ex)->cur.opcode;
}

static uint32_t cq_ex_read_vendor_err(struct ibv_cq_ex *ex)
{
	return ex_to_tcq(ex)->cur.vendor_err;
}

static uint32_t cq_ex_read_byte_len(struct ibv_cq_ex *ex)
{
	return ex_to_tcq(ex)->cur.byte_len;
}

static __be32 cq_ex_read_imm_data(struct ibv_cq_ex *ex)
{
	return ex_to_tcq(ex)->cur.imm_data;
}

static uint32_t cq_ex_read_qp_num(struct ibv_cq_ex *ex)
{
	return ex_to_tcq(ex)->cur.qp_num;
}

static uint32_t cq_ex_read_src_qp(struct ibv_cq_ex *ex)
{
	return ex_to_tcq(ex)->cur.src_qp;
}

static unsigned int cq_ex_read_wc_flags(struct ibv_cq_ex *ex)
{
	return ex_to_tcq(ex)->cur.wc_flags;
}

static uint32_t cq_ex_read_slid(struct ibv_cq_ex *ex)
{
	return ex_to_tcq(ex)->cur.slid;
}

static uint8_t cq_ex_read_sl(struct ibv_cq_ex *ex)
{
	return ex_to_tcq(ex)->cur.sl;
}

static uint8_t cq_ex_read_dlid_path_bits(struct ibv_cq_ex *ex)
{
	return ex_to_tcq(ex)->cur.dlid_path_bits;
}

static uint64_t cq_ex_read_completion_ts(struct ibv_cq_ex *ex)
{
	return ex_to_tcq(ex)->cur_ts_raw;
}

static uint64_t cq_ex_read_completion_wallclock_ns(struct ibv_cq_ex *ex)
{
	return ex_to_tcq(ex)->cur_ts_wall;
}

/* The read_* a CQ offers: those of the wc_flags it was created with. */
static void cq_ex_set_readers(struct ibv_cq_ex *ex, uint64_t f)
{
	ex->start_poll = cq_ex_start_poll;
	ex->next_poll = cq_ex_next_poll;
	ex->end_poll = cq_ex_end_poll;
	ex->read_opcode = cq_ex_read_opcode;
	ex->read_vendor_err = cq_ex_read_vendor_err;
	ex->read_wc_flags = cq_ex_read_wc_flags;
	if (f & IBV_WC_EX_WITH_BYTE_LEN)
		ex->read_byte_len = cq_ex_read_byte_len;
	if (f & IBV_WC_EX_WITH_IMM)
		ex->read_imm_data = cq_ex_read_imm_data;
	if (f & IBV_WC_EX_WITH_QP_NUM)
		ex->read_qp_num = cq_ex_read_qp_num;
	if (f & IBV_WC_EX_WITH_SRC_QP)
		ex->read_src_qp = cq_ex_read_src_qp;
	if (f & IBV_WC_EX_WITH_SLID)
		ex->read_slid = cq_ex_read_slid;
	if (f & IBV_WC_EX_WITH_SL)
		ex->read_sl = cq_ex_read_sl;
	if (f & IBV_WC_EX_WITH_DLID_PATH_BITS)
		ex->read_dlid_path_bits = cq_ex_read_dlid_path_bits;
	if (f & IBV_WC_EX_WITH_COMPLETION_TIMESTAMP)
		ex->read_completion_ts = cq_ex_read_completion_ts;
	if (f & IBV_WC_EX_WITH_COMPLETION_TIMESTAMP_WALLCLOCK)
		ex->read_completion_wallclock_ns =
			cq_ex_read_completion_wallclock_ns;
}

/*
 * IBV_CQ_INIT_ATTR_MASK_PD names a parent domain of this context (as
 * mlx5 asks): the CQ's ring comes from its allocator.
 */
static int check_cq_ex_attr(struct ibv_context *ibctx,
			    struct ibv_cq_init_attr_ex *attr)
{
	struct ibv_pd *pd = attr->parent_domain;

	if (attr->comp_mask &
	    ~(IBV_CQ_INIT_ATTR_MASK_FLAGS | IBV_CQ_INIT_ATTR_MASK_PD))
		return EOPNOTSUPP;
	if (attr->wc_flags & ~TCP_CQ_WC_FLAGS_SUP)
		return EOPNOTSUPP;
	if ((attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_FLAGS) &&
	    (attr->flags & ~IBV_CREATE_CQ_ATTR_SINGLE_THREADED))
		return EOPNOTSUPP;
	if ((attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_PD) &&
	    (!pd || pd->context != ibctx ||
	     !tcp_obj_ok(&to_tpd(pd)->id, ibctx, pd->handle) ||
	     tcp_pd_prot(pd) == to_tpd(pd)))
		return EINVAL;
	return 0;
}

struct ibv_cq_ex *tcp_create_cq_ex(struct ibv_context *ibctx,
				   struct ibv_cq_init_attr_ex *attr)
{
	struct tcp_cq *cq;
	int err = check_cq_ex_attr(ibctx, attr);

	if (err) {
		errno = err;
		return NULL;
	}
	cq = calloc(1, sizeof(*cq));
	if (!cq) {
		errno = ENOMEM;
		return NULL;
	}
	cq->wc_flags_ex = attr->wc_flags;
	if (attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_PD)
		cq->pdom = tcp_pdom_get(attr->parent_domain, &cq->alloc);
	err = cq_init(to_tctx(ibctx), cq, attr->cqe, attr->comp_vector,
		      attr->channel);
	if (err) {
		tcp_pdom_put(cq->pdom);
		free(cq);
		errno = err;
		return NULL;
	}
	cq->vcq.cq_ex.cqe = attr->cqe;
	cq_ex_set_readers(&cq->vcq.cq_ex, attr->wc_flags);
	return &cq->vcq.cq_ex;
}
