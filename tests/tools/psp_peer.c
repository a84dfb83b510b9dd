// SPDX-License-Identifier: MIT
/*
 * psp_peer: one end of an RC pair whose every byte is checked, for the
 * security tests (test_psp.sh): what a fault or an attack did, as the
 * application sees it.
 *
 *   psp_peer -d DEV -o MYFILE -i PEERFILE [-w] [-g IP] [-s SIZE] [-n N]
 *            [-t SECS] [-G DIR] [-R MS] [-W GATE -F FPR] [-S FILE] [-K]
 *
 * The ends meet through files (namespaces share the file system): each
 * writes "QPN RKEY ADDR GID" to MYFILE (atomically) and waits for
 * PEERFILE. -g IP: the peer's GID is ::ffff:IP whatever its file says (a
 * proxy between the ends). The writer (-w) does N iterations of: an RDMA
 * WRITE of SIZE bytes (pattern of the iteration) into the peer's region,
 * a SEND {magic, i}, and waits for the peer's SEND {magic', i}; the other
 * end checks, on each receive, that the message and the whole written
 * range are exactly the iteration's (anything else is a forged byte seen
 * as a completed operation) and answers. Both ends' regions have 4 KiB
 * canaries on each side (the writer's region is all canary), registered
 * with remote write, checked at the end. -G DIR: wait for the file
 * DIR/<our QPN> before RTR (psp_attack race opens it: its hello first). -t SECS: the
 * deadline of the whole run (default 30); SIGUSR1 ends the run at once, as
 * the deadline would (a target the test has seen enough of). -W GATE -F
 * FPR: with the device
 * open, wait for the file GATE, then until the context's credential has
 * fingerprint FPR (tcpdv_query_device: a `link set` made meanwhile), and
 * only then publish (test_linkset.sh). -S FILE (both ends): the run has
 * no fixed length: the writer makes the iteration it starts once FILE
 * exists the last one and says so in its message, and both ends then
 * finish as after N iterations (N: an upper bound). -K: print "key_gen G"
 * whenever the QP's receive SA comes from another device key generation
 * (tcpdv_query_qp_security), so a test can wait for a rekey.
 *
 * Prints "running" once the first iteration is verified, then what
 * happened, one fact a line ("iterations 20/20", "forged 0",
 * "canary intact", "first_error IBV_WC_...", "flushed K", "unfinished K",
 * "event IBV_EVENT_...", "qp_state ERR", "rejected N": frames that failed
 * verification, tcpdv_query_qp_security), then "result: clean | failed |
 * forged | waiting | hang", and exits 0, 1, 2, 3 or 5 (4: setup failed).
 * "failed" means cleanly: the QP in ERR, a fatal or access-error async
 * event, and every posted work request completed (with its error or
 * flushed). "waiting": at the deadline no error at all, the QP not in ERR,
 * its work still posted -- an accepting QP whose peer never connected (a
 * connection that failed its handshake leaves it untouched). "hang": an
 * error, but not a clean failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/tcpdv.h>
#include <infiniband/verbs.h>

#include "tcheck.h"
#include "tdev.h"
#include "tqp.h"

#define CANARY	  4096
#define CANARY_B  0xc5
#define RQ	  16
#define MSG	  64
#define MAGIC_REQ 0x50535031u /* "PSP1" */
#define MAGIC_ACK 0x50535041u /* "PSPA" */
#define MAGIC_END 0x5053504cu /* "PSPL": the writer's last iteration (-S) */
/* wr_id kinds, ORed with the iteration */
#define K_WRITE (1ull << 40)
#define K_SEND	(2ull << 40)
#define K_RECV	(3ull << 40)

struct opts {
	const char *dev, *me, *peer, *peer_ip, *gate, *hold, *fpr, *stop;
	bool writer, show_key_gen;
	size_t size;
	int iters, secs, rts_delay_ms;
};

struct peer {
	struct opts o;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *tmr, *smr, *mmr;
	uint8_t *tbuf, *sbuf, *mbuf; /* target, WRITE source, messages */
	uint32_t rqpn, rrkey;
	uint64_t raddr;
	union ibv_gid rgid;
	int sq_out, rq_out, done, forged, extra, flushed, errors;
	enum ibv_wc_status first_err;
	bool err, fatal_event;
	uint64_t deadline;
	long key_gen; /* -K: the last one printed, -1 before the first */
};

/* SIGUSR1: the run ends now, as at its deadline */
static volatile sig_atomic_t report_now;

