// SPDX-License-Identifier: MIT
/*
 * Framed rsockets (rio.h): frames out. Every frame goes to the TCP socket
 * whole, under tx_lock, so frames never interleave. A non-blocking send
 * (MSG_DONTWAIT or O_NONBLOCK) answers EAGAIN only before the first byte
 * of a frame; once a byte of it is out, the rest is waited for, so its
 * frames are kept small (RIO_NB_FRAME) to keep that wait short.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "rio.h"

#define RIO_NB_FRAME (64U << 10)
#define RIO_IOV	     64 /* payload pieces per frame */

static struct rio_hdr hdr(uint8_t type, uint16_t slot, uint32_t len,
			  uint64_t off)
{
	return (struct rio_hdr){ .type = type,
				 .slot = htobe16(slot),
				 .len = htobe32(len),
				 .off = htobe64(off) };
}

/* Drops the first @n bytes of @m's iovec (which it owns). */
static void iov_advance(struct msghdr *m, size_t n)
{
	while (n && m->msg_iovlen) {
		if (n < m->msg_iov->iov_len) {
			m->msg_iov->iov_base = (char *)m->msg_iov->iov_base + n;
			m->msg_iov->iov_len -= n;
			return;
		}
		n -= m->msg_iov->iov_len;
		m->msg_iov++;
		m->msg_iovlen--;
	}
}

/* Sends all of @m (one frame); @nb: EAGAIN if not one byte could go.
 * A failure after the first byte leaves a torn frame: the connection is
 * broken (rio_fail). Returns 0 or -1 with errno. */
static int put(struct rio_sock *rs, struct msghdr *m, size_t left, bool nb)
{
	int f = MSG_NOSIGNAL | (nb ? MSG_DONTWAIT : 0);
	bool started = false;
	ssize_t r;

	while (left) {
		r = sendmsg(rs->tcp, m, f);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN && !started)
			return -1;
		if (r < 0 && errno == EAGAIN) { /* SO_SNDTIMEO */
			poll(&(struct pollfd){ .fd = rs->tcp,
					       .events = POLLOUT },
			     1, -1);
			continue;
		}
		if (r < 0) {
			if (started)
				rio_fail(rs, errno);
			return -1;
		}
		started = true;
		f &= ~MSG_DONTWAIT;
		left -= r;
		iov_advance(m, r);
	}
	return 0;
}

/* One frame: @h and @n payload bytes from @pl[0..npl). */
static int put_frame(struct rio_sock *rs, const struct rio_hdr *h,
		     const struct iovec *pl, int npl, size_t n, bool nb)
{
	struct iovec v[RIO_IOV + 1];
	struct msghdr m = { .msg_iov = v, .msg_iovlen = npl + 1 };

	v[0] = (struct iovec){ .iov_base = (void *)h, .iov_len = sizeof(*h) };
	if (npl)
		memcpy(v + 1, pl, npl * sizeof(*pl));
	return put(rs, &m, sizeof(*h) + n, nb);
}

int rio_send_hello(struct rio_sock *rs)
{
	struct rio_hello h = { .magic = htobe64(RIO_MAGIC),
			       .version = htobe32(RIO_VERSION),
			       .iomap_size = htobe32(rs->iomap_size) };
	struct iovec v = { .iov_base = &h, .iov_len = sizeof(h) };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };

	return put(rs, &m, sizeof(h), false);
}

/* Our new mappings to the peer, before any other frame (tx_lock). */
static int maps_flush(struct rio_sock *rs, bool nb)
{
	struct rio_map m;
	struct rio_hdr h;
	int i;

	for (i = 0; i < RIO_MAX_MAPS; i++) {
		pthread_mutex_lock(&rs->map_lock);
		if (i == 0 && !rs->maps_pending) {
			pthread_mutex_unlock(&rs->map_lock);
			return 0;
		}
		m = rs->mine[i];
		pthread_mutex_unlock(&rs->map_lock);
		if (!m.len || m.announced)
			continue;
		h = hdr(RIO_MAP, i, m.len, m.off);
		if (put_frame(rs, &h, NULL, 0, 0, nb))
			return -1;
		pthread_mutex_lock(&rs->map_lock);
		if (rs->mine[i].addr == m.addr && rs->mine[i].len == m.len)
			rs->mine[i].announced = true;
		pthread_mutex_unlock(&rs->map_lock);
	}
	pthread_mutex_lock(&rs->map_lock);
	rs->maps_pending = false;
	for (i = 0; i < RIO_MAX_MAPS; i++)
		rs->maps_pending |= rs->mine[i].len && !rs->mine[i].announced;
	pthread_mutex_unlock(&rs->map_lock);
	return 0;
}

