// SPDX-License-Identifier: MIT
/*
 * Unit tests of secured connections' data path (qp_seal.c, qp_open.c):
 * two QPs back to back over socketpairs (transport_pair.h), with the SAs
 * a handshake would set up given by hand. test_transport.c runs the
 * plain transport's checks in every mode; this file covers what only
 * secured connections do.
 *
 * - large frames: a WRITE and a READ of 4 MiB from two pieces each (cut
 *   where no chunk boundary is) span many batches and land whole, in
 *   auth and encrypt; the tags on the wire are where psp.h puts them.
 * - tampering: a bit flipped in a header, in chunk 0's and chunk 3's
 *   payload, in a tag; a truncated frame (its last tag dropped); a frame
 *   replayed; two frames reordered; a wrong SPI; a wrong key. Each time
 *   nothing of the failed chunk or after it is placed (the canary bytes
 *   of the target stay; chunks before it, already verified, hold the
 *   sender's bytes), no receive completes but flushed, the frame is
 *   counted, and the QP goes to error with IBV_EVENT_QP_FATAL.
 * - a QP connected to itself (one SA both ways) and a REKEY frame, whose
 *   payload never crosses the wire in the clear.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "transport_pair.h"

#include "check.h"

#define BIG	 (4u << 20)
#define MID	 (64u * 1024)
#define STEP	 (TCP_PSP_CHUNK + TCP_PSP_TAG_LEN) /* a chunk and its tag */
#define WIRE_MAX (MID + 4096)

static const char *mode_name(void)
{
	return tpair_mode == TCP_PSP_AUTH ? "auth" : "encrypt";
}

/* Posts a WR of two pieces: [l, l + cut) and [l + cut, l + len). */
static int post2(struct tnode *n, struct ibv_mr *lmr, enum ibv_wr_opcode op,
		 uint64_t wr_id, uint8_t *l, uint32_t len, uint32_t cut,
		 struct ibv_mr *rmr, uint64_t raddr)
{
	struct ibv_sge sge[2] = {
		{ .addr = (uintptr_t)l, .length = cut, .lkey = lmr->lkey },
		{ .addr = (uintptr_t)l + cut,
		  .length = len - cut,
		  .lkey = lmr->lkey },
	};
	struct ibv_send_wr wr = { .wr_id = wr_id,
				  .sg_list = sge,
				  .num_sge = 2,
				  .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED },
			   *bad;

	wr.wr.rdma.rkey = rmr->rkey;
	wr.wr.rdma.remote_addr = raddr;
	if (op == IBV_WR_RDMA_WRITE_WITH_IMM)
		wr.imm_data = htobe32(0x5ec);
	return tcp_post_send(&n->qp->vqp.qp, &wr, &bad);
}

static void expect_wc(struct tnode *n, uint64_t wr_id, enum ibv_wc_status st,
		      const char *what)
{
	struct ibv_wc wc;
	int got = tnode_poll(n, &wc, 1);

	CHECKF(got == 1 && wc.wr_id == wr_id && wc.status == st,
	       "%s (%s): %d completions, wr_id %llu status %s", what,
	       mode_name(), got, got ? (unsigned long long)wc.wr_id : 0ull,
	       got ? ibv_wc_status_str(wc.status) : "-");
}

static void fill(uint8_t *m, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		m[i] = (uint8_t)(i * 131 + (i >> 13) * 7 + seed);
}

/* A receive into n's 1 MiB region. */
static int recv_big(struct tnode *n, uint64_t wr_id, uint32_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)n->mem + TNODE_BIG,
			       .length = len,
			       .lkey = n->big->lkey };
	struct ibv_recv_wr wr = { .wr_id = wr_id,
				  .sg_list = &sge,
				  .num_sge = 1 },
			   *bad;

	return tcp_post_recv(&n->qp->vqp.qp, &wr, &bad);
}

/* ------------------------------------------------------- large frames */

/*
 * A 4 MiB WRITE (two pieces, cut off a chunk boundary) and a 4 MiB READ
 * back into a second buffer: each frame spans many batches (more chunks
 * than a batch has tags, more bytes than its cipher buffer), the READ
 * response's chunks from the responder's snapshot or ciphertext.
 */
