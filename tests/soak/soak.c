// SPDX-License-Identifier: MIT
/*
 * soak: correctness of RC traffic under load, between two processes.
 *
 *   soak -s BINDADDR [-p PORT] [-d DEV] [-g GIDX]          the server
 *   soak -c SERVERADDR -p PORT [-d DEV] [-g GIDX] [-q QPS] [-t SECONDS]
 *        [-M MAXBYTES] [-S SEED] [-r SHARE] [-R OVER] [-w WATCHDOG_SECONDS]
 *
 * The client's parameters are the run's (the server takes them from the
 * control connection). N RC QPs (default 64) carry, in both directions, a
 * random mix of SEND, SEND_WITH_IMM, WRITE_WITH_IMM, WRITE (each read back
 * with the canaries around it), READ, fetch-add and compare-swap, of 0 B to
 * -M bytes (default 1 MiB), with up to 3 SGEs, small ones often inline.
 * Odd QPs receive from SRQs shared by 8 QPs, even ones from their own
 * receive queue; receive buffers are larger than any message. Everything
 * is checked (see soak_send.c, soak_comp.c); at the end each side reads
 * back its whole region and counters in the peer and the peers compare
 * message counts over the control connection.
 *
 * Prints "listening PORT" (server), a progress line a minute, and one
 * summary line "soak ROLE: ... result=ok|FAIL". Exit 0 only when nothing
 * was wrong; 3 when the watchdog found no progress for -w seconds (it
 * prints the WRs outstanding per QP first); 2 on set-up errors.
 *
 * -r: receives per QP (default 4); the requester sends a message only
 * when the receiver has credited it, unless -R OVER lets it run OVER
 * messages ahead of the receives posted (RNR NAKs and retries then; with
 * rnr_retry 7 none may fail).
 *
 * -P MS (this side only): the application stalls for a random 0..MS ms
 * once a second of its run (does other work: no polls, no posts), so the
 * provider's own progress and the peer's back-pressure carry the traffic.
 *
 * Some WRs are posted unsignaled (selective signaling, as middleware
 * does): such a WR is complete when a later WR of its QP completes, and
 * must not complete itself. -A signals every WR.
 *
 * -X (self-test of the checker, on either side): halfway through, this
 * process flips a canary byte before QP 0's region (which the peer reads
 * back) and one after the last piece of receive buffer 0 (which this side
 * checks at its next message and at the end): both sides must then fail.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "soak.h"

#define MAGIC 0x534f414bu

struct params {
	uint32_t magic, q, max, secs, share, wd, over, all_signaled;
	uint64_t seed;
};

struct hello {
	uint64_t base;
	uint32_t rkey, q;
	uint8_t gid[16];
};

struct done {
	uint64_t sent;
	uint32_t dead, pad;
};

static struct soak S;

static void die(const char *what)
{
	fprintf(stderr, "soak %s: %s: %s\n", S.role ? "client" : "server", what,
		errno ? strerror(errno) : "failed");
	exit(2);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static struct ibv_context *open_dev(const char *name)
{
	struct ibv_device **l = ibv_get_device_list(NULL);
	struct ibv_context *c = NULL;
	int i;

	for (i = 0; l && l[i]; i++)
		if (!strcmp(ibv_get_device_name(l[i]), name))
			c = ibv_open_device(l[i]);
	ibv_free_device_list(l);
	return c;
}

/* Receive buffers: `share` per QP, 1-3 pieces, larger than -M. */
static void make_rbufs(struct soak *s)
{
	unsigned i, j;

	s->nrb = s->q * s->share;
	s->rb = calloc(s->nrb, sizeof(*s->rb));
	if (!s->rb)
		die("calloc");
	for (i = 0; i < s->nrb; i++) {
		struct rbuf *b = &s->rb[i];
		struct sqp *q = &s->qps[i / s->share];
		uint32_t cap = s->max + 1 + mix64(s->seed ^ i) % RXEXTRA;

		b->npieces = 1 + mix64(s->seed + i) % MAXSGE;
		for (j = 0; j < b->npieces; j++) {
			b->cap[j] =
				j == b->npieces - 1
					? cap
					: 1 + mix64(i * 7 + j) % (cap / 2 + 1);
			cap -= b->cap[j];
		}
		b->srq = q->srq >= 0;
		b->owner = b->srq ? q->srq : q->idx;
	}
}

