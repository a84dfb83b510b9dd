// SPDX-License-Identifier: MIT
/*
 * peer_death DEVICE: a real peer dies mid-flight (SIGKILL), or resets the
 * connection, and the survivor must not hang: its outstanding work requests
 * complete (the oldest with its real error, the rest IBV_WC_WR_FLUSH_ERR),
 * its receive queue is flushed, the QP is in ERR and IBV_EVENT_QP_FATAL is
 * delivered. Two processes (fork) on one host, each with its own context,
 * exchange QPNs through a pipe. Also: a receiver that exits without
 * destroying its QP right after it polled a message still acknowledged it.
 * Prints each check and "N passed, N failed".
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "tcheck.h"
#include "tdev.h"

#include "tqp.h"

struct end {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	char *buf;
};

#define BUF (1 << 20)
/* empty polls after which the exit scenario's receiver says it spins */
#define SPINNING_POLLS 1000

static int setup(struct end *e, const char *dev)
{
	struct ibv_qp_init_attr qa = { 0 };
	struct ibv_qp_attr a = { 0 };

	e->ctx = open_dev(dev);
	if (!e->ctx)
		return -1;
	e->pd = ibv_alloc_pd(e->ctx);
	e->cq = ibv_create_cq(e->ctx, 256, NULL, NULL, 0);
	e->buf = calloc(1, BUF);
	e->mr = ibv_reg_mr(e->pd, e->buf, BUF,
			   IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ);
	qa.send_cq = qa.recv_cq = e->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = qa.cap.max_recv_wr = 64;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	e->qp = ibv_create_qp(e->pd, &qa);
	if (!e->pd || !e->cq || !e->mr || !e->qp)
		return -1;
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	return ibv_modify_qp(e->qp, &a,
			     IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				     IBV_QP_ACCESS_FLAGS);
}

static int connect_to(struct end *e, uint32_t qpn)
{
	union ibv_gid gid;
	struct tqp_path p;

	if (ibv_query_gid(e->ctx, 1, 0, &gid))
		return -1;
	p = tqp_path(qpn, &gid);
	return tqp_rtr(e->qp, &p) || tqp_rts(e->qp, &p) ? -1 : 0;
}

/* Polls n completions (or until the deadline); returns how many. */
static int poll_n(struct ibv_cq *cq, struct ibv_wc *wc, int n, int secs)
{
	time_t end = time(NULL) + secs;
	int got = 0;

	while (got < n && time(NULL) < end) {
		int r = ibv_poll_cq(cq, n - got, wc + got);

		if (r < 0)
			break;
		got += r;
		if (!r)
			usleep(1000);
	}
	return got;
}

static bool wait_event(struct ibv_context *ctx, enum ibv_event_type t, int secs)
{
	time_t end = time(NULL) + secs;
	struct ibv_async_event ev;

	while (time(NULL) < end) {
		struct pollfd p = { .fd = ctx->async_fd, .events = POLLIN };

		if (poll(&p, 1, 200) <= 0)
			continue;
		if (ibv_get_async_event(ctx, &ev))
			return false;
		ibv_ack_async_event(&ev);
		if (ev.event_type == t)
			return true;
	}
	return false;
}

/* Waits up to @secs for the byte @want from the peer on @fd. */
static bool child_says(int fd, char want, int secs)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&p, 1, secs * 1000) == 1 && read(fd, &c, 1) == 1 &&
	       c == want;
}

/* The peer's half of start_peer's exchange: QPN out, QPN in, connect. */
static void child_connect(struct end *e, int rfd, int wfd)
{
	uint32_t qpn;

	if (write(wfd, &e->qp->qp_num, 4) != 4 || read(rfd, &qpn, 4) != 4)
		_exit(2);
	if (connect_to(e, qpn))
		_exit(2);
}

/* The child: connects, then idles (its engine keeps serving) until killed. */
static void child(const char *dev, int rfd, int wfd, bool reset)
{
	struct end e = { 0 };
	uint32_t qpn;

	if (setup(&e, dev))
		_exit(2);
	child_connect(&e, rfd, wfd);
	if (reset) {
		/* wait for the parent's go, then drop the QP: a reset */
		if (read(rfd, &qpn, 4) != 4)
			_exit(2);
		ibv_destroy_qp(e.qp);
		_exit(0);
	}
	for (;;)
		pause();
}

/*
 * Forks the peer, which runs child(dev, its read end, its write end, arg),
 * and connects this end's QP to the peer's; the pipes stay open for the
 * scenario. Returns the peer's pid, or -1 once a failed set-up is counted.
 */
