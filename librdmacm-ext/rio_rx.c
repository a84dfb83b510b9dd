// SPDX-License-Identifier: MIT
/*
 * Framed rsockets (rio.h): the receive thread of one framed rsocket. It
 * reads the TCP connection through a staging buffer, checks the peer's
 * hello and every frame header, hands DATA bytes to the application's
 * end of the socketpair (blocking there is the stream's flow control,
 * as a full receive buffer is for TCP), records MAP announcements, and
 * places WRITE payloads in our mappings itself: the application may be
 * spinning on that memory. A large WRITE goes from the socket straight
 * into the mapping. The last byte of every WRITE is stored last, with
 * release ordering, so a reader that sees it sees the bytes before it.
 *
 * Everything from the peer is untrusted: a bad hello or header, a MAP
 * beyond the slots we offer, or a WRITE not wholly inside one of our
 * mappings (also one unmapped while its bytes arrive) ends the
 * connection: rs->err is set (EPROTO, or EACCES for the access), the TCP
 * connection is reset, and the application reads the end of its bytes
 * and then the error. Placement happens under map_lock with
 * non-blocking receives only, so riounmap never waits for the network.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rio.h"

#define RIO_STAGE      (64U << 10)
#define RIO_DIRECT_MIN (16U << 10) /* WRITE bytes worth a direct recv */

struct rx {
	struct rio_sock *rs;
	uint8_t *buf;
	size_t head, tail; /* staged bytes */
	bool hello, in_frame;
	struct rio_hdr h; /* host order */
	uint32_t done;	  /* payload bytes of h handled */
};

/* More bytes from the connection into the staging buffer: 0, -1 at its
 * end, or an errno. */
static int fill(struct rx *x)
{
	ssize_t r;

	if (x->head == x->tail) {
		x->head = x->tail = 0;
	} else if (x->head > RIO_STAGE / 2) {
		memmove(x->buf, x->buf + x->head, x->tail - x->head);
		x->tail -= x->head;
		x->head = 0;
	}
	r = recv(x->rs->tcp, x->buf + x->tail, RIO_STAGE - x->tail, 0);
	if (r > 0) {
		x->tail += r;
		return 0;
	}
	if (r < 0 && errno == EINTR)
		return 0;
	if (atomic_load(&x->rs->stop))
		return -1;
	if (r < 0)
		return errno;
	/* the peer's end: clean between frames only */
	return !x->hello || x->in_frame || x->head != x->tail ? ECONNRESET : -1;
}

static int take_hello(struct rx *x)
{
	struct rio_hello h;
	struct rio_sock *rs = x->rs;

	memcpy(&h, x->buf + x->head, sizeof(h));
	x->head += sizeof(h);
	if (be64toh(h.magic) != RIO_MAGIC || be32toh(h.version) != RIO_VERSION)
		return EPROTO; /* not a framed rsocket (of this version) */
	pthread_mutex_lock(&rs->map_lock);
	rs->peer_iomap = be32toh(h.iomap_size);
	if (rs->peer_iomap > RIO_MAX_MAPS)
		rs->peer_iomap = RIO_MAX_MAPS;
	rs->hello = true;
	pthread_cond_broadcast(&rs->hello_cond);
	pthread_mutex_unlock(&rs->map_lock);
	x->hello = true;
	return 0;
}

static int take_map(struct rx *x)
{
	struct rio_sock *rs = x->rs;
	const struct rio_hdr *h = &x->h;

	if (h->slot >= rs->iomap_size || !h->len ||
	    h->off > UINT64_MAX - h->len)
		return EPROTO;
	pthread_mutex_lock(&rs->map_lock);
	rs->peer[h->slot] = (struct rio_map){ .off = h->off, .len = h->len };
	pthread_mutex_unlock(&rs->map_lock);
	return 0;
}

/* The next frame's header: checked, and a MAP applied. */
static int take_hdr(struct rx *x)
{
	struct rio_hdr *h = &x->h;
	bool ok;

	memcpy(h, x->buf + x->head, sizeof(*h));
	x->head += sizeof(*h);
	h->slot = be16toh(h->slot);
	h->len = be32toh(h->len);
	h->off = be64toh(h->off);
	if (h->rsvd)
		return EPROTO;
	if (h->type == RIO_MAP)
		return take_map(x);
	if (h->slot || !h->len || h->len > RIO_FRAME_MAX)
		return EPROTO;
	if (h->type == RIO_DATA && h->off)
		return EPROTO;
	if (h->type == RIO_WRITE) {
		pthread_mutex_lock(&x->rs->map_lock);
		ok = rio_mine_at(x->rs, h->off, h->len);
		pthread_mutex_unlock(&x->rs->map_lock);
		if (!ok)
			return EACCES;
	} else if (h->type != RIO_DATA) {
		return EPROTO;
	}
	x->in_frame = true;
	x->done = 0;
	return 0;
}