static void test_big(void)
{
	struct tpair p;
	struct tnode *a = &p.a, *b = &p.b;
	uint8_t *asrc = malloc(BIG), *aback = malloc(BIG), *bdst = malloc(BIG);
	struct ibv_mr *msrc, *mback, *mdst;

	CHECK(asrc && aback && bdst);
	if (!asrc || !aback || !bdst)
		goto out;
	CHECK(!tpair_open(&p, NULL, NULL));
	fill(asrc, BIG, 1);
	fill(bdst, BIG, 2);
	memset(aback, 0xee, BIG);
	msrc = tnode_reg(a, asrc, BIG);
	mback = tnode_reg(a, aback, BIG);
	mdst = tnode_reg(b, bdst, BIG);
	CHECK(msrc && mback && mdst);
	CHECK(tpair_pump(&p));
	CHECK(!post2(a, msrc, IBV_WR_RDMA_WRITE, 1, asrc, BIG, 12345, mdst,
		     (uintptr_t)bdst));
	CHECK(tpair_pump(&p));
	expect_wc(a, 1, IBV_WC_SUCCESS, "4 MiB WRITE");
	/* buffers as needed: auth sends requests in place; a frame of
	 * several chunks grows the receiver's staging buffer */
	CHECK(!a->qp->sec.tx_cipher == (tpair_mode == TCP_PSP_AUTH));
	CHECK(b->qp->sec.rx_cap > TCP_RXBUF && !a->qp->sec.rx_cap);
	CHECKF(!memcmp(asrc, bdst, BIG), "4 MiB WRITE (%s): data", mode_name());
	CHECK(!post2(a, mback, IBV_WR_RDMA_READ, 2, aback, BIG,
		     BIG - 3 * TCP_PSP_CHUNK - 77, mdst, (uintptr_t)bdst));
	CHECK(tpair_pump(&p));
	expect_wc(a, 2, IBV_WC_SUCCESS, "4 MiB READ");
	CHECK(b->qp->sec.tx_cipher && a->qp->sec.rx_cap > TCP_RXBUF);
	CHECKF(!memcmp(asrc, aback, BIG), "4 MiB READ (%s): data", mode_name());
	/* the streams as both sides counted them: tags included */
	CHECK(b->qp->rx.seq == p.ab.pos && a->qp->rx.seq == p.ba.pos);
	CHECK(a->qp->tx.seq == p.ab.pos && b->qp->tx.seq == p.ba.pos);
	CHECK(p.ab.bad == 0 && p.ba.bad == 0);
	CHECK(a->qp->state == IBV_QPS_RTS && b->qp->state == IBV_QPS_RTS);
	CHECK(!a->qp->sec.rejected && !b->qp->sec.rejected);
	tnode_dereg(msrc);
	tnode_dereg(mback);
	tnode_dereg(mdst);
	tpair_close(&p);
out:
	free(asrc);
	free(aback);
	free(bdst);
}

/*
 * psp.h's layout, recomputed from the wire: a 3-chunk SEND's tags are
 * where they should be and check with the SA's key (tag_0 over the
 * header, each tag's IV its stream offset); in auth mode the payload is
 * there in the clear, in encrypt mode not.
 */
static void test_layout(void)
{
	static uint8_t wire[WIRE_MAX], copy[WIRE_MAX];
	const uint32_t len = 2 * TCP_PSP_CHUNK + 100;
	struct tpair p;
	struct tnode *a = &p.a, *b = &p.b;
	struct tcp_psp_sa sa = { 0 };
	uint8_t *src;
	uint64_t pos;
	size_t n;
	uint32_t k;

	CHECK(!tpair_open(&p, NULL, NULL));
	src = a->mem + TNODE_BIG;
	CHECK(!recv_big(b, 9, len));
	CHECK(tpair_pump(&p));
	pos = p.ab.pos;
	CHECK(!tnode_post(a, IBV_WR_SEND, 1, src, len, NULL, 0,
			  IBV_SEND_SIGNALED));
	n = tpair_take_all(&p, a, wire, sizeof(wire));
	CHECKF(n == tcp_psp_frame_bytes(len), "%zu bytes", n);
	memcpy(copy, wire, n);
	CHECK(!tcp_psp_sa_init(&sa, tpair_mode, TCP_PSP_AES128, TPAIR_SPI_AB,
			       tpair_key_ab));
	for (k = 0; k < 3; k++) {
		uint32_t c = k < 2 ? TCP_PSP_CHUNK : 100;
		uint8_t *chunk = copy + RTCP_HDR_LEN + (size_t)k * STEP;

		CHECK(!memcmp(chunk, src + (size_t)k * TCP_PSP_CHUNK, c) ==
		      (tpair_mode == TCP_PSP_AUTH));
		CHECKF(!tcp_psp_open(&sa, tpair_mode,
				     k ? pos + RTCP_HDR_LEN + k * STEP : pos,
				     k ? NULL : copy, k ? 0 : RTCP_HDR_LEN,
				     chunk, c, chunk + c),
		       "tag %u (%s)", k, mode_name());
		CHECK(!memcmp(chunk, src + (size_t)k * TCP_PSP_CHUNK, c));
	}
	tcp_psp_sa_clear(&sa);
	tnode_feed(b, wire, n);
	CHECK(tpair_pump(&p));
	expect_wc(b, 9, IBV_WC_SUCCESS, "3-chunk SEND received");
	CHECK(!memcmp(b->mem + TNODE_BIG, src, len));
	expect_wc(a, 1, IBV_WC_SUCCESS, "3-chunk SEND");
	tpair_close(&p);
}

