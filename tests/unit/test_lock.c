// SPDX-License-Identifier: MIT
/*
 * The lock-order checker (providers/tcp/lock.h), built checked whatever
 * the build type: locks taken in rank order, trylock out of order and
 * unlocks in any order pass; a blocking lock out of order, a second lock
 * of one rank, an unlock of a lock not held and a failed tcp_assert_held
 * each abort, in a child, with a message naming the locks.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lock.h"
#include "check.h"

static tcp_mutex_t ctx_lock, qp_lock, qp2_lock, cq_lock, async_lock;
static tcp_mutex_t live_lock =
	TCP_MUTEX_INITIALIZER(TCP_LOCK_RANK_LIVE, "live_lock");

/* Runs fn in a child with stderr captured; true if it died of SIGABRT
 * and its stderr holds `want`. */
static bool aborts_with(void (*fn)(void), const char *want)
{
	char out[4096] = "";
	int p[2], st;
	ssize_t n, got = 0;
	pid_t pid;

	if (pipe(p))
		return false;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		fn();
		_exit(0);
	}
	close(p[1]);
	while (got < (ssize_t)sizeof(out) - 1 &&
	       (n = read(p[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += n;
	close(p[0]);
	waitpid(pid, &st, 0);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT) {
		printf("child: status %#x, stderr: %s\n", st, out);
		return false;
	}
	if (!strstr(out, want)) {
		printf("child stderr lacks \"%s\": %s\n", want, out);
		return false;
	}
	return true;
}

static void qp_then_ctx(void)
{
	tcp_mutex_lock(&qp_lock);
	tcp_mutex_lock(&ctx_lock);
}

static void two_qps(void)
{
	tcp_mutex_lock(&qp_lock);
	tcp_mutex_lock(&qp2_lock);
}

static void relock(void)
{
	tcp_mutex_lock(&cq_lock);
	tcp_mutex_lock(&cq_lock);
}

static void unlock_not_held(void)
{
	tcp_mutex_unlock_qp(&qp_lock);
}

/* a QP's lock goes through tcp_qp_unlock, which announces the QP */
static void qp_plain_unlock(void)
{
	tcp_mutex_lock(&qp_lock);
	tcp_mutex_unlock(&qp_lock);
}

static void assert_not_held(void)
{
	tcp_mutex_lock(&ctx_lock);
	tcp_assert_held(&qp_lock);
}

/* a lock taken by trylock out of order still counts for the next one */
static void after_trylock(void)
{
	tcp_mutex_lock(&live_lock);
	if (tcp_mutex_trylock(&ctx_lock) == 0)
		tcp_mutex_lock(&qp_lock); /* fine: above both */
	tcp_mutex_unlock_qp(&qp_lock);
	tcp_mutex_lock(&ctx_lock); /* relock: aborts */
}

static void in_order(void)
{
	/* the deepest nesting in the provider: ctx, qp, cq, async */
	tcp_mutex_lock(&ctx_lock);
	tcp_mutex_lock(&qp_lock);
	CHECK(tcp_mutex_held(&ctx_lock) && tcp_mutex_held(&qp_lock));
	tcp_assert_held(&qp_lock);
	tcp_mutex_lock(&cq_lock);
	tcp_mutex_lock(&async_lock);
	/* out of LIFO order: allowed */
	tcp_mutex_unlock_qp(&qp_lock);
	CHECK(!tcp_mutex_held(&qp_lock) && tcp_mutex_held(&cq_lock));
	tcp_mutex_unlock(&async_lock);
	tcp_mutex_unlock(&ctx_lock);
	tcp_mutex_unlock(&cq_lock);
	CHECK(!tcp_mutex_held(&ctx_lock) && !tcp_mutex_held(&cq_lock));

	/* trylock may go against the order (the exit flush, the engine) */
	tcp_mutex_lock(&cq_lock);
	CHECK(tcp_mutex_trylock(&qp_lock) == 0);
	CHECK(tcp_mutex_held(&qp_lock));
	tcp_mutex_unlock_qp(&qp_lock);
	tcp_mutex_unlock(&cq_lock);
	CHECK(!tcp_mutex_held(&cq_lock));
}

static void *hold_cq(void *arg)
{
	int *fd = arg;
	char c;

	tcp_mutex_lock(&cq_lock);
	if (write(fd[1], "x", 1) != 1 || read(fd[2], &c, 1) != 1)
		abort();
	tcp_mutex_unlock(&cq_lock);
	return NULL;
}

/* a lock another thread holds: trylock fails, nothing recorded */
static void busy_trylock(void)
{
	int p1[2], p2[2], fd[3];
	pthread_t t;
	char c;

	if (pipe(p1) || pipe(p2))
		abort();
	fd[1] = p1[1];
	fd[2] = p2[0];
	pthread_create(&t, NULL, hold_cq, fd);
	CHECK(read(p1[0], &c, 1) == 1);
	CHECK(tcp_mutex_trylock(&cq_lock) != 0);
	CHECK(!tcp_mutex_held(&cq_lock));
	CHECK(write(p2[1], "x", 1) == 1);
	pthread_join(t, NULL);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
}

int main(void)
{
	tcp_mutex_init(&ctx_lock, TCP_LOCK_RANK_CTX);
	tcp_mutex_init(&qp_lock, TCP_LOCK_RANK_QP);
	tcp_mutex_init(&qp2_lock, TCP_LOCK_RANK_QP);
	tcp_mutex_init(&cq_lock, TCP_LOCK_RANK_CQ);
	tcp_mutex_init(&async_lock, TCP_LOCK_RANK_ASYNC);

	in_order();
	busy_trylock();
	CHECK(aborts_with(qp_then_ctx, "takes &ctx_lock (rank 10 CTX) while "
				       "holding &qp_lock (rank 30 QP"));
	CHECK(aborts_with(two_qps, "takes &qp2_lock (rank 30 QP) while "
				   "holding &qp_lock"));
	CHECK(aborts_with(relock, "takes &cq_lock (rank 50 CQ) while "
				  "holding &cq_lock"));
	CHECK(aborts_with(unlock_not_held, "unlocks &qp_lock, not held"));
	CHECK(aborts_with(qp_plain_unlock, "releases &qp_lock without "
					   "tcp_qp_unlock"));
	CHECK(aborts_with(assert_not_held, "needs &qp_lock (rank 30 QP) held"));
	CHECK(aborts_with(after_trylock, "takes &ctx_lock (rank 10 CTX) while "
					 "holding live_lock (rank 15 LIVE"));

	tcp_mutex_destroy(&ctx_lock);
	tcp_mutex_destroy(&qp_lock);
	tcp_mutex_destroy(&qp2_lock);
	tcp_mutex_destroy(&cq_lock);
	tcp_mutex_destroy(&async_lock);
	return check_report();
}
