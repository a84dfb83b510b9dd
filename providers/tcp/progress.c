// SPDX-License-Identifier: MIT
/*
 * Progress: who reads a QP's socket -- the engine thread, or the
 * application in its own CQ polls -- and when an ack waits for a frame to
 * ride on instead of going alone. The numbers this policy is tuned with
 * are in progress.h; transmit batching is post.c's send_or_defer. Caller
 * holds qp->lock.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "transport.h"
#include "ud.h"

/* The socket the QP receives from: its connection, or its UDP socket. */
static int rx_fd(const struct tcp_qp *qp)
{
	return qp->type == IBV_QPT_UD ? qp->ud->fd : qp->conn.fd;
}

/*
 * What the engine watches on a connected QP's socket. Nothing but the
 * peer's close while the application drives the socket (rx_app_driven):
 * its polls read, and send what waits for room (tcp_qp_app_pass). An
 * engine woken for room queued for the QP lock behind a requester that
 * retakes it a microsecond after each unlock: it waited for milliseconds
 * with the socket writable, and its wake-ups cost the peer's engine its
 * CPU.
 */
uint32_t tcp_qp_events(const struct tcp_qp *qp)
{
	if (qp->type == IBV_QPT_UD) /* (no peer to close, no room to wait) */
		return qp->prog.rx_app_driven || qp->ud->rx_wait ? 0 : EPOLLIN;
	if (qp->prog.rx_app_driven)
		return EPOLLRDHUP;
	return EPOLLRDHUP | EPOLLIN | (qp->conn.epollout ? EPOLLOUT : 0);
}

/* The engine watches for socket room (a batch is stuck), or stops. */
void tcp_qp_set_epollout(struct tcp_qp *qp, bool on)
{
	if (qp->conn.epollout == on || qp->conn.fd < 0)
		return;
	qp->conn.epollout = on;
	if (!qp->prog.rx_app_driven) /* (else the watch stays EPOLLRDHUP) */
		tcp_engine_rewatch(qp->ctx, qp->conn.fd, &qp->conn.poll.p,
				   tcp_qp_events(qp));
}

/*
 * Counts one poll or post of the application; false while it is out of
 * the mode for calling too slowly (rx_app_lazy). It counts as busy again
 * after TCP_APP_RX_BUSY_POLLS polls and posts in a coarse-clock tick: a
 * requester posting large WRITEs spends its time in each post's sendmsg
 * and polls seldom, yet it is the busiest user of its QP lock.
 */
bool tcp_qp_app_call(struct tcp_qp *qp)
{
	struct timespec ts;

	if (!qp->prog.rx_app_lazy)
		return true;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	if ((uint32_t)ts.tv_nsec != qp->prog.lazy_win) {
		qp->prog.lazy_win = ts.tv_nsec;
		qp->prog.lazy_polls = 0;
	}
	if (++qp->prog.lazy_polls < TCP_APP_RX_BUSY_POLLS)
		return false;
	qp->prog.rx_app_lazy = false;
	return true;
}

/*
 * Receives posted now or before: a ping-pong with one receive has none
 * posted between its completion and its repost. A QP on an SRQ counts as
 * one: the shared queue feeds it whenever the application reposts there
 * (UCX's rc_verbs and Open MPI take every receive from an SRQ), and its
 * polls of the receive CQ are a receiver's.
 */
static bool qp_takes_recvs(const struct tcp_qp *qp)
{
	return qp->srq || qp->rq.posted_total;
}

/*
 * A CQ of the QP is armed (ibv_req_notify_cq): the application is about
 * to sleep on its completion channel, and its polls until then only drain
 * what is there (qperf's rc_lat re-arms, then polls, then sleeps). Taking
 * the socket in such a poll left it unwatched while the application slept,
 * until the engine's tick -- every wake-up a tick late.
 */
static bool qp_cq_armed(const struct tcp_qp *qp)
{
	return atomic_load_explicit(&qp->rcq->armed, memory_order_relaxed) ||
	       atomic_load_explicit(&qp->scq->armed, memory_order_relaxed);
}

/*
 * Time the calling thread has spent waiting on a run queue (the second
 * field of /proc/thread-self/schedstat), or 0 when unknown.
 */
