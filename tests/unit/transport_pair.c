// SPDX-License-Identifier: MIT
/* Two QPs back to back for the transport's unit test: see transport_pair.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport_pair.h"

#define TQP_WR	   16
#define TQP_SGE	   2
#define TQP_INLINE 64
#define TNODE_CQE  256

enum tcp_psp_mode tpair_mode = TCP_PSP_OFF;
const uint8_t tpair_key_ab[16] = { 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
				   0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,
				   0x1c, 0x1d, 0x1e, 0x1f };
const uint8_t tpair_key_ba[16] = { 0xb0, 0xa1, 0xb2, 0xa3, 0xb4, 0xa5,
				   0xb6, 0xa7, 0xb8, 0xa9, 0xba, 0xab,
				   0xbc, 0xad, 0xbe, 0xaf };

static const struct tqp_opts default_opts = {
	.max_rd_atomic = 4,
	.max_dest_rd_atomic = 4,
	.access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
		  IBV_ACCESS_REMOTE_ATOMIC,
};

/* An engine that never runs: nothing to serve, no thread. */
static const struct tcp_engine_hooks *const no_hooks[] = { NULL };

static int engine_new(struct tcp_context *ctx)
{
	struct tcp_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return ENOMEM;
	e->hooks = no_hooks;
	tcp_mutex_init(&e->closing_lock, TCP_LOCK_RANK_CLOSING);
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->lease_fd = -1; /* no lease: nothing would read it */
	ctx->engine = e;
	return e->epfd < 0 || e->wakefd < 0 ? errno : 0;
}

/* A context as tcp_alloc_context makes one, minus libibverbs. */
static struct tcp_context *ctx_new(void)
{
	struct tcp_context *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	ctx->async_wfd = -1;
	ctx->vctx.context.async_fd = -1;
	ctx->vctx.context.num_comp_vectors = 1;
	tcp_mutex_init(&ctx->async_lock, TCP_LOCK_RANK_ASYNC);
	tcp_mutex_init(&ctx->lock, TCP_LOCK_RANK_CTX);
	tcp_mutex_init(&ctx->ev_lock, TCP_LOCK_RANK_EV);
	keytab_init(&ctx->keys, TCP_MAX_MR);
	if (tcp_async_open(ctx) || engine_new(ctx))
		return ctx; /* the caller's checks fail on the missing fds */
	/* the test looks for events without waiting */
	fcntl(ctx->vctx.context.async_fd, F_SETFL, O_NONBLOCK);
	return ctx;
}

static void ctx_free(struct tcp_context *ctx)
{
	if (!ctx)
		return;
	/* the engine was never started: this closes its fds and whatever
	 * sockets linger (their peers are closed, so at once) */
	tcp_engine_stop(ctx);
	if (ctx->async_wfd >= 0)
		close(ctx->async_wfd);
	if (ctx->vctx.context.async_fd >= 0)
		close(ctx->vctx.context.async_fd);
	keytab_destroy(&ctx->keys);
	tcp_mutex_destroy(&ctx->lock);
	tcp_mutex_destroy(&ctx->ev_lock);
	tcp_mutex_destroy(&ctx->async_lock);
	free(ctx);
}

static struct ibv_mr *reg_at(struct tnode *n, struct ibv_pd *pd, void *addr,
			     size_t len, int access)
{
	struct ibv_mr *mr = tcp_reg_mr(pd, addr, len, (uintptr_t)addr, access);

	/* what libibverbs fills in after the provider returns */
	if (mr) {
		mr->context = &n->ctx->vctx.context;
		mr->pd = pd;
		mr->addr = addr;
		mr->length = len;
	}
	return mr;
}

static struct ibv_mr *reg(struct tnode *n, struct ibv_pd *pd, size_t off,
			  size_t len, int access)
{
	return reg_at(n, pd, n->mem + off, len, access);
}

struct ibv_mr *tnode_reg(struct tnode *n, void *addr, size_t len)
{
	const int all = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;

	return reg_at(n, n->pd, addr, len, all);
}

void tnode_dereg(struct ibv_mr *mr)
{
	if (mr)
		tcp_dereg_mr(container_of(mr, struct verbs_mr, ibv_mr));
}

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/* The queues, as qp.c's qp_alloc_queues lays them out: one block in
 * qp->qbuf (tcp_qp_free frees it). */
