// SPDX-License-Identifier: MIT
/*
 * cm_destroy_race [ROUNDS]: rping's exit, ROUNDS times over (default 4096).
 * A thread waits in rdma_get_cm_event on an event channel while the main
 * thread destroys the channel. On the kernel's rdma_cm fd the waiter stays
 * blocked in its read for good and the program exits normally; rping's CM
 * thread exits the process with status 255 if the call returns an error.
 * So the waiter must never return. Each destroy comes a little later
 * after the waiter says it is about to call (0 to 504 ns, 8 ns steps),
 * so that some land at every stage of its way in. The waiters stay blocked
 * until the process exits (run by test_rdmacm.sh, with the preload).
 *
 * Prints "ok: ROUNDS waiters stayed blocked" and exits 0, or what the
 * waiters returned and exits 1; 2 if a channel or thread could not be made.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rdma/rdma_cma.h>

#include "tcheck.h"

static atomic_int entering;
static atomic_int returned;
static atomic_int first_rc, first_errno;

static void *waiter(void *arg)
{
	struct rdma_event_channel *ch = arg;
	struct rdma_cm_event *ev;
	int rc;

	atomic_store(&entering, 1);
	rc = rdma_get_cm_event(ch, &ev);
	if (atomic_fetch_add(&returned, 1) == 0) {
		atomic_store(&first_errno, errno);
		atomic_store(&first_rc, rc);
	}
	return NULL;
}

static void spin_ns(uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 4096, i;
	struct timespec grace = { 0, 50000000 };
	pthread_attr_t attr;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (i = 0; i < rounds; i++) {
		struct rdma_event_channel *ch = rdma_create_event_channel();

		if (!ch) {
			perror("rdma_create_event_channel");
			return 2;
		}
		atomic_store(&entering, 0);
		if (pthread_create(&t, &attr, waiter, ch)) {
			fprintf(stderr, "pthread_create failed\n");
			return 2;
		}
		while (!atomic_load(&entering))
			;
		spin_ns((uint64_t)(i % 64) * 8);
		rdma_destroy_event_channel(ch);
	}
	/* the last waiters' time to return, were they going to */
	nanosleep(&grace, NULL);
	if (atomic_load(&returned)) {
		printf("FAIL: %d of %d waiters returned from rdma_get_cm_event "
		       "on a channel destroyed under them (first: %d, %s)\n",
		       atomic_load(&returned), rounds, atomic_load(&first_rc),
		       strerror(atomic_load(&first_errno)));
		return 1;
	}
	printf("ok: %d waiters stayed blocked\n", rounds);
	return 0;
}
