// SPDX-License-Identifier: MIT
/*
 * mt_stress DEVICE [SECONDS]: posts, polls and destroys from several
 * threads at once on one context, for SECONDS (default 4), as a threaded
 * application would:
 *  - PAIRS RC QP pairs share one send CQ (an ibv_cq_ex) and one receive
 *    CQ; two threads post SENDs (inline, carrying pair and sequence
 *    number) and RDMA WRITEs on all of them;
 *  - the send CQ is drained by two threads at once, one through
 *    ibv_start_poll/next_poll/end_poll (posting inside the window), one
 *    through ibv_poll_cq; two threads drain the receive CQ and repost;
 *  - one thread arms both CQs (ibv_req_notify_cq: the engine takes the
 *    sockets back) and queries the QPs, over and over;
 *  - one thread creates QP pairs on the shared CQs (and on CQs of its
 *    own), sends on them and destroys them with work outstanding.
 * Checks: every message of the stable pairs arrives exactly once, intact;
 * every WR of theirs succeeds; the churn ran; nothing hangs (a deadline).
 * In a checked build the provider's lock-order checker runs throughout.
 * Prints each check and "N passed, N failed".
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "tqp.h"

static unsigned int passed, failed;

#define CHECK(cond, ...)                             \
	do {                                         \
		if (cond) {                          \
			passed++;                    \
			printf("ok   ");             \
		} else {                             \
			failed++;                    \
			printf("FAIL (%s) ", #cond); \
		}                                    \
		printf(__VA_ARGS__);                 \
		printf("\n");                        \
	} while (0)

#define PAIRS	   4
#define DEPTH	   64 /* send and receive queue depth */
#define WINDOW	   32 /* WRs a stable pair has outstanding at most */
#define MSG	   16
#define WRITE_LEN  4096
#define MAX_SEQ	   (1u << 20) /* messages a pair may send */
#define DRAIN_SECS 30

/* wr_id: kind << 56 | pair << 32 | seq or slot */
enum kind { K_SEND = 1, K_WRITE, K_RECV, K_CHURN };
#define WR_ID(k, p, n) ((uint64_t)(k) << 56 | (uint64_t)(p) << 32 | (n))

struct pair {
	struct ibv_qp *a, *b;
	atomic_uint next_seq;	 /* SENDs posted */
	atomic_int outstanding;	 /* WRs posted, not completed */
	atomic_uint recvs;	 /* messages received */
	atomic_uint writes;	 /* WRITEs completed */
	atomic_uchar *seen;	 /* per sequence number */
	char (*rbuf)[MSG];	 /* DEPTH receive slots, in mem */
	pthread_mutex_t post_mu; /* serializes the reposts of b's slots */
};

static struct ibv_context *ctx;
static struct ibv_pd *pd;
static struct ibv_cq_ex *scq_ex;
static struct ibv_cq *scq, *rcq;
static struct ibv_mr *mr; /* all buffers: one region */
static char *mem, *churn_buf;
static union ibv_gid gid;
static struct pair pairs[PAIRS];
static atomic_bool stop_posting, stop_all;
static atomic_int in_post; /* post_one calls under way */
static atomic_uint errors, churn_cycles, churn_wcs, window_posts;

#define ERR(...)                                      \
	do {                                          \
		if (atomic_fetch_add(&errors, 1) < 5) \
			fprintf(stderr, __VA_ARGS__); \
	} while (0)

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

static struct ibv_qp *make_qp(struct ibv_cq *s, struct ibv_cq *r)
{
	struct ibv_qp_init_attr qa = { 0 };
	struct ibv_qp_attr a = { 0 };
	struct ibv_qp *qp;

	qa.send_cq = s;
	qa.recv_cq = r;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = qa.cap.max_recv_wr = DEPTH;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	qa.cap.max_inline_data = MSG;
	qp = ibv_create_qp(pd, &qa);
	if (!qp)
		return NULL;
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_LOCAL_WRITE;
	if (ibv_modify_qp(qp, &a,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				  IBV_QP_ACCESS_FLAGS)) {
		ibv_destroy_qp(qp);
		return NULL;
	}
	return qp;
}

