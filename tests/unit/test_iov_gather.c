// SPDX-License-Identifier: MIT
/*
 * Unit tests of the transmit gather (providers/tcp/iov_gather.h).
 *
 * What sendmsg relies on: the gathered elements carry exactly the bytes of
 * the input elements in order (a partial send is accounted against the
 * input), never more elements than the input, runs of small elements
 * become one, large elements are referenced (not copied), and a full
 * buffer falls back to references instead of writing past its end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iov_gather.h"

#include "check.h"

/* Concatenates n elements into out; returns the byte count. */
static size_t flatten(const struct iovec *v, int n, unsigned char *out)
{
	size_t len = 0;
	int i;

	for (i = 0; i < n; i++) {
		memcpy(out + len, v[i].iov_base, v[i].iov_len);
		len += v[i].iov_len;
	}
	return len;
}

static int in_buf(const struct iovec *v, const unsigned char *buf, size_t bufsz)
{
	uintptr_t p = (uintptr_t)v->iov_base, b = (uintptr_t)buf;

	return p >= b && p + v->iov_len <= b + bufsz;
}

static unsigned char src[1 << 16];

static void frames(void)
{
	/* eight 64 B headers, each followed by a 64 B payload */
	struct iovec in[16], out[16];
	unsigned char buf[4096], a[2048], b[2048];
	int i, k;

	for (i = 0; i < 16; i++) {
		in[i].iov_base = src + 1000 * i;
		in[i].iov_len = 64;
	}
	k = tcp_iov_gather(in, 16, out, buf, sizeof(buf), 512);
	CHECKF(k == 1, "16 small elements gave %d", k);
	CHECK(out[0].iov_base == buf && out[0].iov_len == 1024);
	CHECK(flatten(in, 16, a) == 1024 && flatten(out, k, b) == 1024);
	CHECK(!memcmp(a, b, 1024));
}

static void large_referenced(void)
{
	/* header, 64 KiB payload, header, 8 B payload, zero-length, header */
	struct iovec in[6] = {
		{ src, 64 },	  { src + 64, 60000 }, { src + 7, 64 },
		{ src + 100, 8 }, { src + 5, 0 },      { src + 9, 64 },
	};
	struct iovec out[6];
	static unsigned char a[70000], b[70000];
	unsigned char buf[1024];
	size_t la, lb;
	int k;

	k = tcp_iov_gather(in, 6, out, buf, sizeof(buf), 512);
	CHECKF(k == 3, "gave %d elements, want header | payload | run", k);
	CHECK(in_buf(&out[0], buf, sizeof(buf)) && out[0].iov_len == 64);
	CHECK(out[1].iov_base == src + 64 && out[1].iov_len == 60000);
	CHECK(in_buf(&out[2], buf, sizeof(buf)) && out[2].iov_len == 136);
	la = flatten(in, 6, a);
	lb = flatten(out, k, b);
	CHECK(la == lb && !memcmp(a, b, la));
}

static void full_buffer(void)
{
	/* 40 elements of 100 B into 1000 B: 10 copied, 30 referenced */
	struct iovec in[40], out[40];
	unsigned char buf[1000 + 16], a[4000], b[4000];
	size_t la, lb;
	int i, k, copied = 0;

	memset(buf + 1000, 0xa5, 16);
	for (i = 0; i < 40; i++) {
		in[i].iov_base = src + 300 * i;
		in[i].iov_len = 100;
	}
	k = tcp_iov_gather(in, 40, out, buf, 1000, 512);
	for (i = 0; i < k; i++)
		copied += in_buf(&out[i], buf, 1000);
	CHECKF(k == 31 && copied == 1, "k %d, copied %d", k, copied);
	for (i = 0; i < 16; i++)
		CHECKF(buf[1000 + i] == 0xa5, "byte %d past the buffer", i);
	la = flatten(in, 40, a);
	lb = flatten(out, k, b);
	CHECK(la == lb && !memcmp(a, b, la));
}

static void random_batches(void)
{
	static unsigned char a[256 * 9000], b[256 * 9000];
	struct iovec in[256], out[256];
	unsigned char buf[16384];
	int r, bad = 0, grew = 0;

	for (r = 0; r < 2000; r++) {
		int n = 1 + rand() % 256, i, k;
		size_t la, lb;

		for (i = 0; i < n; i++) {
			size_t len = rand() % 3 ? rand() % 600 : rand() % 9000;

			in[i].iov_base = src + rand() % (sizeof(src) - len);
			in[i].iov_len = len;
		}
		k = tcp_iov_gather(in, n, out, buf, sizeof(buf), 512);
		grew += k > n;
		la = flatten(in, n, a);
		lb = flatten(out, k, b);
		bad += la != lb || memcmp(a, b, la);
		for (i = 0; i < k; i++)
			bad += !out[i].iov_len;
	}
	CHECKF(!grew, "%d batches gained elements", grew);
	CHECKF(!bad, "%d batches changed their bytes", bad);
}

int main(void)
{
	size_t i;

	srand(1);
	for (i = 0; i < sizeof(src); i++)
		src[i] = (unsigned char)rand();
	frames();
	large_referenced();
	full_buffer();
	random_batches();
	return check_report();
}
