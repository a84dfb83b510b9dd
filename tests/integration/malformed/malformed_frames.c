// SPDX-License-Identifier: MIT
/* malformed: the malformed inputs, one function a case, and their table */
#include "malformed.h"

/* ------------------------------------------------------------ cases */

uint32_t win_rkey(void)
{
	return reg[R_WIN].mr->rkey;
}

static void send_bad_opcode(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_MAX + 1, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.len = 64;
	peer_frame(p, &h, payload_of(64, 1), 64, 0, 0);
}

static void send_opcode_zero(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, 0, 0);
	peer_frame(p, &h, NULL, 0, 0, 0);
}

static void send_bad_hlen(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct rtcp_hdr h;

	/* a WRITE that would be valid, with an extension we do not have */
	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(256);
	h.len = 64;
	peer_frame(p, &h, payload_of(64 + 16, 2), 64 + 16, 0, 80);
}

static void send_bad_flags(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.flags = 0x80;
	h.rkey = win_rkey();
	h.raddr = win_addr(512);
	h.len = 64;
	peer_frame(p, &h, payload_of(64, 3), 64, 0, 0);
}

static void send_sseq_desync(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct rtcp_hdr h;
	const uint8_t *pl = payload_of(64, 4);

	/* a good WRITE first: it lands and is acknowledged */
	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.flags = RTCP_F_ACK_REQ;
	h.rkey = win_rkey();
	h.raddr = win_addr(8192);
	h.len = 64;
	peer_frame(p, &h, pl, 64, 0, 0);
	if (wait_landed(8192, pl, 64) &&
	    peer_wait_op(p, RTCP_OP_ACK, 1, NULL, NULL, 0) == RECV_FRAME)
		ok("a valid WRITE before the desync lands and is acked");
	else
		fail("a valid WRITE before the desync lands and is acked");
	shadow_write(R_WIN, 8192, pl, 64);
	/* then one that claims a stream position one frame further on */
	hdr_init(&h, RTCP_OP_WRITE, 1);
	h.rkey = win_rkey();
	h.raddr = win_addr(12288);
	h.len = 64;
	h.sseq = p->tx_seq + RTCP_HDR_LEN + 128;
	peer_frame(p, &h, payload_of(64, 5), 64, F_KEEP_SSEQ, 0);
}

static void send_sseq_backwards(struct peer *p, struct ibv_qp *qp,
				struct kase *k)
{
	struct rtcp_hdr h;

	/* the first frame claims offset 0 (a replay of the hello's bytes) */
	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.len = 64;
	h.sseq = 0;
	peer_frame(p, &h, payload_of(64, 6), 64, F_KEEP_SSEQ, 0);
}

static void send_len_over_max(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.len = 0xffffffffu;
	peer_frame(p, &h, payload_of(4096, 7), 4096, 0, 0);
}

static void send_send_over_max(struct peer *p, struct ibv_qp *qp,
			       struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_SEND, 0);
	h.len = MAX_MSG + 1;
	peer_frame(p, &h, payload_of(4096, 8), 4096, 0, 0);
}

static void send_read_req_payload(struct peer *p, struct ibv_qp *qp,
				  struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_READ_REQ, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.aux0 = 64;
	h.len = 16;
	peer_frame(p, &h, payload_of(16, 9), 16, 0, 0);
}

static void send_read_req_over_max(struct peer *p, struct ibv_qp *qp,
				   struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_READ_REQ, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.aux0 = (uint64_t)MAX_MSG + 1;
	peer_frame(p, &h, NULL, 0, 0, 0);
}

static void send_atomic_with_payload(struct peer *p, struct ibv_qp *qp,
				     struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_ATOMIC_FADD, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(1024);
	h.aux0 = 1;
	h.len = 8;
	peer_frame(p, &h, payload_of(8, 10), 8, 0, 0);
}

/* A WRITE; flags RTCP_F_ACK_REQ asks for an immediate ACK. */
void write_to_f(struct peer *p, uint32_t rkey, uint64_t raddr, uint32_t len,
		uint32_t msn, uint8_t salt, uint8_t flags)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_WRITE, msn);
	h.flags = flags;
	h.rkey = rkey;
	h.raddr = raddr;
	h.len = len;
	peer_frame(p, &h, payload_of(len, salt), len, 0, 0);
}

