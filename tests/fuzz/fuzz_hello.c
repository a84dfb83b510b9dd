// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the accepting side's handling of a hello
 * (providers/tcp/hello.c, tcp_hello_judge, which conn.c's
 * pending_try_bind calls on the first 32 bytes of every accepted
 * connection).
 *
 * An input describes what the listener knows, then a sequence of
 * connections, each a 32-byte hello and the peer's address:
 *
 *   byte 0          number of QPs behind the listener: (b & 3) + 1
 *   per QP, 25 bytes:
 *     flags         bit 0 failed, bit 1 before RTR, bit 2 busy
 *     qpn           4 bytes, big-endian: the number a hello must name
 *     dest_qpn      4 bytes: the remote QPN the QP was given
 *     dgid          16 bytes: the remote GID it was given
 *   per connection, 49 bytes (a shorter tail is one more hello, zero
 *   padded, so every input is judged at least once):
 *     hello         32 bytes, as the peer sent them
 *     peer          1 byte: bit 0 the address is unknown (getpeername
 *                   failed), bit 1 the peer's address is the dgid of the
 *                   QP the hello names (else the next 16 bytes)
 *     address       16 bytes
 *
 * Checks, against a model written from the rules in docs/design.md and
 * hello.h, not from hello.c:
 *  - the verdict is BIND exactly when magic and version are right, a QP
 *    has the number the hello names, it is neither failed, before RTR nor
 *    busy, it was given the hello's source QPN as its remote QPN, and the
 *    peer's address is known and equal to its remote GID; WAIT exactly
 *    when such a QP exists, is not failed and is before RTR; else REJECT;
 *  - the listener is asked about at most one QP, and only the one the
 *    hello's dst_qpn names, only once magic and version are right; the
 *    peer's address is asked for at most once, and only when everything
 *    else passed;
 *  - a QP binds at most once: a bound QP is busy for later hellos, as
 *    bind_socket makes it (qp->conn.fd set);
 *  - the hello's bytes are read within their 32 bytes (a heap copy of
 *    exactly that size: ASan) and never written.
 * Any violation calls abort().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hello.h"

#define MAX_QPS	 4
#define QP_LEN	 25
#define CONN_LEN (RTCP_HELLO_LEN + 1 + 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail_at(const char *what, int line)
{
	fprintf(stderr, "fuzz_hello: invariant violated: %s (line %d)\n", what,
		line);
	abort();
}

