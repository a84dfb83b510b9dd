// SPDX-License-Identifier: MIT
/*
 * faults SCENARIO PEER_NS DEV PEER_DEV IF IP [STOP_SECS]: RC traffic across
 * two network namespaces, then one fault, as test_faults.sh drives it.
 * Run inside the local namespace (ip netns exec); the peer is a forked
 * child that enters PEER_NS (/run/netns/PEER_NS) and opens PEER_DEV. IF is
 * this namespace's veth (the link the faults cut), IP this end's address
 * (the peer's `ss -K dst IP` resets our connections).
 *
 * Three QPs stream 4 KiB RDMA WRITEs, SENDs and RDMA READs, 8 in flight
 * each; every READ is checked against the pattern the peer holds, every
 * SEND by the peer, the WRITE region read back at the end. Scenarios:
 *
 *   sigkill    the peer is killed                          -> QPs fail
 *   reset      the peer's sockets are destroyed (RST)      -> QPs fail
 *   sigstop    the peer is stopped STOP_SECS, then resumed -> all survive
 *   linkshort  IF down 5 s, budget 17.2 s                  -> all survive
 *   linklong   IF down until the QPs fail, budget 2.1 s    -> QPs fail
 *   linkread   one QP whose only request is a READ the peer's kernel
 *              acknowledged; IF down before the response   -> QP fails
 *
 * "QPs fail" means: each QP's oldest outstanding WR completes with
 * IBV_WC_RETRY_EXC_ERR, every later one IBV_WC_WR_FLUSH_ERR, the QP is in
 * ERR and IBV_EVENT_QP_FATAL arrives, within 2x the QP's retry budget
 * (timeout x (retry_cnt + 1)) of the fault. Prints each check, the time
 * to error ("time-to-error QPn OP: S s") and "N passed, N failed".
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "tcheck.h"
#include "tdev.h"

#include "tqp.h"

#define BLK   4096u
#define SLOTS 64u /* blocks in each remote region */
#define WIN   8u  /* WRs in flight per QP */
#define NQP   3

/* the peer's region: READ source | WRITE target | receive buffers */
#define R_OFF	 0
#define W_OFF	 (SLOTS * BLK)
#define RECV_OFF (2 * SLOTS * BLK)
#define RSLOTS	 128u /* receive buffers: more than the 100 posted */
#define BIG_OFF	 (RECV_OFF + RSLOTS * BLK)
/* one WRITE larger than any socket buffer: the stopped peer's window
 * closes (sigstop) */
#define BIG	 (32u << 20)
#define PEER_LEN (BIG_OFF + BIG)
/* ours: per QP WIN blocks (sources, READ sinks), then a read-back area */
#define BACK_OFF (NQP * WIN * BLK)
#define OBIG_OFF (BACK_OFF + SLOTS * BLK)
#define OUR_LEN	 (OBIG_OFF + 2 * BIG) /* the big source, its read-back */

struct setup_msg {
	uint32_t qpn[NQP];
	union ibv_gid gid;
	uint32_t rkey;
	uint64_t addr;
};

struct flow {
	struct ibv_qp *qp;
	enum ibv_wr_opcode op;
	uint64_t next, done; /* wr_ids: next to post, next to complete */
	bool stopped;	     /* no more posts */
	uint64_t ok, ok_after, bad_data, bad_order;
	int err_status; /* of the first error, -1 if none */
	uint64_t err_wr, err_ns, flushed, other_err;
};

struct end {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	struct ibv_qp *qp[NQP];
	char *buf;
	size_t len;
};

#define SEC 1000000000ull

/* byte i of the peer's READ source: fixed at set-up */
static uint8_t r_byte(uint64_t off)
{
	return (uint8_t)(off * 131 + (off >> 12) * 7 + 1);
}

/* byte i of the message (SEND or WRITE) with sequence number seq */
static uint8_t msg_byte(uint64_t seq, uint32_t i)
{
	return (uint8_t)(seq * 29 + i * 3 + 5);
}

static void fill_msg(char *p, uint64_t seq)
{
	uint32_t i;

	for (i = 0; i < BLK; i++)
		p[i] = (char)msg_byte(seq, i);
}

