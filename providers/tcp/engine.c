// SPDX-License-Identifier: MIT
/* The progress engine thread: see engine.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "engine.h"

/* The engine's clock (CLOCK_MONOTONIC, as the transport's tcp_now_ns). */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Frees what was buried before the batch now finished (tcp_engine_bury). */
static void reap_graves(struct tcp_context *ctx, uint64_t epoch)
{
	struct tcp_engine *e = ctx->engine;
	struct tcp_watch **pp, *w;

	tcp_mutex_lock(&ctx->lock);
	pp = &e->grave;
	while ((w = *pp)) {
		if (w->dead_epoch < epoch) {
			*pp = w->grave_next;
			w->ops->free(w);
		} else {
			pp = &w->grave_next;
		}
	}
	tcp_mutex_unlock(&ctx->lock);
}

/* The tick's period: 1 ms while a timer reference is held, else coarse. */
static uint64_t tick_period(struct tcp_engine *e)
{
	return atomic_load(&e->stalled) ? TCP_TICK_NS : TCP_COARSE_TICK_NS;
}

/*
 * Runs time-based work at every wake-up while timer references are held;
 * what is measured in ticks only once a period (tick).
 */
static void run_timers(struct tcp_context *ctx)
{
	struct tcp_engine *e = ctx->engine;
	const struct tcp_engine_hooks *const *h;
	uint64_t now = now_ns();

	e->tick = now >= e->tick_at;
	if (e->tick)
		e->tick_at = now + tick_period(e);
	for (h = e->hooks; *h; h++)
		if ((*h)->timers)
			(*h)->timers(ctx, now);
}

/*
 * The dead-peer pass, every TCP_LIVE_PERIOD_NS while live_qps is not 0:
 * coarse, so a busy QP costs a few system calls a second, not one a tick.
 */
static void run_liveness(struct tcp_context *ctx)
{
	struct tcp_engine *e = ctx->engine;
	const struct tcp_engine_hooks *const *h;
	uint64_t now = now_ns();

	if (!atomic_load(&e->live_qps) || now < e->live_at)
		return;
	e->live_at = now + TCP_LIVE_PERIOD_NS;
	for (h = e->hooks; *h; h++)
		if ((*h)->liveness)
			(*h)->liveness(ctx, now);
}

/* Held-back work: after the kick grace, or at exit (flush_at_exit). */
static void run_flush(struct tcp_context *ctx, bool at_exit)
{
	const struct tcp_engine_hooks *const *h;

	for (h = ctx->engine->hooks; *h; h++)
		if ((*h)->flush)
			(*h)->flush(ctx, at_exit);
}

/* The hooks' next deadline (0: none), once the last one has passed. */
static uint64_t run_deadlines(struct tcp_context *ctx)
{
	const struct tcp_engine_hooks *const *h;
	uint64_t at = 0, next;

	for (h = ctx->engine->hooks; *h; h++) {
		if (!(*h)->deadlines)
			continue;
		next = (*h)->deadlines(ctx, now_ns());
		if (next && (!at || next < at))
			at = next;
	}
	return at;
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
 * The hooks' flush skips what is locked (its holder may be the thread
 * that exits, from a signal handler); nothing waits here.
 */
__attribute__((destructor)) static void flush_at_exit(void)
{
	struct tcp_engine *e;
	pid_t self = getpid();

	if (tcp_mutex_trylock(&live_lock))
		return;
	for (e = live; e; e = e->live_next)
		if (e->pid == self)
			run_flush(e->ctx, true);
	tcp_mutex_unlock(&live_lock);
}

/*
 * The kick stays set until the engine has looked, so further calls cost
 * no wake-up.
 */
void tcp_engine_kick(struct tcp_context *ctx)
{
	if (!atomic_exchange(&ctx->engine->tx_kick, true))
		tcp_engine_wake(ctx);
}

#define TCP_LINGER_NS	  2000000000ull
#define TCP_KICK_GRACE_NS 100000ull

static void linger_reap(struct tcp_context *ctx, struct tcp_closing *only,
			bool all);

/* A lingering socket has news: bytes to drain, or the peer's FIN. */
static unsigned int closing_ready(struct tcp_context *ctx, struct tcp_watch *w,
				  uint32_t events)
{
	(void)events;
	linger_reap(ctx, container_of(w, struct tcp_closing, p), false);
	return 0;
}

static const struct tcp_watch_ops closing_ops = { .ready = closing_ready };

/* tcp_engine_wake's eventfd: the wake-up itself is all it has to say. */
static unsigned int wake_ready(struct tcp_context *ctx, struct tcp_watch *w,
			       uint32_t events)
{
	uint64_t junk;

	(void)w;
	(void)events;
	(void)!read(ctx->engine->wakefd, &junk, sizeof(junk));
	return 0;
}

