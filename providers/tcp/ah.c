// SPDX-License-Identifier: MIT
/*
 * Address handles. Only UD QPs use them and those are not offered yet, but
 * middleware creates one to validate a GID (UCX does), so they exist and
 * check what a RoCE device checks.
 */
#include <errno.h>
#include <stdlib.h>

#include "qp.h"

struct ibv_ah *tcp_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)
{
	struct tcp_context *ctx = to_tctx(pd->context);
	struct tcp_ah *ah;

	if (!attr->is_global || attr->port_num != 1 ||
	    attr->grh.sgid_index >= TCP_GID_TBL_LEN) {
		errno = EINVAL;
		return NULL;
	}
	if (atomic_fetch_add(&ctx->n_ah, 1) >= TCP_MAX_AH) {
		atomic_fetch_sub(&ctx->n_ah, 1);
		errno = ENOMEM;
		return NULL;
	}
	ah = calloc(1, sizeof(*ah));
	if (!ah) {
		atomic_fetch_sub(&ctx->n_ah, 1);
		errno = ENOMEM;
		return NULL;
	}
	ah->attr = *attr;
	tcp_obj_init(&ah->id, ctx, &ah->ibv_ah.handle);
	ah->pd = tcp_pd_prot(pd);
	atomic_fetch_add(&ah->pd->users, 1);
	return &ah->ibv_ah;
}

int tcp_destroy_ah(struct ibv_ah *ibah)
{
	struct tcp_ah *ah = container_of(ibah, struct tcp_ah, ibv_ah);

	if (!tcp_obj_ok(&ah->id, ibah->context, ibah->handle))
		return tcp_fail(ENOENT);
	atomic_fetch_sub(&ah->pd->users, 1);
	atomic_fetch_sub(&to_tctx(ibah->context)->n_ah, 1);
	free(ah);
	return 0;
}
