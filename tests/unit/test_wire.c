// SPDX-License-Identifier: MIT
/*
 * Unit tests of the wire codec (include/rdma_tcp/wire.h): byte layout in
 * network order, round trips, and the validation of every header field a
 * hostile peer controls; the UD datagram header likewise, with every reason
 * rtcp_ud_decode drops a datagram and its exact-length rule.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rdma_tcp/wire.h>

#include "check.h"

static struct rtcp_hdr sample(void)
{
	struct rtcp_hdr h = {
		.opcode = RTCP_OP_WRITE,
		.flags = RTCP_F_SOLICITED,
		.spi = 0x01020304,
		.msn = 0x11121314,
		.ack_msn = 0x21222324,
		.credits = 0x31323334,
		.rkey = 0x41424344,
		.raddr = 0x5152535455565758ull,
		.sseq = 64,
		.len = 4096,
		.imm = 0xa1a2a3a4,
		.aux0 = 0x6162636465666768ull,
		.aux1 = 0x7172737475767778ull,
	};
	return h;
}

static struct rtcp_ud_hdr ud_sample(void)
{
	struct rtcp_ud_hdr h = {
		.opcode = RTCP_UD_SEND_IMM,
		.dst_qpn = 0x00a1b2c3,
		.src_qpn = 0x00d4e5f6,
		.qkey = 0x11223344,
		.len = 1000,
		.flags = RTCP_UD_F_SOLICITED,
	};

	memcpy(&h.imm, "\xa1\xa2\xa3\xa4", 4); /* opaque: the sender's bytes */
	return h;
}

/*
 * Decodes @len bytes of @wire from a buffer of exactly that size, so that
 * an ASan build catches a read past the datagram's end.
 */
static int ud_decode_exact(const uint8_t *wire, size_t len, uint32_t mtu,
			   struct rtcp_ud_hdr *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	int r;

	if (!copy)
		abort();
	memcpy(copy, wire, len);
	r = rtcp_ud_decode(copy, len, mtu, out);
	free(copy);
	return r;
}

/* The encoded header: fields big-endian at wire.h's offsets. */
static void ud_layout(void)
{
	struct rtcp_ud_hdr h = ud_sample(), d;
	uint8_t b[RTCP_UD_HDR_LEN];

	h.mode = 2;
	h.alg = 1;
	h.sid = 0x0102030405060708ull;
	h.seq = 0x1112131415161718ull;
	memset(b, 0x5a, sizeof(b));
	rtcp_ud_encode(&h, b);
	CHECK(b[0] == 0x52 && b[1] == 0x54 && b[2] == 0x55 && b[3] == 0x44);
	CHECK(b[RTCP_UD_OFF_VERSION] == RTCP_VERSION);
	CHECK(b[RTCP_UD_OFF_OPCODE] == RTCP_UD_SEND_IMM);
	CHECK(b[RTCP_UD_OFF_MODE] == 2 && b[RTCP_UD_OFF_ALG] == 1);
	CHECK(!memcmp(b + RTCP_UD_OFF_DST_QPN, "\x00\xa1\xb2\xc3", 4));
	CHECK(!memcmp(b + RTCP_UD_OFF_SRC_QPN, "\x00\xd4\xe5\xf6", 4));
	CHECK(!memcmp(b + RTCP_UD_OFF_QKEY, "\x11\x22\x33\x44", 4));
	CHECK(!memcmp(b + RTCP_UD_OFF_IMM, "\xa1\xa2\xa3\xa4", 4));
	CHECK(!memcmp(b + RTCP_UD_OFF_LEN, "\x00\x00\x03\xe8", 4));
	CHECK(!memcmp(b + RTCP_UD_OFF_FLAGS, "\x00\x00\x00\x01", 4));
	CHECK(b[RTCP_UD_OFF_SID] == 0x01 && b[RTCP_UD_OFF_SID + 7] == 0x08);
	CHECK(b[RTCP_UD_OFF_SEQ] == 0x11 && b[RTCP_UD_HDR_LEN - 1] == 0x18);

	/* round trip; decode fills every field (no stale byte survives) */
	memset(&d, 0xa5, sizeof(d));
	CHECK(rtcp_ud_decode(b, RTCP_UD_HDR_LEN + 1000 + RTCP_UD_TAG_LEN, 4096,
			     &d) == RTCP_OK);
	h.magic = RTCP_UD_MAGIC;
	h.version = RTCP_VERSION;
	CHECK(!memcmp(&h, &d, sizeof(h)));
}

