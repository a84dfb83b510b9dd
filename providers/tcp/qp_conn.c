// SPDX-License-Identifier: MIT
/*
 * A QP's connection coming up (the socket connected or accepted, the
 * hello sent) and going away (closed at error, reset or destroy; lost
 * under the QP). The rendezvous that finds the socket is conn.c's.
 * Caller holds qp->lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cq_progress.h"
#include "debug.h"
#include "sec_conn.h"
#include "stat.h"
#include "transport.h"

/*
 * The key exchange of the connecting side (sec_conn.c), as far as the
 * socket allows; true once the SAs are set.
 */
static bool conn_secure(struct tcp_qp *qp)
{
	enum tcp_sec_rc rc = tcp_sec_client(qp);

	switch (rc) {
	case TCP_SEC_DONE:
		return true;
	case TCP_SEC_WAIT_IN:
	case TCP_SEC_WAIT_OUT:
		/* readable wakes us for the peer's records; writable only
		 * while ours wait for room, or the engine would spin */
		tcp_engine_rewatch(
			qp->ctx, qp->conn.fd, &qp->conn.poll.p,
			EPOLLIN | EPOLLRDHUP |
				(rc == TCP_SEC_WAIT_OUT ? EPOLLOUT : 0));
		return false;
	case TCP_SEC_FAIL_CONN:
		tcp_qp_fail_conn(qp);
		return false;
	default:
		/* other credentials or mode: no retry can succeed. A QP not
		 * at RTS yet fails when it gets there: the application's
		 * ibv_modify_qp(RTS) must not meet a QP in ERR */
		if (qp->state == IBV_QPS_RTR) {
			qp->sec.refused = true;
			tcp_qp_close_conn(qp);
		} else {
			tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
		}
		return false;
	}
}

/* The socket is connected (active side) or accepted (passive side). */
void tcp_qp_conn_ready(struct tcp_qp *qp)
{
	int err = 0;
	socklen_t sl = sizeof(err);

	if (qp->conn.active) {
		ssize_t n;

		if (getsockopt(qp->conn.fd, SOL_SOCKET, SO_ERROR, &err, &sl) ||
		    err) {
			tcp_qp_fail_conn(qp);
			return;
		}
		if (qp->sec.mode == TCP_PSP_OFF && tcp_sec_conn_on(qp)) {
			if (!conn_secure(qp))
				return;
			goto up;
		}
		n = send(qp->conn.fd, qp->conn.hello_out + qp->conn.hello_sent,
			 RTCP_HELLO_LEN - qp->conn.hello_sent,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN)
				tcp_qp_fail_conn(qp);
			return;
		}
		qp->conn.hello_sent += n;
		if (qp->conn.hello_sent < RTCP_HELLO_LEN)
			return;
	up:
		qp->conn.epollout = true;
	} else {
		qp->conn.epollout = false;
		if (tcp_engine_watch(qp->ctx, qp->conn.fd, &qp->conn.poll.p,
				     EPOLLIN | EPOLLRDHUP)) {
			tcp_qp_fail_conn(qp);
			return;
		}
	}
	qp->conn.connecting = false;
	qp->conn.connected = true;
	tcp_cq_ready_add(qp);
	tcp_stat_qp_conn(qp, qp->conn.fd);
	TCP_DBG_QP(RTCP_DBG_CONN, qp, "connection up (%s, peer qp %u, %s)",
		   qp->conn.active ? "connected" : "accepted",
		   qp->attr.dest_qp_num, tcp_debug_addrs(qp->conn.fd));
	/* first frame tells the peer our credits (or that we use an SRQ) */
	qp->resp.want_ack = true;
	tcp_qp_live_connected(qp); /* dead-peer detection: qp_timers.c */
	tcp_qp_set_epollout(qp, false);
	tcp_qp_tx(qp);
	tcp_qp_rx(qp);
}

/*
 * Closes the socket (the engine lingers over it) and drops what only the
 * connection needed: its timers, the frame in progress, queued responses.
 */
void tcp_qp_close_conn(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	if (qp->conn.fd >= 0) {
		TCP_DBG_QP(RTCP_DBG_CONN, qp, "connection closed (%s)",
			   tcp_debug_addrs(qp->conn.fd));
		if (qp->ctx->engine)
			tcp_engine_unwatch(qp->ctx, qp->conn.fd);
		tcp_cq_ready_del(qp);
		/*
		 * Half-close rather than close: what the kernel still holds
		 * (a TERMINATE frame) reaches the peer before its FIN, and
		 * unread bytes here do not turn our FIN into a reset that
		 * could discard them at the peer.
		 */
		shutdown(qp->conn.fd, SHUT_WR);
		if (qp->conn.closing_fd >= 0)
			tcp_engine_linger(qp->ctx, qp->conn.closing_fd);
		qp->conn.closing_fd = qp->conn.fd;
		qp->conn.fd = -1;
	}
	tcp_qp_rx_mode_end(qp); /* the socket is gone: clears the mode */
	tcp_sec_conn_end(qp);
	tcp_qp_term_cancel(qp);
	tcp_qp_live_disarm(qp);
	qp->conn.connected = qp->conn.connecting = false;
	qp->conn.epollout = false;
	if (qp->sq.rnr_since_ns) {
		qp->sq.rnr_since_ns = 0;
		tcp_qp_timer_put(qp);
	}
	if (qp->sq.rnr_nak_at_ns) {
		qp->sq.rnr_nak_at_ns = 0;
		tcp_qp_timer_put(qp);
	}
	if (qp->conn.unheard_fail_ns) {
		qp->conn.unheard_fail_ns = 0;
		tcp_qp_timer_put(qp);
	}
	if (qp->rx.phase == RX_STALL)
		tcp_qp_timer_put(qp);
	qp->rx.phase = RX_HDR;
	tcp_rx_seg_reset(qp);
	qp->rx.lowat = 0; /* (a new socket starts at the default) */
	qp->rx.mr = NULL; /* not pinned between chunks */
	while (qp->resp.head) {
		struct tcp_resp *r = qp->resp.head;

		qp->resp.head = r->next;
		free(r); /* regions are not pinned between sends */
	}
	qp->resp.tail = NULL;
	qp->resp.rd_queued = 0;
	while (qp->tx.batch_resps) {
		struct tcp_resp *r = qp->tx.batch_resps;

		qp->tx.batch_resps = r->next;
		free(r);
	}
	qp->tx.iov_n = qp->tx.iov_i = 0;
	tcp_tx_sec_reset(qp); /* a secured frame half sent, its buffers */
}

/* UC after losing its connection: unsent work completes (lost). */
static void uc_drop_conn(struct tcp_qp *qp)
{
	tcp_qp_close_conn(qp);
	qp->conn.lost = true;
	tcp_uc_drain(qp);
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
	TCP_DBG_QP(RTCP_DBG_CONN, qp, "connection lost");
	if (qp->type == IBV_QPT_UC) {
		/*
		 * UC has no acks and no retries: a NIC never notices a peer
		 * that went away. Messages from now on are lost, as
		 * unreliable messages may be; the QP stays usable.
		 */
		uc_drop_conn(qp);
		return;
	}
	/*
	 * A NIC notices a vanished peer only once its retries run out
	 * (timeout x (retry_cnt + 1)); programs that exit while their last
	 * messages are in flight (ibv_srq_pingpong) rely on that grace. So
	 * the QP fails after that budget (tcp_qp_dead_peer_arm).
	 */
	if (!qp->conn.fail_at_ns) {
		tcp_qp_close_conn(qp);
		tcp_qp_dead_peer_arm(qp);
	}
}
