// SPDX-License-Identifier: MIT
/* malformed: socket probes: the provider's end of a connection */
#include "malformed.h"

/* ------------------------------------------------------- socket probes */

bool conn_ends_of(int fd, struct conn_ends *e)
{
	e->self_len = sizeof(e->self);
	e->peer_len = sizeof(e->peer);
	return !getsockname(fd, (struct sockaddr *)&e->self, &e->self_len) &&
	       !getpeername(fd, (struct sockaddr *)&e->peer, &e->peer_len);
}

/*
 * The provider's end of a connection the test made: the socket of this
 * process whose addresses are @e's, swapped; -1 while there is none (not
 * accepted yet, or closed).
 */
static int provider_end(const struct conn_ends *e)
{
	struct conn_ends o;
	struct dirent *d;
	DIR *dir = opendir("/proc/self/fd");
	int fd, found = -1;

	if (!dir)
		return -1;
	while (found < 0 && (d = readdir(dir))) {
		fd = atoi(d->d_name);
		if (fd > 2 && fd != dirfd(dir) && conn_ends_of(fd, &o) &&
		    o.self_len == e->peer_len &&
		    !memcmp(&o.self, &e->peer, o.self_len) &&
		    o.peer_len == e->self_len &&
		    !memcmp(&o.peer, &e->self, o.peer_len))
			found = fd;
	}
	closedir(dir);
	return found;
}

/*
 * Whether the provider has read all but @left of the bytes the test sent
 * on @fd: every byte has reached the provider's socket (none waits for an
 * acknowledgement) and at most @left wait there unread.
 */
static bool provider_read(int fd, const struct conn_ends *e, int left)
{
	int queued, pfd;

	if (ioctl(fd, SIOCOUTQ, &queued) || queued)
		return false;
	pfd = provider_end(e);
	return pfd >= 0 && !ioctl(pfd, FIONREAD, &queued) && queued <= left;
}

/*
 * Waits up to DEADLINE_MS for the provider to read what the test sent on
 * @fd (all but @left bytes), so that what the test does next reaches it
 * as a separate event; false if it did not.
 */
bool wait_provider_read(int fd, int left)
{
	struct conn_ends e;
	uint64_t t0 = now_ms();
	bool done;

	if (!conn_ends_of(fd, &e))
		return false;
	while (!(done = provider_read(fd, &e, left)) &&
	       now_ms() - t0 < DEADLINE_MS)
		sleep_ms(1);
	return done;
}

/* Waits up to DEADLINE_MS for the provider to close its end of @e. */
bool wait_provider_closed(const struct conn_ends *e)
{
	uint64_t t0 = now_ms();
	bool done;

	while (!(done = provider_end(e) < 0) && now_ms() - t0 < DEADLINE_MS)
		sleep_ms(1);
	return done;
}
