// SPDX-License-Identifier: MIT
/* The plain fuzz drivers' command line, corpus and crash file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replay_corpus.h"

struct blob *corpus;
size_t ncorpus;

static const uint8_t *cur_in;
static size_t cur_n;
static const char *crash_file;
static size_t max_len;

static void on_abort(int sig)
{
	int fd = open(crash_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd >= 0) {
		if (write(fd, cur_in, cur_n) == (ssize_t)cur_n) {
			(void)!write(2, "input saved to ./", 17);
			(void)!write(2, crash_file, strlen(crash_file));
			(void)!write(2, "\n", 1);
		}
		close(fd);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void replay_mark(const uint8_t *d, size_t n)
{
	cur_in = d;
	cur_n = n;
}

void replay_run(const uint8_t *d, size_t n)
{
	replay_mark(d, n);
	LLVMFuzzerTestOneInput(d, n);
}

static int add_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct blob b, *nc;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	b.d = malloc(max_len);
	if (!b.d) {
		fclose(f);
		return -1;
	}
	b.n = fread(b.d, 1, max_len, f);
	fclose(f);
	replay_run(b.d, b.n);
	nc = realloc(corpus, (ncorpus + 1) * sizeof(*nc));
	if (!nc) {
		free(b.d);
		return -1;
	}
	corpus = nc;
	corpus[ncorpus++] = b;
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
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
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

int replay_start(int argc, char **argv, size_t max_in, const char *crash_name,
		 unsigned long *iters, uint32_t *seed)
{
	int opt, rc = 0;

	max_len = max_in;
	crash_file = crash_name;
	signal(SIGABRT, on_abort);
	while ((opt = getopt(argc, argv, "n:s:")) != -1) {
		switch (opt) {
		case 'n':
			*iters = strtoul(optarg, NULL, 0);
			break;
		case 's':
			*seed = (uint32_t)strtoul(optarg, NULL, 0);
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
	return rc;
}

void replay_end(void)
{
	size_t i;

	for (i = 0; i < ncorpus; i++)
		free(corpus[i].d);
	free(corpus);
}
