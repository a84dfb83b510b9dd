// SPDX-License-Identifier: MIT
/*
 * The connection protocol: rdma_listen, rdma_connect, rdma_accept,
 * rdma_reject, rdma_establish, rdma_disconnect, rdma_notify; what the
 * background thread does with the control connection's messages
 * (cm_proto.h documents them) is in cm_conn_rx.c, UD ids' SIDR in
 * cm_sidr.c.
 *
 * Why a control connection of its own (docs/design.md, "rdma_cm"). In the iWARP
 * model: the TCP connection rdma_listen accepts, after the request/reply
 * exchange, becomes the QP's transport. We do not do that. The provider
 * already connects every RC/UC QP itself, by one rendezvous (the QPN names
 * the listener, the smaller (GID, QPN) end connects, at RTR) that plain
 * verbs programs, pyverbs and perftest without -R all rely on; handing it
 * sockets made elsewhere would give the QP transport a second way in, with
 * its own failure modes, for no gain. So rdma_cm here behaves as it does on
 * RoCE: a CM exchange (REQ/REP/RTU) carries QPNs, PSNs and private data,
 * each side moves its own QP INIT->RTR->RTS as librdmacm does, and the
 * provider makes the data connection exactly as for any other QP. The
 * control connection stays open for the id's lifetime and carries the
 * disconnect (DREQ/DREP); its loss is a disconnect. The cost is one extra
 * TCP connection per rdma_cm connection, idle after setup.
 *
 * Semantics follow librdmacm over the kernel's IB CM (RoCE), event by
 * event: the active side's QP goes to RTR/RTS when the application reads
 * the REP (CONNECT_RESPONSE turns into ESTABLISHED, or stays
 * CONNECT_RESPONSE for an id without a QP, which then calls
 * rdma_establish); REJECTED carries the peer's private data and status 28
 * (consumer reject) and moves the QP to ERR; a refused TCP connect is
 * REJECTED with status -ECONNREFUSED (as iWARP reports it), an unanswered
 * one UNREACHABLE (-ETIMEDOUT); rdma_disconnect moves the QP to ERR, both
 * sides get exactly one DISCONNECTED, then TIMEWAIT_EXIT a moment later if
 * the id still exists. On an authenticated device (cm_sec.c) a peer that
 * fails the TLS handshake is REJECTED with -EKEYREJECTED on the active
 * side and never announced on the passive side.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ext.h"

#define CM_DEFAULT_RETRY 7

void cm_post(struct cm_id *id, enum rdma_cm_event_type type, int status)
{
	struct cm_event *e = cm_event_new(id, type, status);

	if (e)
		cm_event_post(e);
}

/* Detaches the control connection from @id: closed at once, or finished
 * (what is queued is sent first, then the peer's EOF is awaited). */
void cm_conn_drop(struct cm_id *id, bool finish)
{
	struct cm_conn *c = id->conn;

	if (!c)
		return;
	id->conn = NULL;
	c->id = NULL;
	if (finish)
		cm_conn_finish(c);
	else
		cm_conn_close(c);
}

/* A refused connect is REJECTED (as iWARP reports it), credentials
 * refused too; a UD id's SIDR knows only UNREACHABLE. */
enum rdma_cm_event_type cm_refusal(struct cm_id *id, int err)
{
	if (cm_is_ud(id))
		return RDMA_CM_EVENT_UNREACHABLE;
	return err == ECONNREFUSED || err == EKEYREJECTED
		       ? RDMA_CM_EVENT_REJECTED
		       : RDMA_CM_EVENT_UNREACHABLE;
}

void cm_disconnected(struct cm_id *id)
{
	id->state = CM_DISCONNECTED;
	cm_post(id, RDMA_CM_EVENT_DISCONNECTED, 0);
	id->timewait_at = cm_now_ms() + CM_TIMEWAIT_MS;
}

void cm_send_empty(struct cm_id *id, uint8_t type)
{
	if (id->conn)
		cm_conn_send(id->conn, type, NULL, 0);
}

static void send_rej(struct cm_id *id, const void *pdata, uint8_t len)
{
	struct rtcp_cm_rej rej;

	if (!id->conn)
		return;
	memset(&rej, 0, sizeof(rej));
	rej.reason = htons(RTCP_CM_REJ_CONSUMER);
	rej.pdata_len = len;
	if (len)
		memcpy(rej.pdata, pdata, len);
	cm_conn_send(id->conn, RTCP_CM_REJ, &rej, RTCP_CM_REJ_FIXED + len);
}

