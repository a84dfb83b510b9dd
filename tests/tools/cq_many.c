// SPDX-License-Identifier: MIT
/*
 * cq_many [-d DEV] [-n PAIRS] [-p POLLS]: many RC QPs feeding one CQ that
 * the application polls itself, as middleware does (UCX puts every
 * endpoint of a worker on one CQ). For test_cq_many.sh.
 *
 * PAIRS pairs (default 64) of RC QPs, both ends in this process, all on
 * one CQ (send and receive):
 *  1. traffic on every pair: A SENDs its pair number to B, B WRITEs it
 *     into A's slot, A READs B's slot back; every completion succeeds and
 *     every byte is checked;
 *  2. POLLS polls of the idle CQ (default 0), which find nothing;
 *  3. the first half of the pairs is destroyed, and the traffic of 1 runs
 *     again on the rest (a QP that left the CQ is never served again);
 *  4. one more pair, made last (its QPs take the listener's highest
 *     slots), with rnr_retry 0: a SEND to a QP with no receive posted
 *     fails with IBV_WC_RNR_RETRY_EXC_ERR -- the engine's timer pass
 *     found the waiting QP among all the idle ones (only it fails a
 *     SEND whose credit never comes).
 * Completions are waited for by polling the CQ, at most 30 s.
 *
 * Step 2 is framed by two lines written to stderr (one write(2) each),
 * so that test_cq_many.sh can count the socket reads between them under
 * strace: an idle poll must not read every QP's socket. Prints a line a
 * check and "N passed, N failed" (tcheck.h); exit 0 when all passed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "tcheck.h"
#include "tdev.h"
#include "tqp.h"

#define SLOT 64 /* bytes of the buffer each QP has */

struct pair {
	struct ibv_qp *a, *b;
};

static struct ibv_context *ctx;
static struct ibv_pd *pd;
static struct ibv_cq *cq;
static struct ibv_mr *mr;
static uint8_t *buf; /* SLOT bytes for each QP: pair i, A at 2i, B 2i+1 */
static union ibv_gid gid0;

static void mark(const char *line)
{
	if (write(STDERR_FILENO, line, strlen(line)) < 0)
		perror("cq_many: write");
}

static uint8_t *slot(int qp_index)
{
	return buf + (size_t)qp_index * SLOT;
}

static struct ibv_qp *new_qp(void)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = cq,
		.recv_cq = cq,
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 4,
			 .max_recv_wr = 4,
			 .max_send_sge = 1,
			 .max_recv_sge = 1 },
	};

	return ibv_create_qp(pd, &ia);
}

static int connect_pair(struct pair *p, uint8_t rnr_retry)
{
	unsigned int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			      IBV_ACCESS_REMOTE_READ;
	struct tqp_path to_b = tqp_path(p->b->qp_num, &gid0);
	struct tqp_path to_a = tqp_path(p->a->qp_num, &gid0);

	to_b.rnr_retry = to_a.rnr_retry = rnr_retry;
	return tqp_connect(p->a, access, &to_b) ||
	       tqp_connect(p->b, access, &to_a);
}

/* Waits for n successful completions on the CQ; -1 on an error or 30 s */
static int wait_wcs(int n)
{
	struct timespec t0, t;
	struct ibv_wc wc[16];
	int got = 0, i, k;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (got < n) {
		k = ibv_poll_cq(cq, 16, wc);
		if (k < 0)
			return -1;
		for (i = 0; i < k; i++)
			if (wc[i].status != IBV_WC_SUCCESS) {
				fprintf(stderr, "cq_many: wr %llu: %s\n",
					(unsigned long long)wc[i].wr_id,
					ibv_wc_status_str(wc[i].status));
				return -1;
			}
		got += k;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 30) {
			fprintf(stderr,
				"cq_many: %d of %d completions in 30 s\n", got,
				n);
			return -1;
		}
	}
	return 0;
}

static int post(struct ibv_qp *qp, enum ibv_wr_opcode op, int from, int to)
{
	struct ibv_sge sge = { .addr = (uintptr_t)slot(from),
			       .length = 8,
			       .lkey = mr->lkey };
	struct ibv_send_wr wr = { .wr_id = (uint64_t)from,
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED },
			   *bad;

	if (op != IBV_WR_SEND) {
		wr.wr.rdma.remote_addr = (uintptr_t)slot(to);
		wr.wr.rdma.rkey = mr->rkey;
	}
	return ibv_post_send(qp, &wr, &bad);
}

static int post_recv(struct ibv_qp *qp, int at)
{
	struct ibv_sge sge = { .addr = (uintptr_t)slot(at),
			       .length = SLOT,
			       .lkey = mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = (uint64_t)at,
				  .sg_list = &sge,
				  .num_sge = 1 },
			   *bad;

	return ibv_post_recv(qp, &wr, &bad);
}

