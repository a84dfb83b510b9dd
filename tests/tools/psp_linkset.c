// SPDX-License-Identifier: MIT
/*
 * `rdma-tcp link set` in a process that has the device open (issue 15,
 * docs/design.md "Security model"): the change applies to connections
 * made afterwards, established ones keep theirs.
 *
 *   psp_linkset DEVICE 'SET ENCRYPT' 'SET KEY' 'SPOIL KEY'
 *
 * One context, RC pairs of two of its QPs connected to each other, each
 * checked with WRITE+SEND round trips. Pair 1 connects in the device's
 * mode (auth). After 'SET ENCRYPT' (`link set DEVICE psp encrypt`) the
 * context's tcpdv_query_device says encrypt within the engine's look; pair
 * 2 then connects in encrypt while pair 1 keeps working in auth. After
 * 'SET KEY' (`link set DEVICE key NEWFILE`) the fingerprint changes, pair
 * 3 connects with the new key and pairs 1, 2 keep working. After 'SPOIL
 * KEY' (the key file made readable by every user) the engine refuses the
 * changed file, says so on stderr once, and keeps the key: pair 4
 * connects, the fingerprint is unchanged. stderr goes to a file this
 * program reads back.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/tcpdv.h>
#include <infiniband/verbs.h>

#include "tcheck.h"
#include "tdev.h"

#include "tqp.h"

#define BIG	  4096
#define BUFSZ	  (3 * BIG)
#define LOOK_MS	  10000 /* the engine looks once a second */
#define TRIP_MS	  20000
#define NPAIRS	  4
#define REFUSED_S "is refused"

struct pair {
	struct ibv_cq *cq;
	struct ibv_qp *qp[2];
	struct ibv_mr *mr[2]; /* [0, BIG) WRITE target, 64 B receive, then
				 BIG bytes of WRITE source */
	char *buf[2];
	uint32_t n; /* round trips so far */
};

static struct ibv_context *ctx;
static struct ibv_pd *pd;
static union ibv_gid gid;

static int to_rts(struct ibv_qp *qp, uint32_t dest)
{
	struct tqp_path p = tqp_path(dest, &gid);

	return tqp_connect(qp, IBV_ACCESS_REMOTE_WRITE, &p);
}

static int pair_new(struct pair *p)
{
	struct ibv_qp_init_attr ia = { .qp_type = IBV_QPT_RC,
				       .cap = { .max_send_wr = 8,
						.max_recv_wr = 8,
						.max_send_sge = 1,
						.max_recv_sge = 1 } };
	int i;

	p->cq = ibv_create_cq(ctx, 32, NULL, NULL, 0);
	if (!p->cq)
		return -1;
	ia.send_cq = ia.recv_cq = p->cq;
	for (i = 0; i < 2; i++) {
		p->buf[i] = calloc(1, BUFSZ);
		p->mr[i] = p->buf[i]
				   ? ibv_reg_mr(pd, p->buf[i], BUFSZ,
						IBV_ACCESS_LOCAL_WRITE |
							IBV_ACCESS_REMOTE_WRITE)
				   : NULL;
		p->qp[i] = ibv_create_qp(pd, &ia);
		if (!p->mr[i] || !p->qp[i])
			return -1;
	}
	for (i = 0; i < 2; i++)
		if (to_rts(p->qp[i], p->qp[!i]->qp_num))
			return -1;
	return 0;
}

/* QP i WRITEs BIG bytes of pattern @n to its peer, then SENDs @n. */
static int post_trip(struct pair *p, int i, uint32_t n)
{
	char *src = p->buf[i] + 2 * BIG;
	struct ibv_sge r = { .addr = (uintptr_t)p->buf[!i] + BIG,
			     .length = 64,
			     .lkey = p->mr[!i]->lkey },
		       s = { .addr = (uintptr_t)src,
			     .length = BIG,
			     .lkey = p->mr[i]->lkey };
	struct ibv_recv_wr rw = { .sg_list = &r, .num_sge = 1 }, *rbad;
	struct ibv_send_wr w = { .sg_list = &s,
				 .num_sge = 1,
				 .opcode = IBV_WR_RDMA_WRITE },
			   snd = { .opcode = IBV_WR_SEND_WITH_IMM,
				   .send_flags = IBV_SEND_SIGNALED,
				   .imm_data = htonl(n) },
			   *bad;

	memset(src, (int)(n & 0xff), BIG);
	w.wr.rdma.remote_addr = (uintptr_t)p->buf[!i];
	w.wr.rdma.rkey = p->mr[!i]->rkey;
	w.next = &snd;
	if (ibv_post_recv(p->qp[!i], &rw, &rbad))
		return -1;
	return ibv_post_send(p->qp[i], &w, &bad);
}

