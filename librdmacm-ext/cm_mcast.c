// SPDX-License-Identifier: MIT
/*
 * rdma_join_multicast(_ex) and rdma_leave_multicast on a UD id, as the
 * kernel's rdma_cm joins on RoCE v2 (cma_iboe_join_multicast) with
 * librdmacm around it.
 *
 * A join needs a UD id bound to a tcp device's address or with its
 * address resolved (else EINVAL, as the kernel), and a group address that
 * is not the wildcard. There is no subnet manager to ask: the join
 * succeeds at once, with a MULTICAST_JOIN event whose param.ud is what
 * the kernel reports on RoCE v2 -- AH attributes with a GRH whose DGID is
 * the group's MGID (an IPv4 group as ::ffff:a.b.c.d, an IPv6 group as
 * itself), hop limit 64, our source GID index; QPN 0xFFFFFF; Q_Key
 * RDMA_UDP_QKEY; private_data the join's context. When the application
 * reads that event, the id's QP (if it has one, and the join is not
 * send-only) is attached to the MGID with ibv_attach_mcast, as librdmacm
 * does in rdma_get_cm_event; the provider joins the IP group on its
 * netdev. If the provider refuses (ENOMEM: the QP has all the groups it
 * may; EOPNOTSUPP from a provider without multicast), the event turns
 * into MULTICAST_ERROR with status -errno (librdmacm
 * reports -1 and leaves the errno in the reading thread), and a
 * synchronous id's rdma_join_multicast fails with that errno.
 *
 * rdma_leave_multicast detaches the QP, drops the join's queued events
 * and waits until its events handed out are acked, as librdmacm.
 */
#include <stdlib.h>
#include <string.h>

#include "ext.h"

#define MC_HOP_LIMIT 64	      /* IPV6_DEFAULT_HOPLIMIT, the kernel's */
#define MC_QPN	     0xffffff /* IB_MULTICAST_QPN */

static void join_event(struct cm_id *id, struct cm_mcast *mc,
		       struct cm_event *e)
{
	struct rdma_ud_param *ud = &e->ev.param.ud;

	e->mc = mc;
	ud->private_data = mc->context;
	ud->ah_attr.is_global = 1;
	ud->ah_attr.port_num = id->id.port_num ? id->id.port_num : 1;
	ud->ah_attr.grh.dgid = mc->mgid;
	ud->ah_attr.grh.sgid_index = id->sgid_index;
	ud->ah_attr.grh.hop_limit = MC_HOP_LIMIT;
	ud->qp_num = MC_QPN;
	ud->qkey = RDMA_UDP_QKEY;
}

static int join_locked(struct cm_id *id, const struct sockaddr *addr,
		       uint16_t flags, void *context)
{
	struct cm_mcast *mc;
	struct cm_event *e;

	if (!id->dev || !cm_is_ud(id) ||
	    (id->state != CM_BOUND && id->state != CM_ADDR_RESOLVED) ||
	    cm_addr_is_any(addr))
		return ext_err(EINVAL);
	mc = calloc(1, sizeof(*mc));
	e = cm_event_new(id, RDMA_CM_EVENT_MULTICAST_JOIN, 0);
	if (!mc || !e) {
		free(mc);
		free(e);
		return ext_err(ENOMEM);
	}
	memcpy(&mc->addr, addr, cm_addrlen(addr));
	mc->context = context;
	mc->join_flags = flags;
	/* cma_iboe_set_mgid for RoCE v2 */
	cm_addr_to_gid(addr, &mc->mgid);
	mc->next = id->mcs;
	id->mcs = mc;
	join_event(id, mc, e);
	cm_event_post(e);
	return 0;
}

static int join(struct rdma_cm_id *cid, struct sockaddr *addr, uint16_t flags,
		void *context)
{
	int ret;

	if (!cm_addrlen(addr))
		return ext_err(EINVAL);
	pthread_mutex_lock(&cm_g.lock);
	ret = join_locked(cm_id_of(cid), addr, flags, context);
	pthread_mutex_unlock(&cm_g.lock);
	return ret ? ret : cm_complete(cm_id_of(cid));
}

int ext_rdma_join_multicast(struct rdma_cm_id *cid, struct sockaddr *addr,
			    void *context)
{
	return join(cid, addr, RDMA_MC_JOIN_FLAG_FULLMEMBER, context);
}

/* librdmacm's checks, then the same join */
int ext_rdma_join_multicast_ex(struct rdma_cm_id *cid,
			       struct rdma_cm_join_mc_attr_ex *attr,
			       void *context)
{
	if (!attr)
		return ext_err(EINVAL);
	if (attr->comp_mask >= RDMA_CM_JOIN_MC_ATTR_RESERVED)
		return ext_err(ENOTSUP);
	if (!(attr->comp_mask & RDMA_CM_JOIN_MC_ATTR_ADDRESS) ||
	    !(attr->comp_mask & RDMA_CM_JOIN_MC_ATTR_JOIN_FLAGS) ||
	    attr->join_flags >= RDMA_MC_JOIN_FLAG_RESERVED)
		return ext_err(EINVAL);
	return join(cid, attr->addr, attr->join_flags, context);
}

void cm_mcast_event_out(struct cm_event *e)
{
	struct ibv_qp *qp = e->target->id.qp;
	struct cm_mcast *mc = e->mc;
	int ret;

	if (!mc || !qp ||
	    mc->join_flags == RDMA_MC_JOIN_FLAG_SENDONLY_FULLMEMBER)
		return;
	ret = ext_verbs()->attach_mcast(qp, &mc->mgid, 0);
	if (ret) {
		e->ev.event = RDMA_CM_EVENT_MULTICAST_ERROR;
		e->ev.status = -ret;
		return;
	}
	mc->attached = true;
}

void cm_mcast_event_acked(struct cm_event *e)
{
	e->mc->acked++;
	pthread_cond_broadcast(&e->owner->cond);
}

int ext_rdma_leave_multicast(struct rdma_cm_id *cid, struct sockaddr *addr)
{
	struct cm_id *id = cm_id_of(cid);
	socklen_t len = cm_addrlen(addr);
	struct cm_mcast **pp, *mc;

	if (!len)
		return ext_err(EINVAL);
	pthread_mutex_lock(&cm_g.lock);
	for (pp = &id->mcs; (mc = *pp); pp = &mc->next)
		if (!memcmp(&mc->addr, addr, len))
			break;
	if (!mc) {
		pthread_mutex_unlock(&cm_g.lock);
		return ext_err(EADDRNOTAVAIL);
	}
	*pp = mc->next;
	if (mc->attached && cid->qp)
		ext_verbs()->detach_mcast(cid->qp, &mc->mgid, 0);
	cm_channel_drop_mc(id, mc);
	/* a sync id keeps its last event until its next call: this one */
	if (id->sync && cid->event &&
	    container_of(cid->event, struct cm_event, ev)->mc == mc) {
		cm_event_ack_locked(cid->event);
		cid->event = NULL;
	}
	while (mc->acked < mc->reported)
		pthread_cond_wait(&id->cond, &cm_g.lock);
	free(mc);
	pthread_mutex_unlock(&cm_g.lock);
	return 0;
}

/* Locked; nothing refers to the joins any more (their events are gone).
 * The QP is left as it is: the application destroys it (librdmacm does
 * not detach at rdma_destroy_id either). */
void cm_mcast_free_all(struct cm_id *id)
{
	struct cm_mcast *mc;

	while ((mc = id->mcs)) {
		id->mcs = mc->next;
		free(mc);
	}
}
