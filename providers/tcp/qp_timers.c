// SPDX-License-Identifier: MIT
/*
 * A QP's deadlines, looked at by the engine's timer pass (tcp_qp_timers)
 * and its dead-peer pass (tcp_qp_liveness): a request waiting for the
 * peer's receive (RNR), a peer that never answers, a peer that died.
 * Caller holds qp->lock.
 *
 * Is the peer of an RC QP still there? A NIC retries an unanswered request
 * retry_cnt times, `timeout` apart (4.096 us << timeout), then fails it with
 * IBV_WC_RETRY_EXC_ERR. Over TCP the kernel does the retrying, and two of
 * its verdicts are wrong for RDMA:
 *
 * - it never gives up on a peer whose receive window is closed while the
 *   peer's kernel answers the window probes (a stopped or slow receiver);
 *   a NIC keeps placing such a peer's data, so that is right -- but
 *   TCP_USER_TIMEOUT, since Linux 5.11, aborts exactly that connection,
 *   so it cannot carry the QP's budget;
 * - a requester whose only outstanding request was already TCP-acked (a
 *   READ whose response cannot come back) has nothing unacknowledged:
 *   the kernel waits forever, where a NIC times the READ out.
 *
 * So the engine looks at each RC QP with requests outstanding, every
 * eighth of its budget (of 1 s at least; TCP_INFO, one getsockopt), and
 * keepalive probes run meanwhile so that an idle connection has something
 * to be answered.
 * The peer is dead when the kernel has been waiting (unacknowledged data,
 * or unanswered window/keepalive probes) and no ACK at all has come for
 * the whole budget -- and, for unacknowledged data, at least
 * TCP_LIVE_MIN_RESENDS of the kernel's resends of it went unanswered: a
 * live peer whose kernel drops segments under memory pressure backs the
 * sender's RTO off past the budget, so the budget can pass in silence
 * before the first resend, which the peer then answers (docs/design.md,
 * "Reliability"). A peer whose kernel still answers is only slow and never
 * fails. A connection the kernel reports broken (reset, EOF, error)
 * fails after the budget too (tcp_qp_fail_conn).
 */
#include <endian.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

#include "debug.h"
#include "stat.h"
#include "transport.h"

/* longest wait between losing the peer and failing the QP */
#define TCP_DEAD_PEER_MAX_NS 1000000000ull
/* shortest wait for a peer that has not answered yet (tcp_qp_unheard_arm) */
#define TCP_UNHEARD_MIN_NS 1000000000ull
/* longest extra wait for a peer whose TCP connection is up but whose
 * handshake or hello has not finished (unheard_timer) */
#define TCP_UNHEARD_GREET_MAX_NS 10000000000ull
/* how often such a wait looks again */
#define TCP_UNHEARD_GREET_STEP_NS 100000000ull
/* shortest silence of a waiting kernel that makes a peer dead */
#define TCP_LIVE_MIN_NS 1000000000ull
/* ...and, with data unacknowledged, how many of the kernel's resends of
 * it must have gone unanswered (tcpi_retransmits) */
#define TCP_LIVE_MIN_RESENDS 3

uint64_t tcp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* The peer is gone: the oldest request fails. */
static void fail_retry(struct tcp_qp *qp, const char *why)
{
	TCP_DBG_QP(RTCP_DBG_QP, qp, "retry budget out: %s", why);
	if (qp->state != IBV_QPS_ERR)
		tcp_qp_fail_oldest(qp, IBV_WC_RETRY_EXC_ERR);
}

/*
 * The QP's retry budget, timeout x (retry_cnt + 1); 0 for timeout 0
 * (wait forever, as a NIC does).
 */
static uint64_t retry_budget_ns(const struct tcp_qp *qp)
{
	if (!qp->attr.timeout)
		return 0;
	return (4096ull << qp->attr.timeout) * (qp->attr.retry_cnt + 1);
}

/*
 * How long the kernel must wait without an ACK before the peer is dead:
 * the budget, but never less than TCP_LIVE_MIN_NS. TCP resends a lost
 * segment only after 200 ms (its minimum RTO), then 400 ms later, and a
 * peer may delay its ACK 200 ms: a NIC-sized budget (ibv_rc_pingpong's is
 * 0.5 s) would fail QPs on a merely lossy path.
 */
static uint64_t silence_limit_ns(const struct tcp_qp *qp)
{
	uint64_t b = retry_budget_ns(qp);

	return b > TCP_LIVE_MIN_NS ? b : TCP_LIVE_MIN_NS;
}

/*
 * Keepalive probes after 1 s of silence; its own verdict (KEEPCNT probes
 * unanswered) comes long after the engine's, so the kernel never decides
 * alone. Set when first needed, not at connection time: a connection may
 * come up at RTR, before RTS gives the QP its timeout.
 */
