// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the rdma_cm control protocol of librdmacm-ext
 * (librdmacm-ext/cm_msg.c: rtcp_cm_want and rtcp_cm_parse, which the
 * background thread's conn_read runs on every byte of a CM connection;
 * rtcp_cm_body_decode, which on_req, on_rep and on_rej run on a message
 * body; rtcp_cm_encode, which cm_conn_send runs on every message sent).
 *
 * Layout of an input: 2 bytes of seed for the read sizes, then the
 * stream as it arrives on the CM socket.
 *
 * Checks, against a model written from cm_proto.h, not from cm_msg.c:
 *  1. Framing. The stream is read the way conn_read reads it: into a
 *     buffer of exactly RTCP_CM_MAX_MSG bytes (heap: ASan sees overruns),
 *     asking for rtcp_cm_want() bytes at a time (the socket gives fewer,
 *     sizes from the seed), until rtcp_cm_parse says WHOLE or BAD. The
 *     reader must never ask for 0 bytes (recv would return 0, read as
 *     EOF) nor for bytes past the message or the buffer, so each message
 *     is read alone and what follows stays in the socket. The messages
 *     it sees, and how the stream ends (clean, short, bad header), must
 *     be those of a linear walk over the stream by the model: header of
 *     magic "RTCM", version 2, type, body length <= RTCP_CM_MAX_BODY.
 *  2. Bodies. rtcp_cm_body_decode accepts exactly what the model allows:
 *     REQ, REP, REJ, SIDR_REQ, SIDR_REP of their fixed part plus
 *     pdata_len bytes with
 *     pdata_len within the type's private data limit (so the private data
 *     lies inside the message); RTU, DREQ, DREP empty; no other type.
 *     The decoded body holds the body's bytes and zeros past them.
 *  3. Round trip. A message re-encoded with rtcp_cm_encode from its
 *     decoded body is the same bytes; parsed and decoded again it gives
 *     the same type, length, verdict and body.
 *  4. The routing prefix (cm_route.c reads the first RTCP_ROUTE_LEN bytes
 *     of an accepted control connection): rtcp_route_decode accepts
 *     exactly magic "RTCR" and version 1; re-encoded, the prefix is the
 *     same bytes but the reserved one, which is 0.
 * Any violation calls abort().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail_at(const char *what, int line)
{
	fprintf(stderr, "fuzz_cm: invariant violated: %s (line %d)\n", what,
		line);
	abort();
}