void cm_event_pdata(struct cm_event *e, const uint8_t *p, uint8_t len)
{
	e->ev.param.conn.private_data_len = len;
	if (len) {
		memcpy(e->pdata, p, len);
		e->ev.param.conn.private_data = e->pdata;
	}
}

/* librdmacm's ucma_valid_param */
static int valid_param(struct cm_id *id, struct rdma_conn_param *p)
{
	if (id->id.ps != RDMA_PS_TCP)
		return 0;
	if (!id->id.qp && !p)
		return ext_err(EINVAL);
	if (!p)
		return 0;
	if ((p->responder_resources != RDMA_MAX_RESP_RES &&
	     p->responder_resources > id->dev->max_responder_resources) ||
	    (p->initiator_depth != RDMA_MAX_INIT_DEPTH &&
	     p->initiator_depth > id->dev->max_initiator_depth))
		return ext_err(EINVAL);
	return 0;
}

/* ---- application calls --------------------------------------------- */

int ext_rdma_listen(struct rdma_cm_id *cid, int backlog)
{
	struct sockaddr_in any = { .sin_family = AF_INET };
	struct cm_id *id = cm_id_of(cid);
	int ret = 0;

	pthread_mutex_lock(&cm_g.lock);
	if (id->state == CM_IDLE && cm_bind_locked(id, (struct sockaddr *)&any))
		ret = -1;
	else if (id->state != CM_BOUND)
		ret = ext_err(EINVAL);
	else if (cm_route_listen(id)) /* the backlog is the control port's */
		ret = -1;
	else
		id->state = CM_LISTEN;
	pthread_mutex_unlock(&cm_g.lock);
	return ret;
}

int cm_conn_open(struct cm_id *id)
{
	struct cm_conn *c;

	if (id->conn)
		return 0;
	c = cm_conn_new(-1, CONN_STREAM);
	if (!c)
		return -1;
	c->id = id;
	id->conn = c;
	return 0;
}

/* A fresh socket for each attempt, from the id's address (any port: the
 * id's rdma_cm port is virtual and travels in the routing prefix). */
static int conn_socket(struct cm_id *id, struct cm_conn *c)
{
	struct sockaddr_storage src;
	socklen_t sl = cm_addrlen(&id->id.route.addr.src_addr);
	int one = 1;

	if (c->fd >= 0) {
		if (c->in_ep && cm_g.epfd >= 0)
			epoll_ctl(cm_g.epfd, EPOLL_CTL_DEL, c->fd, NULL);
		c->in_ep = false;
		close(c->fd);
	}
	c->fd = cm_socket(id, id->id.route.addr.src_addr.sa_family);
	if (c->fd < 0)
		return -1;
	memset(&src, 0, sizeof(src));
	memcpy(&src, &id->id.route.addr.src_storage, sl);
	cm_addr_set_port((struct sockaddr *)&src, 0);
	setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		   sizeof(one));
	return bind(c->fd, (struct sockaddr *)&src, sl);
}

/*
 * Starts (or restarts) the TCP connect of @id's control connection to
 * the control port of the id's device; the outcome arrives in
 * cm_on_connected. A refused connect is tried again for
 * CM_REFUSED_RETRY_MS before REJECTED is reported: programs race their
 * peer's rdma_listen (perftest -R connects right after an out-of-band
 * handshake the server answers before it listens), which the kernel's CM
 * on a fabric hides behind its REQ latency.
 */
