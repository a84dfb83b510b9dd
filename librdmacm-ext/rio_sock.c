// SPDX-License-Identifier: MIT
/*
 * Framed rsockets (rio.h): the descriptor table, RDMA_IOMAPSIZE, turning
 * a connected TCP rsocket into a framed one, and the socket calls that
 * differ for framed ones (close, shutdown, options, names, receive, poll).
 *
 * The table holds only rsockets that had RDMA_IOMAPSIZE set (and the
 * framed ones); while it is empty a lookup is one atomic load, so plain
 * rsockets (rstream) pay nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rdma/rsocket.h>

#include "rio.h"

#define TAB_CHUNK  1024
#define TAB_CHUNKS 1024 /* descriptors below 1M */

typedef _Atomic(struct rio_sock *) rio_slot;
static rio_slot *_Atomic tab[TAB_CHUNKS];
static atomic_int tab_used;
static atomic_int framed_count;
static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;

struct rio_sock *rio_find(int fd)
{
	rio_slot *c;

	if (fd < 0 || fd >= TAB_CHUNK * TAB_CHUNKS || !atomic_load(&tab_used))
		return NULL;
	c = atomic_load(&tab[fd / TAB_CHUNK]);
	return c ? atomic_load(&c[fd % TAB_CHUNK]) : NULL;
}

struct rio_sock *rio_framed(int fd)
{
	struct rio_sock *rs = rio_find(fd);

	return rs && rs->framed ? rs : NULL;
}

static int tab_set(int fd, struct rio_sock *rs)
{
	rio_slot *c;
	int ret = 0;

	if (fd < 0 || fd >= TAB_CHUNK * TAB_CHUNKS)
		return EMFILE;
	pthread_mutex_lock(&tab_lock);
	c = atomic_load(&tab[fd / TAB_CHUNK]);
	if (!c) {
		c = calloc(TAB_CHUNK, sizeof(*c));
		if (c)
			atomic_store(&tab[fd / TAB_CHUNK], c);
	}
	if (!c) {
		ret = ENOMEM;
	} else {
		if (!atomic_load(&c[fd % TAB_CHUNK]) != !rs)
			atomic_fetch_add(&tab_used, rs ? 1 : -1);
		atomic_store(&c[fd % TAB_CHUNK], rs);
	}
	pthread_mutex_unlock(&tab_lock);
	return ret;
}

static struct rio_sock *rio_new(int fd, int iomap_size)
{
	struct rio_sock *rs = calloc(1, sizeof(*rs));
	pthread_condattr_t ca;

