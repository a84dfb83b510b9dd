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
 * SOL_RDMA options other than RDMA_IOMAPSIZE (queue sizes, inline size)
 * are accepted and have no effect.
 *
 * riomap/riowrite (remote writes into a mapped buffer, riostream): an
 * rsocket with RDMA_IOMAPSIZE above 0 when it connects or is accepted is
 * framed instead (rio.h, rio_*.c, in the implementation so that sanitizer
 * builds instrument it): each call below asks ext_ops()->rio first, which
 * serves the framed ones and answers false for the others.
 *
 * The choice is the rest of the preload's (cm_forward.c): once per process,
 * by whether this network namespace has a tcp device. Without one every
 * r* call goes to the system librdmacm's rsockets; with one, all of the
 * process's rsockets are kernel TCP sockets, those to real RDMA devices too.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <rdma/rsocket.h>

#include "ext.h"
#include "ext_ops.h"

static const struct rio_ops *rio(void)
{
	return ext_ops()->rio;
}

/* A receive or send of a framed rsocket, by msghdr */
static bool rio_recv1(int s, void *b, size_t n, int f, ssize_t *r)
{
	struct iovec v = { .iov_base = b, .iov_len = n };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };

	return rio()->recvmsg(s, &m, f, r);
}

static bool rio_send1(int s, const void *b, size_t n, int f, ssize_t *r)
{
	struct iovec v = { .iov_base = (void *)b, .iov_len = n };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };

	return rio()->sendmsg(s, &m, f, r);
}

/* The system librdmacm's @name when this process is not in tcp mode:
 * returns its result from the caller (ENOSYS, @fail, if it is missing). */
