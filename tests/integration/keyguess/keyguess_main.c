// SPDX-License-Identifier: MIT
/*
 * keyguess: how fast an insider can guess a memory key, and that no guess
 * lands (issue 15 item 5; docs/design.md, "Memory keys and placement").
 *
 * The victim registers NREG writable regions, all over one canary-filled
 * buffer, so that any of their keys at the buffer's address lands: the
 * attacker is granted the addresses, only the keys are secret. It also
 * hands the attacker the key of one region of its own (so the attacker
 * knows a real key). The attacker holds connected QPs, as anyone who may
 * use the device can (every user on an unauthenticated device):
 *  - RC: a wrong key fails the QP (TERMINATE), so every guess needs a new
 *    connection; the victim accepts as fast as it can make QPs, and must
 *    be told each time (IBV_EVENT_QP_ACCESS_ERR);
 *  - UC: a wrong key is dropped and the QP carries on, as a NIC's UC
 *    responder does: guesses stream on one connection at the frame rate
 *    (a SEND behind each batch proves they were all taken and dropped);
 *  - the known key's neighbours (tags next to it, every key byte): what a
 *    dense slot index under an 8-bit generation made certain.
 * Prints each rate and the expected time to hit one of NREG keys,
 * 2^32 / NREG / rate. Asserts that the guessing path would show a hit (a
 * real key lands), that every guess was refused and every canary byte is
 * intact -- never a time.
 *
 *   keyguess DEVICE
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keyguess.h"
#include "tdev.h"

#define NREG	   8
#define VLEN	   4096
#define RC_GUESSES 2000
#define UC_ROUNDS  8   /* UC connections, each a stream of guesses */
#define UC_BATCH   256 /* guesses between two SENDs (the SQ holds 512) */
#define NEAR_TAGS  32  /* tags on each side of the known one */
#define CANARY	   0xc5

struct side vic, att;
char *vbuf, *abuf;
struct ibv_mr *amr;
static char *kbuf, *rbuf;
static struct ibv_mr *vmr[NREG], *known, *rmr;

static bool canaries_intact(void)
{
	int i;

	for (i = 0; i < VLEN; i++)
		if ((unsigned char)vbuf[i] != CANARY)
			return false;
	return true;
}

static int setup(const char *dev)
{
	int rw = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, i;

	if (side_open(&vic, dev) || side_open(&att, dev))
		return -1;
	vbuf = aligned_alloc(4096, VLEN);
	kbuf = aligned_alloc(4096, VLEN);
	rbuf = malloc(64);
	abuf = malloc(64);
	if (!vbuf || !kbuf || !rbuf || !abuf)
		return -1;
	memset(vbuf, CANARY, VLEN);
	memset(abuf, 0x3c, 64);
	amr = ibv_reg_mr(att.pd, abuf, 64, IBV_ACCESS_LOCAL_WRITE);
	known = ibv_reg_mr(vic.pd, kbuf, VLEN, rw);
	rmr = ibv_reg_mr(vic.pd, rbuf, 64, IBV_ACCESS_LOCAL_WRITE);
	for (i = 0; i < NREG; i++)
		if (!(vmr[i] = ibv_reg_mr(vic.pd, vbuf, VLEN, rw)))
			return -1;
	return amr && known && rmr ? 0 : -1;
}

