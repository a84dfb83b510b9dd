// SPDX-License-Identifier: MIT
/*
 * The TLS 1.3 key exchange (providers/tcp/hs.c) between two ends of a real
 * TCP loopback connection, both driven from this thread by a poll loop:
 * PSK and certificates that match, credentials that do not (every failure
 * must be ERR_CRED on both ends, before a deadline), a peer that closes or
 * resets, a stranger's bytes, and a record too large to read. After a
 * successful exchange each end writes raw bytes behind its TLS record and
 * the other reads them with plain recv(): the handshake read nothing of
 * the stream past its last record.
 *
 * Usage: test_hs CERTDIR (made by tests/lib/mkcerts.sh). Prints the mean
 * handshake time on loopback for PSK and certificates (a figure, not a
 * check).
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

#include "check.h"
#include "hs.h"

#define MSG_LEN	    72
#define DEADLINE_MS 30000

static const char *certdir;
static const char frames_c[] = "FRAMES from the client";
static const char frames_s[] = "FRAMES from the server, longer";

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* A connected TCP pair on 127.0.0.1, both ends nonblocking. */
static int tcp_pair(int fds[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int l, one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &alen))
		return -1;
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&a, sizeof(a)))
		return -1;
	fds[1] = accept(l, NULL, NULL);
	close(l);
	if (fds[1] < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		set_nonblock(fds[i]);
		setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return 0;
}

/* ---- credentials ---- */

static void conf_psk(struct tcp_psp_conf *c, uint8_t fill)
{
	memset(c, 0, sizeof(*c));
	c->mode = TCP_PSP_AUTH;
	c->have_psk = true;
	for (int i = 0; i < TCP_PSP_PSK_LEN; i++)
		c->psk[i] = (uint8_t)(fill + i);
}

static void conf_cert(struct tcp_psp_conf *c, const char *name, const char *ca)
{
	memset(c, 0, sizeof(*c));
	c->mode = TCP_PSP_AUTH;
	snprintf(c->cert, sizeof(c->cert), "%s/%s.pem", certdir, name);
	snprintf(c->cert_key, sizeof(c->cert_key), "%s/%s.key", certdir, name);
	snprintf(c->ca, sizeof(c->ca), "%s/%s.pem", certdir, ca);
}

/* ---- one end of an exchange, as the QP rendezvous will run it ---- */

enum stage { ST_HS, ST_SEND, ST_FLUSH, ST_RAW, ST_RECV, ST_DONE };

struct end {
	struct tcp_hs *hs;
	int fd;
	bool client;
	const enum stage *plan; /* what this end does, in order */
	int at;
	enum tcp_hs_status st; /* the last status: what it waits for */
	uint8_t out[MSG_LEN], in[MSG_LEN];
};

/* client: handshake, message, raw frames, answer; server: handshake,
 * message, answer, raw frames. Each writes its raw frames right behind
 * its record, so they sit in the peer's socket with it. */
static const enum stage plan_client[] = { ST_HS,  ST_SEND, ST_FLUSH,
					  ST_RAW, ST_RECV, ST_DONE };
