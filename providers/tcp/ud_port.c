// SPDX-License-Identifier: MIT
/*
 * A UD QP's number and ports (docs/design.md, "UD queue pairs"). The QPN
 * is port << 8, as an RC QPN is its listener's port << 8 | slot, and the
 * port is held twice: on UDP by the QP's socket, and on TCP by a listener
 * entry that never listens (full, so RC takes no slot of it). RC QPNs of
 * every process on the host come from TCP ports their listeners hold, so
 * a UD QPN can never equal a live RC QPN, here or elsewhere; two UD QPs
 * cannot share a UDP port. Caller holds ctx->lock.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <unistd.h>

#include "conn.h"
#include "ud.h"

/* tries of a port free on TCP that some other program holds on UDP */
#define UD_PORT_TRIES 16

/*
 * A dual-stack UDP socket on port, with what the receive path reads: each
 * datagram's destination address, hop limit and traffic class (IPv4's
 * and IPv6's, both arrive on it). IPv6 sockets only: a host booted with
 * ipv6.disable=1 has no UD QPs.
 */
static int udp_open(uint16_t port, unsigned int ifindex)
{
	struct ip_mreqn mif = { .imr_ifindex = (int)ifindex };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
				   .sin6_port = htons(port) };
	int fd, err, off = 0, one = 1, buf = 4 << 20;

	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	if (bind(fd, (struct sockaddr *)&a6, sizeof(a6))) {
		err = errno;
		close(fd);
		return -err;
	}
	setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one));
	/* multicast leaves by the netdev (and, TTL 1, no further) */
	setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mif, sizeof(mif));
	setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex,
		   sizeof(ifindex));
	/* a burst of datagrams waits in the kernel rather than be dropped */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	return fd;
}

/* A port free on TCP and UDP alike: the listener entry and the socket. */
static int ud_ports(struct tcp_listener *l, int *fd, unsigned int ifindex)
{
	int i, err = EADDRINUSE;

	for (i = 0; i < UD_PORT_TRIES && err == EADDRINUSE; i++) {
		err = tcp_listen_reserve(l);
		if (err)
			return err;
		*fd = udp_open(l->port, ifindex);
		if (*fd >= 0)
			return 0;
		err = -*fd;
		close(l->resv_fd);
		l->resv_fd = -1;
	}
	return err;
}

int tcp_ud_port_alloc(struct tcp_qp *qp)
{
	struct tcp_rendezvous *rv = qp->ctx->rv;
	struct tcp_listener *l, **nl;
	int i, err;

	tcp_assert_held(&qp->ctx->lock);
	if (!rv)
		return ENODEV;
	l = calloc(1, sizeof(*l));
	if (!l)
		return ENOMEM;
	l->resv_fd = -1;
	for (i = 0; i < TCP_LISTEN_ADDRS; i++)
		l->socks[i].fd = -1;
	nl = realloc(rv->lis, (rv->nlis + 1) * sizeof(*nl));
	if (!nl) {
		free(l);
		return ENOMEM;
	}
	rv->lis = nl;
	err = ud_ports(l, &qp->ud->fd, qp->ud->ifindex);
	if (err) {
		qp->ud->fd = -1;
		free(l);
		return err;
	}
	l->ud = true;
	l->nused = TCP_QPS_PER_LISTENER;
	l->slots[0] = qp;
	qp->lis = l;
	qp->slot = 0;
	qp->vqp.qp.qp_num = (uint32_t)l->port << 8;
	rv->lis[rv->nlis++] = l;
	return 0;
}

/* The QP's ports go back: its socket was closed (tcp_ud_free's caller). */
void tcp_ud_port_free(struct tcp_qp *qp)
{
	struct tcp_rendezvous *rv = qp->ctx->rv;
	int i;

	tcp_assert_held(&qp->ctx->lock);
	for (i = 0; rv && i < rv->nlis; i++) {
		struct tcp_listener *l = rv->lis[i];

		if (!l->ud || l->slots[0] != qp)
			continue;
		tcp_listen_close(qp->ctx, l);
		free(l);
		qp->lis = NULL;
		rv->lis[i] = rv->lis[--rv->nlis];
		return;
	}
}
