// SPDX-License-Identifier: MIT
/*
 * Completion channels for tcp devices.
 *
 * libibverbs makes a completion channel by writing a command to the
 * device's cmd_fd; a tcp device has no kernel behind that fd, so the call
 * fails (ENOSPC from the /dev/full-backed node) -- the right answer without
 * this library. With it, ibv_create_comp_channel() on a tcp context builds
 * the channel here instead (include/rdma_tcp/chan.h): ch.fd, what the
 * application polls and what libibverbs' stock ibv_get_cq_event() reads,
 * is one end of a datagram socketpair; the provider writes one 8-byte
 * event record (the CQ pointer) per completion event into the other end,
 * wfd. A datagram pair keeps records whole whatever the readers do, and
 * the fd is a real one: poll/epoll/O_NONBLOCK behave as on a NIC.
 *
 * Destroying goes through libibverbs' own ibv_destroy_comp_channel(),
 * which keeps the "EBUSY while CQs use it" rule (it counts the CQs) and
 * frees the record; wfd is closed only once that succeeded.
 *
 * Every other context is passed through to libibverbs unchanged (the
 * interposers are in entry.c).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rdma_tcp/chan.h>
#include <rdma_tcp/registry.h>

#include "ext.h"

/* Room for this many queued events before the provider has to drop one
 * (the kernel's send buffer cap applies: wmem_max unless root). */
#define CHAN_SNDBUF (4 << 20)

bool ext_is_tcp_context(struct ibv_context *ctx)
{
	return ctx && ctx->device &&
	       !strncmp(ctx->device->name, RDMA_TCP_NAME_PREFIX,
			strlen(RDMA_TCP_NAME_PREFIX));
}

struct ibv_comp_channel *ext_comp_channel_create(struct ibv_context *ctx)
{
	struct rtcp_comp_channel *rc;
	int sp[2], sz = CHAN_SNDBUF, err;

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp))
		return NULL;
	/* the provider's engine must never block on a reader that does not
	 * read: its end is non-blocking; an event that finds no room waits
	 * in the provider and is written once the reader has read some */
	if (fcntl(sp[1], F_SETFL, O_NONBLOCK)) {
		err = errno;
		goto fail;
	}
	if (setsockopt(sp[1], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		(void)setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	/* libibverbs frees the record with free() */
	rc = calloc(1, sizeof(*rc));
	if (!rc) {
		err = ENOMEM;
		goto fail;
	}
	rc->ch.context = ctx;
	rc->ch.fd = sp[0];
	rc->ch.refcnt = 0;
	rc->magic = RTCP_CHAN_MAGIC;
	rc->wfd = sp[1];
	return &rc->ch;
fail:
	close(sp[0]);
	close(sp[1]);
	errno = err;
	return NULL;
}

int ext_comp_channel_destroy(struct ibv_comp_channel *ch)
{
	struct rtcp_comp_channel *rc =
		container_of(ch, struct rtcp_comp_channel, ch);
	const struct ext_verbs *v = ext_verbs();
	int wfd = rc->wfd, ret;

	if (!v)
		return ENOSYS;
	ret = v->destroy_comp_channel(ch); /* frees rc on success */
	if (!ret)
		close(wfd);
	return ret;
}
