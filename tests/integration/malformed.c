// SPDX-License-Identifier: MIT
/*
 * A hostile peer against a real tcp-device QP, in one process.
 *
 *   malformed [DEVICE]        (default: $RDMA_TCP_DEV, else tcp0)
 *
 * The QP under test is an RC QP of the device, moved to RTS with
 * dest_qp_num 1 and dgid = its own GID 0. Same GID and the smaller QPN
 * make the other end the connecting side, so this program plays that end
 * with a plain TCP socket: it connects to the QP's listener port
 * (qp_num >> 8) on GID 0's address, sends a hello naming both QPNs, and
 * then writes frames of its own making (include/rdma_tcp/wire.h) - well
 * formed, or not.
 *
 * Memory: one 64 KiB window registered (remote write, read, atomic) in
 * the middle of a larger buffer whose every byte holds a known pattern,
 * plus small regions for under-privileged, deregistered and foreign-PD
 * keys. A shadow copy says what every byte must hold; after every case
 * each byte is compared, canaries included.
 *
 * Each case gets a fresh QP and connection. A positive control first
 * proves that the scaffolding is right (a WRITE lands and is acked, READ
 * and atomics answer). Then each malformed input must:
 *   - move the QP to IBV_QPS_ERR within 3 s (ibv_query_qp);
 *   - deliver one async event for that QP, of an allowed type;
 *   - where the frame was a placeable request refused by the responder's
 *     checks, answer with a TERMINATE frame carrying the request's msn and
 *     the right syndrome (REM_ACCESS, REM_INV_REQ, RNR);
 *   - never answer with data (READ_RESP / ATOMIC_RESP);
 *   - close the connection (the peer reads EOF) within 3 s;
 *   - leave every byte outside accepted writes unchanged;
 *   - and every frame the QP sends back must itself be well formed.
 * A peer that acks the QP's WRITE and closes in the same segment must
 * leave the WRITE completed with success. A large WRITE whose payload
 * arrives in pieces must land whole, and the bare header after it must be
 * read and acked (the engine's receive low mark, SO_RCVLOWAT, never waits
 * for more than a frame owes). Requester-side cases have the
 * QP post an RDMA READ and answer it badly (too long, too short, wrong
 * msn, wrong opcode): the READ completes in error and nothing lands.
 * Hello cases: bad magic, wrong source QPN, unused slot, truncated hello
 * are turned away without harming the QP;
 * a second connection to a connected QP must not take it over, nor be
 * adopted later by a new QP that reuses the QPN.
 * The process must not crash or hang (a watchdog ends a hung run).
 *
 * Prints one line per check, "ok - ..." or "FAIL - ...", then
 * "N passed, N failed"; exit 1 on any failure, 2 on a setup error.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma_tcp/wire.h>

#include "tcheck.h"

#define WIN	    (64 * 1024)	  /* the registered window */
#define PAD	    4096	  /* canary bytes on each side */
#define SMALL	    4096	  /* the extra regions */
#define BIG	    (1024 * 1024) /* for a WRITE that arrives in pieces */
#define FAKE_QPN    1u /* the hostile peer's QPN: smaller than any real one */
#define DEADLINE_MS 3000
#define MAX_MSG	    (1u << 31) /* the provider's max_msg_sz */
#define WATCHDOG_S  240

/* ------------------------------------------------------- socket probes */

/* A connection's two addresses, as the test's end of it sees them. */
struct conn_ends {
	struct sockaddr_storage self, peer;
	socklen_t self_len, peer_len;
};

static bool conn_ends_of(int fd, struct conn_ends *e)
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
static bool wait_provider_read(int fd, int left)
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
static bool wait_provider_closed(const struct conn_ends *e)
{
	uint64_t t0 = now_ms();
	bool done;

	while (!(done = provider_end(e) < 0) && now_ms() - t0 < DEADLINE_MS)
		sleep_ms(1);
	return done;
}

/* ------------------------------------------------------------ memory */

struct region {
	const char *name;
	uint8_t *mem;	 /* whole allocation: PAD + len + PAD */
	uint8_t *shadow; /* what each byte must hold */
	size_t len;	 /* registered part, at mem + PAD */
	struct ibv_mr *mr;
};

enum { R_WIN, R_RO, R_STALE, R_FOREIGN, R_BIG, NREG };
static struct region reg[NREG];
static uint32_t stale_rkey;

static uint8_t pattern(int r, size_t i)
{
	return (uint8_t)(i * 131 + (i >> 9) * 7 + 17 + r * 61);
}

static int region_alloc(int r, const char *name, size_t len)
{
	size_t i, tot = PAD + len + PAD;

	reg[r].name = name;
	reg[r].len = len;
	if (posix_memalign((void **)&reg[r].mem, 4096, tot))
		return -1;
	reg[r].shadow = malloc(tot);
	if (!reg[r].shadow)
		return -1;
	for (i = 0; i < tot; i++)
		reg[r].mem[i] = reg[r].shadow[i] = pattern(r, i);
	return 0;
}

static uint8_t *win(void)
{
	return reg[R_WIN].mem + PAD;
}

static uint64_t win_addr(size_t off)
{
	return (uint64_t)(uintptr_t)(win() + off);
}

/*
 * Bytes of region r at [lo, hi) (offsets from the registered start) may
 * hold either their old value or alt[] (a write that was accepted and then
 * cut short); the shadow takes whatever is there.
 */
struct alt_range {
	int r;
	size_t lo, hi;
	const uint8_t *alt;
};

/* Every byte of every region as the shadow says. */
static void check_memory(const struct alt_range *alt)
{
	int r;

	for (r = 0; r < NREG; r++) {
		size_t i, tot = PAD + reg[r].len + PAD, bad = 0, first = 0;

		if (!reg[r].mem)
			continue;
		for (i = 0; i < tot; i++) {
			uint8_t m = reg[r].mem[i];

			if (alt && alt->r == r && i >= PAD + alt->lo &&
			    i < PAD + alt->hi &&
			    m == alt->alt[i - PAD - alt->lo]) {
				reg[r].shadow[i] = m;
				continue;
			}
			if (m != reg[r].shadow[i]) {
				if (!bad++)
					first = i;
			}
		}
		if (!bad) {
			ok("%s: all %zu bytes as expected (canaries intact)",
			   reg[r].name, tot);
		} else {
			long off = (long)first - PAD;

			fail("%s: %zu bytes changed", reg[r].name, bad);
			note("first at registered offset %ld (%s), 0x%02x, "
			     "expected 0x%02x",
			     off,
			     off < 0			 ? "canary below"
			     : (size_t)off >= reg[r].len ? "canary above"
							 : "inside the region",
			     reg[r].mem[first], reg[r].shadow[first]);
			/* resync so the next case reports only its own */
			memcpy(reg[r].shadow, reg[r].mem, tot);
		}
	}
}

/* ------------------------------------------------------------ verbs */

static struct ibv_context *ctx;
static struct ibv_pd *pd, *pd2;
static struct ibv_cq *cq;
static union ibv_gid gid0;

static const char *state_str(enum ibv_qp_state s)
{
	static const char *n[] = { "RESET", "INIT", "RTR", "RTS",
				   "SQD",   "SQE",  "ERR" };

	return (unsigned)s < 7 ? n[s] : "?";
}

static struct ibv_qp *make_qp(void)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = cq,
		.recv_cq = cq,
		.cap = { .max_send_wr = 16,
			 .max_recv_wr = 16,
			 .max_send_sge = 1,
			 .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
	};
	struct ibv_qp_attr a;
	struct ibv_qp *qp = ibv_create_qp(pd, &ia);

	if (!qp) {
		fail("ibv_create_qp: %s", strerror(errno));
		return NULL;
	}
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.pkey_index = 0;
	a.port_num = 1;
	a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;
	if ((errno = ibv_modify_qp(qp, &a,
				   IBV_QP_STATE | IBV_QP_PKEY_INDEX |
					   IBV_QP_PORT |
					   IBV_QP_ACCESS_FLAGS))) {
		fail("modify to INIT: %s", strerror(errno));
		goto err;
	}
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = FAKE_QPN;
	a.rq_psn = 0;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = gid0;
	a.ah_attr.grh.sgid_index = 0;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = 1;
	if ((errno = ibv_modify_qp(qp, &a,
				   IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
					   IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
					   IBV_QP_MAX_DEST_RD_ATOMIC |
					   IBV_QP_MIN_RNR_TIMER))) {
		fail("modify to RTR: %s", strerror(errno));
		goto err;
	}
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.sq_psn = 0;
	a.max_rd_atomic = 1;
	if ((errno = ibv_modify_qp(qp, &a,
				   IBV_QP_STATE | IBV_QP_TIMEOUT |
					   IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
					   IBV_QP_SQ_PSN |
					   IBV_QP_MAX_QP_RD_ATOMIC))) {
		fail("modify to RTS: %s", strerror(errno));
		goto err;
	}
	if (qp->qp_num <= FAKE_QPN) {
		fail("QPN 0x%x not above the fake peer's %u", qp->qp_num,
		     FAKE_QPN);
		goto err;
	}
	return qp;