static int qp_queues(struct tcp_qp *qp)
{
	size_t sq_wqe, sq_segs, sq_inl, rq_wqe, rq_segs;
	char *b;

	qp->sq.size = pow2_at_least(qp->cap.max_send_wr);
	qp->rq.size = pow2_at_least(qp->cap.max_recv_wr);
	sq_wqe = (size_t)qp->sq.size * sizeof(*qp->sq.wqe);
	sq_segs = (size_t)qp->sq.size * TQP_SGE * sizeof(struct tcp_seg);
	sq_inl = (size_t)qp->sq.size * TQP_INLINE;
	rq_wqe = (size_t)qp->rq.size * sizeof(*qp->rq.wqe);
	rq_segs = (size_t)qp->rq.size * TQP_SGE * sizeof(struct tcp_seg);
	/* every part a multiple of 8 bytes: each one stays aligned */
	b = calloc(1, sq_wqe + sq_segs + sq_inl + rq_wqe + rq_segs);
	qp->qbuf.p = b;
	qp->rx.rwqe.seg = calloc(TCP_MAX_SGE, sizeof(struct tcp_seg));
	qp->rx.buf = malloc(TCP_RXBUF);
	if (!b || !qp->rx.rwqe.seg || !qp->rx.buf)
		return ENOMEM;
	qp->sq.wqe = (void *)b;
	qp->sq.segs = (void *)(b + sq_wqe);
	qp->sq.inl = b + sq_wqe + sq_segs;
	qp->rq.wqe = (void *)(b + sq_wqe + sq_segs + sq_inl);
	qp->rq.segs = (void *)(b + sq_wqe + sq_segs + sq_inl + rq_wqe);
	/* (a WQE's pointers into these are set as it is posted) */
	qp->sq.sges = qp->rq.sges = TQP_SGE;
	return 0;
}

/*
 * An RC (or UC) QP in RTS, its attributes as modify_qp stores them: RNR retry 7
 * (waits for credit for ever: no timer decides anything here), timeout 0
 * (no dead-peer watch).
 */
static struct tcp_qp *qp_new(struct tnode *n, const struct tqp_opts *o,
			     uint32_t qpn, uint32_t dest)
{
	struct tcp_qp *qp = calloc(1, sizeof(*qp));

	if (!qp)
		return NULL;
	qp->ctx = n->ctx;
	qp->conn.fd = -1;
	qp->conn.closing_fd = -1;
	qp->conn.poll.qp = qp;
	qp->type = o->uc ? IBV_QPT_UC : IBV_QPT_RC;
	qp->pd = container_of(n->pd, struct tcp_pd, ibv_pd);
	qp->scq = qp->rcq = container_of(n->cq, struct tcp_cq, vcq.cq);
	qp->cap.max_send_wr = qp->cap.max_recv_wr = TQP_WR;
	qp->cap.max_send_sge = qp->cap.max_recv_sge = TQP_SGE;
	qp->cap.max_inline_data = TQP_INLINE;
	tcp_mutex_init(&qp->lock, TCP_LOCK_RANK_QP);
	qp->vqp.qp.context = &n->ctx->vctx.context;
	qp->vqp.qp.qp_num = qpn;
	qp->vqp.qp.pd = n->pd;
	qp->vqp.qp.send_cq = qp->vqp.qp.recv_cq = n->cq;
	qp->vqp.qp.qp_type = qp->type;
	qp->attr.qp_access_flags = o->access;
	qp->attr.max_rd_atomic = o->max_rd_atomic;
	qp->attr.max_dest_rd_atomic = o->max_dest_rd_atomic;
	qp->attr.dest_qp_num = dest;
	qp->attr.min_rnr_timer = 12;
	qp->attr.rnr_retry = 7;
	qp->state = qp->vqp.qp.state = IBV_QPS_RTS;
	if (n->srq) {
		qp->srq = container_of(n->srq, struct tcp_srq, vsrq.srq);
		qp->vqp.qp.srq = n->srq;
	}
	if (qp_queues(qp)) {
		tcp_qp_free(qp);
		return NULL;
	}
	return qp;
}