static int to_rts(struct ibv_qp *qp, uint32_t dest)
{
	struct tqp_path p = tqp_path(dest, &gid);

	p.min_rnr_timer = 1;
	/* rnr_retry 7: a receiver behind on reposting waits, not fails */
	return tqp_rtr(qp, &p) || tqp_rts(qp, &p) ? -1 : 0;
}

static enum ibv_qp_state qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp_attr a;

	return ibv_query_qp(qp, &a, IBV_QP_STATE, &ia) ? IBV_QPS_UNKNOWN
						       : a.qp_state;
}

static int connect_pair(struct ibv_qp *a, struct ibv_qp *b)
{
	return to_rts(a, b->qp_num) || to_rts(b, a->qp_num) ? -1 : 0;
}

static int post_recv_slot(struct pair *p, unsigned int pi, unsigned int slot)
{
	struct ibv_sge sge = { .addr = (uintptr_t)p->rbuf[slot],
			       .length = MSG,
			       .lkey = mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = WR_ID(K_RECV, pi, slot),
				  .sg_list = &sge,
				  .num_sge = 1 },
			   *bad;

	return ibv_post_recv(p->b, &wr, &bad);
}

/* One SEND (inline: pair and sequence) or WRITE on a stable pair, if its
 * window has room. */
static void post_one(unsigned int pi, bool write)
{
	struct pair *p = &pairs[pi];
	uint32_t msg[2] = { pi, 0 };
	struct ibv_sge sge = { .lkey = mr->lkey };
	struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1 }, *bad;
	int err;

	/* stop_posting, then in_post at 0: no post is left under way */
	atomic_fetch_add(&in_post, 1);
	if (atomic_load(&stop_posting)) {
		atomic_fetch_sub(&in_post, 1);
		return;
	}
	if (atomic_fetch_add(&p->outstanding, 1) >= WINDOW) {
		atomic_fetch_sub(&p->outstanding, 1);
		atomic_fetch_sub(&in_post, 1);
		return;
	}
	wr.send_flags = IBV_SEND_SIGNALED;
	if (write) {
		wr.opcode = IBV_WR_RDMA_WRITE;
		wr.wr_id = WR_ID(K_WRITE, pi, 0);
		sge.addr = (uintptr_t)mem;
		sge.length = WRITE_LEN;
		wr.wr.rdma.remote_addr = (uintptr_t)mem + WRITE_LEN * (1 + pi);
		wr.wr.rdma.rkey = mr->rkey;
	} else {
		msg[1] = atomic_fetch_add(&p->next_seq, 1);
		if (msg[1] >= MAX_SEQ) {
			atomic_fetch_sub(&p->outstanding, 1);
			atomic_fetch_sub(&in_post, 1);
			return;
		}
		wr.opcode = IBV_WR_SEND;
		wr.wr_id = WR_ID(K_SEND, pi, msg[1]);
		wr.send_flags |= IBV_SEND_INLINE;
		sge.addr = (uintptr_t)msg;
		sge.length = sizeof(msg);
	}
	err = ibv_post_send(p->a, &wr, &bad);
	if (err)
		ERR("post_send pair %u: %s\n", pi, strerror(err));
	atomic_fetch_sub(&in_post, 1);
}

static void on_recv(const struct ibv_wc *wc, unsigned int pi, uint32_t slot)
{
	struct pair *p = &pairs[pi];
	uint32_t msg[2];

	memcpy(msg, p->rbuf[slot], sizeof(msg));
	if (wc->byte_len != sizeof(msg) || msg[0] != pi ||
	    msg[1] >= atomic_load(&p->next_seq) ||
	    atomic_exchange(&p->seen[msg[1]], 1))
		ERR("pair %u: bad or repeated message (len %u, %u/%u)\n", pi,
		    wc->byte_len, msg[0], msg[1]);
	atomic_fetch_add(&p->recvs, 1);
	pthread_mutex_lock(&p->post_mu);
	if (post_recv_slot(p, pi, slot))
		ERR("pair %u: repost failed\n", pi);
	pthread_mutex_unlock(&p->post_mu);
}

