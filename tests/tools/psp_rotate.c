// SPDX-License-Identifier: MIT
/*
 * Device key rotation under traffic (issue 15, docs/design.md "Security
 * model"): two RC QPs of one context connected to each other carry
 * WRITE+SEND round trips (64 KiB WRITEs: frames of several chunks) while
 * `rdma-tcp link rotate` runs twice. Every message must arrive intact, no
 * work request may fail, and tcpdv_query_qp_security must show each QP's
 * receive SA renewed from the new device key, the previous one kept, and
 * the peer sealing with the new one -- no frame rejected.
 *
 * usage: psp_rotate DEVICE 'ROTATE COMMAND'
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <infiniband/tcpdv.h>
#include <infiniband/verbs.h>

#include "tdev.h"

#include "tqp.h"

#define BIG	   65536
#define DEADLINE_S 20
#define SRC(p, i)  ((p)->buf[i] + BIG + 64)
#define BUFSZ	   (2 * BIG + 64)

static int passed, failed;

#define CHECK(cond, ...)                                            \
	do {                                                        \
		if (cond) {                                         \
			passed++;                                   \
		} else {                                            \
			failed++;                                   \
			printf("FAIL %s:%d: ", __FILE__, __LINE__); \
			printf(__VA_ARGS__);                        \
			printf("\n");                               \
		}                                                   \
	} while (0)

struct pair {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp[2];
	struct ibv_mr *mr[2]; /* per QP: [0, BIG) WRITE target, 64 B receive,
			       BIG bytes of WRITE source (SRC) */
	char *buf[2];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int connect_qp(struct ibv_qp *qp, uint32_t dest, union ibv_gid *gid)
{
	struct tqp_path p = tqp_path(dest, gid);

	return tqp_connect(qp, IBV_ACCESS_REMOTE_WRITE, &p);
}

static int setup(struct pair *p, const char *name)
{
	struct ibv_qp_init_attr ia = { .qp_type = IBV_QPT_RC,
				       .cap = { .max_send_wr = 16,
						.max_recv_wr = 16,
						.max_send_sge = 1,
						.max_recv_sge = 1 } };
	union ibv_gid gid;
	int i;

	p->ctx = open_dev(name);
	if (!p->ctx || ibv_query_gid(p->ctx, 1, 0, &gid))
		return -1;
	p->pd = ibv_alloc_pd(p->ctx);
	p->cq = ibv_create_cq(p->ctx, 64, NULL, NULL, 0);
	if (!p->pd || !p->cq)
		return -1;
	ia.send_cq = ia.recv_cq = p->cq;
	for (i = 0; i < 2; i++) {
		p->buf[i] = calloc(1, BUFSZ);
		p->mr[i] = ibv_reg_mr(p->pd, p->buf[i], BUFSZ,
				      IBV_ACCESS_LOCAL_WRITE |
					      IBV_ACCESS_REMOTE_WRITE);
		p->qp[i] = ibv_create_qp(p->pd, &ia);
		if (!p->mr[i] || !p->qp[i])
			return -1;
	}
	for (i = 0; i < 2; i++)
		if (connect_qp(p->qp[i], p->qp[!i]->qp_num, &gid))
			return -1;
	return 0;
}

static int post_recv(struct pair *p, int i)
{
	struct ibv_sge s = { .addr = (uintptr_t)p->buf[i] + BIG,
			     .length = 64,
			     .lkey = p->mr[i]->lkey };
	struct ibv_recv_wr wr = { .wr_id = i, .sg_list = &s, .num_sge = 1 },
			   *bad;

	return ibv_post_recv(p->qp[i], &wr, &bad);
}

/* QP i WRITEs BIG bytes of pattern @n to its peer, then SENDs @n. */
static int post_write_send(struct pair *p, int i, uint32_t n)
{
	char *src = SRC(p, i);

	struct ibv_sge s = { .addr = (uintptr_t)src,
			     .length = BIG,
			     .lkey = p->mr[i]->lkey };
	struct ibv_send_wr w = { .wr_id = 100 + i,
				 .sg_list = &s,
				 .num_sge = 1,
				 .opcode = IBV_WR_RDMA_WRITE },
			   snd = { .wr_id = 200 + i,
				   .num_sge = 0,
				   .opcode = IBV_WR_SEND_WITH_IMM,
				   .send_flags = IBV_SEND_SIGNALED,
				   .imm_data = htonl(n) },
			   *bad;

	memset(src, (int)(n & 0xff), BIG);
	w.wr.rdma.remote_addr = (uintptr_t)p->buf[!i];
	w.wr.rdma.rkey = p->mr[!i]->rkey;
	w.next = &snd;
	return ibv_post_send(p->qp[i], &w, &bad);
}