/* Step 1 on pairs [lo, hi): SEND, then WRITE back, then READ back. */
static int traffic(struct pair *p, int lo, int hi, uint64_t tag)
{
	int i, n = hi - lo, bad = 0;
	uint64_t v;

	for (i = lo; i < hi; i++) {
		v = tag + i;
		memcpy(slot(2 * i), &v, 8); /* A's message */
		memset(slot(2 * i + 1), 0, SLOT);
		if (post_recv(p[i].b, 2 * i + 1) ||
		    post(p[i].a, IBV_WR_SEND, 2 * i, 0))
			return -1;
	}
	if (wait_wcs(2 * n)) /* the SENDs and the receives */
		return -1;
	for (i = lo; i < hi; i++) {
		memset(slot(2 * i), 0, 8);
		if (post(p[i].b, IBV_WR_RDMA_WRITE, 2 * i + 1, 2 * i))
			return -1;
	}
	if (wait_wcs(n))
		return -1;
	for (i = lo; i < hi; i++) {
		memset(slot(2 * i + 1), 0, 8);
		if (post(p[i].a, IBV_WR_RDMA_READ, 2 * i + 1, 2 * i))
			return -1;
	}
	if (wait_wcs(n))
		return -1;
	for (i = lo; i < hi; i++) {
		v = tag + i;
		bad += memcmp(slot(2 * i), &v, 8) != 0 ||
		       memcmp(slot(2 * i + 1), &v, 8) != 0;
	}
	if (bad)
		fprintf(stderr, "cq_many: %d pairs with wrong data\n", bad);
	return bad ? -1 : 0;
}

/*
 * Step 4: a new pair with rnr_retry 0, a SEND from A to B, which has no
 * receive; true if it fails with RNR_RETRY_EXC_ERR within 30 s.
 */
static bool rnr_fails(void)
{
	struct pair p = { new_qp(), new_qp() };
	struct timespec t0, t;
	struct ibv_wc wc;
	int k = 0;

	if (!p.a || !p.b || connect_pair(&p, 0) || post(p.a, IBV_WR_SEND, 0, 0))
		return false;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		k = ibv_poll_cq(cq, 1, &wc);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (!k && t.tv_sec - t0.tv_sec <= 30);
	if (k == 1 && wc.status != IBV_WC_RNR_RETRY_EXC_ERR)
		fprintf(stderr, "cq_many: the SEND ended %s\n",
			ibv_wc_status_str(wc.status));
	return k == 1 && wc.status == IBV_WC_RNR_RETRY_EXC_ERR &&
	       !ibv_destroy_qp(p.a) && !ibv_destroy_qp(p.b);
}

static int setup(const char *name, int npairs)
{
	ctx = open_dev(name);
	if (!ctx)
		return -1;
	buf = calloc(2 * (size_t)npairs, SLOT);
	pd = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 8 * npairs, NULL, NULL, 0);
	mr = buf && pd ? ibv_reg_mr(pd, buf, 2 * (size_t)npairs * SLOT,
				    IBV_ACCESS_LOCAL_WRITE |
					    IBV_ACCESS_REMOTE_WRITE |
					    IBV_ACCESS_REMOTE_READ)
		       : NULL;
	return cq && mr && !ibv_query_gid(ctx, 1, 0, &gid0) ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *dev = "tcp0";
	int npairs = 64, polls = 0, i, c, found = 0;
	struct ibv_wc wc;
	struct pair *p;

	while ((c = getopt(argc, argv, "d:n:p:")) != -1) {
		if (c == 'd')
			dev = optarg;
		else if (c == 'n')
			npairs = atoi(optarg);
		else if (c == 'p')
			polls = atoi(optarg);
		else
			return 2;
	}
	if (npairs < 2 || polls < 0)
		return 2;
	p = calloc(npairs, sizeof(*p));
	if (!p || setup(dev, npairs)) {
		fprintf(stderr, "cq_many: cannot set up %s\n", dev);
		return 1;
	}
	for (i = 0; i < npairs; i++) {
		p[i].a = new_qp();
		p[i].b = new_qp();
		if (!p[i].a || !p[i].b || connect_pair(&p[i], 7)) {
			fprintf(stderr, "cq_many: pair %d: %s\n", i,
				strerror(errno));
			return 1;
		}
	}
	check(!traffic(p, 0, npairs, 1000),
	      "SEND, WRITE and READ on every pair, one CQ");
	/* markers for strace: the test counts the socket reads between */
	mark("cq_many: idle polls begin\n");
	for (i = 0; i < polls; i++)
		found += ibv_poll_cq(cq, 1, &wc) != 0;
	mark("cq_many: idle polls end\n");
	check(!found, "idle polls find nothing");
	for (i = 0; i < npairs / 2; i++)
		if (ibv_destroy_qp(p[i].a) || ibv_destroy_qp(p[i].b))
			break;
	check(i == npairs / 2, "half the pairs destroyed");
	check(!traffic(p, npairs / 2, npairs, 2000),
	      "SEND, WRITE and READ on the pairs left");
	check(rnr_fails(), "a SEND without a receive at the far end fails "
			   "(RNR_RETRY_EXC_ERR) among idle QPs");
	for (i = npairs / 2; i < npairs; i++)
		if (ibv_destroy_qp(p[i].a) || ibv_destroy_qp(p[i].b))
			break;
	check(i == npairs && !ibv_dereg_mr(mr) && !ibv_destroy_cq(cq) &&
		      !ibv_dealloc_pd(pd) && !ibv_close_device(ctx),
	      "everything destroyed");
	free(p);
	free(buf);
	return tc_report();
}
