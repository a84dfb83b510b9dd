// SPDX-License-Identifier: MIT
/*
 * Unit tests of groups (psp.h): small frames of one transmit batch under
 * one tag, in auth mode. Two QPs back to back over socketpairs
 * (transport_pair.h), the SAs given by hand.
 *
 * - layout: four small WRs posted together leave as one group (its
 *   header, the four frames with the sseq they have inside it, one tag
 *   that opens with the receive SA) and land as four frames would; a
 *   lone small frame keeps the plain layout; encrypt mode never groups.
 * - tampering: a bit flipped in the group's header, in a frame's header
 *   inside it, in a payload, in the tag; the tag dropped (a frame behind
 *   it); the group replayed; and, sealed with the right key, a group
 *   whose frames overrun it, whose length cuts its last frame, that holds
 *   one frame, or a REKEY. Each time the receiver places nothing of the
 *   group (its canary stays whole, even where the group's first frames
 *   would have gone), completes no receive but flushed, counts the group
 *   and goes to error with IBV_EVENT_QP_FATAL.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "transport_pair.h"

#include "check.h"

#define NWR    4
#define WIRE   8192
#define CANARY 4096
/* the group's frames: their opcodes, lengths, where they go in b->mem */
/* (one SEND: a receive posted tells the requester of one credit) */
static const enum ibv_wr_opcode op[NWR] = { IBV_WR_RDMA_WRITE,
					    IBV_WR_SEND_WITH_IMM,
					    IBV_WR_RDMA_WRITE,
					    IBV_WR_RDMA_WRITE };
static const uint32_t len[NWR] = { 200, 64, 300, 10 };
static const uint32_t roff[NWR] = { 0, 3000, 512, 3100 };
#define GLEN (NWR * RTCP_HDR_LEN + 200 + 64 + 300 + 10)

static void fill(uint8_t *m, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		m[i] = (uint8_t)(i * 31 + seed);
}

/* A's four WRs in one ibv_post_send: one batch. B has its receive. */
static void post_four(struct tpair *p)
{
	struct tnode *a = &p->a, *b = &p->b;
	struct ibv_sge sge[NWR];
	struct ibv_send_wr wr[NWR], *bad;
	int i;

	CHECK(!tnode_recv(b, 50, b->mem + 3000, 64));
	CHECK(tpair_pump(p));
	memset(wr, 0, sizeof(wr));
	for (i = 0; i < NWR; i++) {
		sge[i].addr = (uintptr_t)a->mem + 1024 * i;
		sge[i].length = len[i];
		sge[i].lkey = a->mr->lkey;
		fill(a->mem + 1024 * i, len[i], 7 * i + 1);
		wr[i].wr_id = i + 1;
		wr[i].sg_list = &sge[i];
		wr[i].num_sge = 1;
		wr[i].opcode = op[i];
		wr[i].send_flags = IBV_SEND_SIGNALED;
		wr[i].imm_data = htobe32(77);
		wr[i].wr.rdma.rkey = b->mr->rkey;
		wr[i].wr.rdma.remote_addr = (uintptr_t)b->mem + roff[i];
		wr[i].next = i + 1 < NWR ? &wr[i + 1] : NULL;
	}
	CHECK(!tcp_post_send(&a->qp->vqp.qp, wr, &bad));
}

/* B took all four as if they had come alone. */
static void expect_placed(struct tpair *p)
{
	struct tnode *a = &p->a, *b = &p->b;
	struct ibv_wc wc[NWR + 1];
	int i;

	CHECK(tpair_pump(p));
	for (i = 0; i < NWR; i++)
		CHECKF(!memcmp(b->mem + roff[i], a->mem + 1024 * i, len[i]),
		       "frame %d placed", i);
	CHECK(tnode_poll(b, wc, NWR) == 1 && wc[0].wr_id == 50 &&
	      wc[0].status == IBV_WC_SUCCESS && wc[0].byte_len == 64 &&
	      (wc[0].wc_flags & IBV_WC_WITH_IMM) &&
	      wc[0].imm_data == htobe32(77));
	CHECK(tnode_poll(a, wc, NWR + 1) == NWR);
	for (i = 0; i < NWR; i++)
		CHECKF(wc[i].wr_id == (uint64_t)i + 1 &&
			       wc[i].status == IBV_WC_SUCCESS,
		       "A's WR %d", i + 1);
}

