// SPDX-License-Identifier: MIT
/*
 * Addresses: rdma_bind_addr, rdma_resolve_addr (local address selection),
 * rdma_resolve_route, rdma_getaddrinfo/rdma_freeaddrinfo, and sockaddr
 * helpers.
 *
 * An id's CM port is virtual, as on an RDMA NIC (cm_port.c): rdma_bind_addr
 * reserves it (port 0 = any, from the IP ephemeral range),
 * rdma_resolve_addr reserves one with the chosen source address when the
 * id is not bound yet. No kernel TCP port is taken: control connections
 * go to the device's control port and are routed by the rdma_cm port
 * (cm_route.c), so rdma_get_src_port() is the rdma_cm port, not one that
 * `ss -tn` shows.
 *
 * The source address is the one the kernel's routing picks for the
 * destination (found by connecting a UDP socket, which sends nothing); the
 * device is the tcp device on the netdev owning it. No tcp device there ->
 * ADDR_ERROR (-ENODEV); no route -> ADDR_ERROR (-errno); an id of
 * RDMA_PS_IPOIB -> ADDR_ERROR (-EINVAL), as on RoCE. All are events,
 * as from the kernel's rdma_cm; route resolution has nothing to look up
 * and reports ROUTE_RESOLVED at once.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ext.h"

socklen_t cm_addrlen(const struct sockaddr *sa)
{
	if (!sa)
		return 0;
	switch (sa->sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

uint16_t cm_addr_port(const struct sockaddr *sa)
{
	switch (sa->sa_family) {
	case AF_INET:
		return ((const struct sockaddr_in *)sa)->sin_port;
	case AF_INET6:
		return ((const struct sockaddr_in6 *)sa)->sin6_port;
	default:
		return 0;
	}
}

void cm_addr_set_port(struct sockaddr *sa, uint16_t port)
{
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = port;
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = port;
}

bool cm_addr_is_any(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(
			&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

bool cm_addr_is_loopback(const struct sockaddr *sa)
{
	const struct in6_addr *a6;

	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)
				      ->sin_addr.s_addr) >>
			24) == IN_LOOPBACKNET;
	if (sa->sa_family != AF_INET6)
		return false;
	a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a6) ||
	       (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == IN_LOOPBACKNET);
}

void cm_addr_unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 a6;
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

	if (ss->ss_family != AF_INET6)
		return;
	memcpy(&a6, ss, sizeof(a6));
	if (!IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr))
		return;
	memset(ss, 0, sizeof(*ss));
	a4->sin_family = AF_INET;
	a4->sin_port = a6.sin6_port;
	memcpy(&a4->sin_addr, &a6.sin6_addr.s6_addr[12], 4);
}

void cm_addr_to_gid(const struct sockaddr *sa, union ibv_gid *gid)
{
	memset(gid, 0, sizeof(*gid));
	if (sa->sa_family == AF_INET) {
		gid->raw[10] = 0xff;
		gid->raw[11] = 0xff;
		memcpy(&gid->raw[12],
		       &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(gid->raw, &((const struct sockaddr_in6 *)sa)->sin6_addr,
		       16);
	}
}

/* A TCP socket of @family with the id's options, non-blocking. */
int cm_socket(struct cm_id *id, int family)
{
	int fd, one = 1, tos = id->tos;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &id->afonly,
			   sizeof(id->afonly));
	if (id->tos_set) {
		if (family == AF_INET)
			setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
		else
			setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos,
				   sizeof(tos));
	}
	return fd;
}

/*
 * Binds the id to @addr: its rdma_cm port reserved (locked; IDLE).
 *
 * A loopback address with no tcp device on lo (the namespace's device
 * sits on a veth or a NIC) binds no device, as the wildcard does: the id
 * reaches the namespace's device once it resolves or accepts. Giving it
 * that device here would make libfabric's verbs provider, which binds
 * "localhost" when an application gives no address, publish 127.0.0.1 as
 * its passive endpoint's address (rdma_get_local_addr), which no other
 * namespace or host can reach; with no device it lists the device's own
 * interface addresses instead.
 */