void write_to(struct peer *p, uint32_t rkey, uint64_t raddr, uint32_t len,
	      uint32_t msn, uint8_t salt)
{
	write_to_f(p, rkey, raddr, len, msn, salt, 0);
}

static void send_bad_rkey(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	write_to(p, win_rkey() ^ 0x5a5a5a00u, win_addr(0), 64, 0, 11);
}

static void send_bad_generation(struct peer *p, struct ibv_qp *qp,
				struct kase *k)
{
	/* same table index, every other generation byte */
	write_to(p, win_rkey() ^ 0x01u, win_addr(0), 64, 0, 12);
}

static void send_past_end(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	write_to(p, win_rkey(), win_addr(WIN - 16), 32, 0, 13);
}

static void send_into_canary_below(struct peer *p, struct ibv_qp *qp,
				   struct kase *k)
{
	write_to(p, win_rkey(), win_addr(0) - 8, 32, 0, 14);
}

static void send_addr_wrap(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	/* raddr + len wraps around 2^64 into the window */
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = win_rkey();
	h.raddr = UINT64_MAX - 15;
	h.len = 64;
	peer_frame(p, &h, payload_of(64, 15), 64, 0, 0);
}

static void send_ro_key(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	write_to(p, reg[R_RO].mr->rkey,
		 (uint64_t)(uintptr_t)(reg[R_RO].mem + PAD), 64, 0, 16);
}

static void send_stale_key(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	write_to(p, stale_rkey, (uint64_t)(uintptr_t)(reg[R_STALE].mem + PAD),
		 64, 0, 17);
}

static void send_foreign_pd(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	write_to(p, reg[R_FOREIGN].mr->rkey,
		 (uint64_t)(uintptr_t)(reg[R_FOREIGN].mem + PAD), 64, 0, 18);
}

static void send_read_past_end(struct peer *p, struct ibv_qp *qp,
			       struct kase *k)
{
	struct rtcp_hdr h;

	/* would leak the canary above the window */
	hdr_init(&h, RTCP_OP_READ_REQ, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(WIN - 64);
	h.aux0 = 128;
	peer_frame(p, &h, NULL, 0, 0, 0);
}

static void send_atomic_misaligned(struct peer *p, struct ibv_qp *qp,
				   struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_ATOMIC_FADD, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(1024 + 4);
	h.aux0 = 0x0101010101010101ull;
	peer_frame(p, &h, NULL, 0, 0, 0);
}

static void send_atomic_past_end(struct peer *p, struct ibv_qp *qp,
				 struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_ATOMIC_CMP_SWP, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(WIN);
	h.aux0 = 0;
	h.aux1 = 0xdeadbeefdeadbeefull;
	peer_frame(p, &h, NULL, 0, 0, 0);
}

static void send_msn_out_of_order(struct peer *p, struct ibv_qp *qp,
				  struct kase *k)
{
	write_to(p, win_rkey(), win_addr(2048), 64, 3, 19);
}

static void send_read_resp_unsolicited(struct peer *p, struct ibv_qp *qp,
				       struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_READ_RESP, 0);
	h.len = 256;
	peer_frame(p, &h, payload_of(256, 20), 256, 0, 0);
}

static void send_atomic_resp_unsolicited(struct peer *p, struct ibv_qp *qp,
					 struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_ATOMIC_RESP, 0);
	h.aux0 = 0x4141414141414141ull;
	peer_frame(p, &h, NULL, 0, 0, 0);
}

static void send_truncated_header(struct peer *p, struct ibv_qp *qp,
				  struct kase *k)
{
	uint8_t hb[RTCP_HDR_LEN];
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.len = 64;
	h.sseq = RTCP_HDR_LEN;
	rtcp_hdr_encode(&h, hb);
	send_all(p->fd, hb, RTCP_OFF_RKEY); /* stops before the placement */
	check(wait_provider_read(p->fd, 0),
	      "the QP read the partial header before the peer's FIN");
	shutdown(p->fd, SHUT_WR);
}

static void send_huge_len_close(struct peer *p, struct ibv_qp *qp,
				struct kase *k)
{
	struct rtcp_hdr h;

	/* legal length (1 GiB <= max_msg_sz), far beyond the region */
	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.len = 1u << 30;
	peer_frame(p, &h, payload_of(32768, 21), 32768, 0, 0);
	shutdown(p->fd, SHUT_WR);
}