static void test_layout(void)
{
	static uint8_t wire[WIRE];
	struct tpair p;
	struct tcp_psp_sa sa = { 0 };
	struct rtcp_hdr g, h;
	uint64_t pos;
	size_t n, off;
	unsigned int nf;
	int i;

	tpair_mode = TCP_PSP_AUTH;
	CHECK(!tpair_open(&p, NULL, NULL));
	post_four(&p);
	pos = p.ab.pos;
	nf = p.ab.n;
	n = tpair_take_all(&p, &p.a, wire, sizeof(wire));
	CHECKF(n == RTCP_HDR_LEN + GLEN + TCP_PSP_TAG_LEN, "%zu bytes", n);
	rtcp_hdr_decode(wire, &g);
	CHECK(g.opcode == RTCP_OP_GROUP && g.len == GLEN &&
	      g.sseq == pos + RTCP_HDR_LEN && g.spi == TPAIR_SPI_AB);
	CHECK(p.ab.groups == 1 && p.ab.bad == 0 && p.ab.n == nf + NWR);
	for (i = 0, off = RTCP_HDR_LEN; i < NWR; i++) {
		rtcp_hdr_decode(wire + off, &h);
		CHECKF(h.len == len[i] && h.sseq == pos + off + RTCP_HDR_LEN &&
			       !memcmp(wire + off + RTCP_HDR_LEN,
				       p.a.mem + 1024 * i, len[i]),
		       "frame %d in the group", i);
		off += RTCP_HDR_LEN + len[i];
	}
	CHECK(!tcp_psp_sa_init(&sa, TCP_PSP_AUTH, TCP_PSP_AES128, TPAIR_SPI_AB,
			       tpair_key_ab));
	CHECK(!tcp_psp_open(&sa, TCP_PSP_AUTH, pos, wire, RTCP_HDR_LEN,
			    wire + RTCP_HDR_LEN, GLEN,
			    wire + RTCP_HDR_LEN + GLEN));
	tcp_psp_sa_clear(&sa);
	tnode_feed(&p.b, wire, n);
	expect_placed(&p);
	/* one small WR alone: the plain layout */
	CHECK(!tnode_post(&p.a, IBV_WR_RDMA_WRITE, 9, p.a.mem, 100, p.b.mr,
			  (uintptr_t)p.b.mem, IBV_SEND_SIGNALED));
	n = tpair_take_all(&p, &p.a, wire, sizeof(wire));
	CHECKF(n == tcp_psp_frame_bytes(100) && wire[0] == RTCP_OP_WRITE,
	       "lone frame: %zu bytes, opcode %u", n, wire[0]);
	tpair_close(&p);
}

/* Encrypt mode seals each frame alone. */
static void test_encrypt_alone(void)
{
	static uint8_t wire[WIRE];
	struct tpair p;
	size_t n, want = 0;
	unsigned int nf;
	int i;

	tpair_mode = TCP_PSP_ENCRYPT;
	CHECK(!tpair_open(&p, NULL, NULL));
	post_four(&p);
	nf = p.ab.n;
	n = tpair_take_all(&p, &p.a, wire, sizeof(wire));
	for (i = 0; i < NWR; i++)
		want += tcp_psp_frame_bytes(len[i]);
	CHECKF(n == want && p.ab.groups == 0 && p.ab.n == nf + NWR,
	       "encrypt: %zu bytes, %u groups", n, p.ab.groups);
	tnode_feed(&p.b, wire, n);
	expect_placed(&p);
	tpair_close(&p);
}