void cm_conn_start(struct cm_id *id)
{
	struct cm_conn *c = id->conn;
	struct sockaddr_storage dst;
	socklen_t dlen;
	int r;

	/* a dual-stack socket reaches IPv4 peers through mapped addresses */
	memset(&dst, 0, sizeof(dst));
	dlen = cm_addrlen(&id->id.route.addr.dst_addr);
	memcpy(&dst, &id->id.route.addr.dst_storage, dlen);
	cm_addr_set_port((struct sockaddr *)&dst, htons(id->dev->cm_port));
	if (id->id.route.addr.src_addr.sa_family == AF_INET6 &&
	    dst.ss_family == AF_INET) {
		struct sockaddr_in a4 = *(struct sockaddr_in *)&dst;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&dst;

		memset(&dst, 0, sizeof(dst));
		a6->sin6_family = AF_INET6;
		a6->sin6_port = a4.sin_port;
		a6->sin6_addr.s6_addr[10] = 0xff;
		a6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&a6->sin6_addr.s6_addr[12], &a4.sin_addr, 4);
		dlen = sizeof(*a6);
	}
	c->retry = false;
	if (conn_socket(id, c)) {
		cm_on_connected(c, errno ? errno : ENOMEM);
		return;
	}
	/* watched first (we hold the lock, the thread cannot look yet), so
	 * that a retry timer always has a thread to fire it */
	if (c->watched)
		cm_conn_update(c);
	else if (cm_conn_watch(c, CONN_STREAM)) {
		cm_on_connected(c, errno ? errno : ENOMEM);
		return;
	}
	r = connect(c->fd, (struct sockaddr *)&dst, dlen);
	c->connecting = r && errno == EINPROGRESS;
	if (!c->connecting) {
		/* done or refused at once (loopback does that): an event */
		cm_on_connected(c, r ? errno : 0);
		return;
	}
	c->deadline = cm_now_ms() + CM_CONNECT_TIMEOUT_MS;
	cm_conn_update(c);
}

static int connect_locked(struct cm_id *id, struct rdma_conn_param *p)
{
	struct rtcp_cm_req req;
	struct cm_conn *c;
	size_t plen = id->connect_len;
	int err;

	if (id->state != CM_ROUTE_RESOLVED || !id->dev)
		return ext_err(EINVAL);
	if (cm_conn_open(id))
		return -1;
	c = id->conn;
	if (cm_is_ud(id))
		return cm_sidr_connect(id, p);
	if (valid_param(id, p))
		return -1;
	if (p && p->private_data && p->private_data_len)
		plen += p->private_data_len;
	if (plen > RTCP_CM_REQ_PDATA_MAX)
		return ext_err(EINVAL);
	id->initiator_depth = p && p->initiator_depth != RDMA_MAX_INIT_DEPTH
				      ? p->initiator_depth
				      : id->dev->max_initiator_depth;
	id->responder_resources =
		p && p->responder_resources != RDMA_MAX_RESP_RES
			? p->responder_resources
			: id->dev->max_responder_resources;
	id->retry_count = p ? p->retry_count : CM_DEFAULT_RETRY;
	id->rnr_retry_count = p ? p->rnr_retry_count : CM_DEFAULT_RETRY;
	id->flow_control = p ? p->flow_control : 0;
	id->local_psn = cm_random_psn();
	/* TLS or not, by the device's configuration now (cm_sec.c) */
	err = cm_sec_connect(c, id->dev);
	if (err)
		return ext_err(err);

	memset(&req, 0, sizeof(req));
	memcpy(req.gid, id->id.route.addr.addr.ibaddr.sgid.raw, 16);
	req.qpn = htonl(id->id.qp ? id->id.qp->qp_num : p ? p->qp_num : 0);
	req.psn = htonl(id->local_psn);
	req.responder_resources = id->responder_resources;
	req.initiator_depth = id->initiator_depth;
	req.flow_control = id->flow_control;
	req.retry_count = id->retry_count;
	req.rnr_retry_count = id->rnr_retry_count;
	req.srq = id->id.qp ? !!id->id.qp->srq : p ? p->srq : 0;
	req.qp_type = id->id.qp_type;
	req.tos = id->tos; /* what our QP's RTR will use, for theirs */
	req.pdata_len = plen;
	if (id->connect_len)
		memcpy(req.pdata, id->connect_pdata, id->connect_len);
	if (plen > id->connect_len)
		memcpy(req.pdata + id->connect_len, p->private_data,
		       p->private_data_len);
	/* queued now, sent by the thread once the TCP connect completes */
	if (cm_conn_send(c, RTCP_CM_REQ, &req, RTCP_CM_REQ_FIXED + plen))
		return -1;
	free(id->connect_pdata);
	id->connect_pdata = NULL;
	id->connect_len = 0;
	id->cm_started = true;
	id->state = CM_CONNECT;

	c->give_up = cm_now_ms() + CM_REFUSED_RETRY_MS;
	cm_conn_start(id);
	return 0;
}

int ext_rdma_connect(struct rdma_cm_id *cid, struct rdma_conn_param *p)
{
	int ret;

	pthread_mutex_lock(&cm_g.lock);
	ret = connect_locked(cm_id_of(cid), p);
	pthread_mutex_unlock(&cm_g.lock);
	return ret ? ret : cm_complete(cm_id_of(cid));
}