static int node_open(struct tnode *n, const struct tqp_opts *o, uint32_t qpn,
		     uint32_t dest)
{
	const int all = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;
	size_t i;

	n->fd = -1;
	n->ctx = ctx_new();
	if (!n->ctx || n->ctx->vctx.context.async_fd < 0 || !n->ctx->engine ||
	    n->ctx->engine->wakefd < 0)
		return ENOMEM;
	n->pd = tcp_alloc_pd(&n->ctx->vctx.context);
	n->pd2 = tcp_alloc_pd(&n->ctx->vctx.context);
	n->mem = aligned_alloc(4096, TNODE_MEM);
	if (!n->pd || !n->pd2 || !n->mem)
		return ENOMEM;
	for (i = 0; i < TNODE_MEM; i++)
		n->mem[i] = (uint8_t)(i * 7 + (qpn >> 8));
	n->mr = reg(n, n->pd, 0, TNODE_RW, all);
	n->ro = reg(n, n->pd, TNODE_RW, TNODE_RO,
		    IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ);
	n->other = reg(n, n->pd2, TNODE_OTHER, TNODE_RW, all);
	n->big = reg(n, n->pd, TNODE_BIG, TNODE_BIG_LEN, all);
	n->cq = tcp_create_cq(&n->ctx->vctx.context, TNODE_CQE, NULL, 0);
	if (!n->mr || !n->ro || !n->other || !n->big || !n->cq)
		return ENOMEM;
	n->cq->context = &n->ctx->vctx.context;
	if (o && o->srq) {
		struct ibv_srq_init_attr sa = {
			.attr = { .max_wr = TQP_WR, .max_sge = TQP_SGE }
		};

		n->srq = tcp_create_srq(n->pd, &sa);
		if (!n->srq)
			return ENOMEM;
	}
	n->qp = qp_new(n, o ? o : &default_opts, qpn, dest);
	return n->qp ? 0 : ENOMEM;
}

/*
 * The security the handshake would have set up: n seals with @tx_key
 * under @tx_spi, and opens with @rx_key under @rx_spi.
 */
static int node_secure(struct tnode *n, uint32_t tx_spi, const uint8_t *tx_key,
		       uint32_t rx_spi, const uint8_t *rx_key)
{
	struct tcp_sec_state *s = &n->qp->sec;

	s->mode = tpair_mode;
	if (tpair_mode == TCP_PSP_OFF)
		return 0;
	if (tcp_psp_sa_init(&s->tx, tpair_mode, TCP_PSP_AES128, tx_spi,
			    tx_key) ||
	    tcp_psp_sa_init(&s->rx[0], tpair_mode, TCP_PSP_AES128, rx_spi,
			    rx_key))
		return ENOMEM;
	return 0;
}

/* The connection comes up as an accepted one does (tcp_qp_conn_ready):
 * each side's first frame announces its credits. */
static int node_connect(struct tnode *n)
{
	int sv[2], sndbuf = 65536;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv))
		return errno;
	/* the same room whatever the host's defaults: a 1 MiB response
	 * does not fit (the kernel doubles what is set) */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	n->qp->conn.fd = sv[0];
	n->fd = sv[1];
	tcp_mutex_lock(&n->qp->lock);
	tcp_qp_conn_ready(n->qp);
	tcp_mutex_unlock_qp(&n->qp->lock);
	return n->qp->conn.connected ? 0 : ENOTCONN;
}

int tpair_open(struct tpair *p, const struct tqp_opts *a,
	       const struct tqp_opts *b)
{
	int err;

	memset(p, 0, sizeof(*p));
	p->a.fd = p->b.fd = -1;
	p->ab.sec = p->ba.sec = tpair_mode != TCP_PSP_OFF;
	err = node_open(&p->a, a, 0x10100, 0x20200);
	if (!err)
		err = node_open(&p->b, b, 0x20200, 0x10100);
	if (!err)
		err = node_secure(&p->a, TPAIR_SPI_AB, tpair_key_ab,
				  TPAIR_SPI_BA, tpair_key_ba);
	if (!err)
		err = node_secure(&p->b, TPAIR_SPI_BA, tpair_key_ba,
				  TPAIR_SPI_AB, tpair_key_ab);
	if (!err)
		err = node_connect(&p->a);
	if (!err)
		err = node_connect(&p->b);
	return err;
}

