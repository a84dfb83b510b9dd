// SPDX-License-Identifier: MIT
/*
 * Framed rsockets (rio.h): rpoll and rselect. A framed rsocket's
 * descriptor is the application's end of a socketpair: readable when the
 * receive thread handed bytes over (or the end), but always writable, so
 * POLLOUT is asked of the TCP socket instead (room for a frame), and a
 * broken connection adds POLLERR. Without framed rsockets among the
 * descriptors the calls are the kernel's (rsock.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "rio.h"

/* poll with each framed descriptor asked twice: its own end without
 * POLLOUT, and its TCP socket for POLLOUT. */
static int poll_framed(struct pollfd *fds, nfds_t n, int timeout)
{
	struct pollfd *p = calloc(2 * n, sizeof(*p));
	struct rio_sock *rs;
	nfds_t i;
	int r;

	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < n; i++) {
		rs = rio_framed(fds[i].fd);
		p[2 * i] = fds[i];
		p[2 * i + 1].fd = -1;
		if (rs && (fds[i].events & POLLOUT)) {
			p[2 * i].events &= ~POLLOUT;
			p[2 * i + 1].fd = rs->tcp;
			p[2 * i + 1].events = POLLOUT;
		}
	}
	r = poll(p, 2 * n, timeout);
	if (r > 0) {
		r = 0;
		for (i = 0; i < n; i++) {
			rs = rio_framed(fds[i].fd);
			fds[i].revents = p[2 * i].revents;
			if (p[2 * i + 1].fd >= 0)
				fds[i].revents |= p[2 * i + 1].revents;
			if (rs && rio_error(rs))
				fds[i].revents |= POLLERR;
			r += !!fds[i].revents;
		}
	}
	free(p);
	return r;
}

bool rio_poll(struct pollfd *fds, nfds_t n, int timeout, int *ret)
{
	nfds_t i;

	if (!rio_any_framed())
		return false;
	for (i = 0; i < n && !rio_framed(fds[i].fd); i++)
		;
	if (i == n)
		return false;
	*ret = poll_framed(fds, n, timeout);
	return true;
}

static bool in(const fd_set *s, int fd)
{
	return s && FD_ISSET(fd, s);
}

/* The descriptors of the three sets as pollfds: how many, or -1. */
static int sets_to_poll(int n, fd_set *r, fd_set *w, fd_set *e,
			struct pollfd **out)
{
	struct pollfd *p = calloc(n, sizeof(*p));
	int fd, k = 0;

	*out = p;
	if (!p)
		return -1;
	for (fd = 0; fd < n; fd++) {
		short ev = (in(r, fd) ? POLLIN : 0) |
			   (in(w, fd) ? POLLOUT : 0) |
			   (in(e, fd) ? POLLPRI : 0);

		if (ev)
			p[k++] = (struct pollfd){ .fd = fd, .events = ev };
	}
	return k;
}

static int set_bit(int fd, fd_set *s)
{
	FD_SET(fd, s);
	return 1;
}

/* The poll results back into the sets: the count of bits set, or -1
 * (EBADF) for a descriptor that is not open. */
static int poll_to_sets(const struct pollfd *p, int k, fd_set *r, fd_set *w,
			fd_set *e)
{
	fd_set rr, ww, ee;
	int i, bits = 0;

	FD_ZERO(&rr);
	FD_ZERO(&ww);
	FD_ZERO(&ee);
	for (i = 0; i < k; i++) {
		short re = p[i].revents;

		if (re & POLLNVAL) {
			errno = EBADF;
			return -1;
		}
		if ((p[i].events & POLLIN) &&
		    (re & (POLLIN | POLLHUP | POLLERR)))
			bits += set_bit(p[i].fd, &rr);
		if ((p[i].events & POLLOUT) && (re & (POLLOUT | POLLERR)))
			bits += set_bit(p[i].fd, &ww);
		if ((p[i].events & POLLPRI) && (re & POLLPRI))
			bits += set_bit(p[i].fd, &ee);
	}
	if (r)
		*r = rr;
	if (w)
		*w = ww;
	if (e)
		*e = ee;
	return bits;
}

bool rio_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t,
		int *ret)
{
	struct pollfd *p;
	long long ms = -1;
	int fd, k;

	if (!rio_any_framed() || n <= 0 || n > FD_SETSIZE)
		return false;
	for (fd = 0; fd < n; fd++)
		if ((in(r, fd) || in(w, fd) || in(e, fd)) && rio_framed(fd))
			break;
	if (fd == n)
		return false;
	if (t && (t->tv_sec < 0 || t->tv_usec < 0)) {
		errno = EINVAL;
		*ret = -1;
		return true;
	}
	if (t)
		ms = t->tv_sec * 1000LL + (t->tv_usec + 999) / 1000;
	k = sets_to_poll(n, r, w, e, &p);
	*ret = k < 0 ? -1 : poll_framed(p, k, ms > INT_MAX ? INT_MAX : (int)ms);
	if (*ret >= 0)
		*ret = poll_to_sets(p, k, r, w, e);
	if (k < 0)
		errno = ENOMEM;
	free(p);
	return true;
}