/* Takes tx_lock for a send: -1 with errno if the connection is broken or
 * our mappings cannot be announced first. */
static int tx_begin(struct rio_sock *rs, bool nb)
{
	int e;

	pthread_mutex_lock(&rs->tx_lock);
	e = rio_error(rs);
	if (e) {
		pthread_mutex_unlock(&rs->tx_lock);
		errno = e;
		return -1;
	}
	if (maps_flush(rs, nb)) {
		pthread_mutex_unlock(&rs->tx_lock);
		return -1;
	}
	return 0;
}

/* Up to @n bytes of @src (from byte @skip on) as iovec pieces in @out:
 * how many bytes they hold. */
static size_t slice(const struct msghdr *src, size_t skip, size_t n,
		    struct iovec *out, int *nout)
{
	size_t got = 0, i;

	*nout = 0;
	for (i = 0; i < src->msg_iovlen && got < n && *nout < RIO_IOV; i++) {
		const struct iovec *v = &src->msg_iov[i];
		size_t take;

		if (skip >= v->iov_len) {
			skip -= v->iov_len;
			continue;
		}
		take = v->iov_len - skip;
		if (take > n - got)
			take = n - got;
		out[(*nout)++] =
			(struct iovec){ .iov_base = (char *)v->iov_base + skip,
					.iov_len = take };
		got += take;
		skip = 0;
	}
	return got;
}

ssize_t rio_sendmsg(struct rio_sock *rs, const struct msghdr *m, int flags)
{
	bool nb = (flags & MSG_DONTWAIT) || rs->nonblock;
	size_t total = 0, sent = 0, n, i;
	struct iovec v[RIO_IOV];
	struct rio_hdr h;
	int nv;

	for (i = 0; i < m->msg_iovlen; i++)
		total += m->msg_iov[i].iov_len;
	if (tx_begin(rs, nb))
		return -1;
	while (sent < total) {
		n = total - sent;
		if (n > (nb ? RIO_NB_FRAME : RIO_FRAME_MAX))
			n = nb ? RIO_NB_FRAME : RIO_FRAME_MAX;
		n = slice(m, sent, n, v, &nv);
		h = hdr(RIO_DATA, 0, n, 0);
		if (put_frame(rs, &h, v, nv, n, nb))
			break;
		sent += n;
	}
	pthread_mutex_unlock(&rs->tx_lock);
	return sent || !total ? (ssize_t)sent : -1;
}

size_t rio_iowrite(int s, const void *buf, size_t n, off_t off, int flags)
{
	struct rio_sock *rs = rio_framed(s);
	bool nb = (flags & MSG_DONTWAIT) || (rs && rs->nonblock);
	size_t sent = 0, len;
	struct iovec v;
	struct rio_hdr h;
	uint64_t room;

	if (!rs) { /* no mapping of the peer's can exist */
		errno = EINVAL;
		return (size_t)-1;
	}
	if (tx_begin(rs, nb))
		return (size_t)-1;
	while (sent < n) {
		pthread_mutex_lock(&rs->map_lock);
		room = rio_peer_room(rs, (uint64_t)off + sent);
		pthread_mutex_unlock(&rs->map_lock);
		if (!room) {
			errno = EINVAL; /* outside the peer's mappings */
			break;
		}
		len = n - sent;
		if (len > room)
			len = room;
		if (len > (nb ? RIO_NB_FRAME : RIO_FRAME_MAX))
			len = nb ? RIO_NB_FRAME : RIO_FRAME_MAX;
		h = hdr(RIO_WRITE, 0, len, (uint64_t)off + sent);
		v = (struct iovec){ .iov_base = (char *)buf + sent,
				    .iov_len = len };
		if (put_frame(rs, &h, &v, 1, len, nb))
			break;
		sent += len;
	}
	pthread_mutex_unlock(&rs->tx_lock);
	return sent || !n ? sent : (size_t)-1;
}
