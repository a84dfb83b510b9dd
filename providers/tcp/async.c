// SPDX-License-Identifier: MIT
/*
 * Asynchronous events. libibverbs reads fixed-size records from
 * context->async_fd; with no kernel behind us, that fd is the read end of a
 * pipe the provider writes. A pipe is pollable and readable exactly when an
 * event is queued, which is what epoll-driven middleware (UCX) expects.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <rdma/ib_user_verbs.h>

#include "tcp.h"

static_assert(sizeof(struct vabi_async_event_desc) ==
		      sizeof(struct ib_uverbs_async_event_desc),
	      "async event record must match the kernel's");

int tcp_async_open(struct tcp_context *ctx)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return errno;
	/*
	 * The provider must never block on a full pipe (an application that
	 * never reads events); the read end stays blocking because
	 * ibv_get_async_event() is documented to block.
	 */
	fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK);
	ctx->vctx.context.async_fd = p[0];
	ctx->async_wfd = p[1];
	return 0;
}

void tcp_async_post(struct tcp_context *ctx, enum ibv_event_type type,
		    uint64_t element)
{
	struct vabi_async_event_desc d = { .element = element,
					   .event_type = type };
	ssize_t n;

	tcp_mutex_lock(&ctx->async_lock);
	do {
		n = write(ctx->async_wfd, &d, sizeof(d));
	} while (n < 0 && errno == EINTR);
	/* A full pipe drops the event, as a NIC's overflowing EQ would. */
	tcp_mutex_unlock(&ctx->async_lock);
}

void tcp_async_event(struct ibv_context *ctx, struct ibv_async_event *ev)
{
	/* Nothing to do on the provider side once the event is read. */
}