enum gtamper {
	G_GHDR,
	G_HDR,
	G_PAYLOAD,
	G_TAG,
	G_TRUNCATE,
	G_REPLAY,
	G_OVERRUN,
	G_SHORT,
	G_ONE,
	G_REKEY,
	G_MAX
};

static const char *const gname[G_MAX] = {
	"group header bit", "frame header bit",	 "payload bit",
	"tag bit",	    "tag dropped",	 "group replayed",
	"frame overruns",   "length cuts frame", "one frame",
	"REKEY inside",
};

/* Seals @w's group again with A's key: its tag after @glen bytes. */
static void reseal(uint8_t *w, uint32_t glen, uint64_t pos)
{
	struct tcp_psp_sa sa = { 0 };
	uint32_t be = htobe32(glen);
	struct iovec in = { .iov_base = w + RTCP_HDR_LEN, .iov_len = glen };

	memcpy(w + RTCP_OFF_LEN, &be, 4);
	CHECK(!tcp_psp_sa_init(&sa, TCP_PSP_AUTH, TCP_PSP_AES128, TPAIR_SPI_AB,
			       tpair_key_ab));
	CHECK(!tcp_psp_seal(&sa, TCP_PSP_AUTH, pos, w, RTCP_HDR_LEN, &in, 1,
			    glen, NULL, w + RTCP_HDR_LEN + glen));
	tcp_psp_sa_clear(&sa);
}

/* Moves the header at @h's sseq by @d bytes. */
static void move_sseq(uint8_t *h, int64_t d)
{
	uint64_t v;

	memcpy(&v, h + RTCP_OFF_SSEQ, 8);
	v = htobe64(be64toh(v) + d);
	memcpy(h + RTCP_OFF_SSEQ, &v, 8);
}

/*
 * The group's second frame (at @f2) made a REKEY of its length (40
 * bytes, 24 fewer), the frames after it moved up; returns the bytes.
 */
static size_t rekey_inside(uint8_t *w, size_t f2, uint64_t pos)
{
	const uint32_t cut = len[1] - RTCP_REKEY_LEN;
	size_t f3 = f2 + RTCP_HDR_LEN + len[1];
	uint32_t be = htobe32(RTCP_REKEY_LEN);

	w[f2 + RTCP_OFF_OPCODE] = RTCP_OP_REKEY;
	w[f2 + RTCP_OFF_FLAGS] = 0;
	memcpy(w + f2 + RTCP_OFF_LEN, &be, 4);
	memmove(w + f3 - cut, w + f3, RTCP_HDR_LEN + GLEN - f3);
	move_sseq(w + f3 - cut, -(int64_t)cut);
	move_sseq(w + f3 - cut + RTCP_HDR_LEN + len[2], -(int64_t)cut);
	reseal(w, GLEN - cut, pos);
	return RTCP_HDR_LEN + GLEN - cut + TCP_PSP_TAG_LEN;
}

/*
 * The group @w (@n bytes, at stream offset @pos, a lone frame of @f2
 * bytes behind it) altered; returns the bytes to hand to B.
 */