static bool msg_ok(const char *p, uint64_t seq)
{
	uint32_t i;

	for (i = 0; i < BLK; i++)
		if ((uint8_t)p[i] != msg_byte(seq, i))
			return false;
	return true;
}

static int open_end(struct end *e, const char *dev, size_t len)
{
	struct ibv_qp_init_attr qa = { 0 };
	struct ibv_qp_attr a = { 0 };
	int i;

	e->ctx = open_dev(dev);
	if (!e->ctx)
		return -1;
	e->len = len;
	e->pd = ibv_alloc_pd(e->ctx);
	e->cq = ibv_create_cq(e->ctx, 512, NULL, NULL, 0);
	e->buf = calloc(1, len);
	if (!e->pd || !e->cq || !e->buf)
		return -1;
	e->mr = ibv_reg_mr(e->pd, e->buf, len,
			   IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ);
	if (!e->mr)
		return -1;
	qa.send_cq = qa.recv_cq = e->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = qa.cap.max_recv_wr = 128;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	for (i = 0; i < NQP; i++) {
		e->qp[i] = ibv_create_qp(e->pd, &qa);
		if (!e->qp[i] ||
		    ibv_modify_qp(e->qp[i], &a,
				  IBV_QP_STATE | IBV_QP_PKEY_INDEX |
					  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
			return -1;
	}
	return 0;
}

static int connect_qp(struct ibv_qp *qp, uint32_t qpn, const union ibv_gid *g,
		      uint8_t timeout, uint8_t retry)
{
	struct tqp_path p = tqp_path(qpn, g);

	p.rd_atomic = WIN;
	p.timeout = timeout;
	p.retry_cnt = retry;
	return tqp_rtr(qp, &p) || tqp_rts(qp, &p) ? -1 : 0;
}

static int post_recv(struct end *e, uint64_t slot)
{
	struct ibv_sge sge = { (uintptr_t)e->buf + RECV_OFF +
				       (slot % RSLOTS) * BLK,
			       BLK, e->mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = slot,
				  .sg_list = &sge,
				  .num_sge = 1 },
			   *bad;

	return ibv_post_recv(e->qp[1], &wr, &bad);
}

/* The peer's receive completions of one poll: checked, counted, reposted. */
static int take_recvs(struct end *e, uint64_t *got, uint64_t *bad)
{
	struct ibv_wc wc[16];
	int n = ibv_poll_cq(e->cq, 16, wc), k;

	for (k = 0; k < n; k++) {
		if (wc[k].status != IBV_WC_SUCCESS ||
		    wc[k].opcode != IBV_WC_RECV) {
			*bad += wc[k].status != IBV_WC_WR_FLUSH_ERR;
			continue;
		}
		if (wc[k].wr_id != *got ||
		    !msg_ok(e->buf + RECV_OFF + (wc[k].wr_id % RSLOTS) * BLK,
			    *got))
			(*bad)++;
		(*got)++;
		post_recv(e, wc[k].wr_id + 100);
	}
	return n;
}

/*
 * The peer: serves the three QPs, checks every SEND (sequence and
 * payload), and on the parent's word (the number of SENDs it saw complete,
 * on rfd) reports how many it got and how many were wrong, then waits to
 * be killed.
 */
static void peer(const char *ns, const char *dev, int rfd, int wfd,
		 uint8_t timeout, uint8_t retry)
{
	struct end e = { 0 };
	struct setup_msg me = { 0 }, them;
	char path[256];
	uint64_t i, got = 0, bad = 0;
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET))
		_exit(2);
	close(fd);
	if (open_end(&e, dev, PEER_LEN) || ibv_query_gid(e.ctx, 1, 0, &me.gid))
		_exit(2);
	for (i = 0; i < SLOTS * BLK; i++)
		e.buf[R_OFF + i] = (char)r_byte(i);
	for (i = 0; i < 100; i++)
		if (post_recv(&e, i))
			_exit(2);
	for (i = 0; i < NQP; i++)
		me.qpn[i] = e.qp[i]->qp_num;
	me.rkey = e.mr->rkey;
	me.addr = (uintptr_t)e.buf;
	if (write(wfd, &me, sizeof(me)) != sizeof(me) ||
	    read(rfd, &them, sizeof(them)) != sizeof(them))
		_exit(2);
	for (i = 0; i < NQP; i++)
		if (connect_qp(e.qp[i], them.qpn[i], &them.gid, timeout, retry))
			_exit(2);
	for (;;) {
		struct pollfd p = { .fd = rfd, .events = POLLIN };

		take_recvs(&e, &got, &bad);
		if (poll(&p, 1, 0) == 1) {
			uint64_t r[2], want, end = now_ns() + 10000000000ull;

			/* the parent saw `want` SENDs complete: each one's
			 * receive is in the CQ or about to be */
			if (read(rfd, &want, sizeof(want)) != sizeof(want))
				_exit(2);
			while ((take_recvs(&e, &got, &bad) > 0 || got < want) &&
			       now_ns() < end)
				;
			r[0] = got;
			r[1] = bad;
			if (write(wfd, r, sizeof(r)) != sizeof(r))
				_exit(2);
			for (;;)
				pause();
		}
	}
}

