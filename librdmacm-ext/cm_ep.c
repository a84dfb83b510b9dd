// SPDX-License-Identifier: MIT
/*
 * The synchronous convenience calls: rdma_create_ep / rdma_destroy_ep
 * (an id from rdma_getaddrinfo's answer, bound or resolved, with a QP if
 * asked) and rdma_get_request (a sync listener's next connection request,
 * with the QP rdma_create_ep asked for). As in librdmacm.
 */
#include <stdlib.h>
#include <string.h>

#include "ext.h"

#define EP_TIMEOUT_MS 2000

static int passive_ep(struct rdma_cm_id *cid, struct rdma_addrinfo *res,
		      struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
	struct cm_id *id = cm_id_of(cid);

	if (ext_rdma_bind_addr(cid, res->ai_src_addr))
		return -1;
	if (pd)
		cid->pd = pd;
	if (attr) {
		id->qp_init_attr = malloc(sizeof(*attr));
		if (!id->qp_init_attr)
			return ext_err(ENOMEM);
		*id->qp_init_attr = *attr;
		id->qp_init_attr->qp_type = res->ai_qp_type;
	}
	return 0;
}

int ext_rdma_create_ep(struct rdma_cm_id **out, struct rdma_addrinfo *res,
		       struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
	struct rdma_cm_id *cid;
	struct cm_id *id;
	int ret;

	if (!out || !res)
		return ext_err(EINVAL);
	ret = ext_rdma_create_id2(NULL, &cid, NULL, res->ai_port_space,
				  res->ai_qp_type);
	if (ret)
		return ret;
	id = cm_id_of(cid);
	if (res->ai_flags & RAI_PASSIVE) {
		ret = passive_ep(cid, res, pd, attr);
		if (ret)
			goto err;
		*out = cid;
		return 0;
	}
	ret = ext_rdma_resolve_addr(cid, res->ai_src_addr, res->ai_dst_addr,
				    EP_TIMEOUT_MS);
	if (!ret)
		ret = ext_rdma_resolve_route(cid, EP_TIMEOUT_MS);
	if (ret)
		goto err;
	if (attr) {
		attr->qp_type = res->ai_qp_type;
		ret = ext_rdma_create_qp(cid, pd, attr);
		if (ret)
			goto err;
	}
	if (res->ai_connect_len) {
		id->connect_pdata = malloc(res->ai_connect_len);
		if (!id->connect_pdata) {
			ret = ext_err(ENOMEM);
			goto err;
		}
		memcpy(id->connect_pdata, res->ai_connect, res->ai_connect_len);
		id->connect_len = res->ai_connect_len;
	}
	*out = cid;
	return 0;
err:
	ret = errno;
	ext_rdma_destroy_ep(cid);
	return ext_err(ret);
}

void ext_rdma_destroy_ep(struct rdma_cm_id *cid)
{
	if (cid->qp)
		ext_rdma_destroy_qp(cid);
	if (cid->srq)
		ext_rdma_destroy_srq(cid);
	ext_rdma_destroy_id(cid);
}

int ext_rdma_get_request(struct rdma_cm_id *listen, struct rdma_cm_id **out)
{
	struct cm_id *lid = cm_id_of(listen);
	struct rdma_cm_event *ev;
	struct ibv_qp_init_attr attr;
	int ret;

	if (!lid->sync)
		return ext_err(EINVAL);
	if (listen->event) {
		ext_rdma_ack_cm_event(listen->event);
		listen->event = NULL;
	}
	ret = ext_rdma_get_cm_event(listen->channel, &ev);
	if (ret)
		return ret;
	if (ev->event == RDMA_CM_EVENT_REJECTED) {
		ret = ext_err(ECONNREFUSED);
		goto err;
	}
	if (ev->status) {
		ret = ext_err(ev->status < 0 ? -ev->status : ev->status);
		goto err;
	}
	if (ev->event != RDMA_CM_EVENT_CONNECT_REQUEST) {
		ret = ext_err(EINVAL);
		goto err;
	}
	if (lid->qp_init_attr) {
		attr = *lid->qp_init_attr;
		ret = ext_rdma_create_qp(ev->id, listen->pd, &attr);
		if (ret)
			goto err;
	}
	*out = ev->id;
	(*out)->event = ev;
	return 0;
err:
	listen->event = ev;
	return ret;
}