static void send_partial_payload_close(struct peer *p, struct ibv_qp *qp,
				       struct kase *k)
{
	struct rtcp_hdr h;
	const uint8_t *pl = payload_of(WIN, 22);

	/* accepted (whole window), then the peer goes away mid-payload */
	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.len = WIN;
	peer_frame(p, &h, pl, 10000, 0, 0);
	/* (the rest may wait in the socket: a large payload sets a low mark) */
	check(wait_provider_read(p->fd, 10000),
	      "the QP read the header before the peer's FIN");
	shutdown(p->fd, SHUT_WR);
	/* the bytes sent may land; nothing past them, nothing outside */
	k->alt.r = R_WIN;
	k->alt.lo = 0;
	k->alt.hi = 10000;
	k->alt.alt = pl;
	k->has_alt = true;
}

static void send_garbage(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	uint8_t g[4096];
	uint32_t x = 0x12345678;
	size_t i;

	for (i = 0; i < sizeof(g); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		g[i] = (uint8_t)x;
	}
	send_all(p->fd, g, sizeof(g));
}

static void send_send_no_recv(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct rtcp_hdr h;

	/* the QP advertised no credits: a SEND now has nowhere to go */
	hdr_init(&h, RTCP_OP_SEND, 0);
	h.len = 64;
	peer_frame(p, &h, payload_of(64, 23), 64, 0, 0);
}

void send_send_too_big(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	struct ibv_sge sge = { .addr = win_addr(4096),
			       .length = 16,
			       .lkey = reg[R_WIN].mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = 77, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;
	struct rtcp_hdr h;

	if (ibv_post_recv(qp, &wr, &bad))
		fail("ibv_post_recv: %s", strerror(errno));
	hdr_init(&h, RTCP_OP_SEND, 0);
	h.len = 256;
	peer_frame(p, &h, payload_of(256, 24), 256, 0, 0);
}

static void send_write_imm_no_recv(struct peer *p, struct ibv_qp *qp,
				   struct kase *k)
{
	struct rtcp_hdr h;

	/* placement would pass; the immediate has no receive to go to */
	hdr_init(&h, RTCP_OP_WRITE_IMM, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(6000);
	h.len = 64;
	h.imm = 0x01020304;
	peer_frame(p, &h, payload_of(64, 25), 64, 0, 0);
	/* the WRITE part may have landed before the receive was missed */
	k->alt.r = R_WIN;
	k->alt.lo = 6000;
	k->alt.hi = 6064;
	k->alt.alt = payload_of(64, 25);
	k->has_alt = true;
}

static void send_atomic_no_right(struct peer *p, struct ibv_qp *qp,
				 struct kase *k)
{
	struct rtcp_hdr h;

	/* the region allows remote read only */
	hdr_init(&h, RTCP_OP_ATOMIC_FADD, 0);
	h.rkey = reg[R_RO].mr->rkey;
	h.raddr = (uint64_t)(uintptr_t)(reg[R_RO].mem + PAD);
	h.aux0 = 1;
	peer_frame(p, &h, NULL, 0, 0, 0);
}

static void send_terminate_unsolicited(struct peer *p, struct ibv_qp *qp,
				       struct kase *k)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_TERMINATE, 0);
	h.imm = htobe32(RTCP_SYN_REM_ACCESS); /* syndromes: network order */
	peer_frame(p, &h, NULL, 0, 0, 0);
}

/*
 * Requester side: the QP under test posts an RDMA READ of 64 bytes into
 * the window (RD_OFF, RD_LEN); the hostile peer answers it badly.
 */
static bool post_read(struct peer *p, struct ibv_qp *qp, struct kase *k,
		      struct rtcp_hdr *req)
{
	struct ibv_sge sge = { .addr = win_addr(RD_OFF),
			       .length = RD_LEN,
			       .lkey = reg[R_WIN].mr->lkey };
	struct ibv_send_wr wr = { .wr_id = 99,
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = IBV_WR_RDMA_READ,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_send_wr *bad;