err:
	ibv_destroy_qp(qp);
	return NULL;
}

static enum ibv_qp_state qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr ia;

	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &ia))
		return (enum ibv_qp_state) - 1;
	return a.qp_state;
}

/* Waits up to DEADLINE_MS for the QP to reach ERR; returns ms taken or -1. */
static long wait_err(struct ibv_qp *qp)
{
	uint64_t t0 = now_ms();

	for (;;) {
		if (qp_state(qp) == IBV_QPS_ERR)
			return (long)(now_ms() - t0);
		if (now_ms() - t0 > DEADLINE_MS)
			return -1;
		sleep_ms(5);
	}
}

#define EV(t) (1u << (t))

static const char *ev_name(enum ibv_event_type t)
{
	switch (t) {
	case IBV_EVENT_QP_FATAL:
		return "IBV_EVENT_QP_FATAL";
	case IBV_EVENT_QP_REQ_ERR:
		return "IBV_EVENT_QP_REQ_ERR";
	case IBV_EVENT_QP_ACCESS_ERR:
		return "IBV_EVENT_QP_ACCESS_ERR";
	case IBV_EVENT_COMM_EST:
		return "IBV_EVENT_COMM_EST";
	case IBV_EVENT_QP_LAST_WQE_REACHED:
		return "IBV_EVENT_QP_LAST_WQE_REACHED";
	default:
		return ibv_event_type_str(t);
	}
}

/*
 * One async event for qp within the deadline, of a type in `allowed`; any
 * further event for it within 200 ms is a duplicate. Events naming another
 * QP (one already destroyed) are reported and not acked: acking would
 * touch freed memory in libibverbs.
 */
static void check_async(struct ibv_qp *qp, unsigned int allowed)
{
	struct pollfd p = { .fd = ctx->async_fd, .events = POLLIN };
	uint64_t t0 = now_ms();
	int got = 0;

	for (;;) {
		struct ibv_async_event ev;
		long left = got ? 200 : DEADLINE_MS - (long)(now_ms() - t0);
		int n;

		if (left < 0)
			left = 0;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (ibv_get_async_event(ctx, &ev)) {
			fail("ibv_get_async_event: %s", strerror(errno));
			return;
		}
		if (ev.event_type != IBV_EVENT_QP_FATAL &&
		    ev.event_type != IBV_EVENT_QP_REQ_ERR &&
		    ev.event_type != IBV_EVENT_QP_ACCESS_ERR &&
		    ev.event_type != IBV_EVENT_COMM_EST &&
		    ev.event_type != IBV_EVENT_QP_LAST_WQE_REACHED &&
		    ev.event_type != IBV_EVENT_SQ_DRAINED &&
		    ev.event_type != IBV_EVENT_PATH_MIG &&
		    ev.event_type != IBV_EVENT_PATH_MIG_ERR) {
			/* not a QP event: element is not a QP */
			note("unrelated async event %s",
			     ev_name(ev.event_type));
			ibv_ack_async_event(&ev);
			continue;
		}
		if (ev.element.qp != qp) {
			fail("async event %s for a QP that no longer exists "
			     "(not acked)",
			     ev_name(ev.event_type));
			continue;
		}
		if (ev.event_type == IBV_EVENT_COMM_EST) {
			ibv_ack_async_event(&ev);
			continue;
		}
		if (got++) {
			fail("second async event %s for the QP",
			     ev_name(ev.event_type));
		} else if (allowed & EV(ev.event_type)) {
			ok("async event %s delivered after %lu ms",
			   ev_name(ev.event_type),
			   (unsigned long)(now_ms() - t0));
		} else {
			fail("async event %s is not an expected one",
			     ev_name(ev.event_type));
		}
		ibv_ack_async_event(&ev);
	}
	if (!got)
		fail("async event delivered within %d ms", DEADLINE_MS);
}

/* No async event pending at all (for cases that must not fail). */
static void check_no_async(void)
{
	struct pollfd p = { .fd = ctx->async_fd, .events = POLLIN };

	if (poll(&p, 1, 0) > 0) {
		struct ibv_async_event ev;

		if (!ibv_get_async_event(ctx, &ev)) {
			fail("unexpected async event %s",
			     ev_name(ev.event_type));
			/* only ack events that cannot name a dead QP */
		}
	} else {
		ok("no async event");
	}
}

static int drain_cq(struct ibv_wc *out, int max)
{
	struct ibv_wc wc[16];
	int n, total = 0, i;

	while ((n = ibv_poll_cq(cq, 16, wc)) > 0)
		for (i = 0; i < n; i++, total++)
			if (out && total < max)
				out[total] = wc[i];
	return total;
}

/* ------------------------------------------------------------ the peer */

struct peer {
	int fd;
	uint64_t tx_seq; /* bytes sent after the hello */
	uint64_t rx_seq; /* bytes of frames received */
	uint8_t *rbuf;
	size_t rlen;
	uint32_t max_ack; /* highest ack_msn seen */
	int n_data_resp;  /* READ_RESP / ATOMIC_RESP seen */
	int n_term;
	struct rtcp_hdr term; /* the last TERMINATE */
	bool bad;	      /* the QP sent a malformed frame */
	bool eof;
};

#define RBUF_CAP (WIN + 2 * RTCP_HDR_LEN)

static socklen_t gid_sockaddr(uint16_t port, struct sockaddr_storage *ss)
{
	static const uint8_t v4pfx[12] = { 0, 0, 0, 0, 0,    0,
					   0, 0, 0, 0, 0xff, 0xff };

	memset(ss, 0, sizeof(*ss));
	if (!memcmp(gid0.raw, v4pfx, 12)) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		memcpy(&s->sin_addr, gid0.raw + 12, 4);
		return sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		memcpy(&s->sin6_addr, gid0.raw, 16);
		return sizeof(*s);
	}
}

static int send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/*
 * Connects to the QP's listener and sends a hello. src/dst: the QPNs the
 * hello names; magic_ok false spoils the magic.
 */
static int peer_open_raw(struct peer *p, uint32_t qpn, uint32_t src,
			 uint32_t dst, bool magic_ok)
{
	struct sockaddr_storage ss;
	socklen_t sl = gid_sockaddr((uint16_t)(qpn >> 8), &ss);
	struct rtcp_hello h = { .src_qpn = src, .dst_qpn = dst };
	uint8_t hb[RTCP_HELLO_LEN];
	int one = 1;

	memset(p, 0, sizeof(*p));
	p->rbuf = malloc(RBUF_CAP);
	if (!p->rbuf)
		return -1;
	p->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return -1;
	setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(p->fd, (struct sockaddr *)&ss, sl))
		return -1; /* callers report it: sometimes it is expected */
	memcpy(h.src_gid, gid0.raw, 16);
	rtcp_hello_encode(&h, hb);
	if (!magic_ok)
		hb[RTCP_HELLO_OFF_MAGIC] ^= 0xff;
	return send_all(p->fd, hb, sizeof(hb)) ? -1 : 0;
}

static void peer_close(struct peer *p)
{
	if (p->fd > 0)
		close(p->fd);
	p->fd = -1;
	free(p->rbuf);
	p->rbuf = NULL;
}

enum { RECV_FRAME = 1, RECV_EOF = 0, RECV_TIMEOUT = -1, RECV_ERR = -2 };

/*
 * Reads one frame the QP sent, checking it: the header must validate
 * against our count of its stream. Returns RECV_*.
 */
