// SPDX-License-Identifier: MIT
/* malformed: positive controls: the scaffolding works, acks and pieces land */
#include "malformed.h"

/* ------------------------------------------------------------ controls */

/* WRITE, zero-length WRITE, READ back; returns the next msn. */
static uint32_t control_write_read(struct peer *p, uint32_t msn)
{
	struct rtcp_hdr h, r;
	const uint8_t *pl;
	uint8_t data[256], rd[64];

	/* WRITE 256 bytes into the window, asking for an immediate ack
	 * (acks are otherwise coalesced): lands, ACK comes back */
	pl = payload_of(256, 0x33);
	memcpy(data, pl, 256);
	write_to_f(p, win_rkey(), win_addr(100), 256, msn++, 0x33,
		   RTCP_F_ACK_REQ);
	check(wait_landed(100, data, 256),
	      "WRITE 256 bytes lands in the window");
	shadow_write(R_WIN, 100, data, 256);
	check(peer_wait_op(p, RTCP_OP_ACK, msn, &h, NULL, 0) == RECV_FRAME,
	      "ACK frame with ack_msn >= %u comes back", msn);

	/* zero-length WRITE with rkey 0: no key checked (docs/design.md) */
	hdr_init(&h, RTCP_OP_WRITE, msn++);
	h.flags = RTCP_F_ACK_REQ;
	peer_frame(p, &h, NULL, 0, 0, 0);
	check(peer_wait_op(p, RTCP_OP_ACK, msn, NULL, NULL, 0) == RECV_FRAME,
	      "zero-length WRITE with rkey 0 acked");

	/* READ 64 bytes back */
	hdr_init(&h, RTCP_OP_READ_REQ, msn++);
	h.rkey = win_rkey();
	h.raddr = win_addr(100);
	h.aux0 = 64;
	peer_frame(p, &h, NULL, 0, 0, 0);
	if (peer_wait_op(p, RTCP_OP_READ_RESP, 0, &r, rd, sizeof(rd)) ==
	    RECV_FRAME) {
		check(r.msn == h.msn && r.len == 64 && !memcmp(rd, data, 64),
		      "READ_REQ answered with the 64 bytes (msn %u, len %u)",
		      r.msn, r.len);
	} else {
		fail("READ_REQ answered with READ_RESP");
	}
	return msn;
}

/* The two atomics on an aligned word; returns the next msn. */
static uint32_t control_atomics(struct peer *p, uint32_t msn)
{
	struct rtcp_hdr h, r;
	uint64_t old, v;

	/* FETCH_AND_ADD and CMP_SWP on an aligned word */
	memcpy(&old, win() + 1024, 8);
	hdr_init(&h, RTCP_OP_ATOMIC_FADD, msn++);
	h.rkey = win_rkey();
	h.raddr = win_addr(1024);
	h.aux0 = 5;
	peer_frame(p, &h, NULL, 0, 0, 0);
	if (peer_wait_op(p, RTCP_OP_ATOMIC_RESP, 0, &r, NULL, 0) ==
	    RECV_FRAME) {
		memcpy(&v, win() + 1024, 8);
		check(r.msn == h.msn && r.aux0 == old && v == old + 5,
		      "FETCH_AND_ADD returns the old value and adds");
	} else {
		fail("FETCH_AND_ADD answered");
	}
	v = old + 5;
	hdr_init(&h, RTCP_OP_ATOMIC_CMP_SWP, msn++);
	h.flags = RTCP_F_ACK_REQ;
	h.rkey = win_rkey();
	h.raddr = win_addr(1024);
	h.aux0 = v;
	h.aux1 = 0x1122334455667788ull;
	peer_frame(p, &h, NULL, 0, 0, 0);
	if (peer_wait_op(p, RTCP_OP_ATOMIC_RESP, 0, &r, NULL, 0) ==
	    RECV_FRAME) {
		uint64_t now;

		memcpy(&now, win() + 1024, 8);
		check(r.aux0 == v && now == 0x1122334455667788ull,
		      "CMP_AND_SWP returns the old value and swaps");
		shadow_write(R_WIN, 1024, (const uint8_t *)&now, 8);
	} else {
		fail("CMP_AND_SWP answered");
	}
	return msn;
}

