/* SPDX-License-Identifier: MIT */
/*
 * The checks every unit test uses: counted, never fatal, so one run lists
 * every failure. Each test ends with `return check_report();`, which
 * prints "N passed, N failed" (what ctest shows) and gives the exit code.
 *
 *   CHECK(cond)              the condition's text on failure
 *   CHECKF(cond, fmt, ...)   plus a printf-style explanation
 */
#ifndef RDMA_TCP_TEST_CHECK_H
#define RDMA_TCP_TEST_CHECK_H

#include <stdio.h>

static unsigned int passed, failed;

#define CHECKF(cond, ...)                                                      \
	do {                                                                   \
		if (cond) {                                                    \
			passed++;                                              \
		} else {                                                       \
			failed++;                                              \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                                   \
			printf("\n");                                          \
		}                                                              \
	} while (0)

#define CHECK(cond) CHECKF(cond, "%s", "false")

static inline int check_report(void)
{
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}

#endif
