// SPDX-License-Identifier: MIT
/* The progress engine thread: see engine.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "engine.h"
#include "qp.h"

/*
 * Serves a QP's socket; counts into *large the frames, reads and sends of
 * more than TCP_SPIN_BYTES it made (see engine_wait).
 */
static void qp_event(struct tcp_qp *qp, uint32_t events, uint64_t *large)
{
	uint64_t l;

	tcp_mutex_lock(&qp->lock);
	if (qp->dead) {
		tcp_mutex_unlock(&qp->lock);
		return;
	}
	l = qp->io_large;
	if (!qp->connected && qp->connecting &&
	    (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		tcp_qp_conn_ready(qp);
	} else if (qp->connected) {
		if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
			tcp_qp_rx(qp);
		if (qp->connected && (events & EPOLLOUT))
			tcp_qp_tx(qp);
	}
	*large += qp->io_large - l;
	tcp_mutex_unlock(&qp->lock);
}

/* Frees QPs destroyed before the batch now finished (see tcp_engine_bury). */
static void reap_graves(struct tcp_context *ctx, uint64_t epoch)
{
	struct tcp_engine *e = ctx->engine;
	struct tcp_qp **pp, *qp;

	tcp_mutex_lock(&ctx->lock);
	{
		struct tcp_pending **pq = &e->pending_grave, *pc;

		while ((pc = *pq)) {
			if (pc->dead_epoch < epoch) {
				*pq = pc->next;
				free(pc);
			} else {
				pq = &pc->next;
			}
		}
	}
	pp = &e->grave;
	while ((qp = *pp)) {
		if (qp->dead_epoch < epoch) {
			*pp = qp->grave_next;
			tcp_qp_free(qp);
		} else {
			pp = &qp->grave_next;
		}
	}
	tcp_mutex_unlock(&ctx->lock);
}

/*
 * The engine's blocking way into a QP's lock: announced, so that the
 * application hands the lock over (tcp_qp_yield) instead of taking it
 * again a microsecond after each unlock while the engine is still being
 * woken -- a queue the engine stayed in for ~20 ms at a time.
 */
static void engine_lock_qp(struct tcp_qp *qp)
{
	atomic_fetch_add_explicit(&qp->engine_wants, 1, memory_order_relaxed);
	tcp_mutex_lock(&qp->lock);
	atomic_fetch_sub_explicit(&qp->engine_wants, 1, memory_order_relaxed);
}

void tcp_qp_yield_slow(struct tcp_qp *qp)
{
	uint64_t t0 = tcp_now_ns();

	/* sched_yield: the engine may be waiting for this very CPU */
	while (atomic_load_explicit(&qp->engine_wants, memory_order_relaxed) &&
	       tcp_now_ns() - t0 < TCP_YIELD_NS)
		sched_yield();
}

/* How each_qp takes a QP lock that is taken. */
enum qp_lock_mode {
	QP_LOCK_WAIT,	  /* wait for it (engine_lock_qp) */
	QP_LOCK_SKIP_FEW, /* skip it TCP_TIMER_SKIPS times in a row at most */
	QP_LOCK_TRY,	  /* skip it, and the context if its lock is taken */
};

/*
 * Runs fn on every live QP of the context, under ctx->lock and its lock,
 * taken as mode says (the timers skip a few times; see below).
 */
static void each_qp(struct tcp_context *ctx,
		    void (*fn)(struct tcp_qp *, uint64_t), uint64_t now,
		    enum qp_lock_mode mode)
{
	struct tcp_engine *e = ctx->engine;
	int i, j;

	if (mode != QP_LOCK_TRY)
		tcp_mutex_lock(&ctx->lock);
	else if (tcp_mutex_trylock(&ctx->lock))
		return;
	for (i = 0; i < e->nlis; i++) {
		for (j = 0; j < TCP_QPS_PER_LISTENER; j++) {
			struct tcp_qp *qp = e->lis[i]->slots[j];

			if (!qp)
				continue;
			/*
			 * A QP whose lock is taken is in use by its
			 * application, which may hold it nearly all the time
			 * and retake it a microsecond after each unlock (a
			 * requester posting 64 KiB WRITEs, through each
			 * sendmsg): blocking queued this pass behind it for
			 * ~20 ms at a time. Its timers wait a few passes
			 * instead, TCP_TIMER_SKIPS at most; then, and for
			 * work that cannot wait (held-back WRs), the engine
			 * asks for the lock (engine_lock_qp).
			 */
			if (tcp_mutex_trylock(&qp->lock)) {
				if (mode == QP_LOCK_TRY ||
				    (mode == QP_LOCK_SKIP_FEW &&
				     ++qp->timer_skips < TCP_TIMER_SKIPS))
					continue;
				engine_lock_qp(qp);
			}
			qp->timer_skips = 0;
			if (!qp->dead)
				fn(qp, now);
			tcp_mutex_unlock(&qp->lock);
		}
	}
	tcp_mutex_unlock(&ctx->lock);
}

/*
 * Runs time-based work (RNR waits, deadlines, stalled receives) on every
 * QP, at every wake-up; what is measured in ticks (hand-backs, held-back
 * acks) only once a millisecond.
 */
static void run_timers(struct tcp_context *ctx)
{
	struct tcp_engine *e = ctx->engine;
	uint64_t now = tcp_now_ns();

	e->tick = now >= e->tick_at;
	if (e->tick)
		e->tick_at = now + TCP_TICK_NS;
	each_qp(ctx, tcp_qp_timers, now, QP_LOCK_SKIP_FEW);
	tcp_cq_retry_events(ctx);
}

/*
 * The dead-peer pass (qp_liveness.c), every TCP_LIVE_PERIOD_NS while QPs
 * have requests outstanding: coarse, so a busy QP costs a few system
 * calls a second, not one a tick.
 */
static void run_liveness(struct tcp_context *ctx)
{
	struct tcp_engine *e = ctx->engine;
	uint64_t now = tcp_now_ns();

	if (!atomic_load(&e->live_qps) || now < e->live_at)
		return;
	e->live_at = now + TCP_LIVE_PERIOD_NS;
	each_qp(ctx, tcp_qp_liveness, now, QP_LOCK_WAIT);
}

/* Sends what QPs held back for batching (see tcp_engine_defer_tx). */
static void flush_one(struct tcp_qp *qp, uint64_t now)
{
	(void)now;
	tcp_qp_flush(qp);
}

static void flush_deferred(struct tcp_context *ctx)
{
	each_qp(ctx, flush_one, 0, QP_LOCK_WAIT);
}

/*
 * The contexts of this process whose engines run (under live_lock), for
 * flush_at_exit. A NIC acknowledges a message as it arrives; this
 * provider may hold the ack back for the application's reply to carry
 * (tcp_qp_rx), and small WRs for the application's next poll. A program
 * that exits without destroying its QPs would take both with it, and the
 * peer's WR would fail with IBV_WC_RETRY_EXC_ERR where a NIC's succeeds.
 */
static tcp_mutex_t live_lock =
	TCP_MUTEX_INITIALIZER(TCP_LOCK_RANK_LIVE, "live_lock");
static struct tcp_engine *live;

static void live_add(struct tcp_context *ctx)
{
	struct tcp_engine *e = ctx->engine;

	e->ctx = ctx;
	e->pid = getpid();
	tcp_mutex_lock(&live_lock);
	e->live_next = live;
	live = e;
	tcp_mutex_unlock(&live_lock);
}

static void live_del(struct tcp_engine *e)
{
	struct tcp_engine **pp;

	tcp_mutex_lock(&live_lock);
	for (pp = &live; *pp; pp = &(*pp)->live_next) {
		if (*pp == e) {
			*pp = e->live_next;
			break;
		}
	}
	tcp_mutex_unlock(&live_lock);
}

/*
 * At exit() (or return from main), what is held back goes into the
 * sockets, which the kernel still delivers after the process is gone.
 * Only this process's own contexts: a forked child shares its parent's
 * sockets, and a frame sent from it would corrupt the parent's streams.
 * A QP or context whose lock is taken is skipped (its holder may be the
 * thread that exits, from a signal handler); nothing waits here.
 */
__attribute__((destructor)) static void flush_at_exit(void)
{
	struct tcp_engine *e;
	pid_t self = getpid();

	if (tcp_mutex_trylock(&live_lock))
		return;
	for (e = live; e; e = e->live_next)
		if (e->pid == self)
			each_qp(e->ctx, flush_one, 0, QP_LOCK_TRY);
	tcp_mutex_unlock(&live_lock);
}

/*
 * The safety net of transmit batching: an application that posts a burst
 * and then spins on memory instead of polling a CQ still sees its WRs go,
 * one engine wake-up later. One wake per burst, not per WR: tx_kick stays
 * set until the engine has looked.
 */
void tcp_engine_defer_tx(struct tcp_qp *qp)
{
	struct tcp_engine *e = qp->ctx->engine;

	tcp_assert_held(&qp->lock);
	if (qp->tx_kicked)
		return;
	qp->tx_deferred = true;
	/*
	 * An application that reads this QP's socket itself (rx_app_driven)
	 * polls again soon, and the engine's 1 ms tick is running for it
	 * anyway (tcp_qp_timers sends what is held back): no wake-up.
	 */
	if (qp->rx_app_driven)
		return;
	/* (an ack held back alone kicked nothing: WRs after it must) */
	qp->tx_kicked = true;
	if (!atomic_exchange(&e->tx_kick, true))
		tcp_engine_wake(qp->ctx);
}

#define TCP_LINGER_NS	  2000000000ull
#define TCP_KICK_GRACE_NS 100000ull

/*
 * Closing a socket with unread bytes makes the kernel reset the
 * connection, which can destroy what we sent last (the ack of the peer's
 * final message). So a QP socket is half-closed, drained until the peer's
 * FIN, and only then closed, within TCP_LINGER_NS.
 */
void tcp_engine_linger(struct tcp_context *ctx, int fd)
{
	struct tcp_engine *e = ctx->engine;
	struct tcp_closing *c = calloc(1, sizeof(*c));

	shutdown(fd, SHUT_WR);
	if (!e || !c || e->stop) {
		free(c);
		close(fd);
		return;
	}
	c->p.kind = POLL_CLOSING;
	c->fd = fd;
	c->deadline_ns = tcp_now_ns() + TCP_LINGER_NS;
	tcp_engine_timer_get(ctx); /* deadline checks */
	tcp_mutex_lock(&e->closing_lock);
	c->next = e->closing;
	e->closing = c;
	/* watched before the engine may reap it (linger_reap closes the fd
	 * and frees c under this lock): not a reused fd number, nor c freed */
	if (tcp_engine_watch(ctx, fd, &c->p, EPOLLIN | EPOLLRDHUP))
		tcp_engine_wake(ctx);
	tcp_mutex_unlock(&e->closing_lock);
}

/* Drains a lingering socket; true when it is finished (EOF or error). */
static bool linger_drain(int fd)
{
	char buf[4096];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	return n == 0 || (errno != EAGAIN && errno != EINTR);
}

/* Closes lingering sockets that are done, or all of them if `all`. */
static void linger_reap(struct tcp_context *ctx, struct tcp_closing *only,
			bool all)
{
	struct tcp_engine *e = ctx->engine;
	struct tcp_closing **pp, *c;
	uint64_t now = tcp_now_ns();

	tcp_mutex_lock(&e->closing_lock);
	pp = &e->closing;
	while ((c = *pp)) {
		if ((!only || c == only) &&
		    (all || linger_drain(c->fd) || now > c->deadline_ns)) {
			*pp = c->next;
			epoll_ctl(e->epfd, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			free(c);
			tcp_engine_timer_put(e->ctx);
		} else {
			pp = &c->next;
		}
	}
	tcp_mutex_unlock(&e->closing_lock);
}

/*
 * Waits for events, first spinning a while when the last wake-up served
 * sockets (bounded adaptive busy-polling). Waking a sleeping thread costs
 * tens of microseconds on a virtual machine's idle vCPU; a responder
 * serving a latency loop (READs to answer, WRITEs to place) gets its
 * next request sooner than that. The budget doubles each time a spin
 * catches an event and halves each time it does not, so an engine
 * whose spinning does not pay -- or keeps its CPU from an application
 * it shares the CPU with -- soon stops; a quick wake-up after a sleep
 * starts it again.
 */
static int engine_wait(struct tcp_engine *e, struct epoll_event *ev, int max,
		       struct timespec *tmo, bool served)
{
	static const struct timespec zero;
	uint64_t t0 = 0, limit = e->spin_ns;
	int n;

	if (served && limit) {
		t0 = tcp_now_ns();
		if (tmo && (uint64_t)tmo->tv_nsec < limit)
			limit = tmo->tv_nsec;
		do {
			n = epoll_pwait2(e->epfd, ev, max, &zero, NULL);
			tcp_sync_acquire(e);
			if (n) {
				if (n > 0)
					e->spin_ns =
						e->spin_ns * 2 < e->spin_max_ns
							? e->spin_ns * 2
							: e->spin_max_ns;
				return n;
			}
		} while (tcp_now_ns() - t0 < limit);
		e->spin_ns =
			e->spin_ns / 2 < TCP_SPIN_MIN_NS ? 0 : e->spin_ns / 2;
		if (tmo)
			tmo->tv_nsec -= tmo->tv_nsec > (long)limit
						? (long)limit
						: tmo->tv_nsec;
	}
	t0 = tcp_now_ns();
	n = epoll_pwait2(e->epfd, ev, max, tmo, NULL);
	tcp_sync_acquire(e);
	if (n > 0 && !e->spin_ns && e->spin_max_ns &&
	    tcp_now_ns() - t0 < e->spin_max_ns)
		e->spin_ns = TCP_SPIN_MIN_NS < e->spin_max_ns ? TCP_SPIN_MIN_NS
							      : e->spin_max_ns;
	return n;
}

/*
 * Shortens the wait to a deadline (the next connection timer -- an
 * overdue hello, a resting listener: tcp_conn_timers -- or the next
 * liveness look), to a second at most: those need no better than that,
 * and the timeout stays in tv_nsec.
 */
static void wait_until(uint64_t at, struct timespec *ts, struct timespec **tmo)
{
	uint64_t now = tcp_now_ns(), d;

	d = at > now ? at - now : 0;
	if (d > 999999999)
		d = 999999999;
	if (!*tmo || (uint64_t)ts->tv_nsec > d) {
		ts->tv_sec = 0;
		ts->tv_nsec = (long)d;
		*tmo = ts;
	}
}

static void *engine_main(void *arg)
{
	struct tcp_context *ctx = arg;
	struct tcp_engine *e = ctx->engine;
	struct epoll_event ev[64];
	uint64_t epoch, junk, kick_at = 0;
	uint64_t large;
	bool served = false;
	int n, i;

	while (!atomic_load(&e->stop)) {
		struct timespec ts = { 0 }, *tmo = NULL;

		epoch = atomic_fetch_add(&e->epoch, 1) + 1;
		reap_graves(ctx, epoch);
		if (kick_at) {
			uint64_t now = tcp_now_ns();

			ts.tv_nsec = kick_at > now ? (long)(kick_at - now) : 0;
			tmo = &ts;
		} else if (atomic_load(&e->stalled)) {
			uint64_t now = tcp_now_ns();

			/* a tick due now is run now; a mark left from before
			 * the timers were needed starts a fresh period */
			if (e->tick_at + TCP_TICK_NS < now ||
			    e->tick_at > now + TCP_TICK_NS)
				e->tick_at = now + TCP_TICK_NS;
			ts.tv_nsec =
				e->tick_at > now ? (long)(e->tick_at - now) : 0;
			tmo = &ts;
		}
		if (e->conn_timer_at)
			wait_until(e->conn_timer_at, &ts, &tmo);
		if (atomic_load(&e->live_qps))
			wait_until(e->live_at, &ts, &tmo);
		n = engine_wait(e, ev, 64, tmo, served);
		if (n < 0 && errno != EINTR)
			break;
		served = false;
		large = 0;
		for (i = 0; i < n; i++) {
			struct tcp_pollable *p = ev[i].data.ptr;

			switch (p->kind) {
			case POLL_WAKE:
				if (read(e->wakefd, &junk, sizeof(junk)) < 0)
					break;
				break;
			case POLL_LISTENER:
				tcp_conn_accept(ctx, (struct tcp_lsock *)p);
				break;
			case POLL_PENDING:
				tcp_conn_pending_rx(ctx,
						    (struct tcp_pending *)p);
				break;
			case POLL_CLOSING:
				linger_reap(ctx, (struct tcp_closing *)p,
					    false);
				break;
			case POLL_NETLINK:
				tcp_port_events_rx(ctx);
				break;
			case POLL_QP:
				qp_event(container_of(p, struct tcp_qp_poll, p)
						 ->qp,
					 ev[i].events, &large);
				served = true;
				break;
			}
		}
		/*
		 * Held-back WRs get a grace period: the application that
		 * posted them usually polls a CQ (and sends them itself)
		 * within microseconds, and an engine sending them meanwhile
		 * would only fight it for the QP lock. tx_kick stays set
		 * during the grace, so further bursts cost no wake-up.
		 */
		if (!kick_at && atomic_load(&e->tx_kick))
			kick_at = tcp_now_ns() + TCP_KICK_GRACE_NS;
		if (kick_at && tcp_now_ns() >= kick_at) {
			kick_at = 0;
			atomic_store(&e->tx_kick, false);
			flush_deferred(ctx);
		}
		if (atomic_load(&e->stalled)) {
			run_timers(ctx);
			linger_reap(ctx, NULL, false);
		}
		if (e->conn_timer_at && tcp_now_ns() >= e->conn_timer_at)
			e->conn_timer_at = tcp_conn_timers(ctx, tcp_now_ns());
		run_liveness(ctx);
		/*
		 * Spin after small messages only: a stream of large ones
		 * keeps the engine busy without it, and spinning between its
		 * bursts would only burn a CPU; small messages come faster
		 * than a sleeping engine is woken (and every wake-up is paid
		 * by the sender's sendmsg).
		 */
		served = served && !large;
	}
	return NULL;
}

/* RDMA_TCP_ENGINE_SPIN_US: 0 to 1000 microseconds, else the default. */
static uint64_t spin_ceiling(void)
{
	const char *v = getenv(TCP_SPIN_ENV);
	char *end;
	unsigned long us;

	if (!v || !*v)
		return TCP_SPIN_MAX_NS;
	errno = 0;
	us = strtoul(v, &end, 10);
	if (errno || *end || us > 1000)
		return TCP_SPIN_MAX_NS;
	return us * 1000ull;
}

int tcp_engine_start(struct tcp_context *ctx)
{
	struct tcp_engine *e;
	struct epoll_event ev = { .events = EPOLLIN };

	tcp_assert_held(&ctx->lock);
	if (ctx->engine)
		return 0;
	e = calloc(1, sizeof(*e));
	if (!e)
		return ENOMEM;
	e->nlfd = -1;
	e->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	e->spin_max_ns = spin_ceiling();
	tcp_mutex_init(&e->closing_lock, TCP_LOCK_RANK_CLOSING);
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e->epfd < 0 || e->wakefd < 0)
		goto fail;
	e->wake.kind = POLL_WAKE;
	ev.data.ptr = &e->wake;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->wakefd, &ev))
		goto fail;
	ctx->engine = e;
	/* without rtnetlink (unlikely) the port simply raises no events */
	tcp_port_events_open(ctx);
	if (pthread_create(&e->thread, NULL, engine_main, ctx)) {
		ctx->engine = NULL;
		goto fail;
	}
	/* so that top -H and /proc/PID/task/TID/comm tell it apart */
	pthread_setname_np(e->thread, "rdma-tcp-engine");
	e->running = true;
	live_add(ctx);
	return 0;
