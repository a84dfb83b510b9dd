// SPDX-License-Identifier: MIT
/*
 * psp_attack: a third party without the device's key against a QP pair
 * (tests/tools/psp_peer.c) that is coming up (test_psp.sh). It knows what
 * anyone on the host can learn: the QPNs (listening ports are visible),
 * the target's rkey and address (given, to be generous).
 *
 *   psp_attack open DEV
 *       ibv_open_device as this user: "opened", or "open failed: errno N
 *       (text)"; exit 0 opened, 1 EACCES, 2 another error
 *   psp_attack plain ADDR TARGET_INFO PEER_INFO
 *       connects to the target QP's port (QPN >> 8) on ADDR, sends the
 *       plain hello the target waits for (src = the peer's QPN), a WRITE
 *       of 64 bytes of 0xa5 across the start of the target's region
 *       (into its canary) and a SEND of {"PSP1", 0}, the message the
 *       target's application waits for
 *   psp_attack race ADDR TARGET_INFO PEER_INFO SECS [GATE]
 *       the same, again and again (every 20 ms) for SECS seconds, while
 *       the real pair comes up. With GATE (a directory; the pair runs
 *       with psp_peer -G GATE) the attacker's hello is first: the
 *       acceptor may go to RTR once the first attempt's bytes are sent,
 *       the real peer once their fate is known
 *   psp_attack tls ADDR TARGET_INFO PEER_INFO SECS [GATE]
 *       TLS 1.3 handshakes with an external PSK that is not the device's
 *       (random; identity $PSP_ATTACK_ID, default "rdma-tcp"), each, if
 *       it completed, followed by an SA offer and the plain attack's
 *       frames, for SECS seconds; with GATE the pair comes up after the
 *       first
 *
 * The INFO files are psp_peer's ("QPN RKEY ADDR GID"), waited for up to
 * 30 s; of the two, the accepting end (the larger GID, QPN) is attacked. Prints one line per attempt: "refused" (connect failed),
 * "dropped after N bytes" (the victim closed the connection), "held"
 * (still open 5 s after the frames: the victim took them), TLS "tls
 * refused: REASON" or "tls COMPLETED"; then "attempts N dropped N
 * refused N held N tls_completed N". Exit 0; 2 on a usage or setup
 * error. The verdict is the victim's (psp_peer's canaries and counts).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "tcheck.h"
#include "tdev.h"
#include <rdma_tcp/wire.h>

struct info {
	uint32_t qpn, rkey;
	uint64_t addr;
	uint8_t gid[16];
};

struct target {
	const char *addr, *gate;
	struct info t, p;
	int attempts, dropped, refused, held, tls_done;
};

static int read_info(const char *path, struct info *i)
{
	unsigned long long a;
	uint64_t end = now_ms() + 30000;
	char gid[64];
	FILE *f;
	int n;

	while (!(f = fopen(path, "r"))) {
		if (now_ms() > end)
			return -1;
		sleep_ms(20);
	}
	n = fscanf(f, "%u %u %llu %63s", &i->qpn, &i->rkey, &a, gid);
	fclose(f);
	i->addr = a;
	return n == 4 && inet_pton(AF_INET6, gid, i->gid) == 1 ? 0 : -1;
}

static int tcp_connect(const char *addr, unsigned int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	struct timeval tv = { 5, 0 };
	int fd;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The end with the larger (GID, QPN) accepts the connection and the
 * hello (docs/design.md, "Connection rendezvous"): the attack aims at it.
 * False if that meant swapping target and peer.
 */
static bool acceptor_first(struct target *a)
{
	int c = memcmp(a->t.gid, a->p.gid, 16);
	struct info x;

	if (c > 0 || (!c && a->t.qpn > a->p.qpn))
		return true;
	x = a->t;
	a->t = a->p;
	a->p = x;
	return false;
}