static int accept_locked(struct cm_id *id, struct rdma_conn_param *p)
{
	struct rtcp_cm_rep rep;
	size_t plen = id->connect_len;

	if (cm_is_ud(id))
		return cm_sidr_accept(id, p);
	if (id->state != CM_REQ_RCVD)
		return ext_err(EINVAL);
	if (valid_param(id, p))
		return -1;
	if (!id->id.qp && !p)
		return ext_err(EINVAL);
	if (p && p->private_data && p->private_data_len)
		plen += p->private_data_len;
	if (plen > RTCP_CM_REP_PDATA_MAX)
		return ext_err(EINVAL);
	if (!p || p->initiator_depth == RDMA_MAX_INIT_DEPTH) {
		if (id->initiator_depth > id->dev->max_initiator_depth)
			id->initiator_depth = id->dev->max_initiator_depth;
	} else {
		id->initiator_depth = p->initiator_depth;
	}
	if (!p || p->responder_resources == RDMA_MAX_RESP_RES) {
		if (id->responder_resources > id->dev->max_responder_resources)
			id->responder_resources =
				id->dev->max_responder_resources;
	} else {
		id->responder_resources = p->responder_resources;
	}
	if (!id->conn) {
		/* the initiator gave up before we answered */
		id->state = CM_FAILED;
		cm_post(id, RDMA_CM_EVENT_UNREACHABLE, -ECONNRESET);
		return 0;
	}
	if (cm_qp_rtr_rts(id))
		return -1;

	memset(&rep, 0, sizeof(rep));
	memcpy(rep.gid, id->id.route.addr.addr.ibaddr.sgid.raw, 16);
	rep.qpn = htonl(id->id.qp ? id->id.qp->qp_num : p->qp_num);
	rep.psn = htonl(id->local_psn);
	rep.responder_resources = id->responder_resources;
	rep.initiator_depth = id->initiator_depth;
	rep.flow_control = p ? p->flow_control : 0;
	rep.rnr_retry_count = p ? p->rnr_retry_count : CM_DEFAULT_RETRY;
	rep.srq = id->id.qp ? !!id->id.qp->srq : p->srq;
	rep.pdata_len = plen;
	if (id->connect_len)
		memcpy(rep.pdata, id->connect_pdata, id->connect_len);
	if (plen > id->connect_len)
		memcpy(rep.pdata + id->connect_len, p->private_data,
		       p->private_data_len);
	if (cm_conn_send(id->conn, RTCP_CM_REP, &rep,
			 RTCP_CM_REP_FIXED + plen)) {
		cm_qp_to_err(id);
		return -1;
	}
	id->state = CM_REP_SENT;
	return 0;
}

int ext_rdma_accept(struct rdma_cm_id *cid, struct rdma_conn_param *p)
{
	int ret;

	pthread_mutex_lock(&cm_g.lock);
	ret = accept_locked(cm_id_of(cid), p);
	pthread_mutex_unlock(&cm_g.lock);
	if (ret || cid->qp_type == IBV_QPT_UD)
		return ret;
	return cm_complete(cm_id_of(cid));
}

int ext_rdma_reject(struct rdma_cm_id *cid, const void *pdata, uint8_t len)
{
	struct cm_id *id = cm_id_of(cid);
	int ret = 0;

	if (len > RTCP_CM_REJ_PDATA_MAX || (len && !pdata))
		return ext_err(EINVAL);
	pthread_mutex_lock(&cm_g.lock);
	if (cm_is_ud(id)) {
		ret = cm_sidr_reject(id, pdata, len);
	} else if (id->state == CM_REQ_RCVD || id->state == CM_REP_RCVD) {
		send_rej(id, pdata, len);
		cm_conn_drop(id, true);
		id->state = CM_FAILED;
	} else {
		ret = ext_err(EINVAL);
	}
	pthread_mutex_unlock(&cm_g.lock);
	return ret;
}

int ext_rdma_establish(struct rdma_cm_id *cid)
{
	struct cm_id *id = cm_id_of(cid);
	int ret = 0;

	if (cid->qp)
		return ext_err(EINVAL);
	pthread_mutex_lock(&cm_g.lock);
	if (id->state == CM_REP_RCVD) {
		cm_send_empty(id, RTCP_CM_RTU);
		id->state = CM_ESTABLISHED;
	} else {
		ret = ext_err(EINVAL);
	}
	pthread_mutex_unlock(&cm_g.lock);
	return ret;
}

