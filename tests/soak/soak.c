// SPDX-License-Identifier: MIT
/*
 * soak: correctness of RC traffic under load, between two processes.
 *
 *   soak -s BINDADDR [-p PORT] [-d DEV] [-g GIDX]          the server
 *   soak -c SERVERADDR -p PORT [-d DEV] [-g GIDX] [-q QPS] [-t SECONDS]
 *        [-M MAXBYTES] [-S SEED] [-r SHARE] [-R OVER] [-w WATCHDOG_SECONDS]
 *        [-T THREADS] [-A] [-B] [-P MS] [-X]
 *
 * The client's parameters are the run's (the server takes them from the
 * control connection). N RC QPs (default 64) carry, in both directions, a
 * random mix of SEND, SEND_WITH_IMM, WRITE_WITH_IMM, WRITE (each read back
 * with the canaries around it), READ, fetch-add and compare-swap, of 0 B to
 * -M bytes (default 1 MiB), with up to 3 SGEs, small ones often inline.
 * Odd QPs receive from SRQs shared by 8 QPs, even ones from their own
 * receive queue; receive buffers are larger than any message (their
 * unused tail is checked for 4 KiB after each message, all of it at the
 * end). Everything is checked (see soak_send.c, soak_comp.c, soak_check.c;
 * soak_run.c has the phases and the watchdog); at the end each side reads
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
 * -T THREADS: the QPs are split among this many threads on each side,
 * each with its own CQs and SRQs, posting and polling at once (default 1).
 *
 * -B: no barrier after connecting: each side starts as soon as its own
 * QPs are connected, so the first messages may reach a QP whose process
 * has not yet moved it to RTR (a NIC retries them: none may fail).
 *
 * -X (self-test of the checker, on either side): halfway through, this
 * process flips a canary byte before QP 0's region (which the peer reads
 * back) and one after the last piece of receive buffer 0 (which this side
 * checks at its next message and at the end): both sides must then fail.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "soak.h"
#include "tdev.h"
#include "tqp.h"

#define MAGIC 0x534f414bu

struct params {
	uint32_t magic, q, max, secs, share, wd, over, all_signaled, threads,
		nobarrier;
	uint64_t seed;
};

struct hello {
	uint64_t base;
	uint32_t rkey, q;
	uint8_t gid[16];
};

static struct soak S;

void die(const char *what)
{
	fprintf(stderr, "soak %s: %s: %s\n", S.role ? "client" : "server", what,
		errno ? strerror(errno) : "failed");
	exit(2);
}

double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
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

/*
 * The QPs of each thread (a contiguous range): even ones have their own
 * receive queue, odd ones share an SRQ with up to SRQ_QPS others of the
 * same thread.
 */
static void assign_srqs(struct soak *s)
{
	unsigned g, i, k;

	s->nsrq = 0;
	for (g = 0; g < s->threads; g++) {
		unsigned q0 = g * s->q / s->threads;
		unsigned q1 = (g + 1) * s->q / s->threads;

		for (i = q0, k = 0; i < q1; i++)
			s->qps[i].srq = (i - q0) & 1
						? (int)(s->nsrq + k++ / SRQ_QPS)
						: -1;
		s->nsrq += (k + SRQ_QPS - 1) / SRQ_QPS;
	}
}

static void make_srqs(struct soak *s)
{
	unsigned i;

	s->srqs = calloc(s->nsrq + 1, sizeof(*s->srqs));
	if (!s->srqs)
		die("calloc");
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
}

static void make_qps(struct soak *s)
{
	unsigned i;

	assign_srqs(s);
	make_srqs(s);
	for (i = 0; i < s->q; i++) {
		struct sqp *q = &s->qps[i];
		struct ibv_qp_init_attr a = { 0 };
		unsigned g = thread_of(s, i);

		q->idx = i;
		q->share = s->share;
		a.send_cq = s->scqs[g];
		a.recv_cq = s->rcqs[g];
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
		if (tqp_init(q->qp, IBV_ACCESS_REMOTE_WRITE |
					    IBV_ACCESS_REMOTE_READ |
					    IBV_ACCESS_REMOTE_ATOMIC))
			die("modify QP to INIT");
	}
}

