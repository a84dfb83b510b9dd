// SPDX-License-Identifier: MIT
/*
 * Placement checks: every remote access is checked before a byte is written
 * or read. Key valid and current, region in the QP's PD, access right
 * granted by both the region and the QP, range inside the region. A key
 * may name a memory window instead: then the window's range and rights
 * decide (mw.c), and the access lands in the region it is bound to.
 */
#include "mw.h"
#include "qp.h"

/*
 * Caller holds keys.lock. The region rkey names, directly or through a
 * window (then *raddr becomes the region's address), or NULL.
 */
static struct tcp_mr *key_target_locked(struct tcp_qp *qp, uint32_t rkey,
					uint64_t *raddr, uint64_t len,
					int access)
{
	struct tcp_mr *mr = keytab_lookup_locked(&qp->ctx->keys, rkey);

	if (mr)
		return mr->pd == qp->pd && (mr->access & access) ? mr : NULL;
	return tcp_mw_target_locked(qp, rkey, raddr, len, access);
}

enum ibv_wc_status tcp_place_check(struct tcp_qp *qp, uint32_t rkey,
				   uint64_t raddr, uint64_t len, int access,
				   struct tcp_mr **out, char **where)
{
	struct tcp_context *ctx = qp->ctx;
	struct tcp_mr *mr;
	uint64_t off;

	if (!(qp->attr.qp_access_flags & access))
		return IBV_WC_REM_ACCESS_ERR;
	tcp_mutex_lock(&ctx->keys.lock);
	mr = key_target_locked(qp, rkey, &raddr, len, access);
	if (!mr || raddr < mr->iova) {
		tcp_mutex_unlock(&ctx->keys.lock);
		return IBV_WC_REM_ACCESS_ERR;
	}
	off = raddr - mr->iova;
	if (off > mr->length || len > mr->length - off) {
		tcp_mutex_unlock(&ctx->keys.lock);
		return IBV_WC_REM_ACCESS_ERR;
	}
	atomic_fetch_add(&mr->busy, 1);
	tcp_mutex_unlock(&ctx->keys.lock);
	*out = mr;
	*where = mr->addr + off;
	return IBV_WC_SUCCESS;
}

/*
 * Pins a region checked earlier again, for the next chunk of a placement
 * that spans several reads: false if it was deregistered or re-registered
 * meanwhile (its key no longer names the same registration). Between
 * chunks the region is not pinned, so ibv_dereg_mr never waits on a peer
 * that stalls in the middle of a payload.
 */
bool tcp_mr_repin(struct tcp_context *ctx, uint32_t key, struct tcp_mr *mr,
		  uint64_t serial)
{
	struct tcp_mr *cur;
	bool ok;

	tcp_mutex_lock(&ctx->keys.lock);
	cur = keytab_lookup_locked(&ctx->keys, key);
	if (!cur)
		cur = tcp_mw_mr_locked(ctx, key); /* still bound there */
	ok = cur && cur == mr && cur->serial == serial;
	if (ok)
		atomic_fetch_add(&cur->busy, 1);
	tcp_mutex_unlock(&ctx->keys.lock);
	return ok;
}

void tcp_mr_unpin(struct tcp_mr *mr)
{
	if (mr)
		atomic_fetch_sub(&mr->busy, 1);
}

/* Local SGEs: lkey current, same PD, write right when data lands there. */
enum ibv_wc_status tcp_resolve_sges(struct tcp_context *ctx, struct tcp_pd *pd,
				    const struct ibv_sge *sg, int n, bool write,
				    struct tcp_seg *out, uint32_t *total)
{
	uint64_t sum = 0;
	int i;

	tcp_mutex_lock(&ctx->keys.lock);
	for (i = 0; i < n; i++) {
		struct tcp_mr *mr;
		uint64_t off;

		out[i].len = sg[i].length;
		out[i].lkey = sg[i].lkey;
		out[i].addr = NULL;
		sum += sg[i].length;
		if (!sg[i].length)
			continue;
		mr = keytab_lookup_locked(&ctx->keys, sg[i].lkey);
		if (!mr || mr->pd != pd || sg[i].addr < mr->iova ||
		    (write && !(mr->access & IBV_ACCESS_LOCAL_WRITE)))
			goto prot;
		off = sg[i].addr - mr->iova;
		if (off > mr->length || sg[i].length > mr->length - off)
			goto prot;
		out[i].addr = mr->addr + off;
	}
	tcp_mutex_unlock(&ctx->keys.lock);
	if (sum > TCP_MAX_MSG_SZ)
		return IBV_WC_LOC_LEN_ERR;
	*total = (uint32_t)sum;
	return IBV_WC_SUCCESS;
prot:
	tcp_mutex_unlock(&ctx->keys.lock);
	return IBV_WC_LOC_PROT_ERR;
}