/* @n staged WRITE bytes into our mapping; the frame's last byte last. */
static int place(struct rx *x, const uint8_t *src, uint32_t n)
{
	struct rio_sock *rs = x->rs;
	bool last = x->done + n == x->h.len;
	uint8_t *dst;

	pthread_mutex_lock(&rs->map_lock);
	dst = rio_mine_at(rs, x->h.off + x->done, n);
	if (dst) {
		memcpy(dst, src, n - last);
		if (last)
			__atomic_store_n(dst + n - 1, src[n - 1],
					 __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&rs->map_lock);
	return dst ? 0 : EACCES;
}

/* A large WRITE's bytes (all but its last) straight from the socket
 * into the mapping, without waiting under the lock. */
static int place_direct(struct rx *x)
{
	struct rio_sock *rs = x->rs;
	uint32_t want = x->h.len - x->done - 1;
	uint8_t *dst;
	ssize_t r;

	pthread_mutex_lock(&rs->map_lock);
	dst = rio_mine_at(rs, x->h.off + x->done, want);
	r = dst ? recv(rs->tcp, dst, want, MSG_DONTWAIT) : -1;
	pthread_mutex_unlock(&rs->map_lock);
	if (!dst)
		return EACCES;
	if (r > 0) {
		x->done += r;
		return 0;
	}
	if (r < 0 && errno == EAGAIN) {
		poll(&(struct pollfd){ .fd = rs->tcp, .events = POLLIN }, 1,
		     -1);
		return 0;
	}
	if (r < 0 && errno == EINTR)
		return 0;
	if (atomic_load(&rs->stop))
		return -1;
	return r < 0 ? errno : ECONNRESET;
}

/* @n staged DATA bytes to the application, in order. */
static int forward(struct rx *x, const uint8_t *src, uint32_t n)
{
	ssize_t r;

	while (n) {
		r = send(x->rs->pair, src, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) /* the application closed or shut its end */
			return -1;
		src += r;
		n -= r;
	}
	return 0;
}

/* One step: 0 to go on, -1 to end quietly, or an errno. */
static int step(struct rx *x)
{
	size_t avail = x->tail - x->head;
	uint32_t n, left;
	int e;

	if (!x->hello)
		return avail < sizeof(struct rio_hello) ? fill(x)
							: take_hello(x);
	if (!x->in_frame)
		return avail < sizeof(struct rio_hdr) ? fill(x) : take_hdr(x);
	left = x->h.len - x->done;
	if (!avail) {
		if (x->h.type == RIO_WRITE && left - 1 >= RIO_DIRECT_MIN)
			return place_direct(x);
		return fill(x);
	}
	n = avail < left ? avail : left;
	e = x->h.type == RIO_DATA ? forward(x, x->buf + x->head, n)
				  : place(x, x->buf + x->head, n);
	if (e)
		return e;
	x->head += n;
	x->done += n;
	if (x->done == x->h.len)
		x->in_frame = false;
	return 0;
}

void *rio_rx_main(void *arg)
{
	struct rx x = { .rs = arg };
	struct rio_sock *rs = arg;
	int e = ENOMEM;

	x.buf = malloc(RIO_STAGE);
	if (x.buf) {
		do
			e = step(&x);
		while (!e);
	}
	if (e > 0 && !atomic_load(&rs->stop)) {
		/* a reset, not an end the peer could take for a clean one;
		 * before the error shows (the application may exit on it) */
		connect(rs->tcp, &(struct sockaddr){ .sa_family = AF_UNSPEC },
			sizeof(struct sockaddr));
		rio_fail(rs, e);
	} else if (!x.hello) {
		rio_fail(rs, ECONNRESET); /* riomap waits no longer */
	}
	shutdown(rs->pair, SHUT_WR); /* the application reads the end */
	free(x.buf);
	return NULL;
}