static const enum stage plan_server[] = { ST_HS,    ST_RECV, ST_SEND,
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
static void end_advance(struct end *e)
{
	while (e->plan[e->at] != ST_DONE) {
		e->st = end_stage(e);
		if (e->st == TCP_HS_FAIL)
			return;
		if (e->st != TCP_HS_OK)
			return;
		e->at++;
		/* a send that WANT_WRITE stays in ST_FLUSH next */
	}
	e->st = TCP_HS_OK;
}

static bool end_over(const struct end *e)
{
	return e->st == TCP_HS_FAIL || e->plan[e->at] == ST_DONE;
}

/* Drives both ends until each is done or failed; false on the deadline. */
static bool run_pair(struct end e[2])
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

struct pair {
	struct tcp_hs_cred cred[2];
	struct end e[2]; /* [0] client, [1] server */
	int fds[2];
};

static bool pair_open(struct pair *p, const struct tcp_psp_conf *cc,
		      const struct tcp_psp_conf *sc)
{
	memset(p, 0, sizeof(*p));
	p->fds[0] = p->fds[1] = -1;
	if (tcp_hs_cred_init(&p->cred[0], cc) ||
	    tcp_hs_cred_init(&p->cred[1], sc) || tcp_pair(p->fds))
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

static void pair_close(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		tcp_hs_free(p->e[i].hs);
		tcp_hs_cred_free(&p->cred[i]);
		if (p->fds[i] >= 0)
			close(p->fds[i]);
	}
}

/* Reads exactly @len bytes with plain recv, within the deadline. */
static bool recv_exact(int fd, void *buf, size_t len)
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

static const char *reason(const struct end *e)
{
	return tcp_hs_detail(e->hs);
}

static const enum stage plan_none[] = { ST_DONE };
static const enum stage plan_hs[] = { ST_HS, ST_DONE };

static bool pair_setup(struct pair *p, const char *name,
		       const struct tcp_psp_conf *cc,
		       const struct tcp_psp_conf *sc)
{
	bool ok = pair_open(p, cc, sc);

	CHECKF(ok, "%s: setup failed", name);
	return ok;
}

/* Each end's raw bytes arrive whole at the other, and nothing else. */
static void check_raw_after(struct pair *p, const char *name)
{
	char buf[64];

	for (int i = 0; i < 2; i++) {
		const char *want = i ? frames_c : frames_s;
		size_t len = strlen(want);
		bool got = recv_exact(p->fds[i], buf, len);

		CHECKF(got && !memcmp(buf, want, len),
		       "%s: end %d: raw bytes after the TLS record", name, i);
		CHECKF(recv(p->fds[i], buf, 1, MSG_DONTWAIT) < 0 &&
			       errno == EAGAIN,
		       "%s: end %d: more bytes than were sent", name, i);
	}
}

static void check_ok(const char *name, const struct tcp_psp_conf *cc,
		     const struct tcp_psp_conf *sc)
{
	uint8_t key[2][32], zero[32] = { 0 };
	struct pair p;

	if (pair_setup(&p, name, cc, sc)) {
		CHECKF(run_pair(p.e), "%s: deadline", name);
		for (int i = 0; i < 2; i++)
			CHECKF(p.e[i].st == TCP_HS_OK &&
				       p.e[i].plan[p.e[i].at] == ST_DONE,
			       "%s: end %d: status %d: %s", name, i, p.e[i].st,
			       reason(&p.e[i]));
		CHECKF(!memcmp(p.e[0].in, p.e[1].out, MSG_LEN) &&
			       !memcmp(p.e[1].in, p.e[0].out, MSG_LEN),
		       "%s: messages differ", name);
		check_raw_after(&p, name);
		for (int i = 0; i < 2; i++)
			CHECK(!tcp_hs_export(p.e[i].hs,
					     "EXPORTER-rdma-tcp test", key[i],
					     sizeof(key[i])));
		CHECKF(!memcmp(key[0], key[1], 32) && memcmp(key[0], zero, 32),
		       "%s: exported keys differ or are zero", name);
	}
	pair_close(&p);
}

/* Both ends fail, each with the reason it should give. */
static void check_fail(const char *name, const struct tcp_psp_conf *cc,
		       const struct tcp_psp_conf *sc, enum tcp_hs_err want_c,
		       enum tcp_hs_err want_s)
{
	enum tcp_hs_err want[2] = { want_c, want_s };
	struct pair p;

	if (pair_setup(&p, name, cc, sc)) {
		CHECKF(run_pair(p.e), "%s: deadline", name);
		for (int i = 0; i < 2; i++) {
			CHECKF(p.e[i].st == TCP_HS_FAIL &&
				       tcp_hs_reason(p.e[i].hs) == want[i],
			       "%s: end %d: status %d, reason %d (%s), want %s",
			       name, i, p.e[i].st, tcp_hs_reason(p.e[i].hs),
			       reason(&p.e[i]), tcp_hs_strerror(want[i]));
			printf("%s: end %d: %s\n", name, i, reason(&p.e[i]));
		}
	}
	pair_close(&p);
}

/* Closes end @i's socket: it takes no further part. */
static void end_gone(struct pair *p, int i)
{
	close(p->fds[i]);
	p->fds[i] = -1;
	p->e[i].plan = plan_none;
	p->e[i].at = 0;
	p->e[i].st = TCP_HS_OK;
}

/* The other end fails with ERR_CLOSED, before the deadline. */
static void check_closed(struct pair *p, const char *name, int i)
{
	CHECKF(run_pair(p->e), "%s: deadline", name);
	CHECKF(p->e[i].st == TCP_HS_FAIL &&
		       tcp_hs_reason(p->e[i].hs) == TCP_HS_ERR_CLOSED,
	       "%s: status %d, reason %d (%s)", name, p->e[i].st,
	       tcp_hs_reason(p->e[i].hs), reason(&p->e[i]));
	printf("%s: %s\n", name, reason(&p->e[i]));
}

static void test_closed(void)
{
	static const uint8_t part[] = { 0x16, 3, 1, 0, 100, 1, 0, 0, 96 };
	struct tcp_psp_conf c;
	struct pair p;

	conf_psk(&c, 1);
	/* the client goes away once its ClientHello is out */
	if (pair_setup(&p, "client closes", &c, &c)) {
		end_advance(&p.e[0]);
		CHECK(p.e[0].st == TCP_HS_WANT_READ);
		end_gone(&p, 0);
		check_closed(&p, "client closes", 1);
	}
	pair_close(&p);
	/* the server closes with the ClientHello unread: a reset */
	if (pair_setup(&p, "server resets", &c, &c)) {
		end_advance(&p.e[0]);
		end_gone(&p, 1);
		check_closed(&p, "server resets", 0);
	}
	pair_close(&p);
	/* a record cut short by the end of the stream */
	if (pair_setup(&p, "truncated record", &c, &c)) {
		CHECK(send(p.fds[0], part, sizeof(part), 0) ==
		      (ssize_t)sizeof(part));
		shutdown(p.fds[0], SHUT_WR);
		p.e[0].plan = plan_none;
		check_closed(&p, "truncated record", 1);
	}
	pair_close(&p);
}

/* A stranger writes @bytes to the end @i: one step fails with ERR_PROTO
 * and reads no byte past the bad record header (@tail stays). */
static void check_stranger(const char *name, int i, const void *bytes,
			   size_t len, const char *tail)
{
	struct pollfd pfd = { .events = POLLIN };
	struct tcp_psp_conf c;
	enum tcp_hs_status st;
	struct pair p;
	char buf[64];

	conf_psk(&c, 1);
	if (pair_setup(&p, name, &c, &c)) {
		if (i == 0) /* the client's ClientHello goes out first */
			end_advance(&p.e[0]);
		CHECK(send(p.fds[!i], bytes, len, 0) == (ssize_t)len);
		CHECK(send(p.fds[!i], tail, strlen(tail), 0) ==
		      (ssize_t)strlen(tail));
		pfd.fd = p.fds[i];
		CHECK(poll(&pfd, 1, DEADLINE_MS) == 1);
		st = tcp_hs_step(p.e[i].hs);
		CHECKF(st == TCP_HS_FAIL &&
			       tcp_hs_reason(p.e[i].hs) == TCP_HS_ERR_PROTO,
		       "%s: status %d reason %d (%s)", name, st,
		       tcp_hs_reason(p.e[i].hs), reason(&p.e[i]));
		printf("%s: %s\n", name, reason(&p.e[i]));
		CHECKF(recv_exact(p.fds[i], buf, strlen(tail)) &&
			       !memcmp(buf, tail, strlen(tail)),
		       "%s: read past the record header", name);
	}
	pair_close(&p);
}

static void test_strangers(void)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char ssh[] = "SSH-2.0-OpenSSH_9.2\r\n";
	/* a handshake record of 65535 bytes: the most a header can say */
	static const uint8_t huge[] = { 0x16, 3, 1, 0xff, 0xff };
	/* application data before any handshake, 16 KiB + 257 */
	static const uint8_t big[] = { 0x17, 3, 3, 0x41, 0x01 };

	/* all but the header's 5 bytes stay unread: the HTTP request's rest
	 * counts as the tail */
	check_stranger("HTTP request", 1, http, 5, http + 5);
	check_stranger("SSH banner to a client", 0, ssh, 5, ssh + 5);
	check_stranger("64 KiB record header", 1, huge, sizeof(huge), "TAIL");
	check_stranger("16 KiB+257 record", 1, big, sizeof(big), "TAIL");
}

