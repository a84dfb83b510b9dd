// SPDX-License-Identifier: MIT
/*
 * A listener's sockets. A QPN's upper 16 bits are its listener's TCP port,
 * and a peer connects to the GID address of the QP: one of the netdev's
 * addresses. So the port is opened on each of those addresses, one
 * listening socket per address, and never on the wildcard address: a
 * device on lo is not reachable through the host's other addresses, nor
 * a device on eth0 through lo. (One wildcard socket that closes accepted
 * connections whose local address is not a GID would leave the port open
 * to every network: each stranger costs an accept and a close, and a port
 * scan finds it. Per-address sockets make the kernel refuse them.)
 *
 * One more socket, bound to the wildcard address and never listening,
 * holds the port on every address: nobody else can bind it (we set
 * SO_REUSEADDR only after our bind, and a listening socket of ours
 * excludes SO_REUSEADDR sockets on its address), so an address added to
 * the netdev later gets the same port, and a netdev without an address
 * still gives QPs their numbers. Address changes reach the engine as
 * rtnetlink events (port_events.c), which re-sync every listener.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "qp.h"

/* Binds a socket to port 0 of every address; sets l->port. */
int tcp_listen_reserve(struct tcp_listener *l)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, off = 0, one = 1;

	/* dual stack, so that the port is ours on IPv4 and IPv6 alike */
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
		if (bind(fd, (struct sockaddr *)&a6, sizeof(a6))) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return errno;
		if (bind(fd, (struct sockaddr *)&a4, sizeof(a4)))
			goto fail;
	}
	/* after the bind: the port chosen is free on every address, and
	 * now only SO_REUSEADDR sockets (ours, below) may share it */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl))
		goto fail;
	l->port = ntohs(ss.ss_family == AF_INET6
				? ((struct sockaddr_in6 *)&ss)->sin6_port
				: ((struct sockaddr_in *)&ss)->sin_port);
	l->resv_fd = fd;
	return 0;
fail:
	close(fd);
	return errno;
}

/* Opens the port on one address into the free entry s. */
static int lsock_open(struct tcp_context *ctx, struct tcp_listener *l,
		      struct tcp_lsock *s, const struct tcp_addr *a)
{
	union ibv_gid g;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, err;

	memcpy(g.raw, a->gid, 16);
	sl = tcp_gid_sockaddr(&g, l->port, a->scope, &ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return errno;
	/* IPv4 GIDs get an IPv4 socket: an IPv6 one only for IPv6 */
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 512))
		goto fail;
	s->p.ops = l->ops;
	s->l = l;
	s->addr = *a;
	err = tcp_engine_watch(ctx, fd, &s->p, EPOLLIN);
	if (err) {
		errno = err;
		goto fail;
	}
	s->fd = fd;
	s->watched = true;
	return 0;
fail:
	err = errno;
	close(fd);
	return err;
}

static void lsock_close(struct tcp_context *ctx, struct tcp_lsock *s)
{
	if (s->fd < 0)
		return;
	if (s->watched && ctx)
		tcp_engine_unwatch(ctx, s->fd);
	close(s->fd);
	s->fd = -1;
	s->watched = false;
}

static bool addr_eq(const struct tcp_addr *a, const struct tcp_addr *b)
{
	return !memcmp(a->gid, b->gid, 16) && a->scope == b->scope;
}

/*
 * Opens the port on addresses it lacks, closes it on those gone. Entries
 * are never moved: the engine's events point at them. Returns the first
 * error of an address that exists but could not be opened (out of fds):
 * one that vanished meanwhile (EADDRNOTAVAIL) is no error.
 */