static uint64_t thread_run_delay(void)
{
	char buf[96], *delay;
	ssize_t n;
	int fd;

	fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "<on-cpu ns> <run-queue ns> <timeslices>" */
	delay = strchr(buf, ' ');
	return delay ? strtoull(delay + 1, NULL, 10) : 0;
}

/*
 * The application comes back to a QP it last looked at @seen (half a
 * lease or more ago): was its thread waiting for a CPU (runnable, another
 * task running) most of that time? Then it did not stop calling: a busy
 * process shares its CPU. The run-queue wait since this thread's previous
 * such look tells, when that look was recent enough for the wait to be
 * this gap's. A thread polling several QPs asks once a gap: the other
 * QPs it comes back to take the same answer.
 */
static bool rx_preempted(uint64_t seen, uint64_t now)
{
	static _Thread_local uint64_t last_delay, last_at;
	static _Thread_local bool last_preempted;
	uint64_t gap = now - seen, delay;

	if (last_at > seen && now - last_at < TCP_LEASE_NS / 2)
		return last_preempted; /* asked within this QP's gap */
	delay = thread_run_delay();
	last_preempted = last_at && now - last_at <= 4 * gap &&
			 delay - last_delay >= gap / 2;
	last_delay = delay;
	last_at = delay ? now : 0;
	return last_preempted;
}

/*
 * Its application waits for its CPU behind another busy thread: the QP
 * takes the engine's 1 ms tick for a while (TCP_APP_CROWDED_NS). Without
 * it the busy thread keeps the CPU for a whole time slice (4 ms at HZ=250)
 * each time the poller is preempted; the engine's wake-up on that CPU
 * gives the scheduler a chance to run the poller a tick later.
 */
static void rx_crowded(struct tcp_qp *qp, uint64_t now)
{
	qp->prog.rx_crowded_until = now + TCP_APP_CROWDED_NS;
	if (!qp->prog.rx_fine) {
		qp->prog.rx_fine = true;
		tcp_qp_timer_get(qp);
	}
}

/* The QP lets go of the 1 ms tick rx_crowded took, if it holds it. */
static void rx_fine_drop(struct tcp_qp *qp)
{
	if (qp->prog.rx_fine) {
		qp->prog.rx_fine = false;
		tcp_qp_timer_put(qp);
	}
}

/* The engine's look (now: its clock): is the crowding over? */
static void rx_crowded_check(struct tcp_qp *qp, uint64_t now)
{
	if ((int64_t)(now - qp->prog.rx_crowded_until) >= 0)
		rx_fine_drop(qp);
}

/*
 * The application looks at a QP whose socket it may read (rx_tick): it has
 * not stopped calling, and the engine need not look (the lease).
 */
static void rx_lease_touch(struct tcp_qp *qp)
{
	uint64_t now = tcp_now_ns();

	if (now - qp->prog.rx_seen_ns >= TCP_LEASE_NS / 2 &&
	    rx_preempted(qp->prog.rx_seen_ns, now))
		rx_crowded(qp, now);
	qp->prog.rx_seen_ns = now;
	qp->prog.rx_lease_posts = qp->prog.app_posts;
	tcp_engine_lease_renew(qp->ctx, now, &qp->prog.rx_lease_mark);
}

