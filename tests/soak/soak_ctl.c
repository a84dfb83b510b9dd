// SPDX-License-Identifier: MIT
/*
 * The soak's control channel: one plain TCP connection between the two
 * processes, as perftest has, for the parameters, QP numbers, GIDs,
 * addresses and keys, and the end-of-run counts. Every wait is bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "soak.h"

static void set_timeout(int fd, int secs)
{
	struct timeval tv = { .tv_sec = secs };
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Listens on addr:port (port 0: any) and prints "listening PORT". */
int ctl_listen(const char *addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd, one = 1;

	sa.sin_port = htons(port);
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		close(fd);
		return -1;
	}
	printf("listening %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	return fd;
}

int ctl_accept(int lfd, int secs)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int fd;

	if (poll(&p, 1, secs * 1000) != 1)
		return -1;
	fd = accept(lfd, NULL, NULL);
	if (fd >= 0)
		set_timeout(fd, 60);
	return fd;
}

/* Connects, retrying a refused connection until secs have passed. */
int ctl_connect(const char *host, int port, int secs)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timespec t0, t;
	int fd;

	sa.sin_port = htons(port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return -1;
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			set_timeout(fd, 60);
			return fd;
		}
		close(fd);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (errno != ECONNREFUSED || t.tv_sec - t0.tv_sec >= secs)
			return -1;
		usleep(100000); /* a deadline-bounded retry, not a wait */
	}
}

int ctl_write(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t r = write(fd, c, n);

		if (r <= 0)
			return -1;
		c += r;
		n -= r;
	}
	return 0;
}

/* Reads exactly n bytes; fails on EOF or the socket's 60 s timeout. */
int ctl_read(int fd, void *p, size_t n)
{
	char *c = p;

	while (n) {
		ssize_t r = read(fd, c, n);

		if (r <= 0)
			return -1;
		c += r;
		n -= r;
	}
	return 0;
}

bool ctl_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}