static int listener_sync(struct tcp_context *ctx, struct tcp_listener *l,
			 const struct tcp_addr *addrs, int n)
{
	int i, j, err, ret = 0;

	for (i = 0; i < TCP_LISTEN_ADDRS; i++) {
		struct tcp_lsock *s = &l->socks[i];

		for (j = 0; s->fd >= 0 && j < n; j++)
			if (addr_eq(&s->addr, &addrs[j]))
				break;
		if (s->fd >= 0 && j == n)
			lsock_close(ctx, s);
	}
	for (j = 0; j < n; j++) {
		struct tcp_lsock *free_s = NULL;

		for (i = 0; i < TCP_LISTEN_ADDRS; i++) {
			struct tcp_lsock *s = &l->socks[i];

			if (s->fd >= 0 && addr_eq(&s->addr, &addrs[j]))
				break;
			if (s->fd < 0 && !free_s)
				free_s = s;
		}
		if (i < TCP_LISTEN_ADDRS || !free_s)
			continue;
		err = lsock_open(ctx, l, free_s, &addrs[j]);
		if (err && err != EADDRNOTAVAIL && !ret)
			ret = err;
	}
	return ret;
}

int tcp_listen_open(struct tcp_context *ctx, struct tcp_listener *l,
		    const struct tcp_watch_ops *ops)
{
	struct tcp_addr addrs[TCP_LISTEN_ADDRS];
	int i, n, err;

	tcp_assert_held(&ctx->lock);
	l->ops = ops;
	l->resv_fd = -1;
	for (i = 0; i < TCP_LISTEN_ADDRS; i++)
		l->socks[i].fd = -1;
	n = tcp_netdev_addrs(ctx->dev->netdev, addrs, TCP_LISTEN_ADDRS);
	if (n < 0)
		return -n;
	err = tcp_listen_reserve(l);
	if (!err)
		err = listener_sync(ctx, l, addrs, n);
	if (err)
		tcp_listen_close(ctx, l);
	return err;
}

void tcp_listen_close(struct tcp_context *ctx, struct tcp_listener *l)
{
	int i;

	for (i = 0; i < TCP_LISTEN_ADDRS; i++)
		lsock_close(ctx, &l->socks[i]);
	if (l->resv_fd >= 0)
		close(l->resv_fd);
	l->resv_fd = -1;
}

void tcp_listen_sync(struct tcp_context *ctx)
{
	struct tcp_rendezvous *rv = ctx->rv;
	struct tcp_addr addrs[TCP_LISTEN_ADDRS];
	int i, n;

	n = tcp_netdev_addrs(ctx->dev->netdev, addrs, TCP_LISTEN_ADDRS);
	if (n < 0)
		return; /* keep what is open; the next event tries again */
	tcp_mutex_lock(&ctx->lock);
	for (i = 0; i < rv->nlis; i++)
		if (!rv->lis[i]->ud) /* a UD QP's port never listens */
			listener_sync(ctx, rv->lis[i], addrs, n);
	tcp_mutex_unlock(&ctx->lock);
}

/*
 * accept() failed for want of fds or memory. The connection stays in the
 * backlog and the socket stays readable: watched level-triggered, it
 * would wake the engine at once, forever. It rests instead, and the
 * engine tries again after TCP_ACCEPT_BACKOFF_NS (conn_deadlines, conn.c).
 */
void tcp_listen_rest(struct tcp_context *ctx, struct tcp_lsock *s)
{
	struct tcp_rendezvous *rv = ctx->rv;

	if (s->watched)
		tcp_engine_unwatch(ctx, s->fd);
	s->watched = false;
	if (!rv->accept_resume_at)
		rv->accept_resume_at = tcp_now_ns() + TCP_ACCEPT_BACKOFF_NS;
	tcp_engine_deadline(ctx, rv->accept_resume_at);
}

/* Watches the resting sockets again; caller holds ctx->lock. */
void tcp_listen_resume(struct tcp_context *ctx)
{
	struct tcp_rendezvous *rv = ctx->rv;
	int i, j;

	rv->accept_resume_at = 0;
	for (i = 0; i < rv->nlis; i++)
		for (j = 0; j < TCP_LISTEN_ADDRS; j++) {
			struct tcp_lsock *s = &rv->lis[i]->socks[j];

			if (s->fd >= 0 && !s->watched &&
			    !tcp_engine_watch(ctx, s->fd, &s->p, EPOLLIN))
				s->watched = true;
		}
}
