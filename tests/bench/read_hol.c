// SPDX-License-Identifier: MIT
/*
 * read_hol [-d DEV] [-s WRITE_BYTES] [-t TOTAL_BYTES] [-n READS]:
 * READ latency behind a WRITE stream on the same connection. Benchmark
 * helper for tests/bench/run (issue 18, target 5).
 *
 * perftest cannot share a QP between two tools, and a second QP is a
 * second TCP connection: no head-of-line blocking to measure. Here one
 * pair of RC QPs is connected (A and B, each on a context of its own, so
 * each side has its own engine as two processes would). A reads 8 bytes
 * of B's memory, one READ at a time, busy-polling its CQ; B's READ
 * responses travel B -> A, the direction of B's WRITE stream into A's
 * memory (WRITE_BYTES each, 8 in flight, TOTAL_BYTES in all, default
 * 1 MiB and 1 GiB), run by a second thread.
 *
 * First READS reads on the idle pair, then reads for as long as the
 * stream runs (at most READS * 100). Printed as key=value on one line:
 *   idle_us, idle_p99_us, idle_mean_us
 *                              median, 99th percentile and mean RTT, idle
 *   loaded_us, loaded_p99_us, loaded_mean_us
 *                              the same while the stream runs
 *   loaded_reads               READs completed during the stream
 *   ratio                      loaded_us / idle_us
 *   write_gbps                 the stream's rate (Gbit/s)
 * Exit 0 on success, 1 if a step failed (message on stderr).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <infiniband/verbs.h>

#include "tcheck.h"
#include "tqp.h"

#define DEPTH 8

struct side {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	char *buf;
	union ibv_gid gid;
};

static struct side A, B;
static size_t wsize = 1 << 20;
static uint64_t total = 1ull << 30;
static atomic_bool stream_done;
static double stream_secs;

static int die(const char *what, int err)
{
	fprintf(stderr, "read_hol: %s: %s\n", what, strerror(err));
	return -1;
}

static int side_open(struct side *s, struct ibv_device *dev, size_t len)
{
	struct ibv_qp_init_attr ia = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 64,
			 .max_recv_wr = 1,
			 .max_send_sge = 1,
			 .max_recv_sge = 1 },
	};

	s->ctx = ibv_open_device(dev);
	if (!s->ctx)
		return die("ibv_open_device", errno);
	s->pd = ibv_alloc_pd(s->ctx);
	s->cq = ibv_create_cq(s->ctx, 128, NULL, NULL, 0);
	s->buf = calloc(1, len);
	if (!s->pd || !s->cq || !s->buf)
		return die("pd, cq or buffer", errno);
	s->mr = ibv_reg_mr(s->pd, s->buf, len,
			   IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ);
	ia.send_cq = ia.recv_cq = s->cq;
	s->qp = s->mr ? ibv_create_qp(s->pd, &ia) : NULL;
	if (!s->qp)
		return die("mr or qp", errno);
	if (ibv_query_gid(s->ctx, 1, 0, &s->gid))
		return die("ibv_query_gid", errno);
	return 0;
}

static int connect_to(struct side *s, const struct side *peer)
{
	struct tqp_path p = tqp_path(peer->qp->qp_num, &peer->gid);
	int rc = tqp_init(s->qp, IBV_ACCESS_LOCAL_WRITE |
					 IBV_ACCESS_REMOTE_WRITE |
					 IBV_ACCESS_REMOTE_READ);

	if (rc)
		return die("INIT", rc);
	rc = tqp_rtr(s->qp, &p);
	return rc ? die("RTR", rc) : 0;
}

static int to_rts(struct side *s, const struct side *peer)
{
	struct tqp_path p = tqp_path(peer->qp->qp_num, &peer->gid);
	int rc = tqp_rts(s->qp, &p);

	return rc ? die("RTS", rc) : 0;
}

static int post(struct side *s, enum ibv_wr_opcode op, char *local,
		uint32_t len, const struct side *peer, uint64_t roff)
{
	struct ibv_sge sge = { .addr = (uintptr_t)local,
			       .length = len,
			       .lkey = s->mr->lkey };
	struct ibv_send_wr wr = {
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = (uintptr_t)peer->buf + roff,
			     .rkey = peer->mr->rkey },
	}, *bad;
	int rc = ibv_post_send(s->qp, &wr, &bad);

	return rc ? die("ibv_post_send", rc) : 0;
}

/* Busy-polls one completion of s; -1 on an error completion. */
static int wait_one(struct side *s)
{
	struct ibv_wc wc;
	int n;

	while (!(n = ibv_poll_cq(s->cq, 1, &wc)))
		;
	if (n < 0 || wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "read_hol: completion: %s\n",
			n < 0 ? "poll failed" : ibv_wc_status_str(wc.status));
		return -1;
	}
	return 0;
}