/* hello (or nothing, @hello false), WRITE into the canary, SEND */
static size_t build_plain(const struct target *a, bool hello, uint8_t *o)
{
	struct rtcp_hello h = { .magic = RTCP_HELLO_MAGIC,
				.version = RTCP_VERSION,
				.src_qpn = a->p.qpn,
				.dst_qpn = a->t.qpn };
	struct rtcp_hdr w = { .opcode = RTCP_OP_WRITE, .hlen = RTCP_HDR_LEN };
	struct rtcp_hdr s = { .opcode = RTCP_OP_SEND, .hlen = RTCP_HDR_LEN };
	uint32_t msg[2] = { htonl(0x50535031u), 0 };
	size_t n = 0;

	if (hello) {
		rtcp_hello_encode(&h, o);
		n = RTCP_HELLO_LEN;
	}
	w.rkey = a->t.rkey;
	w.raddr = a->t.addr - 32;
	w.sseq = RTCP_HDR_LEN;
	w.len = 64;
	rtcp_hdr_encode(&w, o + n);
	memset(o + n + RTCP_HDR_LEN, 0xa5, 64);
	n += RTCP_HDR_LEN + 64;
	s.msn = 1;
	s.sseq = RTCP_HDR_LEN + 64 + RTCP_HDR_LEN;
	s.len = sizeof(msg);
	rtcp_hdr_encode(&s, o + n);
	memcpy(o + n + RTCP_HDR_LEN, msg, sizeof(msg));
	return n + RTCP_HDR_LEN + sizeof(msg);
}

/* After our bytes: did the victim close within 5 s? */
static void verdict(struct target *a, int fd, size_t sent)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint8_t junk[512];
	uint64_t end = now_ms() + 5000;

	while (now_ms() < end) {
		if (poll(&p, 1, 100) != 1)
			continue;
		if (read(fd, junk, sizeof(junk)) <= 0) {
			if (a->attempts <= 3) /* a race's first few only */
				printf("dropped after %zu bytes\n", sent);
			a->dropped++;
			return;
		}
	}
	printf("held: still open 5 s after %zu bytes\n", sent);
	a->held++;
}

/* Lets the end with @qpn of the victim pair go to RTR (psp_peer -G). */
static void open_gate(const struct target *a, uint32_t qpn)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u", a->gate, qpn);
	f = fopen(path, "w");
	if (f)
		fclose(f);
	else
		perror(path);
}

static void plain_attempt(struct target *a)
{
	uint8_t buf[512];
	size_t n = build_plain(a, true, buf);
	ssize_t w;
	int fd;

	a->attempts++;
	fd = tcp_connect(a->addr, a->t.qpn >> 8);
	if (fd < 0) {
		if (a->attempts <= 3)
			printf("refused: %s\n", strerror(errno));
		a->refused++;
		return;
	}
	w = send(fd, buf, n, MSG_NOSIGNAL);
	/* the first attempt: our hello is the first the acceptor has */
	if (a->gate && a->attempts == 1)
		open_gate(a, a->t.qpn);
	verdict(a, fd, w > 0 ? (size_t)w : 0);
	/* the real peer may come now */
	if (a->gate && a->attempts == 1)
		open_gate(a, a->p.qpn);
	close(fd);
}

static uint8_t wrong_psk[32];
static const char *psk_id = "rdma-tcp";

/* TLS 1.3 external PSK (as s_client -psk does): TLS_AES_128_GCM_SHA256 */
static int use_psk(SSL *s, const EVP_MD *md, const unsigned char **id,
		   size_t *idlen, SSL_SESSION **sess)
{
	static const unsigned char aes128[] = { 0x13, 0x01 };
	const SSL_CIPHER *c = SSL_CIPHER_find(s, aes128);
	SSL_SESSION *ss;

	*sess = NULL;
	if (!c || (md && md != SSL_CIPHER_get_handshake_digest(c)))
		return 1;
	ss = SSL_SESSION_new();
	if (!ss || !SSL_SESSION_set1_master_key(ss, wrong_psk, 32) ||
	    !SSL_SESSION_set_cipher(ss, c) ||
	    !SSL_SESSION_set_protocol_version(ss, TLS1_3_VERSION)) {
		SSL_SESSION_free(ss);
		return 0;
	}
	*sess = ss;
	*id = (const unsigned char *)psk_id;
	*idlen = strlen(psk_id);
	return 1;
}

/* After a completed handshake (a failure of the victim): SA offer, then
 * the frames, as a peer with a real key would */
