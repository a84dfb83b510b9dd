// SPDX-License-Identifier: MIT
/*
 * UD ids (RDMA_PS_UDP, or a UD id of RDMA_PS_IB): rdma_connect,
 * rdma_accept and rdma_reject as the kernel's rdma_cm does them with the
 * IB CM's SIDR (Service ID Resolution), carried over the same control
 * connection as the connected protocol (cm_proto.h, cm_conn.c) and so
 * under the same TLS on an authenticated device (cm_sec.c).
 *
 * The active side asks (SIDR_REQ, with up to 180 bytes of private data);
 * the listener's application sees CONNECT_REQUEST with param.ud holding
 * only that private data (the kernel's SIDR REQ event carries nothing
 * else), and answers: rdma_accept sends its QPN and Q_Key
 * (RDMA_UDP_QKEY, as the kernel's rdma_cm sets for the port space) with up
 * to 136 bytes of private data; rdma_reject (or destroying the id) sends
 * status RTCP_SIDR_REJECT. The passive side gets no further event. The
 * active side gets ESTABLISHED with param.ud: the AH attributes of the
 * path (GRH with the peer's GID, as on RoCE), the QPN, the Q_Key and the
 * private data; or UNREACHABLE, whose status is the answer's SIDR status
 * (2 for a reject, with the private data; 1 for a listener of another
 * port space or QP type), -ECONNREFUSED when nobody listens,
 * -EKEYREJECTED when the device's credentials are refused, -ETIMEDOUT when
 * no answer came within CM_SIDR_TIMEOUT_MS, -ECONNRESET when the
 * listener went away. The control connection is closed once answered:
 * SIDR leaves no connection behind, and rdma_disconnect has nothing to
 * say (it moves the QP to ERR, as librdmacm does, and reports nothing).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "ext.h"

#define SIDR_HOP_LIMIT 64

int cm_pdata_join(struct cm_id *id, const struct rdma_conn_param *p,
		  uint8_t *out, size_t max)
{
	size_t len = id->connect_len;

	if (p && p->private_data && p->private_data_len)
		len += p->private_data_len;
	if (len > max)
		return ext_err(EINVAL);
	if (id->connect_len)
		memcpy(out, id->connect_pdata, id->connect_len);
	if (len > id->connect_len)
		memcpy(out + id->connect_len, p->private_data,
		       p->private_data_len);
	return (int)len;
}

/* Locked; state ROUTE_RESOLVED, a control connection and a device. */
int cm_sidr_connect(struct cm_id *id, struct rdma_conn_param *p)
{
	struct rtcp_cm_sidr_req req;
	int plen, err;

	memset(&req, 0, sizeof(req));
	plen = cm_pdata_join(id, p, req.pdata, RTCP_CM_SIDR_REQ_PDATA_MAX);
	if (plen < 0)
		return -1;
	err = cm_sec_connect(id->conn, id->dev);
	if (err)
		return ext_err(err);
	memcpy(req.gid, id->id.route.addr.addr.ibaddr.sgid.raw, 16);
	req.ps = htons(id->id.ps);
	req.pdata_len = plen;
	if (cm_conn_send(id->conn, RTCP_CM_SIDR_REQ, &req,
			 RTCP_CM_SIDR_REQ_FIXED + plen))
		return -1;
	free(id->connect_pdata);
	id->connect_pdata = NULL;
	id->connect_len = 0;
	id->cm_started = true;
	id->state = CM_CONNECT;
	id->sidr_at = cm_now_ms() + CM_SIDR_TIMEOUT_MS;
	id->conn->give_up = cm_now_ms() + CM_REFUSED_RETRY_MS;
	cm_conn_start(id);
	return 0;
}

static void send_rep(struct cm_id *id, uint8_t status, uint32_t qpn,
		     const uint8_t *pdata, size_t len)
{
	struct rtcp_cm_sidr_rep rep;

	if (!id->conn)
		return; /* the asker is gone: the answer is lost, as a MAD */
	memset(&rep, 0, sizeof(rep));
	rep.status = status;
	if (status == RTCP_SIDR_SUCCESS) {
		rep.qpn = htonl(qpn & 0xffffff);
		rep.qkey = htonl(RDMA_UDP_QKEY);
	}
	memcpy(rep.gid, id->id.route.addr.addr.ibaddr.sgid.raw, 16);
	rep.pdata_len = len;
	if (len)
		memcpy(rep.pdata, pdata, len);
	cm_conn_send(id->conn, RTCP_CM_SIDR_REP, &rep,
		     RTCP_CM_SIDR_REP_FIXED + len);
	cm_conn_drop(id, true);
}