/* Each thread's completion queues. */
static void make_cqs(struct soak *s)
{
	unsigned g;

	s->scqs = calloc(s->threads, sizeof(*s->scqs));
	s->rcqs = calloc(s->threads, sizeof(*s->rcqs));
	if (!s->scqs || !s->rcqs)
		die("calloc");
	for (g = 0; g < s->threads; g++) {
		unsigned n =
			(g + 1) * s->q / s->threads - g * s->q / s->threads;

		s->scqs[g] =
			ibv_create_cq(s->ctx, n * WMAX + 16, NULL, NULL, 0);
		s->rcqs[g] =
			ibv_create_cq(s->ctx, n * s->share + 16, NULL, NULL, 0);
		if (!s->scqs[g] || !s->rcqs[g])
			die("ibv_create_cq");
	}
}

static void setup(struct soak *s)
{
	unsigned i;

	s->ctx = open_dev(s->dev);
	if (!s->ctx)
		die("open device");
	s->pd = ibv_alloc_pd(s->ctx);
	if (!s->pd)
		die("ibv_alloc_pd");
	make_cqs(s);
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
	if (s->buf == MAP_FAILED)
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
}

static void connect_qp(struct soak *s, struct sqp *q, uint32_t qpn,
		       const uint8_t *gid)
{
	struct ibv_port_attr pa;
	union ibv_gid dgid;
	struct tqp_path p;

	if (ibv_query_port(s->ctx, 1, &pa))
		die("ibv_query_port");
	memcpy(dgid.raw, gid, 16);
	p = tqp_path(qpn, &dgid);
	p.path_mtu = pa.active_mtu;
	p.sgid_index = s->gidx;
	p.rd_atomic = WMAX;
	if (tqp_rtr(q->qp, &p))
		die("modify QP to RTR");
	if (tqp_rts(q->qp, &p))
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
	/* -B: traffic may reach a QP its process has not connected yet */
	if (!s->nobarrier &&
	    (ctl_write(s->ctl, &go, 1) || ctl_read(s->ctl, &go, 1)))
		die("control barrier");
	free(qpn);
	free(pq);
}

/* ------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr,
		"usage: soak -s BINDADDR [-p PORT] [-d DEV] [-g GIDX]\n"
		"       soak -c SERVER -p PORT [-d DEV] [-g GIDX] [-q QPS] "
		"[-t SECS] [-M MAX] [-S SEED] [-r SHARE] [-R OVER] [-w WDSECS] "
		"[-P MS] [-T THREADS] [-A] [-B] [-X]\n");
	exit(2);
}

static void params_check(struct soak *s)
{
	if (!s->q || s->q > 4096 || !s->max || s->max > (256u << 20) ||
	    !s->share || s->share > 64 || !s->wd_secs || !s->threads ||
	    s->threads > s->q)
		usage();
}

int main(int argc, char **argv)
{
	struct soak *s = &S;
	const char *addr = NULL;
	struct params p = { 0 };
	int o, port = 0, lfd;

	s->q = 64;
	s->max = 1u << 20;
	s->secs = 30;
	s->seed = 1;
	s->share = 4;
	s->wd_secs = 30;
	s->threads = 1;
	s->dev = "tcp0";
	while ((o = getopt(argc, argv, "s:c:p:d:g:q:t:M:S:r:R:w:P:T:ABX")) !=
	       -1) {
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
		case 'B':
			s->nobarrier = true;
			break;
		case 'T':
			s->threads = strtoul(optarg, NULL, 0);
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
				     .threads = s->threads,
				     .nobarrier = s->nobarrier,
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
		s->threads = p.threads;
		s->nobarrier = p.nobarrier;
		params_check(s);
	}
	/* from here on a verbs call that hangs is the watchdog's */
	start_watchdog(s);
	setup(s);
	atomic_store(&s->heartbeat, (long)now());
	exchange(s);
	o = run(s);
	fflush(stdout);
	/* no teardown: the QPs' peer may still be finishing; exit frees all */
	_exit(o);
}
