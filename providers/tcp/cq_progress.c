// SPDX-License-Identifier: MIT
/* Progress from a CQ's side: see cq_progress.h. */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

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
		tcp_qp_unlock(qp);
	}
	tcp_mutex_unlock(&cq->qps_lock);
}

/* --------------------------------------------------- the due list */

/* The QP's index into due_on/due_next on @cq. */
static int due_idx(const struct tcp_cq *cq, const struct tcp_qp *qp)
{
	return qp->scq == cq ? 0 : 1;
}

/*
 * Pushes the QP on @cq's due list, unless it is there already. Lock-free:
 * pushers hold only their QP's lock, and the one consumer (a poll, or the
 * QP's detach) takes the whole list at once under qps_lock, so a push
 * never races a pop of a single entry (no ABA).
 */
static void due_push(struct tcp_cq *cq, struct tcp_qp *qp)
{
	int k = due_idx(cq, qp);
	struct tcp_qp *head;

	if (atomic_load_explicit(&qp->conn.due_on[k], memory_order_relaxed) ||
	    atomic_exchange(&qp->conn.due_on[k], true))
		return;
	head = atomic_load_explicit(&cq->due, memory_order_relaxed);
	do {
		qp->conn.due_next[k] = head;
	} while (!atomic_compare_exchange_weak_explicit(&cq->due, &head, qp,
							memory_order_release,
							memory_order_relaxed));
}

void tcp_qp_announce(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	/* detached from its CQs (tcp_cq_ready_gone): off their lists */
	if (qp->conn.cq_gone)
		return;
	if (qp->scq)
		due_push(qp->scq, qp);
	if (qp->rcq && qp->rcq != qp->scq)
		due_push(qp->rcq, qp);
}

/*
 * Takes @cq's due list (qps_lock held), oldest announcement first. Each
 * QP stays flagged, so that nobody pushes it (and rewrites its link)
 * until due_pop has read its link and cleared the flag.
 */
static struct tcp_qp *due_take(struct tcp_cq *cq)
{
	struct tcp_qp *list = NULL, *qp, *next;

	tcp_assert_held(&cq->qps_lock);
	if (!atomic_load_explicit(&cq->due, memory_order_relaxed))
		return NULL;
	qp = atomic_exchange_explicit(&cq->due, NULL, memory_order_acquire);
	for (; qp; qp = next) {
		int k = due_idx(cq, qp);

		next = qp->conn.due_next[k];
		qp->conn.due_next[k] = list;
		list = qp;
	}
	return list;
}

/*
 * The QP after @qp on a taken list; @qp is off the list from here, so
 * what it announces from now on puts it on @cq's list again.
 */
static struct tcp_qp *due_pop(struct tcp_cq *cq, struct tcp_qp *qp)
{
	int k = due_idx(cq, qp);
	struct tcp_qp *next = qp->conn.due_next[k];

	atomic_store(&qp->conn.due_on[k], false);
	return next;
}

/* The QP leaves @cq (qps_lock held, it pushes no more): off the list. */
static void due_drop(struct tcp_cq *cq, struct tcp_qp *gone)
{
	struct tcp_qp *qp = due_take(cq), *next;

	for (; qp; qp = next) {
		next = due_pop(cq, qp);
		if (qp != gone)
			due_push(cq, qp);
	}
}

/* ------------------------------------------------- the ready set */

static void ready_ctl(struct tcp_cq *cq, struct tcp_qp *qp, int op)
{
	int ep = atomic_load_explicit(&cq->ready_ep, memory_order_acquire);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
				  .data.ptr = qp };

	if (ep < 0)
		return;
	/* refused (no memory, or the watch limit): every poll visits it */
	if (op == EPOLL_CTL_ADD && epoll_ctl(ep, op, qp->conn.fd, &ev) &&
	    errno != EEXIST)
		qp->conn.cq_unready = true;
	if (op == EPOLL_CTL_DEL)
		epoll_ctl(ep, op, qp->conn.fd, &ev);
}

/*
 * The QP's connection is up: its socket joins its CQs' ready sets. Also
 * for a set made after the QP connected (make_ready_set), so a QP can be
 * added twice: EEXIST is success.
 */
static void ready_join(struct tcp_cq *cq, struct tcp_qp *qp)
{
	if (!qp->dead && !qp->conn.cq_gone && qp->conn.fd >= 0 &&
	    qp->conn.connected)
		ready_ctl(cq, qp, EPOLL_CTL_ADD);
}

void tcp_cq_ready_add(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	ready_join(qp->scq, qp);
	if (qp->rcq != qp->scq)
		ready_join(qp->rcq, qp);
}

/* The connection's socket is about to go: out of the ready sets. */
void tcp_cq_ready_del(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	if (qp->conn.fd < 0)
		return;
	ready_ctl(qp->scq, qp, EPOLL_CTL_DEL);
	if (qp->rcq != qp->scq)
		ready_ctl(qp->rcq, qp, EPOLL_CTL_DEL);
	qp->conn.cq_unready = false;
}

/*
 * The QP leaves @cq (tcp_cq_detach, under qps_lock): its socket leaves the
 * set and is never added again, so no later poll of @cq can be handed a
 * QP that is no longer among its QPs -- the memory behind the pointer in
 * the set lives only until the engine buries the QP.
 */
void tcp_cq_ready_gone(struct tcp_cq *cq, struct tcp_qp *qp)
{
	tcp_assert_held(&cq->qps_lock);
	tcp_mutex_lock(&qp->lock);
	qp->conn.cq_gone = true;
	if (qp->conn.fd >= 0)
		ready_ctl(cq, qp, EPOLL_CTL_DEL);
	tcp_qp_unlock(qp);
	due_drop(cq, qp);
}