static void on_usr1(int sig)
{
	(void)sig;
	report_now = 1;
}

static bool past_deadline(const struct peer *p)
{
	return report_now || now_ms() >= p->deadline;
}

static uint8_t pattern(int it, size_t off)
{
	return (uint8_t)(it * 131 + off * 7 + (off >> 8));
}

static int parse(int argc, char **argv, struct opts *o)
{
	int c;

	*o = (struct opts){ .size = 65536, .iters = 20, .secs = 30 };
	while ((c = getopt(argc, argv, "d:o:i:wg:s:n:t:G:R:W:F:S:K")) != -1) {
		switch (c) {
		case 'd':
			o->dev = optarg;
			break;
		case 'o':
			o->me = optarg;
			break;
		case 'i':
			o->peer = optarg;
			break;
		case 'w':
			o->writer = true;
			break;
		case 'g':
			o->peer_ip = optarg;
			break;
		case 's':
			o->size = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			o->iters = atoi(optarg);
			break;
		case 't':
			o->secs = atoi(optarg);
			break;
		case 'G':
			o->gate = optarg;
			break;
		case 'R':
			o->rts_delay_ms = atoi(optarg);
			break;
		case 'W':
			o->hold = optarg;
			break;
		case 'F':
			o->fpr = optarg;
			break;
		case 'S':
			o->stop = optarg;
			break;
		case 'K':
			o->show_key_gen = true;
			break;
		default:
			return -1;
		}
	}
	return o->dev && o->me && o->peer && o->size && o->iters > 0 &&
			       !o->hold == !o->fpr
		       ? 0
		       : -1;
}

static int setup(struct peer *p)
{
	int acc = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	struct ibv_qp_init_attr qa = { .qp_type = IBV_QPT_RC };
	size_t tlen = 2 * CANARY + p->o.size;

	p->ctx = open_dev(p->o.dev);
	if (!p->ctx) {
		printf("open %s: %s\n", p->o.dev, strerror(errno));
		return -1;
	}
	p->pd = ibv_alloc_pd(p->ctx);
	p->cq = ibv_create_cq(p->ctx, 4 * RQ, NULL, NULL, 0);
	p->tbuf = malloc(tlen);
	p->sbuf = malloc(p->o.size);
	p->mbuf = calloc(RQ + 1, MSG);
	if (!p->pd || !p->cq || !p->tbuf || !p->sbuf || !p->mbuf)
		return -1;
	memset(p->tbuf, CANARY_B, tlen);
	p->tmr = ibv_reg_mr(p->pd, p->tbuf, tlen, acc);
	p->smr = ibv_reg_mr(p->pd, p->sbuf, p->o.size, IBV_ACCESS_LOCAL_WRITE);
	p->mmr = ibv_reg_mr(p->pd, p->mbuf, (RQ + 1) * MSG,
			    IBV_ACCESS_LOCAL_WRITE);
	qa.send_cq = qa.recv_cq = p->cq;
	qa.cap.max_send_wr = qa.cap.max_recv_wr = RQ;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	p->qp = ibv_create_qp(p->pd, &qa);
	if (!p->tmr || !p->smr || !p->mmr || !p->qp)
		return -1;
	return tqp_init(p->qp, IBV_ACCESS_REMOTE_WRITE);
}

/* MYFILE: "QPN RKEY ADDR GID", written to a temporary name and renamed */
static int publish(struct peer *p)
{
	char tmp[4096], gid[INET6_ADDRSTRLEN];
	union ibv_gid g;
	FILE *f;

	if (ibv_query_gid(p->ctx, 1, 0, &g) ||
	    !inet_ntop(AF_INET6, g.raw, gid, sizeof(gid)))
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", p->o.me);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%u %u %llu %s\n", p->qp->qp_num, p->tmr->rkey,
		(unsigned long long)(uintptr_t)(p->tbuf + CANARY), gid);
	if (fclose(f))
		return -1;
	printf("qpn %u rkey %u\n", p->qp->qp_num, p->tmr->rkey);
	fflush(stdout);
	return rename(tmp, p->o.me);
}

/* Polls for @path until the deadline; the open file or NULL. */
static FILE *await_file(const struct peer *p, const char *path)
{
	FILE *f;

	while (!(f = fopen(path, "r")) && !past_deadline(p))
		sleep_ms(20);
	return f;
}