struct run {
	const char *scen, *ns, *dev, *peer_dev, *ifname, *ip;
	int stop_secs;
	uint8_t timeout, retry;
	struct end e;
	struct flow f[NQP];
	int nflows;
	struct setup_msg peer;
	pid_t pid;
	int rfd, wfd;
	uint64_t fault_ns, fault_end_ns;
	uint64_t big_wr;	  /* wr_id of the big WRITE, if any */
	uint64_t last_seq[SLOTS]; /* WRITE: seq last written to each slot */
	bool wrote[SLOTS];
};

static uint64_t budget_ns(const struct run *r)
{
	return (4096ull << r->timeout) * (r->retry + 1);
}

static int post_one(struct run *r, struct flow *f, int qi)
{
	uint64_t seq = f->next, slot = seq % WIN;
	char *mine = r->e.buf + (qi * WIN + slot) * BLK;
	struct ibv_sge sge = { (uintptr_t)mine, BLK, r->e.mr->lkey };
	struct ibv_send_wr wr = { .wr_id = seq,
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = f->op,
				  .send_flags = IBV_SEND_SIGNALED },
			   *bad;

	wr.wr.rdma.rkey = r->peer.rkey;
	if (f->op == IBV_WR_RDMA_WRITE) {
		fill_msg(mine, seq);
		wr.wr.rdma.remote_addr =
			r->peer.addr + W_OFF + (seq % SLOTS) * BLK;
	} else if (f->op == IBV_WR_SEND) {
		fill_msg(mine, seq);
	} else {
		memset(mine, 0, BLK);
		wr.wr.rdma.remote_addr =
			r->peer.addr + R_OFF + (seq % SLOTS) * BLK;
	}
	if (ibv_post_send(f->qp, &wr, &bad))
		return -1;
	f->next++;
	return 0;
}

static bool read_ok(const char *p, uint64_t seq)
{
	uint64_t base = (seq % SLOTS) * BLK;
	uint32_t i;

	for (i = 0; i < BLK; i++)
		if ((uint8_t)p[i] != r_byte(base + i))
			return false;
	return true;
}

static void complete(struct run *r, const struct ibv_wc *wc)
{
	struct flow *f = NULL;
	int qi;

	for (qi = 0; qi < r->nflows; qi++)
		if (r->f[qi].qp->qp_num == wc->qp_num)
			f = &r->f[qi];
	if (!f)
		return;
	qi = f - r->f;
	if (wc->wr_id != f->done)
		f->bad_order++;
	f->done = wc->wr_id + 1;
	if (wc->status == IBV_WC_SUCCESS && f->err_status < 0) {
		f->ok++;
		if (r->fault_end_ns && now_ns() > r->fault_end_ns)
			f->ok_after++;
		if (f->op == IBV_WR_RDMA_READ &&
		    !read_ok(r->e.buf + (qi * WIN + wc->wr_id % WIN) * BLK,
			     wc->wr_id))
			f->bad_data++;
		if (f->op == IBV_WR_RDMA_WRITE && wc->wr_id != r->big_wr) {
			r->last_seq[wc->wr_id % SLOTS] = wc->wr_id;
			r->wrote[wc->wr_id % SLOTS] = true;
		}
		return;
	}
	if (f->err_status < 0) {
		f->err_status = wc->status;
		f->err_wr = wc->wr_id;
		f->err_ns = now_ns();
		f->stopped = true;
	} else if (wc->status == IBV_WC_WR_FLUSH_ERR) {
		f->flushed++;
	} else {
		f->other_err++;
	}
}

