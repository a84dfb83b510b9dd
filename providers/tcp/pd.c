// SPDX-License-Identifier: MIT
/* Protection domains: a tag shared by MRs and QPs, checked at placement. */
#include <errno.h>
#include <stdlib.h>

#include "tcp.h"

struct ibv_pd *tcp_alloc_pd(struct ibv_context *ibctx)
{
	struct tcp_context *ctx = to_tctx(ibctx);
	struct tcp_pd *pd;

	if (atomic_fetch_add(&ctx->n_pd, 1) >= TCP_MAX_PD) {
		atomic_fetch_sub(&ctx->n_pd, 1);
		errno = ENOMEM;
		return NULL;
	}
	pd = calloc(1, sizeof(*pd));
	if (!pd) {
		atomic_fetch_sub(&ctx->n_pd, 1);
		errno = ENOMEM;
		return NULL;
	}
	pd->ibv_pd.context = ibctx;
	pd->prot = pd;
	tcp_obj_init(&pd->id, ctx, &pd->ibv_pd.handle);
	return &pd->ibv_pd;
}

int tcp_dealloc_pd(struct ibv_pd *ibpd)
{
	struct tcp_pd *pd = to_tpd(ibpd);

	if (!tcp_obj_ok(&pd->id, ibpd->context, ibpd->handle))
		return tcp_fail(ENOENT);
	if (pd->prot != pd)
		return tcp_dealloc_parent_domain(pd);
	if (atomic_load(&pd->users))
		return tcp_fail(EBUSY);
	atomic_fetch_sub(&to_tctx(ibpd->context)->n_pd, 1);
	free(pd);
	return 0;
}
