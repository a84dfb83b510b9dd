/* SPDX-License-Identifier: MIT */
/*
 * What the plain fuzz drivers (fuzz_replay.c, replay_main.c) share: the
 * command line, the corpus (every file named, or every regular file in a
 * directory named, each run once as it is read) and the input in flight,
 * which the abort handler saves for reproduction.
 */
#ifndef RDMA_TCP_REPLAY_CORPUS_H
#define RDMA_TCP_REPLAY_CORPUS_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct blob {
	uint8_t *d;
	size_t n;
};

extern struct blob *corpus;
extern size_t ncorpus;

/*
 * Parses "[-n N] [-s SEED] PATH...", loads the corpus (files cut at max_in
 * bytes) and arms the abort handler, which saves the input in flight to
 * ./crash_name. Returns 0, 1 if a path could not be read, 2 on a usage
 * error (after printing it).
 */
int replay_start(int argc, char **argv, size_t max_in, const char *crash_name,
		 unsigned long *iters, uint32_t *seed);
/* The input the abort handler saves from now on. */
void replay_mark(const uint8_t *d, size_t n);
/* Runs the target over one input. */
void replay_run(const uint8_t *d, size_t n);
void replay_end(void);

#endif