#define RS_FORWARD(name, fail, ...)                         \
	do {                                                \
		static _Atomic(void *) real_;               \
		__typeof__(&name) f_;                       \
		if (ext_ops()->tcp_mode())                  \
			break;                              \
		f_ = atomic_load(&real_);                   \
		if (!f_) {                                  \
			f_ = ext_ops()->rdmacm_real(#name); \
			atomic_store(&real_, (void *)f_);   \
		}                                           \
		if (!f_) {                                  \
			errno = ENOSYS;                     \
			return fail;                        \
		}                                           \
		return f_(__VA_ARGS__);                     \
	} while (0)

EXT_EXPORT int rsocket(int domain, int type, int protocol)
{
	RS_FORWARD(rsocket, -1, domain, type, protocol);
	/* rsockets has no datagram service over TCP here */
	if ((type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM) {
		errno = ENOTSUP;
		return -1;
	}
	int fd = socket(domain, type, protocol);

	if (fd >= 0)
		rio()->socket_made(fd);
	return fd;
}

EXT_EXPORT int rbind(int s, const struct sockaddr *a, socklen_t l)
{
	RS_FORWARD(rbind, -1, s, a, l);
	return bind(s, a, l);
}

EXT_EXPORT int rlisten(int s, int backlog)
{
	RS_FORWARD(rlisten, -1, s, backlog);
	return listen(s, backlog);
}

EXT_EXPORT int raccept(int s, struct sockaddr *a, socklen_t *l)
{
	RS_FORWARD(raccept, -1, s, a, l);
	return rio()->accepted(s, accept(s, a, l));
}

EXT_EXPORT int rconnect(int s, const struct sockaddr *a, socklen_t l)
{
	RS_FORWARD(rconnect, -1, s, a, l);
	int r;

	if (rio()->connect(s, a, l, &r))
		return r;
	return connect(s, a, l);
}

EXT_EXPORT int rshutdown(int s, int how)
{
	RS_FORWARD(rshutdown, -1, s, how);
	int r;

	if (rio()->shutdown(s, how, &r))
		return r;
	return shutdown(s, how);
}

EXT_EXPORT int rclose(int s)
{
	RS_FORWARD(rclose, -1, s);
	int r;

	if (rio()->close(s, &r))
		return r;
	return close(s);
}

EXT_EXPORT ssize_t rrecv(int s, void *b, size_t n, int f)
{
	RS_FORWARD(rrecv, -1, s, b, n, f);
	ssize_t r;

	if (rio_recv1(s, b, n, f, &r))
		return r;
	return recv(s, b, n, f);
}

EXT_EXPORT ssize_t rrecvfrom(int s, void *b, size_t n, int f,
			     struct sockaddr *a, socklen_t *l)
{
	RS_FORWARD(rrecvfrom, -1, s, b, n, f, a, l);
	ssize_t r;

	if (rio_recv1(s, b, n, f, &r)) {
		if (r >= 0 && l)
			*l = 0; /* a stream socket names no sender */
		return r;
	}
	return recvfrom(s, b, n, f, a, l);
}

EXT_EXPORT ssize_t rrecvmsg(int s, struct msghdr *m, int f)
{
	RS_FORWARD(rrecvmsg, -1, s, m, f);
	ssize_t r;

	if (rio()->recvmsg(s, m, f, &r))
		return r;
	return recvmsg(s, m, f);
}

EXT_EXPORT ssize_t rsend(int s, const void *b, size_t n, int f)
{
	RS_FORWARD(rsend, -1, s, b, n, f);
	ssize_t r;

	if (rio_send1(s, b, n, f, &r))
		return r;
	return send(s, b, n, f | MSG_NOSIGNAL);
}

EXT_EXPORT ssize_t rsendto(int s, const void *b, size_t n, int f,
			   const struct sockaddr *a, socklen_t l)
{
	RS_FORWARD(rsendto, -1, s, b, n, f, a, l);
	ssize_t r;

	if (rio_send1(s, b, n, f, &r))
		return r;
	return sendto(s, b, n, f | MSG_NOSIGNAL, a, l);
}

EXT_EXPORT ssize_t rsendmsg(int s, const struct msghdr *m, int f)
{
	RS_FORWARD(rsendmsg, -1, s, m, f);
	ssize_t r;

	if (rio()->sendmsg(s, m, f, &r))
		return r;
	return sendmsg(s, m, f | MSG_NOSIGNAL);
}

EXT_EXPORT ssize_t rread(int s, void *b, size_t n)
{
	RS_FORWARD(rread, -1, s, b, n);
	ssize_t r;

	if (rio_recv1(s, b, n, 0, &r))
		return r;
	return read(s, b, n);
}

EXT_EXPORT ssize_t rreadv(int s, const struct iovec *v, int n)
{
	RS_FORWARD(rreadv, -1, s, v, n);
	struct msghdr m = { .msg_iov = (struct iovec *)v, .msg_iovlen = n };
	ssize_t r;

	if (n >= 0 && rio()->recvmsg(s, &m, 0, &r))
		return r;
	return readv(s, v, n);
}

EXT_EXPORT ssize_t rwrite(int s, const void *b, size_t n)
{
	RS_FORWARD(rwrite, -1, s, b, n);
	ssize_t r;

	if (rio_send1(s, b, n, 0, &r))
		return r;
	return send(s, b, n, MSG_NOSIGNAL);
}

EXT_EXPORT ssize_t rwritev(int s, const struct iovec *v, int n)
{
	RS_FORWARD(rwritev, -1, s, v, n);
	struct msghdr m = { .msg_iov = (struct iovec *)v, .msg_iovlen = n };
	ssize_t r;

	if (n >= 0 && rio()->sendmsg(s, &m, 0, &r))
		return r;
	return sendmsg(s, &m, MSG_NOSIGNAL);
}

EXT_EXPORT int rpoll(struct pollfd *fds, nfds_t n, int timeout)
{
	RS_FORWARD(rpoll, -1, fds, n, timeout);
	int r;

	if (rio()->poll(fds, n, timeout, &r))
		return r;
	return poll(fds, n, timeout);
}

EXT_EXPORT int rselect(int n, fd_set *r, fd_set *w, fd_set *e,
		       struct timeval *t)
{
	RS_FORWARD(rselect, -1, n, r, w, e, t);
	int ret;

	if (rio()->select(n, r, w, e, t, &ret))
		return ret;
	return select(n, r, w, e, t);
}

EXT_EXPORT int rgetpeername(int s, struct sockaddr *a, socklen_t *l)
{
	RS_FORWARD(rgetpeername, -1, s, a, l);
	int r;

	if (rio()->getname(s, true, a, l, &r))
		return r;
	return getpeername(s, a, l);
}

EXT_EXPORT int rgetsockname(int s, struct sockaddr *a, socklen_t *l)
{
	RS_FORWARD(rgetsockname, -1, s, a, l);
	int r;

	if (rio()->getname(s, false, a, l, &r))
		return r;
	return getsockname(s, a, l);
}

EXT_EXPORT int rsetsockopt(int s, int level, int name, const void *v,
			   socklen_t l)
{
	RS_FORWARD(rsetsockopt, -1, s, level, name, v, l);
	int r;

	if (rio()->setsockopt(s, level, name, v, l, &r))
		return r;
	if (level == SOL_RDMA)
		return 0; /* sizes of queues a kernel socket does not have */
	return setsockopt(s, level, name, v, l);
}

EXT_EXPORT int rgetsockopt(int s, int level, int name, void *v, socklen_t *l)
{
	RS_FORWARD(rgetsockopt, -1, s, level, name, v, l);
	int r;

	if (rio()->getsockopt(s, level, name, v, l, &r))
		return r;
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

	/* the commands rsockets takes (F_GETFL/F_SETFL) have one int or
	 * none; a long read covers both */
	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	RS_FORWARD(rfcntl, -1, s, cmd, arg);
	int r;

	if (rio()->fcntl(s, cmd, arg, &r))
		return r;
	return fcntl(s, cmd, arg);
}

EXT_EXPORT off_t riomap(int s, void *b, size_t n, int prot, int f, off_t off)
{
	RS_FORWARD(riomap, -1, s, b, n, prot, f, off);
	return rio()->iomap(s, b, n, prot, f, off);
}

EXT_EXPORT int riounmap(int s, void *b, size_t n)
{
	RS_FORWARD(riounmap, -1, s, b, n);
	return rio()->iounmap(s, b, n);
}

EXT_EXPORT size_t riowrite(int s, const void *b, size_t n, off_t off, int f)
{
	RS_FORWARD(riowrite, 0, s, b, n, off, f);
	return rio()->iowrite(s, b, n, off, f);
}
