// SPDX-License-Identifier: MIT
/*
 * Memory windows (see mw.h): allocation, binding and invalidation with
 * rxe's rules (drivers/infiniband/sw/rxe/rxe_mw.c), and the window side
 * of the remote access check (place.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mw.h"
#include "qp.h"

#define MW_WRITABLE (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC)

/* A BIND_MW's window rights travel in its imm field (queue_bind). */
static int mw_access(const struct tcp_send_wqe *w)
{
	return (int)w->imm;
}

static struct tcp_mw *to_tmw(struct ibv_mw *mw)
{
	return container_of(mw, struct tcp_mw, ibmw);
}

struct ibv_mw *tcp_alloc_mw(struct ibv_pd *ibpd, enum ibv_mw_type type)
{
	struct tcp_context *ctx = to_tctx(ibpd->context);
	struct tcp_mw *mw;
	int err;

	if (type != IBV_MW_TYPE_1 && type != IBV_MW_TYPE_2) {
		errno = EINVAL;
		return NULL;
	}
	if (atomic_fetch_add(&ctx->n_mw, 1) >= TCP_MAX_MW) {
		atomic_fetch_sub(&ctx->n_mw, 1);
		errno = ENOMEM;
		return NULL;
	}
	mw = calloc(1, sizeof(*mw));
	err = mw ? keytab_insert_kind(&ctx->keys, mw, KEYTAB_MW, &mw->key)
		 : ENOMEM;
	if (err) {
		free(mw);
		atomic_fetch_sub(&ctx->n_mw, 1);
		errno = err;
		return NULL;
	}
	mw->pd = tcp_pd_prot(ibpd);
	mw->ibmw.context = ibpd->context;
	mw->ibmw.pd = ibpd;
	mw->ibmw.rkey = mw->key;
	mw->ibmw.handle = mw->key;
	mw->ibmw.type = type;
	atomic_fetch_add(&mw->pd->users, 1);
	return &mw->ibmw;
}

/* Caller holds keys.lock: the window no longer grants anything. */
static void mw_unbind_locked(struct tcp_mw *mw)
{
	if (mw->mr)
		atomic_fetch_sub(&mw->mr->mws, 1);
	mw->mr = NULL;
	mw->qp = NULL;
	mw->qpn = 0;
	mw->addr = mw->length = 0;
	mw->access = 0;
}

/* A bound window is unbound first (rxe: dealloc of a bound MW succeeds). */
int tcp_dealloc_mw(struct ibv_mw *ibmw)
{
	struct tcp_mw *mw = to_tmw(ibmw);
	struct tcp_context *ctx = to_tctx(ibmw->context);

	tcp_mutex_lock(&ctx->keys.lock);
	mw_unbind_locked(mw);
	keytab_remove_locked(&ctx->keys, mw->key);
	tcp_mutex_unlock(&ctx->keys.lock);
	atomic_fetch_sub(&mw->pd->users, 1);
	atomic_fetch_sub(&ctx->n_mw, 1);
	free(mw);
	return 0;
}

/*
 * ibv_bind_mw, as rxe's provider does it: a BIND_MW work request on the
 * QP, with the next key; the window's rkey is the new one at once (if the
 * bind fails, its completion says so and the old key stays current).
 */
int tcp_bind_mw(struct ibv_qp *qp, struct ibv_mw *mw, struct ibv_mw_bind *bind)
{
	struct ibv_send_wr wr, *bad;
	int err;

	if (bind->bind_info.mw_access_flags & IBV_ACCESS_ZERO_BASED)
		return tcp_fail(EINVAL);
	memset(&wr, 0, sizeof(wr));
	wr.opcode = IBV_WR_BIND_MW;
	wr.wr_id = bind->wr_id;
	wr.send_flags = bind->send_flags;
	wr.bind_mw.mw = mw;
	wr.bind_mw.rkey = ibv_inc_rkey(mw->rkey);
	wr.bind_mw.bind_info = bind->bind_info;
	err = tcp_post_send(qp, &wr, &bad);
	if (err)
		return err;
	mw->rkey = wr.bind_mw.rkey;
	return 0;
}

/* The region side of a bind (rxe_check_bind_mw's C10-73..75 and more). */
static bool bind_mr_ok(const struct tcp_send_wqe *w, const struct tcp_mw *mw,
		       const struct tcp_mr *mr)
{
	if (mr->pd != mw->pd || (mr->access & IBV_ACCESS_ZERO_BASED) ||
	    !(mr->access & IBV_ACCESS_MW_BIND))
		return false;
	if ((mw_access(w) & MW_WRITABLE) &&
	    !(mr->access & IBV_ACCESS_LOCAL_WRITE))
		return false;
	if (mw_access(w) & IBV_ACCESS_ZERO_BASED)
		return w->mw_len <= mr->length;
	return w->raddr >= mr->iova && w->mw_len <= mr->length &&
	       w->raddr - mr->iova <= mr->length - w->mw_len;
}

