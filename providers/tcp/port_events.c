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
	struct tcp_rendezvous *rv = ctx->rv;
	int up = 0, mtu, mbps;

	tcp_netdev_state(ctx->dev->netdev, &up, &mtu, &mbps);
	if (up != rv->port_up) {
		rv->port_up = up;
		tcp_async_post(ctx,
			       up ? IBV_EVENT_PORT_ACTIVE : IBV_EVENT_PORT_ERR,
			       1);
	}
}

static unsigned int port_events_ready(struct tcp_context *ctx,
				      struct tcp_watch *w, uint32_t events)
{
	struct tcp_rendezvous *rv = ctx->rv;
	char buf[8192];
	bool link = false, gid = false;
	ssize_t n;

	(void)w;
	(void)events;
	while ((n = recv(rv->nlfd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		struct nlmsghdr *h;
		int len = (int)n;

		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == RTM_NEWLINK ||
			    h->nlmsg_type == RTM_DELLINK) {
				struct ifinfomsg *i = NLMSG_DATA(h);

				if (i->ifi_index == rv->ifindex ||
				    h->nlmsg_type == RTM_DELLINK)
					link = true;
			} else if (h->nlmsg_type == RTM_NEWADDR ||
				   h->nlmsg_type == RTM_DELADDR) {
				struct ifaddrmsg *a = NLMSG_DATA(h);

				if ((int)a->ifa_index == rv->ifindex)
					gid = true;
			}
		}
	}
	if (n < 0 && errno == ENOBUFS)
		link = gid = true; /* overrun: re-check everything */
	if (link) {
		rv->ifindex = (int)if_nametoindex(ctx->dev->netdev);
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
static int port_events_open(struct tcp_context *ctx)
{
	struct tcp_rendezvous *rv = ctx->rv;
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK,
		.nl_groups =
			RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
	};
	int mtu, mbps;

	rv->nlfd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
			  NETLINK_ROUTE);
	if (rv->nlfd < 0)
		return 0;
	if (bind(rv->nlfd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(rv->nlfd);
		rv->nlfd = -1;
		return 0;
	}
	rv->ifindex = (int)if_nametoindex(ctx->dev->netdev);
	tcp_netdev_state(ctx->dev->netdev, &rv->port_up, &mtu, &mbps);
	rv->nl.ops = &port_events_ops;
	tcp_engine_watch(ctx, rv->nlfd, &rv->nl, EPOLLIN);
	return 0;
}

static void port_events_close(struct tcp_context *ctx)
{
	struct tcp_rendezvous *rv = ctx->rv;

	if (rv && rv->nlfd >= 0)
		close(rv->nlfd);
	if (rv)
		rv->nlfd = -1;
}

const struct tcp_engine_hooks tcp_port_hooks = {
	.start = port_events_open,
	.stop = port_events_close,
};
