// SPDX-License-Identifier: MIT
/*
 * rdma_cm ports are virtual, as on an RDMA NIC: an id's port never takes
 * a kernel TCP port, so UCX's tcp transport or a plain socket can bind
 * the same number next to it (docs/design.md, "rdma_cm").
 *
 * A port is reserved by binding an abstract unix socket named
 * "rdma-tcp-cm/PS/PORT" (PS: the enum rdma_port_space number, so the
 * port spaces stay apart as in the kernel). Abstract names are per
 * network namespace, like ports; binding one is atomic (a second bind
 * fails with EADDRINUSE, what the kernel's rdma_cm answers) and the name
 * goes with the socket, so a dead process frees its ports.
 *
 * A listener also binds "rdma-tcp-cm/PS/PORT/listen", its mailbox: the
 * process whose control listener accepted a connection for that port
 * passes the socket there (SCM_RIGHTS, with the routing prefix as the
 * datagram, cm_route.c). Anyone in the namespace may send there; what
 * arrives is checked to be a TCP socket and then has to pass the
 * listener's TLS handshake like any connection.
 *
 * Limitation: the reservation is per port, not per (address, port): two
 * ids bound to different addresses of one port conflict, where the
 * kernel would let them be.
 */
#include <arpa/inet.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "ext.h"

#define NAME_PREFIX "rdma-tcp-cm"
#define PRIV_PORTS  1024 /* the kernel's PROT_SOCK */
#define MAX_FDS	    4	 /* fds a datagram may carry that we close */

static socklen_t port_name(struct sockaddr_un *a, unsigned int ps,
			   unsigned int port, bool mbox)
{
	int n;

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	/* sun_path[0] = 0: the abstract namespace */
	n = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1,
		     NAME_PREFIX "/%u/%u%s", ps, port, mbox ? "/listen" : "");
	return offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

static int port_bind(unsigned int ps, unsigned int port, bool mbox)
{
	struct sockaddr_un a;
	socklen_t len = port_name(&a, ps, port, mbox);
	int fd, err;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (!bind(fd, (struct sockaddr *)&a, len))
		return fd;
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

/* The kernel's rdma_cm picks ephemeral ports from the IP range too. */
static void local_range(unsigned int *lo, unsigned int *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");

	*lo = 32768;
	*hi = 60999;
	if (!f)
		return;
	if (fscanf(f, "%u %u", lo, hi) != 2 || !*lo || *hi < *lo ||
	    *hi > 65535) {
		*lo = 32768;
		*hi = 60999;
	}
	fclose(f);
}

/* cma_get_port: ports below 1024 need CAP_NET_BIND_SERVICE */
static bool may_bind_privileged(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return geteuid() == 0;
	return d[0].effective & (1u << CAP_NET_BIND_SERVICE);
}

int cm_port_reserve(struct cm_id *id, uint16_t *port)
{
	unsigned int lo, hi, n, i, start, p;
	int fd;

	if (*port) {
		p = ntohs(*port);
		if (p < PRIV_PORTS && !may_bind_privileged())
			return ext_err(EACCES);
		fd = port_bind(id->id.ps, p, false);
		if (fd < 0)
			return -1;
		id->port_fd = fd;
		return 0;
	}
	local_range(&lo, &hi);
	n = hi - lo + 1;
	if (getrandom(&start, sizeof(start), GRND_NONBLOCK) != sizeof(start))
		start = (unsigned int)cm_now_ms();
	for (i = 0; i < n; i++) {
		p = lo + (start + i) % n;
		fd = port_bind(id->id.ps, p, false);
		if (fd >= 0) {
			id->port_fd = fd;
			*port = htons(p);
			return 0;
		}
		if (errno != EADDRINUSE)
			return -1;
	}
	return ext_err(EADDRNOTAVAIL);
}

int cm_port_mbox(unsigned int ps, uint16_t port)
{
	return port_bind(ps, ntohs(port), true);
}

int cm_port_forward(int fd, const uint8_t *prefix, unsigned int ps,
		    uint16_t port)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = (void *)prefix,
			     .iov_len = RTCP_ROUTE_LEN };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct sockaddr_un a;
	struct cmsghdr *cm;
	int s, err = 0;

	m.msg_name = &a;
	m.msg_namelen = port_name(&a, ps, ntohs(port), true);
	memset(&u, 0, sizeof(u));
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	if (sendmsg(s, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		err = errno;
	close(s);
	return err ? ext_err(err) : 0;
}

/* A TCP stream of IPv4/6: what a mailbox accepts (anything else is
 * someone else's fd, not a connection to serve). */
static bool is_tcp_stream(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(int), sl = sizeof(ss);
	int type = 0, proto = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) ||
	    type != SOCK_STREAM)
		return false;
	l = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) ||
	    proto != IPPROTO_TCP)
		return false;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		return false;
	return ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
}

int cm_port_receive(int mfd, uint8_t *prefix, int *fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = prefix, .iov_len = RTCP_ROUTE_LEN };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	int fds[MAX_FDS], nfd = 0, i;
	ssize_t n;

	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	n = recvmsg(mfd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EINTR ? -1 : 0;
	for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		i = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (i > MAX_FDS - nfd)
			i = MAX_FDS - nfd;
		memcpy(fds + nfd, CMSG_DATA(cm), i * sizeof(int));
		nfd += i;
	}
	if (n == RTCP_ROUTE_LEN && nfd == 1 && !(m.msg_flags & MSG_TRUNC) &&
	    is_tcp_stream(fds[0])) {
		*fd = fds[0];
		return 1;
	}
	for (i = 0; i < nfd; i++)
		close(fds[i]);
	return -1;
}