fail:
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->wakefd >= 0)
		close(e->wakefd);
	if (e->spare_fd >= 0)
		close(e->spare_fd);
	free(e);
	return errno ? errno : ENOMEM;
}

void tcp_engine_wake(struct tcp_context *ctx)
{
	uint64_t one = 1;

	if (ctx->engine && write(ctx->engine->wakefd, &one, sizeof(one)) < 0)
		return; /* counter saturated: the engine is awake anyway */
}

void tcp_engine_stop(struct tcp_context *ctx)
{
	struct tcp_engine *e = ctx->engine;
	struct tcp_pending *pc;
	struct tcp_qp *qp;
	int i;

	if (!e)
		return;
	live_del(e);
	atomic_store(&e->stop, true);
	tcp_engine_wake(ctx);
	if (e->running)
		pthread_join(e->thread, NULL);
	/* Lingering sockets get a last short chance to see the peer's FIN. */
	for (i = 0; i < 20 && e->closing; i++) {
		struct tcp_closing *c;
		struct pollfd pf[16];
		int n = 0;

		tcp_mutex_lock(&e->closing_lock);
		for (c = e->closing; c && n < 16; c = c->next)
			pf[n++] = (struct pollfd){ .fd = c->fd,
						   .events = POLLIN };
		tcp_mutex_unlock(&e->closing_lock);
		poll(pf, n, 10);
		linger_reap(ctx, NULL, false);
	}
	linger_reap(ctx, NULL, true);
	while ((qp = e->grave)) {
		e->grave = qp->grave_next;
		tcp_qp_free(qp);
	}
	while ((pc = e->pending)) {
		e->pending = pc->next;
		close(pc->fd);
		free(pc);
	}
	while ((pc = e->pending_grave)) {
		e->pending_grave = pc->next;
		free(pc);
	}
	for (i = 0; i < e->nlis; i++) {
		tcp_listen_close(ctx, e->lis[i]);
		free(e->lis[i]);
	}
	free(e->lis);
	if (e->nlfd >= 0)
		close(e->nlfd);
	if (e->spare_fd >= 0)
		close(e->spare_fd);
	close(e->wakefd);
	close(e->epfd);
	free(e);
	ctx->engine = NULL;
}