/* ----------------------------------------------------------- tampering */

enum tamper {
	T_HEADER,
	T_CHUNK0,
	T_CHUNK3,
	T_TAG1,
	T_TRUNCATE,
	T_REPLAY,
	T_REORDER,
	T_SPI,
	T_KEY,
	T_MAX
};

static const char *const tamper_name[T_MAX] = {
	"header bit",	    "chunk 0 byte",	"chunk 3 byte",
	"tag_1 bit",	    "last tag dropped", "replayed frame",
	"reordered frames", "wrong SPI",	"wrong key",
};

/* Chunks of the 64 KiB WRITE_IMM B places before the one that fails. */
static uint32_t good_chunks(enum tamper t)
{
	switch (t) {
	case T_CHUNK3:
		return 3;
	case T_TAG1:
		return 1;
	case T_TRUNCATE:
		return MID / TCP_PSP_CHUNK - 1;
	default:
		return 0;
	}
}

/*
 * The wire A sent, altered: a 64 KiB WRITE_IMM (frame 1) and a 256-byte
 * WRITE (frame 2, to b->mem). Returns the bytes to hand to B.
 */
static size_t alter(enum tamper t, uint8_t *w, size_t n, size_t f1,
		    struct tpair *p)
{
	static uint8_t tmp[WIRE_MAX];
	size_t f2 = n - f1;

	switch (t) {
	case T_HEADER:
		w[RTCP_OFF_RADDR + 6] ^= 0x01; /* 256 bytes further */
		return n;
	case T_CHUNK0:
		w[RTCP_HDR_LEN + 100] ^= 0x10;
		return n;
	case T_CHUNK3:
		w[RTCP_HDR_LEN + 3 * STEP + 5] ^= 0x01;
		return n;
	case T_TAG1:
		w[RTCP_HDR_LEN + STEP + TCP_PSP_CHUNK + 7] ^= 0x80;
		return n;
	case T_TRUNCATE: /* frame 2 comes where frame 1's last tag was */
		memmove(w + f1 - TCP_PSP_TAG_LEN, w + f1, f2);
		return n - TCP_PSP_TAG_LEN;
	case T_REPLAY: /* frame 1 goes; frame 1 again where 2 should be */
		tnode_feed(&p->b, w, f1);
		/* ...B took it: the canary is written back over it */
		memcpy(w + f1, w, f1);
		return 2 * f1;
	case T_REORDER:
		memcpy(tmp, w + f1, f2);
		memmove(w + f2, w, f1);
		memcpy(w, tmp, f2);
		return n;
	case T_SPI:
		w[RTCP_OFF_SPI + 3] ^= 0x01;
		return n;
	default: /* T_KEY: B expects another key under the same SPI */
		tmp[0] = 0x42;
		memcpy(tmp + 1, tpair_key_ab + 1, 15);
		CHECK(!tcp_psp_sa_init(&p->b.qp->sec.rx[0], tpair_mode,
				       TCP_PSP_AES128, TPAIR_SPI_AB, tmp));
		return n;
	}
}

/* B refused: counted, QP_FATAL, its receive flushed, its stream closed. */
static void expect_refused(struct tpair *p, enum tamper t)
{
	struct tnode *b = &p->b;
	const char *what = tamper_name[t];
	struct ibv_wc wc[3];
	uint8_t buf[256];
	uint64_t el;
	uint32_t ev;

	CHECKF(b->qp->state == IBV_QPS_ERR, "%s (%s): B in state %d", what,
	       mode_name(), b->qp->state);
	CHECKF(b->qp->sec.rejected == 1, "%s (%s): %llu frames rejected", what,
	       mode_name(), (unsigned long long)b->qp->sec.rejected);
	CHECKF(tnode_async(b, &ev, &el) && ev == IBV_EVENT_QP_FATAL &&
		       el == (uintptr_t)&b->qp->vqp.qp,
	       "%s (%s): B's async event", what, mode_name());
	CHECK(!tnode_async(b, &ev, &el));
	/* both receives flushed, none completed */
	CHECKF(tnode_poll(b, wc, 3) == 2 &&
		       wc[0].status == IBV_WC_WR_FLUSH_ERR &&
		       wc[1].status == IBV_WC_WR_FLUSH_ERR,
	       "%s (%s): B's receives", what, mode_name());
	/* (the replay's first frame was acked before) */
	while (tpair_take(p, b, buf, sizeof(buf)))
		;
	CHECKF(b->eof, "%s (%s): B's stream still open", what, mode_name());
}