/* -W/-F: the gate, then the device's credential as FPR says */
static int await_config(struct peer *p)
{
	struct tcpdv_device_attr a;
	FILE *f;

	if (!p->o.hold)
		return 0;
	printf("holding %s open\n", p->o.dev);
	f = await_file(p, p->o.hold);
	if (!f)
		return -1;
	fclose(f);
	do {
		memset(&a, 0, sizeof(a));
		a.comp_mask = TCPDV_DEVICE_ATTR_PSP;
		if (!tcpdv_query_device(p->ctx, &a) &&
		    !strcmp(a.fingerprint, p->o.fpr)) {
			printf("fingerprint %s\n", a.fingerprint);
			return 0;
		}
		sleep_ms(50);
	} while (!past_deadline(p));
	printf("fingerprint still %s\n", a.fingerprint);
	return -1;
}

static int await_peer(struct peer *p)
{
	char gid[INET6_ADDRSTRLEN + 8] = "", ip[64];
	unsigned long long addr;
	FILE *f = await_file(p, p->o.peer);

	if (!f)
		return -1;
	if (fscanf(f, "%u %u %llu %47s", &p->rqpn, &p->rrkey, &addr, gid) !=
	    4) {
		fclose(f);
		return -1;
	}
	fclose(f);
	p->raddr = addr;
	if (p->o.peer_ip) {
		snprintf(ip, sizeof(ip), "::ffff:%s", p->o.peer_ip);
		return inet_pton(AF_INET6, ip, p->rgid.raw) == 1 ? 0 : -1;
	}
	return inet_pton(AF_INET6, gid, p->rgid.raw) == 1 ? 0 : -1;
}

static const char *qp_state_name(struct ibv_qp *qp)
{
	static const char *const n[] = { "RESET", "INIT", "RTR", "RTS",
					 "SQD",	  "SQE",  "ERR" };
	struct ibv_qp_init_attr ia;
	struct ibv_qp_attr a;

	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &ia) || a.qp_state > IBV_QPS_ERR)
		return "?";
	return n[a.qp_state];
}

static int connect_qp(struct peer *p)
{
	struct tqp_path tp = tqp_path(p->rqpn, &p->rgid);
	char path[4096];
	FILE *gate = NULL;

	if (p->o.gate) {
		snprintf(path, sizeof(path), "%s/%u", p->o.gate, p->qp->qp_num);
		gate = await_file(p, path);
		if (!gate)
			return -1;
		fclose(gate);
	}
	tp.hop_limit = 1;
	if (tqp_rtr(p->qp, &tp)) {
		printf("modify to RTR: %s\n", strerror(errno));
		return -1;
	}
	if (p->o.rts_delay_ms) /* load shaping: an app slow to reach RTS */
		sleep_ms(p->o.rts_delay_ms);
	if (tqp_rts(p->qp, &tp)) {
		printf("modify RTR to RTS: %s (QP state %s)\n", strerror(errno),
		       qp_state_name(p->qp));
		return -1;
	}
	return 0;
}

static int post_recv(struct peer *p, int slot)
{
	struct ibv_sge s = { (uintptr_t)(p->mbuf + slot * MSG), MSG,
			     p->mmr->lkey };
	struct ibv_recv_wr w = { .wr_id = K_RECV | (uint64_t)slot,
				 .sg_list = &s,
				 .num_sge = 1 },
			   *bad;

	if (ibv_post_recv(p->qp, &w, &bad))
		return -1;
	p->rq_out++;
	return 0;
}

/* SEND {magic, it} from the message slot RQ */
static int post_msg(struct peer *p, uint32_t magic, int it)
{
	uint8_t *m = p->mbuf + RQ * MSG;
	struct ibv_sge s = { (uintptr_t)m, 8, p->mmr->lkey };
	struct ibv_send_wr w = { .wr_id = K_SEND | (uint64_t)it,
				 .sg_list = &s,
				 .num_sge = 1,
				 .opcode = IBV_WR_SEND,
				 .send_flags = IBV_SEND_SIGNALED },
			   *bad;
	uint32_t v[2] = { htonl(magic), htonl((uint32_t)it) };

	memcpy(m, v, sizeof(v));
	if (ibv_post_send(p->qp, &w, &bad))
		return -1;
	p->sq_out++;
	return 0;
}

