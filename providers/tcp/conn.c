// SPDX-License-Identifier: MIT
/*
 * Connection rendezvous (docs/design.md, "Connection rendezvous"). The QPN
 * routes the connection: its upper 16 bits are the TCP port of a listener
 * owned by the context, its low 8 bits the QP's slot behind that listener.
 * At RTR the end with the smaller (GID, QPN) connects and sends a hello
 * naming both QPNs; the other end binds the accepted socket to its QP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "debug.h"
#include "hello.h"
#include "qp.h"
#include "sec_conn.h"

static const struct tcp_watch_ops lsock_ops;

/* Gives the QP a number; caller holds ctx->lock. */
int tcp_qpn_alloc(struct tcp_qp *qp)
{
	struct tcp_context *ctx = qp->ctx;
	struct tcp_rendezvous *rv = ctx->rv; /* as long as the engine runs */
	struct tcp_listener *l = NULL, **nl;
	int i, err;

	if (!rv)
		return ENODEV;
	for (i = 0; i < rv->nlis; i++)
		if (rv->lis[i]->nused < TCP_QPS_PER_LISTENER) {
			l = rv->lis[i];
			break;
		}
	if (!l) {
		l = calloc(1, sizeof(*l));
		nl = realloc(rv->lis, (rv->nlis + 1) * sizeof(*nl));
		if (!l || !nl) {
			free(l);
			if (nl)
				rv->lis = nl;
			return ENOMEM;
		}
		rv->lis = nl;
		err = tcp_listen_open(ctx, l, &lsock_ops);
		if (err) {
			free(l);
			return err;
		}
		rv->lis[rv->nlis++] = l;
	}
	for (i = l->next_slot; l->slots[i % TCP_QPS_PER_LISTENER]; i++)
		;
	i %= TCP_QPS_PER_LISTENER;
	l->next_slot = (i + 1) % TCP_QPS_PER_LISTENER;
	l->slots[i] = qp;
	l->nused++;
	qp->lis = l;
	qp->slot = i;
	qp->vqp.qp.qp_num = (uint32_t)l->port << 8 | i;
	return 0;
}

static struct tcp_listener *listener_of(struct tcp_context *ctx, uint32_t qpn)
{
	struct tcp_rendezvous *rv = ctx->rv;
	int i;

	for (i = 0; rv && i < rv->nlis; i++)
		if (rv->lis[i]->port == qpn >> 8)
			return rv->lis[i];
	return NULL;
}

/* Caller holds ctx->lock. */
void tcp_qpn_free(struct tcp_qp *qp)
{
	struct tcp_listener *l = listener_of(qp->ctx, qp->vqp.qp.qp_num);

	if (l && l->slots[qp->slot] == qp) {
		l->slots[qp->slot] = NULL;
		l->nused--;
	}
	qp->lis = NULL;
}

struct tcp_qp *tcp_conn_live_qp(struct tcp_context *ctx)
{
	struct tcp_rendezvous *rv = ctx->rv;
	int i, j;

	tcp_assert_held(&ctx->lock);
	for (i = 0; rv && i < rv->nlis; i++)
		for (j = 0; rv->lis[i]->nused && j < TCP_QPS_PER_LISTENER; j++)
			if (rv->lis[i]->slots[j])
				return rv->lis[i]->slots[j];
	return NULL;
}