void control(void)
{
	struct ibv_qp *qp;
	struct peer p;
	uint32_t msn = 0;

	qp = case_start("control: well-formed frames", &p);
	if (!qp)
		return;
	ok("QP 0x%x accepted the hostile peer's connection on port %u",
	   qp->qp_num, qp->qp_num >> 8);

	msn = control_write_read(&p, msn);
	msn = control_atomics(&p, msn);
	check(p.max_ack == msn || peer_wait_op(&p, RTCP_OP_ACK, msn, NULL, NULL,
					       0) == RECV_FRAME,
	      "all %u requests acknowledged (ack_msn %u)", msn, p.max_ack);
	check(!p.bad, "every frame from the QP well formed");
	check(qp_state(qp) == IBV_QPS_RTS, "QP still RTS (%s)",
	      state_str(qp_state(qp)));
	check_no_async();
	check(drain_cq(NULL, 0) == 0, "no completions on the responder");
	check_memory(NULL);

	/* the peer leaves cleanly: the QP fails like a dead peer */
	peer_close(&p);
	{
		long ms = wait_err(qp);

		check(ms >= 0, "peer gone: QP in ERR (%ld ms)", ms);
		check_async(qp, EV(IBV_EVENT_QP_FATAL));
	}
	ibv_destroy_qp(qp);
}

/*
 * A peer that acknowledges the QP's last WRITE and closes at once: the ACK
 * and the end of the stream arrive together, yet the WRITE was done and
 * must complete successfully, not as a dead peer's IBV_WC_RETRY_EXC_ERR
 * (ibv_srq_pingpong and perftest -R exit this way).
 */