/*
 * The CQ now has more than TCP_CQ_WALK_QPS QPs: its ready set, with the
 * sockets of those connected already. The set is published before they
 * are added, so a QP connecting meanwhile adds itself (tcp_cq_ready_add
 * under its lock) or is found connected here. False if there is none
 * (epoll_create1 failed: tried again TCP_CQ_READY_RETRY polls later).
 */
static bool make_ready_set(struct tcp_cq *cq)
{
	int ep;
	uint32_t i;

	tcp_assert_held(&cq->qps_lock);
	if (atomic_load_explicit(&cq->ready_ep, memory_order_relaxed) >= 0)
		return true;
	if (cq->ready_retry) {
		cq->ready_retry--;
		return false;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		/* every QP is read, as below the threshold, for a while */
		cq->ready_retry = TCP_CQ_READY_RETRY;
		return false;
	}
	atomic_store_explicit(&cq->ready_ep, ep, memory_order_release);
	for (i = 0; i < cq->nqps; i++) {
		struct tcp_qp *qp = cq->qps[i];

		tcp_mutex_lock(&qp->lock);
		ready_join(cq, qp);
		tcp_qp_unlock(qp);
	}
	return true;
}

/* ------------------------------------------------------ the poll */

/*
 * One QP's turn in a poll (qps_lock held). Its socket is read when @all
 * (the QP is below the walk threshold, or its socket is readable), else
 * it is served only if tcp_qp_poll_needed() says so. Returns true when the
 * QP's polls may back off: a bandwidth requester that found nothing
 * (tcp_qp_app_requester), or a QP that is not connected. trylock keeps
 * the poller from ever blocking on a QP the engine (or another thread)
 * is already serving.
 */
static bool visit(struct tcp_cq *cq, struct tcp_qp *qp, bool all)
{
	bool idle = true;

	/* the engine waits for this QP: let it in (tcp_qp_yield). What it
	 * holds may need this poll's look: the next poll looks again. */
	if (atomic_load_explicit(&qp->engine_wants, memory_order_relaxed) ||
	    tcp_mutex_trylock(&qp->lock)) {
		due_push(cq, qp);
		return false;
	}
	/* (a UD QP's socket has no connection: it is always there) */
	if (qp->dead || (!qp->conn.connected && qp->type != IBV_QPT_UD)) {
		/* nothing to serve */
	} else if (!all && !tcp_qp_poll_needed(qp)) {
		idle = tcp_qp_app_requester(qp, cq); /* (nothing to read) */
	} else {
		/*
		 * A poll ends a burst: send what it held back. First, so that
		 * an ack this pass holds back (tcp_qp_rx) waits for the
		 * application's reply or next call. An ack held back alone
		 * waits through one more poll: a ping-pong reaps its receive
		 * (or send) completion before it posts the reply the ack
		 * rides on (perftest's send_lat polls the send CQ, then the
		 * receive CQ that already holds the message).
		 */
		if (qp->prog.ack_grace && tcp_qp_only_ack_held(qp))
			qp->prog.ack_grace = false;
		else
			tcp_qp_flush(qp);
		idle = tcp_qp_app_pass(qp, cq);
	}
	tcp_qp_unlock(qp);
	return idle;
}

/*
 * Many QPs: those whose sockets the ready set finds readable, then those
 * that announced work no socket shows (the due list, tcp_qp_unlock),
 * without a system call -- a QP that still needs a look after its turn
 * announces itself again. False: whether every QP of the CQ may back off
 * (visit) would take a look at each.
 */
static bool progress_ready(struct tcp_cq *cq)
{
	struct epoll_event ev[TCP_CQ_READY_BATCH];
	int ep = atomic_load_explicit(&cq->ready_ep, memory_order_relaxed);
	struct tcp_qp *qp, *next;
	int i, n;

	n = epoll_wait(ep, ev, TCP_CQ_READY_BATCH, 0);
	for (i = 0; i < n; i++)
		visit(cq, ev[i].data.ptr, true);
	for (qp = due_take(cq); qp; qp = next) {
		next = due_pop(cq, qp);
		visit(cq, qp, false);
	}
	return false;
}

/*
 * Called from ibv_poll_cq: read whatever the QPs feeding this CQ have
 * waiting. Up to TCP_CQ_WALK_QPS QPs, each socket is read (a ping-pong's
 * poll is then the one recv that finds its message); beyond, the ready
 * set says which. When all the QPs may back off, the CQ's next polls
 * skip this (1, 3, 7 ... up to TCP_APP_RX_SKIP_MAX).
 */
void tcp_progress_cq(struct tcp_cq *cq)
{
	struct tcp_qp *qp;
	bool idle = true;
	uint32_t i;

	if (tcp_mutex_trylock(&cq->qps_lock))
		return;
	if (cq->nqps > TCP_CQ_WALK_QPS && make_ready_set(cq)) {
		idle = progress_ready(cq);
	} else {
		/* every QP is visited: the list is moot */
		for (qp = due_take(cq); qp; qp = due_pop(cq, qp))
			;
		for (i = 0; i < cq->nqps; i++)
			idle &= visit(cq, cq->qps[i], true);
	}
	if (!idle)
		cq->rx_backoff = 0;
	else if (cq->rx_backoff < TCP_APP_RX_SKIP_MAX)
		cq->rx_backoff = cq->rx_backoff * 2 + 1;
	atomic_store_explicit(&cq->rx_skip, cq->rx_backoff,
			      memory_order_relaxed);
	tcp_mutex_unlock(&cq->qps_lock);
}