#define CHECK(c)                               \
	do {                                   \
		if (!(c))                      \
			fail_at(#c, __LINE__); \
	} while (0)

#define MAX_MSGS 4096

enum end_kind { END_CLEAN, END_SHORT, END_BAD, END_LIMIT };

struct msg_ev {
	size_t off; /* stream offset of the header */
	uint8_t type;
	size_t len;
};

struct walk {
	struct msg_ev ev[MAX_MSGS];
	unsigned int n;
	enum end_kind end;
};

/* The model's reading of a header: body length, or -1 if bad. */
static long model_hdr(const uint8_t *h)
{
	uint32_t magic = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
			 (uint32_t)h[2] << 8 | h[3];
	long len = (long)h[6] << 8 | h[7];

	if (magic != 0x5254434du || h[4] != 2 || len > 228)
		return -1;
	return len;
}

static void walk_linear(const uint8_t *s, size_t n, struct walk *w)
{
	size_t pos = 0;
	long len;

	w->n = 0;
	for (;;) {
		if (pos == n) {
			w->end = END_CLEAN;
			return;
		}
		if (w->n == MAX_MSGS) {
			w->end = END_LIMIT;
			return;
		}
		if (n - pos < 8) {
			w->end = END_SHORT;
			return;
		}
		len = model_hdr(s + pos);
		if (len < 0) {
			w->end = END_BAD;
			return;
		}
		if (n - pos - 8 < (size_t)len) {
			w->end = END_SHORT;
			return;
		}
		w->ev[w->n].off = pos;
		w->ev[w->n].type = s[pos + 5];
		w->ev[w->n].len = (size_t)len;
		w->n++;
		pos += 8 + (size_t)len;
	}
}

/* The model's rules for a body. */
static bool model_body_ok(uint8_t type, const uint8_t *b, size_t len)
{
	size_t fixed, max;

	switch (type) {
	case 1: /* REQ: tos at byte 31 (any value), pdata_len at 32 */
		fixed = 33;
		max = 56;
		break;
	case 2: /* REP: pdata_len at byte 31 */
		fixed = 32;
		max = 196;
		break;
	case 3: /* REJ: pdata_len at byte 3 */
		fixed = 4;
		max = 196;
		break;
	case 7: /* SIDR_REQ: pdata_len at byte 19 */
		fixed = 20;
		max = 180;
		break;
	case 8: /* SIDR_REP: pdata_len at byte 27 */
		fixed = 28;
		max = 136;
		break;
	case 4:
	case 5:
	case 6:
		return len == 0;
	default:
		return false;
	}
	return len >= fixed && b[fixed - 1] <= max &&
	       len == fixed + b[fixed - 1];
}

static void check_body(uint8_t type, const uint8_t *body, size_t len)
{
	static uint8_t *out; /* one message, exactly: ASan sees overruns */
	union rtcp_cm_body b, b2;
	const uint8_t *bb = (const uint8_t *)&b;
	size_t i, out_len = RTCP_CM_HDR_LEN + len;
	bool ok = model_body_ok(type, body, len);
	uint8_t t2 = 0;
	size_t l2 = 0;
	int r;

	memset(&b, 0xa5, sizeof(b));
	r = rtcp_cm_body_decode(type, body, len, &b);
	CHECK(r == 0 || r == -1);
	CHECK((r == 0) == ok);
	for (i = 0; i < sizeof(b); i++)
		CHECK(bb[i] == (i < len ? body[i] : 0));
	if (ok) {
		/* the private data lies inside the message */
		switch (type) {
		case RTCP_CM_REQ:
			CHECK(b.req.pdata_len <= RTCP_CM_REQ_PDATA_MAX);
			CHECK(RTCP_CM_REQ_FIXED + b.req.pdata_len == len);
			break;
		case RTCP_CM_REP:
			CHECK(b.rep.pdata_len <= RTCP_CM_REP_PDATA_MAX);
			CHECK(RTCP_CM_REP_FIXED + b.rep.pdata_len == len);
			break;
		case RTCP_CM_REJ:
			CHECK(b.rej.pdata_len <= RTCP_CM_REJ_PDATA_MAX);
			CHECK(RTCP_CM_REJ_FIXED + b.rej.pdata_len == len);
			break;
		case RTCP_CM_SIDR_REQ:
			CHECK(b.sidr_req.pdata_len <=
			      RTCP_CM_SIDR_REQ_PDATA_MAX);
			CHECK(RTCP_CM_SIDR_REQ_FIXED + b.sidr_req.pdata_len ==
			      len);
			break;
		case RTCP_CM_SIDR_REP:
			CHECK(b.sidr_rep.pdata_len <=
			      RTCP_CM_SIDR_REP_PDATA_MAX);
			CHECK(RTCP_CM_SIDR_REP_FIXED + b.sidr_rep.pdata_len ==
			      len);
			break;
		default:
			CHECK(len == 0);
		}
	}

	/* 3. encode the decoded body as cm_conn_send does, parse, decode */
	free(out);
	out = malloc(out_len);
	if (!out)
		abort();
	rtcp_cm_encode(out, type, &b, len);
	CHECK(rtcp_cm_parse(out, out_len, &t2, &l2) == RTCP_CM_WHOLE);
	CHECK(t2 == type && l2 == len);
	CHECK(!memcmp(out + RTCP_CM_HDR_LEN, body, len));
	CHECK(model_hdr(out) == (long)len);
	memset(&b2, 0x5a, sizeof(b2));
	CHECK(rtcp_cm_body_decode(t2, out + RTCP_CM_HDR_LEN, l2, &b2) == r);
	CHECK(!memcmp(&b, &b2, sizeof(b)));
	/* a whole message ends the reading: nothing more to ask for */
	CHECK(rtcp_cm_want(out, out_len) == 0);
}

static uint32_t next_rng(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* conn_read's loop, over the stream in recv()-sized pieces */
static void walk_chunked(const uint8_t *s, size_t n, uint32_t seed,
			 struct walk *w)
{
	static uint8_t *in; /* conn->in: RTCP_CM_MAX_MSG bytes */
	size_t have = 0, pos = 0;

	if (!in) {
		in = malloc(RTCP_CM_MAX_MSG);
		if (!in)
			abort();
	}
	w->n = 0;
	for (;;) {
		size_t want, k, body = 0;
		uint8_t type = 0;
		int r;

		if (w->n == MAX_MSGS) {
			w->end = END_LIMIT;
			return;
		}
		want = rtcp_cm_want(in, have);
		CHECK(want > 0);
		CHECK(have + want <= RTCP_CM_MAX_MSG);
		/* never past the message being read */
		if (have >= RTCP_CM_HDR_LEN)
			CHECK(have + want ==
			      RTCP_CM_HDR_LEN + ((size_t)in[6] << 8 | in[7]));
		else
			CHECK(have + want == RTCP_CM_HDR_LEN);
		k = next_rng(&seed) % 3 ? next_rng(&seed) % 16 + 1 : want;
		if (k > want)
			k = want;
		if (k > n - pos)
			k = n - pos;
		if (!k) {
			w->end = have || pos < n ? END_SHORT : END_CLEAN;
			return;
		}
		memcpy(in + have, s + pos, k);
		have += k;
		pos += k;
		r = rtcp_cm_parse(in, have, &type, &body);
		if (r == RTCP_CM_MORE)
			continue;
		if (r == RTCP_CM_BAD) {
			CHECK(have >= RTCP_CM_HDR_LEN);
			CHECK(model_hdr(in) < 0);
			w->end = END_BAD;
			return;
		}
		CHECK(r == RTCP_CM_WHOLE);
		CHECK(have == RTCP_CM_HDR_LEN + body);
		CHECK(type == in[5]);
		w->ev[w->n].off = pos - have;
		w->ev[w->n].type = type;
		w->ev[w->n].len = body;
		w->n++;
		check_body(type, in + RTCP_CM_HDR_LEN, body);
		have = 0;
	}
}

static void check_route(const uint8_t *p, size_t len)
{
	uint8_t out[RTCP_ROUTE_LEN];
	struct rtcp_route r;
	bool model;

	if (len < RTCP_ROUTE_LEN)
		return;
	model = !memcmp(p, "RTCR", 4) && p[4] == 1;
	CHECK((rtcp_route_decode(p, &r) == 0) == model);
	if (!model)
		return;
	rtcp_route_encode(out, &r);
	CHECK(!memcmp(out, p, 5) && out[5] == 0 && !memcmp(out + 6, p + 6, 6));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct walk a, b; /* large: off the stack */
	unsigned int i;

	if (size < 2)
		return 0;
	check_route(data + 2, size - 2);
	walk_linear(data + 2, size - 2, &a);
	walk_chunked(data + 2, size - 2, (uint32_t)data[0] << 8 | data[1], &b);
	CHECK(a.end == b.end);
	CHECK(a.n == b.n);
	for (i = 0; i < a.n; i++) {
		CHECK(a.ev[i].off == b.ev[i].off);
		CHECK(a.ev[i].type == b.ev[i].type);
		CHECK(a.ev[i].len == b.ev[i].len);
	}
	/* 2 + 3 also on the raw input as one body of each type */
	if (size - 2 <= RTCP_CM_MAX_BODY)
		check_body(data[0], data + 2, size - 2);
	return 0;
}
