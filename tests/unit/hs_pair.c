// SPDX-License-Identifier: MIT
/*
 * Two ends of a TLS key exchange (hs.c) over TCP loopback, driven from one
 * thread by a poll loop, for tests/unit/test_hs.c (hs_pair.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hs_pair.h"

const char *certdir;
const char frames_c[] = "FRAMES from the client";
const char frames_s[] = "FRAMES from the server, longer";

uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* A connected TCP pair on 127.0.0.1, both ends nonblocking. @small:
 * the smallest buffers the kernel allows (client receive, server send). */
int tcp_pair(int fds[2], bool small)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int l, one = 1, tiny = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &alen))
		return -1;
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (small)
		setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &tiny, sizeof(tiny));
	if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&a, sizeof(a)))
		return -1;
	fds[1] = accept(l, NULL, NULL);
	close(l);
	if (fds[1] < 0)
		return -1;
	if (small)
		setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &tiny, sizeof(tiny));
	for (int i = 0; i < 2; i++) {
		set_nonblock(fds[i]);
		setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return 0;
}

/* ---- credentials ---- */

void conf_psk(struct tcp_psp_conf *c, uint8_t fill)
{
	memset(c, 0, sizeof(*c));
	c->mode = TCP_PSP_AUTH;
	c->have_psk = true;
	for (int i = 0; i < TCP_PSP_PSK_LEN; i++)
		c->psk[i] = (uint8_t)(fill + i);
}

void conf_cert(struct tcp_psp_conf *c, const char *name, const char *ca)
{
	memset(c, 0, sizeof(*c));
	c->mode = TCP_PSP_AUTH;
	snprintf(c->cert, sizeof(c->cert), "%s/%s.pem", certdir, name);
	snprintf(c->cert_key, sizeof(c->cert_key), "%s/%s.key", certdir, name);
	snprintf(c->ca, sizeof(c->ca), "%s/%s.pem", certdir, ca);
}

/* ---- one end of an exchange, as the QP rendezvous will run it ---- */

const enum stage plan_client[] = { ST_HS,  ST_SEND, ST_FLUSH,
				   ST_RAW, ST_RECV, ST_DONE };
const enum stage plan_server[] = { ST_HS,    ST_RECV, ST_SEND,
				   ST_FLUSH, ST_RAW,  ST_DONE };

static enum tcp_hs_status end_raw(struct end *e)
{
	const char *f = e->client ? frames_c : frames_s;
	size_t len = strlen(f);

	return send(e->fd, f, len, MSG_NOSIGNAL) == (ssize_t)len ? TCP_HS_OK
								 : TCP_HS_FAIL;
}

static enum tcp_hs_status end_stage(struct end *e)
{
	switch (e->plan[e->at]) {
	case ST_HS:
		return tcp_hs_step(e->hs);
	case ST_SEND:
		return tcp_hs_send(e->hs, e->out, MSG_LEN);
	case ST_FLUSH:
		return tcp_hs_flush(e->hs);
	case ST_RAW:
		return end_raw(e);
	case ST_RECV:
		return tcp_hs_recv(e->hs, e->in, MSG_LEN);
	case ST_DONE:
		break;
	}
	return TCP_HS_OK;
}

/* Runs @e until it waits or ends. */
void end_advance(struct end *e)
{
	while (e->plan[e->at] != ST_DONE) {
		e->st = end_stage(e);
		if (e->st == TCP_HS_FAIL && e->close_on_fail) {
			close(e->fd);
			e->closed = true;
		}
		e->want_writes += e->st == TCP_HS_WANT_WRITE;
		if (e->st != TCP_HS_OK)
			return;
		e->at++;
		/* a send that WANT_WRITE stays in ST_FLUSH next */
	}
	e->st = TCP_HS_OK;
}

bool end_over(const struct end *e)
{
	return e->st == TCP_HS_FAIL || e->plan[e->at] == ST_DONE;
}

/* Drives both ends until each is done or failed; false on the deadline. */
bool run_pair(struct end e[2])
{
	uint64_t deadline = now_us() + DEADLINE_MS * 1000ull;
	struct pollfd p[2];

	for (;;) {
		for (int i = 0; i < 2; i++)
			if (!end_over(&e[i]))
				end_advance(&e[i]);
		if (end_over(&e[0]) && end_over(&e[1]))
			return true;
		for (int i = 0; i < 2; i++) {
			p[i].fd = end_over(&e[i]) ? -1 : e[i].fd;
			p[i].events =
				e[i].st == TCP_HS_WANT_WRITE ? POLLOUT : POLLIN;
		}
		if (now_us() > deadline)
			return false;
		poll(p, 2, 100);
	}
}

bool pair_open_buf(struct pair *p, const struct tcp_psp_conf *cc,
		   const struct tcp_psp_conf *sc, bool small)
{
	memset(p, 0, sizeof(*p));
	p->fds[0] = p->fds[1] = -1;
	if (tcp_hs_cred_init(&p->cred[0], cc) ||
	    tcp_hs_cred_init(&p->cred[1], sc) || tcp_pair(p->fds, small))
		return false;
	for (int i = 0; i < 2; i++) {
		struct end *e = &p->e[i];

		e->client = i == 0;
		e->fd = p->fds[i];
		e->plan = e->client ? plan_client : plan_server;
		e->hs = tcp_hs_new(&p->cred[i],
				   e->client ? TCP_HS_CLIENT : TCP_HS_SERVER,
				   e->fd);
		memset(e->out, e->client ? 'c' : 's', MSG_LEN);
		e->out[0] = (uint8_t)i;
		if (!e->hs)
			return false;
	}
	return true;
}

bool pair_open(struct pair *p, const struct tcp_psp_conf *cc,
	       const struct tcp_psp_conf *sc)
{
	return pair_open_buf(p, cc, sc, false);
}

void pair_close(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		tcp_hs_free(p->e[i].hs);
		tcp_hs_cred_free(&p->cred[i]);
		if (p->fds[i] >= 0 && !p->e[i].closed)
			close(p->fds[i]);
	}
}

/* Reads exactly @len bytes with plain recv, within the deadline. */
bool recv_exact(int fd, void *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t deadline = now_us() + DEADLINE_MS * 1000ull;
	size_t have = 0;
	ssize_t n;

	while (have < len && now_us() < deadline) {
		n = recv(fd, (char *)buf + have, len - have, MSG_DONTWAIT);
		if (n > 0)
			have += (size_t)n;
		else if (n == 0)
			return false;
		else
			poll(&p, 1, 100);
	}
	return have == len;
}

const char *end_reason(const struct end *e)
{
	return tcp_hs_detail(e->hs);
}

const enum stage plan_none[] = { ST_DONE };
const enum stage plan_hs[] = { ST_HS, ST_DONE };