static const struct tcp_watch_ops wake_ops = { .ready = wake_ready };

/* The lease ran out (not renewed since it was set: the read finds it). */
static unsigned int lease_ready(struct tcp_context *ctx, struct tcp_watch *w,
				uint32_t events)
{
	uint64_t expirations;

	(void)w;
	(void)events;
	if (read(ctx->engine->lease_fd, &expirations, sizeof(expirations)) ==
	    sizeof(expirations))
		ctx->engine->lease_due = true;
	return 0;
}

static const struct tcp_watch_ops lease_ops = { .ready = lease_ready };

/* Sets the lease to run out at @until: the engine's timerfd, and a count
 * of the QPs that looked during it from @seen. */
static void lease_set(struct tcp_engine *e, uint64_t until, unsigned int seen)
{
	struct itimerspec its = { 0 };

	atomic_store_explicit(&e->lease_seen, seen, memory_order_relaxed);
	its.it_value.tv_sec = (time_t)(until / 1000000000ull);
	its.it_value.tv_nsec = (long)(until % 1000000000ull);
	timerfd_settime(e->lease_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

void tcp_engine_lease_renew(struct tcp_context *ctx, uint64_t now,
			    uint64_t *mark)
{
	struct tcp_engine *e = ctx->engine;
	uint64_t until;

	if (!e || e->lease_fd < 0)
		return;
	until = atomic_load_explicit(&e->lease_until, memory_order_relaxed);
	if (*mark != until) { /* this QP's first look in this lease */
		*mark = until;
		atomic_fetch_add_explicit(&e->lease_seen, 1,
					  memory_order_relaxed);
	}
	/* not half gone yet, or a QP of the mode has not looked in it */
	if (until > now + TCP_LEASE_NS / 2 ||
	    atomic_load_explicit(&e->lease_seen, memory_order_relaxed) <
		    (unsigned int)atomic_load(&e->coarse))
		return;
	/* (one renewer a lease: the others' looks count for the next; one
	 * that counted between the exchange and lease_set is lost, and the
	 * lease then runs out once with every QP still looking: the timer
	 * pass finds none silent and lease_rearm starts a new one) */
	if (!atomic_compare_exchange_strong(&e->lease_until, &until,
					    now + TCP_LEASE_NS))
		return;
	*mark = now + TCP_LEASE_NS;
	lease_set(e, *mark, 1);
}

/*
 * The lease ran out and the timer pass has looked: while QPs are still in
 * the mode (they looked, or their lock was taken), a new lease.
 */
static void lease_rearm(struct tcp_engine *e)
{
	uint64_t until = now_ns() + TCP_LEASE_NS;

	if (!atomic_load(&e->coarse))
		return;
	atomic_store_explicit(&e->lease_until, until, memory_order_relaxed);
	lease_set(e, until, 0);
}

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
	c->p.ops = &closing_ops;
	c->fd = fd;
	c->deadline_ns = now_ns() + TCP_LINGER_NS;
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
	uint64_t now = now_ns();

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
 * May the engine spin: is no thread kept from a CPU by it? The kernel's
 * count of runnable threads (/proc/loadavg's fourth field, this one
 * included) is at most the online CPUs. A spinning engine took the CPU
 * from an application spinning on memory for the very WRITE the engine
 * was to place, and from any other busy process: each then waited for
 * the engine's spin to end, or for a time slice. The count is
 * system-wide: a thread woken onto the engine's own CPU while another
 * CPU idles (its application, pinned with it) waits for the scheduler's
 * wake-up preemption. (Yielding to it lost the CPU for a whole slice
 * whenever that thread then spun.)
 */
static bool cpu_idle(struct tcp_engine *e, uint64_t now)
{
	char buf[128], *p;
	ssize_t n;

	if (e->loadfd < 0)
		return true;
	/* a look costs about as much as the spin between frames of a
	 * bandwidth pair: one look serves several spins (docs/design.md,
	 * "Progress model") */
	if (now - e->gate_at < TCP_SPIN_CHECK_NS)
		return e->gate_open;
	e->gate_at = now;
	n = pread(e->loadfd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return e->gate_open = true;
	buf[n] = '\0';
	/* "0.10 0.20 0.30 RUNNING/TOTAL LASTPID" */
	p = strchr(buf, '/');
	while (p && p > buf && p[-1] >= '0' && p[-1] <= '9')
		p--;
	e->gate_open = !p || strtoul(p, NULL, 10) <= e->ncpu;
	return e->gate_open;
}

/* What the spin gate needs, at start: see cpu_idle. */
static void spin_gate_init(struct tcp_engine *e)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	e->ncpu = n > 0 ? (unsigned int)n : 1;
	e->loadfd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
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
	uint64_t t0 = 0, now = 0, limit = e->spin_ns;
	int n;

	if (served && limit && cpu_idle(e, now = now_ns())) {
		t0 = now;
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
			now = now_ns();
			/* a thread waits for a CPU: sleep (the budget stays) */
			if (!cpu_idle(e, now))
				break;
		} while (now - t0 < limit);
		if (now - t0 >= limit)
			e->spin_ns = e->spin_ns / 2 < TCP_SPIN_MIN_NS
					     ? 0
					     : e->spin_ns / 2;
		if (tmo)
			tmo->tv_nsec -= tmo->tv_nsec > (long)(now - t0)
						? (long)(now - t0)
						: tmo->tv_nsec;
	}
	t0 = now_ns();
	n = epoll_pwait2(e->epfd, ev, max, tmo, NULL);
	tcp_sync_acquire(e);
	if (n > 0 && !e->spin_ns && e->spin_max_ns &&
	    now_ns() - t0 < e->spin_max_ns)
		e->spin_ns = TCP_SPIN_MIN_NS < e->spin_max_ns ? TCP_SPIN_MIN_NS
							      : e->spin_max_ns;
	return n;
}

/*
 * Shortens the wait to a deadline (the hooks' next one -- an overdue
 * hello, a resting listener: conn.c -- or the next liveness look), to a
 * second at most: those need no better than that, and the timeout stays
 * in tv_nsec.
 */
static void wait_until(uint64_t at, struct timespec *ts, struct timespec **tmo)
{
	uint64_t now = now_ns(), d;

	d = at > now ? at - now : 0;
	if (d > 999999999)
		d = 999999999;
	if (!*tmo || (uint64_t)ts->tv_nsec > d) {
		ts->tv_sec = 0;
		ts->tv_nsec = (long)d;
		*tmo = ts;
	}
}

/*
 * How long the engine may sleep: until the held-back WRs' grace ends, else
 * the next timer tick while timers are needed, and no later than the next
 * deadline or liveness look; NULL (no limit) when nothing is due.
 */
static struct timespec *next_wait(struct tcp_engine *e, uint64_t kick_at,
				  struct timespec *ts)
{
	struct timespec *tmo = NULL;

	*ts = (struct timespec){ 0 };
	if (kick_at) {
		uint64_t now = now_ns();

		ts->tv_nsec = kick_at > now ? (long)(kick_at - now) : 0;
		tmo = ts;
	} else if (atomic_load(&e->stalled) || atomic_load(&e->coarse)) {
		uint64_t now = now_ns(), period = tick_period(e);

		/* a tick due now is run now; a mark left from before
		 * the timers were needed (or from a longer period) starts a
		 * fresh period */
		if (e->tick_at + period < now || e->tick_at > now + period)
			e->tick_at = now + period;
		ts->tv_nsec = e->tick_at > now ? (long)(e->tick_at - now) : 0;
		tmo = ts;
	}
	if (e->deadline_at)
		wait_until(e->deadline_at, ts, &tmo);
	if (atomic_load(&e->live_qps))
		wait_until(e->live_at, ts, &tmo);
	return tmo;
}

static void *engine_main(void *arg)
{
	struct tcp_context *ctx = arg;
	struct tcp_engine *e = ctx->engine;
	struct epoll_event ev[64];
	uint64_t epoch, kick_at = 0;
	bool served = false, large;
	int n, i;

	while (!atomic_load(&e->stop)) {
		struct timespec ts, *tmo;

		epoch = atomic_fetch_add(&e->epoch, 1) + 1;
		reap_graves(ctx, epoch);
		tmo = next_wait(e, kick_at, &ts);
		n = engine_wait(e, ev, 64, tmo, served);
		if (n < 0 && errno != EINTR)
			break;
		served = false;
		large = false;
		for (i = 0; i < n; i++) {
			struct tcp_watch *w = ev[i].data.ptr;
			unsigned int r = w->ops->ready(ctx, w, ev[i].events);

			served |= r & TCP_READY_IO;
			large |= r & TCP_READY_LARGE;
		}
		/*
		 * Held-back WRs get a grace period: the application that
		 * posted them usually polls a CQ (and sends them itself)
		 * within microseconds, and an engine sending them meanwhile
		 * would only fight it for the QP lock. tx_kick stays set
		 * during the grace, so further bursts cost no wake-up.
		 */
		if (!kick_at && atomic_load(&e->tx_kick))
			kick_at = now_ns() + TCP_KICK_GRACE_NS;
		if (kick_at && now_ns() >= kick_at) {
			kick_at = 0;
			atomic_store(&e->tx_kick, false);
			run_flush(ctx, false);
		}
		if (atomic_load(&e->stalled) || atomic_load(&e->coarse) ||
		    e->lease_due) {
			run_timers(ctx);
			linger_reap(ctx, NULL, false);
			if (e->lease_due)
				lease_rearm(e);
			e->lease_due = false;
		}
		if (e->deadline_at && now_ns() >= e->deadline_at)
			e->deadline_at = run_deadlines(ctx);
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

/* The hooks' stop, in reverse order; not on the engine thread. */
static void run_stop(struct tcp_context *ctx)
{
	const struct tcp_engine_hooks *const *h = ctx->engine->hooks;
	int n = 0;

	while (h[n])
		n++;
	while (n--)
		if (h[n]->stop)
			h[n]->stop(ctx);
}

/* The hooks' start, in order; at the first error all stop again. */
static int run_start(struct tcp_context *ctx)
{
	const struct tcp_engine_hooks *const *h;
	int err;

	for (h = ctx->engine->hooks; *h; h++) {
		err = (*h)->start ? (*h)->start(ctx) : 0;
		if (err) {
			run_stop(ctx);
			return err;
		}
	}
	return 0;
}

int tcp_engine_start(struct tcp_context *ctx,
		     const struct tcp_engine_hooks *const *hooks)
{
	struct tcp_engine *e;
	struct epoll_event ev = { .events = EPOLLIN };
	int err;

	tcp_assert_held(&ctx->lock);
	if (ctx->engine)
		return 0;
	e = calloc(1, sizeof(*e));
	if (!e)
		return ENOMEM;
	e->hooks = hooks;
	/* no QP's mark (0 at first) names it: each counts at its first look */
	atomic_init(&e->lease_until, 1);
	e->spin_max_ns = spin_ceiling();
	spin_gate_init(e);
	tcp_mutex_init(&e->closing_lock, TCP_LOCK_RANK_CLOSING);
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->lease_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (e->epfd < 0 || e->wakefd < 0 || e->lease_fd < 0)
		goto fail;
	e->wake.ops = &wake_ops;
	ev.data.ptr = &e->wake;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->wakefd, &ev))
		goto fail;
	e->lease.ops = &lease_ops;
	ev.data.ptr = &e->lease;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->lease_fd, &ev))
		goto fail;
	ctx->engine = e;
	err = run_start(ctx);
	if (err)
		goto fail_hooks;
	err = pthread_create(&e->thread, NULL, engine_main, ctx);
	if (err) {
		run_stop(ctx);
		goto fail_hooks;
	}
	/* so that top -H and /proc/PID/task/TID/comm tell it apart */
	pthread_setname_np(e->thread, "rdma-tcp-engine");
	e->running = true;
	live_add(ctx);
	return 0;