static void tampered(enum tamper t)
{
	static uint8_t wire[2 * WIRE_MAX], before[MID], small[256];
	struct tpair p;
	struct tnode *a = &p.a, *b = &p.b;
	uint8_t *src, *dst;
	size_t n, f1, placed = (size_t)good_chunks(t) * TCP_PSP_CHUNK;

	CHECK(!tpair_open(&p, NULL, NULL));
	src = a->mem + TNODE_BIG;
	dst = b->mem + TNODE_BIG;
	CHECK(!tnode_recv(b, 50, b->mem + 3000, 64));
	CHECK(!tnode_recv(b, 51, b->mem + 3100, 64));
	CHECK(tpair_pump(&p));
	memcpy(before, dst, MID);
	memcpy(small, b->mem, sizeof(small));
	CHECK(!tnode_post(a, IBV_WR_RDMA_WRITE_WITH_IMM, 1, src, MID, b->big,
			  (uintptr_t)dst, IBV_SEND_SIGNALED));
	CHECK(!tnode_post(a, IBV_WR_RDMA_WRITE, 2, a->mem, sizeof(small), b->mr,
			  (uintptr_t)b->mem, IBV_SEND_SIGNALED));
	n = tpair_take_all(&p, a, wire, WIRE_MAX);
	f1 = tcp_psp_frame_bytes(MID);
	CHECKF(n == f1 + tcp_psp_frame_bytes(sizeof(small)), "%zu bytes", n);
	n = alter(t, wire, n, f1, &p);
	if (t == T_REPLAY) {
		/* frame 1 was good: its receive completed; the canary back */
		CHECK(!memcmp(dst, src, MID));
		memcpy(dst, before, MID);
		expect_wc(b, 50, IBV_WC_SUCCESS, "frame before the replay");
		CHECK(!tnode_recv(b, 50, b->mem + 3000, 64));
		n -= f1;
		memmove(wire, wire + f1, n);
	}
	tnode_feed(b, wire, n);
	expect_refused(&p, t);
	CHECKF(!memcmp(dst, src, placed), "%s (%s): verified chunks",
	       tamper_name[t], mode_name());
	CHECKF(!memcmp(dst + placed, before + placed, MID - placed),
	       "%s (%s): the canary was overwritten", tamper_name[t],
	       mode_name());
	CHECKF(!memcmp(b->mem, small, sizeof(small)),
	       "%s (%s): the second WRITE landed", tamper_name[t], mode_name());
	CHECK(a->qp->state == IBV_QPS_RTS); /* A is told by the closed stream */
	tpair_close(&p);
}

static void test_tampering(void)
{
	int t;

	for (t = 0; t < T_MAX; t++)
		tampered((enum tamper)t);
}

/*
 * A READ response altered in its chunk 2: A (the requester) places chunks
 * 0 and 1, nothing after, and its READ does not complete but flushed.
 */
static void test_tampered_response(void)
{
	static uint8_t wire[WIRE_MAX], before[MID];
	struct tpair p;
	struct tnode *a = &p.a, *b = &p.b;
	uint8_t *dst;
	size_t n;
	uint64_t el;
	uint32_t ev;

	CHECK(!tpair_open(&p, NULL, NULL));
	CHECK(tpair_pump(&p));
	dst = a->mem + TNODE_BIG;
	memcpy(before, dst, MID);
	CHECK(!tnode_post(a, IBV_WR_RDMA_READ, 1, dst, MID, b->big,
			  (uintptr_t)b->mem + TNODE_BIG, IBV_SEND_SIGNALED));
	tpair_serve(a);
	tpair_relay(&p, a);
	n = tpair_take_all(&p, b, wire, sizeof(wire));
	CHECKF(n == tcp_psp_frame_bytes(MID), "READ_RESP: %zu bytes", n);
	wire[RTCP_HDR_LEN + 2 * STEP + 4000] ^= 0x04;
	tnode_feed(a, wire, n);
	CHECK(a->qp->state == IBV_QPS_ERR && a->qp->sec.rejected == 1);
	CHECK(tnode_async(a, &ev, &el) && ev == IBV_EVENT_QP_FATAL);
	expect_wc(a, 1, IBV_WC_WR_FLUSH_ERR, "tampered READ response");
	CHECK(!memcmp(dst, b->mem + TNODE_BIG, 2 * TCP_PSP_CHUNK));
	CHECKF(!memcmp(dst + 2 * TCP_PSP_CHUNK, before + 2 * TCP_PSP_CHUNK,
		       MID - 2 * TCP_PSP_CHUNK),
	       "tampered READ response (%s): the canary", mode_name());
	tpair_close(&p);
}