int ext_rdma_disconnect(struct rdma_cm_id *cid)
{
	struct cm_id *id = cm_id_of(cid);
	bool wait = false;
	int ret = 0;

	pthread_mutex_lock(&cm_g.lock);
	if (!cid->verbs) {
		pthread_mutex_unlock(&cm_g.lock);
		return ext_err(EINVAL);
	}
	/* as librdmacm on an IB-transport device */
	cm_qp_to_err(id);
	if (cm_is_ud(id)) {
		/* SIDR leaves nothing to disconnect: no message, no event */
		ret = id->cm_started ? 0 : ext_err(EINVAL);
		pthread_mutex_unlock(&cm_g.lock);
		return ret;
	}
	switch (id->state) {
	case CM_ESTABLISHED:
	case CM_REP_SENT:
	case CM_REP_RCVD:
		if (id->conn) {
			cm_send_empty(id, RTCP_CM_DREQ);
			id->state = CM_DREQ_SENT;
		} else {
			cm_disconnected(id);
		}
		wait = true;
		break;
	case CM_DREQ_SENT:
		break;
	case CM_DISCONNECTED:
		/* the peer's DREQ came first: a sync id reads its event */
		wait = id->disc_queued;
		break;
	default:
		ret = ext_err(EINVAL);
		break;
	}
	pthread_mutex_unlock(&cm_g.lock);
	if (ret || !wait)
		return ret;
	return cm_complete(id);
}

int ext_rdma_notify(struct rdma_cm_id *cid, enum ibv_event_type event)
{
	struct cm_id *id = cm_id_of(cid);

	pthread_mutex_lock(&cm_g.lock);
	/* data arrived before the RTU: the connection is up */
	if (event == IBV_EVENT_COMM_EST && id->state == CM_REP_SENT) {
		id->state = CM_ESTABLISHED;
		cm_post(id, RDMA_CM_EVENT_ESTABLISHED, 0);
	}
	pthread_mutex_unlock(&cm_g.lock);
	return 0;
}

void cm_conn_teardown(struct cm_id *id)
{
	struct cm_conn *c, *cn;

	switch (id->state) {
	case CM_ESTABLISHED:
	case CM_REP_SENT:
	case CM_REP_RCVD:
		cm_send_empty(id, RTCP_CM_DREQ);
		cm_conn_drop(id, true);
		break;
	case CM_REQ_RCVD:
		if (cm_is_ud(id)) {
			cm_sidr_teardown(id);
			break;
		}
		send_rej(id, NULL, 0);
		cm_conn_drop(id, true);
		break;
	case CM_LISTEN:
		/* connections accepted but not yet requesting go too (a closed
		 * one's next is the graveyard's: taken before) */
		for (c = cm_g.conns; c; c = cn) {
			cn = c->next;
			if (c->listen_id == id) {
				c->listen_id = NULL;
				cm_conn_close(c);
			}
		}
		cm_route_unlisten(id);
		break;
	default:
		cm_conn_drop(id, false);
		break;
	}
}

/* ---- rdma_get_cm_event hands an event out --------------------------- */

bool cm_conn_event_out(struct cm_event *e)
{
	struct cm_id *id = e->target;
	int err;

	switch (e->ev.event) {
	case RDMA_CM_EVENT_CONNECT_RESPONSE:
		if (!e->rep || !id->id.qp)
			return true; /* the application calls rdma_establish */
		if (!cm_qp_rtr_rts(id)) {
			cm_send_empty(id, RTCP_CM_RTU);
			if (id->state == CM_REP_RCVD)
				id->state = CM_ESTABLISHED;
			e->ev.event = RDMA_CM_EVENT_ESTABLISHED;
			return true;
		}
		err = errno;
		e->ev.event = RDMA_CM_EVENT_CONNECT_ERROR;
		e->ev.status = -err;
		id->connect_error = true;
		cm_qp_to_err(id);
		if (id->state == CM_REP_RCVD) {
			send_rej(id, NULL, 0);
			cm_conn_drop(id, true);
			id->state = CM_FAILED;
		}
		return true;
	case RDMA_CM_EVENT_REJECTED:
		if (id->connect_error)
			return false;
		cm_qp_to_err(id);
		return true;
	case RDMA_CM_EVENT_DISCONNECTED:
		return !id->connect_error;
	case RDMA_CM_EVENT_MULTICAST_JOIN:
		cm_mcast_event_out(e);
		return true;
	default:
		return true;
	}
}
