// SPDX-License-Identifier: MIT
/* Builders of well-formed fuzz inputs (see fuzz_gen.h). */
#include <string.h>

#include "fuzz_gen.h"

uint32_t fgen_rand(uint32_t *s)
{
	/* xorshift32: fixed, portable, good enough to pick mutations */
	uint32_t x = *s ? *s : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

void fgen_init(struct fgen *g, uint8_t *buf, size_t cap, uint8_t flags,
	       uint8_t max_sel, uint16_t seed)
{
	g->buf = buf;
	g->cap = cap;
	g->n = 0;
	g->seq = 0;
	if (cap < 4)
		return;
	buf[0] = flags;
	buf[1] = max_sel;
	buf[2] = seed >> 8;
	buf[3] = seed & 0xff;
	g->n = 4;
	g->stream_start = 4;
}

void fgen_hello(struct fgen *g, uint32_t src_qpn, uint32_t dst_qpn)
{
	struct rtcp_hello h = { .src_qpn = src_qpn, .dst_qpn = dst_qpn };

	if (g->cap - g->n < RTCP_HELLO_LEN)
		return;
	h.src_gid[10] = h.src_gid[11] = 0xff;
	h.src_gid[12] = 127;
	h.src_gid[15] = 1;
	rtcp_hello_encode(&h, g->buf + g->n);
	g->n += RTCP_HELLO_LEN;
	g->stream_start = g->n;
}

size_t fgen_frame(struct fgen *g, struct rtcp_hdr *h)
{
	size_t at = g->n;
	uint32_t i;

	if (g->cap - g->n < RTCP_HDR_LEN + (size_t)h->len)
		return (size_t)-1;
	h->hlen = RTCP_HDR_LEN;
	h->sseq = g->seq + RTCP_HDR_LEN;
	rtcp_hdr_encode(h, g->buf + g->n);
	g->n += RTCP_HDR_LEN;
	for (i = 0; i < h->len; i++)
		g->buf[g->n + i] = (uint8_t)(0xc0 + i);
	g->n += h->len;
	g->seq += RTCP_HDR_LEN + h->len;
	return at;
}