void ack_then_close(void)
{
	struct ibv_sge sge = { .addr = win_addr(RD_OFF),
			       .length = 64,
			       .lkey = reg[R_WIN].mr->lkey };
	struct ibv_send_wr wr = { .wr_id = 77,
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = IBV_WR_RDMA_WRITE,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_send_wr *bad;
	struct ibv_qp *qp;
	struct ibv_wc wc;
	struct rtcp_hdr req, h;
	struct peer p;
	uint64_t t0;
	int n = 0;

	qp = case_start("control: ACK then close", &p);
	if (!qp)
		return;
	wr.wr.rdma.remote_addr = 0x10000;
	wr.wr.rdma.rkey = 0x1234;
	if (ibv_post_send(qp, &wr, &bad)) {
		fail("ibv_post_send RDMA_WRITE: %s", strerror(errno));
	} else if (peer_wait_op(&p, RTCP_OP_WRITE, 0, &req, NULL, 0) !=
		   RECV_FRAME) {
		fail("the QP sent its WRITE");
	} else {
		int one = 1;

		/* corked: the ACK and the FIN leave in one segment, so the
		 * QP reads both in one pass */
		setsockopt(p.fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
		hdr_init(&h, RTCP_OP_ACK, 0);
		h.ack_msn = req.msn + 1;
		peer_frame(&p, &h, NULL, 0, 0, 0);
		shutdown(p.fd, SHUT_WR);
		peer_close(&p);
		t0 = now_ms();
		while (now_ms() - t0 < DEADLINE_MS &&
		       (n = ibv_poll_cq(cq, 1, &wc)) == 0)
			sleep_ms(1);
		check(n == 1 && wc.wr_id == 77 && wc.status == IBV_WC_SUCCESS,
		      "acked WRITE completes with success (%s, wr_id %llu)",
		      n == 1 ? ibv_wc_status_str(wc.status) : "no completion",
		      n == 1 ? (unsigned long long)wc.wr_id : 0ull);
	}
	/* the peer is gone: the QP then fails like a dead peer */
	check(wait_err(qp) >= 0, "peer gone: QP in ERR");
	check_async(qp, EV(IBV_EVENT_QP_FATAL));
	drain_cq(NULL, 0);
	ibv_destroy_qp(qp);
}

/*
 * The check that the trickled WRITE landed, saying on failure where the
 * first wrong byte is and whether it still holds the region's initial
 * pattern (never written) or something else (written twice, or wrong).
 */
static void report_landing(const uint8_t *dst, const uint8_t *pl, size_t len,
			   size_t off, uint64_t ms)
{
	size_t i, wrong = 0, first = len;

	for (i = 0; i < len; i++) {
		if (dst[i] == pl[i])
			continue;
		if (first == len)
			first = i;
		wrong++;
	}
	if (first == len) {
		check(true, "all of it landed (in %llu ms)",
		      (unsigned long long)ms);
		return;
	}
	check(false,
	      "all of it landed (after %llu ms: %zu wrong bytes, the first at "
	      "%zu: 0x%02x, expected 0x%02x, initial pattern 0x%02x)",
	      (unsigned long long)ms, wrong, first, dst[first], pl[first],
	      pattern(R_BIG, PAD + off + first));
}

/*
 * A large WRITE whose payload arrives in pieces, with pauses between
 * them, then a zero-length WRITE asking for an ack. While the engine
 * places a large payload it asks the socket to wake it only once more of
 * the frame has arrived (SO_RCVLOWAT); that mark must never exceed what
 * the frame still owes, and must drop back when the frame ends, or the
 * tail of the payload, or the next small frame, would never wake it.
 * The pieces are chosen so that both mistakes hang: the first pause
 * leaves 672 KiB owed (under the 1 MiB ceiling), the next two pieces
 * leave 32 KiB owed, and the frame after the WRITE is a bare header.
 */
void trickled_write(void)
{
	static const size_t piece[] = { 96 << 10, 256 << 10, 384 << 10,
					32 << 10 };
	const size_t len = 768 << 10, off = 4096;
	uint8_t *dst = reg[R_BIG].mem + PAD + off;
	const uint8_t *pl;
	struct ibv_qp *qp;
	struct rtcp_hdr h;
	struct peer p;
	size_t i, at = 0;
	uint64_t t0;
	int r = 0;

	qp = case_start("control: a large WRITE that arrives in pieces", &p);
	if (!qp)
		return;
	pl = payload_of(len, 0x5c);
	hdr_init(&h, RTCP_OP_WRITE, 0);
	h.rkey = reg[R_BIG].mr->rkey;
	h.raddr = (uint64_t)(uintptr_t)dst;
	h.len = (uint32_t)len;
	r = peer_frame(&p, &h, NULL, 0, 0, 0);
	for (i = 0; !r && i < sizeof(piece) / sizeof(piece[0]); i++) {
		sleep_ms(50);
		r = send_all(p.fd, pl + at, piece[i]);
		at += piece[i];
	}
	p.tx_seq += at;
	check(!r && at == len,
	      "the peer sent the WRITE's %zu bytes in %zu pieces", len,
	      sizeof(piece) / sizeof(piece[0]));
	t0 = now_ms();
	while (memcmp(dst, pl, len) && now_ms() - t0 < DEADLINE_MS)
		sleep_ms(2);
	report_landing(dst, pl, len, off, now_ms() - t0);
	memcpy(reg[R_BIG].shadow + PAD + off, pl, len);
	hdr_init(&h, RTCP_OP_WRITE, 1);
	h.flags = RTCP_F_ACK_REQ;
	peer_frame(&p, &h, NULL, 0, 0, 0);
	check(peer_wait_op(&p, RTCP_OP_ACK, 2, NULL, NULL, 0) == RECV_FRAME,
	      "a bare WRITE header after it is read and both are acked");
	check(!p.bad, "every frame from the QP well formed");
	check(qp_state(qp) == IBV_QPS_RTS, "QP still RTS (%s)",
	      state_str(qp_state(qp)));
	check_no_async();
	check_memory(NULL);
	peer_close(&p);
	check(wait_err(qp) >= 0, "peer gone: QP in ERR");
	check_async(qp, EV(IBV_EVENT_QP_FATAL));
	ibv_destroy_qp(qp);
}
