// SPDX-License-Identifier: MIT
/*
 * Memory regions. Registration checks what a kernel driver's page pinning
 * would: access flags are coherent, the range is mapped (and writable when
 * write access is granted). Nothing is pinned: the only "DMA" is the
 * kernel's copy between the socket and this process's memory.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcp.h"
#include "mr_check.h"

/* Registration serials: an (address, key) pair can come back, a serial not */
static atomic_uint_fast64_t mr_serials;

/*
 * The kernel's rule for ibv_reg_mr_iova (ib_uverbs_reg_mr): the address
 * peers name and the one mapped share their offset in the page. And the
 * named range must not wrap around the end of the address space.
 */
static int check_iova(const void *addr, size_t length, uint64_t iova,
		      int access)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	if (access & IBV_ACCESS_ZERO_BASED)
		return 0;
	if ((iova & (page - 1)) != ((uintptr_t)addr & (page - 1)))
		return EINVAL;
	if (length && iova + (length - 1) < iova)
		return EINVAL;
	return 0;
}

/*
 * A zero-length region is valid, as on rxe and NICs (the kernel's
 * ib_uverbs_reg_mr does not refuse length 0): it maps no byte, so there is
 * nothing to check, and only zero-byte accesses can name it.
 */
static int mr_check_range(const void *addr, size_t length, int access)
{
	if (!length)
		return 0;
	return tcp_check_mapped(addr, length, access & TCP_ACCESS_NEEDS_WRITE);
}

struct ibv_mr *tcp_reg_mr(struct ibv_pd *ibpd, void *addr, size_t length,
			  uint64_t iova, int access)
{
	struct tcp_context *ctx = to_tctx(ibpd->context);
	struct tcp_mr *mr;
	int err;

	err = check_iova(addr, length, iova, access);
	if (!err)
		err = tcp_mr_check_access(access);
	if (!err)
		err = mr_check_range(addr, length, access);
	if (err) {
		errno = err;
		return NULL;
	}
	mr = calloc(1, sizeof(*mr));
	if (!mr) {
		errno = ENOMEM;
		return NULL;
	}
	err = keytab_insert(&ctx->keys, mr, &mr->key);
	if (err) {
		free(mr);
		errno = err;
		return NULL;
	}
	mr->serial = atomic_fetch_add(&mr_serials, 1) + 1;
	mr->pd = tcp_pd_prot(ibpd);
	mr->addr = addr;
	mr->length = length;
	mr->iova = (access & IBV_ACCESS_ZERO_BASED) ? 0 : iova;
	mr->access = access;
	mr->vmr.mr_type = IBV_MR_TYPE_MR;
	mr->vmr.access = access;
	mr->vmr.ibv_mr.lkey = mr->key;
	mr->vmr.ibv_mr.rkey = mr->key;
	mr->vmr.ibv_mr.handle = mr->key;
	atomic_fetch_add(&mr->pd->users, 1);
	return &mr->vmr.ibv_mr;
}

/*
 * Waits until no placement uses the region (see keytab.h). Placements pin
 * a region only for one copy or readv() at a time (tcp_mr_repin), never
 * across a wait for the network, so this is short whatever the peer does.
 */
static void mr_quiesce(struct tcp_mr *mr)
{
	while (atomic_load(&mr->busy))
		sched_yield();
}

/*
 * Re-registration keeps lkey and rkey, as rxe (rxe_rereg_user_mr changes
 * the PD and access in place and returns no new MR) and mlx5 do. A key of
 * the old registration still names the region, but only as it is now: the
 * new range, access and PD are set under the key table's lock, where every
 * placement check reads them. What the lock cannot cover is a placement
 * checked before and still copying: it pinned the region for one chunk and
 * is waited for (mr_quiesce), and its next chunk re-pins by serial
 * (tcp_mr_repin), which a re-registration changes, so it stops there
 * instead of landing in the old range the application may unmap now. The
 * key stays: its random tag is unique among live objects (keytab.h).
 */