int tpair_open_self(struct tpair *p)
{
	int err;

	memset(p, 0, sizeof(*p));
	p->a.fd = p->b.fd = -1;
	p->ab.sec = p->ba.sec = tpair_mode != TCP_PSP_OFF;
	err = node_open(&p->a, NULL, 0x10100, 0x10100);
	if (!err)
		err = node_secure(&p->a, TPAIR_SPI_AB, tpair_key_ab,
				  TPAIR_SPI_AB, tpair_key_ab);
	if (!err)
		err = node_connect(&p->a);
	return err;
}

static void node_close(struct tnode *n)
{
	struct tcp_qp *qp = n->qp;

	if (qp) {
		tcp_mutex_lock(&qp->lock);
		tcp_qp_close_conn(qp); /* frees queued responses */
		/* (the handshake's code clears these with the connection) */
		tcp_psp_sa_clear(&qp->sec.tx);
		tcp_psp_sa_clear(&qp->sec.rx[0]);
		tcp_psp_sa_clear(&qp->sec.rx[1]);
		tcp_mutex_unlock_qp(&qp->lock);
		if (qp->conn.closing_fd >= 0)
			close(qp->conn.closing_fd);
		tcp_qp_free(qp);
	}
	if (n->fd >= 0)
		close(n->fd);
	if (n->mr)
		tcp_dereg_mr(container_of(n->mr, struct verbs_mr, ibv_mr));
	if (n->ro)
		tcp_dereg_mr(container_of(n->ro, struct verbs_mr, ibv_mr));
	if (n->other)
		tcp_dereg_mr(container_of(n->other, struct verbs_mr, ibv_mr));
	if (n->big)
		tcp_dereg_mr(container_of(n->big, struct verbs_mr, ibv_mr));
	if (n->srq)
		tcp_destroy_srq(n->srq);
	if (n->cq)
		tcp_destroy_cq(n->cq);
	if (n->pd)
		tcp_dealloc_pd(n->pd);
	if (n->pd2)
		tcp_dealloc_pd(n->pd2);
	free(n->mem);
}

void tpair_close(struct tpair *p)
{
	node_close(&p->a);
	node_close(&p->b);
	ctx_free(p->a.ctx);
	ctx_free(p->b.ctx);
}

static bool is_rd_atomic_req(uint8_t op)
{
	return op == RTCP_OP_READ_REQ || op == RTCP_OP_ATOMIC_CMP_SWP ||
	       op == RTCP_OP_ATOMIC_FADD;
}

/* A whole header passed A's or B's tap. */
static void tap_header(struct tpair *p, struct tap *t)
{
	struct rtcp_hdr h;

	rtcp_hdr_decode(t->hb, &h);
	t->pos += RTCP_HDR_LEN;
	t->got = 0;
	if (t->sec && !t->grp_left && h.opcode == RTCP_OP_GROUP) {
		/* its frames follow as they are, its tag after the last */
		t->groups++;
		t->grp_left = h.len;
		if (h.sseq != t->pos || h.len < 2 * RTCP_HDR_LEN)
			t->bad++;
		return;
	}
	if (rtcp_hdr_validate(&h, t->pos, TCP_MAX_MSG_SZ))
		t->bad++;
	if (t->n < TAP_LOG)
		t->log[t->n] = h;
	t->n++;
	t->got = 0;
	/* (a secured frame's chunks carry their tags) */
	t->left = t->sec ? tcp_psp_frame_bytes(h.len) - RTCP_HDR_LEN : h.len;
	if (t->grp_left) {
		if (t->grp_left < RTCP_HDR_LEN + (uint64_t)h.len) {
			t->bad++; /* (the tap loses the stream: counts go off) */
			t->grp_left = RTCP_HDR_LEN + h.len;
		}
		t->grp_left -= RTCP_HDR_LEN + h.len;
		t->left = h.len + (t->grp_left ? 0 : TCP_PSP_TAG_LEN);
	}
	t->pos += t->left;
	if (t == &p->ab && is_rd_atomic_req(h.opcode) &&
	    ++p->rd_out > p->rd_max)
		p->rd_max = p->rd_out;
	if (t == &p->ba &&
	    (h.opcode == RTCP_OP_READ_RESP || h.opcode == RTCP_OP_ATOMIC_RESP))
		p->rd_out--;
}