	if (!rs)
		return NULL;
	rs->fd = fd;
	rs->iomap_size = iomap_size;
	rs->tcp = rs->pair = -1;
	pthread_mutex_init(&rs->tx_lock, NULL);
	pthread_mutex_init(&rs->map_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rs->hello_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (tab_set(fd, rs)) {
		free(rs);
		return NULL;
	}
	return rs;
}

static int rio_err(int e)
{
	errno = e;
	return -1;
}

/* Ends the receive thread, closes the connection's descriptors. */
static void rio_stop(struct rio_sock *rs)
{
	atomic_store(&rs->stop, true);
	shutdown(rs->tcp, SHUT_RDWR);
	shutdown(rs->pair, SHUT_RDWR); /* a thread blocked handing over DATA */
	pthread_join(rs->thr, NULL);
	close(rs->tcp);
	close(rs->pair);
	rs->tcp = rs->pair = -1;
}

/* Frees @rs; the application's descriptor is the caller's. */
static void rio_free(struct rio_sock *rs)
{
	if (rs->framed) {
		rio_stop(rs);
		atomic_fetch_sub(&framed_count, 1);
	}
	rio_maps_free(rs);
	pthread_cond_destroy(&rs->hello_cond);
	pthread_mutex_destroy(&rs->map_lock);
	pthread_mutex_destroy(&rs->tx_lock);
	free(rs);
}

/* A new descriptor from rsocket/raccept: an entry left under its number
 * (the application closed an rsocket with close(), not rclose) is gone. */
static void rio_socket_made(int fd)
{
	struct rio_sock *rs = rio_find(fd);

	if (!rs)
		return;
	tab_set(fd, NULL);
	rio_free(rs);
}

void rio_fail(struct rio_sock *rs, int err)
{
	pthread_mutex_lock(&rs->map_lock);
	if (!rs->err)
		rs->err = err;
	pthread_cond_broadcast(&rs->hello_cond);
	pthread_mutex_unlock(&rs->map_lock);
}

int rio_error(struct rio_sock *rs)
{
	int e;

	pthread_mutex_lock(&rs->map_lock);
	e = rs->err;
	pthread_mutex_unlock(&rs->map_lock);
	return e;
}

/* Starts the receive thread with every signal blocked (the application's
 * handlers run in its own threads). */
static int rx_start(struct rio_sock *rs)
{
	sigset_t all, old;
	int e;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&rs->thr, NULL, rio_rx_main, rs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e;
}

/* The connected TCP socket rs->fd becomes framed: it moves to a private
 * descriptor, one end of a socketpair takes its number (dup3, so the
 * application's descriptor stays valid all along), our hello goes out and
 * the receive thread starts. Returns an errno; on failure the
 * connection is reset and rs->fd is still the TCP socket. */
static int rio_attach(struct rio_sock *rs)
{
	int fl = fcntl(rs->fd, F_GETFL), fdfl = fcntl(rs->fd, F_GETFD);
	int sv[2] = { -1, -1 }, e;

	rs->tcp = fcntl(rs->fd, F_DUPFD_CLOEXEC, 0);
	if (fl < 0 || fdfl < 0 || rs->tcp < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		goto fail;
	rs->pair = sv[1];
	rs->nonblock = fl & O_NONBLOCK;
	if (fcntl(rs->tcp, F_SETFL, fl & ~O_NONBLOCK) || rio_send_hello(rs))
		goto fail;
	e = rx_start(rs);
	if (e) {
		errno = e;
		goto fail;
	}
	if (dup3(sv[0], rs->fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		e = errno;
		close(sv[0]);
		fcntl(rs->tcp, F_SETFL, fl);
		rio_stop(rs);
		goto reset;
	}
	rs->framed = true;
	atomic_fetch_add(&framed_count, 1);
	close(sv[0]);
	fcntl(rs->fd, F_SETFL, rs->nonblock ? O_NONBLOCK : 0);
	return 0;
fail:
	e = errno;
	if (rs->tcp >= 0) {
		fcntl(rs->tcp, F_SETFL, fl);
		close(rs->tcp);
	}
	if (sv[0] >= 0) {
		close(sv[0]);
		close(sv[1]);
	}
	rs->tcp = rs->pair = -1;
reset:
	connect(rs->fd, &(struct sockaddr){ .sa_family = AF_UNSPEC },
		sizeof(struct sockaddr));
	return e;
}

/* RDMA_IOMAPSIZE: remembered, and read when the rsocket connects. */
static int iomap_set(int s, const void *v, socklen_t l)
{
	struct rio_sock *rs = rio_find(s);
	int n;

	if (!v || l < sizeof(int))
		return rio_err(EINVAL);
	memcpy(&n, v, sizeof(n));
	if (n < 0)
		return rio_err(EINVAL);
	if (n > RIO_MAX_MAPS)
		n = RIO_MAX_MAPS;
	if (rs) {
		if (!rs->framed) /* set after the connection: no effect */
			rs->iomap_size = n;
		return 0;
	}
	if (!n)
		return 0;
	return rio_new(s, n) ? 0 : rio_err(ENOMEM);
}

static bool rio_setsockopt(int s, int level, int name, const void *v,
			   socklen_t l, int *ret)
{
	struct rio_sock *rs;

	if (level == SOL_RDMA) {
		if (name != RDMA_IOMAPSIZE)
			return false;
		*ret = iomap_set(s, v, l);
		return true;
	}
	rs = rio_framed(s);
	if (!rs)
		return false;
	*ret = setsockopt(rs->tcp, level, name, v, l);
	return true;
}

static bool rio_getsockopt(int s, int level, int name, void *v, socklen_t *l,
			   int *ret)
{
	struct rio_sock *rs = rio_find(s);
	int e;

	if (level == SOL_RDMA && name == RDMA_IOMAPSIZE) {
		if (!v || !l || *l < sizeof(int)) {
			errno = EINVAL;
			*ret = -1;
			return true;
		}
		e = rs ? rs->iomap_size : 0;
		memcpy(v, &e, sizeof(e));
		*l = sizeof(e);
		*ret = 0;
		return true;
	}
	if (!rs || !rs->framed || level == SOL_RDMA)
		return false;
	if (level == SOL_SOCKET && name == SO_ERROR && v && l &&
	    *l >= sizeof(int) && (e = rio_error(rs))) {
		memcpy(v, &e, sizeof(e));
		*l = sizeof(e);
		*ret = 0;
		return true;
	}
	*ret = getsockopt(rs->tcp, level, name, v, l);
	return true;
}

static bool rio_fcntl(int s, int cmd, long arg, int *ret)
{
	struct rio_sock *rs = rio_framed(s);

	if (!rs || cmd != F_SETFL)
		return false;
	*ret = fcntl(s, F_SETFL, arg);
	if (!*ret)
		rs->nonblock = arg & O_NONBLOCK;
	return true;
}

/* raccept's new descriptor: framed if the listener's RDMA_IOMAPSIZE is
 * above 0 (inherited, as in librdmacm). Returns @fd, or -1 (closed). */
static int rio_accepted(int ls, int fd)
{
	struct rio_sock *l, *rs;
	int e;

	if (fd < 0)
		return fd;
	rio_socket_made(fd);
	l = rio_find(ls);
	if (!l || !l->iomap_size)
		return fd;
	rs = rio_new(fd, l->iomap_size);
	e = rs ? rio_attach(rs) : ENOMEM;
	if (!e)
		return fd;
	if (rs) {
		tab_set(fd, NULL);
		rio_free(rs);
	}
	close(fd);
	errno = e;
	return -1;
}

/* rconnect of an rsocket with RDMA_IOMAPSIZE: the TCP connect completes
 * before it returns (a non-blocking rsocket too: 0, not EINPROGRESS),
 * then the rsocket is framed. */
static bool rio_connect(int s, const struct sockaddr *a, socklen_t l, int *ret)
{
	struct rio_sock *rs = rio_find(s);
	int fl, r, e;

	if (!rs || rs->framed || !rs->iomap_size)
		return false;
	fl = fcntl(s, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(s, F_SETFL, fl & ~O_NONBLOCK);
	r = connect(s, a, l);
	e = errno;
	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(s, F_SETFL, fl);
	if (!r)
		e = rio_attach(rs);
	*ret = e ? -1 : 0;
	errno = e;
	return true;
}

static bool rio_shutdown(int s, int how, int *ret)
{
	struct rio_sock *rs = rio_framed(s);

	if (!rs)
		return false;
	if (how != SHUT_WR)
		atomic_store(&rs->stop, true);
	pthread_mutex_lock(&rs->tx_lock); /* after a frame, never inside */
	*ret = shutdown(rs->tcp, how);
	pthread_mutex_unlock(&rs->tx_lock);
	if (how != SHUT_WR)
		shutdown(s, SHUT_RD);
	return true;
}

static bool rio_close(int s, int *ret)
{
	struct rio_sock *rs = rio_find(s);

	if (!rs)
		return false;
	tab_set(s, NULL);
	rio_free(rs);
	*ret = close(s);
	return true;
}

static bool rio_getname(int s, bool peer, struct sockaddr *a, socklen_t *l,
			int *ret)
{
	struct rio_sock *rs = rio_framed(s);

	if (!rs)
		return false;
	*ret = peer ? getpeername(rs->tcp, a, l) : getsockname(rs->tcp, a, l);
	return true;
}

static bool rio_recvmsg(int s, struct msghdr *m, int flags, ssize_t *ret)
{
	struct rio_sock *rs = rio_framed(s);
	size_t want = 0;
	int e;

	if (!rs)
		return false;
	*ret = recvmsg(s, m, flags);
	if (*ret >= 0)
		m->msg_namelen = 0; /* a stream socket names no sender */
	for (size_t i = 0; i < m->msg_iovlen; i++)
		want += m->msg_iov[i].iov_len;
	/* the end of the bytes of a connection that broke: its error */
	if (!*ret && want && (e = rio_error(rs))) {
		errno = e;
		*ret = -1;
	}
	return true;
}

static bool rio_sendmsg_s(int s, const struct msghdr *m, int flags,
			  ssize_t *ret)
{
	struct rio_sock *rs = rio_framed(s);

	if (!rs)
		return false;
	*ret = rio_sendmsg(rs, m, flags);
	return true;
}

bool rio_any_framed(void)
{
	return atomic_load(&framed_count) > 0;
}

const struct rio_ops rio_ops_impl = {
	.socket_made = rio_socket_made,
	.setsockopt = rio_setsockopt,
	.getsockopt = rio_getsockopt,
	.fcntl = rio_fcntl,
	.accepted = rio_accepted,
	.connect = rio_connect,
	.shutdown = rio_shutdown,
	.close = rio_close,
	.getname = rio_getname,
	.sendmsg = rio_sendmsg_s,
	.recvmsg = rio_recvmsg,
	.poll = rio_poll,
	.select = rio_select,
	.iomap = rio_iomap,
	.iounmap = rio_iounmap,
	.iowrite = rio_iowrite,
};