static void on_wc(const struct ibv_wc *wc)
{
	enum kind k = wc->wr_id >> 56;
	unsigned int pi = (wc->wr_id >> 32) & 0xffffff;

	if (k == K_CHURN) {
		atomic_fetch_add(&churn_wcs, 1);
		return;
	}
	if (pi >= PAIRS || k < K_SEND || k > K_RECV) {
		ERR("completion with unknown wr_id %#llx\n",
		    (unsigned long long)wc->wr_id);
		return;
	}
	if (wc->status != IBV_WC_SUCCESS) {
		ERR("pair %u kind %d: status %s\n", pi, k,
		    ibv_wc_status_str(wc->status));
		if (k != K_RECV)
			atomic_fetch_sub(&pairs[pi].outstanding, 1);
		return;
	}
	if (k == K_RECV) {
		on_recv(wc, pi, wc->wr_id & 0xffffffff);
		return;
	}
	if (k == K_WRITE)
		atomic_fetch_add(&pairs[pi].writes, 1);
	atomic_fetch_sub(&pairs[pi].outstanding, 1);
}

static void *poster(void *arg)
{
	unsigned int n = (uintptr_t)arg, i = 0;

	while (!atomic_load(&stop_posting)) {
		post_one(i % PAIRS, (i + n) % 4 == 0);
		if (++i % 64 == 0)
			sched_yield();
	}
	return NULL;
}

static void *poll_classic(void *arg)
{
	struct ibv_cq *cq = arg;
	struct ibv_wc wc[16];
	int n, i;

	while (!atomic_load(&stop_all)) {
		n = ibv_poll_cq(cq, 16, wc);
		if (n < 0)
			ERR("ibv_poll_cq: %d\n", n);
		for (i = 0; i < n; i++)
			on_wc(&wc[i]);
		if (n <= 0)
			sched_yield();
	}
	return NULL;
}

/* The ibv_cq_ex iterator, with a post inside every window. */
static void *poll_ex(void *arg)
{
	struct ibv_poll_cq_attr attr = { 0 };
	unsigned int i = 0;

	(void)arg;
	while (!atomic_load(&stop_all)) {
		struct ibv_wc wc = { 0 };
		int rc = ibv_start_poll(scq_ex, &attr);

		if (rc) {
			if (rc != ENOENT)
				ERR("start_poll: %d\n", rc);
			sched_yield();
			continue;
		}
		do {
			wc.wr_id = scq_ex->wr_id;
			wc.status = scq_ex->status;
			on_wc(&wc);
			if (!atomic_load(&stop_posting)) {
				post_one(i++ % PAIRS, false);
				atomic_fetch_add(&window_posts, 1);
			}
		} while (ibv_next_poll(scq_ex) == 0);
		ibv_end_poll(scq_ex);
	}
	return NULL;
}

/* Arms the CQs (the engine takes the sockets back) and queries QPs. */
static void *arm_query(void *arg)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr ia;
	unsigned int i = 0;

	(void)arg;
	while (!atomic_load(&stop_all)) {
		if (ibv_req_notify_cq(rcq, 0) || ibv_req_notify_cq(scq, 0))
			ERR("req_notify_cq failed\n");
		if (ibv_query_qp(pairs[i++ % PAIRS].a, &a, IBV_QP_STATE, &ia) ||
		    a.qp_state != IBV_QPS_RTS)
			ERR("query_qp: not RTS\n");
		usleep(200);
	}
	return NULL;
}

/* One churn cycle: a pair on cq (shared, or the churn's own), traffic,
 * then destroyed in an order that varies, with work outstanding. */
