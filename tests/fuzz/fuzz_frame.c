// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the frame codec (providers/tcp/wire.c, <rdma_tcp/wire.h>).
 *
 * LLVMFuzzerTestOneInput(data, size) checks, for any input:
 *
 *  1. Header round trip. At up to MAX_OFFSETS byte offsets, 64 bytes are
 *     decoded; re-encoding gives the same bytes except hlen (the encoder
 *     always writes RTCP_HDR_LEN), and decoding the re-encoded bytes gives
 *     the same fields. A header whose hlen is RTCP_HDR_LEN round-trips
 *     byte for byte.
 *  2. Validation agrees with an independent model of the rules in wire.h
 *     and docs/design.md: rtcp_hdr_validate() returns RTCP_OK exactly when no
 *     rule is broken, and otherwise one of the rules that is broken.
 *  3. Hello round trip: rtcp_hello_decode() accepts exactly the records
 *     with the right magic and version, and an accepted record re-encodes
 *     to the same 32 bytes.
 *  4. The receiver's framing loop (tcp_qp_rx in providers/tcp/qp_rx.c),
 *     modelled twice over the same stream: once linearly over the whole
 *     buffer, once the way the provider reads it, through a small staging
 *     buffer fed by recv()-sized chunks whose sizes come from the input,
 *     payload bytes that arrived with a header copied out of the staging
 *     buffer and the rest "read" straight into the sink. Both must see the
 *     same frames at the same stream offsets and end the same way, the
 *     stream offset must always equal the expected sseq, and an accepted
 *     frame can never claim more than max_msg bytes, nor payload for a
 *     header-only opcode. Every payload byte is delivered exactly once and
 *     is the byte at that offset of the stream.
 *
 * Layout of an input: a 4-byte control prefix, then the stream.
 *   ctl[0] bit 0: rewrite each header's sseq to the expected value before
 *                 validation (so mutated streams get past the sequence
 *                 check and exercise lengths and opcodes)
 *          bit 1: rewrite hlen to RTCP_HDR_LEN
 *          bit 2: clear unknown flags
 *          bit 3: the stream starts with a 32-byte hello
 *   ctl[1]: max message size selector
 *   ctl[2..3]: seed of the chunk sizes of the chunked model
 * Any violated invariant calls abort().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rdma_tcp/wire.h>

#include "fuzz_frame.h"

#define MAX_OFFSETS 256
#define MAX_FRAMES  4096
#define STAGE_LEN   512 /* staging buffer of the chunked model (>= 64) */

static void fail_at(const char *what, int line)
{
	fprintf(stderr, "fuzz_frame: invariant violated: %s (line %d)\n", what,
		line);
	abort();
}

