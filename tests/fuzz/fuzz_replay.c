// SPDX-License-Identifier: MIT
/*
 * Plain driver of the frame fuzz target, for compilers without libFuzzer
 * (gcc) and for ctest:
 *
 *   fuzz_frame_replay [-n N] [-s SEED] PATH...
 *
 * Runs LLVMFuzzerTestOneInput over every file named (a directory: every
 * regular file in it), then over N inputs (default 20000) made with a
 * fixed-seed PRNG: corpus files and freshly built valid streams, mutated
 * with bit flips, random bytes, "interesting" values in header fields
 * (len, sseq, hlen, opcode, aux0), truncation, insertion, duplication and
 * splicing. The target aborts on a violated invariant; exit 0 otherwise.
 * Reproducible: the same N and SEED give the same inputs.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_frame.h"
#include "fuzz_gen.h"
#include "replay_corpus.h"

#define MAX_IN 16384

static uint32_t rng;

static uint32_t rnd(uint32_t n)
{
	return n ? fgen_rand(&rng) % n : 0;
}

/*
 * A valid stream of random frames, in random control modes, with a message
 * size limit of 2^31 or more (selectors 6, 7) so every frame is legal.
 */
static size_t build_valid(uint8_t *buf)
{
	struct fgen g;
	int i, nf = (int)rnd(12) + 1;
	uint8_t flags = (uint8_t)rnd(16);

	fgen_init(&g, buf, MAX_IN / 2, flags, (uint8_t)(6 + rnd(2)),
		  (uint16_t)rnd(65536));
	if (flags & 8)
		fgen_hello(&g, rnd(1 << 24), rnd(1 << 24));
	for (i = 0; i < nf; i++) {
		struct rtcp_hdr h = { 0 };

		/* the opcodes of a plain stream (REKEY: secured only) */
		h.opcode = (uint8_t)(rnd(RTCP_OP_SEND_INV) + 1);
		h.flags = (uint8_t)(rnd(RTCP_F_KNOWN + 1) & RTCP_F_KNOWN);
		h.msn = (uint32_t)i;
		h.rkey = fgen_rand(&rng);
		h.raddr = fgen_rand(&rng);
		switch (h.opcode) {
		case RTCP_OP_SEND:
		case RTCP_OP_SEND_IMM:
		case RTCP_OP_SEND_INV:
		case RTCP_OP_WRITE:
		case RTCP_OP_WRITE_IMM:
		case RTCP_OP_READ_RESP:
			h.len = rnd(4) ? rnd(100) : rnd(2000);
			break;
		case RTCP_OP_READ_REQ:
			h.aux0 = rnd(70000);
			break;
		default:
			h.aux0 = fgen_rand(&rng);
		}
		if (fgen_frame(&g, &h) == (size_t)-1)
			break;
	}
	return g.n;
}

static const uint64_t interesting[] = {
	0,	    1,
	63,	    64,
	65,	    4095,
	4096,	    65535,
	65536,	    0x7fffffff,
	0x80000000, 0x80000001,
	0xffffffff, 0x100000000ull,
	UINT64_MAX, UINT64_MAX - 63,
};

static void put_be(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static size_t mutate(uint8_t *d, size_t n)
{
	int k, nm = (int)rnd(4) + 1;

	for (k = 0; k < nm; k++) {
		size_t at = n ? rnd((uint32_t)n) : 0;
		/* a header field: assume a header starts at a 64-byte step
		 * after the prefix (+hello) - often right, never required */
		size_t base = 4 + (rnd(2) ? 32 : 0) +
			      64 * (size_t)rnd((uint32_t)(n / 64 + 1));
		static const struct {
			int off, len;
		} fld[] = { { RTCP_OFF_OPCODE, 1 }, { RTCP_OFF_FLAGS, 1 },
			    { RTCP_OFF_HLEN, 2 },   { RTCP_OFF_MSN, 4 },
			    { RTCP_OFF_SSEQ, 8 },   { RTCP_OFF_LEN, 4 },
			    { RTCP_OFF_AUX0, 8 } };
		int f;

		switch (rnd(8)) {
		case 0:
			if (n)
				d[at] ^= (uint8_t)(1u << rnd(8));
			break;
		case 1:
			if (n)
				d[at] = (uint8_t)rnd(256);
			break;
		case 2:
		case 3:
			f = (int)rnd(sizeof(fld) / sizeof(fld[0]));
			if (base + fld[f].off + fld[f].len <= n)
				put_be(d + base + fld[f].off,
				       interesting[rnd(
					       sizeof(interesting) /
					       sizeof(interesting[0]))] +
					       (rnd(4) ? 0 : rnd(3) - 1),
				       fld[f].len);
			break;
		case 4: /* truncate */
			n = rnd((uint32_t)n + 1);
			break;
		case 5: /* insert random bytes */
		{
			size_t len = rnd(80) + 1;
			size_t i;

			if (n + len > MAX_IN)
				break;
			memmove(d + at + len, d + at, n - at);
			for (i = 0; i < len; i++)
				d[at + i] = (uint8_t)rnd(256);
			n += len;
			break;
		}
		case 6: /* duplicate a range */
		{
			size_t len = rnd(200) + 1;

			if (at + len > n || n + len > MAX_IN)
				break;
			memmove(d + at + len, d + at, n - at);
			n += len;
			break;
		}
		default: /* splice in the tail of a corpus file */
			if (ncorpus) {
				const struct blob *b = &corpus[rnd(ncorpus)];
				size_t from = rnd((uint32_t)b->n + 1);
				size_t len = b->n - from;

				if (at + len > MAX_IN)
					len = MAX_IN - at;
				memcpy(d + at, b->d + from, len);
				if (at + len > n)
					n = at + len;
			}
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	unsigned long iters = 20000, i, nvalid = 0, nvalid_bad = 0;
	uint32_t seed = 20240601;
	uint8_t *buf;
	int rc;

	/* a saved input reproduces with `fuzz_frame_replay -n 0 FILE` or the
	 * libFuzzer binary */
	rc = replay_start(argc, argv, MAX_IN, "fuzz_frame-crash.bin", &iters,
			  &seed);
	if (rc == 2)
		return 2;
	printf("replayed %zu corpus files\n", ncorpus);

	buf = malloc(MAX_IN);
	if (!buf)
		return 1;
	rng = seed ? seed : 1;
	for (i = 0; i < iters; i++) {
		size_t n;

		bool valid = false;

		if (ncorpus && rnd(2)) {
			const struct blob *b = &corpus[rnd(ncorpus)];

			memcpy(buf, b->d, b->n);
			n = b->n;
		} else {
			n = build_valid(buf);
			valid = true;
		}
		if (rnd(4)) {
			n = mutate(buf, n);
			replay_run(buf, n);
		} else if (valid) {
			/* a well-formed stream must be accepted whole: a
			 * decoder rejecting everything would pass the rest */
			int end;

			replay_mark(buf, n);
			end = fuzz_frame_run(buf, n);

			if (end != FUZZ_END_CLEAN) {
				fprintf(stderr,
					"iteration %lu: valid stream of %zu "
					"bytes ended %d, not clean\n",
					i, n, end);
				rc = 1;
				nvalid_bad++;
			}
			nvalid++;
		} else {
			replay_run(buf, n);
		}
	}
	printf("ran %lu generated inputs (seed %u): no invariant violated; "
	       "%lu unmutated valid streams, %lu not accepted whole\n",
	       iters, seed, nvalid, nvalid_bad);
	free(buf);
	replay_end();
	return rc;
}
