// SPDX-License-Identifier: MIT
/*
 * rsockets for programs under the preload: the rsocket API carried by
 * kernel TCP sockets.
 *
 * librdmacm's rsocket layer calls its rdma_cm internals directly, not
 * through the PLT, so the preload's rdma_* interposers never see them and
 * rsocket() on a tcp device fails (EAFNOSUPPORT). An rsocket over a tcp
 * device would be a byte stream over verbs over TCP; this file cuts out the
 * middle and gives the program a kernel TCP socket: the descriptor rsocket
 * returns is a real socket, and every r* call is its socket counterpart.
 * SOL_RDMA options (queue sizes, inline size, iomap size) are accepted and
 * have no effect. riomap/riowrite (remote writes into a mapped buffer) are
 * not offered: they fail with ENOSYS.
 *
 * This replaces rsockets for the whole process, real RDMA devices included:
 * a program that loads the preload runs its rsockets over TCP.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <rdma/rsocket.h>

#include "ext.h"

EXT_EXPORT int rsocket(int domain, int type, int protocol)
{
	/* rsockets has no datagram service over TCP here */
	if ((type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM) {
		errno = ENOTSUP;
		return -1;
	}
	return socket(domain, type, protocol);
}

EXT_EXPORT int rbind(int s, const struct sockaddr *a, socklen_t l)
{
	return bind(s, a, l);
}

EXT_EXPORT int rlisten(int s, int backlog)
{
	return listen(s, backlog);
}

EXT_EXPORT int raccept(int s, struct sockaddr *a, socklen_t *l)
{
	return accept(s, a, l);
}

EXT_EXPORT int rconnect(int s, const struct sockaddr *a, socklen_t l)
{
	return connect(s, a, l);
}

EXT_EXPORT int rshutdown(int s, int how)
{
	return shutdown(s, how);
}

EXT_EXPORT int rclose(int s)
{
	return close(s);
}

EXT_EXPORT ssize_t rrecv(int s, void *b, size_t n, int f)
{
	return recv(s, b, n, f);
}

EXT_EXPORT ssize_t rrecvfrom(int s, void *b, size_t n, int f,
			     struct sockaddr *a, socklen_t *l)
{
	return recvfrom(s, b, n, f, a, l);
}

EXT_EXPORT ssize_t rrecvmsg(int s, struct msghdr *m, int f)
{
	return recvmsg(s, m, f);
}

EXT_EXPORT ssize_t rsend(int s, const void *b, size_t n, int f)
{
	return send(s, b, n, f | MSG_NOSIGNAL);
}

EXT_EXPORT ssize_t rsendto(int s, const void *b, size_t n, int f,
			   const struct sockaddr *a, socklen_t l)
{
	return sendto(s, b, n, f | MSG_NOSIGNAL, a, l);
}

EXT_EXPORT ssize_t rsendmsg(int s, const struct msghdr *m, int f)
{
	return sendmsg(s, m, f | MSG_NOSIGNAL);
}

EXT_EXPORT ssize_t rread(int s, void *b, size_t n)
{
	return read(s, b, n);
}

EXT_EXPORT ssize_t rreadv(int s, const struct iovec *v, int n)
{
	return readv(s, v, n);
}

EXT_EXPORT ssize_t rwrite(int s, const void *b, size_t n)
{
	return send(s, b, n, MSG_NOSIGNAL);
}

EXT_EXPORT ssize_t rwritev(int s, const struct iovec *v, int n)
{
	struct msghdr m = { .msg_iov = (struct iovec *)v, .msg_iovlen = n };

	return sendmsg(s, &m, MSG_NOSIGNAL);
}

EXT_EXPORT int rpoll(struct pollfd *fds, nfds_t n, int timeout)
{
	return poll(fds, n, timeout);
}

EXT_EXPORT int rselect(int n, fd_set *r, fd_set *w, fd_set *e,
		       struct timeval *t)
{
	return select(n, r, w, e, t);
}

EXT_EXPORT int rgetpeername(int s, struct sockaddr *a, socklen_t *l)
{
	return getpeername(s, a, l);
}

EXT_EXPORT int rgetsockname(int s, struct sockaddr *a, socklen_t *l)
{
	return getsockname(s, a, l);
}

EXT_EXPORT int rsetsockopt(int s, int level, int name, const void *v,
			   socklen_t l)
{
	if (level == SOL_RDMA)
		return 0; /* sizes of queues a kernel socket does not have */
	return setsockopt(s, level, name, v, l);
}

EXT_EXPORT int rgetsockopt(int s, int level, int name, void *v, socklen_t *l)
{
	if (level == SOL_RDMA) {
		errno = ENOPROTOOPT;
		return -1;
	}
	return getsockopt(s, level, name, v, l);
}

EXT_EXPORT int rfcntl(int s, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return fcntl(s, cmd, arg);
}

EXT_EXPORT off_t riomap(int s, void *b, size_t n, int prot, int f, off_t off)
{
	(void)s, (void)b, (void)n, (void)prot, (void)f, (void)off;
	errno = ENOSYS;
	return -1;
}

EXT_EXPORT int riounmap(int s, void *b, size_t n)
{
	(void)s, (void)b, (void)n;
	errno = ENOSYS;
	return -1;
}

EXT_EXPORT size_t riowrite(int s, const void *b, size_t n, off_t off, int f)
{
	(void)s, (void)b, (void)n, (void)off, (void)f;
	errno = ENOSYS;
	return 0;
}
