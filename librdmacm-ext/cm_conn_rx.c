// SPDX-License-Identifier: MIT
/*
 * The connection protocol, the background thread's side: accepted
 * connections, the outcome of a connect, and the control connection's
 * messages (cm_proto.h), its loss and its timers, for the ids cm_conn.c
 * serves (UD ids' SIDR messages go on to cm_sidr.c). Locked: the thread
 * holds cm_g.lock while it calls these.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ext.h"

void cm_on_connected(struct cm_conn *c, int err)
{
	struct cm_id *id = c->id;

	c->connecting = false;
	c->deadline = 0;
	if (!id) {
		cm_conn_close(c);
		return;
	}
	if (!err) {
		/* the routing prefix first; the queued REQ after its answer
		 * (and TLS's handshake) */
		cm_route_send(c);
		return;
	}
	if (err == ECONNREFUSED &&
	    cm_now_ms() + CM_RETRY_EVERY_MS < c->give_up) {
		c->retry = true;
		c->deadline = cm_now_ms() + CM_RETRY_EVERY_MS;
		cm_conn_update(c);
		return;
	}
	id->state = CM_FAILED;
	cm_conn_drop(id, false);
	cm_post(id, cm_refusal(id, err), -err);
}

/*
 * A request on an accepted connection: a new id, its CONNECT_REQUEST
 * event for the listener (not posted yet), the connection handed over.
 */
struct cm_id *cm_conn_child(struct cm_conn *c, struct cm_event **ep)
{
	struct cm_id *lid = c->listen_id, *id;
	struct sockaddr_storage local, peer;
	socklen_t ll = sizeof(local), pl = sizeof(peer);
	struct cm_channel *ch;
	struct cm_event *e;
	struct cm_dev *dev;

	if (!lid || lid->state != CM_LISTEN)
		goto drop;
	ch = cm_id_channel(lid);
	if ((!ch && !lid->sync) ||
	    getsockname(c->fd, (struct sockaddr *)&local, &ll) ||
	    getpeername(c->fd, (struct sockaddr *)&peer, &pl))
		goto drop;
	cm_addr_unmap(&local);
	cm_addr_unmap(&peer);
	/* the rdma_cm ports: the listener's, the peer's from its prefix */
	cm_addr_set_port((struct sockaddr *)&local,
			 cm_addr_port(&lid->id.route.addr.src_addr));
	cm_addr_set_port((struct sockaddr *)&peer, c->peer_port);
	/* the address the peer reached must be a tcp device's */
	dev = cm_dev_by_addr((struct sockaddr *)&local);
	if (!dev)
		goto drop;
	id = cm_id_alloc(lid->sync ? NULL : ch, lid->id.context, lid->id.ps,
			 lid->id.qp_type);
	if (!id)
		goto drop;
	e = cm_event_new(id, RDMA_CM_EVENT_CONNECT_REQUEST, 0);
	if (!e) {
		cm_id_free(id);
		goto drop;
	}
	memcpy(&id->id.route.addr.src_storage, &local, sizeof(local));
	memcpy(&id->id.route.addr.dst_storage, &peer, sizeof(peer));
	cm_id_set_dev(id, dev, (struct sockaddr *)&local);
	cm_addr_to_gid((struct sockaddr *)&peer,
		       &id->id.route.addr.addr.ibaddr.dgid);
	/* no TOS from the listener: as the kernel's rdma_cm, an accepted
	 * id's traffic class is its REQ's (on_req) */
	id->timeout = lid->timeout;
	cm_id_fill_path(id);
	id->cm_started = true;
	id->conn = c;
	c->id = id;
	c->listen_id = NULL;
	c->deadline = 0;
	id->state = CM_REQ_RCVD;
	e->owner = lid;
	e->ev.listen_id = &lid->id;
	*ep = e;
	return id;
drop:
	c->listen_id = NULL;
	cm_conn_close(c);
	return NULL;
}