/*
 * UC: a SEND nobody receives is dropped, but verified first: a good one
 * leaves the QP up, an altered one fails it (nothing placed either way).
 */
static void test_uc_drop(void)
{
	static uint8_t wire[WIRE_MAX], before[TNODE_MEM];
	struct tqp_opts uc = { .access = IBV_ACCESS_REMOTE_WRITE, .uc = true };
	struct tpair p;
	struct tnode *a = &p.a, *b = &p.b;
	struct ibv_wc wc;
	size_t n;

	CHECK(!tpair_open(&p, &uc, &uc));
	CHECK(tpair_pump(&p));
	memcpy(before, b->mem, TNODE_MEM);
	CHECK(!tnode_post(a, IBV_WR_SEND, 1, a->mem + TNODE_BIG,
			  2 * TCP_PSP_CHUNK + 3, NULL, 0, IBV_SEND_SIGNALED));
	n = tpair_take_all(&p, a, wire, sizeof(wire));
	CHECK(n == tcp_psp_frame_bytes(2 * TCP_PSP_CHUNK + 3));
	tnode_feed(b, wire, n);
	CHECK(b->qp->state == IBV_QPS_RTS && !b->qp->sec.rejected);
	CHECK(b->qp->rx.seq == p.ab.pos);
	expect_wc(a, 1, IBV_WC_SUCCESS, "UC SEND dropped");
	CHECK(!tnode_post(a, IBV_WR_SEND, 2, a->mem + TNODE_BIG,
			  2 * TCP_PSP_CHUNK + 3, NULL, 0, IBV_SEND_SIGNALED));
	n = tpair_take_all(&p, a, wire, sizeof(wire));
	wire[RTCP_HDR_LEN + STEP + 9] ^= 0x20; /* chunk 1 */
	tnode_feed(b, wire, n);
	CHECKF(b->qp->state == IBV_QPS_ERR && b->qp->sec.rejected == 1,
	       "UC drop of an altered SEND (%s): B in state %d", mode_name(),
	       b->qp->state);
	CHECK(!memcmp(before, b->mem, TNODE_MEM));
	CHECK(tnode_poll(b, &wc, 1) == 0);
	tpair_close(&p);
}

/* The first frame of a kind a tap saw. */
static const struct rtcp_hdr *first_op(const struct tap *t, uint8_t op)
{
	unsigned int i;

	for (i = 0; i < t->n && i < TAP_LOG; i++)
		if (t->log[i].opcode == op)
			return &t->log[i];
	return NULL;
}

/* The last frame of a kind a tap saw. */
static const struct rtcp_hdr *last_op(const struct tap *t, uint8_t op)
{
	unsigned int i;

	for (i = t->n < TAP_LOG ? t->n : TAP_LOG; i-- > 0;)
		if (t->log[i].opcode == op)
			return &t->log[i];
	return NULL;
}

/*
 * While a 1 MiB WRITE of A's (four frames) goes out, B's READs reach A:
 * their responses go between the WRITE's frames, never inside one (the
 * taps, which decode both streams frame by frame, would find garbage
 * otherwise), and before the WRITE's last frame.
 */