static void churn_once(unsigned int c, struct ibv_cq *cq)
{
	struct ibv_qp *a = make_qp(cq, cq), *b = make_qp(cq, cq);
	/* bytes of its own: a SEND's source must not change under it */
	struct ibv_sge ssge = { .addr = (uintptr_t)churn_buf,
				.length = MSG,
				.lkey = mr->lkey },
		       rsge = { .addr = (uintptr_t)churn_buf + MSG,
				.length = MSG,
				.lkey = mr->lkey };
	struct ibv_recv_wr rwr = { .sg_list = &rsge, .num_sge = 1 }, *rbad;
	struct ibv_send_wr swr = { .sg_list = &ssge, .num_sge = 1 }, *sbad;
	struct ibv_qp_attr err = { .qp_state = IBV_QPS_ERR };
	int i;

	if (!a || !b) {
		ERR("churn: create_qp: %s\n", strerror(errno));
		goto out;
	}
	if (connect_pair(a, b)) {
		/* QP numbers are handed out in turn (tcp_qpn_alloc): a
		 * connection meant for the previous QP of a number cannot
		 * reach the new one, which once failed it at RTR */
		ERR("churn: connect: %s (states %d %d)\n", strerror(errno),
		    qp_state(a), qp_state(b));
		goto out;
	}
	rwr.wr_id = swr.wr_id = WR_ID(K_CHURN, 0, c);
	swr.opcode = IBV_WR_SEND;
	swr.send_flags = IBV_SEND_SIGNALED;
	for (i = 0; i < 8; i++)
		if (ibv_post_recv(b, &rwr, &rbad) ||
		    ibv_post_send(a, &swr, &sbad))
			ERR("churn: post failed\n");
	if (c % 3 == 1)
		ibv_modify_qp(a, &err, IBV_QP_STATE);
	if (c % 2) { /* the receiver goes first */
		ibv_destroy_qp(b);
		b = NULL;
	}
out:
	if (a && ibv_destroy_qp(a))
		ERR("churn: destroy_qp failed\n");
	if (b && ibv_destroy_qp(b))
		ERR("churn: destroy_qp failed\n");
}

static void *churn(void *arg)
{
	struct ibv_wc wc[16];
	unsigned int c = 0;

	(void)arg;
	while (!atomic_load(&stop_posting)) {
		if (c % 4 == 3) {
			/* a CQ of its own, destroyed once its QPs are */
			struct ibv_cq *own =
				ibv_create_cq(ctx, 64, NULL, NULL, 0);

			if (!own) {
				ERR("churn: create_cq failed\n");
				break;
			}
			churn_once(c, own);
			while (ibv_poll_cq(own, 16, wc) > 0)
				;
			if (ibv_destroy_cq(own))
				ERR("churn: destroy_cq failed\n");
		} else {
			churn_once(c, scq);
		}
		atomic_fetch_add(&churn_cycles, 1);
		c++;
	}
	return NULL;
}