static void test_psk(void)
{
	struct tcp_psp_conf a, b, cert;

	conf_psk(&a, 1);
	conf_psk(&b, 2);
	conf_cert(&cert, "a", "ca");
	check_ok("psk", &a, &a);
	check_fail("psk mismatch", &a, &b, TCP_HS_ERR_CRED, TCP_HS_ERR_CRED);
	check_fail("client without psk", &cert, &a, TCP_HS_ERR_CRED,
		   TCP_HS_ERR_CRED);
	check_fail("server without psk", &a, &cert, TCP_HS_ERR_CRED,
		   TCP_HS_ERR_CRED);
}

static void test_cert(void)
{
	struct tcp_psp_conf a, b, other, other_ca, expired, stranger;

	conf_cert(&a, "a", "ca");
	conf_cert(&b, "b", "ca");
	conf_cert(&other, "other", "ca2");
	conf_cert(&other_ca, "a", "ca2");
	conf_cert(&expired, "expired", "ca");
	conf_cert(&stranger, "other", "ca"); /* trusts our CA, not signed */
	check_ok("cert", &a, &b);
	/* the server rejects the client's certificate: the client's
	 * handshake is over by then, its ERR_CRED comes with the answer */
	check_fail("client cert of another CA", &stranger, &b, TCP_HS_ERR_CRED,
		   TCP_HS_ERR_CRED);
	check_fail("client of another CA", &other, &b, TCP_HS_ERR_CRED,
		   TCP_HS_ERR_CRED);
	check_fail("server cert of another CA", &a, &other, TCP_HS_ERR_CRED,
		   TCP_HS_ERR_CRED);
	check_fail("client trusts another CA", &other_ca, &b, TCP_HS_ERR_CRED,
		   TCP_HS_ERR_CRED);
	check_fail("client cert expired", &expired, &b, TCP_HS_ERR_CRED,
		   TCP_HS_ERR_CRED);
	check_fail("server cert expired", &a, &expired, TCP_HS_ERR_CRED,
		   TCP_HS_ERR_CRED);
}

