// SPDX-License-Identifier: MIT
/*
 * rdma_cm_id lifetime and properties: create/destroy, migrate between
 * channels, options, the device an id is bound to, ports, ECE.
 *
 * An id made with a NULL channel is synchronous: it gets a private channel
 * and every call that would raise an event waits for it (cm_complete), as
 * in librdmacm. rdma_destroy_id ends the id's control connection (the peer
 * sees DISCONNECTED or, before the handshake completed, UNREACHABLE),
 * drops its queued events and waits for the ones handed out to be acked.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ext.h"

#define CM_DEFAULT_ACK_TIMEOUT 14
#define CM_HOP_LIMIT	       64

/* Locked. @ch NULL: a synchronous id with a channel of its own. */
struct cm_id *cm_id_alloc(struct cm_channel *ch, void *context,
			  enum rdma_port_space ps, enum ibv_qp_type qp_type)
{
	struct cm_id *id = calloc(1, sizeof(*id));

	if (!id) {
		errno = ENOMEM;
		return NULL;
	}
	if (!ch) {
		ch = cm_channel_new();
		if (!ch) {
			free(id);
			return NULL;
		}
		id->sync = true;
	}
	pthread_cond_init(&id->cond, NULL);
	id->id.channel = &ch->ch;
	id->id.context = context;
	id->id.ps = ps;
	id->id.qp_type = qp_type;
	id->timeout = CM_DEFAULT_ACK_TIMEOUT;
	id->port_fd = -1;
	id->next = cm_g.ids;
	cm_g.ids = id;
	return id;
}

/* Locked. */
void cm_id_free(struct cm_id *id)
{
	struct cm_id **pp;

	for (pp = &cm_g.ids; *pp; pp = &(*pp)->next)
		if (*pp == id) {
			*pp = id->next;
			break;
		}
	if (id->sync && !id->chan_dead)
		cm_channel_free(
			container_of(id->id.channel, struct cm_channel, ch));
	cm_mcast_free_all(id);
	if (id->port_fd >= 0)
		close(id->port_fd); /* its rdma_cm port is free again */
	pthread_cond_destroy(&id->cond);
	free(id->connect_pdata);
	free(id->qp_init_attr);
	free(id);
}

void cm_id_discard(struct cm_id *id)
{
	cm_conn_teardown(id);
	cm_channel_purge(id);
	cm_id_free(id);
}

struct cm_channel *cm_id_channel(struct cm_id *id)
{
	if (id->chan_dead || !id->id.channel)
		return NULL;
	return container_of(id->id.channel, struct cm_channel, ch);
}

void cm_id_set_dev(struct cm_id *id, struct cm_dev *dev,
		   const struct sockaddr *local)
{
	struct rdma_ib_addr *ib = &id->id.route.addr.addr.ibaddr;

	id->dev = dev;
	id->id.verbs = dev->verbs;
	id->id.pd = dev->pd;
	id->id.port_num = 1;
	cm_addr_to_gid(local, &ib->sgid);
	ib->pkey = htobe16(0xffff);
	id->sgid_index = cm_dev_gid_index(dev, &ib->sgid);
}

/* The one path of a RoCE route, as the kernel's rdma_cm reports it. */
void cm_id_fill_path(struct cm_id *id)
{
	struct ibv_sa_path_rec *p = &id->path;
	struct rdma_ib_addr *ib = &id->id.route.addr.addr.ibaddr;

	memset(p, 0, sizeof(*p));
	p->dgid = ib->dgid;
	p->sgid = ib->sgid;
	p->hop_limit = CM_HOP_LIMIT;
	p->traffic_class = id->tos;
	p->reversible = 1;
	p->numb_path = 1;
	p->pkey = ib->pkey;
	p->mtu_selector = 2; /* exactly */
	p->mtu = id->dev ? cm_dev_active_mtu(id->dev) : IBV_MTU_1024;
	p->rate_selector = 2;
	p->packet_life_time_selector = 2;
	id->id.route.path_rec = p;
	id->id.route.num_paths = 1;
}

int ext_rdma_create_id2(struct rdma_event_channel *channel,
			struct rdma_cm_id **out, void *context,
			enum rdma_port_space ps, enum ibv_qp_type qp_type)
{
	struct cm_id *id;

	if (!out)
		return ext_err(EINVAL);
	pthread_mutex_lock(&cm_g.lock);
	id = cm_id_alloc(channel ? container_of(channel, struct cm_channel, ch)
				 : NULL,
			 context, ps, qp_type);
	pthread_mutex_unlock(&cm_g.lock);
	if (!id)
		return -1;
	*out = &id->id;
	return 0;
}

int ext_rdma_create_id(struct rdma_event_channel *channel,
		       struct rdma_cm_id **out, void *context,
		       enum rdma_port_space ps)
{
	return ext_rdma_create_id2(channel, out, context, ps,
				   (ps == RDMA_PS_IPOIB || ps == RDMA_PS_UDP)
					   ? IBV_QPT_UD
					   : IBV_QPT_RC);
}