int cm_bind_locked(struct cm_id *id, const struct sockaddr *addr)
{
	struct sockaddr_storage ss;
	socklen_t len = cm_addrlen(addr);
	struct cm_dev *dev = NULL;
	uint16_t port = cm_addr_port(addr);

	if (!len)
		return ext_err(EINVAL);
	if (id->state != CM_IDLE)
		return ext_err(EINVAL);
	if (!cm_addr_is_any(addr)) {
		dev = cm_dev_on_netdev(addr);
		if (!dev && (errno == ENOMEM || !cm_addr_is_loopback(addr)))
			return ext_err(errno == ENOMEM ? ENOMEM : ENODEV);
		/* the kernel's cma_acquire_dev: IPoIB's port space only on
		 * InfiniBand, never on RoCE */
		if (id->id.ps == RDMA_PS_IPOIB)
			return ext_err(EINVAL);
	}
	if (cm_port_reserve(id, &port))
		return -1;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, addr, len);
	cm_addr_set_port((struct sockaddr *)&ss, port);
	memcpy(&id->id.route.addr.src_storage, &ss, sizeof(ss));
	if (dev)
		cm_id_set_dev(id, dev, (struct sockaddr *)&ss);
	id->state = CM_BOUND;
	return 0;
}

int ext_rdma_bind_addr(struct rdma_cm_id *cid, struct sockaddr *addr)
{
	int ret;

	if (!cm_addrlen(addr))
		return ext_err(EINVAL);
	pthread_mutex_lock(&cm_g.lock);
	ret = cm_bind_locked(cm_id_of(cid), addr);
	pthread_mutex_unlock(&cm_g.lock);
	return ret;
}

/* The source address routing picks for @dst, port 0; 0 or an errno. */
static int route_source(const struct sockaddr *dst,
			struct sockaddr_storage *src)
{
	socklen_t sl = sizeof(*src);
	struct sockaddr_storage d;
	int fd, err = 0;

	memcpy(&d, dst, cm_addrlen(dst));
	/* the port does not matter to routing; 0 would be refused */
	cm_addr_set_port((struct sockaddr *)&d, htons(9));
	fd = socket(dst->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (connect(fd, (struct sockaddr *)&d, cm_addrlen(dst)) ||
	    getsockname(fd, (struct sockaddr *)src, &sl))
		err = errno;
	close(fd);
	if (err)
		return err;
	cm_addr_set_port((struct sockaddr *)src, 0);
	return 0;
}

static int resolve_locked(struct cm_id *id, struct sockaddr *src,
			  struct sockaddr *dst)
{
	struct sockaddr *bound = &id->id.route.addr.src_addr;
	struct sockaddr_storage local;
	struct cm_event *e;
	struct cm_dev *dev;
	int err = 0;

