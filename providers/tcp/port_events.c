// SPDX-License-Identifier: MIT
/*
 * Port events: the port follows its netdev, so link changes become
 * IBV_EVENT_PORT_ACTIVE / IBV_EVENT_PORT_ERR and address changes
 * IBV_EVENT_GID_CHANGE, as a RoCE NIC's driver reports them. The engine
 * watches an rtnetlink socket subscribed to link and address groups.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

static void check_link(struct tcp_context *ctx)
{
	struct tcp_engine *e = ctx->engine;
	int up = 0, mtu, mbps;

	tcp_netdev_state(ctx->dev->netdev, &up, &mtu, &mbps);
	if (up != e->port_up) {
		e->port_up = up;
		tcp_async_post(ctx,
			       up ? IBV_EVENT_PORT_ACTIVE : IBV_EVENT_PORT_ERR,
			       1);
	}
}

static unsigned int port_events_ready(struct tcp_context *ctx,
				      struct tcp_watch *w, uint32_t events)
{
	struct tcp_engine *e = ctx->engine;
	char buf[8192];
	bool link = false, gid = false;
	ssize_t n;

	(void)w;
	(void)events;
	while ((n = recv(e->nlfd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		struct nlmsghdr *h;
		int len = (int)n;

		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == RTM_NEWLINK ||
			    h->nlmsg_type == RTM_DELLINK) {
				struct ifinfomsg *i = NLMSG_DATA(h);

				if (i->ifi_index == e->ifindex ||
				    h->nlmsg_type == RTM_DELLINK)
					link = true;
			} else if (h->nlmsg_type == RTM_NEWADDR ||
				   h->nlmsg_type == RTM_DELADDR) {
				struct ifaddrmsg *a = NLMSG_DATA(h);

				if ((int)a->ifa_index == e->ifindex)
					gid = true;
			}
		}
	}
	if (n < 0 && errno == ENOBUFS)
		link = gid = true; /* overrun: re-check everything */
	if (link) {
		e->ifindex = (int)if_nametoindex(ctx->dev->netdev);
		check_link(ctx);
	}
	/* the listeners follow the addresses (listen.c) */
	if (gid || link)
		tcp_listen_sync(ctx);
	if (gid)
		tcp_async_post(ctx, IBV_EVENT_GID_CHANGE, 1);
	return 0;
}

static const struct tcp_watch_ops port_events_ops = {
	.ready = port_events_ready,
};

/* Without rtnetlink (unlikely) the port simply raises no events. */
static void port_events_open(struct tcp_context *ctx)
{
	struct tcp_engine *e = ctx->engine;
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK,
		.nl_groups =
			RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
	};
	int mtu, mbps;

	e->nlfd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
			 NETLINK_ROUTE);
	if (e->nlfd < 0)
		return;
	if (bind(e->nlfd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(e->nlfd);
		e->nlfd = -1;
		return;
	}
	e->ifindex = (int)if_nametoindex(ctx->dev->netdev);
	tcp_netdev_state(ctx->dev->netdev, &e->port_up, &mtu, &mbps);
	e->nl.ops = &port_events_ops;
	tcp_engine_watch(ctx, e->nlfd, &e->nl, EPOLLIN);
}

static void port_events_close(struct tcp_context *ctx)
{
	struct tcp_engine *e = ctx->engine;

	if (e->nlfd >= 0)
		close(e->nlfd);
	e->nlfd = -1;
}

const struct tcp_engine_hooks tcp_port_hooks = {
	.start = port_events_open,
	.stop = port_events_close,
};