/* Locked. As librdmacm: no QP transition, no wait, no event. */
int cm_sidr_accept(struct cm_id *id, struct rdma_conn_param *p)
{
	uint8_t pdata[RTCP_CM_SIDR_REP_PDATA_MAX];
	int plen;

	if (id->state != CM_REQ_RCVD || (!id->id.qp && !p))
		return ext_err(EINVAL);
	plen = cm_pdata_join(id, p, pdata, sizeof(pdata));
	if (plen < 0)
		return -1;
	send_rep(id, RTCP_SIDR_SUCCESS,
		 id->id.qp ? id->id.qp->qp_num : p->qp_num, pdata, plen);
	id->state = CM_ESTABLISHED;
	return 0;
}

/* Locked. */
int cm_sidr_reject(struct cm_id *id, const void *pdata, uint8_t len)
{
	if (id->state != CM_REQ_RCVD || len > RTCP_CM_SIDR_REP_PDATA_MAX)
		return ext_err(EINVAL);
	send_rep(id, RTCP_SIDR_REJECT, 0, pdata, len);
	id->state = CM_FAILED;
	return 0;
}

void cm_sidr_teardown(struct cm_id *id)
{
	/* the IB CM rejects a SIDR request whose id is destroyed */
	send_rep(id, RTCP_SIDR_REJECT, 0, NULL, 0);
}

void cm_sidr_unsupported(struct cm_conn *c)
{
	struct rtcp_cm_sidr_rep rep;

	memset(&rep, 0, sizeof(rep));
	rep.status = RTCP_SIDR_UNSUPPORTED;
	c->listen_id = NULL;
	cm_conn_send(c, RTCP_CM_SIDR_REP, &rep, RTCP_CM_SIDR_REP_FIXED);
	cm_conn_finish(c);
}

/* A SIDR_REQ on an accepted connection: a new UD id for the listener. */
void cm_sidr_on_req(struct cm_conn *c, const struct rtcp_cm_sidr_req *req)
{
	struct cm_id *lid = c->listen_id, *id;
	struct cm_event *e;

	/* the IB CM finds the listener by service ID, port space included */
	if (lid && lid->state == CM_LISTEN &&
	    (!cm_is_ud(lid) || lid->id.ps != ntohs(req->ps))) {
		cm_sidr_unsupported(c);
		return;
	}
	id = cm_conn_child(c, &e);
	if (!id)
		return;
	e->ev.param.ud.private_data_len = req->pdata_len;
	if (req->pdata_len) {
		memcpy(e->pdata, req->pdata, req->pdata_len);
		e->ev.param.ud.private_data = e->pdata;
	}
	cm_event_post(e);
}

/* The AH attributes of @id's path, as ib_init_ah_attr_from_path makes
 * them on RoCE: global, the peer's GID, our source GID index. */
static void path_ah(struct cm_id *id, struct ibv_ah_attr *ah)
{
	memset(ah, 0, sizeof(*ah));
	ah->is_global = 1;
	ah->port_num = id->id.port_num ? id->id.port_num : 1;
	ah->grh.dgid = id->id.route.addr.addr.ibaddr.dgid;
	ah->grh.sgid_index = id->sgid_index;
	ah->grh.hop_limit = SIDR_HOP_LIMIT;
	ah->grh.traffic_class = id->tos;
}

void cm_sidr_on_rep(struct cm_id *id, const struct rtcp_cm_sidr_rep *rep)
{
	enum rdma_cm_event_type type = RDMA_CM_EVENT_ESTABLISHED;
	uint32_t qkey = ntohl(rep->qkey);
	struct cm_event *e;
	int status = 0;

	id->sidr_at = 0;
	cm_conn_drop(id, true);
	if (rep->status != RTCP_SIDR_SUCCESS) {
		type = RDMA_CM_EVENT_UNREACHABLE;
		status = rep->status;
	} else if (qkey != RDMA_UDP_QKEY) {
		/* the kernel's cma_set_qkey: the id's Q_Key is fixed */
		type = RDMA_CM_EVENT_ADDR_ERROR;
		status = -EINVAL;
	}
	id->state =
		type == RDMA_CM_EVENT_ESTABLISHED ? CM_ESTABLISHED : CM_FAILED;
	e = cm_event_new(id, type, status);
	if (!e)
		return;
	if (type == RDMA_CM_EVENT_ESTABLISHED) {
		path_ah(id, &e->ev.param.ud.ah_attr);
		e->ev.param.ud.qp_num = ntohl(rep->qpn) & 0xffffff;
		e->ev.param.ud.qkey = qkey;
	}
	e->ev.param.ud.private_data_len = rep->pdata_len;
	if (rep->pdata_len) {
		memcpy(e->pdata, rep->pdata, rep->pdata_len);
		e->ev.param.ud.private_data = e->pdata;
	}
	cm_event_post(e);
}

void cm_on_sidr_timeout(struct cm_id *id)
{
	id->sidr_at = 0;
	if (id->state != CM_CONNECT)
		return;
	id->state = CM_FAILED;
	cm_conn_drop(id, false);
	cm_post(id, RDMA_CM_EVENT_UNREACHABLE, -ETIMEDOUT);
}