static void set_sock_opts(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Binds the accepted socket to its QP; ctx->lock and qp->lock held. */
static void bind_socket(struct tcp_qp *qp, int fd)
{
	qp->conn.fd = fd;
	qp->conn.connected = false;
	tcp_qp_sock_net(qp, fd);
	tcp_qp_conn_ready(qp);
}

/*
 * The connection could not be made: nobody behind that QPN
 * (ECONNREFUSED), or no fd or memory for its socket. The QP fails as a
 * NIC's whose peer never answers -- the oldest WR with
 * IBV_WC_RETRY_EXC_ERR, the rest flushed, the QP in ERR with
 * IBV_EVENT_QP_FATAL -- and modify_qp succeeds: a NIC spends no such
 * resource at RTR. Other errors (an address the kernel refuses) are
 * modify_qp's. Caller holds qp->lock.
 */
static int conn_failed(struct tcp_qp *qp, int err)
{
	switch (err) {
	case ECONNREFUSED:
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		tcp_qp_fail_conn(qp);
		return 0;
	default:
		return err;
	}
}

/* The connecting socket is the QP's; the engine waits for it. */
static int conn_watch(struct tcp_qp *qp, int fd)
{
	qp->conn.fd = fd;
	qp->conn.connecting = true;
	/* epoll out of memory: tcp_qp_fail_conn closes the socket it now owns */
	if (tcp_engine_watch(qp->ctx, fd, &qp->conn.poll.p,
			     EPOLLOUT | EPOLLIN | EPOLLRDHUP))
		tcp_qp_fail_conn(qp);
	return 0;
}

/*
 * A QP whose destination is itself (same GID, same QPN), as NICs allow:
 * a TCP socket connected to its own address and port (a "self-connect",
 * which Linux supports) reads back what it writes, so requests and
 * responses loop through the one stream. No hello: nobody to greet.
 */
static int self_connect(struct tcp_qp *qp, const union ibv_gid *sgid,
			uint32_t scope)
{
	struct sockaddr_storage a;
	socklen_t len = tcp_gid_sockaddr(sgid, 0, scope, &a);
	int fd = socket(a.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);

	if (fd < 0)
		return conn_failed(qp, errno);
	set_sock_opts(fd);
	tcp_qp_sock_net(qp, fd);
	if (bind(fd, (struct sockaddr *)&a, len) ||
	    getsockname(fd, (struct sockaddr *)&a, &len) ||
	    (connect(fd, (struct sockaddr *)&a, len) && errno != EINPROGRESS)) {
		int err = errno;

		close(fd);
		return err;
	}
	qp->conn.active = true;
	qp->conn.hello_sent = RTCP_HELLO_LEN;
	if (tcp_sec_conn_on(qp) && tcp_sec_self(qp)) {
		close(fd);
		return EIO;
	}
	return conn_watch(qp, fd);
}

/* Starts the rendezvous for a QP entering RTR; ctx->lock, qp->lock held. */
int tcp_conn_start(struct tcp_qp *qp)
{
	struct ibv_global_route *grh = &qp->attr.ah_attr.grh;
	struct sockaddr_storage src, dst;
	struct rtcp_hello h = { 0 };
	union ibv_gid sgid;
	socklen_t len;
	uint32_t scope;
	int fd, c;

	if (ibv_query_gid(&qp->ctx->vctx.context, 1, grh->sgid_index, &sgid)) {
		/* libibverbs reads the GID from a file: out of fds, the QP
		 * fails (conn_failed); an index without a GID is EINVAL */
		int err = errno;

		return conn_failed(qp, err == EMFILE || err == ENFILE ? err
								      : EINVAL);
	}
	c = memcmp(sgid.raw, grh->dgid.raw, 16);
	if (!c)
		c = qp->vqp.qp.qp_num < qp->attr.dest_qp_num   ? -1
		    : qp->vqp.qp.qp_num > qp->attr.dest_qp_num ? 1
							       : 0;
	if (c == 0)
		return self_connect(qp, &sgid,
				    if_nametoindex(qp->ctx->dev->netdev));
	qp->conn.active = c < 0;
	if (!qp->conn.active)
		return 0; /* modify_qp then matches waiting connections */

	scope = if_nametoindex(qp->ctx->dev->netdev);
	len = tcp_gid_sockaddr(&grh->dgid, qp->attr.dest_qp_num >> 8, scope,
			       &dst);
	fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return conn_failed(qp, errno);
	set_sock_opts(fd);
	tcp_qp_sock_net(qp, fd);
	/* Leave from the source GID's address, as a NIC would. */
	if (tcp_gid_is_v4(&sgid) == tcp_gid_is_v4(&grh->dgid)) {
		socklen_t sl = tcp_gid_sockaddr(&sgid, 0, scope, &src);

		/* not fatal if it fails: the kernel then chooses */
		(void)!bind(fd, (struct sockaddr *)&src, sl);
	}
	if (connect(fd, (struct sockaddr *)&dst, len) && errno != EINPROGRESS) {
		int err = errno;

		close(fd);
		return conn_failed(qp, err);
	}
	h.src_qpn = qp->vqp.qp.qp_num;
	h.dst_qpn = qp->attr.dest_qp_num;
	memcpy(h.src_gid, sgid.raw, 16);
	rtcp_hello_encode(&h, qp->conn.hello_out);
	qp->conn.hello_sent = 0;
	return conn_watch(qp, fd);
}

/*
 * Unlinks a pending connection. The engine may hold a pointer to it from
 * an event of the batch it is working through (the hang-up, say), so the
 * record is freed only once a later batch begins; ctx->lock held.
 */
static void pending_drop(struct tcp_context *ctx, struct tcp_pending *pc)
{
	struct tcp_rendezvous *rv = ctx->rv;
	struct tcp_pending **pp;

	for (pp = &rv->pending; *pp; pp = &(*pp)->next)
		if (*pp == pc) {
			*pp = pc->next;
			break;
		}
	pc->l->npending--;
	if (!pc->complete)
		atomic_fetch_sub_explicit(&ctx->rv_greeting, 1,
					  memory_order_relaxed);
	pc->gone = true;
	tcp_engine_bury(ctx, &pc->p);
}

static void pending_close(struct tcp_context *ctx, struct tcp_pending *pc)
{
	tcp_engine_unwatch(ctx, pc->fd);
	close(pc->fd);
	pending_drop(ctx, pc);
}

/*
 * Reads what has arrived of a pending connection's hello and, once it is
 * complete, hands the connection to its QP (or rejects it). The pending
 * record may be gone afterwards. ctx->lock held.
 */
static bool pending_try_bind(struct tcp_context *ctx, struct tcp_pending *pc);

static void pending_hello_rx(struct tcp_context *ctx, struct tcp_pending *pc)
{
	ssize_t n;

	if (tcp_sec_pending_on(ctx, pc)) {
		/* the hello comes inside the key exchange, as its offer */
		int r = tcp_sec_pending_rx(ctx, pc);

		if (r < 0) {
			TCP_DBG_QP(RTCP_DBG_CONN, NULL,
				   "%s: connection refused: key exchange "
				   "failed (%s)",
				   ctx->vctx.context.device->name,
				   tcp_debug_addrs(pc->fd));
			pending_close(ctx, pc);
		}
		if (r <= 0)
			return;
		pc->got = RTCP_HELLO_LEN;
		goto complete;
	}
	n = recv(pc->fd, pc->buf + pc->got, RTCP_HELLO_LEN - pc->got,
		 MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		pending_close(ctx, pc);
		return;
	}
	if (n > 0)
		pc->got += n;
	if (pc->got < RTCP_HELLO_LEN)
		return;
complete:
	pc->complete = true;
	atomic_fetch_sub_explicit(&ctx->rv_greeting, 1, memory_order_relaxed);
	/*
	 * Frames may follow the hello; they wait in the socket for the QP.
	 * Only a hang-up still interests us.
	 */
	tcp_engine_rewatch(ctx, pc->fd, &pc->p, EPOLLRDHUP);
	pending_try_bind(ctx, pc);
}

/*
 * Bounds what a listener holds before a new connection joins: past
 * TCP_PENDING_MAX connections without a complete hello, the oldest of
 * those goes (not the new one: a peer sends its hello the moment it is
 * connected, so a genuine connection is incomplete for a round trip, and
 * the old ones are the idle or hostile; refusing newcomers would let
 * whoever holds TCP_PENDING_MAX idle connections lock every real peer
 * out). Connections with a complete hello wait for their QP to reach RTR
 * -- an application bringing up hundreds of QPs has one per QP -- and go,
 * oldest first, only past TCP_PENDING_HELLO_MAX. ctx->lock held.
 */
static void pending_evict(struct tcp_context *ctx, struct tcp_listener *l)
{
	struct tcp_pending *pc, *next, *old_incomplete = NULL,
				       *old_complete = NULL;
	uint32_t incomplete = 0, complete = 0;

	/*
	 * Hellos that arrived while the engine was accepting are read
	 * first (their sockets' events wait behind the accepts): only a
	 * connection with nothing to say counts as idle.
	 */
	for (pc = ctx->rv->pending; pc; pc = next) {
		next = pc->next;
		if (pc->l == l && !pc->complete)
			pending_hello_rx(ctx, pc);
	}
	/* the list is newest first: the last match is the oldest */
	for (pc = ctx->rv->pending; pc; pc = pc->next) {
		if (pc->l != l)
			continue;
		if (pc->complete) {
			complete++;
			old_complete = pc;
		} else {
			incomplete++;
			old_incomplete = pc;
		}
	}
	if (incomplete >= TCP_PENDING_MAX)
		pending_close(ctx, old_incomplete);
	if (complete >= TCP_PENDING_HELLO_MAX)
		pending_close(ctx, old_complete);
}

static const struct tcp_watch_ops pending_ops;

/* A new connection waits for its hello; ctx->lock held. */
static struct tcp_pending *pending_add(struct tcp_context *ctx,
				       struct tcp_lsock *s, int fd)
{
	struct tcp_rendezvous *rv = ctx->rv;
	struct tcp_pending *pc = calloc(1, sizeof(*pc));
	uint64_t due;

	if (!pc) {
		close(fd);
		return NULL;
	}
	if (s->l->npending >= TCP_PENDING_MAX)
		pending_evict(ctx, s->l);
	pc->p.ops = &pending_ops;
	pc->fd = fd;
	pc->l = s->l;
	pc->accepted_ns = tcp_now_ns();
	if (tcp_engine_watch(ctx, fd, &pc->p, EPOLLIN | EPOLLRDHUP)) {
		close(fd);
		free(pc);
		return NULL;
	}
	pc->next = rv->pending;
	rv->pending = pc;
	pc->l->npending++;
	atomic_fetch_add_explicit(&ctx->rv_greeting, 1, memory_order_relaxed);
	/* the engine thread's own timer (conn_deadlines) */
	due = pc->accepted_ns + TCP_HELLO_TIMEOUT_NS;
	tcp_engine_deadline(ctx, due);
	return pc;
}

/*
 * Out of fds for longer than TCP_ACCEPT_RESTS back-offs: the connection
 * is accepted into the spare fd and closed, so that its peer fails
 * cleanly (a reset: its QP fails as on a dead peer) instead of waiting
 * in the backlog for ever. Returns 1 when it refused one, 0 when the
 * backlog is empty, -1 without a spare fd.
 */
static int refuse_one(struct tcp_rendezvous *rv, struct tcp_lsock *s)
{
	int fd;

	if (rv->spare_fd < 0)
		rv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (rv->spare_fd < 0)
		return -1;
	close(rv->spare_fd);
	fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	rv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? 1 : errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
}

/* Connections are waiting on a listener's socket: accepts a batch. */
static unsigned int lsock_ready(struct tcp_context *ctx, struct tcp_watch *w,
				uint32_t events)
{
	struct tcp_lsock *s = container_of(w, struct tcp_lsock, p);
	struct tcp_pending *pc;
	int fd, i, r;

	(void)events;
	for (i = 0; i < TCP_ACCEPT_BATCH && s->watched; i++) {
		fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			s->rests = 0;
			set_sock_opts(fd);
			tcp_mutex_lock(&ctx->lock);
			pc = pending_add(ctx, s, fd);
			/* its hello has often arrived already: no wake-up */
			if (pc)
				pending_hello_rx(ctx, pc);
			tcp_mutex_unlock(&ctx->lock);
			continue;
		}
		switch (errno) {
		case EMFILE:
		case ENFILE:
			if (s->rests >= TCP_ACCEPT_RESTS) {
				r = refuse_one(ctx->rv, s);
				if (r > 0)
					continue;
				if (r == 0)
					return 0;
			}
			/* fall through */
		case ENOBUFS:
		case ENOMEM:
			/* the connection stays queued: rest, do not spin */
			s->rests++;
			tcp_listen_rest(ctx, s);
			return 0;
		case EAGAIN:
#if EWOULDBLOCK != EAGAIN
		case EWOULDBLOCK:
#endif
		case EBADF:
		case EINVAL:
			return 0;
		default:
			/* ECONNABORTED & co: that connection failed before
			 * we took it; the next one may be fine */
			continue;
		}
	}
	return 0;
}

