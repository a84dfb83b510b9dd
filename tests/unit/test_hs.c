// SPDX-License-Identifier: MIT
/*
 * The TLS 1.3 key exchange (providers/tcp/hs.c) between two ends of a real
 * TCP loopback connection, both driven from this thread by a poll loop:
 * PSK and certificates that match, credentials that do not (every failure
 * must be ERR_CRED on both ends, before a deadline), a peer that closes or
 * resets, a stranger's bytes, a record too large to read, and a stock
 * client (`openssl s_client`) against our server. After a successful
 * exchange each end writes raw bytes behind its TLS record and
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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "hs_pair.h"

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

static void check_ok_buf(const char *name, const struct tcp_psp_conf *cc,
			 const struct tcp_psp_conf *sc, bool small)
{
	uint8_t key[2][32], zero[32] = { 0 };
	struct pair p;
	bool ok = pair_open_buf(&p, cc, sc, small);

	CHECKF(ok, "%s: setup failed", name);
	if (ok) {
		CHECKF(run_pair(p.e), "%s: deadline", name);
		for (int i = 0; i < 2; i++)
			CHECKF(p.e[i].st == TCP_HS_OK &&
				       p.e[i].plan[p.e[i].at] == ST_DONE,
			       "%s: end %d: status %d: %s", name, i, p.e[i].st,
			       end_reason(&p.e[i]));
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
		/* the server's flight did not fit: tcp_hs_step waited for
		 * room to write */
		CHECKF(!small || p.e[1].want_writes,
		       "%s: the server never waited to write", name);
		printf("%s: WANT_WRITE %u (client), %u (server)\n", name,
		       p.e[0].want_writes, p.e[1].want_writes);
	}
	pair_close(&p);
}

static void check_ok(const char *name, const struct tcp_psp_conf *cc,
		     const struct tcp_psp_conf *sc)
{
	check_ok_buf(name, cc, sc, false);
}

/* Both ends fail, each with the reason it should give. */
static void check_fail_once(const char *name, const struct tcp_psp_conf *cc,
			    const struct tcp_psp_conf *sc,
			    enum tcp_hs_err want_c, enum tcp_hs_err want_s,
			    bool close_on_fail)
{
	enum tcp_hs_err want[2] = { want_c, want_s };
	struct pair p;

	if (pair_setup(&p, name, cc, sc)) {
		p.e[0].close_on_fail = p.e[1].close_on_fail = close_on_fail;
		CHECKF(run_pair(p.e), "%s: deadline", name);
		for (int i = 0; i < 2; i++) {
			CHECKF(p.e[i].st == TCP_HS_FAIL &&
				       tcp_hs_reason(p.e[i].hs) == want[i],
			       "%s: end %d: status %d, reason %d (%s), want %s",
			       name, i, p.e[i].st, tcp_hs_reason(p.e[i].hs),
			       end_reason(&p.e[i]), tcp_hs_strerror(want[i]));
			printf("%s%s: end %d: %s\n", name,
			       close_on_fail ? " (close on fail)" : "", i,
			       end_reason(&p.e[i]));
		}
	}
	pair_close(&p);
}

/* Both with the sockets open until both ends are done, and with each end
 * closing its socket as soon as it fails: the reason still gets across. */
static void check_fail(const char *name, const struct tcp_psp_conf *cc,
		       const struct tcp_psp_conf *sc, enum tcp_hs_err want_c,
		       enum tcp_hs_err want_s)
{
	check_fail_once(name, cc, sc, want_c, want_s, false);
	check_fail_once(name, cc, sc, want_c, want_s, true);
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
	       tcp_hs_reason(p->e[i].hs), end_reason(&p->e[i]));
	printf("%s: %s\n", name, end_reason(&p->e[i]));
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
	uint64_t deadline = now_us() + DEADLINE_MS * 1000ull;
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
		/* fails on what arrived, without waiting for more */
		do {
			poll(&pfd, 1, DEADLINE_MS);
			st = tcp_hs_step(p.e[i].hs);
		} while (st == TCP_HS_WANT_READ && now_us() < deadline);
		CHECKF(st == TCP_HS_FAIL &&
			       tcp_hs_reason(p.e[i].hs) == TCP_HS_ERR_PROTO,
		       "%s: status %d reason %d (%s)", name, st,
		       tcp_hs_reason(p.e[i].hs), end_reason(&p.e[i]));
		printf("%s: %s\n", name, end_reason(&p.e[i]));
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
	/* a well-formed record holding a ClientHello cut to 4 bytes */
	static const uint8_t bad_hello[] = { 0x16, 3, 1, 0, 8, 1, 0,
					     0,	   4, 1, 2, 3, 4 };

	/* all but the header's 5 bytes stay unread: the HTTP request's rest
	 * counts as the tail */
	check_stranger("HTTP request", 1, http, 5, http + 5);
	check_stranger("SSH banner to a client", 0, ssh, 5, ssh + 5);
	check_stranger("64 KiB record header", 1, huge, sizeof(huge), "TAIL");
	check_stranger("16 KiB+257 record", 1, big, sizeof(big), "TAIL");
	check_stranger("malformed ClientHello", 1, bad_hello, sizeof(bad_hello),
		       "TAIL");
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

