// SPDX-License-Identifier: MIT
/* malformed: hellos turned away; a second connection takes nothing over */
#include "malformed.h"

/*
 * Bad hellos are turned away without harming the QP; a good one after
 * them still connects and works.
 */
void hello_cases(void)
{
	struct ibv_qp *qp;
	struct peer p;
	const uint8_t *pl;
	uint32_t other_slot;

	tc_section = "hostile hellos";
	printf("# %s\n", tc_section);
	qp = make_qp();
	if (!qp)
		return;
	other_slot = (qp->qp_num & ~0xffu) | ((qp->qp_num + 1) & 0xff);

	turned_away(qp->qp_num, FAKE_QPN, qp->qp_num, false,
		    "hello with a bad magic");
	turned_away(qp->qp_num, FAKE_QPN + 1, qp->qp_num, true,
		    "hello from the wrong source QPN");
	turned_away(qp->qp_num, FAKE_QPN, other_slot, true,
		    "hello for an unused QP slot");
	/* half a hello, then the peer leaves */
	{
		struct sockaddr_storage ss;
		socklen_t sl = gid_sockaddr((uint16_t)(qp->qp_num >> 8), &ss);
		int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct rtcp_hello h = { .src_qpn = FAKE_QPN,
					.dst_qpn = qp->qp_num };
		uint8_t hb[RTCP_HELLO_LEN];

		struct conn_ends e;
		bool sent = false;

		rtcp_hello_encode(&h, hb);
		if (fd >= 0 && !connect(fd, (struct sockaddr *)&ss, sl) &&
		    conn_ends_of(fd, &e)) {
			sent = !send_all(fd, hb, RTCP_HELLO_OFF_DST_QPN);
			check(sent && wait_provider_read(fd, 0),
			      "the provider read the half hello");
		}
		if (fd >= 0)
			close(fd);
		if (sent)
			check(wait_provider_closed(&e),
			      "the provider closed the half-hello connection");
		else
			fail("half a hello sent");
	}
	check(qp_state(qp) == IBV_QPS_RTS,
	      "QP still RTS after bad and truncated hellos (%s)",
	      state_str(qp_state(qp)));
	check_no_async();

	if (peer_open(&p, qp)) {
		ok("a good hello after them is accepted");
		pl = payload_of(32, 0x44);
		write_to(&p, win_rkey(), win_addr(3000), 32, 0, 0x44);
		check(wait_landed(3000, pl, 32),
		      "the good connection's WRITE lands");
		shadow_write(R_WIN, 3000, pl, 32);
		check(qp_state(qp) == IBV_QPS_RTS, "QP RTS");
	}
	peer_close(&p);
	check(wait_err(qp) >= 0, "peer gone: QP in ERR");
	check_async(qp, EV(IBV_EVENT_QP_FATAL));
	check_memory(NULL);
	ibv_destroy_qp(qp);
}

/*
 * A second connection naming a QP that is already connected must not take
 * it over, and must not be adopted later by a new QP that reuses the QPN.
 */
void hijack_case(void)
{
	struct ibv_qp *qp, *qp2;
	struct peer p1, p2, p3;
	struct rtcp_hdr h;
	const uint8_t *pl;
	uint32_t qpn;
	int r;

	tc_section = "second connection to a connected QP";
	printf("# %s\n", tc_section);
	qp = make_qp();
	if (!qp)
		return;
	qpn = qp->qp_num;
	if (!peer_open(&p1, qp)) {
		peer_close(&p1);
		ibv_destroy_qp(qp);
		return;
	}
	if (peer_open_raw(&p2, qpn, FAKE_QPN, qpn, true)) {
		fail("second connect");
		peer_close(&p2);
		peer_close(&p1);
		ibv_destroy_qp(qp);
		return;
	}
	r = peer_recv(&p2, &h, 500);
	check(r != RECV_FRAME, "the intruder gets no frame (%s)",
	      r == RECV_EOF ? "closed" : "left waiting");
	/* the intruder writes; the owner writes */
	write_to(&p2, win_rkey(), win_addr(20000), 64, 0, 0x55);
	pl = payload_of(64, 0x56);
	write_to(&p1, win_rkey(), win_addr(20480), 64, 0, 0x56);
	check(wait_landed(20480, pl, 64), "the owner's WRITE still lands");
	shadow_write(R_WIN, 20480, pl, 64);
	sleep_ms(200);
	check(qp_state(qp) == IBV_QPS_RTS, "QP still RTS (%s)",
	      state_str(qp_state(qp)));
	check_no_async();
	check_memory(NULL); /* the intruder's WRITE did not land */

	/* the owner leaves and the QP goes; the intruder stays connected */
	peer_close(&p1);
	wait_err(qp);
	check_async(qp, EV(IBV_EVENT_QP_FATAL));
	ibv_destroy_qp(qp);

	tc_section = "stale connection and a QP reusing the QPN";
	printf("# %s\n", tc_section);
	qp2 = make_qp();
	if (!qp2) {
		peer_close(&p2);
		return;
	}
	if (qp2->qp_num != qpn)
		note("new QP 0x%x does not reuse 0x%x: adoption not tested",
		     qp2->qp_num, qpn);
	else
		ok("new QP reuses QPN 0x%x", qpn);
	if (peer_open(&p3, qp2))
		ok("the new QP's own peer is accepted");
	r = peer_recv(&p2, &h, 300);
	check(r != RECV_FRAME,
	      "the stale connection is not adopted by the new QP (%s)",
	      r == RECV_FRAME ? "it got a frame"
	      : r == RECV_EOF ? "closed"
			      : "left waiting");
	sleep_ms(100);
	check(qp_state(qp2) == IBV_QPS_RTS, "new QP RTS (%s)",
	      state_str(qp_state(qp2)));
	check_memory(NULL); /* the stale WRITE never lands */
	peer_close(&p2);
	peer_close(&p3);
	wait_err(qp2);
	check_async(qp2, EV(IBV_EVENT_QP_FATAL));
	ibv_destroy_qp(qp2);
}