static bool bind_ok(struct tcp_qp *qp, const struct tcp_send_wqe *w,
		    const struct tcp_mw *mw, const struct tcp_mr *mr)
{
	if (mw->ibmw.type == IBV_MW_TYPE_1) {
		/* the key the application named must be the current one */
		if (w->mw_key != mw->key ||
		    (mw_access(w) & IBV_ACCESS_ZERO_BASED))
			return false;
	} else {
		/* bound already (invalidate first), other PD, or no region */
		if (mw->mr || qp->pd != mw->pd || !mr || !w->mw_len)
			return false;
	}
	return !mr || bind_mr_ok(w, mw, mr);
}

enum ibv_wc_status tcp_mw_bind_wqe(struct tcp_qp *qp,
				   const struct tcp_send_wqe *w)
{
	struct keytab *kt = &qp->ctx->keys;
	struct tcp_mw *mw;
	struct tcp_mr *mr = NULL;
	bool ok;

	tcp_mutex_lock(&kt->lock);
	mw = keytab_obj_locked(kt, w->mw_key, KEYTAB_MW);
	if (mw && w->mw_len)
		mr = keytab_lookup_locked(kt, w->mr_lkey);
	ok = mw && (!w->mw_len || mr) && bind_ok(qp, w, mw, mr);
	if (ok) {
		mw_unbind_locked(mw);
		mw->key = keytab_set_byte_locked(kt, mw->key, w->rkey & 0xff);
		if (w->mw_len) {
			mw->mr = mr;
			atomic_fetch_add(&mr->mws, 1);
			mw->addr = w->raddr;
			mw->length = w->mw_len;
			mw->access = mw_access(w);
		}
		if (mw->ibmw.type == IBV_MW_TYPE_2) {
			mw->qp = qp;
			mw->qpn = qp->vqp.qp.qp_num;
		}
	}
	tcp_mutex_unlock(&kt->lock);
	return ok ? IBV_WC_SUCCESS : IBV_WC_MW_BIND_ERR;
}

/*
 * Invalidates type 2 window rkey; remote: by a peer's SEND_WITH_INV, which
 * may only reach a window of this QP's PD, if bound then through this QP.
 * A window already free stays free. False if rkey names no such window.
 */
static bool mw_invalidate(struct tcp_qp *qp, uint32_t rkey, bool remote)
{
	struct keytab *kt = &qp->ctx->keys;
	struct tcp_mw *mw;
	bool ok;

	tcp_mutex_lock(&kt->lock);
	mw = keytab_lookup_kind_locked(kt, rkey, KEYTAB_MW);
	ok = mw && mw->ibmw.type == IBV_MW_TYPE_2;
	if (ok && remote)
		ok = mw->pd == qp->pd &&
		     (!mw->mr ||
		      (mw->qp == qp && mw->qpn == qp->vqp.qp.qp_num));
	if (ok)
		mw_unbind_locked(mw);
	tcp_mutex_unlock(&kt->lock);
	return ok;
}

enum ibv_wc_status tcp_mw_local_inv(struct tcp_qp *qp, uint32_t rkey)
{
	/* (a region's key: user MRs are not fast-registered, as in rxe) */
	return mw_invalidate(qp, rkey, false) ? IBV_WC_SUCCESS
					      : IBV_WC_LOC_QP_OP_ERR;
}

bool tcp_mw_remote_inv(struct tcp_qp *qp, uint32_t rkey)
{
	return mw_invalidate(qp, rkey, true);
}

bool tcp_mw_sq_op(struct tcp_qp *qp, struct tcp_send_wqe *w)
{
	if (w->opcode == IBV_WR_BIND_MW)
		w->status = tcp_mw_bind_wqe(qp, w);
	else if (w->opcode == IBV_WR_LOCAL_INV)
		w->status = tcp_mw_local_inv(qp, w->rkey);
	else
		return false;
	w->state = WQE_DONE;
	return true;
}

struct tcp_mr *tcp_mw_target_locked(struct tcp_qp *qp, uint32_t rkey,
				    uint64_t *va, uint64_t len, int access)
{
	struct tcp_mw *mw =
		keytab_lookup_kind_locked(&qp->ctx->keys, rkey, KEYTAB_MW);
	bool zb;
	uint64_t off;

	if (!mw || !mw->mr || mw->pd != qp->pd || !(mw->access & access))
		return NULL;
	if (mw->ibmw.type == IBV_MW_TYPE_2 &&
	    (mw->qp != qp || mw->qpn != qp->vqp.qp.qp_num))
		return NULL;
	zb = mw->access & IBV_ACCESS_ZERO_BASED;
	if (!zb && *va < mw->addr)
		return NULL;
	off = zb ? *va : *va - mw->addr;
	if (off > mw->length || len > mw->length - off)
		return NULL;
	*va = mw->addr + off;
	return mw->mr;
}

struct tcp_mr *tcp_mw_mr_locked(struct tcp_context *ctx, uint32_t rkey)
{
	struct tcp_mw *mw =
		keytab_lookup_kind_locked(&ctx->keys, rkey, KEYTAB_MW);

	return mw ? mw->mr : NULL;
}