/* A REQ: a connection asked for. */
static void on_req(struct cm_conn *c, const struct rtcp_cm_req *req)
{
	struct rtcp_cm_rej rej = {
		.reason = htons(RTCP_CM_REJ_INVALID_SERVICE_ID),
	};
	struct cm_event *e;
	struct cm_id *id;

	if (c->listen_id && cm_is_ud(c->listen_id)) {
		/* a UD listener has no connection to give */
		c->listen_id = NULL;
		cm_conn_send(c, RTCP_CM_REJ, &rej, RTCP_CM_REJ_FIXED);
		cm_conn_finish(c);
		return;
	}
	id = cm_conn_child(c, &e);
	if (!id)
		return;
	id->remote_qpn = ntohl(req->qpn) & 0xffffff;
	id->remote_psn = ntohl(req->psn) & 0xffffff;
	/* our view of the initiator's offer, as the IB CM swaps them */
	id->initiator_depth = req->responder_resources;
	id->responder_resources = req->initiator_depth;
	id->retry_count = req->retry_count;
	id->rnr_retry_count = req->rnr_retry_count;
	id->flow_control = req->flow_control;
	id->srq = req->srq;
	/* the initiator's traffic class: the kernel's rdma_cm takes the
	 * REQ's path for the new id, so its QP's RTR (cm_qp.c) and the
	 * route it reports get the REQ's, whatever the listener set; the
	 * answer goes back in the same class, as the IB CM answers with the
	 * REQ's GRH */
	id->tos = req->tos;
	id->path.traffic_class = req->tos;
	cm_id_apply_tos(id);
	id->local_psn = cm_random_psn();
	id->remote_known = true;
	e->ev.param.conn.responder_resources = req->initiator_depth;
	e->ev.param.conn.initiator_depth = req->responder_resources;
	e->ev.param.conn.flow_control = req->flow_control;
	e->ev.param.conn.retry_count = req->retry_count;
	e->ev.param.conn.rnr_retry_count = req->rnr_retry_count;
	e->ev.param.conn.srq = req->srq;
	e->ev.param.conn.qp_num = ntohl(req->qpn) & 0xffffff;
	cm_event_pdata(e, req->pdata, req->pdata_len);
	cm_event_post(e);
}

static void on_rep(struct cm_id *id, const struct rtcp_cm_rep *rep)
{
	struct cm_event *e;

	e = cm_event_new(id, RDMA_CM_EVENT_CONNECT_RESPONSE, 0);
	if (!e) {
		cm_on_lost(id->conn, ENOMEM);
		return;
	}
	id->remote_qpn = ntohl(rep->qpn) & 0xffffff;
	id->remote_psn = ntohl(rep->psn) & 0xffffff;
	id->initiator_depth = rep->responder_resources;
	id->responder_resources = rep->initiator_depth;
	id->rnr_retry_count = rep->rnr_retry_count;
	id->remote_known = true;
	id->state = CM_REP_RCVD;
	e->rep = true;
	e->ev.param.conn.responder_resources = rep->initiator_depth;
	e->ev.param.conn.initiator_depth = rep->responder_resources;
	e->ev.param.conn.flow_control = rep->flow_control;
	e->ev.param.conn.rnr_retry_count = rep->rnr_retry_count;
	e->ev.param.conn.srq = rep->srq;
	e->ev.param.conn.qp_num = ntohl(rep->qpn) & 0xffffff;
	cm_event_pdata(e, rep->pdata, rep->pdata_len);
	cm_event_post(e);
}

static void on_rej(struct cm_id *id, const struct rtcp_cm_rej *rej)
{
	struct cm_event *e;

	id->state = CM_FAILED;
	cm_conn_drop(id, false);
	/* a TLS listener telling a plain peer why (cm_sec.c) */
	e = cm_event_new(id,
			 cm_is_ud(id) ? RDMA_CM_EVENT_UNREACHABLE
				      : RDMA_CM_EVENT_REJECTED,
			 ntohs(rej->reason) == RTCP_CM_REJ_AUTH
				 ? -EKEYREJECTED
				 : ntohs(rej->reason));
	if (!e)
		return;
	cm_event_pdata(e, rej->pdata, rej->pdata_len);
	cm_event_post(e);
}