/* @b decoded into d as a datagram of @dgram bytes, against @mtu */
#define UD_DEC(b, dgram, mtu) ud_decode_exact(b, dgram, mtu, &d)

/* Every reason a datagram is dropped, and the exact-length rule. */
static void ud_rejects(void)
{
	static uint8_t big[RTCP_UD_HDR_LEN + 4096 + RTCP_UD_TAG_LEN + 1];
	struct rtcp_ud_hdr h = ud_sample(), d;
	uint8_t *b = big;
	const size_t hl = RTCP_UD_HDR_LEN, tl = RTCP_UD_TAG_LEN;

	rtcp_ud_encode(&h, b);
	CHECK(UD_DEC(b, hl + 1000, 4096) == RTCP_OK);
	/* truncated: nothing but the length is looked at */
	CHECK(UD_DEC(b, 0, 4096) == RTCP_EBADLEN);
	CHECK(UD_DEC(b, 1, 4096) == RTCP_EBADLEN);
	CHECK(UD_DEC(b, hl - 1, 4096) == RTCP_EBADLEN);
	/* exactly header + len (+ tag when mode is not off) */
	CHECK(UD_DEC(b, hl + 999, 4096) == RTCP_EBADLEN);
	CHECK(UD_DEC(b, hl + 1001, 4096) == RTCP_EBADLEN);
	CHECK(UD_DEC(b, hl + 1000 + tl, 4096) == RTCP_EBADLEN);
	CHECK(UD_DEC(b, hl, 4096) == RTCP_EBADLEN);
	h.mode = 1;
	rtcp_ud_encode(&h, b);
	CHECK(UD_DEC(b, hl + 1000 + tl, 4096) == RTCP_OK);
	CHECK(UD_DEC(b, hl + 1000, 4096) == RTCP_EBADLEN);
	CHECK(UD_DEC(b, hl + 1000 + tl - 1, 4096) == RTCP_EBADLEN);
	CHECK(UD_DEC(b, hl + 1000 + tl + 1, 4096) == RTCP_EBADLEN);
	h.mode = 0;
	/* zero-length payload: the header alone */
	h.len = 0;
	rtcp_ud_encode(&h, b);
	CHECK(UD_DEC(b, hl, 4096) == RTCP_OK);
	CHECK(UD_DEC(b, hl + 1, 4096) == RTCP_EBADLEN);
	/* the MTU: len up to it, not one byte more, whatever the size */
	h.len = 4096;
	rtcp_ud_encode(&h, b);
	CHECK(UD_DEC(b, hl + 4096, 4096) == RTCP_OK);
	CHECK(UD_DEC(b, hl + 4096, 4095) == RTCP_EBADLEN);
	h.len = 4097;
	rtcp_ud_encode(&h, b);
	CHECK(UD_DEC(b, hl + 4097, 4096) == RTCP_EBADLEN);
	/* a len that would wrap a 32-bit sum */
	h.len = UINT32_MAX - hl + 1;
	rtcp_ud_encode(&h, b);
	CHECK(UD_DEC(b, hl, UINT32_MAX) == RTCP_EBADLEN);
	h.len = UINT32_MAX;
	rtcp_ud_encode(&h, b);
	CHECK(UD_DEC(b, hl + 4096, UINT32_MAX) == RTCP_EBADLEN);
	CHECK(UD_DEC(b, hl + 4096, 4096) == RTCP_EBADLEN);
}