/*
 * The application polls this QP's receive CQ (the QP has had receives
 * posted), or its send CQ with requests outstanding: it reads the socket
 * itself (tcp_progress_cq), so the engine stops watching for input --
 * waking it for every frame would only make it fight the application for
 * the QP lock, and on a busy host preempt a spinning poller.
 *
 * Two cases:
 * - Two-sided traffic, or a bandwidth test waiting for acks (at least
 *   TCP_APP_RX_MIN_INFLIGHT requests out): the engine takes the socket
 *   back once the polls stop (the lease, tcp_qp_rx_mode_check), and
 *   ibv_req_notify_cq does at once (the application is about to sleep).
 *   Until then, one-sided requests from the peer are served by the
 *   application's polls: an application that stops polling and spins on
 *   memory waits up to a lease (1 ms) for them (a bandwidth test's final
 *   flag).
 *   Handing the socket back each time nothing is outstanding cost more
 *   (epoll_ctl and engine wake-ups every burst) than it saved.
 * - A one-sided requester (no receives) waiting for fewer requests, as
 *   ib_write_lat / ib_read_lat do (one WRITE or READ, poll until it is
 *   done, then spin on memory for the peer's WRITE): the socket goes back
 *   to the engine as soon as nothing is outstanding (rx_app_oneway), so
 *   the memory spinner's peer is placed by the engine at once. Two
 *   epoll_ctl a message cost far less than the engine wake-up they save:
 *   the ack (or READ response) is read by the poller itself, and a peer
 *   that answers with its own WRITE carries the ack in that WRITE's
 *   header (the ack held here waits for the next post, or for the
 *   lease to run out). The socket goes to the application only at its
 *   second poll after a post: a requester that polls once and goes to
 *   spin on memory (qperf's rc_rdma_write_poll_lat, MPI's eager
 *   protocols) left it unwatched while the peer's WRITE waited for the
 *   engine. The first poll only starts the mode (rx_tick), so that the
 *   engine holds the ack of the peer's WRITE for the reply
 *   (tcp_qp_rx_pass_done).
 * Either way only for an application that spins: one that polls fewer
 * than TCP_APP_RX_BUSY_POLLS times a millisecond (it sleeps between
 * polls) would see its completions a poll interval late, so the engine's
 * coarse tick takes the socket back and the QP stays out of the mode
 * until the polls come that fast again (rx_app_lazy).
 */
void tcp_qp_app_rx(struct tcp_qp *qp, struct tcp_cq *cq)
{
	bool recvs = qp_takes_recvs(qp);
	uint32_t inflight = qp->sq.head - qp->sq.done;
	bool oneway = false, spin = true;

	tcp_assert_held(&qp->lock);
	if (qp->prog.rx_app_driven) {
		/* (a peer that never sent a request -- ib_read_lat's -- has
		 * nothing for the engine to serve: the tick hands back) */
		if (qp->prog.rx_app_oneway && !inflight && qp->resp.expect_msn)
			tcp_qp_engine_rx(qp);
		return;
	}
	if (rx_fd(qp) < 0 || (qp->type != IBV_QPT_UD && !qp->conn.connected))
		return;
	if (!tcp_qp_app_call(qp) || qp_cq_armed(qp))
		return;
	if (!(cq == qp->rcq && recvs) &&
	    !(cq == qp->scq && inflight >= TCP_APP_RX_MIN_INFLIGHT)) {
		/* the one-sided latency loop, or nothing */
		if (cq != qp->scq || !inflight || recvs)
			return;
		oneway = true;
		/* a second poll with no post between: it spins on the CQ */
		spin = qp->prog.oneway_mark == qp->prog.app_posts;
		qp->prog.oneway_mark = qp->prog.app_posts;
	}
	qp->prog.rx_app_oneway = oneway;
	if (spin) {
		qp->prog.rx_app_driven = true;
		tcp_engine_rewatch(qp->ctx, rx_fd(qp), &qp->conn.poll.p,
				   tcp_qp_events(qp));
	}
	if (!qp->prog.rx_tick) {
		/* the checks count polls from here (a QP entering and
		 * leaving every message keeps counting across) */
		qp->prog.rx_app_mark = qp_cq_polls(qp);
		qp->prog.rx_posts_mark = qp->prog.app_posts;
		qp->prog.rx_tick = true;
		tcp_qp_coarse_get(qp); /* the timer that hands it back */
		qp->prog.rx_seen_ns = tcp_now_ns(); /* (no gap: it starts) */
		rx_lease_touch(qp);
		qp->prog.rx_check_ns = qp->prog.rx_seen_ns;
	}
}

/*
 * A receiver's send-CQ poll whose receive CQ was polled since its last
 * one: that poll read the socket (UCX polls its receive CQ, then its send
 * CQ, every progress), so reading it again only lengthens the loop
 * between the reads that find the next frame.
 */
static bool rcq_reads(struct tcp_qp *qp, const struct tcp_cq *cq)
{
	unsigned int polls;

	if (cq != qp->scq || qp->rcq == cq || qp->type == IBV_QPT_UD ||
	    !qp->prog.rx_app_driven || qp->prog.rx_app_oneway)
		return false;
	polls = atomic_load_explicit(&qp->rcq->polls, memory_order_relaxed);
	if (polls == qp->prog.rcq_seen)
		return false;
	qp->prog.rcq_seen = polls;
	return true;
}