/* Keeps WIN WRs in flight on every flow not stopped, until `until`. */
static void pump(struct run *r, uint64_t until, bool (*done)(struct run *))
{
	struct ibv_wc wc[32];
	int i, n;

	while (now_ns() < until && !(done && done(r))) {
		for (i = 0; i < r->nflows; i++) {
			struct flow *f = &r->f[i];

			while (!f->stopped && f->next - f->done < WIN)
				if (post_one(r, f, i)) {
					f->stopped = true;
					break;
				}
		}
		n = ibv_poll_cq(r->e.cq, 32, wc);
		for (i = 0; i < n; i++)
			complete(r, &wc[i]);
		if (!n)
			usleep(200);
	}
}

static bool all_failed(struct run *r)
{
	int i;

	for (i = 0; i < r->nflows; i++)
		if (r->f[i].err_status < 0 || r->f[i].next != r->f[i].done)
			return false;
	return true;
}

static bool all_moved(struct run *r)
{
	int i;

	for (i = 0; i < r->nflows; i++)
		if (!r->f[i].ok_after)
			return false;
	return true;
}

/*
 * After a fault that must be survived: traffic until every flow has
 * completed WRs again (deadline 20 s: TCP resends with back-off, the
 * first after a 5 s outage may come 7 s after it), then a second more.
 */
static void pump_recovery(struct run *r)
{
	pump(r, now_ns() + 20 * SEC, all_moved);
	pump(r, now_ns() + SEC, NULL);
}

static bool all_idle(struct run *r)
{
	int i;

	for (i = 0; i < r->nflows; i++)
		if (r->f[i].next != r->f[i].done)
			return false;
	return true;
}

