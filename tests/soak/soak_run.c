// SPDX-License-Identifier: MIT
/*
 * The soak's run: worker threads (-T, default 1) each drive their range of
 * QPs (post, poll, check); the process's first thread runs the control
 * connection, the phases, the figures and the summary.
 *
 * Phases: RUN (random traffic until -t), DRAIN (no new work but credit;
 * each worker waits for its windows to empty), WAIT_PEER (our counts are
 * sent, the peer's awaited), FINAL (every message the peer sent must
 * arrive; each QP reads back its whole region and counters in the peer),
 * FIN_WAIT (until the peer has finished its own), END.
 */
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "soak.h"

static const char *who(struct soak *s)
{
	return s->role ? "client" : "server";
}

/* ------------------------------------------------------------------ */
/* process figures */

static long rss_kb(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = -1; /* the directory's own fd */

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

struct sample {
	long rss, rss_max;
	int fds, fds_max;
};

static void sample(struct sample *cur)
{
	cur->rss = rss_kb();
	cur->fds = fd_count();
	if (cur->rss > cur->rss_max)
		cur->rss_max = cur->rss;
	if (cur->fds > cur->fds_max)
		cur->fds_max = cur->fds;
}

/* ------------------------------------------------------------------ */
/* watchdog */

/* What a worker's QPs still miss: WRs outstanding, messages not come. */
static unsigned dump_qps(struct soak *s, unsigned *wrs)
{
	double t = now();
	unsigned i, j, shown = 0;
	int ph = s->g ? atomic_load(&s->g->phase) : RUN;

	for (i = s->q0; i < s->q1; i++) {
		struct sqp *q = &s->qps[i];
		bool missing = q->peer_sent > q->k_recv;

		*wrs += q->n;
		if (!q->n && !missing &&
		    (q->dead || q->final_stage == 3 || ph < FINAL))
			continue;
		if (shown++ >= 64)
			continue;
		printf("  qp %u (qpn %u%s%s): %u WRs outstanding, messages "
		       "received %llu of %llu%s, credit word %llu, sent %llu, "
		       "credit given %llu returned %llu, final stage %d\n",
		       i, q->qp->qp_num, q->srq >= 0 ? " srq" : "",
		       q->dead ? " dead" : "", q->n,
		       (unsigned long long)q->k_recv,
		       (unsigned long long)q->peer_sent,
		       ph >= FINAL ? "" : " (peer count not known)",
		       (unsigned long long)credit_word(s, q),
		       (unsigned long long)q->k_sent,
		       (unsigned long long)q->credit_given,
		       (unsigned long long)q->credit_sent, q->final_stage);
		for (j = 0; j < q->n && j < 8; j++) {
			struct swr *w = &q->ring[(q->head + j) % WMAX];

			printf("    seq %u %s%s len %u, posted %.1f s ago\n",
			       w->seq, kind_name(w->kind),
			       w->unsig ? " (unsignaled)" : "", w->len,
			       t - (w->posted.tv_sec +
				    w->posted.tv_nsec / 1e9));
		}
	}
	return shown;
}

/* Every worker's missing work (racy reads: the run is over anyway). */
static void dump_all(struct soak *s, const char *why)
{
	unsigned i, shown = 0, wrs = 0;

	printf("%s: WATCHDOG: %s (phase %d)\n", who(s), why,
	       atomic_load(&s->g->phase));
	for (i = 0; i < s->g->nw; i++)
		shown += dump_qps(s->g->w[i], &wrs);
	printf("  %u QPs with work missing, %u WRs outstanding in all\n", shown,
	       wrs);
	fflush(stdout);
}

/* A verbs call that never returns: a thread's heartbeat stops. */
static void *watchdog(void *arg)
{
	struct soak *s = arg;
	struct shared *g;
	unsigned i;

	for (;;) {
		sleep(1);
		if (now() - atomic_load(&s->heartbeat) > s->wd_secs + 10) {
			printf("%s: WATCHDOG: a call of the control thread "
			       "never returned\n",
			       who(s));
			_exit(3);
		}
		/* (published by start_workers once every copy exists) */
		g = __atomic_load_n(&s->g, __ATOMIC_ACQUIRE);
		for (i = 0; g && i < g->nw; i++) {
			struct soak *w = g->w[i];

			if (now() - atomic_load(&w->heartbeat) <=
			    s->wd_secs + 10)
				continue;
			dump_all(s, "a worker is stuck in a verbs call");
			_exit(3);
		}
	}
	return NULL;
}

void start_watchdog(struct soak *s)
{
	pthread_t th;

	atomic_store(&s->heartbeat, (long)now());
	if (pthread_create(&th, NULL, watchdog, s))
		die("pthread_create");
}

/* ------------------------------------------------------------------ */
/* a worker */

static bool window_idle(struct soak *s)
{
	unsigned i;

	for (i = s->q0; i < s->q1; i++) {
		struct sqp *q = &s->qps[i];

		if (!q->dead && q->n > (q->credit_out ? 1u : 0u))
			return false;
	}
	return true;
}

static bool all_received(struct soak *s)
{
	unsigned i;

	for (i = s->q0; i < s->q1; i++) {
		struct sqp *q = &s->qps[i];

		if (!q->dead && !q->peer_dead && q->k_recv < q->peer_sent)
			return false;
	}
	return true;
}

static bool finals_done(struct soak *s)
{
	unsigned i;

	for (i = s->q0; i < s->q1; i++) {
		struct sqp *q = &s->qps[i];

		if (!q->dead && (q->final_stage < 3 || q->n ||
				 q->credit_sent != q->credit_given))
			return false;
	}
	return true;
}

/* Work that should make progress: WRs outstanding, messages due. */
static bool has_work(struct soak *s, int ph)
{
	unsigned i;

	for (i = s->q0; i < s->q1; i++)
		if (!s->qps[i].dead && s->qps[i].n)
			return true;
	return ph >= FINAL && !all_received(s);
}

static int poll_cqs(struct soak *s)
{
	struct ibv_wc wc[64];
	int n, i, got = 0;

	n = ibv_poll_cq(s->scq, 64, wc);
	if (n < 0)
		die("ibv_poll_cq");
	for (i = 0; i < n; i++)
		on_send_wc(s, &wc[i]);
	got += n;
	n = ibv_poll_cq(s->rcq, 64, wc);
	if (n < 0)
		die("ibv_poll_cq");
	for (i = 0; i < n; i++)
		on_recv_wc(s, &wc[i]);
	return got + n;
}

/* One pass over this worker's QPs for the phase. */
static void drive(struct soak *s, int ph)
{
	unsigned i;

	for (i = s->q0; i < s->q1; i++) {
		struct sqp *q = &s->qps[i];

		post_credit(s, q);
		if (ph == RUN) {
			issue(s, q);
			continue;
		}
		post_tail(s, q);
		if (ph == FINAL)
			post_final(s, q);
	}
}

/* The state a worker reports to the control thread. */
static void report_state(struct soak *s, int ph)
{
	if (ph >= DRAIN && !s->idle_done && window_idle(s)) {
		s->idle_done = true;
		atomic_fetch_add(&s->g->idle, 1);
	}
	if (ph == FINAL && !s->fin_done && all_received(s) && finals_done(s)) {
		s->fin_done = true;
		atomic_fetch_add(&s->g->finished, 1);
	}
}

static void *worker(void *arg)
{
	struct soak *s = arg;
	double t, last_prog = now(), last_pause = now();
	int ph;

	while ((ph = atomic_load(&s->g->phase)) != END) {
		t = now();
		atomic_store(&s->heartbeat, (long)t);
		if (poll_cqs(s) || !has_work(s, ph))
			last_prog = t;
		drive(s, ph);
		report_state(s, ph);
		if (s->pause_ms && ph == RUN && t - last_pause >= 1) {
			/* load shaping: a busy application, not a wait */
			usleep(1000 * (mix64(s->rng++) % (s->pause_ms + 1)));
			last_pause = t;
		}
		if (t - last_prog > s->wd_secs) {
			dump_all(s, "no progress");
			_exit(3);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* the control thread */

static void send_done(struct soak *s)
{
	struct done *d = calloc(s->q, sizeof(*d));
	uint32_t tag = 1;
	unsigned i;

	if (!d)
		die("calloc");
	for (i = 0; i < s->q; i++) {
		d[i].sent = s->qps[i].k_sent;
		d[i].dead = s->qps[i].dead;
	}
	if (ctl_write(s->ctl, &tag, 4) ||
	    ctl_write(s->ctl, d, s->q * sizeof(*d)))
		die("control: DONE");
	free(d);
}

/* Waits up to ms for DONE (returns 1: the peer's counts) or FIN (2). */
static int read_ctl(struct soak *s, int ms)
{
	struct pollfd p = { .fd = s->ctl, .events = POLLIN };
	struct done *d;
	uint32_t tag;
	unsigned i;

	if (poll(&p, 1, ms) != 1)
		return 0;
	if (ctl_read(s->ctl, &tag, 4))
		die("control: peer gone");
	if (tag == 2)
		return 2;
	d = calloc(s->q, sizeof(*d));
	if (!d || tag != 1 || ctl_read(s->ctl, d, s->q * sizeof(*d)))
		die("control: DONE");
	for (i = 0; i < s->q; i++) {
		s->qps[i].peer_sent = d[i].sent;
		s->qps[i].peer_dead = d[i].dead;
	}
	free(d);
	return 1;
}

/* Once the peer has finished: credits granted, receive buffers intact. */
static void final_local_checks(struct soak *s)
{
	unsigned i;
	size_t bad;

	for (i = 0; i < s->q; i++) {
		struct sqp *q = &s->qps[i];
		size_t c = s->L.cred + (size_t)i * 64;

		bad = check_canary(s, s->buf + c, c, 16) +
		      check_canary(s, s->buf + c + 24, c + 24, 40);
		if (bad) {
			violation(s, "qp %u: credit area canary: %zu bytes", i,
				  bad);
			s->st.corrupt += bad;
		}
		if (q->dead || q->peer_dead)
			continue;
		if (credit_word(s, q) != q->k_sent) {
			violation(s, "qp %u: final credit %llu, sent %llu", i,
				  (unsigned long long)credit_word(s, q),
				  (unsigned long long)q->k_sent);
			s->st.bad++;
		}
		if (q->k_recv != q->peer_sent) {
			violation(s, "qp %u: received %llu of %llu messages", i,
				  (unsigned long long)q->k_recv,
				  (unsigned long long)q->peer_sent);
			s->st.lost += q->peer_sent - q->k_recv;
		}
	}
	for (i = 0; i < s->nrb; i++) {
		if (!s->rb[i].posted)
			continue;
		bad = rbuf_check(s, &s->rb[i], 0, 0, true);
		if (bad) {
			violation(s, "receive buffer %u: %zu bytes changed", i,
				  bad);
			s->st.corrupt += bad;
		}
	}
}

/* -X: damage a canary on each side of the checks (see soak.c). */
static void inject(struct soak *s)
{
	struct rbuf *b = &s->rb[0];
	size_t end = b->off + CAN;
	unsigned i;

	for (i = 0; i < b->npieces; i++)
		end += b->cap[i] + (i ? GAP : 0);
	s->buf[s->L.reg + CAN - 1] ^= 0xff;
	s->buf[end] ^= 0xff;
	printf("%s: -X: flipped a canary byte before QP 0's region and after "
	       "receive buffer 0\n",
	       who(s));
}

struct figures {
	struct sample cur, warm, end;
	double t0, warm_at, last_print;
	uint64_t bytes_last;
	bool warm_done;
};

/* The workers' counters summed (racy while they run: progress only). */
static struct stats sum(struct soak *s)
{
	struct stats t = s->st;
	unsigned i;

	for (i = 0; i < s->g->nw; i++) {
		struct stats *w = &s->g->w[i]->st;

		t.posted += w->posted;
		t.ops += w->ops;
		t.bytes += w->bytes;
		t.scomp += w->scomp;
		t.rcomp += w->rcomp;
		t.errors += w->errors;
		t.corrupt += w->corrupt;
		t.lost += w->lost;
		t.dup += w->dup;
		t.bad += w->bad;
	}
	return t;
}

static void tick(struct soak *s, struct figures *f, int ph, double t)
{
	struct stats st;

	sample(&f->cur);
	if (!f->warm_done && t - f->t0 >= f->warm_at) {
		f->warm = f->cur;
		f->warm_done = true;
	}
	if (ph == RUN)
		f->end = f->cur;
	if (t - f->last_print < 60)
		return;
	st = sum(s);
	printf("%s: t=%.0f s ops=%llu bytes=%llu (%.1f MB/s) errors=%llu "
	       "rss_kb=%ld fds=%d\n",
	       who(s), t - f->t0, (unsigned long long)st.ops,
	       (unsigned long long)st.bytes,
	       (st.bytes - f->bytes_last) / 1e6 / (t - f->last_print),
	       (unsigned long long)st.errors, f->cur.rss, f->cur.fds);
	f->bytes_last = st.bytes;
	f->last_print = t;
}

static void summary(struct soak *s, struct figures *f)
{
	struct stats st = sum(s);
	unsigned i, reports = s->reports;

	for (i = 0; i < s->g->nw; i++)
		reports += s->g->w[i]->reports;
	printf("soak %s: qps=%u threads=%u secs=%u max=%u seed=%llu "
	       "ops=%llu bytes=%llu completions=%llu (send %llu recv %llu) "
	       "errors=%llu corrupt_bytes=%llu lost=%llu duplicated=%llu "
	       "bad=%llu MB/s=%.1f rss_kb=%ld->%ld (max %ld, buffers %zu) "
	       "fds=%d->%d (max %d) result=%s\n",
	       who(s), s->q, s->threads, s->secs, s->max,
	       (unsigned long long)s->seed, (unsigned long long)st.ops,
	       (unsigned long long)st.bytes,
	       (unsigned long long)(st.scomp + st.rcomp),
	       (unsigned long long)st.scomp, (unsigned long long)st.rcomp,
	       (unsigned long long)st.errors, (unsigned long long)st.corrupt,
	       (unsigned long long)st.lost, (unsigned long long)st.dup,
	       (unsigned long long)st.bad, st.bytes / 1e6 / s->secs,
	       f->warm.rss, f->end.rss, f->cur.rss_max, s->L.total / 1024,
	       f->warm.fds, f->end.fds, f->cur.fds_max,
	       reports ? "FAIL" : "ok");
	s->reports = reports;
}

static void start_workers(struct soak *s, struct shared *g)
{
	unsigned i;

	g->nw = s->threads;
	g->w = calloc(g->nw, sizeof(*g->w));
	if (!g->w)
		die("calloc");
	s->q0 = s->q1 = 0; /* the control thread owns no QP */
	for (i = 0; i < g->nw; i++) {
		struct soak *w = malloc(sizeof(*w));

		if (!w)
			die("malloc");
		memcpy(w, s, sizeof(*w));
		w->g = g;
		memset(&w->st, 0, sizeof(w->st));
		w->reports = 0;
		w->q0 = i * s->q / s->threads;
		w->q1 = (i + 1) * s->q / s->threads;
		w->scq = s->scqs[i];
		w->rcq = s->rcqs[i];
		w->rng = mix64(s->seed ^ ((uint64_t)s->role << 40) ^ i);
		w->scratch = malloc(s->L.land_sz);
		if (!w->scratch)
			die("malloc");
		atomic_store(&w->heartbeat, (long)now());
		g->w[i] = w;
	}
	/* all copies exist before the watchdog, another thread, may look
	 * at any: it finds the slots through s->g */
	__atomic_store_n(&s->g, g, __ATOMIC_RELEASE);
	for (i = 0; i < g->nw; i++)
		if (pthread_create(&g->w[i]->th, NULL, worker, g->w[i]))
			die("pthread_create");
}

static void set_phase(struct soak *s, int *ph, int to)
{
	*ph = to;
	atomic_store(&s->g->phase, to);
}

int run(struct soak *s)
{
	static struct shared g;
	struct figures f = { 0 };
	double t, hard, last_tick = 0;
	bool got_done = false, got_fin = false;
	int ph = RUN, c;
	unsigned i;

	s->scratch = malloc(s->L.land_sz);
	if (!s->scratch)
		die("malloc");
	f.t0 = f.last_print = now();
	f.warm_at = s->secs / 5.0 < 10 ? s->secs / 5.0 : 10;
	hard = f.t0 + s->secs + 4.0 * s->wd_secs + 60;
	sample(&f.cur);
	start_workers(s, &g);
	while (ph != END) {
		c = read_ctl(s, 10);
		t = now();
		atomic_store(&s->heartbeat, (long)t);
		got_done |= c == 1;
		got_fin |= c == 2;
		if (s->inject && t - f.t0 >= s->secs / 2.0) {
			inject(s);
			s->inject = false;
		}
		if (ph == RUN && t - f.t0 >= s->secs) {
			set_phase(s, &ph, DRAIN);
			f.end = f.cur;
		}
		if (ph == DRAIN && atomic_load(&g.idle) == g.nw) {
			send_done(s);
			set_phase(s, &ph, WAIT_PEER);
		}
		if (ph == WAIT_PEER && got_done)
			set_phase(s, &ph, FINAL);
		if (ph == FINAL && atomic_load(&g.finished) == g.nw) {
			uint32_t tag = 2;

			if (ctl_write(s->ctl, &tag, 4))
				die("control: FIN");
			set_phase(s, &ph, FIN_WAIT);
		}
		if (ph == FIN_WAIT && got_fin)
			set_phase(s, &ph, END);
		if (t - last_tick >= 1) {
			tick(s, &f, ph, t);
			last_tick = t;
		}
		if (ph != END && t > hard) {
			dump_all(s, "past the run's deadline");
			return 3;
		}
	}
	for (i = 0; i < g.nw; i++)
		pthread_join(g.w[i]->th, NULL);
	final_local_checks(s);
	sample(&f.cur);
	summary(s, &f);
	return s->reports ? 1 : 0;
}
