/* SPDX-License-Identifier: MIT */
/*
 * The provider's mutexes, with their place in the one lock order
 * (docs/design.md, "Lock order"). Every lock is made with a rank; a thread may
 * block on a lock only if its rank is above the rank of every lock it
 * holds. tcp_mutex_trylock may be called out of order: it never waits, so
 * it cannot close a cycle (the engine's timers and the exit flush rely on
 * that).
 *
 * Checked builds (RDMA_TCP_LOCK_CHECK: Debug and sanitizer builds) make
 * error-checking mutexes, keep the locks each thread holds, and abort
 * with both locks named on an out-of-order lock, an unlock of a lock not
 * held, a QP's lock released other than by tcp_qp_unlock, or a
 * tcp_assert_held that fails. Other builds compile to the plain
 * pthread calls.
 */
#ifndef RDMA_TCP_LOCK_H
#define RDMA_TCP_LOCK_H

#include <pthread.h>
#include <stdbool.h>

/* Outermost first. The gaps leave room for locks to come. */
enum tcp_lock_rank {
	TCP_LOCK_RANK_CTX = 10,	    /* ctx->lock: QP table, listeners, engine */
	TCP_LOCK_RANK_LIVE = 15,    /* engine.c live_lock: running engines */
	TCP_LOCK_RANK_CQ_QPS = 20,  /* cq->qps_lock: the QPs feeding a CQ */
	TCP_LOCK_RANK_QP = 30,	    /* qp->lock: queues, state, socket */
	TCP_LOCK_RANK_SRQ = 40,	    /* srq->lock: the shared receive ring */
	TCP_LOCK_RANK_CQ = 50,	    /* cq->lock: ring, arming, channel */
	TCP_LOCK_RANK_EV = 60,	    /* ctx->ev_lock: CQs with unsent events */
	TCP_LOCK_RANK_KEYS = 70,    /* keytab lock: memory keys */
	TCP_LOCK_RANK_PSP = 75,	    /* ctx->psp_lock: the device keys */
	TCP_LOCK_RANK_CLOSING = 80, /* engine closing_lock: lingering fds */
	TCP_LOCK_RANK_ASYNC = 90,   /* ctx->async_lock: async event pipe */
};

#ifdef RDMA_TCP_LOCK_CHECK

typedef struct tcp_mutex {
	pthread_mutex_t m;
	int rank;
	const char *name; /* as written at its init */
} tcp_mutex_t;

#define TCP_MUTEX_INITIALIZER(rank, name)                           \
	{                                                           \
		PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP, rank, name \
	}

void tcp_mutex_init_(tcp_mutex_t *m, int rank, const char *name);
void tcp_mutex_destroy_(tcp_mutex_t *m, const char *file, int line);
void tcp_mutex_lock_(tcp_mutex_t *m, const char *file, int line);
int tcp_mutex_trylock_(tcp_mutex_t *m, const char *file, int line);
void tcp_mutex_unlock_(tcp_mutex_t *m, bool qp_path, const char *file,
		       int line);
/* Does the calling thread hold m? */
bool tcp_mutex_held(const tcp_mutex_t *m);
void tcp_assert_held_(const tcp_mutex_t *m, const char *file, int line);

#define tcp_mutex_init(m, rank) tcp_mutex_init_((m), (rank), #m)
#define tcp_mutex_destroy(m)	tcp_mutex_destroy_((m), __FILE__, __LINE__)
#define tcp_mutex_lock(m)	tcp_mutex_lock_((m), __FILE__, __LINE__)
#define tcp_mutex_trylock(m)	tcp_mutex_trylock_((m), __FILE__, __LINE__)
#define tcp_mutex_unlock(m)	tcp_mutex_unlock_((m), false, __FILE__, __LINE__)
/* The release of a lock of rank QP: only tcp_qp_unlock (qp.h) calls it,
 * after announcing what a poll must serve; tcp_mutex_unlock of such a
 * lock aborts. (Unit tests that drive a QP without CQs call it too.) */
#define tcp_mutex_unlock_qp(m) tcp_mutex_unlock_((m), true, __FILE__, __LINE__)
/* A function documented "caller holds X" says so at its top. */
#define tcp_assert_held(m) tcp_assert_held_((m), __FILE__, __LINE__)

#else /* plain pthread mutexes, nothing recorded */

typedef struct tcp_mutex {
	pthread_mutex_t m;
} tcp_mutex_t;

#define TCP_MUTEX_INITIALIZER(rank, name) \
	{                                 \
		PTHREAD_MUTEX_INITIALIZER \
	}

static inline void tcp_mutex_init(tcp_mutex_t *m, int rank)
{
	(void)rank;
	pthread_mutex_init(&m->m, NULL);
}

static inline void tcp_mutex_destroy(tcp_mutex_t *m)
{
	pthread_mutex_destroy(&m->m);
}

static inline void tcp_mutex_lock(tcp_mutex_t *m)
{
	pthread_mutex_lock(&m->m);
}

static inline int tcp_mutex_trylock(tcp_mutex_t *m)
{
	return pthread_mutex_trylock(&m->m);
}

static inline void tcp_mutex_unlock(tcp_mutex_t *m)
{
	pthread_mutex_unlock(&m->m);
}

static inline void tcp_mutex_unlock_qp(tcp_mutex_t *m)
{
	pthread_mutex_unlock(&m->m);
}

#define tcp_assert_held(m) ((void)(m))

#endif

/*
 * Happens-before edges ThreadSanitizer cannot see: gcc 12's runtime does
 * not intercept epoll_pwait2, so what a thread writes before epoll_ctl
 * hands a pointer to the engine must be released for the engine's acquire
 * after its wait. No code in other builds.
 */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define tcp_sync_acquire(addr) __tsan_acquire(addr)
#define tcp_sync_release(addr) __tsan_release(addr)
#else
#define tcp_sync_acquire(addr) ((void)(addr))
#define tcp_sync_release(addr) ((void)(addr))
#endif

#endif
