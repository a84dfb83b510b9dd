// SPDX-License-Identifier: MIT
/*
 * Routing control connections to the process that listens (cm_proto.h,
 * "Routing"; docs/design.md, "rdma_cm").
 *
 * Every process with an rdma_cm listener listens on the device's control
 * port (RTCP_CM_PORT_DEFAULT unless the registry says otherwise), all of
 * them on the same socket address with SO_REUSEPORT, so the kernel hands
 * each incoming connection to one of them. That process reads the routing
 * prefix, passes the socket to the mailbox of the listener of the port
 * asked for (cm_port.c) -- its own or another process's -- answers
 * RTCP_ROUTE_OK and closes its copy; with no listener of that port it
 * answers RTCP_ROUTE_NONE, which the active side takes as a refused
 * connect. A connection for a listener of this very process is handed
 * over directly; one for a full mailbox waits and is routed again (see
 * route()). A port of no listener of the asked port space goes to a
 * listener of another one, which answers as the IB CM does (SIDR status
 * UNSUPPORTED, REJ "invalid service ID").
 *
 * The control listener is bound to the wildcard address (IPv6 dual-stack,
 * IPv4 where IPv6 is off): which address was reached is checked by the
 * listener (it must be a tcp device's, and the listener's own if it bound
 * one). SO_REUSEPORT groups only sockets of one user: a process of
 * another user cannot bind the control port while one listens. It still
 * gets its connections, routed by the other user's process, and tries to
 * bind again every CTL_RETRY_MS in case that process ends.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ext.h"

#define CTL_BACKLOG    1024
#define CTL_RETRY_MS   1000
#define ROUTE_RETRY_MS 20 /* a full mailbox is tried again */

static struct {
	uint16_t port; /* host order */
	unsigned int refs;
	struct cm_conn *c; /* NULL: bound by another user, retried */
} ctl[CM_CTL_MAX];
static uint64_t retry_at;

static int ctl_bind(int family, uint16_t port)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
				   .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	int fd, one = 1, zero = 0, err;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (!(family == AF_INET6
		      ? bind(fd, (struct sockaddr *)&a6, sizeof(a6))
		      : bind(fd, (struct sockaddr *)&a4, sizeof(a4))) &&
	    !listen(fd, CTL_BACKLOG))
		return fd;
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