static int peer_recv(struct peer *p, struct rtcp_hdr *h, int timeout_ms)
{
	uint64_t t0 = now_ms();
	size_t need = RTCP_HDR_LEN;
	bool have_hdr = false;

	if (p->bad)
		p->rlen = 0; /* out of sync: only the end matters now */
	for (;;) {
		if (p->bad)
			p->rlen = 0;
		else if (p->rlen >= RTCP_HDR_LEN && !have_hdr) {
			int r;

			rtcp_hdr_decode(p->rbuf, h);
			r = rtcp_hdr_validate(h, p->rx_seq + RTCP_HDR_LEN,
					      MAX_MSG);
			if (r || h->len > RBUF_CAP - RTCP_HDR_LEN) {
				fail("the QP sent a malformed frame "
				     "(validate %d, op %u, len %u, sseq "
				     "%" PRIu64 ", expected %" PRIu64 ")",
				     r, h->opcode, h->len, h->sseq,
				     p->rx_seq + RTCP_HDR_LEN);
				p->bad = true;
				return RECV_ERR;
			}
			have_hdr = true;
			need = RTCP_HDR_LEN + h->len;
		}
		if (have_hdr && p->rlen >= need) {
			p->rx_seq += need;
			if ((int32_t)(h->ack_msn - p->max_ack) > 0)
				p->max_ack = h->ack_msn;
			if (h->opcode == RTCP_OP_READ_RESP ||
			    h->opcode == RTCP_OP_ATOMIC_RESP)
				p->n_data_resp++;
			if (h->opcode == RTCP_OP_TERMINATE) {
				p->n_term++;
				p->term = *h;
			}
			/* the payload stays at rbuf + 64 until consumed */
			return RECV_FRAME;
		}
		{
			struct pollfd pf = { .fd = p->fd, .events = POLLIN };
			long left = timeout_ms - (long)(now_ms() - t0);
			ssize_t n;

			if (left <= 0)
				return RECV_TIMEOUT;
			n = poll(&pf, 1, (int)left);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return RECV_TIMEOUT;
			n = recv(p->fd, p->rbuf + p->rlen, RBUF_CAP - p->rlen,
				 0);
			if (n == 0) {
				p->eof = true;
				return RECV_EOF;
			}
			if (n < 0) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				p->eof = true; /* reset counts as closed */
				return RECV_EOF;
			}
			p->rlen += (size_t)n;
		}
	}
}

/* Drops the frame peer_recv returned (its header and payload). */
static void peer_consume(struct peer *p, const struct rtcp_hdr *h)
{
	size_t n = RTCP_HDR_LEN + h->len;

	memmove(p->rbuf, p->rbuf + n, p->rlen - n);
	p->rlen -= n;
}

/* Reads frames until one with opcode op (ACK: ack_msn >= min_ack). */
static int peer_wait_op(struct peer *p, uint8_t op, uint32_t min_ack,
			struct rtcp_hdr *out, uint8_t *payload, size_t cap)
{
	uint64_t t0 = now_ms();
	char seen[256] = "";
	size_t sl = 0;

	for (;;) {
		struct rtcp_hdr h;
		long left = DEADLINE_MS - (long)(now_ms() - t0);
		int r = peer_recv(p, &h, left > 0 ? (int)left : 0);

		if (r != RECV_FRAME) {
			note("waiting for opcode %u (ack_msn >= %u): %s after "
			     "%lu ms; frames seen (op/msn/ack_msn):%s",
			     op, min_ack,
			     r == RECV_EOF   ? "EOF"
			     : r == RECV_ERR ? "bad frame"
					     : "timeout",
			     (unsigned long)(now_ms() - t0),
			     sl ? seen : " none");
			return r;
		}
		if (sl < sizeof(seen) - 40)
			sl += (size_t)snprintf(seen + sl, sizeof(seen) - sl,
					       " %u/%u/%u", h.opcode, h.msn,
					       h.ack_msn);
		if (h.opcode == op && (op != RTCP_OP_ACK ||
				       (int32_t)(h.ack_msn - min_ack) >= 0)) {
			if (out)
				*out = h;
			if (payload)
				memcpy(payload, p->rbuf + RTCP_HDR_LEN,
				       h.len < cap ? h.len : cap);
			peer_consume(p, &h);
			return RECV_FRAME;
		}
		peer_consume(p, &h);
	}
}

/* Reads (and checks) frames until EOF; true if EOF came in time. */
static bool peer_until_eof(struct peer *p, int timeout_ms)
{
	uint64_t t0 = now_ms();

	while (!p->eof) {
		struct rtcp_hdr h;
		long left = timeout_ms - (long)(now_ms() - t0);
		int r = peer_recv(p, &h, left > 0 ? (int)left : 0);

		if (r == RECV_FRAME) {
			peer_consume(p, &h);
			continue;
		}
		if (r == RECV_ERR)
			continue; /* out of sync: peer_recv now only drains */
		break;
	}
	return p->eof;
}

/* Frame with our stream position, hlen override (0: RTCP_HDR_LEN). */
enum { F_KEEP_SSEQ = 1 };

static int peer_frame(struct peer *p, struct rtcp_hdr *h, const void *payload,
		      size_t plen, int flags, uint16_t hlen)
{
	uint8_t hb[RTCP_HDR_LEN];
	int r;

	if (!(flags & F_KEEP_SSEQ))
		h->sseq = p->tx_seq + RTCP_HDR_LEN;
	rtcp_hdr_encode(h, hb);
	if (hlen) {
		hb[RTCP_OFF_HLEN] = (uint8_t)(hlen >> 8);
		hb[RTCP_OFF_HLEN + 1] = (uint8_t)hlen;
	}
	r = send_all(p->fd, hb, sizeof(hb));
	if (!r)
		p->tx_seq += RTCP_HDR_LEN;
	if (!r && plen) {
		r = send_all(p->fd, payload, plen);
		if (!r)
			p->tx_seq += plen;
	}
	return r;
}

static void hdr_init(struct rtcp_hdr *h, uint8_t op, uint32_t msn)
{
	memset(h, 0, sizeof(*h));
	h->opcode = op;
	h->hlen = RTCP_HDR_LEN;
	h->msn = msn;
}

/* A payload whose bytes differ from every region's pattern. */
static uint8_t *payload_of(size_t n, uint8_t salt)
{
	static uint8_t *buf;
	static size_t cap;
	size_t i;

	if (n > cap) {
		free(buf);
		buf = malloc(n);
		cap = buf ? n : 0;
		if (!buf)
			abort();
	}
	for (i = 0; i < n; i++)
		buf[i] = (uint8_t)(0xa0 ^ salt ^ (i * 7));
	return buf;
}

/* Applies an accepted write to the shadow. */
static void shadow_write(int r, size_t off, const uint8_t *src, size_t n)
{
	memcpy(reg[r].shadow + PAD + off, src, n);
}

/* Waits until region bytes match src (a write landing); true if in time. */
static bool wait_landed(size_t off, const uint8_t *src, size_t n)
{
	uint64_t t0 = now_ms();

	while (memcmp(win() + off, src, n)) {
		if (now_ms() - t0 > DEADLINE_MS)
			return false;
		sleep_ms(2);
	}
	return true;
}

/* ------------------------------------------------------------ cases */

struct kase {
	const char *name;
	/* sends the hostile input; may adjust the expectations */
	void (*send)(struct peer *p, struct ibv_qp *qp, struct kase *k);
	int term_syn; /* TERMINATE expected with this syndrome; 0 none */
	uint32_t term_msn;
	unsigned int events;  /* allowed async event types */
	bool reconnect;	      /* after ERR, a new connection must be refused */
	struct alt_range alt; /* bytes that may legitimately change */
	bool has_alt;
	uint64_t want_wc_id; /* a WR that must complete in error; 0 none */
};

static uint32_t win_rkey(void)
{
	return reg[R_WIN].mr->rkey;
}

static void send_bad_opcode(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_MAX + 1, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.len = 64;
	peer_frame(p, &h, payload_of(64, 1), 64, 0, 0);
}

static void send_opcode_zero(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, 0, 0);
	peer_frame(p, &h, NULL, 0, 0, 0);
}

static void send_bad_hlen(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct rtcp_hdr h;

	/* a WRITE that would be valid, with an extension we do not have */
	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(256);
	h.len = 64;
	peer_frame(p, &h, payload_of(64 + 16, 2), 64 + 16, 0, 80);
}

static void send_bad_flags(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.flags = 0x80;
	h.rkey = win_rkey();
	h.raddr = win_addr(512);
	h.len = 64;
	peer_frame(p, &h, payload_of(64, 3), 64, 0, 0);
}

