// SPDX-License-Identifier: MIT
/* malformed: one case: a fresh QP and peer, the input, what must follow */
#include "malformed.h"

/* Connects the hostile peer and waits for the QP's first frame. */
bool peer_open(struct peer *p, struct ibv_qp *qp)
{
	struct rtcp_hdr h;
	int r;

	if (peer_open_raw(p, qp->qp_num, FAKE_QPN, qp->qp_num, true)) {
		fail("connect to the QP's port %u and send the hello: %s",
		     qp->qp_num >> 8, strerror(errno));
		return false;
	}
	/* the QP's first frame advertises its credits: proof it bound us */
	r = peer_recv(p, &h, DEADLINE_MS);
	if (r != RECV_FRAME) {
		fail("the QP took the connection (first frame within %d ms; "
		     "got %s)",
		     DEADLINE_MS, r == RECV_EOF ? "EOF" : "nothing");
		return false;
	}
	peer_consume(p, &h);
	return true;
}

struct ibv_qp *case_start(const char *section, struct peer *p)
{
	struct ibv_qp *qp;

	tc_section = section;
	printf("# %s\n", section);
	qp = make_qp();
	if (!qp)
		return NULL;
	if (!peer_open(p, qp)) {
		peer_close(p);
		ibv_destroy_qp(qp);
		return NULL;
	}
	return qp;
}

/*
 * A connection with this hello must be turned away: refused, or closed
 * (EOF within the deadline) without a single frame from the QP.
 */
void turned_away(uint32_t qpn, uint32_t src, uint32_t dst, bool magic_ok,
		 const char *what)
{
	struct peer p2;

	if (peer_open_raw(&p2, qpn, src, dst, magic_ok)) {
		ok("%s: turned away (%s)", what, strerror(errno));
	} else {
		bool eof = peer_until_eof(&p2, DEADLINE_MS);

		check(eof && !p2.rx_seq,
		      "%s: turned away (%s, %" PRIu64 " bytes of frames)", what,
		      eof ? "closed" : "still open", p2.rx_seq);
	}
	peer_close(&p2);
}

/*
 * After ERR: a new connection with a good hello takes nothing. It may be
 * closed, or held until the QP is reset and brought up again (a hello
 * that reaches a QP in error waits, as one that reaches a QP before RTR:
 * a pair restated one side at a time must not fail), but it gets no frame
 * and the QP stays in error. How long "nothing" is watched for:
 */
#define ERR_QUIET_MS 300

static void check_reconnect_refused(struct ibv_qp *qp)
{
	struct peer p2;
	bool eof;

	if (peer_open_raw(&p2, qp->qp_num, FAKE_QPN, qp->qp_num, true)) {
		ok("reconnect after ERR: turned away (%s)", strerror(errno));
		return;
	}
	eof = peer_until_eof(&p2, ERR_QUIET_MS);
	check(!p2.rx_seq && qp_state(qp) == IBV_QPS_ERR,
	      "reconnect after ERR: takes nothing (%s, %" PRIu64
	      " bytes of frames, QP %s)",
	      eof ? "closed" : "held", p2.rx_seq, state_str(qp_state(qp)));
	peer_close(&p2);
}

/* The completions the case left: none successful, the wanted one failed. */
static void check_wcs(const struct kase *k)
{
	struct ibv_wc wc[8];
	int nwc, i;

	nwc = drain_cq(wc, 8);
	for (i = 0; i < nwc && i < 8; i++) {
		if (wc[i].status == IBV_WC_SUCCESS)
			fail("unexpected successful completion wr_id %" PRIu64,
			     wc[i].wr_id);
		else
			note("completion wr_id %" PRIu64 ": %s", wc[i].wr_id,
			     ibv_wc_status_str(wc[i].status));
	}
	if (k->want_wc_id) {
		for (i = 0; i < nwc && i < 8; i++)
			if (wc[i].wr_id == k->want_wc_id)
				break;
		check(i < nwc && i < 8 && wc[i].status != IBV_WC_SUCCESS,
		      "work request %" PRIu64 " completes in error",
		      k->want_wc_id);
	}
	if (k->send == send_send_too_big)
		check(nwc == 1 && wc[0].wr_id == 77 &&
			      wc[0].status != IBV_WC_SUCCESS,
		      "the receive completes once, in error (%d completions)",
		      nwc);
}

void run_case(struct kase *k)
{
	struct ibv_qp *qp;
	struct peer p;
	long ms;

	qp = case_start(k->name, &p);
	if (!qp)
		return;
	k->send(&p, qp, k);

	ms = wait_err(qp);
	if (ms >= 0)
		ok("QP in ERR after %ld ms", ms);
	else
		fail("QP in ERR within %d ms (state %s)", DEADLINE_MS,
		     state_str(qp_state(qp)));
	check_async(qp, k->events);

	/* what the QP answered, up to its FIN */
	{
		bool eof = peer_until_eof(&p, DEADLINE_MS);

		check(eof, "connection closed by the QP (EOF) within %d ms",
		      DEADLINE_MS);
	}
	check(!p.bad, "every frame from the QP well formed");
	check(p.n_data_resp == 0, "no READ_RESP / ATOMIC_RESP sent (%d)",
	      p.n_data_resp);
	if (k->term_syn) {
		if (!p.n_term) {
			fail("TERMINATE with syndrome %d received",
			     k->term_syn);
		} else {
			check(be32toh(p.term.imm) == (uint32_t)k->term_syn,
			      "TERMINATE syndrome %u (expected %d)",
			      be32toh(p.term.imm), k->term_syn);
			check(p.term.msn == k->term_msn,
			      "TERMINATE names msn %u (expected %u)",
			      p.term.msn, k->term_msn);
		}
	} else if (p.n_term) {
		note("TERMINATE received anyway (syndrome %u, msn %u)",
		     p.term.imm, p.term.msn);
	}
	check(p.n_term <= 1, "at most one TERMINATE (%d)", p.n_term);

	check_wcs(k);

	if (k->reconnect)
		check_reconnect_refused(qp);

	check_memory(k->has_alt ? &k->alt : NULL);
	/* QP first: closing the socket first could fail a QP that (wrongly)
	 * survived, and its event would then name a destroyed QP */
	if (ibv_destroy_qp(qp))
		fail("ibv_destroy_qp: %s", strerror(errno));
	peer_close(&p);
}