static int mr_apply_rereg(struct tcp_context *ctx, struct tcp_mr *mr, int flags,
			  struct ibv_pd *ibpd, void *addr, size_t length,
			  int access)
{
	tcp_mutex_lock(&ctx->keys.lock);
	/* windows are bound to it: under the lock that binds them (mw.c),
	 * so none is bound between this look and the change */
	if (atomic_load(&mr->mws)) {
		tcp_mutex_unlock(&ctx->keys.lock);
		return EINVAL;
	}
	mr->serial = atomic_fetch_add(&mr_serials, 1) + 1;
	if (flags & IBV_REREG_MR_CHANGE_PD) {
		atomic_fetch_sub(&mr->pd->users, 1);
		mr->pd = tcp_pd_prot(ibpd);
		atomic_fetch_add(&mr->pd->users, 1);
	}
	if (flags & IBV_REREG_MR_CHANGE_TRANSLATION) {
		mr->addr = addr;
		mr->length = length;
		mr->iova = (access & IBV_ACCESS_ZERO_BASED)
				   ? 0
				   : (uint64_t)(uintptr_t)addr;
	}
	mr->access = access;
	tcp_mutex_unlock(&ctx->keys.lock);
	mr_quiesce(mr);
	return 0;
}

int tcp_rereg_mr(struct verbs_mr *vmr, int flags, struct ibv_pd *ibpd,
		 void *addr, size_t length, int access)
{
	struct tcp_mr *mr = container_of(vmr, struct tcp_mr, vmr);
	struct tcp_context *ctx = to_tctx(vmr->ibv_mr.context);
	int new_access =
		(flags & IBV_REREG_MR_CHANGE_ACCESS) ? access : mr->access;
	void *naddr =
		(flags & IBV_REREG_MR_CHANGE_TRANSLATION) ? addr : mr->addr;
	size_t nlen =
		(flags & IBV_REREG_MR_CHANGE_TRANSLATION) ? length : mr->length;
	int err;

	if (flags & ~(IBV_REREG_MR_CHANGE_TRANSLATION | IBV_REREG_MR_CHANGE_PD |
		      IBV_REREG_MR_CHANGE_ACCESS))
		return tcp_fail(EINVAL);
	if ((flags & IBV_REREG_MR_CHANGE_PD) &&
	    (!ibpd || ibpd->context != vmr->ibv_mr.context))
		return tcp_fail(EINVAL);
	err = tcp_mr_check_access(new_access);
	if (err)
		return tcp_fail(err);
	/* windows bound to it (looked at again under the lock, below) */
	if (atomic_load(&mr->mws))
		return tcp_fail(EINVAL);
	if (flags &
	    (IBV_REREG_MR_CHANGE_TRANSLATION | IBV_REREG_MR_CHANGE_ACCESS)) {
		err = mr_check_range(naddr, nlen, new_access);
		if (err)
			return tcp_fail(err);
	}

	err = mr_apply_rereg(ctx, mr, flags, ibpd, naddr, nlen, new_access);
	if (err)
		return tcp_fail(err);
	vmr->access = new_access;
	return 0;
}

/*
 * An MR's handle is its key: it is ours if the key table of the context
 * it names holds it under that key (the kernel's lookup of the handle the
 * application passes, see tcp_obj_ok).
 */
static bool mr_is_ours(struct verbs_mr *vmr)
{
	struct tcp_mr *mr = container_of(vmr, struct tcp_mr, vmr);
	struct ibv_context *ibctx = vmr->ibv_mr.context;
	struct tcp_context *ctx;
	bool ok;

	if (!ibctx || vmr->ibv_mr.handle != mr->key)
		return false;
	ctx = to_tctx(ibctx);
	tcp_mutex_lock(&ctx->keys.lock);
	ok = keytab_lookup_locked(&ctx->keys, mr->key) == mr;
	tcp_mutex_unlock(&ctx->keys.lock);
	return ok;
}

int tcp_dereg_mr(struct verbs_mr *vmr)
{
	struct tcp_mr *mr = container_of(vmr, struct tcp_mr, vmr);
	struct tcp_context *ctx;

	if (!mr_is_ours(vmr))
		return tcp_fail(ENOENT);
	ctx = to_tctx(vmr->ibv_mr.context);
	/* windows bound to it keep it (rxe, IBA 10.6.7.2.6) */
	tcp_mutex_lock(&ctx->keys.lock);
	if (atomic_load(&mr->mws)) {
		tcp_mutex_unlock(&ctx->keys.lock);
		return tcp_fail(EINVAL);
	}
	keytab_remove_locked(&ctx->keys, mr->key);
	tcp_mutex_unlock(&ctx->keys.lock);
	mr_quiesce(mr);
	atomic_fetch_sub(&mr->pd->users, 1);
	free(mr);
	return 0;
}
