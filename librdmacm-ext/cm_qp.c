// SPDX-License-Identifier: MIT
/*
 * The QP side of rdma_cm: rdma_create_qp(_ex)/rdma_destroy_qp (with the
 * CQs and completion channels librdmacm makes when none are given),
 * SRQs, rdma_init_qp_attr, and the transitions librdmacm performs for
 * the application (INIT at creation, INIT->RTR->RTS at accept and at the
 * connect response, ERR at disconnect and reject; a UD QP all the way to
 * RTS at creation, as librdmacm's ucma_init_ud_qp).
 *
 * RTR for a tcp device: the GRH carries the peer's GID (its address on
 * the control connection) and our source GID index; dest_qp_num is the
 * peer's QPN from REQ/REP. With those the provider connects the two QPs
 * itself. path_mtu is the port's active MTU, min_rnr_timer 12, timeout
 * 14 (or RDMA_OPTION_ID_ACK_TIMEOUT), retry counts and rd_atomic depths as
 * negotiated (0xFF = the device maximum, as librdmacm clamps).
 */
#include <string.h>

#include "ext.h"

#define CM_MIN_RNR_TIMER 12

static bool is_rc(struct cm_id *id)
{
	enum ibv_qp_type t = id->id.qp ? id->id.qp->qp_type : id->id.qp_type;

	return t == IBV_QPT_RC || t == IBV_QPT_XRC_SEND ||
	       t == IBV_QPT_XRC_RECV;
}

/* rdma_init_qp_attr's answer, locked. */
int cm_qp_attr(struct cm_id *id, struct ibv_qp_attr *a, int *mask)
{
	enum ibv_qp_state want = a->qp_state;
	struct ibv_ah_attr *ah = &a->ah_attr;

	if (!id->dev)
		return ext_err(EINVAL);
	memset(a, 0, sizeof(*a));
	a->qp_state = want;
	switch (want) {
	case IBV_QPS_INIT:
		*mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT;
		a->port_num = 1;
		a->pkey_index = 0;
		if (id->id.qp_type == IBV_QPT_UD) {
			*mask |= IBV_QP_QKEY;
			a->qkey = RDMA_UDP_QKEY;
			break;
		}
		*mask |= IBV_QP_ACCESS_FLAGS;
		/* as the kernel's CM: nothing before a connection exists,
		 * then remote write, and read/atomic if we take reads */
		if (id->cm_started) {
			a->qp_access_flags = IBV_ACCESS_REMOTE_WRITE;
			if (id->responder_resources)
				a->qp_access_flags |= IBV_ACCESS_REMOTE_READ |
						      IBV_ACCESS_REMOTE_ATOMIC;
		}
		break;
	case IBV_QPS_RTR:
		/* UD: the kernel's IB CM has no RTR/RTS attributes for a
		 * SIDR id (librdmacm moves UD QPs itself, cm_qp_init_ud) */
		if (!id->remote_known || id->id.qp_type == IBV_QPT_UD)
			return ext_err(EINVAL);
		*mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			IBV_QP_DEST_QPN | IBV_QP_RQ_PSN;
		ah->is_global = 1;
		ah->port_num = 1;
		ah->grh.dgid = id->id.route.addr.addr.ibaddr.dgid;
		ah->grh.sgid_index = id->sgid_index;
		ah->grh.hop_limit = 64;
		ah->grh.traffic_class = id->tos;
		a->path_mtu = cm_dev_active_mtu(id->dev);
		a->dest_qp_num = id->remote_qpn;
		a->rq_psn = id->remote_psn;
		if (is_rc(id)) {
			*mask |= IBV_QP_MAX_DEST_RD_ATOMIC |
				 IBV_QP_MIN_RNR_TIMER;
			a->max_dest_rd_atomic = id->responder_resources;
			a->min_rnr_timer = CM_MIN_RNR_TIMER;
		}
		break;
	case IBV_QPS_RTS:
		if (!id->remote_known || id->id.qp_type == IBV_QPT_UD)
			return ext_err(EINVAL);
		*mask = IBV_QP_STATE | IBV_QP_SQ_PSN;
		a->sq_psn = id->local_psn;
		if (is_rc(id)) {
			*mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				 IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC;
			a->timeout = id->timeout;
			a->retry_cnt =
				id->retry_count > 7 ? 7 : id->retry_count;
			a->rnr_retry = id->rnr_retry_count > 7
					       ? 7
					       : id->rnr_retry_count;
			a->max_rd_atomic = id->initiator_depth;
		}
		break;
	default:
		return ext_err(EINVAL);
	}
	return 0;
}

int ext_rdma_init_qp_attr(struct rdma_cm_id *cid, struct ibv_qp_attr *attr,
			  int *mask)
{
	int ret;

	if (!attr || !mask)
		return ext_err(EINVAL);
	pthread_mutex_lock(&cm_g.lock);
	ret = cm_qp_attr(cm_id_of(cid), attr, mask);
	pthread_mutex_unlock(&cm_g.lock);
	return ret;
}