int ext_rdma_destroy_id(struct rdma_cm_id *cid)
{
	struct cm_id *id = cm_id_of(cid);

	pthread_mutex_lock(&cm_g.lock);
	if (id->id.event) {
		cm_event_ack_locked(id->id.event);
		id->id.event = NULL;
	}
	cm_conn_teardown(id);
	id->timewait_at = 0;
	cm_channel_purge(id);
	while (id->acked < id->reported)
		pthread_cond_wait(&id->cond, &cm_g.lock);
	cm_id_free(id);
	pthread_mutex_unlock(&cm_g.lock);
	return 0;
}

int ext_rdma_migrate_id(struct rdma_cm_id *cid,
			struct rdma_event_channel *channel)
{
	struct cm_id *id = cm_id_of(cid);
	struct cm_channel *to, *old = NULL;

	pthread_mutex_lock(&cm_g.lock);
	if (id->sync && !channel) {
		pthread_mutex_unlock(&cm_g.lock);
		return ext_err(EINVAL);
	}
	to = channel ? container_of(channel, struct cm_channel, ch)
		     : cm_channel_new();
	if (!to) {
		pthread_mutex_unlock(&cm_g.lock);
		return -1;
	}
	cm_channel_move(id, to);
	if (id->sync) {
		if (id->id.event) {
			cm_event_ack_locked(id->id.event);
			id->id.event = NULL;
		}
		old = cm_id_channel(id);
	}
	id->sync = !channel;
	id->id.channel = &to->ch;
	id->chan_dead = false;
	if (old)
		cm_channel_free(old);
	while (id->acked < id->reported)
		pthread_cond_wait(&id->cond, &cm_g.lock);
	pthread_mutex_unlock(&cm_g.lock);
	return 0;
}

void cm_id_apply_tos(struct cm_id *id)
{
	int tos = id->tos;

	if (!id->conn)
		return;
	if (id->id.route.addr.src_addr.sa_family == AF_INET6)
		setsockopt(id->conn->fd, IPPROTO_IPV6, IPV6_TCLASS, &tos,
			   sizeof(tos));
	else
		setsockopt(id->conn->fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
}

int ext_rdma_set_option(struct rdma_cm_id *cid, int level, int optname,
			void *optval, size_t optlen)
{
	struct cm_id *id = cm_id_of(cid);
	int ret = 0;

	if (!optval)
		return ext_err(EINVAL);
	if (level != RDMA_OPTION_ID)
		return ext_err(ENOSYS);
	pthread_mutex_lock(&cm_g.lock);
	switch (optname) {
	case RDMA_OPTION_ID_TOS:
		if (optlen != sizeof(uint8_t)) {
			ret = ext_err(EINVAL);
			break;
		}
		id->tos = *(uint8_t *)optval;
		id->tos_set = true;
		cm_id_apply_tos(id);
		break;
	case RDMA_OPTION_ID_REUSEADDR:
		/* CM sockets always reuse addresses (rdma_cm ports have no
		 * TIME_WAIT); the option is accepted before binding */
		if (optlen != sizeof(int) ||
		    (*(int *)optval && id->state != CM_IDLE)) {
			ret = ext_err(EINVAL);
			break;
		}
		id->reuseaddr = *(int *)optval;
		break;
	case RDMA_OPTION_ID_AFONLY:
		if (optlen != sizeof(int) || id->state != CM_IDLE) {
			ret = ext_err(EINVAL);
			break;
		}
		id->afonly = !!*(int *)optval;
		break;
	case RDMA_OPTION_ID_ACK_TIMEOUT:
		if (optlen != sizeof(uint8_t)) {
			ret = ext_err(EINVAL);
			break;
		}
		id->timeout = *(uint8_t *)optval > 31 ? 31 : *(uint8_t *)optval;
		break;
	default:
		ret = ext_err(ENOSYS);
		break;
	}
	pthread_mutex_unlock(&cm_g.lock);
	return ret;
}

int ext_rdma_set_local_ece(struct rdma_cm_id *cid, struct ibv_ece *ece)
{
	struct cm_id *id;

	if (!cid || cid->qp || !ece || !ece->vendor_id || ece->comp_mask)
		return ext_err(EINVAL);
	id = cm_id_of(cid);
	id->local_ece.vendor_id = ece->vendor_id;
	id->local_ece.options = ece->options;
	return 0;
}

int ext_rdma_get_remote_ece(struct rdma_cm_id *cid, struct ibv_ece *ece)
{
	struct cm_id *id;

	if (!cid || cid->qp || !ece)
		return ext_err(EINVAL);
	id = cm_id_of(cid);
	ece->vendor_id = id->remote_ece.vendor_id;
	ece->options = id->remote_ece.options;
	ece->comp_mask = 0;
	return 0;
}