/*
 * A bandwidth test's requester polling @cq, its send CQ (the second case
 * above, with no receives): such an application polls far more often
 * than acks come (one a batch), and each look costs a system call and
 * three lock round trips, so when its looks find nothing tcp_progress_cq
 * lets the CQ's next polls skip them (1, 3, 7 ... up to
 * TCP_APP_RX_SKIP_MAX), until a look finds data or a post comes.
 */
bool tcp_qp_app_requester(const struct tcp_qp *qp, const struct tcp_cq *cq)
{
	return qp->prog.rx_app_driven && cq == qp->scq && !qp_takes_recvs(qp) &&
	       qp->sq.head - qp->sq.done >= TCP_APP_RX_MIN_INFLIGHT;
}

/*
 * The application's look at the socket, from poll_cq. Returns true when
 * it found nothing and the QP is a bandwidth test's requester
 * (tcp_qp_app_requester).
 */
bool tcp_qp_app_pass(struct tcp_qp *qp, struct tcp_cq *cq)
{
	uint64_t before = qp->prog.io_rx;

	tcp_assert_held(&qp->lock);
	if (qp->prog.rx_tick)
		rx_lease_touch(qp);
	if (rcq_reads(qp, cq)) {
		if (qp->conn.epollout)
			tcp_qp_tx(qp);
		return false;
	}
	if (qp->type == IBV_QPT_UD) {
		/* (a sender polling its send CQ finds nothing here: back
		 * off as a bandwidth requester does) */
		tcp_ud_rx(qp);
		tcp_qp_app_rx(qp, cq);
		return qp->prog.io_rx == before && cq == qp->scq &&
		       !qp->rq.posted_total;
	}
	qp->rx.by_app = true;
	tcp_qp_rx(qp);
	qp->rx.by_app = false;
	if (qp->conn.connected)
		tcp_qp_app_rx(qp, cq);
	/*
	 * What waits for socket room: the engine does not watch for it now.
	 * (A pass that read something has just tried, at its end.)
	 */
	if (qp->conn.connected && qp->prog.rx_app_driven && qp->conn.epollout &&
	    qp->prog.io_rx == before)
		tcp_qp_tx(qp);
	return qp->prog.io_rx == before && tcp_qp_app_requester(qp, cq);
}

/* The engine watches the socket's input again. */
void tcp_qp_engine_rx(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	if (!qp->prog.rx_app_driven)
		return;
	qp->prog.rx_app_driven = false;
	if (rx_fd(qp) >= 0)
		tcp_engine_rewatch(qp->ctx, rx_fd(qp), &qp->conn.poll.p,
				   tcp_qp_events(qp));
}

/* The socket is gone: the mode ends with its timer reference. */
void tcp_qp_rx_mode_end(struct tcp_qp *qp)
{
	tcp_qp_engine_rx(qp);
	rx_fine_drop(qp);
	if (qp->prog.rx_tick) {
		qp->prog.rx_tick = false;
		tcp_qp_coarse_put(qp);
	}
}

/*
 * The engine's look at a QP whose application reads the socket itself
 * (rx_tick), at its tick and when the applications' lease ran out
 * (lease_out; now: the engine's clock):
 * - the lease ran out and this QP's application has neither looked for
 *   half of it nor posted since the last time it ran out: it stopped
 *   calling (it sleeps, spins on memory for a WRITE the engine must
 *   place, or polls only other QPs' CQs): the engine takes the socket
 *   back at once;
 * - once a TCP_COARSE_TICK_NS: too few polls and posts for the time
 *   (TCP_APP_RX_BUSY_POLLS a millisecond: an application that sleeps
 *   between polls, or polls only another CQ) and the engine takes the
 *   socket back, and keeps it until the calls come fast again
 *   (rx_app_lazy).
 * Either way without polls the QP's mode ends, and with it its tick.
 */
