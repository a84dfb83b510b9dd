/* SPDX-License-Identifier: MIT */
/*
 * What the C test programs driven by tests/integration's scripts share:
 * one line a check, "ok - ..." or "FAIL - ..." as tests/lib/testlib.sh
 * prints them (after the program's current section, when it names one),
 * the "N passed, N failed" line run_c_suite reads last, a watchdog for a
 * hang, and the clock their deadlines are measured with. The counters of
 * a one-file program live here; see TC_EXTERN for a program of several.
 */
#ifndef RDMA_TCP_TCHECK_H
#define RDMA_TCP_TCHECK_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#ifdef TC_EXTERN
/*
 * A program of several files shares one set: its headers define TC_EXTERN
 * before this one, and one file defines them with TC_DEFINE_COUNTERS.
 */
extern unsigned int tc_passed, tc_failed;
extern const char *tc_section;
#define TC_DEFINE_COUNTERS                 \
	unsigned int tc_passed, tc_failed; \
	const char *tc_section = ""
#else
static unsigned int tc_passed, tc_failed;
/* what the program checks now, printed before each line ("": nothing) */
static const char *tc_section = "";
#endif

static inline void tc_vline(bool pass, const char *cond, const char *fmt,
			    va_list ap)
{
	if (pass)
		tc_passed++;
	else
		tc_failed++;
	printf("%s - ", pass ? "ok" : "FAIL");
	if (*tc_section)
		printf("%s: ", tc_section);
	vprintf(fmt, ap);
	if (!pass && cond)
		printf(" (%s)", cond);
	putchar('\n');
	fflush(stdout);
}

static inline void __attribute__((format(printf, 2, 3)))
check(bool pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tc_vline(pass, NULL, fmt, ap);
	va_end(ap);
}

#define ok(...)	  check(true, __VA_ARGS__)
#define fail(...) check(false, __VA_ARGS__)

/* A detail line under the last check. */
static inline void __attribute__((format(printf, 1, 2)))
note(const char *fmt, ...)
{
	va_list ap;

	printf("    | ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static inline void __attribute__((format(printf, 3, 4)))
tc_check_cond(bool pass, const char *cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tc_vline(pass, cond, fmt, ap);
	va_end(ap);
}

/* check() that names the condition when it fails; cond is evaluated once */
#define CHECK(cond, ...) tc_check_cond((cond), #cond, __VA_ARGS__)

/* The last line, which run_c_suite reads; returns the exit status. */
static inline int tc_report(void)
{
	printf("%u passed, %u failed\n", tc_passed, tc_failed);
	return tc_failed ? 1 : 0;
}

static inline void tc_on_alarm(int sig)
{
	static const char m[] = "FAIL - watchdog: the test hung (provider "
				"or test did not finish in time)\n";

	(void)sig;
	(void)!write(1, m, sizeof(m) - 1);
	_exit(1);
}

/* A hang fails the program after @secs rather than stalling the suite. */
static inline void tc_watchdog(unsigned int secs)
{
	signal(SIGALRM, tc_on_alarm);
	alarm(secs);
}

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A pause between two looks at a state, never a wait for one. */
static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

#endif