static int post_write(struct peer *p, int it)
{
	struct ibv_sge s = { (uintptr_t)p->sbuf, (uint32_t)p->o.size,
			     p->smr->lkey };
	struct ibv_send_wr w = { .wr_id = K_WRITE | (uint64_t)it,
				 .sg_list = &s,
				 .num_sge = 1,
				 .opcode = IBV_WR_RDMA_WRITE,
				 .send_flags = IBV_SEND_SIGNALED },
			   *bad;
	size_t i;

	for (i = 0; i < p->o.size; i++)
		p->sbuf[i] = pattern(it, i);
	w.wr.rdma.remote_addr = p->raddr;
	w.wr.rdma.rkey = p->rrkey;
	if (ibv_post_send(p->qp, &w, &bad))
		return -1;
	p->sq_out++;
	return 0;
}

/* Did receive @slot bring exactly message {magic, it} (and, on the
 * target, the iteration's bytes in the written range)? */
static bool genuine(struct peer *p, const struct ibv_wc *wc, int slot,
		    uint32_t magic, int it)
{
	const uint8_t *m = p->mbuf + slot * MSG;
	uint32_t v[2];
	size_t i;

	memcpy(v, m, sizeof(v));
	if (wc->byte_len != 8 || ntohl(v[0]) != magic ||
	    ntohl(v[1]) != (uint32_t)it)
		return false;
	if (p->o.writer)
		return true;
	for (i = 0; i < p->o.size; i++)
		if (p->tbuf[CANARY + i] != pattern(it, i))
			return false;
	return true;
}

/* The message magic in receive @slot */
static uint32_t msg_magic(const struct peer *p, int slot)
{
	uint32_t v;

	memcpy(&v, p->mbuf + slot * MSG, sizeof(v));
	return ntohl(v);
}

static void on_recv(struct peer *p, const struct ibv_wc *wc)
{
	int slot = (int)(wc->wr_id & 0xffff);
	uint32_t magic = p->o.writer ? MAGIC_ACK : MAGIC_REQ;
	/* -S: the writer's last iteration, marked so (writer_step) */
	bool last =
		!p->o.writer && p->o.stop && msg_magic(p, slot) == MAGIC_END;

	p->rq_out--;
	if (p->done >= p->o.iters) {
		p->extra++;
		return;
	}
	if (!genuine(p, wc, slot, last ? MAGIC_END : magic, p->done)) {
		p->forged++;
		printf("forged: receive %d is not iteration %d's message "
		       "and data (byte_len %u)\n",
		       slot, p->done, wc->byte_len);
		return;
	}
	if (last)
		p->o.iters = p->done + 1;
	if (!p->o.writer && post_msg(p, MAGIC_ACK, p->done))
		p->err = true;
	if (++p->done == 1)
		puts("running: the first iteration is verified");
	if (!p->err && post_recv(p, slot))
		p->err = true;
}

static void on_wc(struct peer *p, const struct ibv_wc *wc)
{
	uint64_t kind = wc->wr_id & ~((1ull << 40) - 1);

	if (wc->status != IBV_WC_SUCCESS) {
		if (kind == K_RECV)
			p->rq_out--;
		else
			p->sq_out--;
		if (!p->err)
			p->first_err = wc->status;
		p->err = true;
		if (wc->status == IBV_WC_WR_FLUSH_ERR)
			p->flushed++;
		else
			p->errors++;
		return;
	}
	if (kind == K_RECV)
		on_recv(p, wc);
	else
		p->sq_out--;
}

static void drain_events(struct peer *p)
{
	struct ibv_async_event ev;
	struct pollfd pf = { .fd = p->ctx->async_fd, .events = POLLIN };

	while (poll(&pf, 1, 0) == 1) {
		if (ibv_get_async_event(p->ctx, &ev))
			return;
		printf("event %s\n", ibv_event_type_str(ev.event_type));
		if (ev.event_type == IBV_EVENT_QP_FATAL ||
		    ev.event_type == IBV_EVENT_QP_ACCESS_ERR ||
		    ev.event_type == IBV_EVENT_QP_REQ_ERR)
			p->fatal_event = true;
		ibv_ack_async_event(&ev);
	}
}

/* The writer's next step, when the last iteration is complete */
static void writer_step(struct peer *p, int *posted)
{
	uint32_t magic = MAGIC_REQ;

	if (p->err || *posted > p->done || p->sq_out || *posted >= p->o.iters)
		return;
	if (p->o.stop && access(p->o.stop, F_OK) == 0) {
		magic = MAGIC_END;
		p->o.iters = *posted + 1;
	}
	if (post_write(p, *posted) || post_msg(p, magic, *posted))
		p->err = true;
	(*posted)++;
}