fail_hooks:
	ctx->engine = NULL;
	errno = err;
fail:
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->wakefd >= 0)
		close(e->wakefd);
	if (e->lease_fd >= 0)
		close(e->lease_fd);
	if (e->loadfd >= 0)
		close(e->loadfd);
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
	struct tcp_watch *w;
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
	while ((w = e->grave)) {
		e->grave = w->grave_next;
		w->ops->free(w);
	}
	run_stop(ctx);
	close(e->wakefd);
	if (e->lease_fd >= 0)
		close(e->lease_fd);
	close(e->epfd);
	if (e->loadfd >= 0)
		close(e->loadfd);
	free(e);
	ctx->engine = NULL;
}

int tcp_engine_watch(struct tcp_context *ctx, int fd, struct tcp_watch *w,
		     uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	tcp_sync_release(ctx->engine);
	return epoll_ctl(ctx->engine->epfd, EPOLL_CTL_ADD, fd, &ev) ? errno : 0;
}

int tcp_engine_rewatch(struct tcp_context *ctx, int fd, struct tcp_watch *w,
		       uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	tcp_sync_release(ctx->engine);
	return epoll_ctl(ctx->engine->epfd, EPOLL_CTL_MOD, fd, &ev) ? errno : 0;
}

void tcp_engine_unwatch(struct tcp_context *ctx, int fd)
{
	epoll_ctl(ctx->engine->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* An event of the batch under way may still name w: see engine.h. */
void tcp_engine_bury(struct tcp_context *ctx, struct tcp_watch *w)
{
	struct tcp_engine *e = ctx->engine;

	tcp_assert_held(&ctx->lock);
	if (!e) {
		w->ops->free(w);
		return;
	}
	w->dead_epoch = atomic_load(&e->epoch);
	w->grave_next = e->grave;
	e->grave = w;
	tcp_engine_wake(ctx);
}