	wr.wr.rdma.remote_addr = 0x10000;
	wr.wr.rdma.rkey = 0x1234;
	k->want_wc_id = 99;
	if (ibv_post_send(qp, &wr, &bad)) {
		fail("ibv_post_send RDMA_READ: %s", strerror(errno));
		return false;
	}
	if (peer_wait_op(p, RTCP_OP_READ_REQ, 0, req, NULL, 0) != RECV_FRAME) {
		fail("the QP sent its READ_REQ");
		return false;
	}
	if (req->aux0 != RD_LEN)
		fail("READ_REQ asks for %" PRIu64 " bytes, not %d", req->aux0,
		     RD_LEN);
	return true;
}

static void send_read_resp_long(struct peer *p, struct ibv_qp *qp,
				struct kase *k)
{
	struct rtcp_hdr req, h;

	if (!post_read(p, qp, k, &req))
		return;
	hdr_init(&h, RTCP_OP_READ_RESP, req.msn);
	h.len = RD_LEN * 4; /* more than the READ's buffer */
	peer_frame(p, &h, payload_of(RD_LEN * 4, 26), RD_LEN * 4, 0, 0);
}

static void send_read_resp_short(struct peer *p, struct ibv_qp *qp,
				 struct kase *k)
{
	struct rtcp_hdr req, h;

	if (!post_read(p, qp, k, &req))
		return;
	hdr_init(&h, RTCP_OP_READ_RESP, req.msn);
	h.len = RD_LEN / 2;
	peer_frame(p, &h, payload_of(RD_LEN / 2, 27), RD_LEN / 2, 0, 0);
}

static void send_read_resp_wrong_msn(struct peer *p, struct ibv_qp *qp,
				     struct kase *k)
{
	struct rtcp_hdr req, h;

	if (!post_read(p, qp, k, &req))
		return;
	hdr_init(&h, RTCP_OP_READ_RESP, req.msn + 1);
	h.len = RD_LEN;
	peer_frame(p, &h, payload_of(RD_LEN, 28), RD_LEN, 0, 0);
}

static void send_atomic_resp_for_read(struct peer *p, struct ibv_qp *qp,
				      struct kase *k)
{
	struct rtcp_hdr req, h;

	if (!post_read(p, qp, k, &req))
		return;
	hdr_init(&h, RTCP_OP_ATOMIC_RESP, req.msn);
	h.aux0 = 0x4242424242424242ull;
	peer_frame(p, &h, NULL, 0, 0, 0);
}

/*
 * Messages cut into frames (RTCP_F_MORE): a frame that does not continue
 * its message where the last one ended is refused as a request out of
 * order is; what an accepted first frame placed may stay.
 */
static void seg_write(struct peer *p, uint64_t off, uint32_t len, uint8_t salt)
{
	struct rtcp_hdr h;

	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.flags = RTCP_F_MORE;
	h.rkey = win_rkey();
	h.raddr = win_addr(8192 + off);
	h.len = len;
	h.aux0 = off;
	h.aux1 = 256;
	peer_frame(p, &h, payload_of(len, salt), len, 0, 0);
}

static void send_seg_no_first(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	seg_write(p, 64, 64, 40); /* a middle frame, no first */
}

static void send_seg_overlap(struct peer *p, struct ibv_qp *qp, struct kase *k)
{
	seg_write(p, 0, 128, 41);
	seg_write(p, 64, 64, 42); /* back into bytes already sent */
	k->alt.r = R_WIN;
	k->alt.lo = 8192;
	k->alt.hi = 8192 + 128;
	k->alt.alt = payload_of(128, 41);
	k->has_alt = true;
}

static void send_seg_request_inside(struct peer *p, struct ibv_qp *qp,
				    struct kase *k)
{
	struct rtcp_hdr h;