static void test_read_between_frames(void)
{
	const struct rtcp_hdr *rr, *wl;
	struct tpair p;
	struct tnode *a = &p.a, *b = &p.b;
	int i;

	CHECK(!tpair_open(&p, NULL, NULL));
	CHECK(!tnode_recv(b, 9, b->mem + 512, 256));
	CHECK(tpair_pump(&p));
	CHECK(!tnode_post(a, IBV_WR_RDMA_WRITE, 1, a->mem + TNODE_BIG,
			  TNODE_BIG_LEN, b->big, (uintptr_t)b->mem + TNODE_BIG,
			  0));
	CHECK(!tnode_post(a, IBV_WR_SEND, 2, a->mem, 200, NULL, 0,
			  IBV_SEND_SIGNALED));
	tpair_serve(a);
	tpair_relay(&p, a); /* the first 64 KiB or so */
	for (i = 0; i < 3; i++)
		CHECK(!tnode_post(b, IBV_WR_RDMA_READ, 10 + i,
				  b->mem + 1024 + 64 * i, 64, a->mr,
				  (uintptr_t)a->mem + 2048 + 64 * i,
				  IBV_SEND_SIGNALED));
	CHECK(tpair_pump(&p));
	CHECK(p.ab.bad == 0 && p.ba.bad == 0);
	CHECK(!memcmp(a->mem + TNODE_BIG, b->mem + TNODE_BIG, TNODE_BIG_LEN));
	CHECK(!memcmp(a->mem, b->mem + 512, 200));
	CHECK(!memcmp(a->mem + 2048, b->mem + 1024, 3 * 64));
	rr = first_op(&p.ab, RTCP_OP_READ_RESP);
	wl = last_op(&p.ab, RTCP_OP_WRITE);
	CHECK(rr && wl && rr < wl && !(wl->flags & RTCP_F_MORE));
	/* the responses go before A's queued SEND (responses first) */
	for (i = 0; i < 3; i++)
		expect_wc(b, 10 + i, IBV_WC_SUCCESS, "READ during 1 MiB");
	expect_wc(b, 9, IBV_WC_SUCCESS, "SEND behind 1 MiB");
	expect_wc(a, 2, IBV_WC_SUCCESS, "SEND behind 1 MiB, sender");
	CHECK(!a->qp->sec.rejected && !b->qp->sec.rejected);
	tpair_close(&p);
}

/*
 * The other way round: while B's 512 KiB WRITE (two frames) goes out,
 * A's READ of 512 KiB arrives and B's WRITE and SEND are posted. The READ
 * response travels as two frames too, each sealed on its own; requests
 * stay in order among themselves whatever response frames come between
 * them, and everything lands verified and whole.
 */
static void test_interleave_response(void)
{
	const uint32_t half = TNODE_BIG_LEN / 2;
	struct tpair p;
	struct tnode *a = &p.a, *b = &p.b;
	uint8_t *abig, *bbig;

	CHECK(!tpair_open(&p, NULL, NULL));
	abig = a->mem + TNODE_BIG;
	bbig = b->mem + TNODE_BIG;
	CHECK(!tnode_recv(a, 9, a->mem + 512, 256));
	CHECK(tpair_pump(&p));
	CHECK(!tnode_post(b, IBV_WR_RDMA_WRITE, 19, bbig, half, a->big,
			  (uintptr_t)abig + half, 0));
	tpair_serve(b);
	CHECK(b->qp->tx.iov_i < b->qp->tx.iov_n); /* still going out */
	CHECK(!tnode_post(a, IBV_WR_RDMA_READ, 1, abig, half, b->big,
			  (uintptr_t)bbig + half, IBV_SEND_SIGNALED));
	tpair_serve(a);
	tpair_relay(&p, a);
	tpair_serve(b); /* takes the READ: its response waits */
	CHECK(b->qp->resp.head);
	CHECK(!tnode_post(b, IBV_WR_RDMA_WRITE, 20, b->mem, 100, a->mr,
			  (uintptr_t)a->mem + 1024, 0));
	CHECK(!tnode_post(b, IBV_WR_SEND, 21, b->mem + 200, 150, NULL, 0,
			  IBV_SEND_SIGNALED));
	CHECK(tpair_pump(&p));
	CHECK(p.ab.bad == 0 && p.ba.bad == 0);
	/* B's last frames: the WRITE and the SEND, after the big WRITE's */
	CHECK(p.ba.n >= 2 && p.ba.log[p.ba.n - 2].opcode == RTCP_OP_WRITE &&
	      p.ba.log[p.ba.n - 2].len == 100 &&
	      p.ba.log[p.ba.n - 1].opcode == RTCP_OP_SEND);
	CHECK(tap_cut_frames(&p.ba, RTCP_OP_READ_RESP, half) == 2);
	expect_wc(a, 1, IBV_WC_SUCCESS, "512 KiB READ");
	expect_wc(a, 9, IBV_WC_SUCCESS, "SEND behind a 512 KiB response");
	expect_wc(b, 21, IBV_WC_SUCCESS, "SEND behind a 512 KiB response");
	CHECK(!memcmp(abig, bbig + half, half));
	CHECK(!memcmp(abig + half, bbig, half));
	CHECK(!memcmp(a->mem + 1024, b->mem, 100));
	CHECK(!memcmp(a->mem + 512, b->mem + 200, 150));
	CHECK(!a->qp->sec.rejected && !b->qp->sec.rejected);
	tpair_close(&p);
}

/*
 * B's region is deregistered while its 1 MiB READ response spans batches:
 * the rest cannot be read (as pin_batch finds it for a response of one
 * batch), so B goes to error with QP_ACCESS_ERR; nothing is read from
 * the freed region.
 */
