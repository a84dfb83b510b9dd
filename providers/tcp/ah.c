// SPDX-License-Identifier: MIT
/*
 * Address handles, as UD sends use them (ud_tx.c), checked as a RoCE
 * device checks them: a GRH, port 1, a source GID index that names an
 * address (rxe refuses an AH whose sgid entry is empty).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qp.h"

struct ibv_ah *tcp_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)
{
	static const union ibv_gid zero;
	struct tcp_context *ctx = to_tctx(pd->context);
	union ibv_gid sgid;
	struct tcp_ah *ah;

	if (!attr->is_global || attr->port_num != 1 ||
	    attr->grh.sgid_index >= TCP_GID_TBL_LEN ||
	    ibv_query_gid(pd->context, 1, attr->grh.sgid_index, &sgid) ||
	    !memcmp(&sgid, &zero, sizeof(sgid))) {
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
	ah->sgid = sgid;
	tcp_obj_init(&ah->id, ctx, &ah->ibv_ah.handle);
	atomic_fetch_add(&to_tpd(pd)->users, 1);
	return &ah->ibv_ah;
}

int tcp_destroy_ah(struct ibv_ah *ibah)
{
	struct tcp_ah *ah = container_of(ibah, struct tcp_ah, ibv_ah);

	if (!tcp_obj_ok(&ah->id, ibah->context, ibah->handle))
		return tcp_fail(ENOENT);
	atomic_fetch_sub(&to_tpd(ibah->pd)->users, 1);
	atomic_fetch_sub(&to_tctx(ibah->context)->n_ah, 1);
	free(ah);
	return 0;
}