/*
 * Closes connections whose hello is overdue; watches resting listeners
 * again when their back-off is over. A connection whose hello is
 * complete may wait for its QP to reach RTR as long as that QP exists
 * (tcp_conn_drop_pending), within TCP_PENDING_MAX. Returns the next
 * deadline, 0 for none.
 */
static uint64_t conn_deadlines(struct tcp_context *ctx, uint64_t now)
{
	struct tcp_rendezvous *rv = ctx->rv;
	struct tcp_pending *pc, *next;
	uint64_t at = 0, due;

	tcp_mutex_lock(&ctx->lock);
	if (rv->accept_resume_at && now >= rv->accept_resume_at)
		tcp_listen_resume(ctx);
	if (rv->accept_resume_at)
		at = rv->accept_resume_at;
	for (pc = rv->pending; pc; pc = next) {
		next = pc->next;
		if (pc->complete)
			continue;
		due = pc->accepted_ns + TCP_HELLO_TIMEOUT_NS;
		if (now >= due)
			pending_close(ctx, pc);
		else if (!at || due < at)
			at = due;
	}
	tcp_mutex_unlock(&ctx->lock);
	return at;
}

/* The accepted socket's peer address, as a GID. */
static bool peer_gid(int fd, uint8_t addr[16])
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl))
		return false;
	if (ss.ss_family == AF_INET) {
		static const uint8_t pfx[12] = { [10] = 0xff, [11] = 0xff };

		memcpy(addr, pfx, 12);
		memcpy(addr + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		memcpy(addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	} else {
		return false;
	}
	return true;
}

/* tcp_hello_judge's view of this context (hello.h). */
struct hello_ctx {
	struct tcp_context *ctx;
	struct tcp_pending *pc;
	struct tcp_qp *qp; /* found by lookup, and locked */
};

static bool hello_lookup(void *arg, uint32_t qpn, struct tcp_hello_qp *q)
{
	struct hello_ctx *hc = arg;
	struct tcp_listener *l = listener_of(hc->ctx, qpn);
	/* (a UD QP's number names no connection) */
	struct tcp_qp *qp = l && !l->ud ? l->slots[qpn & 0xff] : NULL;

	if (!qp)
		return false;
	/* held until the verdict is carried out (pending_try_bind) */
	tcp_mutex_lock(&qp->lock);
	hc->qp = qp;
	q->failed = qp->dead;
	q->before_rtr = qp->state == IBV_QPS_RESET ||
			qp->state == IBV_QPS_INIT || qp->state == IBV_QPS_ERR;
	q->busy = qp->conn.active || qp->conn.fd >= 0 || qp->conn.connected;
	q->dest_qpn = qp->attr.dest_qp_num;
	memcpy(q->dgid, qp->attr.ah_attr.grh.dgid.raw, 16);
	return true;
}

static bool hello_peer(void *arg, uint8_t gid[16])
{
	struct hello_ctx *hc = arg;

	return peer_gid(hc->pc->fd, gid);
}

/*
 * Tries to hand a pending connection to its QP. Returns true when the
 * pending record is consumed (bound or rejected); ctx->lock held.
 */
static bool pending_try_bind(struct tcp_context *ctx, struct tcp_pending *pc)
{
	struct hello_ctx hc = { .ctx = ctx, .pc = pc };
	struct tcp_hello_env env = {
		.lookup = hello_lookup,
		.peer = hello_peer,
		.arg = &hc,
	};
	enum tcp_hello_verdict v = tcp_hello_judge(pc->buf, &env);

	tcp_assert_held(&ctx->lock);
	if (v == TCP_HELLO_BIND && tcp_sec_pending_on(ctx, pc) &&
	    tcp_sec_pending_bind(pc, hc.qp))
		v = TCP_HELLO_REJECT; /* our answer could not go */
	else if (v == TCP_HELLO_REJECT && tcp_sec_pending_on(ctx, pc))
		tcp_sec_pending_reject(pc, RTCP_SA_R_NOQP);
	if (v == TCP_HELLO_BIND) {
		tcp_engine_unwatch(ctx, pc->fd);
		bind_socket(hc.qp, pc->fd);
	}
	if (hc.qp)
		tcp_qp_unlock(hc.qp);
	if (v == TCP_HELLO_WAIT && !pc->told_wait &&
	    tcp_sec_pending_on(ctx, pc)) {
		tcp_sec_pending_tell(pc, RTCP_SA_WAIT, RTCP_SA_R_NONE);
		pc->told_wait = true;
	}
	if (v == TCP_HELLO_WAIT)
		return false;
	if (v == TCP_HELLO_REJECT) {
		TCP_DBG_QP(RTCP_DBG_CONN, NULL,
			   "%s: connection refused: its hello names no QP "
			   "that waits for it (%s)",
			   ctx->vctx.context.device->name,
			   tcp_debug_addrs(pc->fd));
		pending_close(ctx, pc);
	} else
		pending_drop(ctx, pc);
	return true;
}

/* Events on a pending connection: its hello arrives, or its peer hangs up. */
static unsigned int pending_ready(struct tcp_context *ctx, struct tcp_watch *w,
				  uint32_t events)
{
	struct tcp_pending *pc = container_of(w, struct tcp_pending, p);
	ssize_t n;

	(void)events;
	tcp_mutex_lock(&ctx->lock);
	if (pc->gone)
		goto out; /* dropped while its event was in flight */
	if (!pc->complete) {
		pending_hello_rx(ctx, pc);
	} else {
		char c;

		/* woken by EPOLLRDHUP: the peer gave up before we bound it */
		n = recv(pc->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			pending_close(ctx, pc);
		else
			pending_try_bind(ctx, pc);
	}
out:
	tcp_mutex_unlock(&ctx->lock);
	return 0;
}

/*
 * A destroyed QP's number may be handed out again: connections still
 * waiting for it must not reach its successor. Caller holds ctx->lock.
 */
void tcp_conn_drop_pending(struct tcp_context *ctx, uint32_t qpn)
{
	struct tcp_pending *pc, *next;
	struct rtcp_hello h;

	tcp_assert_held(&ctx->lock);
	if (!ctx->rv)
		return;
	for (pc = ctx->rv->pending; pc; pc = next) {
		next = pc->next;
		if (pc->complete && !rtcp_hello_decode(pc->buf, &h) &&
		    h.dst_qpn == qpn) {
			pending_close(ctx, pc);
		}
	}
}

void tcp_conn_match_pending(struct tcp_context *ctx)
{
	struct tcp_pending *pc, *next;

	tcp_assert_held(&ctx->lock);
	if (!ctx->rv)
		return;
	for (pc = ctx->rv->pending; pc; pc = next) {
		next = pc->next;
		if (pc->complete)
			pending_try_bind(ctx, pc);
	}
}

static void pending_free(struct tcp_watch *w)
{
	struct tcp_pending *pc = container_of(w, struct tcp_pending, p);

	tcp_sec_pending_free(pc);
	free(pc);
}

static const struct tcp_watch_ops pending_ops = {
	.ready = pending_ready,
	.free = pending_free,
};

/* The spare fd refuse_one gives up. */
static int conn_start(struct tcp_context *ctx)
{
	struct tcp_rendezvous *rv = calloc(1, sizeof(*rv));

	if (!rv)
		return ENOMEM;
	rv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	rv->nlfd = -1;
	ctx->rv = rv;
	return 0;
}

/* The engine has stopped: no event can name a connection any more. */
static void conn_stop(struct tcp_context *ctx)
{
	struct tcp_rendezvous *rv = ctx->rv;
	struct tcp_pending *pc;
	int i;

	if (!rv)
		return; /* its start failed */
	while ((pc = rv->pending)) {
		rv->pending = pc->next;
		close(pc->fd);
		tcp_sec_pending_free(pc);
		free(pc);
	}
	for (i = 0; i < rv->nlis; i++) {
		tcp_listen_close(ctx, rv->lis[i]);
		free(rv->lis[i]);
	}
	free(rv->lis);
	if (rv->spare_fd >= 0)
		close(rv->spare_fd);
	free(rv);
	ctx->rv = NULL;
}

const struct tcp_engine_hooks tcp_conn_hooks = {
	.start = conn_start,
	.stop = conn_stop,
	.deadlines = conn_deadlines,
};

static const struct tcp_watch_ops lsock_ops = { .ready = lsock_ready };