int tcp_engine_watch(struct tcp_context *ctx, int fd, struct tcp_pollable *p,
		     uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = p };

	tcp_sync_release(ctx->engine);
	return epoll_ctl(ctx->engine->epfd, EPOLL_CTL_ADD, fd, &ev) ? errno : 0;
}

int tcp_engine_rewatch(struct tcp_context *ctx, int fd, struct tcp_pollable *p,
		       uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = p };

	tcp_sync_release(ctx->engine);
	return epoll_ctl(ctx->engine->epfd, EPOLL_CTL_MOD, fd, &ev) ? errno : 0;
}

void tcp_engine_unwatch(struct tcp_context *ctx, int fd)
{
	epoll_ctl(ctx->engine->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/*
 * A destroyed QP may still sit in the event batch the engine is working
 * through; it is freed only once a later batch begins (caller holds
 * ctx->lock).
 */
void tcp_engine_bury(struct tcp_context *ctx, struct tcp_qp *qp)
{
	struct tcp_engine *e = ctx->engine;

	tcp_assert_held(&ctx->lock);
	if (!e) {
		tcp_qp_free(qp);
		return;
	}
	qp->dead_epoch = atomic_load(&e->epoch);
	qp->grave_next = e->grave;
	e->grave = qp;
	tcp_engine_wake(ctx);
}

/* ibv_req_notify_cq: the application will sleep; the engine reads. */
void tcp_engine_takes_rx(struct tcp_cq *cq)
{
	uint32_t i;

	tcp_mutex_lock(&cq->qps_lock);
	for (i = 0; i < cq->nqps; i++) {
		struct tcp_qp *qp = cq->qps[i];

		tcp_mutex_lock(&qp->lock);
		if (!qp->dead) {
			tcp_qp_engine_rx(qp);
			if (qp->connected)
				tcp_qp_flush(qp);
		}
		tcp_mutex_unlock(&qp->lock);
	}
	tcp_mutex_unlock(&cq->qps_lock);
}

/*
 * Called from ibv_poll_cq: read whatever the QPs feeding this CQ have
 * waiting. trylock keeps the poller from ever blocking on a QP the engine
 * (or another thread) is already serving.
 */
void tcp_progress_cq(struct tcp_cq *cq)
{
	bool idle = true; /* every QP found nothing and may back off */
	uint32_t i;

	if (tcp_mutex_trylock(&cq->qps_lock))
		return;
	for (i = 0; i < cq->nqps; i++) {
		struct tcp_qp *qp = cq->qps[i];

		/* the engine waits for this QP: let it in (tcp_qp_yield) */
		if (atomic_load_explicit(&qp->engine_wants,
					 memory_order_relaxed) ||
		    tcp_mutex_trylock(&qp->lock)) {
			idle = false;
			continue;
		}
		if (!qp->dead && qp->connected) {
			/*
			 * A poll ends a burst: send what it held back. First,
			 * so that an ack this pass holds back (tcp_qp_rx)
			 * waits for the application's reply or next call.
			 * An ack held back alone waits through one more poll:
			 * a ping-pong reaps its receive (or send) completion
			 * before it posts the reply the ack rides on
			 * (perftest's send_lat polls the send CQ, then the
			 * receive CQ that already holds the message).
			 */
			if (qp->ack_grace && tcp_qp_only_ack_held(qp))
				qp->ack_grace = false;
			else
				tcp_qp_flush(qp);
			if (!tcp_qp_app_pass(qp, cq))
				idle = false;
		}
		tcp_mutex_unlock(&qp->lock);
	}
	if (!idle)
		cq->rx_backoff = 0;
	else if (cq->rx_backoff < TCP_APP_RX_SKIP_MAX)
		cq->rx_backoff = cq->rx_backoff * 2 + 1;
	atomic_store_explicit(&cq->rx_skip, cq->rx_backoff,
			      memory_order_relaxed);
	tcp_mutex_unlock(&cq->qps_lock);
}
