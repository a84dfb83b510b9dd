// SPDX-License-Identifier: MIT
/*
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
 * the whole budget; a peer whose kernel still answers is only slow and
 * never fails. A connection the kernel reports broken (reset, EOF, error)
 * fails after the budget too (tcp_qp_fail_conn).
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "qp.h"

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
	setsockopt(qp->fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(qp->fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(qp->fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	qp->live_ka_opts = true;
}

static void set_keepalive(struct tcp_qp *qp, bool on)
{
	int v = on;

	if (qp->fd < 0)
		return;
	if (on && !qp->live_ka_opts)
		keepalive_opts(qp);
	if (!setsockopt(qp->fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)))
		qp->live_ka = on;
}

/*
 * The connection is up. No TCP_USER_TIMEOUT: the engine decides (see
 * above), and a user timeout would also kill a healthy peer that stopped
 * reading. Keepalive runs only while requests are outstanding.
 */
void tcp_qp_live_connected(struct tcp_qp *qp)
{
	qp->live_ka = qp->live_ka_opts = false;
	qp->live_since = 0;
}

/* A request was posted: the engine watches the QP (see tcp_qp_live_arm). */
void tcp_qp_live_arm_slow(struct tcp_qp *qp)
{
	struct tcp_engine *e = qp->ctx->engine;

	if (!e)
		return;
	qp->live_armed = true;
	qp->live_next = 0; /* first look at the next pass: keepalive on */
	qp->live_since = 0;
	if (atomic_fetch_add(&e->live_qps, 1) == 0)
		tcp_engine_wake(qp->ctx);
}

/* Nothing to watch any more (caller holds qp->lock). */
void tcp_qp_live_disarm(struct tcp_qp *qp)
{
	if (!qp->live_armed)
		return;
	qp->live_armed = false;
	atomic_fetch_sub(&qp->ctx->engine->live_qps, 1);
	if (qp->live_ka)
		set_keepalive(qp, false);
	qp->live_ka = false;
}

/* The engine's look at an armed QP (every TCP_LIVE_PERIOD_NS at most). */
void tcp_qp_liveness(struct tcp_qp *qp, uint64_t now)
{
	uint64_t lim, silent, waited;
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (!qp->live_armed)
		return;
	if ((qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_SQD &&
	     qp->state != IBV_QPS_SQE) ||
	    qp->sq_done == qp->sq_head) {
		tcp_qp_live_disarm(qp);
		return;
	}
	if (!qp->connected || qp->fd < 0 || now < qp->live_next)
		return;
	lim = silence_limit_ns(qp);
	qp->live_next = now + lim / 8;
	if (!qp->live_ka)
		set_keepalive(qp, true);
	if (getsockopt(qp->fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return;
	if (!ti.tcpi_unacked && !ti.tcpi_probes) {
		qp->live_since = 0; /* the kernel waits for nothing */
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
	if (!qp->live_since)
		qp->live_since = now;
	silent = (uint64_t)ti.tcpi_last_ack_recv * 1000000ull;
	waited = now - qp->live_since < silent ? now - qp->live_since : silent;
	if (silent >= lim && (waited >= lim || ti.tcpi_probes >= 2))
		tcp_qp_fail_retry(qp);
}

/* The connection broke: the oldest outstanding request fails. */
void tcp_qp_fail_conn(struct tcp_qp *qp)
{
	if (qp->state == IBV_QPS_ERR)
		return;
	/*
	 * Acks that came with the connection's last bytes complete their WRs
	 * first (the rx pass that met EOF ended before its reap): a peer that
	 * acked everything and exited leaves nothing to fail.
	 */
	tcp_sq_reap(qp);
	if (qp->state == IBV_QPS_ERR)
		return;
	if (qp->type == IBV_QPT_UC) {
		/*
		 * UC has no acks and no retries: a NIC never notices a peer
		 * that went away. Messages from now on are lost, as
		 * unreliable messages may be; the QP stays usable.
		 */
		tcp_qp_drop_conn(qp);
		return;
	}
	/*
	 * A NIC notices a vanished peer only once its retries run out
	 * (timeout x (retry_cnt + 1)); programs that exit while their last
	 * messages are in flight (ibv_srq_pingpong) rely on that grace. So
	 * the QP fails after that budget, capped at TCP_DEAD_PEER_MAX_NS:
	 * a reset or closed connection will not come back.
	 */
	if (!qp->fail_at_ns) {
		uint64_t ns = retry_budget_ns(qp);

		if (!ns || ns > TCP_DEAD_PEER_MAX_NS)
			ns = TCP_DEAD_PEER_MAX_NS;
		qp->fail_at_ns = tcp_now_ns() + ns;
		tcp_qp_drop_conn_rc(qp);
		tcp_engine_timer_get(qp->ctx);
	}
}

/* The retry budget after a connection loss ran out. */
void tcp_qp_dead_peer_expired(struct tcp_qp *qp)
{
	qp->fail_at_ns = 0;
	tcp_engine_timer_put(qp->ctx);
	tcp_qp_fail_retry(qp);
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
	if (qp->type != IBV_QPT_RC || !ns || qp->unheard_fail_ns ||
	    qp->state != IBV_QPS_RTS)
		return;
	if (ns < TCP_UNHEARD_MIN_NS)
		ns = TCP_UNHEARD_MIN_NS;
	qp->unheard_fail_ns = tcp_now_ns() + ns;
	tcp_engine_timer_get(qp->ctx);
}

/* The deadline of tcp_qp_unheard_arm: the peer answered, or it fails. */
void tcp_qp_unheard_timer(struct tcp_qp *qp, uint64_t now)
{
	tcp_assert_held(&qp->lock);
	if (!qp->peer_heard && now < qp->unheard_fail_ns)
		return;
	qp->unheard_fail_ns = 0;
	tcp_engine_timer_put(qp->ctx);
	if (!qp->peer_heard)
		tcp_qp_fail_retry(qp);
}