#define CHECK(c)                               \
	do {                                   \
		if (!(c))                      \
			fail_at(#c, __LINE__); \
	} while (0)

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* magic and version right, read from the bytes (not by wire.c) */
static bool hello_ok(const uint8_t *b)
{
	const uint8_t *v = b + RTCP_HELLO_OFF_VERSION;

	return be32(b + RTCP_HELLO_OFF_MAGIC) == RTCP_HELLO_MAGIC &&
	       (v[0] << 8 | v[1]) == RTCP_VERSION;
}

struct model_qp {
	uint32_t qpn;
	bool failed, before_rtr, busy;
	uint32_t dest_qpn;
	uint8_t dgid[16];
};

struct world {
	struct model_qp qp[MAX_QPS];
	int nqp;
	/* the connection being judged */
	const uint8_t *hello;
	bool peer_known;
	uint8_t peer[16];
	bool peer_is_dgid;
	/* what the judge asked */
	int lookups, peers;
	uint32_t asked_qpn;
	struct model_qp *found;
};

/* The listener's table: first QP with that number (numbers may repeat in
 * an input; the provider's are unique, the first one stands). */
static struct model_qp *find(struct world *w, uint32_t qpn)
{
	int i;

	for (i = 0; i < w->nqp; i++)
		if (w->qp[i].qpn == qpn)
			return &w->qp[i];
	return NULL;
}

static bool lookup(void *arg, uint32_t qpn, struct tcp_hello_qp *q)
{
	struct world *w = arg;
	struct model_qp *m;

	w->lookups++;
	CHECK(w->lookups == 1);
	w->asked_qpn = qpn;
	m = find(w, qpn);
	w->found = m;
	if (!m)
		return false;
	memset(q, 0xa5, sizeof(*q)); /* no field may be left unset */
	q->failed = m->failed;
	q->before_rtr = m->before_rtr;
	q->busy = m->busy;
	q->dest_qpn = m->dest_qpn;
	memcpy(q->dgid, m->dgid, 16);
	return true;
}

static bool peer(void *arg, uint8_t gid[16])
{
	struct world *w = arg;

	w->peers++;
	CHECK(w->peers == 1);
	CHECK(w->lookups == 1 && w->found);
	if (!w->peer_known)
		return false;
	memcpy(gid, w->peer_is_dgid ? w->found->dgid : w->peer, 16);
	return true;
}

/* The rules, from the bytes. */
static enum tcp_hello_verdict expect(struct world *w)
{
	const uint8_t *b = w->hello;
	struct model_qp *m;
	const uint8_t *addr;

	if (!hello_ok(b))
		return TCP_HELLO_REJECT;
	m = find(w, be32(b + RTCP_HELLO_OFF_DST_QPN));
	if (!m || m->failed)
		return TCP_HELLO_REJECT;
	if (m->before_rtr)
		return TCP_HELLO_WAIT;
	if (m->busy || m->dest_qpn != be32(b + RTCP_HELLO_OFF_SRC_QPN) ||
	    !w->peer_known)
		return TCP_HELLO_REJECT;
	addr = w->peer_is_dgid ? m->dgid : w->peer;
	return memcmp(addr, m->dgid, 16) ? TCP_HELLO_REJECT : TCP_HELLO_BIND;
}

static void judge_one(struct world *w, const uint8_t *rec)
{
	static uint8_t *hello; /* exactly RTCP_HELLO_LEN: ASan sees overreads */
	uint8_t saved[RTCP_HELLO_LEN];
	struct tcp_hello_env env = { .lookup = lookup, .peer = peer, .arg = w };
	enum tcp_hello_verdict v, want;
	bool good_magic;

	if (!hello) {
		hello = malloc(RTCP_HELLO_LEN);
		if (!hello)
			abort();
	}
	memcpy(hello, rec, RTCP_HELLO_LEN);
	memcpy(saved, rec, RTCP_HELLO_LEN);
	w->hello = saved;
	w->peer_known = !(rec[RTCP_HELLO_LEN] & 1);
	w->peer_is_dgid = rec[RTCP_HELLO_LEN] & 2;
	memcpy(w->peer, rec + RTCP_HELLO_LEN + 1, 16);
	w->lookups = w->peers = 0;
	w->found = NULL;

	want = expect(w);
	v = tcp_hello_judge(hello, &env);
	CHECK(!memcmp(hello, saved, RTCP_HELLO_LEN));
	CHECK(v == TCP_HELLO_REJECT || v == TCP_HELLO_WAIT ||
	      v == TCP_HELLO_BIND);
	CHECK(v == want);

	good_magic = hello_ok(saved);
	CHECK(w->lookups == (good_magic ? 1 : 0));
	if (w->lookups)
		CHECK(w->asked_qpn == be32(saved + RTCP_HELLO_OFF_DST_QPN));
	/* the peer's address only for a hello that passed all else */
	if (w->peers)
		CHECK(w->found && !w->found->failed && !w->found->before_rtr &&
		      !w->found->busy &&
		      w->found->dest_qpn ==
			      be32(saved + RTCP_HELLO_OFF_SRC_QPN));
	if (v == TCP_HELLO_BIND) {
		CHECK(w->peers == 1 && w->found);
		w->found->busy = true; /* bind_socket: qp->conn.fd is set */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct world w;
	uint8_t rec[CONN_LEN];
	size_t pos;
	int i;

	if (!size)
		return 0;
	memset(&w, 0, sizeof(w));
	w.nqp = (data[0] & 3) + 1;
	pos = 1;
	for (i = 0; i < w.nqp; i++) {
		uint8_t q[QP_LEN] = { 0 };
		size_t k = size - pos < QP_LEN ? size - pos : QP_LEN;

		memcpy(q, data + pos, k);
		pos += k;
		w.qp[i].failed = q[0] & 1;
		w.qp[i].before_rtr = q[0] & 2;
		w.qp[i].busy = q[0] & 4;
		w.qp[i].qpn = be32(q + 1);
		w.qp[i].dest_qpn = be32(q + 5);
		memcpy(w.qp[i].dgid, q + 9, 16);
	}
	do {
		size_t k = size - pos < CONN_LEN ? size - pos : CONN_LEN;

		memset(rec, 0, sizeof(rec));
		memcpy(rec, data + pos, k);
		pos += k;
		judge_one(&w, rec);
	} while (pos < size);
	return 0;
}