static bool finished(const struct peer *p)
{
	if (p->forged || p->extra)
		return true; /* the verdict is in */
	if (p->err)
		return !p->sq_out && !p->rq_out && p->fatal_event;
	return p->done >= p->o.iters && !p->sq_out;
}

/* -K: the QP's receive SA's key generation, printed as it changes */
static void show_key_gen(struct peer *p)
{
	struct tcpdv_qp_security sec;

	if (!p->o.show_key_gen || tcpdv_query_qp_security(p->qp, &sec) ||
	    (long)sec.key_gen == p->key_gen)
		return;
	p->key_gen = sec.key_gen;
	printf("key_gen %u\n", sec.key_gen);
}

static void run(struct peer *p)
{
	struct pollfd pf = { .fd = p->ctx->async_fd, .events = POLLIN };
	struct ibv_wc wc[8];
	int posted = 0, n, i;

	while (!finished(p) && !past_deadline(p)) {
		if (p->o.writer)
			writer_step(p, &posted);
		n = ibv_poll_cq(p->cq, 8, wc);
		for (i = 0; i < n; i++)
			on_wc(p, &wc[i]);
		drain_events(p);
		show_key_gen(p);
		if (n == 0)
			(void)poll(&pf, 1, 1);
	}
}

static bool canaries_intact(const struct peer *p)
{
	size_t tlen = 2 * CANARY + p->o.size, i;

	for (i = 0; i < tlen; i++) {
		bool canary = i < CANARY || i >= CANARY + p->o.size;

		if ((canary || p->o.writer) && p->tbuf[i] != CANARY_B) {
			printf("canary BROKEN at offset %zu\n", i);
			return false;
		}
	}
	return true;
}

/* What the provider says of the connection's security (tcpdv) */
static void report_security(struct peer *p)
{
	struct tcpdv_qp_security sec;

	if (tcpdv_query_qp_security(p->qp, &sec)) {
		printf("security unknown: %s\n", strerror(errno));
		return;
	}
	printf("psp_mode %u established %s\nrejected %llu\n", sec.mode,
	       sec.flags & TCPDV_QP_SEC_ESTABLISHED ? "yes" : "no",
	       (unsigned long long)sec.rejected);
}

static int report(struct peer *p)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr ia;
	bool intact = canaries_intact(p), err_state = false;

	if (!ibv_query_qp(p->qp, &a, IBV_QP_STATE, &ia))
		err_state = a.qp_state == IBV_QPS_ERR;
	report_security(p);
	printf("iterations %d/%d\nforged %d\nextra_recv %d\n", p->done,
	       p->o.iters, p->forged, p->extra);
	printf("canary %s\n", intact ? "intact" : "BROKEN");
	printf("first_error %s\nerrors %d\nflushed %d\n",
	       p->err ? ibv_wc_status_str(p->first_err) : "-", p->errors,
	       p->flushed);
	printf("unfinished %d\nqp_state %s\n", p->sq_out + p->rq_out,
	       err_state ? "ERR" : "not ERR");
	if (p->forged || p->extra || !intact) {
		puts("result: forged");
		return 2;
	}
	if (!p->err && p->done >= p->o.iters) {
		puts("result: clean");
		return 0;
	}
	if (p->err && !p->sq_out && !p->rq_out && p->fatal_event && err_state) {
		puts("result: failed");
		return 1;
	}
	if (!p->err && !err_state) {
		puts("result: waiting");
		return 3;
	}
	puts("result: hang");
	return 5;
}

int main(int argc, char **argv)
{
	struct peer p = { .key_gen = -1 };
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse(argc, argv, &p.o)) {
		fprintf(stderr, "usage: psp_peer -d DEV -o MYFILE -i PEERFILE "
				"[-w] [-g IP] [-s SIZE] [-n N] [-t SECS] "
				"[-G DIR] [-R MS] [-W GATE -F FPR] [-S FILE] "
				"[-K]\n");
		return 4;
	}
	p.deadline = now_ms() + (uint64_t)p.o.secs * 1000;
	signal(SIGUSR1, on_usr1);
	if (setup(&p) || await_config(&p) || publish(&p)) {
		puts("result: setup failed");
		return 4;
	}
	for (i = 0; i < RQ; i++)
		if (post_recv(&p, i))
			return 4;
	if (await_peer(&p)) {
		printf("no peer within the deadline\n");
		puts("result: setup failed");
		return 4;
	}
	if (connect_qp(&p)) {
		puts("result: setup failed");
		return 4;
	}
	run(&p);
	drain_events(&p);
	return report(&p);
}