static int setup(const char *dev)
{
	struct ibv_cq_init_attr_ex ca = { .cqe = 1024,
					  .wc_flags = IBV_WC_STANDARD_FLAGS };
	/* WRITE source and targets, the receive slots, the churn's bytes */
	size_t len = WRITE_LEN * (PAIRS + 1) + PAIRS * DEPTH * MSG + 2 * MSG;
	unsigned int i, j;

	ctx = open_dev(dev);
	if (!ctx || ibv_query_gid(ctx, 1, 0, &gid))
		return -1;
	pd = ibv_alloc_pd(ctx);
	scq_ex = ibv_create_cq_ex(ctx, &ca);
	rcq = ibv_create_cq(ctx, 1024, NULL, NULL, 0);
	mem = calloc(1, len);
	if (!pd || !scq_ex || !rcq || !mem)
		return -1;
	scq = ibv_cq_ex_to_cq(scq_ex);
	churn_buf = mem + len - 2 * MSG;
	mr = ibv_reg_mr(pd, mem, len,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!mr)
		return -1;
	for (i = 0; i < PAIRS; i++) {
		struct pair *p = &pairs[i];

		pthread_mutex_init(&p->post_mu, NULL);
		p->rbuf = (char(*)[MSG])(mem + WRITE_LEN * (PAIRS + 1) +
					 i * DEPTH * MSG);
		p->seen = calloc(MAX_SEQ, 1);
		p->a = make_qp(scq, rcq);
		p->b = make_qp(scq, rcq);
		if (!p->seen || !p->a || !p->b || connect_pair(p->a, p->b))
			return -1;
		for (j = 0; j < DEPTH; j++)
			if (post_recv_slot(p, i, j))
				return -1;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Every stable pair idle: all WRs done, every message received. */
static bool drained(void)
{
	unsigned int i;

	for (i = 0; i < PAIRS; i++)
		if (atomic_load(&pairs[i].outstanding) ||
		    atomic_load(&pairs[i].recvs) !=
			    atomic_load(&pairs[i].next_seq))
			return false;
	return true;
}

static void expire(int sig)
{
	static const char m[] = "mt_stress: deadline passed: hung\n";

	(void)sig;
	if (write(2, m, sizeof(m) - 1) < 0)
		_exit(3);
	_exit(3);
}

int main(int argc, char **argv)
{
	double secs = argc > 2 ? atof(argv[2]) : 4, t0, end;
	pthread_t th[9];
	unsigned int i, nth = 0, sent = 0, recvd = 0, writes = 0;
	bool all_seen = true;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DEVICE [SECONDS]\n", argv[0]);
		return 2;
	}
	signal(SIGALRM, expire);
	alarm((unsigned int)secs + DRAIN_SECS + 30);
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK(setup(argv[1]) == 0, "set-up: %d RC pairs on shared CQs", PAIRS);
	if (failed)
		return 1;
	t0 = now_s();
	pthread_create(&th[nth++], NULL, poster, (void *)0);
	pthread_create(&th[nth++], NULL, poster, (void *)1);
	pthread_create(&th[nth++], NULL, poll_ex, NULL);
	pthread_create(&th[nth++], NULL, poll_classic, scq);
	pthread_create(&th[nth++], NULL, poll_classic, rcq);
	pthread_create(&th[nth++], NULL, poll_classic, rcq);
	pthread_create(&th[nth++], NULL, arm_query, NULL);
	pthread_create(&th[nth++], NULL, churn, NULL);
	while (now_s() - t0 < secs)
		usleep(10000);
	atomic_store(&stop_posting, true);
	while (atomic_load(&in_post))
		sched_yield();
	end = now_s() + DRAIN_SECS;
	while (!drained() && now_s() < end)
		usleep(1000);
	CHECK(drained(),
	      "every WR of the stable pairs completed and every "
	      "message arrived within %d s",
	      DRAIN_SECS);
	atomic_store(&stop_all, true);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < PAIRS; i++) {
		unsigned int s, n = atomic_load(&pairs[i].next_seq);

		sent += n;
		recvd += atomic_load(&pairs[i].recvs);
		writes += atomic_load(&pairs[i].writes);
		for (s = 0; s < n && s < MAX_SEQ; s++)
			all_seen = all_seen && pairs[i].seen[s];
	}
	CHECK(sent > 0 && all_seen && recvd == sent,
	      "%u messages sent, %u received, each once and intact", sent,
	      recvd);
	CHECK(writes > 0, "%u RDMA WRITEs completed", writes);
	CHECK(atomic_load(&window_posts) > 0,
	      "%u posts inside an ibv_start_poll window",
	      atomic_load(&window_posts));
	CHECK(atomic_load(&churn_cycles) > 0,
	      "%u QP pairs created and destroyed with work outstanding "
	      "(%u of their completions polled)",
	      atomic_load(&churn_cycles), atomic_load(&churn_wcs));
	CHECK(atomic_load(&errors) == 0,
	      "no bad completion or failed verb "
	      "(%u)",
	      atomic_load(&errors));
	for (i = 0; i < PAIRS; i++) {
		ibv_destroy_qp(pairs[i].a);
		ibv_destroy_qp(pairs[i].b);
		free(pairs[i].seen);
	}
	CHECK(ibv_dereg_mr(mr) == 0 && ibv_destroy_cq(scq) == 0 &&
		      ibv_destroy_cq(rcq) == 0 && ibv_dealloc_pd(pd) == 0 &&
		      ibv_close_device(ctx) == 0,
	      "tear-down");
	free(mem);
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