/* Opens (or re-opens) control listener @i: 0, or -1 with errno. */
static int ctl_open(int i)
{
	struct cm_conn *c;
	int fd;

	fd = ctl_bind(AF_INET6, ctl[i].port);
	if (fd < 0 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
		fd = ctl_bind(AF_INET, ctl[i].port);
	if (fd < 0)
		return -1;
	c = cm_conn_new(fd, CONN_CTL);
	if (!c) {
		close(fd);
		return -1;
	}
	if (cm_conn_watch(c, CONN_CTL)) {
		cm_conn_close(c);
		return -1;
	}
	ctl[i].c = c;
	CM_DBG("control listener on port %u", ctl[i].port);
	return 0;
}

static void ctl_put(uint16_t port)
{
	int i;

	for (i = 0; i < CM_CTL_MAX; i++) {
		if (!ctl[i].refs || ctl[i].port != port)
			continue;
		if (--ctl[i].refs)
			return;
		if (ctl[i].c)
			cm_conn_close(ctl[i].c);
		ctl[i].c = NULL;
		return;
	}
}

/* A reference on the control listener of @port: 0, or -1 with errno */
static int ctl_get(uint16_t port)
{
	int i, free_i = -1;

	for (i = 0; i < CM_CTL_MAX; i++) {
		if (ctl[i].refs && ctl[i].port == port) {
			ctl[i].refs++;
			return 0;
		}
		if (!ctl[i].refs && free_i < 0)
			free_i = i;
	}
	if (free_i < 0)
		return ext_err(ENOSPC);
	ctl[free_i].port = port;
	if (ctl_open(free_i)) {
		if (errno != EADDRINUSE)
			return -1;
		/* another user's processes listen: they route to us */
		CM_DBG("control port %u: in use by another user", port);
		retry_at = cm_now_ms() + CTL_RETRY_MS;
	}
	ctl[free_i].refs = 1;
	return 0;
}

int cm_route_timer(uint64_t now)
{
	bool more = false;
	int i;

	if (!retry_at)
		return -1;
	if (now < retry_at)
		return (int)(retry_at - now);
	for (i = 0; i < CM_CTL_MAX; i++)
		if (ctl[i].refs && !ctl[i].c && ctl_open(i))
			more = true;
	retry_at = more ? now + CTL_RETRY_MS : 0;
	return more ? CTL_RETRY_MS : -1;
}

int cm_route_listen(struct cm_id *id)
{
	uint16_t ports[CM_CTL_MAX];
	struct cm_conn *mb;
	int fd, n, i;

	if (id->dev) {
		ports[0] = id->dev->cm_port;
		n = 1;
	} else {
		n = cm_dev_ports(ports, CM_CTL_MAX);
	}
	fd = cm_port_mbox(id->id.ps, cm_addr_port(&id->id.route.addr.src_addr));
	if (fd < 0)
		return -1;
	mb = cm_conn_new(fd, CONN_MBOX);
	if (!mb) {
		close(fd);
		return -1;
	}
	mb->id = id;
	id->mbox = mb;
	if (cm_conn_watch(mb, CONN_MBOX))
		goto fail;
	for (i = 0; i < n; i++) {
		if (ctl_get(ports[i]))
			goto fail;
		id->ctl[id->nctl++] = ports[i];
	}
	return 0;
fail:
	cm_route_unlisten(id);
	return -1;
}

void cm_route_unlisten(struct cm_id *id)
{
	int err = errno;

	while (id->nctl)
		ctl_put(id->ctl[--id->nctl]);
	if (id->mbox) {
		id->mbox->id = NULL;
		cm_conn_close(id->mbox);
		id->mbox = NULL;
	}
	errno = err;
}

void cm_route_accept(struct cm_conn *lc)
{
	struct cm_conn *c;
	int fd;

	for (;;) {
		fd = accept4(lc->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		c = cm_conn_new(fd, CONN_STREAM);
		if (!c) {
			close(fd);
			continue;
		}
		c->route_in = true;
		c->deadline = cm_now_ms() + CM_REQ_TIMEOUT_MS;
		c->give_up = c->deadline;
		if (cm_conn_watch(c, CONN_STREAM))
			cm_conn_close(c);
	}
}

/* The listener bound one address: a connection to another is not its. */
static bool reached_listener(struct cm_id *lid, int fd)
{
	const struct sockaddr *b = &lid->id.route.addr.src_addr;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	union ibv_gid g1, g2;

	if (cm_addr_is_any(b))
		return true;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		return false;
	cm_addr_unmap(&ss);
	cm_addr_to_gid(b, &g1);
	cm_addr_to_gid((struct sockaddr *)&ss, &g2);
	return !memcmp(&g1, &g2, sizeof(g1));
}

/* Connection @fd, routed, becomes an accepted one of listener @lid. */
static void deliver(struct cm_id *lid, int fd, const struct rtcp_route *r)
{
	struct cm_conn *c;

	if (!reached_listener(lid, fd)) {
		close(fd);
		return;
	}
	c = cm_conn_new(fd, CONN_STREAM);
	if (!c) {
		close(fd);
		return;
	}
	c->listen_id = lid;
	c->peer_port = r->sport;
	c->deadline = cm_now_ms() + CM_REQ_TIMEOUT_MS;
	if (cm_sec_accept(c) || cm_conn_watch(c, CONN_STREAM))
		cm_conn_close(c);
}

/* This process's listener of (@ps, @port), if any */
static struct cm_id *local_listener(unsigned int ps, uint16_t port)
{
	struct cm_id *id;

	for (id = cm_g.ids; id; id = id->next)
		if (id->state == CM_LISTEN && id->mbox && id->id.ps == ps &&
		    cm_addr_port(&id->id.route.addr.src_addr) == port)
			return id;
	return NULL;
}

/* To the listener of port space @ps: our own (no queue to fill), or
 * another process's mailbox. 0, or -1 with errno (ECONNREFUSED: none). */
static int route_ps(struct cm_conn *c, unsigned int ps,
		    const struct rtcp_route *r)
{
	struct cm_id *lid = local_listener(ps, r->dport);
	int fd;

	if (!lid)
		return cm_port_forward(c->fd, c->in, ps, r->dport);
	fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	deliver(lid, fd, r);
	return 0;
}

/* The listener of the port asked for, else one of another port space
 * (it answers as the IB CM does): 0, or -1 with errno. */
static int route_to(struct cm_conn *c, const struct rtcp_route *r)
{
	static const unsigned int spaces[] = { RDMA_PS_TCP, RDMA_PS_UDP,
					       RDMA_PS_IB };
	unsigned int i;

	if (!route_ps(c, r->ps, r))
		return 0;
	for (i = 0; i < sizeof(spaces) / sizeof(spaces[0]); i++) {
		if (errno != ECONNREFUSED && errno != ENOENT)
			return -1; /* EAGAIN: its mailbox is full */
		if (spaces[i] != r->ps && !route_ps(c, spaces[i], r))
			return 0;
	}
	return -1;
}

/*
 * Routes a connection whose prefix is in: answered and closed (the
 * listener's process holds it now), or, if the listener's mailbox is full
 * (a burst of connections; its process drains it), tried again in
 * ROUTE_RETRY_MS until the connection's deadline.
 */
static void route(struct cm_conn *c)
{
	struct rtcp_route r;
	uint8_t ans;

	if (rtcp_route_decode(c->in, &r)) {
		CM_DBG("fd %d: not a routing prefix: closed", c->fd);
		cm_conn_close(c);
		return;
	}
	if (!route_to(c, &r)) {
		ans = RTCP_ROUTE_OK;
	} else if (errno == EAGAIN &&
		   cm_now_ms() + ROUTE_RETRY_MS < c->give_up) {
		CM_DBG("fd %d: port %u: its mailbox is full, again", c->fd,
		       ntohs(r.dport));
		c->deadline = cm_now_ms() + ROUTE_RETRY_MS;
		return;
	} else {
		ans = RTCP_ROUTE_NONE;
	}
	CM_DBG("fd %d: port space %u port %u: %s", c->fd, r.ps, ntohs(r.dport),
	       ans == RTCP_ROUTE_OK ? "routed" : "nobody");
	if (send(c->fd, &ans, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		CM_DBG("fd %d: routing answer: %s", c->fd, strerror(errno));
	cm_conn_close(c);
}

void cm_route_read(struct cm_conn *c)
{
	uint8_t b;
	ssize_t n;

	if (c->in_len == RTCP_ROUTE_LEN) {
		/* waiting for room in a mailbox: the peer says nothing until
		 * answered; anything (or its end) closes the connection */
		n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n >= 0 || (errno != EAGAIN && errno != EINTR))
			cm_conn_close(c);
		return;
	}
	n = recv(c->fd, c->in + c->in_len, RTCP_ROUTE_LEN - c->in_len,
		 MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		cm_conn_close(c);
		return;
	}
	c->in_len += n;
	if (c->in_len == RTCP_ROUTE_LEN)
		route(c);
}

void cm_route_timeout(struct cm_conn *c)
{
	if (c->in_len == RTCP_ROUTE_LEN && cm_now_ms() < c->give_up)
		route(c);
	else
		cm_conn_close(c);
}

void cm_route_mbox_ready(struct cm_conn *mb)
{
	uint8_t prefix[RTCP_ROUTE_LEN];
	struct rtcp_route r;
	int fd, got;

	while (!mb->dead && (got = cm_port_receive(mb->fd, prefix, &fd))) {
		if (got < 0)
			continue;
		if (!mb->id || rtcp_route_decode(prefix, &r))
			close(fd);
		else
			deliver(mb->id, fd, &r);
	}
}

void cm_route_send(struct cm_conn *c)
{
	struct cm_id *id = c->id;
	uint8_t prefix[RTCP_ROUTE_LEN];
	struct rtcp_route r = {
		.ps = id->id.ps,
		.dport = cm_addr_port(&id->id.route.addr.dst_addr),
		.sport = cm_addr_port(&id->id.route.addr.src_addr),
	};

	rtcp_route_encode(prefix, &r);
	/* a fresh connection's buffer takes 12 bytes whole */
	if (send(c->fd, prefix, sizeof(prefix), MSG_DONTWAIT | MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(prefix)) {
		cm_on_lost(c, errno ? errno : EIO);
		return;
	}
	c->route_wait = true;
	c->deadline = cm_now_ms() + CM_HS_TIMEOUT_MS;
	cm_conn_update(c);
}

void cm_route_answer(struct cm_conn *c)
{
	uint8_t ans;
	ssize_t n;

	n = recv(c->fd, &ans, 1, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	c->route_wait = false;
	c->deadline = 0;
	if (n == 1 && ans == RTCP_ROUTE_NONE) {
		CM_DBG("fd %d: nobody listens on that port", c->fd);
		cm_on_connected(c, ECONNREFUSED);
		return;
	}
	if (n != 1 || ans != RTCP_ROUTE_OK) {
		cm_on_lost(c, n < 0 ? errno : n ? EPROTO : ECONNRESET);
		return;
	}
	/* TLS's handshake or the queued request go out now */
	cm_sec_connected(c);
	if (c->dead)
		return;
	if (c->sec != CM_SEC_PLAIN)
		cm_sec_handle(c, EPOLLOUT);
	else
		cm_conn_flush(c);
}
