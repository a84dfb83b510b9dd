// SPDX-License-Identifier: MIT
/*
 * Opening and closing a device: the context, its operation table, and the
 * per-context state (key table, async events, the transport engine).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stat.h"
#include "tcp.h"
#include "qp.h"
#include "conn.h"
#include "mw.h"
#include "sec_conn.h"

static void tcp_free_context(struct ibv_context *ibctx);

static const struct verbs_context_ops tcp_ctx_ops = {
	.alloc_mw = tcp_alloc_mw,
	.alloc_parent_domain = tcp_alloc_parent_domain,
	.alloc_pd = tcp_alloc_pd,
	.alloc_td = tcp_alloc_td,
	.attach_mcast = tcp_attach_mcast,
	.bind_mw = tcp_bind_mw,
	.async_event = tcp_async_event,
	.cq_event = tcp_cq_event,
	.create_ah = tcp_create_ah,
	.create_cq = tcp_create_cq,
	.create_cq_ex = tcp_create_cq_ex,
	.create_qp = tcp_create_qp,
	.create_qp_ex = tcp_create_qp_ex,
	.create_srq = tcp_create_srq,
	.create_srq_ex = tcp_create_srq_ex,
	.dealloc_mw = tcp_dealloc_mw,
	.dealloc_pd = tcp_dealloc_pd,
	.dealloc_td = tcp_dealloc_td,
	.dereg_mr = tcp_dereg_mr,
	.destroy_ah = tcp_destroy_ah,
	.destroy_cq = tcp_destroy_cq,
	.destroy_qp = tcp_destroy_qp,
	.destroy_srq = tcp_destroy_srq,
	.detach_mcast = tcp_detach_mcast,
	.free_context = tcp_free_context,
	.get_srq_num = tcp_get_srq_num,
	.modify_qp = tcp_modify_qp,
	.modify_srq = tcp_modify_srq,
	.poll_cq = tcp_poll_cq,
	.post_recv = tcp_post_recv,
	.post_send = tcp_post_send,
	.post_srq_recv = tcp_post_srq_recv,
	.query_device_ex = tcp_query_device_ex,
	.query_port = tcp_query_port,
	.query_qp = tcp_query_qp,
	.query_qp_data_in_order = tcp_query_qp_data_in_order,
	.query_rt_values = tcp_query_rt_values,
	.query_srq = tcp_query_srq,
	.reg_mr = tcp_reg_mr,
	.req_notify_cq = tcp_req_notify_cq,
	.rereg_mr = tcp_rereg_mr,
	.resize_cq = tcp_resize_cq,
};

struct verbs_context *tcp_alloc_context(struct ibv_device *ibdev, int cmd_fd,
					void *private_data);

/* What the progress engine serves (engine.h: struct tcp_engine_hooks). */
static const struct tcp_engine_hooks *const engine_serves[] = {
	&tcp_conn_hooks, &tcp_port_hooks, &tcp_qp_hooks,
	&tcp_sec_hooks,	 &tcp_idle_hooks, NULL,
};

struct verbs_context *tcp_alloc_context(struct ibv_device *ibdev, int cmd_fd,
					void *private_data)
{
	struct tcp_context *ctx;
	int err;

	ctx = _verbs_init_and_alloc_context(
		ibdev, cmd_fd, sizeof(*ctx),
		(struct verbs_context *)offsetof(struct tcp_context, vctx),
		VABI_DRIVER_ID_NONE);
	if (!ctx)
		return NULL;
	ctx->dev = to_tdev(ibdev);
	ctx->async_wfd = -1;
	ctx->vctx.context.num_comp_vectors = 1;
	tcp_mutex_init(&ctx->async_lock, TCP_LOCK_RANK_ASYNC);
	tcp_mutex_init(&ctx->lock, TCP_LOCK_RANK_CTX);
	tcp_mutex_init(&ctx->ev_lock, TCP_LOCK_RANK_EV);
	keytab_init(&ctx->keys, TCP_MAX_MR + TCP_MAX_MW);
	verbs_set_ops(&ctx->vctx, &tcp_ctx_ops);

	/* the device's security: no key the user may read, no device */
	err = tcp_sec_open(ctx);
	if (!err)
		err = tcp_async_open(ctx);
	if (err)
		goto fail;
	/*
	 * The engine runs from the start: it reports port events, and it
	 * is what makes one-sided operations land without verb calls.
	 */
	tcp_mutex_lock(&ctx->lock);
	err = tcp_engine_start(ctx, engine_serves);
	tcp_mutex_unlock(&ctx->lock);
	if (err)
		goto fail;
	tcp_stat_open(ctx);
	return &ctx->vctx;

fail:
	if (ctx->async_wfd >= 0)
		close(ctx->async_wfd);
	tcp_sec_destroy(ctx);
	keytab_destroy(&ctx->keys);
	verbs_uninit_context(&ctx->vctx);
	free(ctx);
	errno = err;
	return NULL;
}

static void tcp_free_context(struct ibv_context *ibctx)
{
	struct tcp_context *ctx = to_tctx(ibctx);
	struct tcp_qp *qp;

	/*
	 * QPs the application left alive go as the kernel destroys what a
	 * closed device file still holds: their connections close, so their
	 * peers fail their work instead of waiting on a socket nobody serves.
	 * (Their CQs, PDs, MRs and SRQs are memory only and stay.)
	 */
	for (;;) {
		tcp_mutex_lock(&ctx->lock);
		qp = tcp_conn_live_qp(ctx);
		tcp_mutex_unlock(&ctx->lock);
		if (!qp)
			break;
		tcp_qp_destroy(qp);
	}
	tcp_engine_stop(ctx);
	tcp_stat_close(ctx);
	if (ctx->async_wfd >= 0)
		close(ctx->async_wfd);
	tcp_sec_destroy(ctx); /* keys wiped */
	keytab_destroy(&ctx->keys);
	tcp_mutex_destroy(&ctx->lock);
	tcp_mutex_destroy(&ctx->ev_lock);
	tcp_mutex_destroy(&ctx->async_lock);
	verbs_uninit_context(&ctx->vctx);
	free(ctx);
}
