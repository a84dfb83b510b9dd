// SPDX-License-Identifier: MIT
/*
 * This copy of the implementation as a table (ext_ops.h): linked into the
 * preload, and the one symbol librdmacm-ext-asan.so exports.
 */
#include "ext.h"
#include "ext_ops.h"

static struct ibv_comp_channel *verbs_create(struct ibv_context *ctx)
{
	const struct ext_verbs *v = ext_verbs();

	return v ? v->create_comp_channel(ctx) : NULL;
}

static int verbs_destroy(struct ibv_comp_channel *ch)
{
	const struct ext_verbs *v = ext_verbs();

	return v ? v->destroy_comp_channel(ch) : ENOSYS;
}

EXT_EXPORT const struct rdmacm_ext_ops rdmacm_ext_ops_impl = {
	.version = RDMACM_EXT_OPS_VERSION,
	.size = sizeof(struct rdmacm_ext_ops),
	.tcp_mode = cm_tcp_mode,
	.rdmacm_real = ext_rdmacm_real,
	.is_tcp_context = ext_is_tcp_context,
	.comp_channel_create = ext_comp_channel_create,
	.comp_channel_destroy = ext_comp_channel_destroy,
	.verbs_create_comp_channel = verbs_create,
	.verbs_destroy_comp_channel = verbs_destroy,
	.rdma_create_event_channel = ext_rdma_create_event_channel,
	.rdma_destroy_event_channel = ext_rdma_destroy_event_channel,
	.rdma_create_id = ext_rdma_create_id,
	.rdma_destroy_id = ext_rdma_destroy_id,
	.rdma_bind_addr = ext_rdma_bind_addr,
	.rdma_resolve_addr = ext_rdma_resolve_addr,
	.rdma_resolve_route = ext_rdma_resolve_route,
	.rdma_create_qp = ext_rdma_create_qp,
	.rdma_create_qp_ex = ext_rdma_create_qp_ex,
	.rdma_destroy_qp = ext_rdma_destroy_qp,
	.rdma_create_srq = ext_rdma_create_srq,
	.rdma_create_srq_ex = ext_rdma_create_srq_ex,
	.rdma_destroy_srq = ext_rdma_destroy_srq,
	.rdma_connect = ext_rdma_connect,
	.rdma_establish = ext_rdma_establish,
	.rdma_listen = ext_rdma_listen,
	.rdma_get_request = ext_rdma_get_request,
	.rdma_accept = ext_rdma_accept,
	.rdma_reject = ext_rdma_reject,
	.rdma_notify = ext_rdma_notify,
	.rdma_disconnect = ext_rdma_disconnect,
	.rdma_get_cm_event = ext_rdma_get_cm_event,
	.rdma_ack_cm_event = ext_rdma_ack_cm_event,
	.rdma_set_option = ext_rdma_set_option,
	.rdma_migrate_id = ext_rdma_migrate_id,
	.rdma_getaddrinfo = ext_rdma_getaddrinfo,
	.rdma_freeaddrinfo = ext_rdma_freeaddrinfo,
	.rdma_create_ep = ext_rdma_create_ep,
	.rdma_destroy_ep = ext_rdma_destroy_ep,
	.rdma_init_qp_attr = ext_rdma_init_qp_attr,
	.rdma_set_local_ece = ext_rdma_set_local_ece,
	.rdma_get_remote_ece = ext_rdma_get_remote_ece,
	.rdma_join_multicast = ext_rdma_join_multicast,
	.rdma_join_multicast_ex = ext_rdma_join_multicast_ex,
	.rdma_leave_multicast = ext_rdma_leave_multicast,
	.rdma_get_devices = cm_get_devices,
	.rdma_free_devices = cm_free_devices,
	.rio = &rio_ops_impl,
};