	seg_write(p, 0, 128, 43);
	/* a READ with the same msn, between the WRITE's frames */
	hdr_init(&h, RTCP_OP_READ_REQ, 0);
	h.rkey = win_rkey();
	h.raddr = win_addr(0);
	h.aux0 = 64;
	peer_frame(p, &h, NULL, 0, 0, 0);
	k->alt.r = R_WIN;
	k->alt.lo = 8192;
	k->alt.hi = 8192 + 128;
	k->alt.alt = payload_of(128, 43);
	k->has_alt = true;
}

#define CASE(n, fn, syn, msn, ev, rec)                                 \
	{                                                              \
		.name = (n), .send = (fn), .term_syn = (syn),          \
		.term_msn = (msn), .events = (ev), .reconnect = (rec), \
	}

struct kase cases[] = {
	/* framing: the stream cannot be trusted; no placement happens */
	CASE("unknown opcode", send_bad_opcode, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), true),
	CASE("opcode 0", send_opcode_zero, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("hlen 80 (not 64)", send_bad_hlen, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("unknown flags", send_bad_flags, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("sseq desync after a good frame", send_sseq_desync, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("sseq 0 on the first frame", send_sseq_backwards, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("WRITE len 0xffffffff > max_msg_sz", send_len_over_max, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("SEND len max_msg_sz+1", send_send_over_max, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("READ_REQ with payload", send_read_req_payload, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("READ_REQ for more than max_msg_sz", send_read_req_over_max, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("ATOMIC with payload", send_atomic_with_payload, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("garbage bytes", send_garbage, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), true),
	/* placement: refused by the responder, requester told */
	CASE("WRITE bad rkey", send_bad_rkey, RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), true),
	CASE("WRITE rkey with another generation", send_bad_generation,
	     RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE past region end", send_past_end, RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE valid key, range into the canary below",
	     send_into_canary_below, RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE raddr+len wraps 2^64", send_addr_wrap, RTCP_SYN_REM_ACCESS,
	     0, EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE to a region without REMOTE_WRITE", send_ro_key,
	     RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE with a deregistered (stale) key", send_stale_key,
	     RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE with a key of another PD", send_foreign_pd,
	     RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("READ_REQ past region end (would leak canary)", send_read_past_end,
	     RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("ATOMIC misaligned", send_atomic_misaligned, RTCP_SYN_REM_INV_REQ,
	     0, EV(IBV_EVENT_QP_REQ_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("ATOMIC past region end", send_atomic_past_end,
	     RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE huge len (1 GiB) then close mid-payload",
	     send_huge_len_close, RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	/* protocol */
	CASE("msn out of order (3, expected 0)", send_msn_out_of_order,
	     RTCP_SYN_REM_INV_REQ, 3,
	     EV(IBV_EVENT_QP_REQ_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE frame flagged MORE, at offset 64, with no first",
	     send_seg_no_first, RTCP_SYN_REM_INV_REQ, 0,
	     EV(IBV_EVENT_QP_REQ_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE frames overlapping (offset 64 after 128 bytes)",
	     send_seg_overlap, RTCP_SYN_REM_INV_REQ, 0,
	     EV(IBV_EVENT_QP_REQ_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("READ_REQ between a WRITE's frames", send_seg_request_inside,
	     RTCP_SYN_REM_INV_REQ, 0,
	     EV(IBV_EVENT_QP_REQ_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("SEND with no receive posted", send_send_no_recv, RTCP_SYN_RNR, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("SEND larger than the posted receive", send_send_too_big,
	     RTCP_SYN_REM_INV_REQ, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("READ_RESP with nothing outstanding", send_read_resp_unsolicited,
	     0, 0, EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("ATOMIC_RESP with nothing outstanding",
	     send_atomic_resp_unsolicited, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("WRITE_IMM with no receive posted", send_write_imm_no_recv,
	     RTCP_SYN_RNR, 0, EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR),
	     false),
	CASE("ATOMIC on a region without REMOTE_ATOMIC", send_atomic_no_right,
	     RTCP_SYN_REM_ACCESS, 0,
	     EV(IBV_EVENT_QP_ACCESS_ERR) | EV(IBV_EVENT_QP_FATAL), false),
	CASE("TERMINATE with nothing outstanding", send_terminate_unsolicited,
	     0, 0, EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	/* requester side: bad answers to the QP's own RDMA READ */
	CASE("READ_RESP longer than the READ", send_read_resp_long, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("READ_RESP shorter than the READ", send_read_resp_short, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("READ_RESP naming another msn", send_read_resp_wrong_msn, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	CASE("ATOMIC_RESP answering a READ", send_atomic_resp_for_read, 0, 0,
	     EV(IBV_EVENT_QP_FATAL) | EV(IBV_EVENT_QP_REQ_ERR), false),
	/* the connection goes away */
	CASE("truncated header then close", send_truncated_header, 0, 0,
	     EV(IBV_EVENT_QP_FATAL), false),
	CASE("WRITE accepted, close mid-payload", send_partial_payload_close, 0,
	     0, EV(IBV_EVENT_QP_FATAL), true),
};

const size_t n_cases = sizeof(cases) / sizeof(cases[0]);