/*
 * The server rejects the client's certificate after the client's
 * handshake is over, and closes at once with the client's records unread:
 * a reset. A client that only then sends its message still learns why
 * (the alert was queued before the reset), not just "connection reset".
 */
static void test_reset_after_alert(const struct tcp_psp_conf *cc,
				   const struct tcp_psp_conf *sc)
{
	struct pollfd pfd = { .events = 0 }; /* POLLERR comes anyway */
	uint8_t msg[MSG_LEN] = { 0 };
	enum tcp_hs_status st;
	struct pair p;

	if (pair_setup(&p, "send after reset", cc, sc)) {
		p.e[0].plan = plan_hs;
		p.e[1].close_on_fail = true;
		CHECK(run_pair(p.e));
		CHECK(p.e[0].st == TCP_HS_OK && p.e[1].st == TCP_HS_FAIL);
		/* wait for the reset itself, not just the alert's bytes */
		pfd.fd = p.fds[0];
		poll(&pfd, 1, DEADLINE_MS);
		CHECKF(pfd.revents & POLLERR, "no reset seen");
		st = tcp_hs_send(p.e[0].hs, msg, MSG_LEN);
		CHECKF(st == TCP_HS_FAIL &&
			       tcp_hs_reason(p.e[0].hs) == TCP_HS_ERR_CRED,
		       "status %d reason %d (%s)", st, tcp_hs_reason(p.e[0].hs),
		       end_reason(&p.e[0]));
		printf("send after reset: %s\n", end_reason(&p.e[0]));
	}
	pair_close(&p);
}

static void test_cert(void)
{
	struct tcp_psp_conf a, b, other, other_ca, expired, stranger, big;

	conf_cert(&a, "a", "ca");
	conf_cert(&b, "b", "ca");
	conf_cert(&other, "other", "ca2");
	conf_cert(&other_ca, "a", "ca2");
	conf_cert(&expired, "expired", "ca");
	conf_cert(&stranger, "other", "ca"); /* trusts our CA, not signed */
	check_ok("cert", &a, &b);
	conf_cert(&big, "big", "ca");
	check_ok_buf("cert chain > socket buffer", &a, &big, true);
	/* the server rejects the client's certificate: the client's
	 * handshake is over by then, its ERR_CRED comes with the answer */
	check_fail("client cert of another CA", &stranger, &b, TCP_HS_ERR_CRED,
		   TCP_HS_ERR_CRED);
	test_reset_after_alert(&stranger, &b);
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

/* `openssl s_client ARGS -connect 127.0.0.1:@port` on its own; its pid. */
static pid_t s_client(int port, const char *const *args)
{
	const char *argv[24] = { "openssl", "s_client", "-tls1_3", "-quiet" };
	char addr[32];
	int n = 4, null;
	pid_t pid;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	while (*args && n < 20)
		argv[n++] = *args++;
	argv[n++] = "-connect";
	argv[n++] = addr;
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Our server's handshake with whoever connects to @l; its status. */
static enum tcp_hs_status serve_one(int l, struct tcp_hs_cred *cred,
				    const char *name, enum tcp_hs_err *why)
{
	uint64_t deadline = now_us() + DEADLINE_MS * 1000ull;
	enum tcp_hs_status st = TCP_HS_FAIL;
	struct pollfd pfd = { .fd = l, .events = POLLIN };
	struct tcp_hs *hs;
	int fd;

	*why = TCP_HS_ERR_NONE;
	if (poll(&pfd, 1, DEADLINE_MS) != 1)
		return st;
	fd = accept(l, NULL, NULL);
	set_nonblock(fd);
	hs = tcp_hs_new(cred, TCP_HS_SERVER, fd);
	pfd.fd = fd;
	do {
		st = tcp_hs_step(hs);
		pfd.events = st == TCP_HS_WANT_WRITE ? POLLOUT : POLLIN;
		if (st == TCP_HS_WANT_READ || st == TCP_HS_WANT_WRITE)
			poll(&pfd, 1, 100);
	} while ((st == TCP_HS_WANT_READ || st == TCP_HS_WANT_WRITE) &&
		 now_us() < deadline);
	*why = tcp_hs_reason(hs);
	printf("%s: %s\n", name, *tcp_hs_detail(hs) ? tcp_hs_detail(hs) : "ok");
	tcp_hs_free(hs);
	close(fd);
	return st;
}

/*
 * A stock TLS 1.3 client, `openssl s_client`, against our server (PSK as
 * RFC 8446 external PSK, certificates): the construction is standard,
 * and a client with middlebox-compatibility records is served too.
 */
static void check_s_client(const char *name, const struct tcp_psp_conf *sc,
			   const char *const *args, enum tcp_hs_err want)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	struct tcp_hs_cred cred;
	enum tcp_hs_status st;
	enum tcp_hs_err why;
	pid_t pid;
	int l;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (tcp_hs_cred_init(&cred, sc) || l < 0 ||
	    bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen)) {
		CHECKF(0, "%s: setup", name);
		return;
	}
	pid = s_client(ntohs(a.sin_port), args);
	st = serve_one(l, &cred, name, &why);
	CHECKF(want ? st == TCP_HS_FAIL && why == want : st == TCP_HS_OK,
	       "%s: status %d reason %d", name, st, why);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	close(l);
	tcp_hs_cred_free(&cred);
}