static void tap_feed(struct tpair *p, struct tap *t, const uint8_t *b,
		     size_t len)
{
	while (len) {
		size_t k;

		if (t->left) {
			k = t->left < len ? t->left : len;
			t->left -= k;
		} else {
			k = RTCP_HDR_LEN - t->got;
			k = k < len ? k : len;
			memcpy(t->hb + t->got, b, k);
			t->got += k;
			if (t->got == RTCP_HDR_LEN)
				tap_header(p, t);
		}
		b += k;
		len -= k;
	}
}

size_t tpair_take(struct tpair *p, struct tnode *n, uint8_t *buf, size_t max)
{
	size_t got = 0;

	while (got < max) {
		ssize_t k = recv(n->fd, buf + got, max - got, MSG_DONTWAIT);

		if (k <= 0) {
			n->eof |= k == 0;
			break;
		}
		got += k;
	}
	tap_feed(p, n == &p->a ? &p->ab : &p->ba, buf, got);
	return got;
}

void tpair_give(struct tpair *p, struct tnode *n, const uint8_t *buf,
		size_t len)
{
	(void)p;
	while (len) {
		ssize_t k = send(n->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (k <= 0)
			return; /* (the test's checks find what is missing) */
		buf += k;
		len -= k;
	}
}

/* Hands pending bytes to the peer's socket while it has room. */
static void relay_flush(struct relay_buf *r, struct tnode *to)
{
	while (r->off < r->len) {
		ssize_t k = send(to->fd, r->data + r->off, r->len - r->off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (k <= 0)
			return;
		r->off += k;
	}
	r->off = r->len = 0;
}

size_t tpair_relay(struct tpair *p, struct tnode *from)
{
	struct tnode *to = from == &p->a ? &p->b : &p->a;
	struct relay_buf *r = from == &p->a ? &p->rab : &p->rba;
	size_t n, total = 0;

	for (;;) {
		relay_flush(r, to);
		if (r->len)
			return total; /* the peer reads first */
		n = tpair_take(p, from, r->data, sizeof(r->data));
		if (!n)
			break;
		r->len = n;
		total += n;
	}
	/* the QP closed its socket: its peer sees the FIN */
	if (from->eof && to->fd >= 0)
		shutdown(to->fd, SHUT_WR);
	return total;
}

bool tpair_serve(struct tnode *n)
{
	struct tcp_qp *qp = n->qp;
	struct pollfd pf = { .fd = qp->conn.fd };
	bool did = false;

	/* the engine's timer pass (here without the tick's duties) */
	if (atomic_load(&qp->ctx->engine->stalled) ||
	    atomic_load(&qp->ctx->engine->coarse)) {
		uint64_t seq = qp->tx.seq;
		enum ibv_qp_state st = qp->state;

		tcp_mutex_lock(&qp->lock);
		tcp_qp_timers(qp, tcp_now_ns());
		tcp_mutex_unlock_qp(&qp->lock);
		did = qp->tx.seq != seq || qp->state != st;
	}
	/* the events the engine would watch for (poll's bits are epoll's) */
	pf.events = (short)tcp_qp_events(qp);
	if (pf.fd >= 0 && poll(&pf, 1, 0) == 1) {
		tcp_qp_ready(qp->ctx, &qp->conn.poll.p, pf.revents);
		did = true;
	}
	/* the engine's flush of work held back for batching */
	tcp_mutex_lock(&qp->lock);
	if (qp->prog.tx_deferred && qp->conn.connected) {
		tcp_qp_flush(qp);
		did = true;
	}
	tcp_mutex_unlock_qp(&qp->lock);
	return did;
}

bool tpair_pump(struct tpair *p)
{
	int i;

	for (i = 0; i < 100000; i++) {
		int eofs = p->a.eof + p->b.eof;
		bool moved;

		/* serve first: what it sends is relayed in the same round */
		moved = tpair_serve(&p->a);
		moved |= tpair_serve(&p->b);
		moved |= tpair_relay(p, &p->a) != 0;
		moved |= tpair_relay(p, &p->b) != 0;
		moved |= p->a.eof + p->b.eof != eofs;
		if (!moved)
			return true;
	}
	return false;
}

int tnode_poll(struct tnode *n, struct ibv_wc *wc, int max)
{
	return tcp_poll_cq(n->cq, max, wc);
}

bool tnode_async(struct tnode *n, uint32_t *type, uint64_t *element)
{
	struct vabi_async_event_desc d;

	if (read(n->ctx->vctx.context.async_fd, &d, sizeof(d)) != sizeof(d))
		return false;
	*type = d.event_type;
	*element = d.element;
	return true;
}

/* The local key of the registered memory at addr. */
static uint32_t lkey_of(struct tnode *n, const void *addr)
{
	return (const uint8_t *)addr >= n->mem + TNODE_BIG ? n->big->lkey
							   : n->mr->lkey;
}

int tnode_post(struct tnode *n, enum ibv_wr_opcode op, uint64_t wr_id,
	       void *laddr, uint32_t len, struct ibv_mr *rmr, uint64_t raddr,
	       unsigned int flags)
{
	struct ibv_sge sge = { .addr = (uintptr_t)laddr,
			       .length = len,
			       .lkey = lkey_of(n, laddr) };
	struct ibv_send_wr wr = { .wr_id = wr_id,
				  .sg_list = &sge,
				  .num_sge = laddr ? 1 : 0,
				  .opcode = op,
				  .send_flags = flags },
			   *bad;

	if (op == IBV_WR_SEND_WITH_IMM || op == IBV_WR_RDMA_WRITE_WITH_IMM)
		wr.imm_data = htobe32((uint32_t)wr_id);
	if (rmr) {
		wr.wr.rdma.rkey = rmr->rkey;
		wr.wr.rdma.remote_addr = raddr;
	}
	return tcp_post_send(&n->qp->vqp.qp, &wr, &bad);
}

int tnode_atomic(struct tnode *n, enum ibv_wr_opcode op, uint64_t wr_id,
		 void *laddr, struct ibv_mr *rmr, uint64_t raddr,
		 uint64_t compare_add, uint64_t swap)
{
	struct ibv_sge sge = { .addr = (uintptr_t)laddr,
			       .length = 8,
			       .lkey = n->mr->lkey };
	struct ibv_send_wr wr = { .wr_id = wr_id,
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED },
			   *bad;

	wr.wr.atomic.rkey = rmr->rkey;
	wr.wr.atomic.remote_addr = raddr;
	wr.wr.atomic.compare_add = compare_add;
	wr.wr.atomic.swap = swap;
	return tcp_post_send(&n->qp->vqp.qp, &wr, &bad);
}

int tnode_recv(struct tnode *n, uint64_t wr_id, void *addr, uint32_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)addr,
			       .length = len,
			       .lkey = lkey_of(n, addr) };
	struct ibv_recv_wr wr = { .wr_id = wr_id,
				  .sg_list = &sge,
				  .num_sge = 1 },
			   *bad;

	if (n->srq)
		return tcp_post_srq_recv(n->srq, &wr, &bad);
	return tcp_post_recv(&n->qp->vqp.qp, &wr, &bad);
}

unsigned int tap_cut_frames(const struct tap *t, uint8_t op, uint64_t len)
{
	unsigned int i, n = 0;
	uint64_t off = 0;

	for (i = 0; i < t->n && i < TAP_LOG; i++) {
		const struct rtcp_hdr *h = &t->log[i];

		if (h->opcode != op)
			continue;
		if (h->aux0 != off || h->aux1 != len ||
		    !(h->flags & RTCP_F_MORE) != (off + h->len == len))
			return 0;
		off += h->len;
		n++;
	}
	return off == len ? n : 0;
}

size_t tpair_take_all(struct tpair *p, struct tnode *n, uint8_t *buf,
		      size_t max)
{
	size_t got = 0, k;

	do {
		tpair_serve(n);
		k = tpair_take(p, n, buf + got, max - got);
		got += k;
	} while (k && got < max);
	return got;
}

void tnode_feed(struct tnode *n, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t k = send(n->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (k <= 0) {
			if (!tpair_serve(n))
				return; /* n reads no more */
			continue;
		}
		buf += k;
		len -= k;
		tpair_serve(n);
	}
	tpair_serve(n);
}