/* One round trip: QP 0 -> 1, then 1 -> 0; the peer checks the WRITE. */
static int round_trip(struct pair *p, uint32_t n)
{
	int dir, got, k;
	struct ibv_wc wc;
	double t0 = now_s();

	for (dir = 0; dir < 2; dir++) {
		if (post_recv(p, !dir) || post_write_send(p, dir, n))
			return -1;
		for (got = 0; got < 2;) {
			k = ibv_poll_cq(p->cq, 1, &wc);
			if (k < 0 || now_s() - t0 > DEADLINE_S)
				return -1;
			if (!k)
				continue;
			if (wc.status != IBV_WC_SUCCESS) {
				printf("wc %lu status %s\n",
				       (unsigned long)wc.wr_id,
				       ibv_wc_status_str(wc.status));
				return -1;
			}
			got++;
			if (wc.opcode == IBV_WC_RECV &&
			    (ntohl(wc.imm_data) != n ||
			     p->buf[!dir][0] != (char)(n & 0xff) ||
			     p->buf[!dir][BIG - 1] != (char)(n & 0xff)))
				return -2;
		}
	}
	return 0;
}

static void sec_of(struct pair *p, int i, struct tcpdv_qp_security *s)
{
	memset(s, 0, sizeof(*s));
	tcpdv_query_qp_security(p->qp[i], s);
}

/* Traffic until both QPs seal with the other's new SA (or deadline). */
static int rotate_under_traffic(struct pair *p, const char *cmd, uint32_t *n)
{
	struct tcpdv_qp_security b[2], a[2];
	double t0;
	int i;

	sec_of(p, 0, &b[0]);
	sec_of(p, 1, &b[1]);
	CHECK(system(cmd) == 0, "%s", cmd);
	for (t0 = now_s(); now_s() - t0 < DEADLINE_S;) {
		if (round_trip(p, (*n)++))
			return -1;
		sec_of(p, 0, &a[0]);
		sec_of(p, 1, &a[1]);
		if (a[0].key_gen > b[0].key_gen &&
		    a[1].key_gen > b[1].key_gen && a[0].tx_spi == a[1].rx_spi &&
		    a[1].tx_spi == a[0].rx_spi)
			break;
	}
	for (i = 0; i < 2; i++) {
		CHECK(a[i].key_gen == b[i].key_gen + 1,
		      "QP %d key generation %u after %u", i, a[i].key_gen,
		      b[i].key_gen);
		CHECK(a[i].rx_spi != b[i].rx_spi &&
			      a[i].rx_spi_prev == b[i].rx_spi,
		      "QP %d rx SPI %08x (before %08x, previous %08x)", i,
		      a[i].rx_spi, b[i].rx_spi, a[i].rx_spi_prev);
		CHECK(a[i].tx_spi == a[!i].rx_spi,
		      "QP %d seals with %08x, its peer expects %08x", i,
		      a[i].tx_spi, a[!i].rx_spi);
		CHECK((a[i].rx_spi ^ b[i].rx_spi) & 0x80000000u,
		      "QP %d: the new SPI's top bit names the other key", i);
		CHECK(a[i].rejected == 0, "QP %d rejected %lu frames", i,
		      (unsigned long)a[i].rejected);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct pair p = { 0 };
	uint32_t n = 1;
	int i, r = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: psp_rotate DEVICE 'ROTATE COMMAND'\n");
		return 2;
	}
	if (setup(&p, argv[1])) {
		perror("setup");
		return 1;
	}
	for (i = 0; i < 100; i++)
		if ((r = round_trip(&p, n++)))
			break;
	CHECK(i == 100, "traffic before rotating (%d)", r);
	for (i = 0; i < 2 && !failed; i++)
		CHECK(rotate_under_traffic(&p, argv[2], &n) == 0,
		      "traffic through rotation %d", i + 1);
	for (i = 0; i < 200 && !failed; i++)
		if ((r = round_trip(&p, n++)))
			break;
	CHECK(failed || i == 200, "traffic after rotating (%d)", r);
	printf("%d round trips\n%d passed, %d failed\n", (int)n - 1, passed,
	       failed);
	return failed ? 1 : 0;
}