static pid_t start_peer(struct end *e, const char *dev, const char *tag,
			int p2c[2], int c2p[2],
			void (*child)(const char *, int, int, bool), bool arg)
{
	uint32_t qpn;
	pid_t pid;

	if (pipe(p2c) || pipe(c2p))
		exit(2);
	pid = fork();
	if (!pid)
		child(dev, p2c[0], c2p[1], arg);
	if (setup(e, dev) || read(c2p[0], &qpn, 4) != 4 ||
	    write(p2c[1], &e->qp->qp_num, 4) != 4 || connect_to(e, qpn)) {
		fail("%s: setup", tag);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

/* A signaled WR of one SGE over the start of the end's buffer. */
static void signaled_wr(struct end *e, struct ibv_sge *sge,
			struct ibv_send_wr *wr, enum ibv_wr_opcode op,
			uint32_t len)
{
	sge->addr = (uintptr_t)e->buf;
	sge->length = len;
	sge->lkey = e->mr->lkey;
	wr->sg_list = sge;
	wr->num_sge = 1;
	wr->opcode = op;
	wr->send_flags = IBV_SEND_SIGNALED;
}

/* Frees what setup made (the QP unless already destroyed) and the pipes. */
static void teardown(struct end *e, int p2c[2], int c2p[2])
{
	if (e->qp)
		ibv_destroy_qp(e->qp);
	ibv_dereg_mr(e->mr);
	ibv_destroy_cq(e->cq);
	ibv_dealloc_pd(e->pd);
	ibv_close_device(e->ctx);
	free(e->buf);
	close(p2c[0]);
	close(p2c[1]);
	close(c2p[0]);
	close(c2p[1]);
}

/*
 * A receiver that exits (exit(), no ibv_destroy_qp) right after it polled
 * a message: a NIC acknowledged it as it arrived, so the sender's WR must
 * succeed, even though the provider held the ack back for a reply to
 * carry. The child busy-polls (the application-driven mode, where acks
 * are held), tells the parent over its pipe once it is spinning, and
 * leaves the moment the message completes.
 */
static void exit_child(const char *dev, int rfd, int wfd, bool unused)
{
	struct end e = { 0 };
	struct ibv_sge sge;
	struct ibv_recv_wr rwr = { 0 }, *rbad;
	struct ibv_wc wc;
	unsigned int polls = 0;
	time_t end;

	(void)unused;
	if (setup(&e, dev))
		_exit(2);
	sge.addr = (uintptr_t)e.buf;
	sge.length = 64;
	sge.lkey = e.mr->lkey;
	rwr.sg_list = &sge;
	rwr.num_sge = 1;
	if (ibv_post_recv(e.qp, &rwr, &rbad))
		_exit(2);
	child_connect(&e, rfd, wfd);
	end = time(NULL) + 20;
	while (time(NULL) < end) {
		int n = ibv_poll_cq(e.cq, 1, &wc);

		if (n < 0)
			_exit(2);
		if (n)
			exit(wc.status == IBV_WC_SUCCESS ? 0 : 3);
		/* a busy poller by any measure: the parent may send */
		if (++polls == SPINNING_POLLS && write(wfd, "s", 1) != 1)
			_exit(2);
	}
	_exit(4);
}

static void exit_scenario(const char *dev)
{
	int p2c[2], c2p[2], st = 0;
	struct end e = { 0 };
	struct ibv_sge sge;
	struct ibv_send_wr wr = { 0 }, *bad;
	struct ibv_wc wc;
	pid_t pid;
	int n;
	char what[128];

	pid = start_peer(&e, dev, "exit", p2c, c2p, exit_child, false);
	if (pid < 0)
		return;
	/* the child spins on its CQ first (its mode) */
	CHECK(child_says(c2p[0], 's', 20), "exit: receiver spins on its CQ");
	signaled_wr(&e, &sge, &wr, IBV_WR_SEND, 64);
	CHECK(!ibv_post_send(e.qp, &wr, &bad), "exit: post SEND");
	n = poll_n(e.cq, &wc, 1, 20);
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "exit: receiver got the message and exited");
	snprintf(what, sizeof(what),
		 "exit: the SEND to a receiver that exited succeeds (%s)",
		 n == 1 ? ibv_wc_status_str(wc.status) : "no completion");
	CHECK(n == 1 && wc.status == IBV_WC_SUCCESS, "%s", what);
	teardown(&e, p2c, c2p);
}

static void scenario(const char *dev, bool reset)
{
	int p2c[2], c2p[2], st;
	struct end e = { 0 };
	struct ibv_qp_attr qa;
	struct ibv_qp_init_attr qi;
	struct ibv_sge sge;
	struct ibv_send_wr wr = { 0 }, *bad;
	struct ibv_recv_wr rwr = { 0 }, *rbad;
	struct ibv_wc wc[64];
	uint32_t qpn = 0; /* (the reset's go token) */
	pid_t pid;
	int i, n, flush = 0, errs = 0, recv_flush = 0, okc = 0, first;
	const char *tag = reset ? "reset" : "sigkill";
	char what[128];

	pid = start_peer(&e, dev, tag, p2c, c2p, child, reset);
	if (pid < 0)
		return;
	/* one acknowledged zero-length write (checks no key) proves the
	 * connection */
	signaled_wr(&e, &sge, &wr, IBV_WR_RDMA_WRITE, 0);
	CHECK(!ibv_post_send(e.qp, &wr, &bad), "post zero-length write");
	n = poll_n(e.cq, wc, 1, 10);
	snprintf(what, sizeof(what), "%s: connection works before", tag);
	CHECK(n == 1 && wc[0].status == IBV_WC_SUCCESS, "%s", what);

	/* receives that will be flushed */
	rwr.sg_list = &sge;
	rwr.num_sge = 1;
	sge.length = 64;
	for (i = 0; i < 4; i++) {
		rwr.wr_id = 100 + i;
		ibv_post_recv(e.qp, &rwr, &rbad);
	}
	/*
	 * 8 SENDs the peer never acknowledges: it is stopped (SIGSTOP)
	 * before they go out, so they are outstanding when it dies.
	 */
	kill(pid, SIGSTOP);
	waitpid(pid, &st, WUNTRACED); /* really stopped before we post */
	for (i = 0; i < 8; i++) {
		/* 4 zero-length writes go on the wire at once; 4 SENDs wait
		 * for receive credit the stopped peer never grants */
		sge.length = i < 4 ? 0 : 64;
		wr.opcode = i < 4 ? IBV_WR_RDMA_WRITE : IBV_WR_SEND;
		wr.wr_id = i;
		ibv_post_send(e.qp, &wr, &bad);
	}
	n = poll_n(e.cq, wc, 12, 1);
	snprintf(what, sizeof(what), "%s: no completion while peer stopped",
		 tag);
	CHECK(n == 0, "%s", what);
	if (reset) {
		kill(pid, SIGCONT);
		if (write(p2c[1], &qpn, 4) != 4)
			exit(2);
		waitpid(pid, &st, 0);
	} else {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	n = poll_n(e.cq, wc, 12, 20);
	first = -1;
	for (i = 0; i < n; i++) {
		if (wc[i].wr_id >= 100) {
			recv_flush += wc[i].status == IBV_WC_WR_FLUSH_ERR;
			continue;
		}
		if (wc[i].status == IBV_WC_SUCCESS) {
			/* a resumed peer may ack the writes before it resets */
			okc += reset && wc[i].wr_id < 4;
			continue;
		}
		if (first < 0)
			first = i;
		if (wc[i].status == IBV_WC_WR_FLUSH_ERR)
			flush++;
		else
			errs++;
	}
	snprintf(what, sizeof(what),
		 "%s: all 12 WRs complete, none hang (got %d)", tag, n);
	CHECK(n == 12, "%s", what);
	snprintf(what, sizeof(what),
		 "%s: sends end in error/flush (err %d, flush %d)", tag, errs,
		 flush);
	/* the oldest fails with its real error, the rest are flushed */
	CHECK(okc + errs + flush == 8 && errs == 1 && first >= 0 &&
		      wc[first].wr_id == (uint64_t)okc &&
		      wc[first].status == IBV_WC_RETRY_EXC_ERR,
	      "%s", what);
	snprintf(what, sizeof(what), "%s: 4 receives flushed", tag);
	CHECK(recv_flush == 4, "%s", what);
	ibv_query_qp(e.qp, &qa, IBV_QP_STATE, &qi);
	snprintf(what, sizeof(what), "%s: QP in ERR", tag);
	CHECK(qa.qp_state == IBV_QPS_ERR, "%s", what);
	snprintf(what, sizeof(what), "%s: IBV_EVENT_QP_FATAL delivered", tag);
	CHECK(wait_event(e.ctx, IBV_EVENT_QP_FATAL, 5), "%s", what);
	CHECK(!ibv_destroy_qp(e.qp), "destroy QP after peer death");
	e.qp = NULL;
	teardown(&e, p2c, c2p);
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "tcp0";

	setvbuf(stdout, NULL, _IOLBF, 0);
	scenario(dev, false);
	scenario(dev, true);
	/* the held ack may leave with the engine's 1 ms tick by luck: 3 tries */
	for (int i = 0; i < 3; i++)
		exit_scenario(dev);
	return tc_report();
}