static void keepalive_opts(struct tcp_qp *qp)
{
	uint64_t lim = silence_limit_ns(qp) / 1000000000ull;
	int idle = 1, cnt = 127, intvl = lim / 64 + 1;

	if (intvl > 32767)
		intvl = 32767;
	setsockopt(qp->conn.fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(qp->conn.fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl,
		   sizeof(intvl));
	setsockopt(qp->conn.fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	qp->conn.live_ka_opts = true;
}

static void set_keepalive(struct tcp_qp *qp, bool on)
{
	int v = on;

	if (qp->conn.fd < 0)
		return;
	if (on && !qp->conn.live_ka_opts)
		keepalive_opts(qp);
	if (!setsockopt(qp->conn.fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)))
		qp->conn.live_ka = on;
}

/*
 * The connection is up. No TCP_USER_TIMEOUT: the engine decides (see
 * above), and a user timeout would also kill a healthy peer that stopped
 * reading. Keepalive runs only while requests are outstanding.
 */
void tcp_qp_live_connected(struct tcp_qp *qp)
{
	qp->conn.live_ka = qp->conn.live_ka_opts = false;
	qp->conn.live_since = 0;
}

/* A request was posted: the engine watches the QP (see tcp_qp_live_arm). */
void tcp_qp_live_arm_slow(struct tcp_qp *qp)
{
	struct tcp_engine *e = qp->ctx->engine;

	if (!e)
		return;
	qp->conn.live_armed = true;
	qp->conn.live_next = 0; /* first look at the next pass: keepalive on */
	qp->conn.live_since = 0;
	if (atomic_fetch_add(&e->live_qps, 1) == 0)
		tcp_engine_wake(qp->ctx);
}

/* Nothing to watch any more (caller holds qp->lock). */
void tcp_qp_live_disarm(struct tcp_qp *qp)
{
	if (!qp->conn.live_armed)
		return;
	qp->conn.live_armed = false;
	atomic_fetch_sub(&qp->ctx->engine->live_qps, 1);
	if (qp->conn.live_ka)
		set_keepalive(qp, false);
	qp->conn.live_ka = false;
}

/* The engine's look at an armed QP (every TCP_LIVE_PERIOD_NS at most). */
void tcp_qp_liveness(struct tcp_qp *qp, uint64_t now)
{
	uint64_t lim, silent, waited;
	struct tcp_info ti;
	bool resent; /* no data unacknowledged, or resent enough times */
	socklen_t len = sizeof(ti);

	if (!qp->conn.live_armed)
		return;
	if ((qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_SQD &&
	     qp->state != IBV_QPS_SQE) ||
	    qp->sq.done == qp->sq.head) {
		tcp_qp_live_disarm(qp);
		return;
	}
	if (!qp->conn.connected || qp->conn.fd < 0 || now < qp->conn.live_next)
		return;
	lim = silence_limit_ns(qp);
	qp->conn.live_next = now + lim / 8;
	if (!qp->conn.live_ka)
		set_keepalive(qp, true);
	if (getsockopt(qp->conn.fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return;
	if (!ti.tcpi_unacked && !ti.tcpi_probes) {
		qp->conn.live_since = 0; /* the kernel waits for nothing */
		return;
	}
	/*
	 * The kernel waits for an ACK: since live_since at least (as far as
	 * these looks tell, lim/8 apart), and none came for
	 * tcpi_last_ack_recv. Streaming traffic waits at every look, but its
	 * ACKs keep the second short; the shorter of the two is how long the
	 * kernel has waited unanswered. The peer is dead when that lasted
	 * the whole limit, as a NIC's request unanswered through all its
	 * retries. A requester that waits for a response its peer's kernel
	 * already acknowledged the request for (a READ) has nothing to
	 * resend: there the peer is dead when nothing came for the limit and
	 * two keepalive probes in a row (1 s apart) went unanswered.
	 */
	if (!qp->conn.live_since)
		qp->conn.live_since = now;
	silent = (uint64_t)ti.tcpi_last_ack_recv * 1000000ull;
	waited = now - qp->conn.live_since < silent ? now - qp->conn.live_since
						    : silent;
	if (silent < lim)
		return;
	resent =
		!ti.tcpi_unacked || ti.tcpi_retransmits >= TCP_LIVE_MIN_RESENDS;
	if ((waited >= lim && resent) || ti.tcpi_probes >= 2) {
		TCP_DBG_QP(RTCP_DBG_QP, qp,
			   "no ACK for %u ms: unacked %u, probes %u, "
			   "retransmits %u, backoff %u, rto %u us",
			   ti.tcpi_last_ack_recv, ti.tcpi_unacked,
			   ti.tcpi_probes, ti.tcpi_retransmits, ti.tcpi_backoff,
			   ti.tcpi_rto);
		fail_retry(qp, "the peer's kernel is silent");
	} else if (waited >= lim) {
		TCP_DBG_QP(RTCP_DBG_QP, qp,
			   "no ACK for %u ms, %u of the kernel's resends "
			   "unanswered (rto %u us): waiting",
			   ti.tcpi_last_ack_recv, ti.tcpi_retransmits,
			   ti.tcpi_rto);
	}
}

/*
 * The connection of an RC QP broke (tcp_qp_fail_conn): it fails after its
 * retry budget, capped at TCP_DEAD_PEER_MAX_NS: a reset or closed
 * connection will not come back.
 */
void tcp_qp_dead_peer_arm(struct tcp_qp *qp)
{
	uint64_t ns = retry_budget_ns(qp);

	if (!ns || ns > TCP_DEAD_PEER_MAX_NS)
		ns = TCP_DEAD_PEER_MAX_NS;
	qp->conn.fail_at_ns = tcp_now_ns() + ns;
	tcp_qp_timer_get(qp);
}

/* The retry budget after a connection loss ran out. */
static void dead_peer_expired(struct tcp_qp *qp)
{
	qp->conn.fail_at_ns = 0;
	tcp_qp_timer_put(qp);
	fail_retry(qp, "the connection broke");
}

/* Stops the pending "peer vanished" deadline, if any. */
void tcp_qp_dead_peer_cancel(struct tcp_qp *qp)
{
	if (qp->conn.fail_at_ns) {
		qp->conn.fail_at_ns = 0;
		tcp_qp_timer_put(qp);
	}
}

/*
 * Work was posted to an RC QP that has not heard from its peer: a NIC
 * would retransmit into a peer QP that is not at RTR (or does not exist)
 * and give up after its retry budget. Never before TCP_UNHEARD_MIN_NS:
 * bringing a connection up (connect, hello, accept, bind) takes our
 * engines some time, a NIC's first packet does not.
 */
void tcp_qp_unheard_arm(struct tcp_qp *qp)
{
	uint64_t ns = retry_budget_ns(qp);

	tcp_assert_held(&qp->lock);
	if (qp->type != IBV_QPT_RC || !ns || qp->conn.unheard_fail_ns ||
	    qp->state != IBV_QPS_RTS)
		return;
	if (ns < TCP_UNHEARD_MIN_NS)
		ns = TCP_UNHEARD_MIN_NS;
	qp->conn.unheard_fail_ns = tcp_now_ns() + ns;
	qp->conn.unheard_cap_ns =
		qp->conn.unheard_fail_ns + TCP_UNHEARD_GREET_MAX_NS;
	tcp_qp_timer_get(qp);
}

/* A connecting socket's TCP handshake is done (it has a peer). */
static bool sock_connected(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	return !getpeername(fd, (struct sockaddr *)&ss, &sl);
}

/*
 * The peer is being greeted: the key exchange on our TCP connection to it
 * is under way and the peer has not said that its QP waits for RTR
 * (RTCP_SA_WAIT), or the connection is up and we wait for the first
 * frame, or (no connection of ours yet) our engine still greets accepted
 * connections, one of which may be the peer's. The peer's QP exists and
 * the engines answer, only slowly: hundreds of TLS handshakes at once on
 * busy CPUs. A NIC's first packet needs no such step, so this time is not
 * the retry budget's.
 */
static bool greeting(const struct tcp_qp *qp)
{
	if (qp->conn.fd < 0)
		return atomic_load_explicit(&qp->ctx->rv_greeting,
					    memory_order_relaxed) > 0;
	if (!qp->conn.connecting)
		return true;
	if (qp->sec.peer_waits)
		return false;
	/* in the key exchange or the hello, or past the SYN: the kernel has
	 * the connection up, and our engine, busy with a burst of others,
	 * has yet to see it */
	return qp->sec.hs || qp->conn.hello_sent || sock_connected(qp->conn.fd);
}

/* The deadline of tcp_qp_unheard_arm: the peer answered, or it fails. */
static void unheard_timer(struct tcp_qp *qp, uint64_t now)
{
	tcp_assert_held(&qp->lock);
	if (!qp->sq.peer_heard && now < qp->conn.unheard_fail_ns)
		return;
	if (!qp->sq.peer_heard && greeting(qp) &&
	    now < qp->conn.unheard_cap_ns) {
		qp->conn.unheard_fail_ns = now + TCP_UNHEARD_GREET_STEP_NS;
		return;
	}
	qp->conn.unheard_fail_ns = 0;
	tcp_qp_timer_put(qp);
	if (!qp->sq.peer_heard)
		fail_retry(qp, "the peer never answered");
}

static uint64_t rnr_timer_ns(uint8_t t)
{
	/* IB spec encoding of the RNR NAK timer, in microseconds x 100 */
	static const uint32_t tab[32] = {
		65536, 1,    2,	   3,	  4,	 6,	8,     12,
		16,    24,   32,   48,	  64,	 96,	128,   192,
		256,   384,  512,  768,	  1024,	 1536,	2048,  3072,
		4096,  6144, 8192, 12288, 16384, 24576, 32768, 49152,
	};

	return (uint64_t)tab[t & 31] * 10000;
}

/* The responder NAKed request h->msn for want of a receive. */
void tcp_qp_rnr_nak_arm(struct tcp_qp *qp, const struct rtcp_hdr *h)
{
	uint32_t t = be32toh(h->imm);

	if (qp->type != IBV_QPT_RC || qp->attr.rnr_retry == 7 ||
	    qp->sq.rnr_nak_at_ns || !tcp_sq_find_sent(qp, h->msn))
		return;
	qp->sq.rnr_nak_msn = h->msn;
	tcp_stat_add(qp->stat, RTCP_STAT_RNR_WAITS, 1);
	qp->sq.rnr_nak_at_ns =
		tcp_now_ns() + (qp->attr.rnr_retry + 1) * rnr_timer_ns(t & 31);
	tcp_qp_timer_get(qp);
}

/*
 * A request the responder NAKed for want of a receive: done once acked
 * (a receive came), failed once the RNR budget ran out -- the QP then
 * goes to error, as a NIC's requester does.
 */
static void rnr_nak_timer(struct tcp_qp *qp, uint64_t now)
{
	struct tcp_send_wqe *w = tcp_sq_find_sent(qp, qp->sq.rnr_nak_msn);
	bool waiting = w && !msn_before(qp->sq.rnr_nak_msn, qp->sq.peer_acked);

	if (waiting && now < qp->sq.rnr_nak_at_ns)
		return;
	qp->sq.rnr_nak_at_ns = 0;
	tcp_qp_timer_put(qp);
	if (waiting && qp->state != IBV_QPS_ERR)
		tcp_qp_fail_oldest(qp, IBV_WC_RNR_RETRY_EXC_ERR);
}

/*
 * The SEND at sq.tx waits for credit (rnr_since_ns): in RTS it fails with
 * RNR_RETRY_EXC_ERR once the RNR budget ran out; with rnr_retry 7 (wait
 * for ever), or out of RTS, each pass tries to send it again.
 */
static void rnr_credit_timer(struct tcp_qp *qp, uint64_t now)
{
	if (qp->sq.rnr_since_ns && qp->attr.rnr_retry != 7 &&
	    qp->state == IBV_QPS_RTS) {
		uint64_t budget = (qp->attr.rnr_retry + 1) *
				  rnr_timer_ns(qp->attr.min_rnr_timer);

		/* (the clock may start later than now: rnr_clock_start) */
		if (now > qp->sq.rnr_since_ns &&
		    now - qp->sq.rnr_since_ns > budget) {
			struct tcp_send_wqe *w =
				&qp->sq.wqe[qp->sq.tx & (qp->sq.size - 1)];

			qp->sq.rnr_since_ns = 0;
			tcp_qp_timer_put(qp);
			w->state = WQE_DONE;
			w->status = IBV_WC_RNR_RETRY_EXC_ERR;
			qp->sq.tx++;
			tcp_sq_reap(qp);
		}
	} else if (qp->sq.rnr_since_ns) {
		tcp_qp_tx(qp);
	}
}

/* The engine's look at a QP with deadlines (and at every tick). */
void tcp_qp_timers(struct tcp_qp *qp, uint64_t now)
{
	const struct tcp_engine *e = qp->ctx->engine;

	tcp_assert_held(&qp->lock);
	if (qp->conn.fail_at_ns && now >= qp->conn.fail_at_ns) {
		dead_peer_expired(qp);
		return;
	}
	if (qp->resp.term_at_ns) {
		tcp_qp_term_timer(qp, now);
		return;
	}
	if (e->tick || e->lease_due) {
		tcp_qp_flush(qp); /* a held-back ack or burst */
		if (qp->prog.rx_tick)
			tcp_qp_rx_mode_check(qp, now, e->lease_due);
	}
	if (qp->rx.phase == RX_STALL)
		tcp_qp_rx(qp);
	if (qp->sq.rnr_nak_at_ns)
		rnr_nak_timer(qp, now);
	if (qp->conn.unheard_fail_ns)
		unheard_timer(qp, now);
	rnr_credit_timer(qp, now);
}