#define CHECK(c)                               \
	do {                                   \
		if (!(c))                      \
			fail_at(#c, __LINE__); \
	} while (0)

static uint64_t rd_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Fields straight from the bytes, independent of wire.c's decoder. */
static void check_fields(const uint8_t *b, const struct rtcp_hdr *h)
{
	uint32_t imm;

	memcpy(&imm, b + RTCP_OFF_IMM, 4);
	CHECK(h->opcode == b[RTCP_OFF_OPCODE]);
	CHECK(h->flags == b[RTCP_OFF_FLAGS]);
	CHECK(h->hlen == rd_be(b + RTCP_OFF_HLEN, 2));
	CHECK(h->spi == rd_be(b + RTCP_OFF_SPI, 4));
	CHECK(h->msn == rd_be(b + RTCP_OFF_MSN, 4));
	CHECK(h->ack_msn == rd_be(b + RTCP_OFF_ACK_MSN, 4));
	CHECK(h->credits == rd_be(b + RTCP_OFF_CREDITS, 4));
	CHECK(h->rkey == rd_be(b + RTCP_OFF_RKEY, 4));
	CHECK(h->raddr == rd_be(b + RTCP_OFF_RADDR, 8));
	CHECK(h->sseq == rd_be(b + RTCP_OFF_SSEQ, 8));
	CHECK(h->len == rd_be(b + RTCP_OFF_LEN, 4));
	CHECK(h->imm == imm); /* opaque: as on the wire */
	CHECK(h->aux0 == rd_be(b + RTCP_OFF_AUX0, 8));
	CHECK(h->aux1 == rd_be(b + RTCP_OFF_AUX1, 8));
}

static bool hdr_equal(const struct rtcp_hdr *a, const struct rtcp_hdr *b)
{
	return a->opcode == b->opcode && a->flags == b->flags &&
	       a->hlen == b->hlen && a->spi == b->spi && a->msn == b->msn &&
	       a->ack_msn == b->ack_msn && a->credits == b->credits &&
	       a->rkey == b->rkey && a->raddr == b->raddr &&
	       a->sseq == b->sseq && a->len == b->len && a->imm == b->imm &&
	       a->aux0 == b->aux0 && a->aux1 == b->aux1;
}

/* 1. decode -> encode -> decode */
static void check_roundtrip(const uint8_t *b)
{
	struct rtcp_hdr h, h2;
	uint8_t out[RTCP_HDR_LEN];

	memset(&h, 0xa5, sizeof(h)); /* no field may keep stale bytes */
	rtcp_hdr_decode(b, &h);
	check_fields(b, &h);
	memset(out, 0x5a, sizeof(out));
	rtcp_hdr_encode(&h, out);
	CHECK(rd_be(out + RTCP_OFF_HLEN, 2) == RTCP_HDR_LEN);
	/* everything but hlen as it came */
	CHECK(!memcmp(out, b, RTCP_OFF_HLEN));
	CHECK(!memcmp(out + RTCP_OFF_SPI, b + RTCP_OFF_SPI,
		      RTCP_HDR_LEN - RTCP_OFF_SPI));
	if (h.hlen == RTCP_HDR_LEN)
		CHECK(!memcmp(out, b, RTCP_HDR_LEN));
	memset(&h2, 0x3c, sizeof(h2));
	rtcp_hdr_decode(out, &h2);
	h.hlen = RTCP_HDR_LEN;
	CHECK(hdr_equal(&h, &h2));
}

/* 2. the rules, written down independently of wire.c */
#define V(e) (1u << (e))

/*
 * The flags a receiver understands, listed one by one: a flag added to
 * wire.h must be added here too (and to the fuzzing below), on purpose.
 */
#define MODEL_FLAGS                                                          \
	(RTCP_F_SOLICITED | RTCP_F_NO_CREDIT | RTCP_F_ACK_REQ | RTCP_F_RNR | \
	 RTCP_F_MORE)
_Static_assert(MODEL_FLAGS == RTCP_F_KNOWN,
	       "wire.h has a new header flag: teach fuzz_frame.c about it");

static unsigned int violations(const struct rtcp_hdr *h, uint64_t expect,
			       uint32_t max_msg)
{
	unsigned int v = 0;
	bool known = h->opcode >= RTCP_OP_SEND && h->opcode <= RTCP_OP_MAX;

	if (!known)
		v |= V(RTCP_EBADOP);
	if (h->hlen != RTCP_HDR_LEN)
		v |= V(RTCP_EBADHLEN);
	if (h->flags & ~MODEL_FLAGS)
		v |= V(RTCP_EBADFLAGS);
	if (h->sseq != expect)
		v |= V(RTCP_EBADSEQ);
	if (!known)
		return v; /* no length rule for an unknown opcode */
	switch (h->opcode) {
	case RTCP_OP_SEND:
	case RTCP_OP_SEND_IMM:
	case RTCP_OP_SEND_INV:
	case RTCP_OP_WRITE:
	case RTCP_OP_WRITE_IMM:
	case RTCP_OP_READ_RESP:
		if (h->len > max_msg)
			v |= V(RTCP_EBADLEN);
		break;
	case RTCP_OP_READ_REQ: /* asks for aux0 bytes, carries none */
		if (h->len || h->aux0 > max_msg)
			v |= V(RTCP_EBADLEN);
		break;
	case RTCP_OP_REKEY: /* the sender's new receive SA */
		if (h->len != RTCP_REKEY_LEN)
			v |= V(RTCP_EBADLEN);
		break;
	default: /* atomics, ATOMIC_RESP, ACK, TERMINATE: header only */
		if (h->len)
			v |= V(RTCP_EBADLEN);
	}
	return v;
}

static int validate_checked(const struct rtcp_hdr *h, uint64_t expect,
			    uint32_t max_msg)
{
	unsigned int v = violations(h, expect, max_msg);
	int r = rtcp_hdr_validate(h, expect, max_msg);

	if (!v) {
		CHECK(r == RTCP_OK);
	} else {
		CHECK(r > RTCP_OK && r <= RTCP_EBADSEQ);
		CHECK(v & V(r)); /* the reason given is a real one */
	}
	return r;
}

static bool header_only(uint8_t op)
{
	return op != RTCP_OP_SEND && op != RTCP_OP_SEND_IMM &&
	       op != RTCP_OP_SEND_INV && op != RTCP_OP_WRITE &&
	       op != RTCP_OP_WRITE_IMM && op != RTCP_OP_READ_RESP;
}

/* 3. hello */
static bool check_hello(const uint8_t *b)
{
	struct rtcp_hello h;
	uint8_t out[RTCP_HELLO_LEN];
	bool good = rd_be(b + RTCP_HELLO_OFF_MAGIC, 4) == RTCP_HELLO_MAGIC &&
		    rd_be(b + RTCP_HELLO_OFF_VERSION, 2) == RTCP_VERSION;
	int r;

	memset(&h, 0xa5, sizeof(h));
	r = rtcp_hello_decode(b, &h);
	CHECK((r == 0) == good);
	CHECK(h.magic == rd_be(b + RTCP_HELLO_OFF_MAGIC, 4));
	CHECK(h.version == rd_be(b + RTCP_HELLO_OFF_VERSION, 2));
	CHECK(h.flags == rd_be(b + RTCP_HELLO_OFF_FLAGS, 2));
	CHECK(h.src_qpn == rd_be(b + RTCP_HELLO_OFF_SRC_QPN, 4));
	CHECK(h.dst_qpn == rd_be(b + RTCP_HELLO_OFF_DST_QPN, 4));
	CHECK(!memcmp(h.src_gid, b + RTCP_HELLO_OFF_SRC_GID, 16));
	memset(out, 0x5a, sizeof(out));
	rtcp_hello_encode(&h, out);
	/* the encoder always writes the current magic and version */
	CHECK(rd_be(out + RTCP_HELLO_OFF_MAGIC, 4) == RTCP_HELLO_MAGIC);
	CHECK(rd_be(out + RTCP_HELLO_OFF_VERSION, 2) == RTCP_VERSION);
	CHECK(!memcmp(out + RTCP_HELLO_OFF_FLAGS, b + RTCP_HELLO_OFF_FLAGS,
		      RTCP_HELLO_LEN - RTCP_HELLO_OFF_FLAGS));
	if (good)
		CHECK(!memcmp(out, b, RTCP_HELLO_LEN));
	return good;
}

/* 4. the receiver's framing loop */
enum end_kind {
	END_CLEAN = FUZZ_END_CLEAN, /* stream ended on a frame boundary */
	END_SHORT_HDR = FUZZ_END_SHORT_HDR,	    /* ended inside a header */
	END_SHORT_PAYLOAD = FUZZ_END_SHORT_PAYLOAD, /* inside a payload */
	END_BAD = FUZZ_END_BAD,	    /* a header failed validation: QP error */
	END_LIMIT = FUZZ_END_LIMIT, /* model's frame budget spent */
};

struct frame_ev {
	uint64_t off; /* stream offset of the header */
	uint8_t opcode;
	uint32_t len;
};

struct parse {
	struct frame_ev ev[MAX_FRAMES];
	unsigned int n;
	enum end_kind end;
	int err;		/* END_BAD: validate's result */
	uint64_t seq;		/* stream offset reached (bytes consumed) */
	uint64_t payload_bytes; /* payload delivered */
};

struct ctl {
	bool fix_sseq, fix_hlen, fix_flags;
	uint32_t max_msg;
};

/*
 * The stream is writable: the fix-ups patch headers in place, exactly as
 * the bytes would have arrived had the sender written them so. Both models
 * see the same fixed-up bytes because the linear one runs first and does the
 * patching; the chunked one then reads the patched stream.
 */
static void fixup(const struct ctl *c, uint8_t *hb, uint64_t expect)
{
	int i;

	if (c->fix_sseq)
		for (i = 0; i < 8; i++)
			hb[RTCP_OFF_SSEQ + i] =
				(uint8_t)(expect >> (56 - 8 * i));
	if (c->fix_hlen) {
		hb[RTCP_OFF_HLEN] = 0;
		hb[RTCP_OFF_HLEN + 1] = RTCP_HDR_LEN;
	}
	if (c->fix_flags)
		hb[RTCP_OFF_FLAGS] &= RTCP_F_KNOWN;
}

/* Bookkeeping shared by both models once a header is accepted. */
static void accept_frame(struct parse *p, const struct rtcp_hdr *h,
			 uint64_t hdr_off, uint32_t max_msg)
{
	CHECK(h->sseq == hdr_off + RTCP_HDR_LEN);
	CHECK(h->opcode >= RTCP_OP_SEND && h->opcode <= RTCP_OP_MAX);
	CHECK(h->hlen == RTCP_HDR_LEN);
	CHECK(!(h->flags & ~RTCP_F_KNOWN));
	CHECK(h->len <= max_msg);
	if (header_only(h->opcode))
		CHECK(h->len == 0);
	if (h->opcode == RTCP_OP_READ_REQ)
		CHECK(h->aux0 <= max_msg);
	p->ev[p->n].off = hdr_off;
	p->ev[p->n].opcode = h->opcode;
	p->ev[p->n].len = h->len;
	p->n++;
}

static void parse_linear(const struct ctl *c, uint8_t *s, size_t n,
			 struct parse *p)
{
	uint64_t pos = 0;

	p->n = 0;
	p->payload_bytes = 0;
	for (;;) {
		struct rtcp_hdr h;
		uint64_t left;
		int r;

		if (pos == n) {
			p->end = END_CLEAN;
			break;
		}
		if (p->n == MAX_FRAMES) {
			p->end = END_LIMIT;
			break;
		}
		if (n - pos < RTCP_HDR_LEN) {
			p->end = END_SHORT_HDR;
			break;
		}
		fixup(c, s + pos, pos + RTCP_HDR_LEN);
		rtcp_hdr_decode(s + pos, &h);
		r = validate_checked(&h, pos + RTCP_HDR_LEN, c->max_msg);
		if (r) {
			p->end = END_BAD;
			p->err = r;
			break;
		}
		accept_frame(p, &h, pos, c->max_msg);
		pos += RTCP_HDR_LEN;
		left = n - pos;
		if (h.len > left) {
			p->payload_bytes += left;
			pos = n;
			p->end = END_SHORT_PAYLOAD;
			break;
		}
		p->payload_bytes += h.len;
		pos += h.len;
	}
	p->seq = pos;
}

/* recv() of the chunked model: next chunk size from a small PRNG */
struct feeder {
	const uint8_t *s;
	size_t n, pos;
	uint32_t rng;
};

static size_t feed(struct feeder *f, uint8_t *dst, size_t room)
{
	size_t k;

	f->rng = f->rng * 1103515245u + 12345u;
	/* mostly small chunks so headers straddle reads, sometimes large */
	k = (f->rng >> 16) & 0x100 ? (f->rng >> 8) % 200 + 1
				   : (f->rng >> 8) % 4096 + 1;
	if (k > room)
		k = room;
	if (k > f->n - f->pos)
		k = f->n - f->pos;
	if (!k)
		return 0;
	memcpy(dst, f->s + f->pos, k);
	f->pos += k;
	return k;
}

/*
 * The provider's loop: headers through the staging buffer; payload first
 * from what is left in the staging buffer, then straight from the socket
 * into the target (here: compared against the stream at that offset).
 */
static void parse_chunked(const struct ctl *c, const uint8_t *s, size_t n,
			  uint16_t seed, struct parse *p)
{
	uint8_t stage[STAGE_LEN];
	uint32_t st = 0, en = 0; /* staged bytes: stage[st, en) */
	uint64_t rx_seq = 0;
	struct feeder f = { .s = s, .n = n, .rng = seed | 1u };

	p->n = 0;
	p->payload_bytes = 0;
	for (;;) {
		struct rtcp_hdr h;
		uint64_t left;
		int r;

		CHECK(st <= en && en <= STAGE_LEN);
		/* bytes consumed + staged = bytes read from the "socket" */
		CHECK(rx_seq + (en - st) == f.pos);
		if (en - st < RTCP_HDR_LEN) {
			size_t k;

			memmove(stage, stage + st, en - st);
			en -= st;
			st = 0;
			k = feed(&f, stage + en, STAGE_LEN - en);
			if (k) {
				en += k;
				continue;
			}
			/* EOF */
			p->end = en ? END_SHORT_HDR : END_CLEAN;
			break;
		}
		if (p->n == MAX_FRAMES) {
			p->end = END_LIMIT;
			break;
		}
		rtcp_hdr_decode(stage + st, &h);
		CHECK(!memcmp(stage + st, s + rx_seq, RTCP_HDR_LEN));
		r = rtcp_hdr_validate(&h, rx_seq + RTCP_HDR_LEN, c->max_msg);
		if (r) {
			p->end = END_BAD;
			p->err = r;
			break;
		}
		accept_frame(p, &h, rx_seq, c->max_msg);
		st += RTCP_HDR_LEN;
		rx_seq += RTCP_HDR_LEN;
		left = h.len;
		/* staged bytes first */
		if (left && en > st) {
			uint32_t k = en - st < left ? en - st : (uint32_t)left;

			CHECK(!memcmp(stage + st, s + rx_seq, k));
			st += k;
			rx_seq += k;
			left -= k;
			p->payload_bytes += k;
		}
		/* then "readv" into the target: never more than the frame */
		while (left) {
			size_t avail = f.n - f.pos, k;

			if (!avail)
				break;
			f.rng = f.rng * 1103515245u + 12345u;
			k = (f.rng >> 8) % 65536 + 1;
			if (k > left)
				k = left;
			if (k > avail)
				k = avail;
			f.pos += k;
			rx_seq += k;
			left -= k;
			p->payload_bytes += k;
		}
		if (left) {
			p->end = END_SHORT_PAYLOAD;
			break;
		}
	}
	p->seq = rx_seq;
}

static int check_framing(const struct ctl *c, uint8_t *s, size_t n,
			 uint16_t seed)
{
	static struct parse a, b; /* large: keep them off the stack */
	unsigned int i;

	parse_linear(c, s, n, &a);
	parse_chunked(c, s, n, seed, &b);
	CHECK(a.end == b.end);
	CHECK(a.n == b.n);
	CHECK(a.seq == b.seq);
	CHECK(a.payload_bytes == b.payload_bytes);
	if (a.end == END_BAD)
		CHECK(a.err == b.err);
	for (i = 0; i < a.n; i++) {
		CHECK(a.ev[i].off == b.ev[i].off);
		CHECK(a.ev[i].opcode == b.ev[i].opcode);
		CHECK(a.ev[i].len == b.ev[i].len);
		/* frames tile the stream: each starts where the last ended */
		if (i)
			CHECK(a.ev[i].off ==
			      a.ev[i - 1].off + RTCP_HDR_LEN + a.ev[i - 1].len);
		else
			CHECK(a.ev[i].off == 0);
	}
	CHECK(a.seq <= n);
	/* consumed = headers accepted + payload delivered, nothing else */
	CHECK(a.seq == a.n * (uint64_t)RTCP_HDR_LEN + a.payload_bytes);
	if (a.end == END_CLEAN)
		CHECK(a.seq == n);
	return a.end;
}

static const uint32_t max_msgs[8] = {
	0, 1, 63, 4096, 65536, 1u << 30, 1u << 31, UINT32_MAX,
};

int fuzz_frame_run(const uint8_t *data, size_t size)
{
	static uint8_t *copy;
	static size_t copy_cap;
	struct ctl c;
	const uint8_t *s;
	size_t n, i, step;
	uint16_t seed;

	/* 1 + 2 at many offsets of the raw input */
	if (size >= RTCP_HDR_LEN) {
		step = (size - RTCP_HDR_LEN) / MAX_OFFSETS + 1;
		for (i = 0; i + RTCP_HDR_LEN <= size; i += step) {
			struct rtcp_hdr h;
			uint32_t m = max_msgs[data[i] & 7];

			check_roundtrip(data + i);
			rtcp_hdr_decode(data + i, &h);
			validate_checked(&h, h.sseq, m);
			validate_checked(&h, h.sseq + 1, m);
			validate_checked(&h, 0, m);
			validate_checked(&h, UINT64_MAX, m);
			validate_checked(&h, h.sseq, h.len);
			validate_checked(&h, h.sseq, h.len ? h.len - 1 : 0);
			validate_checked(&h, h.sseq, (uint32_t)h.aux0);
		}
	}
	if (size < 4)
		return -1;

	c.fix_sseq = data[0] & 1;
	c.fix_hlen = data[0] & 2;
	c.fix_flags = data[0] & 4;
	c.max_msg = max_msgs[data[1] & 7];
	seed = (uint16_t)(data[2] << 8 | data[3]);
	s = data + 4;
	n = size - 4;

	/* 3: a hello first, as the accepting side reads it */
	if (data[0] & 8) {
		if (n < RTCP_HELLO_LEN)
			return -1;
		if (!check_hello(s))
			return -1; /* rejected: the connection is closed */
		s += RTCP_HELLO_LEN;
		n -= RTCP_HELLO_LEN;
	} else if (n >= RTCP_HELLO_LEN) {
		check_hello(s);
	}

	/* 4: the fix-ups write into a private copy */
	if (n > copy_cap || !copy) {
		free(copy);
		copy = malloc(n ? n : 1); /* never NULL: NULL + 0 is UB too */
		if (!copy) {
			copy_cap = 0;
			return -1;
		}
		copy_cap = n;
	}
	if (n)
		memcpy(copy, s, n);
	return check_framing(&c, copy, n, seed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_frame_run(data, size);
	return 0;
}
