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

#include "transport.h"

/* The socket is connected (active side) or accepted (passive side). */
void tcp_qp_conn_ready(struct tcp_qp *qp)
{
	int err = 0;
	socklen_t sl = sizeof(err);

	if (qp->active) {
		ssize_t n;

		if (getsockopt(qp->fd, SOL_SOCKET, SO_ERROR, &err, &sl) ||
		    err) {
			tcp_qp_fail_conn(qp);
			return;
		}
		n = send(qp->fd, qp->hello_out + qp->hello_sent,
			 RTCP_HELLO_LEN - qp->hello_sent,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN)
				tcp_qp_fail_conn(qp);
			return;
		}
		qp->hello_sent += n;
		if (qp->hello_sent < RTCP_HELLO_LEN)
			return;
		qp->epollout = true;
	} else {
		qp->epollout = false;
		if (tcp_engine_watch(qp->ctx, qp->fd, &qp->poll.p,
				     EPOLLIN | EPOLLRDHUP)) {
			tcp_qp_fail_conn(qp);
			return;
		}
	}
	qp->connecting = false;
	qp->connected = true;
	/* first frame tells the peer our credits (or that we use an SRQ) */
	qp->want_ack = true;
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
	if (qp->fd >= 0) {
		if (qp->ctx->engine)
			tcp_engine_unwatch(qp->ctx, qp->fd);
		/*
		 * Half-close rather than close: what the kernel still holds
		 * (a TERMINATE frame) reaches the peer before its FIN, and
		 * unread bytes here do not turn our FIN into a reset that
		 * could discard them at the peer.
		 */
		shutdown(qp->fd, SHUT_WR);
		if (qp->closing_fd >= 0)
			tcp_engine_linger(qp->ctx, qp->closing_fd);
		qp->closing_fd = qp->fd;
		qp->fd = -1;
	}
	tcp_qp_rx_mode_end(qp); /* the socket is gone: clears the mode */
	tcp_qp_live_disarm(qp);
	qp->connected = qp->connecting = false;
	qp->epollout = false;
	if (qp->rnr_since_ns) {
		qp->rnr_since_ns = 0;
		tcp_engine_timer_put(qp->ctx);
	}
	if (qp->rnr_nak_at_ns) {
		qp->rnr_nak_at_ns = 0;
		tcp_engine_timer_put(qp->ctx);
	}
	if (qp->unheard_fail_ns) {
		qp->unheard_fail_ns = 0;
		tcp_engine_timer_put(qp->ctx);
	}
	if (qp->rx_phase == RX_STALL)
		tcp_engine_timer_put(qp->ctx);
	qp->rx_phase = RX_HDR;
	qp->rx_lowat = 0; /* (a new socket starts at the default) */
	qp->rx_mr = NULL; /* not pinned between chunks */
	while (qp->resp_head) {
		struct tcp_resp *r = qp->resp_head;

		qp->resp_head = r->next;
		free(r); /* regions are not pinned between sends */
	}
	qp->resp_tail = NULL;
	qp->rd_resp_queued = 0;
	while (qp->tx_batch_resps) {
		struct tcp_resp *r = qp->tx_batch_resps;

		qp->tx_batch_resps = r->next;
		free(r);
	}
	qp->tx_iov_n = qp->tx_iov_i = 0;
}

/* UC after losing its connection: unsent work completes (lost). */
static void uc_drop_conn(struct tcp_qp *qp)
{
	tcp_qp_close_conn(qp);
	qp->conn_lost = true;
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
	if (!qp->fail_at_ns) {
		tcp_qp_close_conn(qp);
		tcp_qp_dead_peer_arm(qp);
	}
}