static void after_tls(struct target *a, SSL *ssl, int fd)
{
	struct rtcp_sa_msg m = { .magic = RTCP_SA_MAGIC,
				 .version = RTCP_VERSION,
				 .kind = RTCP_SA_OFFER,
				 .mode = 1,
				 .src_qpn = a->p.qpn,
				 .dst_qpn = a->t.qpn,
				 .spi = 0x1234 };
	uint8_t o[RTCP_SA_MSG_LEN], buf[512];
	size_t n = build_plain(a, false, buf);

	rtcp_sa_encode(&m, o);
	if (SSL_write(ssl, o, sizeof(o)) <= 0)
		return;
	if (send(fd, buf, n, MSG_NOSIGNAL) < 0)
		return;
	verdict(a, fd, n);
}

static void tls_attempt(struct target *a)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	int fd, r;

	a->attempts++;
	RAND_bytes(wrong_psk, sizeof(wrong_psk));
	fd = tcp_connect(a->addr, a->t.qpn >> 8);
	if (!c || fd < 0) {
		printf("refused: %s\n", strerror(errno));
		a->refused++;
		goto out;
	}
	SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
	SSL_CTX_set_psk_use_session_callback(c, use_psk);
	ssl = SSL_new(c);
	SSL_set_fd(ssl, fd);
	r = SSL_connect(ssl);
	/* the first attempt is over: the pair may come up (psp_peer -G) */
	if (a->gate && a->attempts == 1) {
		open_gate(a, a->t.qpn);
		open_gate(a, a->p.qpn);
	}
	if (r == 1) {
		puts("tls COMPLETED with a key that is not the device's");
		a->tls_done++;
		after_tls(a, ssl, fd);
	} else {
		if (a->attempts <= 3)
			printf("tls refused: %s\n",
			       ERR_reason_error_string(ERR_get_error())
				       ?: "closed");
		ERR_clear_error();
		a->dropped++;
	}
out:
	SSL_free(ssl);
	SSL_CTX_free(c);
	if (fd >= 0)
		close(fd);
}

/* @attempt again and again (every 20 ms) for @secs seconds */
static void race(struct target *a, int secs, void (*attempt)(struct target *))
{
	uint64_t end = now_ms() + (uint64_t)secs * 1000;

	while (now_ms() < end) {
		attempt(a);
		sleep_ms(20); /* load shaping: an attempt every 20 ms */
	}
}

static int open_mode(const char *dev)
{
	struct ibv_context *c = open_dev(dev);
	int e = errno;

	if (c) {
		puts("opened");
		ibv_close_device(c);
		return 0;
	}
	printf("open failed: errno %d (%s)\n", e, strerror(e));
	return e == EACCES ? 1 : 2;
}

int main(int argc, char **argv)
{
	struct target a = { 0 };

	/* a victim that hangs up on our TLS writes is the expected outcome,
	 * not a reason to die of SIGPIPE (OpenSSL's socket BIO sends without
	 * MSG_NOSIGNAL) */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "open"))
		return open_mode(argv[2]);
	if (argc < 5) {
		fprintf(stderr, "usage: psp_attack open DEV | plain|race|tls "
				"ADDR TARGET_INFO PEER_INFO [SECS [GATE]]\n");
		return 2;
	}
	a.gate = argc >= 7 ? argv[6] : NULL;
	a.addr = argv[2];
	if (read_info(argv[3], &a.t) || read_info(argv[4], &a.p)) {
		fprintf(stderr, "psp_attack: no info files\n");
		return 2;
	}
	if (!acceptor_first(&a))
		puts("the peer accepts (its GID, QPN is the larger): target "
		     "and peer swapped");
	if (getenv("PSP_ATTACK_ID"))
		psk_id = getenv("PSP_ATTACK_ID");
	if (!strcmp(argv[1], "plain"))
		plain_attempt(&a);
	else if (!strcmp(argv[1], "race") && argc >= 6)
		race(&a, atoi(argv[5]), plain_attempt);
	else if (!strcmp(argv[1], "tls") && argc >= 6)
		race(&a, atoi(argv[5]), tls_attempt);
	else
		return 2;
	printf("attempts %d dropped %d refused %d held %d tls_completed %d\n",
	       a.attempts, a.dropped, a.refused, a.held, a.tls_done);
	return 0;
}