static void send_sseq_desync(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct rtcp_hdr h;
	const uint8_t *pl = payload_of(64, 4);

	/* a good WRITE first: it lands and is acknowledged */
	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.flags = RTCP_F_ACK_REQ;
	h.rkey = win_rkey();
	h.raddr = win_addr(8192);
	h.len = 64;
	peer_frame(p, &h, pl, 64, 0, 0);
	if (wait_landed(8192, pl, 64) &&
	    peer_wait_op(p, RTCP_OP_ACK, 1, NULL, NULL, 0) == RECV_FRAME)
		ok("a valid WRITE before the desync lands and is acked");
	else
		fail("a valid WRITE before the desync lands and is acked");
	shadow_write(R_WIN, 8192, pl, 64);
	/* then one that claims a stream position one frame further on */
	hdr_init(&h, RTCP_OP_WRITE, 1);
	h.rkey = win_rkey();
	h.raddr = win_addr(12288);
	h.len = 64;
	h.sseq = p->tx_seq + RTCP_HDR_LEN + 128;
	peer_frame(p, &h, payload_of(64, 5), 64, F_KEEP_SSEQ, 0);
}

static void send_sseq_backwards(struct peer *p, struct ibv_qp *qp,
				struct kase *k)
{
	struct rtcp_hdr h;

	/* the first frame claims offset 0 (a replay of the hello's bytes) */
	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.len = 64;
	h.sseq = 0;
	peer_frame(p, &h, payload_of(64, 6), 64, F_KEEP_SSEQ, 0);
}

static void send_len_over_max(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.len = 0xffffffffu;
	peer_frame(p, &h, payload_of(4096, 7), 4096, 0, 0);
}

static void send_send_over_max(struct peer *p, struct ibv_qp *qp,
			       struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_SEND, 0);
	h.len = MAX_MSG + 1;
	peer_frame(p, &h, payload_of(4096, 8), 4096, 0, 0);
}

static void send_read_req_payload(struct peer *p, struct ibv_qp *qp,
				  struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_READ_REQ, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.aux0 = 64;
	h.len = 16;
	peer_frame(p, &h, payload_of(16, 9), 16, 0, 0);
}

static void send_read_req_over_max(struct peer *p, struct ibv_qp *qp,
				   struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_READ_REQ, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.aux0 = (uint64_t)MAX_MSG + 1;
	peer_frame(p, &h, NULL, 0, 0, 0);
}

static void send_atomic_with_payload(struct peer *p, struct ibv_qp *qp,
				     struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_ATOMIC_FADD, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(1024);
	h.aux0 = 1;
	h.len = 8;
	peer_frame(p, &h, payload_of(8, 10), 8, 0, 0);
}

/* A WRITE; flags RTCP_F_ACK_REQ asks for an immediate ACK. */
static void write_to_f(struct peer *p, uint32_t rkey, uint64_t raddr,
		       uint32_t len, uint32_t msn, uint8_t salt, uint8_t flags)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_WRITE, msn);
	h.flags = flags;
	h.rkey = rkey;
	h.raddr = raddr;
	h.len = len;
	peer_frame(p, &h, payload_of(len, salt), len, 0, 0);
}

static void write_to(struct peer *p, uint32_t rkey, uint64_t raddr,
		     uint32_t len, uint32_t msn, uint8_t salt)
{
	write_to_f(p, rkey, raddr, len, msn, salt, 0);
}

static void send_bad_rkey(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	write_to(p, win_rkey() ^ 0x5a5a5a00u, win_addr(0), 64, 0, 11);
}

static void send_bad_generation(struct peer *p, struct ibv_qp *qp,
				struct kase *k)
{
	/* same table index, every other generation byte */
	write_to(p, win_rkey() ^ 0x01u, win_addr(0), 64, 0, 12);
}

static void send_past_end(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	write_to(p, win_rkey(), win_addr(WIN - 16), 32, 0, 13);
}

static void send_into_canary_below(struct peer *p, struct ibv_qp *qp,
				   struct kase *k)
{
	write_to(p, win_rkey(), win_addr(0) - 8, 32, 0, 14);
}

static void send_addr_wrap(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	/* raddr + len wraps around 2^64 into the window */
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = win_rkey();
	h.raddr = UINT64_MAX - 15;
	h.len = 64;
	peer_frame(p, &h, payload_of(64, 15), 64, 0, 0);
}

static void send_ro_key(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	write_to(p, reg[R_RO].mr->rkey,
		 (uint64_t)(uintptr_t)(reg[R_RO].mem + PAD), 64, 0, 16);
}

static void send_stale_key(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	write_to(p, stale_rkey, (uint64_t)(uintptr_t)(reg[R_STALE].mem + PAD),
		 64, 0, 17);
}

static void send_foreign_pd(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	write_to(p, reg[R_FOREIGN].mr->rkey,
		 (uint64_t)(uintptr_t)(reg[R_FOREIGN].mem + PAD), 64, 0, 18);
}

static void send_read_past_end(struct peer *p, struct ibv_qp *qp,
			       struct kase *k)
{
	struct rtcp_hdr h;

	/* would leak the canary above the window */
	hdr_init(&h, RTCP_OP_READ_REQ, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(WIN - 64);
	h.aux0 = 128;
	peer_frame(p, &h, NULL, 0, 0, 0);
}

static void send_atomic_misaligned(struct peer *p, struct ibv_qp *qp,
				   struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_ATOMIC_FADD, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(1024 + 4);
	h.aux0 = 0x0101010101010101ull;
	peer_frame(p, &h, NULL, 0, 0, 0);
}

static void send_atomic_past_end(struct peer *p, struct ibv_qp *qp,
				 struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_ATOMIC_CMP_SWP, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(WIN);
	h.aux0 = 0;
	h.aux1 = 0xdeadbeefdeadbeefull;
	peer_frame(p, &h, NULL, 0, 0, 0);
}

static void send_msn_out_of_order(struct peer *p, struct ibv_qp *qp,
				  struct kase *k)
{
	write_to(p, win_rkey(), win_addr(2048), 64, 3, 19);
}

static void send_read_resp_unsolicited(struct peer *p, struct ibv_qp *qp,
				       struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_READ_RESP, 0);
	h.len = 256;
	peer_frame(p, &h, payload_of(256, 20), 256, 0, 0);
}

static void send_atomic_resp_unsolicited(struct peer *p, struct ibv_qp *qp,
					 struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_ATOMIC_RESP, 0);
	h.aux0 = 0x4141414141414141ull;
	peer_frame(p, &h, NULL, 0, 0, 0);
}

static void send_truncated_header(struct peer *p, struct ibv_qp *qp,
				  struct kase *k)
{
	uint8_t hb[RTCP_HDR_LEN];
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.len = 64;
	h.sseq = RTCP_HDR_LEN;
	rtcp_hdr_encode(&h, hb);
	send_all(p->fd, hb, RTCP_OFF_RKEY); /* stops before the placement */
	check(wait_provider_read(p->fd, 0),
	      "the QP read the partial header before the peer's FIN");
	shutdown(p->fd, SHUT_WR);
}

static void send_huge_len_close(struct peer *p, struct ibv_qp *qp,
				struct kase *k)
{
	struct rtcp_hdr h;

	/* legal length (1 GiB <= max_msg_sz), far beyond the region */
	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.len = 1u << 30;
	peer_frame(p, &h, payload_of(32768, 21), 32768, 0, 0);
	shutdown(p->fd, SHUT_WR);
}

static void send_partial_payload_close(struct peer *p, struct ibv_qp *qp,
				       struct kase *k)
{
	struct rtcp_hdr h;
	const uint8_t *pl = payload_of(WIN, 22);

	/* accepted (whole window), then the peer goes away mid-payload */
	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.len = WIN;
	peer_frame(p, &h, pl, 10000, 0, 0);
	/* (the rest may wait in the socket: a large payload sets a low mark) */
	check(wait_provider_read(p->fd, 10000),
	      "the QP read the header before the peer's FIN");
	shutdown(p->fd, SHUT_WR);
	/* the bytes sent may land; nothing past them, nothing outside */
	k->alt.r = R_WIN;
	k->alt.lo = 0;
	k->alt.hi = 10000;
	k->alt.alt = pl;
	k->has_alt = true;
}

static void send_garbage(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	uint8_t g[4096];
	uint32_t x = 0x12345678;
	size_t i;

	for (i = 0; i < sizeof(g); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		g[i] = (uint8_t)x;
	}
	send_all(p->fd, g, sizeof(g));
}

static void send_send_no_recv(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct rtcp_hdr h;

	/* the QP advertised no credits: a SEND now has nowhere to go */
	hdr_init(&h, RTCP_OP_SEND, 0);
	h.len = 64;
	peer_frame(p, &h, payload_of(64, 23), 64, 0, 0);
}