static int run_cmd(char *const argv[])
{
	int st;
	pid_t p = fork();

	if (!p) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (p < 0 || waitpid(p, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int link_set(struct run *r, const char *state)
{
	char *argv[] = { "ip",		"link", "set", "dev", (char *)r->ifname,
			 (char *)state, NULL };

	return run_cmd(argv);
}

/*
 * Polls this process's TCP sockets until the kernel holds nothing
 * unacknowledged or unsent on any (SIOCOUTQ): the peer's kernel took it.
 */
static bool wait_all_acked(int secs)
{
	uint64_t end = now_ns() + secs * 1000000000ull;

	while (now_ns() < end) {
		DIR *d = opendir("/proc/self/fd");
		struct dirent *de;
		bool busy = false;

		while (d && (de = readdir(d))) {
			struct tcp_info ti;
			socklen_t l = sizeof(ti);
			int fd = atoi(de->d_name), outq = 0;

			if (fd <= 2 || fd == dirfd(d) ||
			    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) ||
			    ti.tcpi_state != 1 /* TCP_ESTABLISHED */)
				continue;
			if (ioctl(fd, SIOCOUTQ, &outq) || outq)
				busy = true;
		}
		if (d)
			closedir(d);
		if (!busy)
			return true;
		usleep(10000);
	}
	return false;
}

/* Forks the peer and connects our QPs to its QPs; flows use ops. */
static int start(struct run *r, int nflows, const enum ibv_wr_opcode *ops,
		 const int *qidx)
{
	int p2c[2], c2p[2], i;
	struct setup_msg me = { 0 };

	if (pipe(p2c) || pipe(c2p))
		return -1;
	r->pid = fork();
	if (r->pid < 0)
		return -1;
	if (!r->pid) {
		close(p2c[1]);
		close(c2p[0]);
		peer(r->ns, r->peer_dev, p2c[0], c2p[1], r->timeout, r->retry);
	}
	close(p2c[0]);
	close(c2p[1]);
	r->rfd = c2p[0];
	r->wfd = p2c[1];
	if (open_end(&r->e, r->dev, OUR_LEN) ||
	    ibv_query_gid(r->e.ctx, 1, 0, &me.gid))
		return -1;
	for (i = 0; i < NQP; i++)
		me.qpn[i] = r->e.qp[i]->qp_num;
	if (read(r->rfd, &r->peer, sizeof(r->peer)) != sizeof(r->peer) ||
	    write(r->wfd, &me, sizeof(me)) != sizeof(me))
		return -1;
	for (i = 0; i < NQP; i++)
		if (connect_qp(r->e.qp[i], r->peer.qpn[i], &r->peer.gid,
			       r->timeout, r->retry))
			return -1;
	r->nflows = nflows;
	r->big_wr = ~0ull;
	for (i = 0; i < nflows; i++) {
		r->f[i].qp = r->e.qp[qidx[i]];
		r->f[i].op = ops[i];
		r->f[i].err_status = -1;
	}
	return 0;
}

static const char *op_name(enum ibv_wr_opcode op)
{
	return op == IBV_WR_RDMA_WRITE ? "WRITE"
	       : op == IBV_WR_SEND     ? "SEND"
				       : "READ";
}

/* IBV_EVENT_QP_FATAL for every flow's QP, within secs */
static bool wait_fatal(struct run *r, int secs)
{
	uint64_t end = now_ns() + secs * 1000000000ull;
	bool seen[NQP] = { false };
	int i, nseen = 0;

	while (nseen < r->nflows && now_ns() < end) {
		struct pollfd p = { .fd = r->e.ctx->async_fd,
				    .events = POLLIN };
		struct ibv_async_event ev;

		if (poll(&p, 1, 200) <= 0)
			continue;
		if (ibv_get_async_event(r->e.ctx, &ev))
			return false;
		for (i = 0; i < r->nflows; i++)
			if (ev.event_type == IBV_EVENT_QP_FATAL &&
			    ev.element.qp == r->f[i].qp && !seen[i]) {
				seen[i] = true;
				nseen++;
			}
		ibv_ack_async_event(&ev);
	}
	return nseen == r->nflows;
}

/* Every flow failed as a NIC's would, within 2x the budget. */
static void check_failed(struct run *r)
{
	uint64_t lim = 2 * budget_ns(r);
	int i;

	for (i = 0; i < r->nflows; i++) {
		struct flow *f = &r->f[i];
		const char *op = op_name(f->op);
		struct ibv_qp_attr qa;
		struct ibv_qp_init_attr qi;
		double t = f->err_status < 0 ? -1
					     : (f->err_ns - r->fault_ns) / 1e9;

		printf("time-to-error %s QP%d %s: %.2f s (budget %.2f s)\n",
		       r->scen, i, op, t, budget_ns(r) / 1e9);
		CHECK(f->err_status == IBV_WC_RETRY_EXC_ERR,
		      "%s %s: oldest WR %llu fails with RETRY_EXC_ERR (%s)",
		      r->scen, op, (unsigned long long)f->err_wr,
		      f->err_status < 0 ? "no error"
					: ibv_wc_status_str(f->err_status));
		CHECK(!f->bad_order && f->next == f->done &&
			      f->flushed == f->next - f->err_wr - 1 &&
			      !f->other_err,
		      "%s %s: every WR completes in order, the %llu after "
		      "it WR_FLUSH_ERR (flushed %llu, other %llu, order %llu)",
		      r->scen, op,
		      (unsigned long long)(f->next - f->err_wr - 1),
		      (unsigned long long)f->flushed,
		      (unsigned long long)f->other_err,
		      (unsigned long long)f->bad_order);
		CHECK(f->err_status >= 0 && f->err_ns - r->fault_ns <= lim,
		      "%s %s: error within 2x budget (%.2f s <= %.2f s)",
		      r->scen, op, t, lim / 1e9);
		CHECK(!f->bad_data, "%s %s: data read before the fault correct",
		      r->scen, op);
		CHECK(!ibv_query_qp(f->qp, &qa, IBV_QP_STATE, &qi) &&
			      qa.qp_state == IBV_QPS_ERR,
		      "%s %s: QP in ERR", r->scen, op);
	}
	CHECK(wait_fatal(r, 5), "%s: IBV_EVENT_QP_FATAL on every QP", r->scen);
}

/* READs the peer's WRITE region back over QP 2 and compares. */
static void check_written(struct run *r)
{
	uint64_t i, bad = 0, n = 0, end;
	struct ibv_wc wc;
	int got = 0, errs = 0;

	for (i = 0; i < SLOTS; i++) {
		struct ibv_sge sge = { (uintptr_t)r->e.buf + BACK_OFF + i * BLK,
				       BLK, r->e.mr->lkey };
		struct ibv_send_wr wr = { .wr_id = i,
					  .sg_list = &sge,
					  .num_sge = 1,
					  .opcode = IBV_WR_RDMA_READ,
					  .send_flags = IBV_SEND_SIGNALED },
				   *bad_wr;

		wr.wr.rdma.rkey = r->peer.rkey;
		wr.wr.rdma.remote_addr = r->peer.addr + W_OFF + i * BLK;
		if (ibv_post_send(r->e.qp[2], &wr, &bad_wr))
			break;
	}
	end = now_ns() + 20000000000ull;
	while (got < (int)i && now_ns() < end) {
		int k = ibv_poll_cq(r->e.cq, 1, &wc);

		got += k;
		if (k && wc.status != IBV_WC_SUCCESS)
			errs++;
	}
	for (i = 0; i < SLOTS; i++) {
		if (!r->wrote[i])
			continue;
		n++;
		bad += !msg_ok(r->e.buf + BACK_OFF + i * BLK, r->last_seq[i]);
	}
	CHECK(got == SLOTS && !errs && n && !bad,
	      "%s: WRITE region read back: %llu blocks written, %llu wrong",
	      r->scen, (unsigned long long)n, (unsigned long long)bad);
}

/* Every flow ran through the fault without an error, data intact. */
static void check_survived(struct run *r)
{
	uint64_t res[2] = { 0, 0 };
	int i;

	for (i = 0; i < r->nflows; i++)
		r->f[i].stopped = true;
	pump(r, now_ns() + 30000000000ull, all_idle);
	for (i = 0; i < r->nflows; i++) {
		struct flow *f = &r->f[i];
		const char *op = op_name(f->op);

		CHECK(f->err_status < 0 && f->next == f->done,
		      "%s %s: %llu WRs, all succeeded (%s)", r->scen, op,
		      (unsigned long long)f->ok,
		      f->err_status < 0 ? "no error"
					: ibv_wc_status_str(f->err_status));
		CHECK(f->ok_after > 0,
		      "%s %s: traffic flows after the fault (%llu WRs)",
		      r->scen, op, (unsigned long long)f->ok_after);
		CHECK(!f->bad_data && !f->bad_order,
		      "%s %s: data and order correct", r->scen, op);
	}
	check_written(r);
	if (write(r->wfd, &r->f[1].ok, sizeof(r->f[1].ok)) !=
		    sizeof(r->f[1].ok) ||
	    read(r->rfd, res, sizeof(res)) != sizeof(res))
		res[0] = res[1] = ~0ull;
	CHECK(res[0] == r->f[1].ok && !res[1],
	      "%s: the peer received %llu SENDs in order, %llu wrong", r->scen,
	      (unsigned long long)res[0], (unsigned long long)res[1]);
}

static void stop_peer(struct run *r)
{
	int i;

	if (r->pid > 0) {
		kill(r->pid, SIGCONT);
		kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
	}
	for (i = 0; i < NQP; i++)
		if (r->e.qp[i])
			ibv_destroy_qp(r->e.qp[i]);
	if (r->e.mr)
		ibv_dereg_mr(r->e.mr);
	if (r->e.cq)
		ibv_destroy_cq(r->e.cq);
	if (r->e.pd)
		ibv_dealloc_pd(r->e.pd);
	if (r->e.ctx)
		ibv_close_device(r->e.ctx);
	free(r->e.buf);
}

static void fault_start(struct run *r)
{
	r->fault_ns = now_ns();
}

static void fault_end(struct run *r)
{
	r->fault_end_ns = now_ns();
}

static void scen_kill(struct run *r, bool reset)
{
	pump(r, now_ns() + SEC, NULL);
	fault_start(r);
	if (reset) {
		char *argv[] = { "ip", "netns", "exec", (char *)r->ns, "ss",
				 "-t", "-K",	"dst",	(char *)r->ip, NULL };

		CHECK(run_cmd(argv) == 0, "reset: ss -K in the peer's netns");
	} else {
		kill(r->pid, SIGKILL);
	}
	pump(r, now_ns() + 4 * budget_ns(r) + 5 * SEC, all_failed);
	check_failed(r);
}

/* The big WRITE on the WRITE flow (flow 0), from a known pattern. */
static int post_big(struct run *r)
{
	struct flow *f = &r->f[0];
	char *src = r->e.buf + OBIG_OFF;
	struct ibv_sge sge = { (uintptr_t)src, BIG, r->e.mr->lkey };
	struct ibv_send_wr wr = { .wr_id = f->next,
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = IBV_WR_RDMA_WRITE,
				  .send_flags = IBV_SEND_SIGNALED },
			   *bad;
	uint64_t i;

	for (i = 0; i < BIG; i++)
		src[i] = (char)r_byte(i + 7);
	wr.wr.rdma.rkey = r->peer.rkey;
	wr.wr.rdma.remote_addr = r->peer.addr + BIG_OFF;
	if (ibv_post_send(f->qp, &wr, &bad))
		return -1;
	r->big_wr = f->next++;
	return 0;
}

/*
 * Polls this process's TCP sockets until one has bytes the kernel may
 * not send and none unacknowledged: the peer's receive window is shut.
 */
static bool wait_window_shut(int secs)
{
	uint64_t end = now_ns() + secs * 1000000000ull;

	while (now_ns() < end) {
		DIR *d = opendir("/proc/self/fd");
		struct dirent *de;
		bool shut = false;

		while (d && (de = readdir(d))) {
			struct tcp_info ti;
			socklen_t l = sizeof(ti);
			int fd = atoi(de->d_name), unsent = 0;

			if (fd <= 2 || fd == dirfd(d) ||
			    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) ||
			    ti.tcpi_state != 1 /* TCP_ESTABLISHED */)
				continue;
			if (!ioctl(fd, SIOCOUTQNSD, &unsent) && unsent &&
			    !ti.tcpi_unacked)
				shut = true;
		}
		if (d)
			closedir(d);
		if (shut)
			return true;
		usleep(10000);
	}
	return false;
}

/* READs the big WRITE's target back and compares it with the source. */
static void check_big(struct run *r)
{
	char *back = r->e.buf + OBIG_OFF + BIG;
	struct ibv_sge sge = { (uintptr_t)back, BIG, r->e.mr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1,
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = IBV_WR_RDMA_READ,
				  .send_flags = IBV_SEND_SIGNALED },
			   *bad;
	uint64_t end = now_ns() + 20000000000ull;
	struct ibv_wc wc;
	int n = 0;

	wr.wr.rdma.rkey = r->peer.rkey;
	wr.wr.rdma.remote_addr = r->peer.addr + BIG_OFF;
	if (!ibv_post_send(r->e.qp[2], &wr, &bad))
		while (!n && now_ns() < end)
			n = ibv_poll_cq(r->e.cq, 1, &wc);
	CHECK(n == 1 && wc.status == IBV_WC_SUCCESS &&
		      !memcmp(back, r->e.buf + OBIG_OFF, BIG),
	      "%s: the %u MiB WRITE read back intact", r->scen, BIG >> 20);
}

static void scen_stop(struct run *r)
{
	int st;

	pump(r, now_ns() + SEC, NULL);
	kill(r->pid, SIGSTOP);
	waitpid(r->pid, &st, WUNTRACED);
	fault_start(r);
	CHECK(!post_big(r), "sigstop: %u MiB WRITE posted to the stopped peer",
	      BIG >> 20);
	CHECK(wait_window_shut(10),
	      "sigstop: the stopped peer's receive window shut");
	pump(r, r->fault_ns + r->stop_secs * SEC, NULL);
	kill(r->pid, SIGCONT);
	fault_end(r);
	pump_recovery(r);
	check_survived(r);
	check_big(r);
}

static void scen_link(struct run *r, bool lasting)
{
	pump(r, now_ns() + SEC, NULL);
	fault_start(r);
	CHECK(link_set(r, "down") == 0, "%s: %s down", r->scen, r->ifname);
	if (lasting) {
		pump(r, now_ns() + 4 * budget_ns(r), all_failed);
		link_set(r, "up");
		check_failed(r);
		return;
	}
	pump(r, now_ns() + 5 * SEC, NULL);
	CHECK(link_set(r, "up") == 0, "%s: %s up after 5 s", r->scen,
	      r->ifname);
	fault_end(r);
	pump_recovery(r);
	check_survived(r);
}

/*
 * A requester whose only outstanding request is a READ the peer's kernel
 * acknowledged: the peer is stopped while the READ goes out, the link
 * goes down, then the peer runs again and its response is lost. The
 * requester's kernel has nothing to resend.
 */
static void scen_read(struct run *r)
{
	struct flow *f = &r->f[0];
	int st;

	pump(r, now_ns() + SEC, NULL);
	f->stopped = true;
	pump(r, now_ns() + 10 * SEC, all_idle);
	kill(r->pid, SIGSTOP);
	waitpid(r->pid, &st, WUNTRACED);
	CHECK(!post_one(r, f, 0), "linkread: READ posted");
	CHECK(wait_all_acked(5),
	      "linkread: the READ request acknowledged by the peer's kernel");
	fault_start(r);
	CHECK(link_set(r, "down") == 0, "linkread: %s down", r->ifname);
	kill(r->pid, SIGCONT);
	pump(r, now_ns() + 4 * budget_ns(r), all_failed);
	link_set(r, "up");
	check_failed(r);
}

int main(int argc, char **argv)
{
	static const enum ibv_wr_opcode all[NQP] = { IBV_WR_RDMA_WRITE,
						     IBV_WR_SEND,
						     IBV_WR_RDMA_READ };
	static const enum ibv_wr_opcode rd[1] = { IBV_WR_RDMA_READ };
	static const int idx_all[NQP] = { 0, 1, 2 }, idx_rd[1] = { 2 };
	struct run r = { 0 };
	const char *s;
	int ok;

	if (argc < 7) {
		fprintf(stderr,
			"usage: %s SCENARIO PEER_NS DEV PEER_DEV IF IP "
			"[STOP_SECS]\n",
			argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	r.scen = s = argv[1];
	r.ns = argv[2];
	r.dev = argv[3];
	r.peer_dev = argv[4];
	r.ifname = argv[5];
	r.ip = argv[6];
	r.stop_secs = argc > 7 ? atoi(argv[7]) : 30;
	/*
	 * budget 4.096 us << 17 x 4 = 2.15 s; linkshort 17.2 s: after a 5 s
	 * outage TCP's next resend (back-off 0.2, 0.4, ... s) may come only
	 * 12.6 s after the last ACK, if the link is back a little late
	 */
	r.timeout = strcmp(s, "linkshort") ? 17 : 20;
	r.retry = 3;
	if (!strcmp(s, "linkread"))
		ok = !start(&r, 1, rd, idx_rd);
	else
		ok = !start(&r, NQP, all, idx_all);
	CHECK(ok, "%s: two ends connected across namespaces", s);
	if (ok) {
		if (!strcmp(s, "sigkill") || !strcmp(s, "reset"))
			scen_kill(&r, !strcmp(s, "reset"));
		else if (!strcmp(s, "sigstop"))
			scen_stop(&r);
		else if (!strcmp(s, "linkshort") || !strcmp(s, "linklong"))
			scen_link(&r, !strcmp(s, "linklong"));
		else if (!strcmp(s, "linkread"))
			scen_read(&r);
		else
			CHECK(0, "%s: known scenario", s);
	}
	stop_peer(&r);
	return tc_report();
}