static void test_response_region_gone(void)
{
	struct tpair p;
	struct tnode *a = &p.a, *b = &p.b;
	uint64_t el;
	uint32_t ev;

	CHECK(!tpair_open(&p, NULL, NULL));
	CHECK(tpair_pump(&p));
	CHECK(!tnode_post(a, IBV_WR_RDMA_READ, 1, a->mem + TNODE_BIG,
			  TNODE_BIG_LEN, b->big, (uintptr_t)b->mem + TNODE_BIG,
			  IBV_SEND_SIGNALED));
	tpair_serve(a);
	tpair_relay(&p, a);
	tpair_serve(b); /* the response fills B's socket */
	CHECK(b->qp->resp.head && b->qp->resp.head->off); /* partly sent */
	tnode_dereg(b->big);
	b->big = NULL;
	tpair_relay(&p, b);
	tpair_serve(b);
	CHECKF(b->qp->state == IBV_QPS_ERR, "region gone (%s): B in state %d",
	       mode_name(), b->qp->state);
	CHECK(tnode_async(b, &ev, &el) && ev == IBV_EVENT_QP_ACCESS_ERR);
	CHECK(!b->qp->tx.cur.active && !b->qp->sec.seal);
	tpair_pump(&p);
	CHECK(!a->qp->sec.rejected);
	tpair_close(&p);
}

/*
 * The peer's new receive SA arrives (sec.tx_next, as a REKEY's handler
 * sets it) while A's 1 MiB WRITE (four frames) goes out: each frame's
 * chunks stay sealed with the SA its header names, the frames that start
 * after the switch use the new one, and B (which keeps the old SA as
 * rx[1], as after its own rekey) takes both.
 */
static void test_tx_switch(void)
{
	static const uint8_t key2[16] = { 0x77, 1, 2, 3, 4, 5, 6, 7, 8 };
	const uint32_t spi2 = 0x4000beefu;
	struct tpair p;
	struct tnode *a = &p.a, *b = &p.b;
	struct tcp_sec_state *bs;
	const struct rtcp_hdr *h;

	CHECK(!tpair_open(&p, NULL, NULL));
	bs = &b->qp->sec;
	CHECK(!tnode_recv(b, 9, b->mem, 256));
	CHECK(tpair_pump(&p));
	CHECK(!tnode_post(a, IBV_WR_RDMA_WRITE, 1, a->mem + TNODE_BIG,
			  TNODE_BIG_LEN, b->big, (uintptr_t)b->mem + TNODE_BIG,
			  0));
	tpair_serve(a);
	CHECK(a->qp->sq.tx != a->qp->sq.head); /* frames still to come */
	CHECK(!tcp_psp_sa_init(&a->qp->sec.tx_next, tpair_mode, TCP_PSP_AES128,
			       spi2, key2));
	bs->rx[1] = bs->rx[0];
	memset(&bs->rx[0], 0, sizeof(bs->rx[0]));
	CHECK(!tcp_psp_sa_init(&bs->rx[0], tpair_mode, TCP_PSP_AES128, spi2,
			       key2));
	CHECK(!tnode_post(a, IBV_WR_SEND, 2, a->mem + 300, 100, NULL, 0,
			  IBV_SEND_SIGNALED));
	CHECK(tpair_pump(&p));
	expect_wc(b, 9, IBV_WC_SUCCESS, "SEND under the new SA");
	expect_wc(a, 2, IBV_WC_SUCCESS, "SEND under the new SA, sender");
	CHECK(!memcmp(a->mem + TNODE_BIG, b->mem + TNODE_BIG, TNODE_BIG_LEN));
	CHECK(!memcmp(a->mem + 300, b->mem, 100));
	h = first_op(&p.ab, RTCP_OP_WRITE);
	CHECK(h && h->spi == TPAIR_SPI_AB && (h->flags & RTCP_F_MORE));
	h = last_op(&p.ab, RTCP_OP_WRITE);
	CHECK(h && h->spi == spi2 && !(h->flags & RTCP_F_MORE));
	/* (that SEND may have shared the WRITE's last batch: old SA) */
	CHECK(a->qp->sec.tx.spi == spi2 && !a->qp->sec.tx_next.spi);
	CHECK(!tnode_recv(b, 10, b->mem + 256, 256));
	CHECK(!tnode_post(a, IBV_WR_SEND, 3, a->mem + 600, 100, NULL, 0,
			  IBV_SEND_SIGNALED));
	CHECK(tpair_pump(&p));
	expect_wc(b, 10, IBV_WC_SUCCESS, "SEND after the switch");
	expect_wc(a, 3, IBV_WC_SUCCESS, "SEND after the switch, sender");
	CHECK(!memcmp(a->mem + 600, b->mem + 256, 100));
	h = last_op(&p.ab, RTCP_OP_SEND);
	CHECK(h && h->spi == spi2);
	CHECK(!bs->rejected && b->qp->state == IBV_QPS_RTS);
	tpair_close(&p);
}