/* The header fields a sender controls, one at a time on a valid datagram. */
static void ud_fields(void)
{
	struct rtcp_ud_hdr h = ud_sample(), d;
	uint8_t b[RTCP_UD_HDR_LEN + 16];
	const size_t n = RTCP_UD_HDR_LEN + 16;

	h.len = 16;
	rtcp_ud_encode(&h, b);
	memset(b + RTCP_UD_HDR_LEN, 0x77, 16);
	CHECK(UD_DEC(b, n, 4096) == RTCP_OK);
	CHECK(d.opcode == RTCP_UD_SEND_IMM && d.flags == RTCP_UD_F_SOLICITED);
	b[RTCP_UD_OFF_MAGIC + 3] ^= 1;
	CHECK(UD_DEC(b, n, 4096) == RTCP_EBADHLEN);
	b[RTCP_UD_OFF_MAGIC + 3] ^= 1;
	b[RTCP_UD_OFF_VERSION] = RTCP_VERSION + 1;
	CHECK(UD_DEC(b, n, 4096) == RTCP_EBADHLEN);
	b[RTCP_UD_OFF_VERSION] = RTCP_VERSION - 1;
	CHECK(UD_DEC(b, n, 4096) == RTCP_EBADHLEN);
	b[RTCP_UD_OFF_VERSION] = RTCP_VERSION;
	for (unsigned int op = 0; op < 256; op++) {
		int want = op == RTCP_UD_SEND || op == RTCP_UD_SEND_IMM
				   ? RTCP_OK
				   : RTCP_EBADOP;

		b[RTCP_UD_OFF_OPCODE] = (uint8_t)op;
		CHECKF(UD_DEC(b, n, 4096) == want, "opcode %u", op);
	}
	b[RTCP_UD_OFF_OPCODE] = RTCP_UD_SEND;
	for (unsigned int bit = 0; bit < 32; bit++) {
		uint32_t f = 1u << bit;
		int want = f == RTCP_UD_F_SOLICITED ? RTCP_OK : RTCP_EBADFLAGS;

		h.flags = f;
		rtcp_ud_encode(&h, b);
		CHECKF(UD_DEC(b, n, 4096) == want, "flag bit %u", bit);
	}
	h.flags = 0;
	rtcp_ud_encode(&h, b);
	CHECK(UD_DEC(b, n, 4096) == RTCP_OK);
	/* the fields the decoder leaves to its callers: carried as sent */
	h.dst_qpn = 0xffffffff;
	h.qkey = 0x80000000;
	h.sid = ~0ull;
	h.seq = ~0ull;
	rtcp_ud_encode(&h, b);
	CHECK(UD_DEC(b, n, 4096) == RTCP_OK);
	CHECK(d.dst_qpn == 0xffffffff && d.qkey == 0x80000000);
	CHECK(d.sid == ~0ull && d.seq == ~0ull);
}

int main(void)
{
	uint8_t b[RTCP_HDR_LEN], hb[RTCP_HELLO_LEN];
	struct rtcp_hdr h = sample(), d;
	struct rtcp_hello hi = { .src_qpn = 0xabcdef, .dst_qpn = 0x123456 }, ho;

	rtcp_hdr_encode(&h, b);
	/* layout: fields in network byte order at fixed offsets */
	CHECK(b[0] == RTCP_OP_WRITE && b[1] == RTCP_F_SOLICITED);
	CHECK(b[2] == 0 && b[3] == RTCP_HDR_LEN);
	CHECK(b[4] == 1 && b[7] == 4);	       /* spi */
	CHECK(b[20] == 0x41 && b[23] == 0x44); /* rkey */
	CHECK(b[24] == 0x51 && b[31] == 0x58); /* raddr */
	CHECK(b[40] == 0 && b[41] == 0 && b[42] == 0x10 && b[43] == 0);

	rtcp_hdr_decode(b, &d);
	h.hlen = RTCP_HDR_LEN;
	CHECK(!memcmp(&h, &d, sizeof(h)));
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_OK);

	/* every field a peer controls is checked */
	d.opcode = 0;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_EBADOP);
	d.opcode = RTCP_OP_MAX + 1;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_EBADOP);
	d = h;
	d.hlen = 65;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_EBADHLEN);
	d = h;
	d.flags = 0x80;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_EBADFLAGS);
	d = h;
	CHECK(rtcp_hdr_validate(&d, 128, 1u << 31) == RTCP_EBADSEQ);
	d.len = 5000;
	CHECK(rtcp_hdr_validate(&d, 64, 4096) == RTCP_EBADLEN);
	d = h;
	d.opcode = RTCP_OP_READ_REQ;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_EBADLEN);
	d.len = 0;
	d.aux0 = 1ull << 32;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_EBADLEN);
	d.aux0 = 4096;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_OK);
	d.opcode = RTCP_OP_ATOMIC_FADD;
	d.len = 8;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_EBADLEN);
	d.opcode = RTCP_OP_ACK;
	d.len = 0;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_OK);

	/* hello */
	memset(hi.src_gid, 0xee, 16);
	rtcp_hello_encode(&hi, hb);
	CHECK(rtcp_hello_decode(hb, &ho) == 0);
	CHECK(ho.src_qpn == hi.src_qpn && ho.dst_qpn == hi.dst_qpn);
	CHECK(!memcmp(ho.src_gid, hi.src_gid, 16));
	hb[0] ^= 1;
	CHECK(rtcp_hello_decode(hb, &ho) != 0);
	hb[0] ^= 1;
	hb[5] = 99; /* version */
	CHECK(rtcp_hello_decode(hb, &ho) != 0);

	ud_layout();
	ud_rejects();
	ud_fields();
	return check_report();
}