/* One round trip (0 -> 1, then 1 -> 0); the receiver checks the WRITE. */
static int round_trip(struct pair *p)
{
	uint64_t t0 = now_ms();
	uint32_t n = ++p->n;
	struct ibv_wc wc;
	int dir, got, k;

	for (dir = 0; dir < 2; dir++) {
		if (post_trip(p, dir, n))
			return -1;
		for (got = 0; got < 2;) {
			k = ibv_poll_cq(p->cq, 1, &wc);
			if (k < 0 || now_ms() - t0 > TRIP_MS)
				return -1;
			if (!k)
				continue;
			if (wc.status != IBV_WC_SUCCESS) {
				note("completion %s",
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

static bool trips(struct pair *p, int n)
{
	while (n--)
		if (round_trip(p))
			return false;
	return true;
}

/* Both QPs of @p established in @mode, each sealing with the other's SA. */
static bool pair_mode(struct pair *p, uint32_t mode)
{
	struct tcpdv_qp_security s[2];
	int i;

	for (i = 0; i < 2; i++)
		if (tcpdv_query_qp_security(p->qp[i], &s[i]) ||
		    !(s[i].flags & TCPDV_QP_SEC_ESTABLISHED) ||
		    s[i].mode != mode)
			return false;
	return s[0].tx_spi == s[1].rx_spi && s[1].tx_spi == s[0].rx_spi &&
	       !s[0].rejected && !s[1].rejected;
}

static void dev_psp(struct tcpdv_device_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->comp_mask = TCPDV_DEVICE_ATTR_PSP;
	if (tcpdv_query_device(ctx, a))
		a->psp_mode = ~0u;
}

/* Polls the device's configuration until @done says it changed. */
static bool await_dev(bool (*done)(const struct tcpdv_device_attr *,
				   const void *),
		      const void *arg, struct tcpdv_device_attr *a)
{
	uint64_t t0 = now_ms();

	for (;;) {
		dev_psp(a);
		if (done(a, arg))
			return true;
		if (now_ms() - t0 > LOOK_MS)
			return false;
		sleep_ms(50);
	}
}

static bool is_mode(const struct tcpdv_device_attr *a, const void *arg)
{
	return a->psp_mode == *(const uint32_t *)arg;
}

static bool other_fpr(const struct tcpdv_device_attr *a, const void *arg)
{
	return strcmp(a->fingerprint, arg) != 0;
}

/* Times @what appears in the file stderr goes to. */
static int count_in(const char *path, const char *what)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	fclose(f);
	return n;
}

static void step_encrypt(struct pair *pr, const char *cmd)
{
	uint32_t enc = TCPDV_PSP_ENCRYPT;
	struct tcpdv_device_attr a;

	tc_section = "psp encrypt";
	CHECK(system(cmd) == 0, "%s", cmd);
	CHECK(await_dev(is_mode, &enc, &a),
	      "the open context sees encrypt within %d ms", LOOK_MS);
	CHECK(pair_new(&pr[1]) == 0 && trips(&pr[1], 50),
	      "a new pair connects and carries 50 round trips");
	CHECK(pair_mode(&pr[1], TCPDV_PSP_ENCRYPT),
	      "the new pair is established in encrypt");
	CHECK(trips(&pr[0], 50) && pair_mode(&pr[0], TCPDV_PSP_AUTH),
	      "the old pair keeps working, in auth");
}

static void step_key(struct pair *pr, const char *cmd, char *fpr)
{
	struct tcpdv_device_attr a;
	char old[sizeof(a.fingerprint)];

	tc_section = "key";
	dev_psp(&a);
	snprintf(old, sizeof(old), "%s", a.fingerprint);
	CHECK(system(cmd) == 0, "%s", cmd);
	CHECK(await_dev(other_fpr, old, &a),
	      "the open context sees the new key's fingerprint");
	snprintf(fpr, sizeof(a.fingerprint), "%s", a.fingerprint);
	CHECK(pair_new(&pr[2]) == 0 && trips(&pr[2], 50) &&
		      pair_mode(&pr[2], TCPDV_PSP_ENCRYPT),
	      "a new pair connects with the new key, in encrypt");
	CHECK(trips(&pr[0], 20) && trips(&pr[1], 20),
	      "the pairs connected before keep working");
}

static void step_spoil(struct pair *pr, const char *cmd, const char *fpr,
		       const char *errpath)
{
	struct tcpdv_device_attr a;
	uint64_t t0;
	int n;

	tc_section = "key readable by all";
	CHECK(system(cmd) == 0, "%s", cmd);
	for (t0 = now_ms();
	     (n = count_in(errpath, REFUSED_S)) < 1 && now_ms() - t0 < LOOK_MS;)
		sleep_ms(50);
	CHECK(n == 1, "the engine refuses the changed key, on stderr");
	CHECK(pair_new(&pr[3]) == 0 && trips(&pr[3], 20) &&
		      pair_mode(&pr[3], TCPDV_PSP_ENCRYPT),
	      "a new pair still connects, with the key kept");
	dev_psp(&a);
	CHECK(!strcmp(a.fingerprint, fpr), "the fingerprint is the kept key's");
	/* load shaping: traffic across two more of the engine's looks */
	for (t0 = now_ms(); now_ms() - t0 < 2500;)
		if (!trips(&pr[0], 1))
			break;
	n = count_in(errpath, REFUSED_S);
	CHECK(n == 1, "said once, not at every look (%d times)", n);
}

int main(int argc, char **argv)
{
	struct pair pr[NPAIRS] = { 0 };
	char fpr[TCPDV_FINGERPRINT_MAX], errpath[] = "/tmp/psp_linkset.XXXXXX";
	int fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 5) {
		fprintf(stderr, "usage: psp_linkset DEVICE 'SET ENCRYPT' "
				"'SET KEY' 'SPOIL KEY'\n");
		return 2;
	}
	tc_watchdog(120);
	fd = mkstemp(errpath);
	if (fd < 0 || dup2(fd, 2) < 0)
		return 2;
	close(fd);
	ctx = open_dev(argv[1]);
	pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	if (!pd || ibv_query_gid(ctx, 1, 0, &gid)) {
		printf("cannot open %s\n", argv[1]);
		return 2;
	}
	tc_section = "psp auth";
	CHECK(pair_new(&pr[0]) == 0 && trips(&pr[0], 50),
	      "a pair connects and carries 50 round trips");
	CHECK(pair_mode(&pr[0], TCPDV_PSP_AUTH), "established in auth");
	if (!tc_failed)
		step_encrypt(pr, argv[2]);
	if (!tc_failed)
		step_key(pr, argv[3], fpr);
	if (!tc_failed)
		step_spoil(pr, argv[4], fpr, errpath);
	unlink(errpath);
	return tc_report();
}