static int modify_to(struct cm_id *id, enum ibv_qp_state state)
{
	struct ibv_qp_attr a = { .qp_state = state };
	int mask, ret;

	if (cm_qp_attr(id, &a, &mask))
		return -1;
	ret = ext_verbs()->modify_qp(id->id.qp, &a, mask);
	return ret ? ext_err(ret) : 0;
}

/* librdmacm's ucma_init_ud_qp: a UD QP is ready to send at creation --
 * INIT (Q_Key RDMA_UDP_QKEY, P_Key index, port), RTR, RTS with SQ PSN 0.
 * Locked. */
static int init_ud(struct cm_id *id)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RTR };
	int ret;

	if (modify_to(id, IBV_QPS_INIT))
		return -1;
	ret = ext_verbs()->modify_qp(id->id.qp, &a, IBV_QP_STATE);
	if (!ret) {
		a.qp_state = IBV_QPS_RTS;
		a.sq_psn = 0;
		ret = ext_verbs()->modify_qp(id->id.qp, &a,
					     IBV_QP_STATE | IBV_QP_SQ_PSN);
	}
	return ret ? ext_err(ret) : 0;
}

/* librdmacm's ucma_modify_qp_rtr + ucma_modify_qp_rts; locked. */
int cm_qp_rtr_rts(struct cm_id *id)
{
	if (!id->id.qp)
		return 0;
	/* INIT again: the access flags now that reads are negotiated */
	if (modify_to(id, IBV_QPS_INIT) || modify_to(id, IBV_QPS_RTR) ||
	    modify_to(id, IBV_QPS_RTS))
		return -1;
	return 0;
}

void cm_qp_to_err(struct cm_id *id)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };

	if (id->id.qp)
		ext_verbs()->modify_qp(id->id.qp, &a, IBV_QP_STATE);
}

static void destroy_cqs(struct rdma_cm_id *id)
{
	const struct ext_verbs *v = ext_verbs();

	if (id->recv_cq) {
		v->destroy_cq(id->recv_cq);
		if (id->send_cq && id->send_cq != id->recv_cq)
			v->destroy_cq(id->send_cq);
		id->send_cq = NULL;
		id->recv_cq = NULL;
	} else if (id->send_cq) {
		v->destroy_cq(id->send_cq);
		id->send_cq = NULL;
	}
	if (id->recv_cq_channel) {
		ext_comp_channel_destroy(id->recv_cq_channel);
		if (id->send_cq_channel &&
		    id->send_cq_channel != id->recv_cq_channel)
			ext_comp_channel_destroy(id->send_cq_channel);
		id->send_cq_channel = NULL;
		id->recv_cq_channel = NULL;
	} else if (id->send_cq_channel) {
		ext_comp_channel_destroy(id->send_cq_channel);
		id->send_cq_channel = NULL;
	}
}

/* A CQ with its own completion channel, as librdmacm makes for ids. */
static int make_cq(struct rdma_cm_id *id, uint32_t size,
		   struct ibv_comp_channel **ch, struct ibv_cq **cq)
{
	/* ids are on tcp devices: the channel is ours to make */
	*ch = ext_comp_channel_create(id->verbs);
	if (!*ch)
		return -1;
	*cq = ext_verbs()->create_cq(id->verbs, size, id, *ch, 0);
	return *cq ? 0 : -1;
}

static struct ibv_qp *create_qp_ex(struct ibv_context *ctx,
				   struct ibv_qp_init_attr_ex *attr)
{
	struct verbs_context *vctx;

	if (attr->comp_mask == IBV_QP_INIT_ATTR_PD)
		return ext_verbs()->create_qp(attr->pd,
					      (struct ibv_qp_init_attr *)attr);
	vctx = verbs_get_ctx_op(ctx, create_qp_ex);
	if (!vctx) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	return vctx->create_qp_ex(ctx, attr);
}

int ext_rdma_create_qp_ex(struct rdma_cm_id *cid,
			  struct ibv_qp_init_attr_ex *attr)
{
	const struct ext_verbs *v = ext_verbs();
	struct cm_id *id = cm_id_of(cid);
	struct ibv_qp *qp;
	int ret;