static size_t alter(enum gtamper t, uint8_t *w, size_t n, uint64_t pos)
{
	/* the offset of frame @i's header */
	size_t f1 = RTCP_HDR_LEN, f2 = f1 + RTCP_HDR_LEN + len[0];
	size_t f4 = RTCP_HDR_LEN + GLEN - RTCP_HDR_LEN - len[3];
	size_t g = RTCP_HDR_LEN + GLEN + TCP_PSP_TAG_LEN;

	switch (t) {
	case G_GHDR:
		w[RTCP_OFF_RADDR + 7] ^= 0x01;
		return n;
	case G_HDR:
		w[f2 + RTCP_OFF_RADDR + 6] ^= 0x01;
		return n;
	case G_PAYLOAD:
		w[f1 + RTCP_HDR_LEN + 3] ^= 0x20;
		return n;
	case G_TAG:
		w[g - 3] ^= 0x80;
		return n;
	case G_TRUNCATE:
		memmove(w + g - TCP_PSP_TAG_LEN, w + g, n - g);
		return n - TCP_PSP_TAG_LEN;
	case G_REPLAY:
		return g;
	case G_OVERRUN: /* the last frame claims 16 more bytes */
		w[f4 + RTCP_OFF_LEN + 3] += 16;
		reseal(w, GLEN, pos);
		return g;
	case G_SHORT: /* the group ends 5 bytes into the last payload */
		reseal(w, GLEN - len[3] + 5, pos);
		return g - len[3] + 5;
	case G_ONE: /* a group of the first frame alone */
		reseal(w, RTCP_HDR_LEN + len[0], pos);
		return RTCP_HDR_LEN + RTCP_HDR_LEN + len[0] + TCP_PSP_TAG_LEN;
	default: /* G_REKEY: the second frame a well-formed REKEY */
		return rekey_inside(w, f2, pos);
	}
}

/* B refused: counted, QP_FATAL, its receives flushed, nothing placed. */
static void expect_refused(struct tpair *p, enum gtamper t,
			   const uint8_t *before)
{
	struct tnode *b = &p->b;
	struct ibv_wc wc[3];
	uint64_t el;
	uint32_t ev;

	CHECKF(b->qp->state == IBV_QPS_ERR, "%s: B in state %d", gname[t],
	       b->qp->state);
	CHECKF(b->qp->sec.rejected == 1, "%s: %llu rejected", gname[t],
	       (unsigned long long)b->qp->sec.rejected);
	CHECKF(tnode_async(b, &ev, &el) && ev == IBV_EVENT_QP_FATAL,
	       "%s: B's async event", gname[t]);
	CHECKF(tnode_poll(b, wc, 3) == 1 && wc[0].status == IBV_WC_WR_FLUSH_ERR,
	       "%s: B's receive", gname[t]);
	CHECKF(!memcmp(b->mem, before, CANARY), "%s: the canary", gname[t]);
}

static void tampered(enum gtamper t)
{
	static uint8_t wire[2 * WIRE], before[CANARY];
	struct tpair p;
	uint64_t pos;
	size_t n;

	tpair_mode = TCP_PSP_AUTH;
	CHECK(!tpair_open(&p, NULL, NULL));
	post_four(&p);
	pos = p.ab.pos;
	n = tpair_take_all(&p, &p.a, wire, WIRE);
	CHECK(n == RTCP_HDR_LEN + GLEN + TCP_PSP_TAG_LEN);
	if (t == G_TRUNCATE) {
		/* a lone frame behind the group */
		CHECK(!tnode_post(&p.a, IBV_WR_RDMA_WRITE, 9, p.a.mem, 100,
				  p.b.mr, (uintptr_t)p.b.mem + 2048,
				  IBV_SEND_SIGNALED));
		n += tpair_take_all(&p, &p.a, wire + n, WIRE - n);
	}
	if (t == G_REPLAY) {
		/* the group is taken, then comes again */
		tnode_feed(&p.b, wire, n);
		expect_placed(&p);
		CHECK(!tnode_recv(&p.b, 50, p.b.mem + 3000, 64));
	}
	fill(p.b.mem, CANARY, 99);
	n = alter(t, wire, n, pos);
	memcpy(before, p.b.mem, CANARY);
	tnode_feed(&p.b, wire, n);
	expect_refused(&p, t, before);
	tpair_close(&p);
}

int main(void)
{
	int t;

	test_layout();
	test_encrypt_alone();
	for (t = 0; t < G_MAX; t++)
		tampered((enum gtamper)t);
	return check_report();
}
