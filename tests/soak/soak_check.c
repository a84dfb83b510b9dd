// SPDX-License-Identifier: MIT
/*
 * What the soak expects to find in memory. Both processes derive the same
 * bytes from the seed: the pattern P (the source of every message, so a
 * message is a slice of P at an offset derived from its sequence number)
 * and the canary (a byte that depends on its offset in the big buffer,
 * which has the same layout in both processes). A byte that is neither
 * where it should be is counted as corrupt.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soak.h"

uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t h3(uint64_t a, uint64_t b, uint64_t c)
{
	return mix64(mix64(mix64(a) ^ b) ^ c);
}

/* 0 B now and then, else log-uniform up to max: most small, some 1 MiB. */
uint32_t pick_len(uint64_t r, uint32_t max)
{
	unsigned bits = 0, b;
	uint64_t len;

	if (!max || (r & 31) == 0)
		return 0;
	r >>= 5;
	while ((1ull << bits) <= max)
		bits++;
	b = r % (bits + 1);
	r /= bits + 1;
	len = r % ((1ull << b) + 1);
	return len > max ? max : (uint32_t)len;
}

static size_t up64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

void layout_init(struct soak *s)
{
	struct layout *L = &s->L;
	size_t at = 0, q = s->q;

	L->p = at;
	L->plen = up64((size_t)s->max + (1u << 20));
	at += L->plen;
	L->reg = at;
	L->reg_sz = up64(CAN + (size_t)s->max + CAN);
	at += q * L->reg_sz;
	L->atom = at;
	at += q * 64;
	L->cred = at;
	at += q * 64;
	L->cred_src = at;
	at += up64(q * 8);
	L->res = at;
	at += up64(q * WMAX * 24);
	L->land = at;
	L->land_sz = up64(CAN + L->reg_sz + 2 * GAP + CAN);
	at += q * L->land_sz;
	L->rbuf = at;
	L->rbuf_sz = up64(CAN + (size_t)s->max + RXEXTRA + 2 * GAP + CAN);
	at += (size_t)s->nrb * L->rbuf_sz;
	L->total = up64(at);
}

void fill_canary(struct soak *s, size_t off, size_t n)
{
	while (n) {
		size_t c = 4096 - (off & 4095);

		if (c > n)
			c = n;
		memcpy(s->buf + off, s->can + (off & 4095), c);
		off += c;
		n -= c;
	}
}

_Thread_local const uint8_t *diff_ptr;
_Thread_local uint8_t diff_got, diff_want;

static size_t count_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i, d = 0;

	if (!memcmp(a, b, n))
		return 0;
	for (i = 0; i < n; i++) {
		if (a[i] != b[i] && !d++) {
			diff_ptr = a + i;
			diff_got = a[i];
			diff_want = b[i];
		}
	}
	return d;
}

/* p[0..n) against the canary of offsets off..off+n (of either process). */
size_t check_canary(struct soak *s, const uint8_t *p, size_t off, size_t n)
{
	size_t bad = 0;

	while (n) {
		size_t c = 4096 - (off & 4095);

		if (c > n)
			c = n;
		bad += count_diff(p, s->can + (off & 4095), c);
		p += c;
		off += c;
		n -= c;
	}
	return bad;
}

size_t check_pattern(struct soak *s, const uint8_t *p, uint64_t poff, size_t n)
{
	return count_diff(p, s->buf + s->L.p + poff, n);
}

/*
 * A region's content is its write history: the latest write covers its
 * length, an older longer one shows beyond it, canary beyond them all. The
 * stack keeps only writes still visible: lengths decrease towards the top.
 */
void hist_push(struct sqp *q, uint32_t len, uint64_t off)
{
	while (q->hn && q->h[q->hn - 1].len <= len)
		q->hn--;
	if (!len)
		return;
	if (q->hn == q->hcap) {
		q->hcap = q->hcap ? 2 * q->hcap : 16;
		q->h = realloc(q->h, q->hcap * sizeof(*q->h));
		if (!q->h)
			abort();
	}
	q->h[q->hn].len = len;
	q->h[q->hn].off = off;
	q->hn++;
}

/* Bytes [a, b) of a segment against got[] that holds [from, from + n). */
static size_t seg_check(struct soak *s, const uint8_t *got, size_t from,
			size_t n, size_t a, size_t b, bool canary,
			size_t canary_base, uint64_t poff)
{
	size_t lo = a > from ? a : from, hi = b < from + n ? b : from + n;

	if (lo >= hi)
		return 0;
	if (canary)
		return check_canary(s, got + (lo - from), canary_base + lo,
				    hi - lo);
	return check_pattern(s, got + (lo - from), poff + (lo - a), hi - lo);
}

/*
 * got[0..n) was read from this QP's region in the peer, from region
 * offset `from` (0 is the first canary byte). Returns the bytes that
 * differ from what the region's history says.
 */
size_t check_region(struct soak *s, struct sqp *q, const uint8_t *got,
		    size_t from, size_t n)
{
	size_t base = s->L.reg + (size_t)q->idx * s->L.reg_sz, prev = 0, bad;
	unsigned i;

	bad = seg_check(s, got, from, n, 0, CAN, true, base, 0);
	for (i = q->hn; i-- > 0;) {
		bad += seg_check(s, got, from, n, CAN + prev, CAN + q->h[i].len,
				 false, 0, q->h[i].off + prev);
		prev = q->h[i].len;
	}
	bad += seg_check(s, got, from, n, CAN + prev, s->L.reg_sz, true, base,
			 0);
	return bad;
}

void violation(struct soak *s, const char *fmt, ...)
{
	va_list ap;

	if (s->reports++ >= REPORT_MAX) {
		if (s->reports == REPORT_MAX + 1)
			printf("%s: more violations not shown\n",
			       s->role ? "client" : "server");
		return;
	}
	printf("%s: VIOLATION ", s->role ? "client" : "server");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}