/* Credentials that cannot make a context are refused up front. */
static void test_cred_init(void)
{
	struct tcp_psp_conf c;
	struct tcp_hs_cred cred;

	conf_cert(&c, "a", "ca");
	c.ca[0] = 0;
	CHECK(tcp_hs_cred_init(&cred, &c) == EINVAL);
	conf_cert(&c, "nonexistent", "ca");
	CHECK(tcp_hs_cred_init(&cred, &c) == EINVAL);
	conf_cert(&c, "a", "ca");
	snprintf(c.cert_key, sizeof(c.cert_key), "%s/b.key", certdir);
	CHECK(tcp_hs_cred_init(&cred, &c) == EINVAL);
	conf_psk(&c, 3);
	CHECK(tcp_hs_cred_init(&cred, &c) == 0);
	CHECK(cred.have_psk && cred.psk[0] == 3);
	tcp_hs_cred_free(&cred);
	CHECK(!cred.have_psk && cred.psk[0] == 0 && !cred.client);
}

/* The mean wall time of @n handshakes on loopback, both ends in this
 * thread (so each end's CPU time adds up): a figure for the report. */
static void time_handshakes(const char *name, const struct tcp_psp_conf *cc,
			    const struct tcp_psp_conf *sc, int n)
{
	uint64_t total = 0, best = UINT64_MAX, t;
	struct pair p;
	int ok = 0;

	for (int k = 0; k < n; k++) {
		if (pair_setup(&p, name, cc, sc)) {
			p.e[0].plan = p.e[1].plan = plan_hs;
			t = now_us();
			run_pair(p.e);
			t = now_us() - t;
			if (p.e[0].st == TCP_HS_OK && p.e[1].st == TCP_HS_OK) {
				ok++;
				total += t;
				best = t < best ? t : best;
			}
		}
		pair_close(&p);
	}
	CHECKF(ok == n, "%s: %d of %d handshakes", name, ok, n);
	if (ok)
		printf("handshake %s: mean %llu us, best %llu us (%d runs)\n",
		       name, (unsigned long long)(total / (unsigned)ok),
		       (unsigned long long)best, ok);
}

int main(int argc, char **argv)
{
	struct tcp_psp_conf psk, a, b;
	int n = getenv("TEST_HS_RUNS") ? atoi(getenv("TEST_HS_RUNS")) : 20;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CERTDIR (tests/lib/mkcerts.sh)\n",
			argv[0]);
		return 2;
	}
	certdir = argv[1];
	test_cred_init();
	test_psk();
	test_cert();
	test_closed();
	test_strangers();
	conf_psk(&psk, 7);
	conf_cert(&a, "a", "ca");
	conf_cert(&b, "b", "ca");
	time_handshakes("psk", &psk, &psk, n);
	time_handshakes("cert", &a, &b, n);
	return check_report();
}