	if (id->state == CM_IDLE && src && cm_bind_locked(id, src))
		return -1;
	if (id->state != CM_IDLE && id->state != CM_BOUND &&
	    id->state != CM_ADDR_RESOLVED)
		return ext_err(EINVAL);
	memset(&id->id.route.addr.dst_storage, 0,
	       sizeof(id->id.route.addr.dst_storage));
	memcpy(&id->id.route.addr.dst_storage, dst, cm_addrlen(dst));
	if (id->state != CM_IDLE && !cm_addr_is_any(bound)) {
		memset(&local, 0, sizeof(local));
		memcpy(&local, bound, cm_addrlen(bound));
	} else {
		err = route_source(dst, &local);
	}
	dev = err ? NULL : cm_dev_by_addr((struct sockaddr *)&local);
	if (!err && !dev)
		err = ENODEV;
	if (!err && id->id.ps == RDMA_PS_IPOIB)
		err = EINVAL; /* as cm_bind_locked */
	if (!err && id->state == CM_IDLE) {
		/* the CM socket leaves from the resolved address */
		if (cm_bind_locked(id, (struct sockaddr *)&local))
			err = errno;
	}
	if (err) {
		/* the id stays as it was: the application may try again */
		e = cm_event_new(id, RDMA_CM_EVENT_ADDR_ERROR, -err);
		if (!e)
			return ext_err(ENOMEM);
		cm_event_post(e);
		return 0;
	}
	/* src: the resolved address with the bound port */
	cm_addr_set_port((struct sockaddr *)&local, cm_addr_port(bound));
	memcpy(&id->id.route.addr.src_storage, &local, sizeof(local));
	cm_id_set_dev(id, dev, (struct sockaddr *)&local);
	cm_addr_to_gid(dst, &id->id.route.addr.addr.ibaddr.dgid);
	e = cm_event_new(id, RDMA_CM_EVENT_ADDR_RESOLVED, 0);
	if (!e)
		return ext_err(ENOMEM);
	id->state = CM_ADDR_RESOLVED;
	cm_event_post(e);
	return 0;
}

int ext_rdma_resolve_addr(struct rdma_cm_id *cid, struct sockaddr *src,
			  struct sockaddr *dst, int timeout_ms)
{
	int ret;

	if (!cm_addrlen(dst) || (src && !cm_addrlen(src)))
		return ext_err(EINVAL);
	pthread_mutex_lock(&cm_g.lock);
	ret = resolve_locked(cm_id_of(cid), src, dst);
	pthread_mutex_unlock(&cm_g.lock);
	return ret ? ret : cm_complete(cm_id_of(cid));
}

int ext_rdma_resolve_route(struct rdma_cm_id *cid, int timeout_ms)
{
	struct cm_id *id = cm_id_of(cid);
	struct cm_event *e;

	pthread_mutex_lock(&cm_g.lock);
	if (id->state != CM_ADDR_RESOLVED && id->state != CM_ROUTE_RESOLVED) {
		pthread_mutex_unlock(&cm_g.lock);
		return ext_err(EINVAL);
	}
	e = cm_event_new(id, RDMA_CM_EVENT_ROUTE_RESOLVED, 0);
	if (!e) {
		pthread_mutex_unlock(&cm_g.lock);
		return ext_err(ENOMEM);
	}
	cm_id_fill_path(id);
	id->state = CM_ROUTE_RESOLVED;
	cm_event_post(e);
	pthread_mutex_unlock(&cm_g.lock);
	return cm_complete(id);
}

/* ---- rdma_getaddrinfo: getaddrinfo() with RDMA hints --------------- */

static void hints_to_ai(const struct rdma_addrinfo *h, struct addrinfo *ai)
{
	memset(ai, 0, sizeof(*ai));
	if (h->ai_flags & RAI_PASSIVE)
		ai->ai_flags |= AI_PASSIVE;
	if (h->ai_flags & RAI_NUMERICHOST)
		ai->ai_flags |= AI_NUMERICHOST;
	if (h->ai_family == AF_INET || h->ai_family == AF_INET6)
		ai->ai_family = h->ai_family;
	switch (h->ai_qp_type) {
	case IBV_QPT_RC:
	case IBV_QPT_UC:
		ai->ai_socktype = SOCK_STREAM;
		break;
	case IBV_QPT_UD:
		ai->ai_socktype = SOCK_DGRAM;
		break;
	default:
		break;
	}
	switch (h->ai_port_space) {
	case RDMA_PS_TCP:
		ai->ai_protocol = IPPROTO_TCP;
		break;
	case RDMA_PS_UDP:
	case RDMA_PS_IPOIB:
		ai->ai_protocol = IPPROTO_UDP;
		break;
	case RDMA_PS_IB:
		ai->ai_protocol = ai->ai_socktype == SOCK_DGRAM	   ? IPPROTO_UDP
				  : ai->ai_socktype == SOCK_STREAM ? IPPROTO_TCP
								   : 0;
		break;
	default:
		break;
	}
}

static int copy_addr(struct sockaddr **dst, socklen_t *dlen,
		     const struct sockaddr *src, socklen_t len)
{
	*dst = malloc(len);
	if (!*dst)
		return ext_err(ENOMEM);
	memcpy(*dst, src, len);
	*dlen = len;
	return 0;
}

static int ai_to_rai(const struct addrinfo *ai, const struct rdma_addrinfo *h,
		     struct rdma_addrinfo *rai)
{
	rai->ai_qp_type = h->ai_qp_type			  ? h->ai_qp_type
			  : ai->ai_socktype == SOCK_DGRAM ? IBV_QPT_UD
							  : IBV_QPT_RC;
	rai->ai_port_space = h->ai_port_space		      ? h->ai_port_space
			     : ai->ai_protocol == IPPROTO_UDP ? RDMA_PS_UDP
							      : RDMA_PS_TCP;
	rai->ai_family = ai->ai_family;
	if (ai->ai_flags & AI_PASSIVE) {
		rai->ai_flags = RAI_PASSIVE;
		if (ai->ai_canonname)
			rai->ai_src_canonname = strdup(ai->ai_canonname);
		return copy_addr(&rai->ai_src_addr, &rai->ai_src_len,
				 ai->ai_addr, ai->ai_addrlen);
	}
	if (ai->ai_canonname)
		rai->ai_dst_canonname = strdup(ai->ai_canonname);
	return copy_addr(&rai->ai_dst_addr, &rai->ai_dst_len, ai->ai_addr,
			 ai->ai_addrlen);
}

int ext_rdma_getaddrinfo(const char *node, const char *service,
			 const struct rdma_addrinfo *hints,
			 struct rdma_addrinfo **res)
{
	static const struct rdma_addrinfo nohints;
	struct rdma_addrinfo *rai;
	struct addrinfo aih, *ai;
	int ret = 0;

