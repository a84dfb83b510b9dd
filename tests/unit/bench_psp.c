// SPDX-License-Identifier: MIT
/*
 * What sealing and opening cost per call (providers/tcp/psp.h): a small
 * frame (64-byte header + 8 payload bytes under one tag) and 8 KiB chunks,
 * auth and encrypt, AES-128 and AES-256; then whole frames of 64 B, 4 KiB
 * and 64 KiB payload as the transport seals and opens them (psp.h's
 * layout: the header with chunk 0 under tag 0, a tag per further chunk),
 * in ns per frame; and 64-byte frames in groups of 1 to 16 under one tag
 * (psp.h), per frame. Not a test (no ctest, no assertion on time): run it by
 * hand, `bench_psp [seconds per case]`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "psp.h"

/* the thread's CPU time: time spent descheduled by other load is not ours */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define FRAME_MAX 65536

static uint8_t hdr[64], data[FRAME_MAX], out[FRAME_MAX];

/* Seconds per call of seal (open = 0) or open over @len payload bytes. */
static double per_call(struct tcp_psp_sa *sa, enum tcp_psp_mode mode,
		       size_t len, int open, double secs)
{
	struct iovec v = { data, len };
	uint8_t tag[TCP_PSP_TAG_LEN];
	uint64_t iv = 0, n = 0;
	double t0 = now(), t;

	do {
		for (int i = 0; i < 256; i++, n++, iv += 100) {
			if (open) {
				/* a wrong tag still runs the whole check */
				tcp_psp_open(sa, mode, iv, hdr, 64, out, len,
					     tag);
			} else if (tcp_psp_seal(sa, mode, iv, hdr, 64, &v, 1,
						len, out, tag)) {
				fprintf(stderr, "seal failed\n");
				exit(1);
			}
		}
		t = now() - t0;
	} while (t < secs);
	return t / n;
}

/* One frame of @len payload bytes, chunk by chunk: sealed or opened. */
static void frame(struct tcp_psp_sa *sa, enum tcp_psp_mode mode, size_t len,
		  int open, uint64_t iv)
{
	uint8_t tag[TCP_PSP_TAG_LEN] = { 0 };
	size_t off = 0, c;

	do {
		struct iovec v = { data + off, 0 };

		c = len - off < TCP_PSP_CHUNK ? len - off : TCP_PSP_CHUNK;
		v.iov_len = c;
		if (open)
			tcp_psp_open(sa, mode, iv, off ? NULL : hdr,
				     off ? 0 : 64, out + off, c, tag);
		else if (tcp_psp_seal(sa, mode, iv, off ? NULL : hdr,
				      off ? 0 : 64, &v, 1, c, out + off, tag))
			exit(1);
		iv += (off ? 0 : 64) + c + TCP_PSP_TAG_LEN;
		off += c;
	} while (off < len);
}

/* Seconds per frame of @len payload bytes, sealed or opened. */
static double per_frame(struct tcp_psp_sa *sa, enum tcp_psp_mode mode,
			size_t len, int open, double secs)
{
	uint64_t iv = 0, n = 0;
	double t0 = now(), t;

	do {
		for (int i = 0; i < 16; i++, n++, iv += 2 * FRAME_MAX)
			frame(sa, mode, len, open, iv);
		t = now() - t0;
	} while (t < secs);
	return t / n;
}

static void frames(double secs)
{
	static const size_t lens[] = { 64, 4096, 65536 };
	uint8_t key[TCP_PSP_KEY_MAX] = { 4, 5, 6 };
	struct tcp_psp_sa sa = { 0 };

	printf("\nper frame (AES-128), seal + open:\n");
	for (int mode = 1; mode <= 2; mode++) {
		if (tcp_psp_sa_init(&sa, mode, TCP_PSP_AES128, 0x4321, key))
			exit(1);
		for (int l = 0; l < 3; l++) {
			double s = per_frame(&sa, mode, lens[l], 0, secs),
			       o = per_frame(&sa, mode, lens[l], 1, secs);

			printf("%-7s %5zu B: seal %7.0f ns  open %7.0f ns\n",
			       mode == 1 ? "auth" : "encrypt", lens[l], s * 1e9,
			       o * 1e9);
		}
		tcp_psp_sa_clear(&sa);
	}
}

/*
 * Groups (psp.h): @n frames of 64 payload bytes under one tag, in ns per
 * frame; n = 1 is a lone frame's plain layout.
 */
static void groups(double secs)
{
	static const int ns[] = { 1, 2, 4, 8, 16 };
	uint8_t key[TCP_PSP_KEY_MAX] = { 7, 8, 9 };
	struct tcp_psp_sa sa = { 0 };

	if (tcp_psp_sa_init(&sa, TCP_PSP_AUTH, TCP_PSP_AES128, 0x5678, key))
		exit(1);
	printf("\nauth, 64 B frames grouped (AES-128), per frame:\n");
	for (int i = 0; i < 5; i++) {
		size_t len = ns[i] == 1 ? 64 : ns[i] * (size_t)(64 + 64);
		double s = per_call(&sa, TCP_PSP_AUTH, len, 0, secs),
		       o = per_call(&sa, TCP_PSP_AUTH, len, 1, secs);

		printf("%2d a group: seal %5.0f ns  open %5.0f ns\n", ns[i],
		       s * 1e9 / ns[i], o * 1e9 / ns[i]);
	}
	tcp_psp_sa_clear(&sa);
}

int main(int argc, char **argv)
{
	static const char *mname[] = { "off", "auth", "encrypt" };
	double secs = argc > 1 ? atof(argv[1]) : 0.2, s;
	uint8_t key[TCP_PSP_KEY_MAX] = { 1, 2, 3 };
	struct tcp_psp_sa sa = { 0 };

	for (int alg = 0; alg < 2; alg++)
		for (int mode = 1; mode <= 2; mode++) {
			if (tcp_psp_sa_init(&sa, mode, alg, 0x1234, key))
				return 1;
			for (int op = 0; op < 2; op++) {
				s = per_call(&sa, mode, 8, op, secs);
				printf("AES-%d %-7s %s  72 B frame: %6.0f ns",
				       alg ? 256 : 128, mname[mode],
				       op ? "open" : "seal", s * 1e9);
				s = per_call(&sa, mode, TCP_PSP_CHUNK, op,
					     secs);
				printf("   8 KiB chunk: %5.0f ns, %5.2f GB/s\n",
				       s * 1e9, TCP_PSP_CHUNK / s * 1e-9);
			}
			tcp_psp_sa_clear(&sa);
		}
	frames(secs);
	groups(secs);
	return 0;
}
