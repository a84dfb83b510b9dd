// SPDX-License-Identifier: MIT
/*
 * Plain driver of the hello and CM fuzz targets (fuzz_hello.c, fuzz_cm.c)
 * for compilers without libFuzzer and for ctest:
 *
 *   fuzz_hello_replay [-n N] [-s SEED] PATH...   (likewise fuzz_cm_replay)
 *
 * Runs LLVMFuzzerTestOneInput over every file named (a directory: every
 * regular file in it), then over N inputs (default 20000) made from them
 * with a fixed-seed PRNG: bit flips, random bytes, truncation, insertion,
 * duplication, splicing. The target aborts on a violated invariant (the
 * input is then saved to ./fuzz-replay-crash.bin); exit 0 otherwise.
 * The same N and SEED give the same inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "replay_corpus.h"

#define MAX_IN 4096

static uint32_t rng;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return n ? rng % n : 0;
}

static size_t mutate(uint8_t *d, size_t n)
{
	int k, nm = (int)rnd(4) + 1;

	for (k = 0; k < nm; k++) {
		size_t at = rnd((uint32_t)n + 1), len = rnd(64) + 1, i;
		const struct blob *b;

		switch (rnd(6)) {
		case 0:
			if (at < n)
				d[at] ^= (uint8_t)(1u << rnd(8));
			break;
		case 1:
			if (at < n)
				d[at] = (uint8_t)rnd(256);
			break;
		case 2: /* truncate */
			n = at;
			break;
		case 3: /* insert random bytes */
			if (n + len > MAX_IN)
				break;
			memmove(d + at + len, d + at, n - at);
			for (i = 0; i < len; i++)
				d[at + i] = (uint8_t)rnd(256);
			n += len;
			break;
		case 4: /* duplicate a range */
			if (at + len > n || n + len > MAX_IN)
				break;
			memmove(d + at + len, d + at, n - at);
			n += len;
			break;
		default: /* splice in the tail of a corpus file */
			b = &corpus[rnd((uint32_t)ncorpus)];
			i = rnd((uint32_t)b->n + 1);
			len = b->n - i;
			if (at + len > MAX_IN)
				len = MAX_IN - at;
			memcpy(d + at, b->d + i, len);
			if (at + len > n)
				n = at + len;
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	unsigned long iters = 20000, i;
	uint32_t seed = 20261206;
	static uint8_t buf[MAX_IN];
	int rc;

	rc = replay_start(argc, argv, MAX_IN, "fuzz-replay-crash.bin", &iters,
			  &seed);
	if (rc == 2)
		return 2;
	if (!ncorpus) {
		fprintf(stderr, "%s: no corpus files\n", argv[0]);
		return 1;
	}
	printf("replayed %zu corpus files\n", ncorpus);
	rng = seed ? seed : 1;
	for (i = 0; i < iters; i++) {
		const struct blob *b = &corpus[rnd((uint32_t)ncorpus)];
		size_t n;

		memcpy(buf, b->d, b->n);
		n = mutate(buf, b->n);
		replay_run(buf, n);
	}
	printf("ran %lu mutated inputs (seed %u): no invariant violated\n",
	       iters, seed);
	replay_end();
	return rc;
}