	if (!attr || cid->qp || !cid->verbs || !v)
		return ext_err(EINVAL);
	if (!(attr->comp_mask & IBV_QP_INIT_ATTR_PD) || !attr->pd) {
		attr->comp_mask |= IBV_QP_INIT_ATTR_PD;
		attr->pd = cid->pd;
	} else if (attr->pd->context != cid->verbs) {
		return ext_err(EINVAL);
	}
	if ((cid->recv_cq && attr->recv_cq && cid->recv_cq != attr->recv_cq) ||
	    (cid->send_cq && attr->send_cq && cid->send_cq != attr->send_cq))
		return ext_err(EINVAL);
	if (!attr->send_cq && !cid->send_cq && attr->cap.max_send_wr &&
	    make_cq(cid, attr->cap.max_send_wr, &cid->send_cq_channel,
		    &cid->send_cq))
		goto err_cq;
	if (!attr->recv_cq && !cid->recv_cq && attr->cap.max_recv_wr &&
	    make_cq(cid, attr->cap.max_recv_wr, &cid->recv_cq_channel,
		    &cid->recv_cq))
		goto err_cq;
	if (!attr->send_cq)
		attr->send_cq = cid->send_cq;
	if (!attr->recv_cq)
		attr->recv_cq = cid->recv_cq;
	if (cid->srq && !attr->srq)
		attr->srq = cid->srq;
	qp = create_qp_ex(cid->verbs, attr);
	if (!qp)
		goto err_cq;
	pthread_mutex_lock(&cm_g.lock);
	cid->qp = qp;
	ret = cid->qp_type == IBV_QPT_UD ? init_ud(id)
					 : modify_to(id, IBV_QPS_INIT);
	if (ret)
		cid->qp = NULL;
	pthread_mutex_unlock(&cm_g.lock);
	if (ret) {
		int err = errno;

		v->destroy_qp(qp);
		destroy_cqs(cid);
		return ext_err(err);
	}
	cid->pd = qp->pd;
	return 0;
err_cq:
	ret = errno;
	destroy_cqs(cid);
	return ext_err(ret ? ret : ENOMEM);
}

int ext_rdma_create_qp(struct rdma_cm_id *cid, struct ibv_pd *pd,
		       struct ibv_qp_init_attr *init)
{
	struct ibv_qp_init_attr_ex ax;
	int ret;

	if (!init)
		return ext_err(EINVAL);
	memset(&ax, 0, sizeof(ax));
	memcpy(&ax, init, sizeof(*init));
	ax.comp_mask = IBV_QP_INIT_ATTR_PD;
	ax.pd = pd ? pd : cid->pd;
	ret = ext_rdma_create_qp_ex(cid, &ax);
	memcpy(init, &ax, sizeof(*init));
	return ret;
}

void ext_rdma_destroy_qp(struct rdma_cm_id *cid)
{
	const struct ext_verbs *v = ext_verbs();

	if (!v)
		return;
	pthread_mutex_lock(&cm_g.lock);
	if (cid->qp)
		v->destroy_qp(cid->qp);
	cid->qp = NULL;
	pthread_mutex_unlock(&cm_g.lock);
	destroy_cqs(cid);
}

int ext_rdma_create_srq_ex(struct rdma_cm_id *cid,
			   struct ibv_srq_init_attr_ex *attr)
{
	struct ibv_srq_init_attr basic;
	struct ibv_srq *srq;
	struct ibv_pd *pd;

	if (!attr || !cid->verbs || !ext_verbs())
		return ext_err(EINVAL);
	if ((attr->comp_mask & IBV_SRQ_INIT_ATTR_TYPE) &&
	    attr->srq_type != IBV_SRQT_BASIC)
		return ext_err(EOPNOTSUPP);
	if (attr->comp_mask & ~(IBV_SRQ_INIT_ATTR_TYPE | IBV_SRQ_INIT_ATTR_PD))
		return ext_err(EOPNOTSUPP);
	pd = (attr->comp_mask & IBV_SRQ_INIT_ATTR_PD) && attr->pd ? attr->pd
								  : cid->pd;
	memset(&basic, 0, sizeof(basic));
	basic.srq_context = attr->srq_context;
	basic.attr = attr->attr;
	srq = ext_verbs()->create_srq(pd, &basic);
	if (!srq)
		return -1;
	attr->attr = basic.attr;
	cid->srq = srq;
	cid->pd = srq->pd;
	return 0;
}

int ext_rdma_create_srq(struct rdma_cm_id *cid, struct ibv_pd *pd,
			struct ibv_srq_init_attr *attr)
{
	struct ibv_srq_init_attr_ex ax;
	int ret;

	if (!attr)
		return ext_err(EINVAL);
	memset(&ax, 0, sizeof(ax));
	memcpy(&ax, attr, sizeof(*attr));
	ax.comp_mask = IBV_SRQ_INIT_ATTR_TYPE | IBV_SRQ_INIT_ATTR_PD;
	ax.srq_type = IBV_SRQT_BASIC;
	ax.pd = pd;
	ret = ext_rdma_create_srq_ex(cid, &ax);
	memcpy(attr, &ax, sizeof(*attr));
	return ret;
}

void ext_rdma_destroy_srq(struct rdma_cm_id *cid)
{
	if (cid->srq && ext_verbs())
		ext_verbs()->destroy_srq(cid->srq);
	cid->srq = NULL;
	destroy_cqs(cid);
}