/* B's WRITE stream into A's memory: DEPTH in flight, total bytes. */
static void *stream(void *arg)
{
	uint64_t posted = 0, done = 0, t0 = now_ns();
	int out = 0;

	(void)arg;
	while (done < total) {
		while (out < DEPTH && posted < total) {
			if (post(&B, IBV_WR_RDMA_WRITE, B.buf, wsize, &A, 64))
				exit(1);
			posted += wsize;
			out++;
		}
		if (wait_one(&B))
			exit(1);
		out--;
		done += wsize;
	}
	stream_secs = (now_ns() - t0) / 1e9;
	atomic_store(&stream_done, true);
	return NULL;
}

/* One READ of 8 bytes of B's memory: its round trip in ns. */
static uint64_t read_rtt(void)
{
	uint64_t t0 = now_ns();

	if (post(&A, IBV_WR_RDMA_READ, A.buf, 8, &B, 0) || wait_one(&A))
		exit(1);
	return now_ns() - t0;
}

static int cmp64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double mean_us(const uint64_t *v, size_t n)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum += v[i];
	return sum / n / 1000.0;
}

static double pct_us(uint64_t *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp64);
	return v[(size_t)(p * (n - 1))] / 1000.0;
}

static int setup(const char *devname)
{
	struct ibv_device **l = ibv_get_device_list(NULL);
	struct ibv_device *dev = NULL;
	size_t len = wsize + 64;
	int i;

	for (i = 0; l && l[i]; i++)
		if (!devname || !strcmp(ibv_get_device_name(l[i]), devname))
			dev = dev ? dev : l[i];
	if (!dev)
		return die("no such device", ENODEV);
	if (side_open(&A, dev, len) || side_open(&B, dev, len))
		return -1;
	ibv_free_device_list(l);
	if (connect_to(&A, &B) || connect_to(&B, &A) || to_rts(&A, &B) ||
	    to_rts(&B, &A))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *devname = NULL;
	size_t n = 2000, max, k = 0, i;
	uint64_t *idle, *busy;
	double iu, ip, im, lu, lp, lm;
	pthread_t th;
	int c;

	while ((c = getopt(argc, argv, "d:s:t:n:")) != -1) {
		if (c == 'd')
			devname = optarg;
		else if (c == 's')
			wsize = strtoull(optarg, NULL, 0);
		else if (c == 't')
			total = strtoull(optarg, NULL, 0);
		else if (c == 'n')
			n = strtoull(optarg, NULL, 0);
		else
			return 2;
	}
	if (!n || !wsize || wsize > (1u << 31) || total < wsize)
		return 2;
	max = n * 100;
	idle = calloc(n, sizeof(*idle));
	busy = calloc(max, sizeof(*busy));
	if (!idle || !busy || setup(devname))
		return 1;
	for (i = 0; i < n / 10; i++)
		read_rtt(); /* warm-up */
	for (i = 0; i < n; i++)
		idle[i] = read_rtt();
	if (pthread_create(&th, NULL, stream, NULL))
		return 1;
	while (!atomic_load(&stream_done) && k < max)
		busy[k++] = read_rtt();
	pthread_join(th, NULL);
	if (!k)
		return die("no READ completed during the stream", EAGAIN);
	im = mean_us(idle, n);
	lm = mean_us(busy, k);
	iu = pct_us(idle, n, 0.5);
	ip = pct_us(idle, n, 0.99);
	lu = pct_us(busy, k, 0.5);
	lp = pct_us(busy, k, 0.99);
	printf("idle_us=%.2f idle_p99_us=%.2f idle_mean_us=%.2f "
	       "loaded_us=%.2f loaded_p99_us=%.2f loaded_mean_us=%.2f "
	       "loaded_reads=%zu ratio=%.2f write_gbps=%.2f\n",
	       iu, ip, im, lu, lp, lm, k, lu / iu,
	       total * 8 / stream_secs / 1e9);
	return 0;
}