void tcp_qp_rx_mode_check(struct tcp_qp *qp, uint64_t now, bool lease_out)
{
	int64_t span = (int64_t)(now - qp->prog.rx_check_ns);
	unsigned int polls, posts;

	tcp_assert_held(&qp->lock);
	rx_crowded_check(qp, now);
	if (lease_out && !qp->prog.rx_fine) {
		/* (posts renew no lease, but they are calls: a QP that
		 * posted since its last look or the last lease is not
		 * silent) */
		bool posted = qp->prog.app_posts != qp->prog.rx_lease_posts;

		qp->prog.rx_lease_posts = qp->prog.app_posts;
		if (!posted && (int64_t)(now - qp->prog.rx_seen_ns) >=
				       (int64_t)TCP_LEASE_NS / 2) {
			qp->prog.rx_app_lazy = true;
			tcp_qp_rx_mode_end(qp);
			return;
		}
	}
	if (span < (int64_t)TCP_COARSE_TICK_NS)
		return;
	polls = qp_cq_polls(qp) - qp->prog.rx_app_mark;
	posts = qp->prog.app_posts - qp->prog.rx_posts_mark;
	qp->prog.rx_app_mark += polls;
	qp->prog.rx_posts_mark += posts;
	qp->prog.rx_check_ns = now;
	if (!polls ||
	    polls + posts < TCP_APP_RX_BUSY_POLLS * (span / 1000000)) {
		tcp_qp_engine_rx(qp);
		qp->prog.rx_app_lazy = true;
	}
	if (!polls)
		tcp_qp_rx_mode_end(qp);
}

/*
 * The end of a receive pass (tcp_qp_rx): acknowledge what it completed
 * (also frames whose header arrived in an earlier pass) and send the
 * responses it queued -- or hold an ack that is all there is to send.
 * progress: the pass took a header or placed a frame; frames: it placed
 * that many; ack_pending: an ack was held back before it began.
 */
void tcp_qp_rx_pass_done(struct tcp_qp *qp, bool progress, unsigned int frames,
			 bool ack_pending)
{
	if (!qp->conn.connected)
		return;
	if (qp->resp.expect_msn - qp->resp.ack_sent >= TCP_ACK_EVERY)
		qp->resp.want_ack = true;
	/*
	 * An ack that is all there is to send waits for the application's
	 * next frame to ride on (a ping-pong then costs one frame a message,
	 * not two) when that frame is likely to come soon:
	 * - this pass runs in the poll of an application that reads its
	 *   socket itself (rx_app_driven): it most likely posts its reply
	 *   next;
	 * - the pass (the engine's, or the application's own before its
	 *   poll took the socket) placed a request for a QP whose
	 *   application is a one-sided requester in a latency loop (it
	 *   polled its send CQ moments ago, tcp_qp_app_rx): it most likely
	 *   answers with a WRITE of its own, and the peer then gets both in
	 *   one frame -- and reads it itself, with no wake-up on either side.
	 *   (A peer that answers at once lands its WRITE before the
	 *   requester's first poll after its post: an ack sent from that
	 *   poll reached the peer alone, whose application then spun on
	 *   memory for the next WRITE, which its engine had to place: 3 %
	 *   of ib_write_lat's round trips, its p99, docs/performance.md.)
	 * Otherwise the next poll_cq, req_notify_cq, post or destroy sends
	 * it, or the engine once the application stops calling (its lease,
	 * tcp_qp_rx_mode_check: within 1 ms). A pass that placed a stream
	 * of frames acks at once (TCP_ACK_STREAM_FRAMES).
	 */
	if (qp->resp.want_ack && !qp->resp.head && qp->sq.tx == qp->sq.head &&
	    qp->tx.iov_i == qp->tx.iov_n && frames < TCP_ACK_STREAM_FRAMES &&
	    ((qp->rx.by_app && qp->prog.rx_app_driven) ||
	     (qp->prog.rx_tick && qp->prog.rx_app_oneway))) {
		qp->prog.tx_deferred = true;
		if (!qp->resp.ack_held_ns)
			qp->resp.ack_held_ns = tcp_now_ns();
		/*
		 * One more poll of grace (see tcp_progress_cq), once: an ack
		 * already held back by an earlier pass goes at the next poll
		 * even if this pass read more. Otherwise a receiver fed a
		 * steady stream (every pass reads something) held its acks
		 * and credits until a pass found nothing: with several SEND
		 * QPs the requesters stalled on credit again and again.
		 */
		if (qp->rx.by_app && progress && !ack_pending)
			qp->prog.ack_grace = true;
		tcp_sq_reap(qp); /* what the peer acked completes now */
		return;
	}
	if (progress || qp->resp.want_ack || qp->resp.head)
		tcp_qp_tx(qp);
}