void cm_on_message(struct cm_conn *c, uint8_t type, const uint8_t *body,
		   size_t len)
{
	struct cm_id *id = c->id;
	union rtcp_cm_body b;

	/* an unknown type, or a length its type does not allow (cm_proto.h),
	 * closes the connection like a bad header */
	if (rtcp_cm_body_decode(type, body, len, &b)) {
		cm_on_lost(c, EPROTO);
		return;
	}
	if (!id) {
		if (type == RTCP_CM_REQ && c->listen_id)
			on_req(c, &b.req);
		else if (type == RTCP_CM_SIDR_REQ && c->listen_id)
			cm_sidr_on_req(c, &b.sidr_req);
		else
			cm_conn_close(c);
		return;
	}
	switch (type) {
	case RTCP_CM_REP:
		/* a UD id asked a question a REP does not answer */
		if (id->state == CM_CONNECT && !cm_is_ud(id))
			on_rep(id, &b.rep);
		break;
	case RTCP_CM_REJ:
		if (id->state == CM_CONNECT || id->state == CM_REP_SENT)
			on_rej(id, &b.rej);
		break;
	case RTCP_CM_SIDR_REP:
		if (id->state == CM_CONNECT && cm_is_ud(id))
			cm_sidr_on_rep(id, &b.sidr_rep);
		break;
	case RTCP_CM_RTU:
		if (id->state == CM_REP_SENT) {
			id->state = CM_ESTABLISHED;
			cm_post(id, RDMA_CM_EVENT_ESTABLISHED, 0);
		}
		break;
	case RTCP_CM_DREQ:
		switch (id->state) {
		case CM_REP_SENT: /* DREQ overtook nothing: RTU was lost */
		case CM_REP_RCVD:
		case CM_ESTABLISHED:
		case CM_DREQ_SENT:
			cm_send_empty(id, RTCP_CM_DREP);
			cm_conn_drop(id, true);
			cm_disconnected(id);
			break;
		default:
			break;
		}
		break;
	case RTCP_CM_DREP:
		if (id->state == CM_DREQ_SENT) {
			cm_conn_drop(id, false);
			cm_disconnected(id);
		}
		break;
	default:
		break;
	}
}

void cm_on_lost(struct cm_conn *c, int err)
{
	struct cm_id *id = c->id;

	if (!id) {
		cm_conn_close(c);
		return;
	}
	cm_conn_drop(id, false);
	switch (id->state) {
	case CM_CONNECT:
	case CM_REP_SENT:
		id->state = CM_FAILED;
		cm_post(id, RDMA_CM_EVENT_UNREACHABLE,
			-(err ? err : ECONNRESET));
		break;
	case CM_REP_RCVD:
	case CM_ESTABLISHED:
	case CM_DREQ_SENT:
		cm_disconnected(id);
		break;
	default:
		/* REQ_RCVD: rdma_accept will report it */
		break;
	}
}

void cm_on_timeout(struct cm_conn *c)
{
	struct cm_id *id = c->id;

	c->deadline = 0;
	if (!id && c->route_in) {
		cm_route_timeout(c);
		return;
	}
	if (!id) {
		cm_conn_close(c); /* accepted, no REQ came */
		return;
	}
	if (id->state == CM_CONNECT && c->retry) {
		cm_conn_start(id);
		return;
	}
	if (id->state == CM_CONNECT &&
	    (c->connecting || c->route_wait || c->sec == CM_SEC_HS)) {
		cm_conn_drop(id, false);
		id->state = CM_FAILED;
		cm_post(id, RDMA_CM_EVENT_UNREACHABLE, -ETIMEDOUT);
	}
}

void cm_on_hs_failed(struct cm_conn *c, int err)
{
	struct cm_id *id = c->id;

	/* a passive side's connection goes without an event; its alert,
	 * if any, reaches the peer */
	if (!id) {
		cm_conn_drain(c);
		return;
	}
	/* past its REQ's answer, a refusal is a lost connection */
	if (id->state != CM_CONNECT) {
		cm_on_lost(c, EPROTO);
		return;
	}
	id->state = CM_FAILED;
	cm_conn_drop(id, false);
	cm_post(id, cm_refusal(id, err), -err);
}

void cm_on_timewait(struct cm_id *id)
{
	id->timewait_at = 0;
	cm_post(id, RDMA_CM_EVENT_TIMEWAIT_EXIT, 0);
}
