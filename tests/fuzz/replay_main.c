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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_IN 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct blob {
	uint8_t d[MAX_IN];
	size_t n;
};

static struct blob *corpus;
static size_t ncorpus;
static const uint8_t *cur_in;
static size_t cur_n;
static uint32_t rng;

static void on_abort(int sig)
{
	int fd = open("fuzz-replay-crash.bin", O_WRONLY | O_CREAT | O_TRUNC,
		      0644);

	if (fd >= 0) {
		if (write(fd, cur_in, cur_n) == (ssize_t)cur_n)
			(void)!write(2,
				     "input saved to ./fuzz-replay-crash.bin\n",
				     39);
		close(fd);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void run(const uint8_t *d, size_t n)
{
	cur_in = d;
	cur_n = n;
	LLVMFuzzerTestOneInput(d, n);
}

static int add_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct blob *nc;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	nc = realloc(corpus, (ncorpus + 1) * sizeof(*nc));
	if (!nc) {
		fclose(f);
		return -1;
	}
	corpus = nc;
	corpus[ncorpus].n = fread(corpus[ncorpus].d, 1, MAX_IN, f);
	fclose(f);
	run(corpus[ncorpus].d, corpus[ncorpus].n);
	ncorpus++;
	return 0;
}

static int add_path(const char *path)
{
	struct dirent **ents;
	struct stat st;
	int n, i, rc = 0;

	if (stat(path, &st)) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return add_file(path);
	n = scandir(path, &ents, NULL, alphasort); /* sorted: reproducible */
	if (n < 0)
		return -1;
	for (i = 0; i < n; i++) {
		char p[4096];

		snprintf(p, sizeof(p), "%s/%s", path, ents[i]->d_name);
		if (!stat(p, &st) && S_ISREG(st.st_mode) && add_file(p))
			rc = -1;
		free(ents[i]);
	}
	free(ents);
	return rc;
}

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
	int opt, rc = 0;

	signal(SIGABRT, on_abort);
	while ((opt = getopt(argc, argv, "n:s:")) != -1) {
		switch (opt) {
		case 'n':
			iters = strtoul(optarg, NULL, 0);
			break;
		case 's':
			seed = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [-n N] [-s SEED] PATH...\n",
				argv[0]);
			return 2;
		}
	}
	for (; optind < argc; optind++)
		if (add_path(argv[optind]))
			rc = 1;
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
		run(buf, n);
	}
	printf("ran %lu mutated inputs (seed %u): no invariant violated\n",
	       iters, seed);
	free(corpus);
	return rc;
}
