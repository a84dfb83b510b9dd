// SPDX-License-Identifier: MIT
/*
 * The lock-order checker of checked builds (lock.h): each thread keeps the
 * locks it holds, in the order it took them, and a blocking lock must rank
 * above all of them. A violation is a potential deadlock even when the run
 * that finds it does not hang, so it aborts at once with both locks named.
 */
#include "lock.h"

#ifdef RDMA_TCP_LOCK_CHECK

#include <stdio.h>
#include <stdlib.h>

/* deeper than any nesting in the provider (five at most today) */
#define TCP_LOCK_MAX_HELD 16

struct held_lock {
	const tcp_mutex_t *m;
	const char *file;
	int line;
};

static __thread struct held_lock held[TCP_LOCK_MAX_HELD];
static __thread int nheld;

static const char *rank_name(int rank)
{
	switch (rank) {
	case TCP_LOCK_RANK_CTX:
		return "CTX";
	case TCP_LOCK_RANK_LIVE:
		return "LIVE";
	case TCP_LOCK_RANK_CQ_QPS:
		return "CQ_QPS";
	case TCP_LOCK_RANK_QP:
		return "QP";
	case TCP_LOCK_RANK_SRQ:
		return "SRQ";
	case TCP_LOCK_RANK_CQ:
		return "CQ";
	case TCP_LOCK_RANK_EV:
		return "EV";
	case TCP_LOCK_RANK_KEYS:
		return "KEYS";
	case TCP_LOCK_RANK_CLOSING:
		return "CLOSING";
	case TCP_LOCK_RANK_ASYNC:
		return "ASYNC";
	}
	return "?";
}

static void describe(const char *what, const tcp_mutex_t *m)
{
	fprintf(stderr, "rdma-tcp:   %s %s (rank %d %s)", what, m->name,
		m->rank, rank_name(m->rank));
}

/* Prints the thread's held locks and aborts: the core shows the stack. */
static _Noreturn void lock_fail(void)
{
	int i;

	for (i = nheld - 1; i >= 0; i--) {
		describe("holding", held[i].m);
		fprintf(stderr, " taken at %s:%d\n", held[i].file,
			held[i].line);
	}
	abort();
}

void tcp_mutex_init_(tcp_mutex_t *m, int rank, const char *name)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&m->m, &a);
	pthread_mutexattr_destroy(&a);
	m->rank = rank;
	m->name = name;
}

void tcp_mutex_destroy_(tcp_mutex_t *m, const char *file, int line)
{
	/* glibc's error-checking mutex reports one still locked */
	if (tcp_mutex_held(m) || pthread_mutex_destroy(&m->m)) {
		fprintf(stderr, "rdma-tcp: %s:%d destroys a locked mutex\n",
			file, line);
		describe("destroying", m);
		fputc('\n', stderr);
		lock_fail();
	}
}

static void push(const tcp_mutex_t *m, const char *file, int line)
{
	if (nheld == TCP_LOCK_MAX_HELD) {
		fprintf(stderr, "rdma-tcp: %s:%d: more than %d locks held\n",
			file, line, TCP_LOCK_MAX_HELD);
		lock_fail();
	}
	held[nheld++] = (struct held_lock){ m, file, line };
}

void tcp_mutex_lock_(tcp_mutex_t *m, const char *file, int line)
{
	int i, err;

	for (i = 0; i < nheld; i++) {
		if (held[i].m->rank < m->rank)
			continue;
		fprintf(stderr,
			"rdma-tcp: lock order violation at %s:%d: takes %s "
			"(rank %d %s) while holding %s (rank %d %s, taken at "
			"%s:%d)\n",
			file, line, m->name, m->rank, rank_name(m->rank),
			held[i].m->name, held[i].m->rank,
			rank_name(held[i].m->rank), held[i].file, held[i].line);
		lock_fail();
	}
	err = pthread_mutex_lock(&m->m);
	if (err) {
		fprintf(stderr, "rdma-tcp: %s:%d: lock %s: error %d\n", file,
			line, m->name, err);
		lock_fail();
	}
	push(m, file, line);
}

int tcp_mutex_trylock_(tcp_mutex_t *m, const char *file, int line)
{
	int err = pthread_mutex_trylock(&m->m);

	if (!err)
		push(m, file, line);
	return err;
}

void tcp_mutex_unlock_(tcp_mutex_t *m, bool qp_path, const char *file, int line)
{
	int i, err;

	/* usually the last taken; any order is allowed */
	for (i = nheld - 1; i >= 0 && held[i].m != m; i--)
		;
	if (i >= 0 && m->rank == TCP_LOCK_RANK_QP && !qp_path) {
		/* a poll would not learn what the QP needs (tcp_qp_unlock) */
		fprintf(stderr,
			"rdma-tcp: %s:%d releases %s without tcp_qp_unlock\n",
			file, line, m->name);
		lock_fail();
	}
	err = i < 0 ? -1 : pthread_mutex_unlock(&m->m);
	if (err) {
		fprintf(stderr, "rdma-tcp: %s:%d unlocks %s, not held\n", file,
			line, m->name);
		lock_fail();
	}
	for (; i + 1 < nheld; i++)
		held[i] = held[i + 1];
	nheld--;
}

bool tcp_mutex_held(const tcp_mutex_t *m)
{
	int i;

	for (i = 0; i < nheld; i++)
		if (held[i].m == m)
			return true;
	return false;
}

void tcp_assert_held_(const tcp_mutex_t *m, const char *file, int line)
{
	if (tcp_mutex_held(m))
		return;
	fprintf(stderr, "rdma-tcp: %s:%d needs %s (rank %d %s) held\n", file,
		line, m->name, m->rank, rank_name(m->rank));
	lock_fail();
}

#else

/* release builds: lock.h is all inline */
typedef int tcp_lock_c_is_empty;

#endif