static void test_s_client(void)
{
	char psk_hex[2 * TCP_PSP_PSK_LEN + 1], cert[PATH_MAX + 8],
		key[PATH_MAX + 8], ca[PATH_MAX + 8];
	const char *psk_args[] = { "-psk_identity", "rdma-tcp psk v1", "-psk",
				   psk_hex, NULL };
	const char *cert_args[] = { "-cert",   cert, "-key", key,
				    "-CAfile", ca,   NULL };
	const char *none[] = { NULL };
	struct tcp_psp_conf psk, b;

	conf_psk(&psk, 5);
	for (int i = 0; i < TCP_PSP_PSK_LEN; i++)
		sprintf(psk_hex + 2 * i, "%02x", psk.psk[i]);
	conf_cert(&b, "b", "ca");
	snprintf(cert, sizeof(cert), "%s/a.pem", certdir);
	snprintf(key, sizeof(key), "%s/a.key", certdir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", certdir);
	check_s_client("s_client psk", &psk, psk_args, TCP_HS_ERR_NONE);
	check_s_client("s_client cert", &b, cert_args, TCP_HS_ERR_NONE);
	check_s_client("s_client without psk", &psk, none, TCP_HS_ERR_CRED);
	check_s_client("s_client without cert", &b, none, TCP_HS_ERR_CRED);
	psk_hex[0] = psk_hex[0] == '0' ? '1' : '0';
	check_s_client("s_client wrong psk", &psk, psk_args, TCP_HS_ERR_CRED);
}

/* Messages out of turn or of the wrong size fail cleanly. */
static void test_messages(void)
{
	struct pollfd pfd = { .events = POLLIN };
	uint8_t msg[MSG_LEN] = { 0 }, in[40];
	enum tcp_hs_status st = TCP_HS_WANT_READ;
	struct tcp_psp_conf c;
	struct pair p;

	conf_psk(&c, 4);
	if (pair_setup(&p, "messages", &c, &c)) {
		CHECK(tcp_hs_send(p.e[0].hs, msg, MSG_LEN) == TCP_HS_FAIL);
		CHECK(tcp_hs_reason(p.e[0].hs) == TCP_HS_ERR_PROTO);
	}
	pair_close(&p);
	if (pair_setup(&p, "messages", &c, &c)) {
		p.e[0].plan = p.e[1].plan = plan_hs;
		CHECK(run_pair(p.e) && p.e[0].st == TCP_HS_OK &&
		      p.e[1].st == TCP_HS_OK);
		/* 72 bytes sent, 40 expected */
		CHECK(tcp_hs_send(p.e[0].hs, msg, MSG_LEN) == TCP_HS_OK);
		pfd.fd = p.fds[1];
		for (int k = 0; k < 100 && st == TCP_HS_WANT_READ; k++) {
			poll(&pfd, 1, DEADLINE_MS / 100);
			st = tcp_hs_recv(p.e[1].hs, in, sizeof(in));
		}
		CHECKF(st == TCP_HS_FAIL &&
			       tcp_hs_reason(p.e[1].hs) == TCP_HS_ERR_PROTO,
		       "status %d: %s", st, end_reason(&p.e[1]));
		printf("wrong length: %s\n", end_reason(&p.e[1]));
		CHECK(tcp_hs_send(p.e[0].hs, msg, 513) == TCP_HS_FAIL);
	}
	pair_close(&p);
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
	test_messages();
	test_psk();
	test_cert();
	test_closed();
	test_strangers();
	test_s_client();
	conf_psk(&psk, 7);
	conf_cert(&a, "a", "ca");
	conf_cert(&b, "b", "ca");
	time_handshakes("psk", &psk, &psk, n);
	time_handshakes("cert", &a, &b, n);
	return check_report();
}