/* ----------------------------------------------------- other secured */

/* A QP connected to itself seals and opens with one SA: it works. */
static void test_self(void)
{
	static uint8_t buf[WIRE_MAX];
	struct tpair p;
	struct tnode *a = &p.a;
	int i;

	CHECK(!tpair_open_self(&p));
	CHECK(!tnode_recv(a, 7, a->mem + 2048, 512));
	CHECK(!tnode_post(a, IBV_WR_RDMA_WRITE, 1, a->mem + TNODE_BIG,
			  3 * TCP_PSP_CHUNK + 1, a->big,
			  (uintptr_t)a->mem + TNODE_BIG + MID, 0));
	CHECK(!tnode_post(a, IBV_WR_SEND, 2, a->mem, 300, NULL, 0,
			  IBV_SEND_SIGNALED));
	for (i = 0; i < 1000; i++) {
		size_t n;

		tpair_serve(a);
		n = tpair_take(&p, a, buf, sizeof(buf));
		if (!n && !tpair_serve(a))
			break;
		tnode_feed(a, buf, n);
	}
	expect_wc(a, 7, IBV_WC_SUCCESS, "SEND to itself, received");
	expect_wc(a, 2, IBV_WC_SUCCESS, "SEND to itself");
	CHECK(!memcmp(a->mem + 2048, a->mem, 300));
	CHECK(!memcmp(a->mem + TNODE_BIG, a->mem + TNODE_BIG + MID,
		      3 * TCP_PSP_CHUNK + 1));
	CHECK(a->qp->state == IBV_QPS_RTS && !a->qp->sec.rejected);
	CHECK(a->qp->rx.seq == a->qp->tx.seq);
	tpair_close(&p);
}

/*
 * A REKEY queued as the handshake code will queue it: sealed encrypted
 * whatever the mode (its key never crosses in the clear), taken by B
 * (tcp_qp_rekey_rx) without a byte placed or a completion.
 */
static void test_rekey(void)
{
	static uint8_t wire[4096];
	struct tpair p;
	struct tnode *a = &p.a, *b = &p.b;
	struct tcp_resp *r = calloc(1, sizeof(*r) + RTCP_REKEY_LEN);
	struct rtcp_rekey rk = { .spi = 0x87654321u, .alg = TCP_PSP_AES128 };
	struct ibv_wc wc;
	size_t n;

	CHECK(!tpair_open(&p, NULL, NULL));
	CHECK(tpair_pump(&p));
	memset(rk.key, 0x5a, sizeof(rk.key));
	r->payload = (char *)(r + 1);
	rtcp_rekey_encode(&rk, (uint8_t *)r->payload);
	r->len = RTCP_REKEY_LEN;
	r->hdr.opcode = RTCP_OP_REKEY;
	r->hdr.len = RTCP_REKEY_LEN;
	tcp_mutex_lock(&a->qp->lock);
	tcp_qp_queue_resp(a->qp, r);
	tcp_qp_tx(a->qp);
	tcp_mutex_unlock_qp(&a->qp->lock);
	n = tpair_take(&p, a, wire, sizeof(wire));
	CHECKF(n == tcp_psp_frame_bytes(RTCP_REKEY_LEN), "REKEY: %zu bytes", n);
	CHECKF(!memmem(wire, n, rk.key, 8), "REKEY (%s): key in the clear",
	       mode_name());
	tnode_feed(b, wire, n);
	CHECK(b->qp->state == IBV_QPS_RTS && !b->qp->sec.rejected);
	CHECK(b->qp->rx.seq == p.ab.pos);
	CHECK(tnode_poll(b, &wc, 1) == 0);
	tpair_close(&p);
}

int main(void)
{
	static const enum tcp_psp_mode modes[] = { TCP_PSP_AUTH,
						   TCP_PSP_ENCRYPT };
	size_t m;

	for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		tpair_mode = modes[m];
		test_layout();
		test_big();
		test_tampering();
		test_tampered_response();
		test_uc_drop();
		test_read_between_frames();
		test_interleave_response();
		test_response_region_gone();
		test_tx_switch();
		test_self();
		test_rekey();
	}
	return check_report();
}
