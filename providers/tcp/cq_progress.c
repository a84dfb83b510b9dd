// SPDX-License-Identifier: MIT
/* Progress from a CQ's side: see cq_progress.h. */
#include "cq_progress.h"
#include "qp.h"

/* ibv_req_notify_cq: the application will sleep; the engine reads. */
void tcp_engine_takes_rx(struct tcp_cq *cq)
{
	uint32_t i;

	tcp_mutex_lock(&cq->qps_lock);
	for (i = 0; i < cq->nqps; i++) {
		struct tcp_qp *qp = cq->qps[i];

		tcp_mutex_lock(&qp->lock);
		if (!qp->dead) {
			tcp_qp_engine_rx(qp);
			if (qp->conn.connected)
				tcp_qp_flush(qp);
		}
		tcp_mutex_unlock(&qp->lock);
	}
	tcp_mutex_unlock(&cq->qps_lock);
}

/*
 * Called from ibv_poll_cq: read whatever the QPs feeding this CQ have
 * waiting. trylock keeps the poller from ever blocking on a QP the engine
 * (or another thread) is already serving.
 */
void tcp_progress_cq(struct tcp_cq *cq)
{
	bool idle = true; /* every QP found nothing and may back off */
	uint32_t i;

	if (tcp_mutex_trylock(&cq->qps_lock))
		return;
	for (i = 0; i < cq->nqps; i++) {
		struct tcp_qp *qp = cq->qps[i];

		/* the engine waits for this QP: let it in (tcp_qp_yield) */
		if (atomic_load_explicit(&qp->engine_wants,
					 memory_order_relaxed) ||
		    tcp_mutex_trylock(&qp->lock)) {
			idle = false;
			continue;
		}
		/* (a UD QP's socket has no connection: it is always there) */
		if (!qp->dead &&
		    (qp->conn.connected || qp->type == IBV_QPT_UD)) {
			/*
			 * A poll ends a burst: send what it held back. First,
			 * so that an ack this pass holds back (tcp_qp_rx)
			 * waits for the application's reply or next call.
			 * An ack held back alone waits through one more poll:
			 * a ping-pong reaps its receive (or send) completion
			 * before it posts the reply the ack rides on
			 * (perftest's send_lat polls the send CQ, then the
			 * receive CQ that already holds the message).
			 */
			if (qp->prog.ack_grace && tcp_qp_only_ack_held(qp))
				qp->prog.ack_grace = false;
			else
				tcp_qp_flush(qp);
			if (!tcp_qp_app_pass(qp, cq))
				idle = false;
		}
		tcp_mutex_unlock(&qp->lock);
	}
	if (!idle)
		cq->rx_backoff = 0;
	else if (cq->rx_backoff < TCP_APP_RX_SKIP_MAX)
		cq->rx_backoff = cq->rx_backoff * 2 + 1;
	atomic_store_explicit(&cq->rx_skip, cq->rx_backoff,
			      memory_order_relaxed);
	tcp_mutex_unlock(&cq->qps_lock);
}