	if (!node && !service && !hints)
		return ext_err(EINVAL);
	rai = calloc(1, sizeof(*rai));
	if (!rai)
		return ext_err(ENOMEM);
	if (node || service) {
		if (hints) {
			hints_to_ai(hints, &aih);
			ret = getaddrinfo(node, service, &aih, &ai);
		} else {
			ret = getaddrinfo(node, service, NULL, &ai);
		}
		if (ret) {
			free(rai);
			return ret; /* an EAI_* code, as librdmacm returns */
		}
		ret = ai_to_rai(ai, hints ? hints : &nohints, rai);
		freeaddrinfo(ai);
	} else {
		rai->ai_flags = hints->ai_flags;
		rai->ai_family = hints->ai_family;
		rai->ai_qp_type = hints->ai_qp_type;
		rai->ai_port_space = hints->ai_port_space;
		if (hints->ai_dst_len)
			ret = copy_addr(&rai->ai_dst_addr, &rai->ai_dst_len,
					hints->ai_dst_addr, hints->ai_dst_len);
	}
	if (!ret && !rai->ai_src_len && hints && hints->ai_src_len)
		ret = copy_addr(&rai->ai_src_addr, &rai->ai_src_len,
				hints->ai_src_addr, hints->ai_src_len);
	if (ret) {
		ext_rdma_freeaddrinfo(rai);
		return ret;
	}
	*res = rai;
	return 0;
}

void ext_rdma_freeaddrinfo(struct rdma_addrinfo *res)
{
	struct rdma_addrinfo *next;

	for (; res; res = next) {
		next = res->ai_next;
		free(res->ai_connect);
		free(res->ai_route);
		free(res->ai_src_canonname);
		free(res->ai_dst_canonname);
		free(res->ai_src_addr);
		free(res->ai_dst_addr);
		free(res);
	}
}