static void make_qps(struct soak *s)
{
	unsigned i, nsrqqp = s->q / 2;

	s->nsrq = (nsrqqp + SRQ_QPS - 1) / SRQ_QPS;
	s->srqs = calloc(s->nsrq + 1, sizeof(*s->srqs));
	for (i = 0; i < s->nsrq; i++) {
		struct ibv_srq_init_attr a = { .attr = {
						       .max_wr = SRQ_QPS *
								 s->share,
						       .max_sge = MAXSGE,
					       } };

		s->srqs[i] = ibv_create_srq(s->pd, &a);
		if (!s->srqs[i])
			die("ibv_create_srq");
	}
	for (i = 0; i < s->q; i++) {
		struct sqp *q = &s->qps[i];
		struct ibv_qp_init_attr a = { 0 };
		struct ibv_qp_attr at = { 0 };

		q->idx = i;
		q->share = s->share;
		q->srq = (i & 1) ? (int)((i / 2) / SRQ_QPS) : -1;
		a.send_cq = s->scq;
		a.recv_cq = s->rcq;
		a.qp_type = IBV_QPT_RC;
		a.cap.max_send_wr = WMAX;
		a.cap.max_recv_wr = q->srq >= 0 ? 0 : s->share;
		a.cap.max_send_sge = a.cap.max_recv_sge = MAXSGE;
		a.cap.max_inline_data = 256;
		a.srq = q->srq >= 0 ? s->srqs[q->srq] : NULL;
		q->qp = ibv_create_qp(s->pd, &a);
		if (!q->qp)
			die("ibv_create_qp");
		s->max_inline = a.cap.max_inline_data;
		at.qp_state = IBV_QPS_INIT;
		at.port_num = 1;
		at.qp_access_flags = IBV_ACCESS_REMOTE_WRITE |
				     IBV_ACCESS_REMOTE_READ |
				     IBV_ACCESS_REMOTE_ATOMIC;
		if (ibv_modify_qp(q->qp, &at,
				  IBV_QP_STATE | IBV_QP_PKEY_INDEX |
					  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
			die("modify QP to INIT");
	}
}

static void setup(struct soak *s)
{
	unsigned i;

	s->ctx = open_dev(s->dev);
	if (!s->ctx)
		die("open device");
	s->pd = ibv_alloc_pd(s->ctx);
	s->scq = ibv_create_cq(s->ctx, s->q * WMAX + 16, NULL, NULL, 0);
	s->rcq = ibv_create_cq(s->ctx, s->q * s->share + 16, NULL, NULL, 0);
	if (!s->pd || !s->scq || !s->rcq)
		die("pd/cq");
	s->qps = calloc(s->q, sizeof(*s->qps));
	if (!s->qps)
		die("calloc");
	make_qps(s);
	make_rbufs(s);
	layout_init(s);
	for (i = 0; i < s->nrb; i++)
		s->rb[i].off = s->L.rbuf + (size_t)i * s->L.rbuf_sz;
	s->buf = mmap(NULL, s->L.total, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	s->scratch = malloc(s->L.land_sz);
	if (s->buf == MAP_FAILED || !s->scratch)
		die("mmap");
	for (i = 0; i < sizeof(s->can); i++)
		s->can[i] = (uint8_t)mix64(s->seed ^ 0xca0000u ^ i);
	for (i = 0; i < s->L.plen; i += 8) {
		uint64_t v = mix64(s->seed * 31 + i);

		memcpy(s->buf + s->L.p + i, &v, 8);
	}
	fill_canary(s, s->L.plen, s->L.total - s->L.plen);
	for (i = 0; i < s->q; i++) { /* the words the peer updates */
		memset(s->buf + s->L.atom + (size_t)i * 64 + 16, 0, 16);
		memset(s->buf + s->L.cred + (size_t)i * 64 + 16, 0, 8);
	}
	s->mr = ibv_reg_mr(s->pd, s->buf, s->L.total,
			   IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_ATOMIC);
	if (!s->mr)
		die("ibv_reg_mr");
	for (i = 0; i < s->nrb; i++)
		if (post_recv(s, i))
			die("post receive");
	s->rng = mix64(s->seed ^ (0x5eedull << s->role));
}

static void connect_qp(struct soak *s, struct sqp *q, uint32_t qpn,
		       const uint8_t *gid)
{
	struct ibv_qp_attr a = { 0 };
	struct ibv_port_attr pa;

	if (ibv_query_port(s->ctx, 1, &pa))
		die("ibv_query_port");
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = pa.active_mtu;
	a.dest_qp_num = qpn;
	a.max_dest_rd_atomic = WMAX;
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.sgid_index = s->gidx;
	a.ah_attr.grh.hop_limit = 64;
	memcpy(a.ah_attr.grh.dgid.raw, gid, 16);
	if (ibv_modify_qp(q->qp, &a,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
				  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
				  IBV_QP_MAX_DEST_RD_ATOMIC |
				  IBV_QP_MIN_RNR_TIMER))
		die("modify QP to RTR");
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = WMAX;
	if (ibv_modify_qp(q->qp, &a,
			  IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				  IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
				  IBV_QP_MAX_QP_RD_ATOMIC))
		die("modify QP to RTS");
}

/* Addresses, keys, GIDs and QPNs both ways; then a barrier. */
static void exchange(struct soak *s)
{
	struct hello me = { 0 }, peer;
	uint32_t *qpn = calloc(s->q, 4), *pq = calloc(s->q, 4);
	union ibv_gid gid;
	unsigned i;
	char go = 1;

	if (ibv_query_gid(s->ctx, 1, s->gidx, &gid))
		die("ibv_query_gid");
	me.base = (uintptr_t)s->buf;
	me.rkey = s->mr->rkey;
	me.q = s->q;
	memcpy(me.gid, gid.raw, 16);
	for (i = 0; i < s->q; i++)
		qpn[i] = s->qps[i].qp->qp_num;
	if (ctl_write(s->ctl, &me, sizeof(me)) ||
	    ctl_write(s->ctl, qpn, 4 * s->q) ||
	    ctl_read(s->ctl, &peer, sizeof(peer)) || peer.q != s->q ||
	    ctl_read(s->ctl, pq, 4 * s->q))
		die("control exchange");
	s->peer_base = peer.base;
	s->peer_rkey = peer.rkey;
	for (i = 0; i < s->q; i++)
		connect_qp(s, &s->qps[i], pq[i], peer.gid);
	if (ctl_write(s->ctl, &go, 1) || ctl_read(s->ctl, &go, 1))
		die("control barrier");
	free(qpn);
	free(pq);
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

static void dump_outstanding(struct soak *s, const char *why)
{
	double t = now();
	unsigned i, j, shown = 0;

	printf("%s: WATCHDOG: %s (phase %d)\n", s->role ? "client" : "server",
	       why, s->phase);
	for (i = 0; i < s->q; i++) {
		struct sqp *q = &s->qps[i];
		bool missing = q->peer_sent > q->k_recv;

		if (!q->n && !missing &&
		    (q->dead || q->final_stage == 3 || s->phase < 3))
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
		       q->peer_sent ? "" : " (peer count not known)",
		       (unsigned long long)credit_word(s, q),
		       (unsigned long long)q->k_sent,
		       (unsigned long long)q->credit_given,
		       (unsigned long long)q->credit_sent, q->final_stage);
		for (j = 0; j < q->n && j < 8; j++) {
			struct swr *w = &q->ring[(q->head + j) % WMAX];

			printf("    seq %u %s len %u, posted %.1f s ago\n",
			       w->seq, kind_name(w->kind), w->len,
			       t - (w->posted.tv_sec +
				    w->posted.tv_nsec / 1e9));
		}
	}
	for (i = 0, j = 0; i < s->q; i++)
		j += s->qps[i].n;
	printf("  %u QPs with work missing, %u WRs outstanding in all\n", shown,
	       j);
	fflush(stdout);
}

/* A verbs call that never returns: the loop's heartbeat stops. */
static void *watchdog(void *arg)
{
	struct soak *s = arg;

	for (;;) {
		sleep(1);
		if (now() - atomic_load(&s->heartbeat) > s->wd_secs + 10) {
			dump_outstanding(s, "the main loop is stuck in a call");
			_exit(3);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* the run */

enum phase { RUN, DRAIN, WAIT_PEER, FINAL, FIN_WAIT, END };

static bool window_idle(struct soak *s, bool allow_credit)
{
	unsigned i;

	for (i = 0; i < s->q; i++) {
		struct sqp *q = &s->qps[i];

		if (q->dead)
			continue;
		if (q->n > (allow_credit && q->credit_out ? 1u : 0u))
			return false;
	}
	return true;
}

static void send_done(struct soak *s)
{
	struct done *d = calloc(s->q, sizeof(*d));
	uint32_t tag = 1;
	unsigned i;

	for (i = 0; i < s->q; i++) {
		d[i].sent = s->qps[i].k_sent;
		d[i].dead = s->qps[i].dead;
	}
	if (ctl_write(s->ctl, &tag, 4) ||
	    ctl_write(s->ctl, d, s->q * sizeof(*d)))
		die("control: DONE");
	free(d);
}

/* DONE (the peer's message counts) or FIN (the peer has finished). */
static int read_ctl(struct soak *s)
{
	struct done *d;
	uint32_t tag;
	unsigned i;

	if (!ctl_readable(s->ctl))
		return 0;
	if (ctl_read(s->ctl, &tag, 4))
		die("control: peer gone");
	if (tag == 2)
		return 2;
	d = calloc(s->q, sizeof(*d));
	if (tag != 1 || ctl_read(s->ctl, d, s->q * sizeof(*d)))
		die("control: DONE");
	for (i = 0; i < s->q; i++) {
		s->qps[i].peer_sent = d[i].sent;
		s->qps[i].peer_dead = d[i].dead;
	}
	free(d);
	return 1;
}

static bool all_received(struct soak *s)
{
	unsigned i;

	for (i = 0; i < s->q; i++) {
		struct sqp *q = &s->qps[i];

		if (!q->dead && !q->peer_dead && q->k_recv < q->peer_sent)
			return false;
	}
	return true;
}

static bool finals_done(struct soak *s)
{
	unsigned i;

	for (i = 0; i < s->q; i++) {
		struct sqp *q = &s->qps[i];

		if (!q->dead && (q->final_stage < 3 || q->n ||
				 q->credit_sent != q->credit_given))
			return false;
	}
	return true;
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

/* One pass over the QPs for this phase. */
static void drive(struct soak *s, enum phase ph)
{
	unsigned i;

	for (i = 0; i < s->q; i++) {
		struct sqp *q = &s->qps[i];

		post_credit(s, q);
		if (ph != RUN)
			post_tail(s, q);
		if (ph == RUN)
			issue(s, q);
		else if (ph == FINAL)
			post_final(s, q);
	}
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
		if (!q->dead && !q->peer_dead &&
		    credit_word(s, q) != q->k_sent) {
			violation(s, "qp %u: final credit %llu, sent %llu", i,
				  (unsigned long long)credit_word(s, q),
				  (unsigned long long)q->k_sent);
			s->st.bad++;
		}
		if (!q->dead && !q->peer_dead && q->k_recv != q->peer_sent) {
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

struct figures {
	struct sample cur, warm, end;
	double t0, warm_at;
	uint64_t bytes_last;
	double last_print;
	bool warm_done;
};

static void tick(struct soak *s, struct figures *f, enum phase ph, double t)
{
	sample(&f->cur);
	if (!f->warm_done && t - f->t0 >= f->warm_at) {
		f->warm = f->cur;
		f->warm_done = true;
	}
	if (ph == RUN)
		f->end = f->cur;
	if (t - f->last_print >= 60) {
		printf("%s: t=%.0f s ops=%llu bytes=%llu (%.1f MB/s) "
		       "errors=%llu "
		       "rss_kb=%ld fds=%d\n",
		       s->role ? "client" : "server", t - f->t0,
		       (unsigned long long)s->st.ops,
		       (unsigned long long)s->st.bytes,
		       (s->st.bytes - f->bytes_last) / 1e6 /
			       (t - f->last_print),
		       (unsigned long long)s->st.errors, f->cur.rss,
		       f->cur.fds);
		fflush(stdout);
		f->bytes_last = s->st.bytes;
		f->last_print = t;
	}
}

/* -X: damage a canary on each side of the checks (see the top). */
static void inject(struct soak *s)
{
	struct rbuf *b = &s->rb[0];
	size_t end = b->off + CAN + 2 * GAP;
	unsigned i;

	for (i = 0; i < b->npieces; i++)
		end += b->cap[i];
	end -= (MAXSGE - b->npieces) * GAP;
	s->buf[s->L.reg + CAN - 1] ^= 0xff;
	s->buf[end] ^= 0xff;
	printf("%s: -X: flipped a canary byte before QP 0's region and after "
	       "receive buffer 0\n",
	       s->role ? "client" : "server");
}

static int run(struct soak *s)
{
	struct figures f = { 0 };
	enum phase ph = RUN;
	double t, last_prog, last_tick = 0, last_pause = 0, hard;
	bool got_done = false, got_fin = false;
	int c;

	f.t0 = f.last_print = last_prog = now();
	f.warm_at = s->secs / 5.0 < 10 ? s->secs / 5.0 : 10;
	hard = f.t0 + s->secs + 4.0 * s->wd_secs + 60;
	sample(&f.cur);
	while (ph != END) {
		t = now();
		s->phase = ph;
		atomic_store(&s->heartbeat, (long)t);
		if (poll_cqs(s))
			last_prog = t;
		drive(s, ph);
		c = read_ctl(s);
		if (c)
			last_prog = t;
		got_done |= c == 1;
		got_fin |= c == 2;
		if (s->pause_ms && ph == RUN && t - last_pause >= 1) {
			/* load shaping: a busy application, not a wait */
			usleep(1000 * (mix64(s->rng++) % (s->pause_ms + 1)));
			last_pause = t;
		}
		if (s->inject && t - f.t0 >= s->secs / 2.0) {
			inject(s);
			s->inject = false;
		}
		if (ph == RUN && t - f.t0 >= s->secs) {
			ph = DRAIN;
			f.end = f.cur;
		}
		if (ph == DRAIN && window_idle(s, true)) {
			send_done(s);
			ph = WAIT_PEER;
		}
		if (ph == WAIT_PEER && got_done)
			ph = FINAL; /* the counts are here: wait for all below */
		if (ph == FINAL && all_received(s) && finals_done(s)) {
			uint32_t tag = 2;

			if (ctl_write(s->ctl, &tag, 4))
				die("control: FIN");
			ph = FIN_WAIT;
		}
		if (ph == FIN_WAIT && got_fin)
			ph = END;
		if (t - last_tick >= 1) {
			tick(s, &f, ph, t);
			last_tick = t;
		}
		if (ph != END && (t - last_prog > s->wd_secs || t > hard)) {
			dump_outstanding(s, t > hard ? "past the run's deadline"
						     : "no progress");
			return 3;
		}
	}
	final_local_checks(s);
	sample(&f.cur);
	printf("soak %s: qps=%u secs=%u max=%u seed=%llu ops=%llu bytes=%llu "
	       "completions=%llu (send %llu recv %llu) errors=%llu "
	       "corrupt_bytes=%llu lost=%llu duplicated=%llu bad=%llu "
	       "MB/s=%.1f rss_kb=%ld->%ld (max %ld) fds=%d->%d (max %d) "
	       "result=%s\n",
	       s->role ? "client" : "server", s->q, s->secs, s->max,
	       (unsigned long long)s->seed, (unsigned long long)s->st.ops,
	       (unsigned long long)s->st.bytes,
	       (unsigned long long)(s->st.scomp + s->st.rcomp),
	       (unsigned long long)s->st.scomp, (unsigned long long)s->st.rcomp,
	       (unsigned long long)s->st.errors,
	       (unsigned long long)s->st.corrupt,
	       (unsigned long long)s->st.lost, (unsigned long long)s->st.dup,
	       (unsigned long long)s->st.bad, s->st.bytes / 1e6 / s->secs,
	       f.warm.rss, f.end.rss, f.cur.rss_max, f.warm.fds, f.end.fds,
	       f.cur.fds_max, s->reports ? "FAIL" : "ok");
	return s->reports ? 1 : 0;
}

/* ------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr,
		"usage: soak -s BINDADDR [-p PORT] [-d DEV] [-g GIDX]\n"
		"       soak -c SERVER -p PORT [-d DEV] [-g GIDX] [-q QPS] "
		"[-t SECS] [-M MAX] [-S SEED] [-r SHARE] [-R OVER] [-w WDSECS] "
		"[-X]\n");
	exit(2);
}

static void params_check(struct soak *s)
{
	if (!s->q || s->q > 4096 || !s->max || s->max > (256u << 20) ||
	    !s->share || s->share > 64 || !s->wd_secs)
		usage();
}

int main(int argc, char **argv)
{
	struct soak *s = &S;
	const char *addr = NULL;
	struct params p = { 0 };
	pthread_t th;
	int o, port = 0, lfd;

	s->q = 64;
	s->max = 1u << 20;
	s->secs = 30;
	s->seed = 1;
	s->share = 4;
	s->wd_secs = 30;
	s->dev = "tcp0";
	while ((o = getopt(argc, argv, "s:c:p:d:g:q:t:M:S:r:R:w:P:AX")) != -1) {
		switch (o) {
		case 's':
		case 'c':
			s->role = o == 'c';
			addr = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'd':
			s->dev = optarg;
			break;
		case 'g':
			s->gidx = atoi(optarg);
			break;
		case 'q':
			s->q = strtoul(optarg, NULL, 0);
			break;
		case 't':
			s->secs = strtoul(optarg, NULL, 0);
			break;
		case 'M':
			s->max = strtoul(optarg, NULL, 0);
			break;
		case 'S':
			s->seed = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			s->share = strtoul(optarg, NULL, 0);
			break;
		case 'w':
			s->wd_secs = strtoul(optarg, NULL, 0);
			break;
		case 'R':
			s->over = strtoul(optarg, NULL, 0);
			break;
		case 'P':
			s->pause_ms = strtoul(optarg, NULL, 0);
			break;
		case 'A':
			s->all_signaled = true;
			break;
		case 'X':
			s->inject = true;
			break;
		default:
			usage();
		}
	}
	if (!addr)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	params_check(s);
	if (s->role) {
		s->ctl = ctl_connect(addr, port, 30);
		if (s->ctl < 0)
			die("connect to the server");
		p = (struct params){ .magic = MAGIC,
				     .q = s->q,
				     .max = s->max,
				     .secs = s->secs,
				     .share = s->share,
				     .wd = s->wd_secs,
				     .over = s->over,
				     .all_signaled = s->all_signaled,
				     .seed = s->seed };
		if (ctl_write(s->ctl, &p, sizeof(p)))
			die("control: parameters");
	} else {
		lfd = ctl_listen(addr, port);
		if (lfd < 0)
			die("listen");
		s->ctl = ctl_accept(lfd, 120);
		if (s->ctl < 0 || ctl_read(s->ctl, &p, sizeof(p)) ||
		    p.magic != MAGIC)
			die("accept the client");
		close(lfd);
		s->q = p.q;
		s->max = p.max;
		s->secs = p.secs;
		s->share = p.share;
		s->wd_secs = p.wd;
		s->seed = p.seed;
		s->over = p.over;
		s->all_signaled = p.all_signaled;
		params_check(s);
	}
	/* from here on a verbs call that hangs is the watchdog's */
	atomic_store(&s->heartbeat, (long)now());
	if (pthread_create(&th, NULL, watchdog, s))
		die("pthread_create");
	setup(s);
	atomic_store(&s->heartbeat, (long)now());
	exchange(s);
	o = run(s);
	fflush(stdout);
	/* no teardown: the QPs' peer may still be finishing; exit frees all */
	_exit(o);
}