static void send_send_too_big(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct ibv_sge sge = { .addr = win_addr(4096),
			       .length = 16,
			       .lkey = reg[R_WIN].mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = 77, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;
	struct rtcp_hdr h;

	if (ibv_post_recv(qp, &wr, &bad))
		fail("ibv_post_recv: %s", strerror(errno));
	hdr_init(&h, RTCP_OP_SEND, 0);
	h.len = 256;
	peer_frame(p, &h, payload_of(256, 24), 256, 0, 0);
}

static void send_write_imm_no_recv(struct peer *p, struct ibv_qp *qp,
				   struct kase *k)
{
	struct rtcp_hdr h;

	/* placement would pass; the immediate has no receive to go to */
	hdr_init(&h, RTCP_OP_WRITE_IMM, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(6000);
	h.len = 64;
	h.imm = 0x01020304;
	peer_frame(p, &h, payload_of(64, 25), 64, 0, 0);
	/* the WRITE part may have landed before the receive was missed */
	k->alt.r = R_WIN;
	k->alt.lo = 6000;
	k->alt.hi = 6064;
	k->alt.alt = payload_of(64, 25);
	k->has_alt = true;
}

static void send_atomic_no_right(struct peer *p, struct ibv_qp *qp,
				 struct kase *k)
{
	struct rtcp_hdr h;

	/* the region allows remote read only */
	hdr_init(&h, RTCP_OP_ATOMIC_FADD, 0);
	h.rkey = reg[R_RO].mr->rkey;
	h.raddr = (uint64_t)(uintptr_t)(reg[R_RO].mem + PAD);
	h.aux0 = 1;
	peer_frame(p, &h, NULL, 0, 0, 0);
}

static void send_terminate_unsolicited(struct peer *p, struct ibv_qp *qp,
				       struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_TERMINATE, 0);
	h.imm = htobe32(RTCP_SYN_REM_ACCESS); /* syndromes: network order */
	peer_frame(p, &h, NULL, 0, 0, 0);
}

/*
 * Requester side: the QP under test posts an RDMA READ of 64 bytes into
 * the window; the hostile peer answers it badly.
 */
#define RD_OFF 40000
#define RD_LEN 64

static bool post_read(struct peer *p, struct ibv_qp *qp, struct kase *k,
		      struct rtcp_hdr *req)
{
	struct ibv_sge sge = { .addr = win_addr(RD_OFF),
			       .length = RD_LEN,
			       .lkey = reg[R_WIN].mr->lkey };
	struct ibv_send_wr wr = { .wr_id = 99,
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = IBV_WR_RDMA_READ,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_send_wr *bad;

	wr.wr.rdma.remote_addr = 0x10000;
	wr.wr.rdma.rkey = 0x1234;
	k->want_wc_id = 99;
	if (ibv_post_send(qp, &wr, &bad)) {
		fail("ibv_post_send RDMA_READ: %s", strerror(errno));
		return false;
	}
	if (peer_wait_op(p, RTCP_OP_READ_REQ, 0, req, NULL, 0) != RECV_FRAME) {
		fail("the QP sent its READ_REQ");
		return false;
	}
	if (req->aux0 != RD_LEN)
		fail("READ_REQ asks for %" PRIu64 " bytes, not %d", req->aux0,
		     RD_LEN);
	return true;
}

static void send_read_resp_long(struct peer *p, struct ibv_qp *qp,
				struct kase *k)
{
	struct rtcp_hdr req, h;

	if (!post_read(p, qp, k, &req))
		return;
	hdr_init(&h, RTCP_OP_READ_RESP, req.msn);
	h.len = RD_LEN * 4; /* more than the READ's buffer */
	peer_frame(p, &h, payload_of(RD_LEN * 4, 26), RD_LEN * 4, 0, 0);
}

static void send_read_resp_short(struct peer *p, struct ibv_qp *qp,
				 struct kase *k)
{
	struct rtcp_hdr req, h;

	if (!post_read(p, qp, k, &req))
		return;
	hdr_init(&h, RTCP_OP_READ_RESP, req.msn);
	h.len = RD_LEN / 2;
	peer_frame(p, &h, payload_of(RD_LEN / 2, 27), RD_LEN / 2, 0, 0);
}

static void send_read_resp_wrong_msn(struct peer *p, struct ibv_qp *qp,
				     struct kase *k)
{
	struct rtcp_hdr req, h;

	if (!post_read(p, qp, k, &req))
		return;
	hdr_init(&h, RTCP_OP_READ_RESP, req.msn + 1);
	h.len = RD_LEN;
	peer_frame(p, &h, payload_of(RD_LEN, 28), RD_LEN, 0, 0);
}

static void send_atomic_resp_for_read(struct peer *p, struct ibv_qp *qp,
				      struct kase *k)
{
	struct rtcp_hdr req, h;

	if (!post_read(p, qp, k, &req))
		return;
	hdr_init(&h, RTCP_OP_ATOMIC_RESP, req.msn);
	h.aux0 = 0x4242424242424242ull;
	peer_frame(p, &h, NULL, 0, 0, 0);
}

#define CASE(n, fn, syn, msn, ev, rec)                                 \
	{                                                              \
		.name = (n), .send = (fn), .term_syn = (syn),          \
		.term_msn = (msn), .events = (ev), .reconnect = (rec), \
	}

static struct kase cases[] = {
	/* framing: the stream cannot be trusted; no placement happens */
	CASE("unknown opcode", send_bad_opcode, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), true),
	CASE("opcode 0", send_opcode_zero, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("hlen 80 (not 64)", send_bad_hlen, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("unknown flags", send_bad_flags, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("sseq desync after a good frame", send_sseq_desync, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("sseq 0 on the first frame", send_sseq_backwards, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("WRITE len 0xffffffff > max_msg_sz", send_len_over_max, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("SEND len max_msg_sz+1", send_send_over_max, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("READ_REQ with payload", send_read_req_payload, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("READ_REQ for more than max_msg_sz", send_read_req_over_max, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("ATOMIC with payload", send_atomic_with_payload, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("garbage bytes", send_garbage, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), true),
	/* placement: refused by the responder, requester told */
	CASE("WRITE bad rkey", send_bad_rkey, RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), true),
	CASE("WRITE rkey with another generation", send_bad_generation,
	     RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE past region end", send_past_end, RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE valid key, range into the canary below",
	     send_into_canary_below, RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE raddr+len wraps 2^64", send_addr_wrap, RTCP_SYN_REM_ACCESS,
	     0, EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE to a region without REMOTE_WRITE", send_ro_key,
	     RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE with a deregistered (stale) key", send_stale_key,
	     RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE with a key of another PD", send_foreign_pd,
	     RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("READ_REQ past region end (would leak canary)", send_read_past_end,
	     RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("ATOMIC misaligned", send_atomic_misaligned, RTCP_SYN_REM_INV_REQ,
	     0, EV(IBV_EVENT_QP_REQ_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("ATOMIC past region end", send_atomic_past_end,
	     RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE huge len (1 GiB) then close mid-payload",
	     send_huge_len_close, RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	/* protocol */
	CASE("msn out of order (3, expected 0)", send_msn_out_of_order,
	     RTCP_SYN_REM_INV_REQ, 3,
	     EV(IBV_EVENT_QP_REQ_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("SEND with no receive posted", send_send_no_recv, RTCP_SYN_RNR, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("SEND larger than the posted receive", send_send_too_big,
	     RTCP_SYN_REM_INV_REQ, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("READ_RESP with nothing outstanding", send_read_resp_unsolicited,
	     0, 0, EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("ATOMIC_RESP with nothing outstanding",
	     send_atomic_resp_unsolicited, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("WRITE_IMM with no receive posted", send_write_imm_no_recv,
	     RTCP_SYN_RNR, 0, EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR),
	     false),
	CASE("ATOMIC on a region without REMOTE_ATOMIC", send_atomic_no_right,
	     RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("TERMINATE with nothing outstanding", send_terminate_unsolicited,
	     0, 0, EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	/* requester side: bad answers to the QP's own RDMA READ */
	CASE("READ_RESP longer than the READ", send_read_resp_long, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("READ_RESP shorter than the READ", send_read_resp_short, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("READ_RESP naming another msn", send_read_resp_wrong_msn, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("ATOMIC_RESP answering a READ", send_atomic_resp_for_read, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	/* the connection goes away */
	CASE("truncated header then close", send_truncated_header, 0, 0,
	     EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE accepted, close mid-payload", send_partial_payload_close, 0,
	     0, EV(IBV_EVENT_QP_FATAL), true),
};

/* Connects the hostile peer and waits for the QP's first frame. */
static bool peer_open(struct peer *p, struct ibv_qp *qp)
{
	struct rtcp_hdr h;
	int r;

	if (peer_open_raw(p, qp->qp_num, FAKE_QPN, qp->qp_num, true)) {
		fail("connect to the QP's port %u and send the hello: %s",
		     qp->qp_num >> 8, strerror(errno));
		return false;
	}
	/* the QP's first frame advertises its credits: proof it bound us */
	r = peer_recv(p, &h, DEADLINE_MS);
	if (r != RECV_FRAME) {
		fail("the QP took the connection (first frame within %d ms; "
		     "got %s)",
		     DEADLINE_MS, r == RECV_EOF ? "EOF" : "nothing");
		return false;
	}
	peer_consume(p, &h);
	return true;
}

/*
 * A connection with this hello must be turned away: refused, or closed
 * (EOF within the deadline) without a single frame from the QP.
 */
static void turned_away(uint32_t qpn, uint32_t src, uint32_t dst, bool magic_ok,
			const char *what)
{
	struct peer p2;

	if (peer_open_raw(&p2, qpn, src, dst, magic_ok)) {
		ok("%s: turned away (%s)", what, strerror(errno));
	} else {
		bool eof = peer_until_eof(&p2, DEADLINE_MS);

		check(eof && !p2.rx_seq,
		      "%s: turned away (%s, %" PRIu64 " bytes of frames)", what,
		      eof ? "closed" : "still open", p2.rx_seq);
	}
	peer_close(&p2);
}

/* After ERR: a new connection with a good hello must be turned away. */
static void check_reconnect_refused(struct ibv_qp *qp)
{
	turned_away(qp->qp_num, FAKE_QPN, qp->qp_num, true,
		    "reconnect after ERR");
}

static void run_case(struct kase *k)
{
	struct ibv_qp *qp;
	struct peer p;
	long ms;
	struct ibv_wc wc[8];
	int nwc, i;

	tc_section = k->name;
	printf("# %s\n", k->name);
	qp = make_qp();
	if (!qp)
		return;
	if (!peer_open(&p, qp)) {
		peer_close(&p);
		ibv_destroy_qp(qp);
		return;
	}
	k->send(&p, qp, k);

	ms = wait_err(qp);
	if (ms >= 0)
		ok("QP in ERR after %ld ms", ms);
	else
		fail("QP in ERR within %d ms (state %s)", DEADLINE_MS,
		     state_str(qp_state(qp)));
	check_async(qp, k->events);

	/* what the QP answered, up to its FIN */
	{
		bool eof = peer_until_eof(&p, DEADLINE_MS);

		check(eof, "connection closed by the QP (EOF) within %d ms",
		      DEADLINE_MS);
	}
	check(!p.bad, "every frame from the QP well formed");
	check(p.n_data_resp == 0, "no READ_RESP / ATOMIC_RESP sent (%d)",
	      p.n_data_resp);
	if (k->term_syn) {
		if (!p.n_term) {
			fail("TERMINATE with syndrome %d received",
			     k->term_syn);
		} else {
			check(be32toh(p.term.imm) == (uint32_t)k->term_syn,
			      "TERMINATE syndrome %u (expected %d)",
			      be32toh(p.term.imm), k->term_syn);
			check(p.term.msn == k->term_msn,
			      "TERMINATE names msn %u (expected %u)",
			      p.term.msn, k->term_msn);
		}
	} else if (p.n_term) {
		note("TERMINATE received anyway (syndrome %u, msn %u)",
		     p.term.imm, p.term.msn);
	}
	check(p.n_term <= 1, "at most one TERMINATE (%d)", p.n_term);

	nwc = drain_cq(wc, 8);
	for (i = 0; i < nwc && i < 8; i++) {
		if (wc[i].status == IBV_WC_SUCCESS)
			fail("unexpected successful completion wr_id %" PRIu64,
			     wc[i].wr_id);
		else
			note("completion wr_id %" PRIu64 ": %s", wc[i].wr_id,
			     ibv_wc_status_str(wc[i].status));
	}
	if (k->want_wc_id) {
		for (i = 0; i < nwc && i < 8; i++)
			if (wc[i].wr_id == k->want_wc_id)
				break;
		check(i < nwc && i < 8 && wc[i].status != IBV_WC_SUCCESS,
		      "work request %" PRIu64 " completes in error",
		      k->want_wc_id);
	}
	if (k->send == send_send_too_big)
		check(nwc == 1 && wc[0].wr_id == 77 &&
			      wc[0].status != IBV_WC_SUCCESS,
		      "the receive completes once, in error (%d completions)",
		      nwc);

	if (k->reconnect)
		check_reconnect_refused(qp);

	check_memory(k->has_alt ? &k->alt : NULL);
	/* QP first: closing the socket first could fail a QP that (wrongly)
	 * survived, and its event would then name a destroyed QP */
	if (ibv_destroy_qp(qp))
		fail("ibv_destroy_qp: %s", strerror(errno));
	peer_close(&p);
}

/* ------------------------------------------------------------ controls */

static void control(void)
{
	struct ibv_qp *qp;
	struct peer p;
	struct rtcp_hdr h, r;
	const uint8_t *pl;
	uint8_t data[256], rd[64];
	uint64_t old, v;
	uint32_t msn = 0;

	tc_section = "control: well-formed frames";
	printf("# %s\n", tc_section);
	qp = make_qp();
	if (!qp)
		return;
	if (!peer_open(&p, qp)) {
		peer_close(&p);
		ibv_destroy_qp(qp);
		return;
	}
	ok("QP 0x%x accepted the hostile peer's connection on port %u",
	   qp->qp_num, qp->qp_num >> 8);

	/* WRITE 256 bytes into the window, asking for an immediate ack
	 * (acks are otherwise coalesced): lands, ACK comes back */
	pl = payload_of(256, 0x33);
	memcpy(data, pl, 256);
	write_to_f(&p, win_rkey(), win_addr(100), 256, msn++, 0x33,
		   RTCP_F_ACK_REQ);
	check(wait_landed(100, data, 256),
	      "WRITE 256 bytes lands in the window");
	shadow_write(R_WIN, 100, data, 256);
	check(peer_wait_op(&p, RTCP_OP_ACK, msn, &h, NULL, 0) == RECV_FRAME,
	      "ACK frame with ack_msn >= %u comes back", msn);

	/* zero-length WRITE with rkey 0: no key checked (docs/design.md) */
	hdr_init(&h, RTCP_OP_WRITE, msn++);
	h.flags = RTCP_F_ACK_REQ;
	peer_frame(&p, &h, NULL, 0, 0, 0);
	check(peer_wait_op(&p, RTCP_OP_ACK, msn, NULL, NULL, 0) == RECV_FRAME,
	      "zero-length WRITE with rkey 0 acked");

	/* READ 64 bytes back */
	hdr_init(&h, RTCP_OP_READ_REQ, msn++);
	h.rkey = win_rkey();
	h.raddr = win_addr(100);
	h.aux0 = 64;
	peer_frame(&p, &h, NULL, 0, 0, 0);
	if (peer_wait_op(&p, RTCP_OP_READ_RESP, 0, &r, rd, sizeof(rd)) ==
	    RECV_FRAME) {
		check(r.msn == h.msn && r.len == 64 && !memcmp(rd, data, 64),
		      "READ_REQ answered with the 64 bytes (msn %u, len %u)",
		      r.msn, r.len);
	} else {
		fail("READ_REQ answered with READ_RESP");
	}

	/* FETCH_AND_ADD and CMP_SWP on an aligned word */
	memcpy(&old, win() + 1024, 8);
	hdr_init(&h, RTCP_OP_ATOMIC_FADD, msn++);
	h.rkey = win_rkey();
	h.raddr = win_addr(1024);
	h.aux0 = 5;
	peer_frame(&p, &h, NULL, 0, 0, 0);
	if (peer_wait_op(&p, RTCP_OP_ATOMIC_RESP, 0, &r, NULL, 0) ==
	    RECV_FRAME) {
		memcpy(&v, win() + 1024, 8);
		check(r.msn == h.msn && r.aux0 == old && v == old + 5,
		      "FETCH_AND_ADD returns the old value and adds");
	} else {
		fail("FETCH_AND_ADD answered");
	}
	v = old + 5;
	hdr_init(&h, RTCP_OP_ATOMIC_CMP_SWP, msn++);
	h.flags = RTCP_F_ACK_REQ;
	h.rkey = win_rkey();
	h.raddr = win_addr(1024);
	h.aux0 = v;
	h.aux1 = 0x1122334455667788ull;
	peer_frame(&p, &h, NULL, 0, 0, 0);
	if (peer_wait_op(&p, RTCP_OP_ATOMIC_RESP, 0, &r, NULL, 0) ==
	    RECV_FRAME) {
		uint64_t now;

		memcpy(&now, win() + 1024, 8);
		check(r.aux0 == v && now == 0x1122334455667788ull,
		      "CMP_AND_SWP returns the old value and swaps");
		shadow_write(R_WIN, 1024, (const uint8_t *)&now, 8);
	} else {
		fail("CMP_AND_SWP answered");
	}
	check(p.max_ack == msn || peer_wait_op(&p, RTCP_OP_ACK, msn, NULL, NULL,
					       0) == RECV_FRAME,
	      "all %u requests acknowledged (ack_msn %u)", msn, p.max_ack);
	check(!p.bad, "every frame from the QP well formed");
	check(qp_state(qp) == IBV_QPS_RTS, "QP still RTS (%s)",
	      state_str(qp_state(qp)));
	check_no_async();
	check(drain_cq(NULL, 0) == 0, "no completions on the responder");
	check_memory(NULL);

	/* the peer leaves cleanly: the QP fails like a dead peer */
	peer_close(&p);
	{
		long ms = wait_err(qp);

		check(ms >= 0, "peer gone: QP in ERR (%ld ms)", ms);
		check_async(qp, EV(IBV_EVENT_QP_FATAL));
	}
	ibv_destroy_qp(qp);
}

/*
 * A peer that acknowledges the QP's last WRITE and closes at once: the ACK
 * and the end of the stream arrive together, yet the WRITE was done and
 * must complete successfully, not as a dead peer's IBV_WC_RETRY_EXC_ERR
 * (ibv_srq_pingpong and perftest -R exit this way).
 */
static void ack_then_close(void)
{
	struct ibv_sge sge = { .addr = win_addr(RD_OFF),
			       .length = 64,
			       .lkey = reg[R_WIN].mr->lkey };
	struct ibv_send_wr wr = { .wr_id = 77,
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = IBV_WR_RDMA_WRITE,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_send_wr *bad;
	struct ibv_qp *qp;
	struct ibv_wc wc;
	struct rtcp_hdr req, h;
	struct peer p;
	uint64_t t0;
	int n = 0;

	tc_section = "control: ACK then close";
	printf("# %s\n", tc_section);
	qp = make_qp();
	if (!qp)
		return;
	if (!peer_open(&p, qp)) {
		peer_close(&p);
		ibv_destroy_qp(qp);
		return;
	}
	wr.wr.rdma.remote_addr = 0x10000;
	wr.wr.rdma.rkey = 0x1234;
	if (ibv_post_send(qp, &wr, &bad)) {
		fail("ibv_post_send RDMA_WRITE: %s", strerror(errno));
	} else if (peer_wait_op(&p, RTCP_OP_WRITE, 0, &req, NULL, 0) !=
		   RECV_FRAME) {
		fail("the QP sent its WRITE");
	} else {
		int one = 1;

		/* corked: the ACK and the FIN leave in one segment, so the
		 * QP reads both in one pass */
		setsockopt(p.fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
		hdr_init(&h, RTCP_OP_ACK, 0);
		h.ack_msn = req.msn + 1;
		peer_frame(&p, &h, NULL, 0, 0, 0);
		shutdown(p.fd, SHUT_WR);
		peer_close(&p);
		t0 = now_ms();
		while (now_ms() - t0 < DEADLINE_MS &&
		       (n = ibv_poll_cq(cq, 1, &wc)) == 0)
			sleep_ms(1);
		check(n == 1 && wc.wr_id == 77 && wc.status == IBV_WC_SUCCESS,
		      "acked WRITE completes with success (%s, wr_id %llu)",
		      n == 1 ? ibv_wc_status_str(wc.status) : "no completion",
		      n == 1 ? (unsigned long long)wc.wr_id : 0ull);
	}
	/* the peer is gone: the QP then fails like a dead peer */
	check(wait_err(qp) >= 0, "peer gone: QP in ERR");
	check_async(qp, EV(IBV_EVENT_QP_FATAL));
	drain_cq(NULL, 0);
	ibv_destroy_qp(qp);
}

/*
 * A large WRITE whose payload arrives in pieces, with pauses between
 * them, then a zero-length WRITE asking for an ack. While the engine
 * places a large payload it asks the socket to wake it only once more of
 * the frame has arrived (SO_RCVLOWAT); that mark must never exceed what
 * the frame still owes, and must drop back when the frame ends, or the
 * tail of the payload, or the next small frame, would never wake it.
 * The pieces are chosen so that both mistakes hang: the first pause
 * leaves 672 KiB owed (under the 1 MiB ceiling), the next two pieces
 * leave 32 KiB owed, and the frame after the WRITE is a bare header.
 */
static void trickled_write(void)
{
	static const size_t piece[] = { 96 << 10, 256 << 10, 384 << 10,
					32 << 10 };
	const size_t len = 768 << 10, off = 4096;
	uint8_t *dst = reg[R_BIG].mem + PAD + off;
	const uint8_t *pl;
	struct ibv_qp *qp;
	struct rtcp_hdr h;
	struct peer p;
	size_t i, at = 0;
	uint64_t t0;
	int r = 0;

	tc_section = "control: a large WRITE that arrives in pieces";
	printf("# %s\n", tc_section);
	qp = make_qp();
	if (!qp)
		return;
	if (!peer_open(&p, qp)) {
		peer_close(&p);
		ibv_destroy_qp(qp);
		return;
	}
	pl = payload_of(len, 0x5c);
	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = reg[R_BIG].mr->rkey;
	h.raddr = (uint64_t)(uintptr_t)dst;
	h.len = (uint32_t)len;
	r = peer_frame(&p, &h, NULL, 0, 0, 0);
	for (i = 0; !r && i < sizeof(piece) / sizeof(piece[0]); i++) {
		sleep_ms(50);
		r = send_all(p.fd, pl + at, piece[i]);
		at += piece[i];
	}
	p.tx_seq += at;
	check(!r && at == len,
	      "the peer sent the WRITE's %zu bytes in %zu pieces", len,
	      sizeof(piece) / sizeof(piece[0]));
	t0 = now_ms();
	while (memcmp(dst, pl, len) && now_ms() - t0 < DEADLINE_MS)
		sleep_ms(2);
	check(!memcmp(dst, pl, len), "all of it landed (in %llu ms)",
	      (unsigned long long)(now_ms() - t0));
	memcpy(reg[R_BIG].shadow + PAD + off, pl, len);
	hdr_init(&h, RTCP_OP_WRITE, 1);
	h.flags = RTCP_F_ACK_REQ;
	peer_frame(&p, &h, NULL, 0, 0, 0);
	check(peer_wait_op(&p, RTCP_OP_ACK, 2, NULL, NULL, 0) == RECV_FRAME,
	      "a bare WRITE header after it is read and both are acked");
	check(!p.bad, "every frame from the QP well formed");
	check(qp_state(qp) == IBV_QPS_RTS, "QP still RTS (%s)",
	      state_str(qp_state(qp)));
	check_no_async();
	check_memory(NULL);
	peer_close(&p);
	check(wait_err(qp) >= 0, "peer gone: QP in ERR");
	check_async(qp, EV(IBV_EVENT_QP_FATAL));
	ibv_destroy_qp(qp);
}

/*
 * Bad hellos are turned away without harming the QP; a good one after
 * them still connects and works.
 */
static void hello_cases(void)
{
	struct ibv_qp *qp;
	struct peer p;
	const uint8_t *pl;
	uint32_t other_slot;

	tc_section = "hostile hellos";
	printf("# %s\n", tc_section);
	qp = make_qp();
	if (!qp)
		return;
	other_slot = (qp->qp_num & ~0xffu) | ((qp->qp_num + 1) & 0xff);

	turned_away(qp->qp_num, FAKE_QPN, qp->qp_num, false,
		    "hello with a bad magic");
	turned_away(qp->qp_num, FAKE_QPN + 1, qp->qp_num, true,
		    "hello from the wrong source QPN");
	turned_away(qp->qp_num, FAKE_QPN, other_slot, true,
		    "hello for an unused QP slot");
	/* half a hello, then the peer leaves */
	{
		struct sockaddr_storage ss;
		socklen_t sl = gid_sockaddr((uint16_t)(qp->qp_num >> 8), &ss);
		int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct rtcp_hello h = { .src_qpn = FAKE_QPN,
					.dst_qpn = qp->qp_num };
		uint8_t hb[RTCP_HELLO_LEN];

		struct conn_ends e;
		bool sent = false;

		rtcp_hello_encode(&h, hb);
		if (fd >= 0 && !connect(fd, (struct sockaddr *)&ss, sl) &&
		    conn_ends_of(fd, &e)) {
			sent = !send_all(fd, hb, RTCP_HELLO_OFF_DST_QPN);
			check(sent && wait_provider_read(fd, 0),
			      "the provider read the half hello");
		}
		if (fd >= 0)
			close(fd);
		if (sent)
			check(wait_provider_closed(&e),
			      "the provider closed the half-hello connection");
		else
			fail("half a hello sent");
	}
	check(qp_state(qp) == IBV_QPS_RTS,
	      "QP still RTS after bad and truncated hellos (%s)",
	      state_str(qp_state(qp)));
	check_no_async();

	if (peer_open(&p, qp)) {
		ok("a good hello after them is accepted");
		pl = payload_of(32, 0x44);
		write_to(&p, win_rkey(), win_addr(3000), 32, 0, 0x44);
		check(wait_landed(3000, pl, 32),
		      "the good connection's WRITE lands");
		shadow_write(R_WIN, 3000, pl, 32);
		check(qp_state(qp) == IBV_QPS_RTS, "QP RTS");
	}
	peer_close(&p);
	check(wait_err(qp) >= 0, "peer gone: QP in ERR");
	check_async(qp, EV(IBV_EVENT_QP_FATAL));
	check_memory(NULL);
	ibv_destroy_qp(qp);
}

/*
 * A second connection naming a QP that is already connected must not take
 * it over, and must not be adopted later by a new QP that reuses the QPN.
 */
static void hijack_case(void)
{
	struct ibv_qp *qp, *qp2;
	struct peer p1, p2, p3;
	struct rtcp_hdr h;
	const uint8_t *pl;
	uint32_t qpn;
	int r;

	tc_section = "second connection to a connected QP";
	printf("# %s\n", tc_section);
	qp = make_qp();
	if (!qp)
		return;
	qpn = qp->qp_num;
	if (!peer_open(&p1, qp)) {
		peer_close(&p1);
		ibv_destroy_qp(qp);
		return;
	}
	if (peer_open_raw(&p2, qpn, FAKE_QPN, qpn, true)) {
		fail("second connect");
		peer_close(&p2);
		peer_close(&p1);
		ibv_destroy_qp(qp);
		return;
	}
	r = peer_recv(&p2, &h, 500);
	check(r != RECV_FRAME, "the intruder gets no frame (%s)",
	      r == RECV_EOF ? "closed" : "left waiting");
	/* the intruder writes; the owner writes */
	write_to(&p2, win_rkey(), win_addr(20000), 64, 0, 0x55);
	pl = payload_of(64, 0x56);
	write_to(&p1, win_rkey(), win_addr(20480), 64, 0, 0x56);
	check(wait_landed(20480, pl, 64), "the owner's WRITE still lands");
	shadow_write(R_WIN, 20480, pl, 64);
	sleep_ms(200);
	check(qp_state(qp) == IBV_QPS_RTS, "QP still RTS (%s)",
	      state_str(qp_state(qp)));
	check_no_async();
	check_memory(NULL); /* the intruder's WRITE did not land */

	/* the owner leaves and the QP goes; the intruder stays connected */
	peer_close(&p1);
	wait_err(qp);
	check_async(qp, EV(IBV_EVENT_QP_FATAL));
	ibv_destroy_qp(qp);

	tc_section = "stale connection and a QP reusing the QPN";
	printf("# %s\n", tc_section);
	qp2 = make_qp();
	if (!qp2) {
		peer_close(&p2);
		return;
	}
	if (qp2->qp_num != qpn)
		note("new QP 0x%x does not reuse 0x%x: adoption not tested",
		     qp2->qp_num, qpn);
	else
		ok("new QP reuses QPN 0x%x", qpn);
	if (peer_open(&p3, qp2))
		ok("the new QP's own peer is accepted");
	r = peer_recv(&p2, &h, 300);
	check(r != RECV_FRAME,
	      "the stale connection is not adopted by the new QP (%s)",
	      r == RECV_FRAME ? "it got a frame"
	      : r == RECV_EOF ? "closed"
			      : "left waiting");
	sleep_ms(100);
	check(qp_state(qp2) == IBV_QPS_RTS, "new QP RTS (%s)",
	      state_str(qp_state(qp2)));
	check_memory(NULL); /* the stale WRITE never lands */
	peer_close(&p2);
	peer_close(&p3);
	wait_err(qp2);
	check_async(qp2, EV(IBV_EVENT_QP_FATAL));
	ibv_destroy_qp(qp2);
}

static struct ibv_mr *reg_region(struct ibv_pd *on, int r, int access)
{
	struct ibv_mr *m = ibv_reg_mr(on, reg[r].mem + PAD, reg[r].len, access);

	if (!m)
		fprintf(stderr, "ibv_reg_mr %s: %s\n", reg[r].name,
			strerror(errno));
	return m;
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : getenv("RDMA_TCP_DEV");
	struct ibv_device **list;
	int i, n;
	const int full = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;
	char gs[INET6_ADDRSTRLEN];

	if (!name || !*name)
		name = "tcp0";
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	tc_watchdog(WATCHDOG_S);

	list = ibv_get_device_list(&n);
	if (!list) {
		fprintf(stderr, "ibv_get_device_list: %s\n", strerror(errno));
		return 2;
	}
	for (i = 0; i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			break;
	if (i == n) {
		fprintf(stderr, "device %s not found\n", name);
		return 2;
	}
	ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!ctx || ibv_query_gid(ctx, 1, 0, &gid0)) {
		fprintf(stderr, "open %s / query GID 0: %s\n", name,
			strerror(errno));
		return 2;
	}
	inet_ntop(AF_INET6, gid0.raw, gs, sizeof(gs));
	printf("# device %s, GID 0 %s\n", name, gs);
	pd = ibv_alloc_pd(ctx);
	pd2 = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 256, NULL, NULL, 0);
	if (!pd || !pd2 || !cq) {
		fprintf(stderr, "PD/CQ: %s\n", strerror(errno));
		return 2;
	}
	if (region_alloc(R_WIN, "window (64 KiB, remote write/read/atomic)",
			 WIN) ||
	    region_alloc(R_RO, "region without REMOTE_WRITE", SMALL) ||
	    region_alloc(R_STALE, "deregistered region", SMALL) ||
	    region_alloc(R_FOREIGN, "region of another PD", SMALL) ||
	    region_alloc(R_BIG, "large region (1 MiB, remote write)", BIG)) {
		fprintf(stderr, "out of memory\n");
		return 2;
	}
	reg[R_WIN].mr = reg_region(pd, R_WIN, full);
	reg[R_RO].mr = reg_region(
		pd, R_RO, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ);
	reg[R_STALE].mr = reg_region(pd, R_STALE, full);
	reg[R_FOREIGN].mr = reg_region(pd2, R_FOREIGN, full);
	reg[R_BIG].mr = reg_region(pd, R_BIG, full);
	if (!reg[R_WIN].mr || !reg[R_RO].mr || !reg[R_STALE].mr ||
	    !reg[R_FOREIGN].mr || !reg[R_BIG].mr)
		return 2;
	stale_rkey = reg[R_STALE].mr->rkey;
	if (ibv_dereg_mr(reg[R_STALE].mr)) {
		fprintf(stderr, "ibv_dereg_mr: %s\n", strerror(errno));
		return 2;
	}
	reg[R_STALE].mr = NULL;

	control();
	ack_then_close();
	trickled_write();
	hello_cases();
	for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++)
		run_case(&cases[i]);
	hijack_case();

	tc_section = "teardown";
	for (i = 0; i < NREG; i++)
		if (reg[i].mr && ibv_dereg_mr(reg[i].mr))
			fail("ibv_dereg_mr %s: %s", reg[i].name,
			     strerror(errno));
	check(!ibv_destroy_cq(cq), "destroy CQ");
	check(!ibv_dealloc_pd(pd2) && !ibv_dealloc_pd(pd), "dealloc PDs");
	check(!ibv_close_device(ctx), "close device");
	for (i = 0; i < NREG; i++) {
		free(reg[i].mem);
		free(reg[i].shadow);
	}
	return tc_report();
}