/* The victim's next async event within the deadline, acked; -1: none */
static int victim_event(void)
{
	struct pollfd p = { .fd = vic.ctx->async_fd, .events = POLLIN };
	struct ibv_async_event ev;
	int type;

	if (poll(&p, 1, DEADLINE_MS) != 1 || ibv_get_async_event(vic.ctx, &ev))
		return -1;
	type = ev.event_type;
	ibv_ack_async_event(&ev);
	return type;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void report_rate(const char *what, int n, uint64_t us)
{
	double rate = n * 1e6 / (us ? us : 1);
	double secs = 4294967296.0 / NREG / rate;

	note("%s: %d guesses in %.4f s = %.0f guesses/s; a hit among %d live "
	     "keys takes 2^32 / %d / rate = %.3g s (%.3g days) on average",
	     what, n, us / 1e6, rate, NREG, NREG, secs, secs / 86400);
}

/* One WRITE on a fresh RC pair: the attacker's status, -1 on no answer */
static int rc_write(uint32_t rkey, int *event)
{
	struct pair p = { 0 };
	struct ibv_wc wc;
	int st = -1;

	*event = -1;
	if (!pair_up(&p, IBV_QPT_RC) && !post_write(p.a, rkey, true) &&
	    !poll_one(att.cq, &wc)) {
		st = wc.status;
		if (st != IBV_WC_SUCCESS)
			*event = victim_event(); /* before its QP goes */
	}
	pair_down(&p);
	return st;
}

/* The test can see a hit: a real key lands through the same path. */
static void control(void)
{
	int ev, st = rc_write(vmr[NREG - 1]->rkey, &ev);

	CHECK(st == IBV_WC_SUCCESS && vbuf[0] == 0x3c && vbuf[7] == 0x3c,
	      "control: a WRITE with a live key lands (status %d)", st);
	memset(vbuf, CANARY, VLEN);
}

static void rc_guesses(void)
{
	int i, st, ev, refused = 0, told = 0;
	uint64_t t0 = now_us(), us;

	for (i = 0; i < RC_GUESSES; i++) {
		st = rc_write(rand_key(), &ev);
		refused += st == IBV_WC_REM_ACCESS_ERR;
		told += ev == IBV_EVENT_QP_ACCESS_ERR;
		if (st != IBV_WC_REM_ACCESS_ERR) {
			note("guess %d: status %d", i, st);
			break;
		}
	}
	us = now_us() - t0;
	CHECK(refused == RC_GUESSES,
	      "RC: %d random keys, a fresh connection each: %d refused with "
	      "REM_ACCESS_ERR",
	      RC_GUESSES, refused);
	CHECK(told == refused,
	      "RC: the victim got QP_ACCESS_ERR each time (%d)", told);
	CHECK(canaries_intact(), "RC: every canary byte intact");
	report_rate("RC", i, us);
}

static uint32_t random_key(int i)
{
	(void)i;
	return rand_key();
}

/* Tags next to the known key's, with every key byte (tag 0 skipped) */
static uint32_t near_key(int i)
{
	int d = i / 256 % NEAR_TAGS + 1;
	uint32_t tag = known->rkey >> 8;

	tag = (i / 256 / NEAR_TAGS ? tag - d : tag + d) & 0xffffff;
	return tag ? tag << 8 | (uint8_t)i : (uint8_t)i;
}

/* A SEND from the attacker that the victim receives; 0 if it does */
static int uc_send(struct pair *p)
{
	struct ibv_sge rs = { (uintptr_t)rbuf, 8, rmr->lkey };
	struct ibv_recv_wr rwr = { .sg_list = &rs, .num_sge = 1 }, *rbad;
	struct ibv_sge ss = { (uintptr_t)abuf, 8, amr->lkey };
	struct ibv_send_wr swr = { .sg_list = &ss, .num_sge = 1 }, *sbad;
	struct ibv_wc wc;

	swr.opcode = IBV_WR_SEND;
	swr.send_flags = IBV_SEND_SIGNALED;
	if (ibv_post_recv(p->v, &rwr, &rbad) ||
	    ibv_post_send(p->a, &swr, &sbad) || poll_one(att.cq, &wc) ||
	    wc.status)
		return -1;
	if (poll_one(vic.cq, &wc) || wc.status || wc.opcode != IBV_WC_RECV)
		return -1;
	return 0;
}

/*
 * One UC connection's worth of guesses: batches of UC_BATCH dropped WRITEs,
 * each followed by a SEND the victim receives (UC is in order: every guess
 * before it was taken and dropped, the QP carries on). 0 if all of that
 * held; *i counts the guesses.
 */
static int uc_round(uint32_t (*key)(int), int *i, int n)
{
	struct pair p = { 0 };
	int k, r = -1;

	if (pair_up(&p, IBV_QPT_UC))
		goto out;
	for (k = 0; k < n; k++) {
		if (post_write(p.a, key((*i)++), false))
			goto out;
		if ((k + 1) % UC_BATCH == 0 && uc_send(&p))
			goto out;
	}
	r = uc_send(&p);
out:
	pair_down(&p);
	return r;
}

static void uc_guesses(const char *what, uint32_t (*key)(int), int total)
{
	uint64_t t0 = now_us(), us;
	int c, i = 0, good = 0;

	for (c = 0; c < UC_ROUNDS; c++)
		if (!uc_round(key, &i, total / UC_ROUNDS))
			good++;
		else if (good == c)
			note("%s: round %d failed", what, c);
	us = now_us() - t0;
	CHECK(good == UC_ROUNDS,
	      "%s: %d connections, %d guesses each, all dropped, the QP "
	      "carrying on (%d did)",
	      what, UC_ROUNDS, total / UC_ROUNDS, good);
	CHECK(canaries_intact(), "%s: every canary byte intact", what);
	report_rate(what, i, us);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DEVICE\n", argv[0]);
		return 2;
	}
	tc_watchdog(280);
	if (setup(argv[1])) {
		fail("set up the victim and the attacker on %s", argv[1]);
		return tc_report();
	}
	control();
	rc_guesses();
	uc_guesses("UC, random keys", random_key, 64 * UC_BATCH);
	uc_guesses("UC, the known key's neighbours", near_key,
		   2 * NEAR_TAGS * 256);
	return tc_report();
}
