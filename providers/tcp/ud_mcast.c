// SPDX-License-Identifier: MIT
/*
 * UD multicast over IP multicast on the device's netdev (docs/design.md,
 * "UD queue pairs"). A multicast GID is an IP group: IPv4-mapped
 * ::ffff:224.0.0.0/100 (RoCE v2's encoding of an IPv4 group) or ff00::/8.
 * Every member listens on the group's address and one well-known port,
 * TCP_UD_MCAST_PORT (RoCE v2's), since a sender knows the group and not
 * its members' QPNs: each attached QP has a socket of its own there (with
 * SO_REUSEADDR every one gets a copy of each datagram), joined on the
 * netdev and watched by the engine. Sends go out on the netdev with the
 * kernel's multicast TTL of 1: they never leave the link.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ud.h"

bool tcp_ud_gid_mcast(const union ibv_gid *g)
{
	if (tcp_gid_is_v4(g))
		return (g->raw[12] & 0xf0) == 0xe0; /* 224.0.0.0/4 */
	return g->raw[0] == 0xff;
}

/* The group's socket: bound to the group and port, joined on the netdev. */
static int mcast_open(const union ibv_gid *g, unsigned int ifindex)
{
	int fd, one = 1, v4 = tcp_gid_is_v4(g);
	struct sockaddr_storage ss;
	socklen_t sl = tcp_gid_sockaddr(g, TCP_UD_MCAST_PORT, 0, &ss);
	struct ip_mreqn m4 = { .imr_ifindex = (int)ifindex };
	struct ipv6_mreq m6 = { .ipv6mr_interface = ifindex };

	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!v4) {
		/* (a link-scoped group is bound on the netdev) */
		((struct sockaddr_in6 *)&ss)->sin6_scope_id = ifindex;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memcpy(&m4.imr_multiaddr, g->raw + 12, 4);
	memcpy(&m6.ipv6mr_multiaddr, g->raw, 16);
	if (bind(fd, (struct sockaddr *)&ss, sl) ||
	    (v4 ? setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m4, sizeof(m4))
		: setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m6,
			     sizeof(m6)))) {
		int err = errno;

		close(fd);
		return -err;
	}
	if (v4) {
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one));
	} else {
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one,
			   sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one,
			   sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &one,
			   sizeof(one));
	}
	return fd;
}

/* A membership's datagrams, read by the engine (its own watch). */
static unsigned int mcast_ready(struct tcp_context *ctx, struct tcp_watch *w,
				uint32_t events)
{
	struct tcp_ud_mcast *m = container_of(w, struct tcp_ud_mcast, p);
	struct tcp_qp *qp = m->qp;

	(void)ctx, (void)events;
	/* (a membership buried in this batch: its QP is freed no earlier) */
	tcp_mutex_lock(&qp->lock);
	if (!qp->dead && m->fd >= 0)
		tcp_ud_rx_fd(qp, m->fd, &m->mgid);
	tcp_qp_unlock(qp);
	return TCP_READY_IO;
}

static void mcast_free(struct tcp_watch *w)
{
	free(container_of(w, struct tcp_ud_mcast, p));
}

static const struct tcp_watch_ops mcast_ops = {
	.ready = mcast_ready,
	.free = mcast_free,
};

static struct tcp_ud_mcast **mcast_find(struct tcp_ud *ud,
					const union ibv_gid *g)
{
	struct tcp_ud_mcast **pm;

	for (pm = &ud->mc; *pm; pm = &(*pm)->next)
		if (!memcmp(&(*pm)->mgid, g, sizeof(*g)))
			return pm;
	return NULL;
}

/* Caller holds ctx->lock and qp->lock. */
static int mcast_attach(struct tcp_qp *qp, const union ibv_gid *g)
{
	struct tcp_ud *ud = qp->ud;
	struct tcp_ud_mcast *m;
	int err;

	if (mcast_find(ud, g))
		return 0; /* attached already: as rxe, not an error */
	if (ud->nmc >= TCP_UD_MCAST_PER_QP)
		return ENOMEM;
	m = calloc(1, sizeof(*m));
	if (!m)
		return ENOMEM;
	m->p.ops = &mcast_ops;
	m->qp = qp;
	m->mgid = *g;
	m->fd = mcast_open(g, ud->ifindex);
	if (m->fd < 0) {
		err = -m->fd;
		free(m);
		return err;
	}
	err = tcp_engine_watch(qp->ctx, m->fd, &m->p, EPOLLIN);
	if (err) {
		close(m->fd);
		free(m);
		return err;
	}
	m->next = ud->mc;
	ud->mc = m;
	ud->nmc++;
	return 0;
}

/* Caller holds ctx->lock and qp->lock (bury's rule). */
void tcp_ud_mcast_leave(struct tcp_qp *qp, struct tcp_ud_mcast **pm)
{
	struct tcp_ud_mcast *m = *pm;

	*pm = m->next;
	qp->ud->nmc--;
	tcp_engine_unwatch(qp->ctx, m->fd);
	close(m->fd); /* the kernel leaves the group with it */
	m->fd = -1;
	tcp_engine_bury(qp->ctx, &m->p);
}

/*
 * ibv_attach_mcast / ibv_detach_mcast: UD QPs only, multicast GIDs only
 * (EINVAL otherwise, as the kernel's ib_attach_mcast checks); detaching a
 * group the QP is not attached to is EINVAL (rxe).
 */
static int mcast_verb(struct ibv_qp *ibqp, const union ibv_gid *gid,
		      bool attach)
{
	struct tcp_qp *qp = to_tqp(ibqp);
	struct tcp_context *ctx = qp->ctx;
	struct tcp_ud_mcast **pm;
	int err = 0;

	if (!tcp_obj_ok(&qp->id, ibqp->context, ibqp->handle))
		return tcp_fail(EINVAL);
	if (qp->type != IBV_QPT_UD || !gid || !tcp_ud_gid_mcast(gid))
		return tcp_fail(EINVAL);
	tcp_mutex_lock(&ctx->lock);
	tcp_mutex_lock(&qp->lock);
	if (attach) {
		err = mcast_attach(qp, gid);
	} else {
		pm = mcast_find(qp->ud, gid);
		if (pm)
			tcp_ud_mcast_leave(qp, pm);
		else
			err = EINVAL;
	}
	tcp_qp_unlock(qp);
	tcp_mutex_unlock(&ctx->lock);
	return tcp_fail(err);
}

int tcp_attach_mcast(struct ibv_qp *qp, const union ibv_gid *gid, uint16_t lid)
{
	(void)lid; /* no LIDs on RoCE */
	return mcast_verb(qp, gid, true);
}

int tcp_detach_mcast(struct ibv_qp *qp, const union ibv_gid *gid, uint16_t lid)
{
	(void)lid;
	return mcast_verb(qp, gid, false);
}
