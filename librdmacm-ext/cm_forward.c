// SPDX-License-Identifier: MIT
/*
 * The exported rdma_* entry points: each either forwards to the system
 * librdmacm (no tcp device in this network namespace: the preload is
 * invisible) or serves the call through the implementation's table
 * (ext_ops.h; cm_devices.c decides the mode, once per process). The
 * version script gives every symbol librdmacm's version (RDMACM_1.0 ...
 * 1.3), so programs linked against the versioned names bind to these.
 */
#include <stdatomic.h>
#include <stdint.h>

#include <rdma/rdma_verbs.h>

#include "ext.h"
#include "ext_ops.h"

#define REAL(name)                                          \
	({                                                  \
		static _Atomic(void *) real_;               \
		void *p_ = atomic_load(&real_);             \
		if (!p_) {                                  \
			p_ = ext_ops()->rdmacm_real(#name); \
			atomic_store(&real_, p_);           \
		}                                           \
		(__typeof__(&name))p_;                      \
	})

/* int-returning calls: forward, or ENOSYS when librdmacm is missing */
#define FWD_INT(name, params, args)                          \
	EXT_EXPORT int name params                           \
	{                                                    \
		if (!ext_ops()->tcp_mode()) {                \
			__typeof__(&name) f = REAL(name);    \
			return f ? f args : ext_err(ENOSYS); \
		}                                            \
		return ext_ops()->name args;                 \
	}

#define FWD_PTR(type, name, params, args)                 \
	EXT_EXPORT type name params                       \
	{                                                 \
		if (!ext_ops()->tcp_mode()) {             \
			__typeof__(&name) f = REAL(name); \
			if (!f) {                         \
				errno = ENOSYS;           \
				return NULL;              \
			}                                 \
			return f args;                    \
		}                                         \
		return ext_ops()->name args;              \
	}

#define FWD_VOID(name, params, args)                      \
	EXT_EXPORT void name params                       \
	{                                                 \
		if (!ext_ops()->tcp_mode()) {             \
			__typeof__(&name) f = REAL(name); \
			if (f)                            \
				f args;                   \
			return;                           \
		}                                         \
		ext_ops()->name args;                     \
	}

FWD_PTR(struct rdma_event_channel *, rdma_create_event_channel, (void), ())
FWD_VOID(rdma_destroy_event_channel, (struct rdma_event_channel * ch), (ch))
FWD_INT(rdma_create_id,
	(struct rdma_event_channel * ch, struct rdma_cm_id **id, void *ctx,
	 enum rdma_port_space ps),
	(ch, id, ctx, ps))
FWD_INT(rdma_destroy_id, (struct rdma_cm_id * id), (id))
FWD_INT(rdma_bind_addr, (struct rdma_cm_id * id, struct sockaddr *addr),
	(id, addr))
FWD_INT(rdma_resolve_addr,
	(struct rdma_cm_id * id, struct sockaddr *src, struct sockaddr *dst,
	 int timeout_ms),
	(id, src, dst, timeout_ms))
FWD_INT(rdma_resolve_route, (struct rdma_cm_id * id, int timeout_ms),
	(id, timeout_ms))
FWD_INT(rdma_create_qp,
	(struct rdma_cm_id * id, struct ibv_pd *pd,
	 struct ibv_qp_init_attr *attr),
	(id, pd, attr))
FWD_INT(rdma_create_qp_ex,
	(struct rdma_cm_id * id, struct ibv_qp_init_attr_ex *attr), (id, attr))
FWD_VOID(rdma_destroy_qp, (struct rdma_cm_id * id), (id))
FWD_INT(rdma_create_srq,
	(struct rdma_cm_id * id, struct ibv_pd *pd,
	 struct ibv_srq_init_attr *attr),
	(id, pd, attr))
FWD_INT(rdma_create_srq_ex,
	(struct rdma_cm_id * id, struct ibv_srq_init_attr_ex *attr), (id, attr))
FWD_VOID(rdma_destroy_srq, (struct rdma_cm_id * id), (id))
FWD_INT(rdma_connect, (struct rdma_cm_id * id, struct rdma_conn_param *p),
	(id, p))
FWD_INT(rdma_establish, (struct rdma_cm_id * id), (id))
FWD_INT(rdma_listen, (struct rdma_cm_id * id, int backlog), (id, backlog))
FWD_INT(rdma_get_request, (struct rdma_cm_id * listen, struct rdma_cm_id **id),
	(listen, id))
FWD_INT(rdma_accept, (struct rdma_cm_id * id, struct rdma_conn_param *p),
	(id, p))
FWD_INT(rdma_reject, (struct rdma_cm_id * id, const void *pdata, uint8_t len),
	(id, pdata, len))
FWD_INT(rdma_notify, (struct rdma_cm_id * id, enum ibv_event_type event),
	(id, event))
FWD_INT(rdma_disconnect, (struct rdma_cm_id * id), (id))
FWD_INT(rdma_get_cm_event,
	(struct rdma_event_channel * ch, struct rdma_cm_event **ev), (ch, ev))
FWD_INT(rdma_ack_cm_event, (struct rdma_cm_event * ev), (ev))
FWD_INT(rdma_set_option,
	(struct rdma_cm_id * id, int level, int optname, void *optval,
	 size_t optlen),
	(id, level, optname, optval, optlen))
FWD_INT(rdma_migrate_id,
	(struct rdma_cm_id * id, struct rdma_event_channel *ch), (id, ch))
FWD_INT(rdma_getaddrinfo,
	(const char *node, const char *service,
	 const struct rdma_addrinfo *hints, struct rdma_addrinfo **res),
	(node, service, hints, res))
FWD_VOID(rdma_freeaddrinfo, (struct rdma_addrinfo * res), (res))
FWD_INT(rdma_create_ep,
	(struct rdma_cm_id * *id, struct rdma_addrinfo *res, struct ibv_pd *pd,
	 struct ibv_qp_init_attr *attr),
	(id, res, pd, attr))
FWD_VOID(rdma_destroy_ep, (struct rdma_cm_id * id), (id))
FWD_INT(rdma_init_qp_attr,
	(struct rdma_cm_id * id, struct ibv_qp_attr *attr, int *mask),
	(id, attr, mask))
FWD_INT(rdma_set_local_ece, (struct rdma_cm_id * id, struct ibv_ece *ece),
	(id, ece))
FWD_INT(rdma_get_remote_ece, (struct rdma_cm_id * id, struct ibv_ece *ece),
	(id, ece))

FWD_INT(rdma_join_multicast,
	(struct rdma_cm_id * id, struct sockaddr *addr, void *ctx),
	(id, addr, ctx))
FWD_INT(rdma_join_multicast_ex,
	(struct rdma_cm_id * id, struct rdma_cm_join_mc_attr_ex *attr,
	 void *ctx),
	(id, attr, ctx))
FWD_INT(rdma_leave_multicast, (struct rdma_cm_id * id, struct sockaddr *a),
	(id, a))

/* a reject that also says "ECE options not supported": the same here */
EXT_EXPORT int rdma_reject_ece(struct rdma_cm_id *id, const void *pdata,
			       uint8_t len)
{
	if (!ext_ops()->tcp_mode()) {
		__typeof__(&rdma_reject_ece) f = REAL(rdma_reject_ece);

		return f ? f(id, pdata, len) : ext_err(ENOSYS);
	}
	return ext_ops()->rdma_reject(id, pdata, len);
}

static uint16_t port_of(struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((struct sockaddr_in *)sa)->sin_port;
	if (sa->sa_family == AF_INET6)
		return ((struct sockaddr_in6 *)sa)->sin6_port;
	return 0;
}

EXT_EXPORT __be16 rdma_get_src_port(struct rdma_cm_id *id)
{
	if (!ext_ops()->tcp_mode()) {
		__typeof__(&rdma_get_src_port) f = REAL(rdma_get_src_port);

		return f ? f(id) : 0;
	}
	return port_of(&id->route.addr.src_addr);
}

EXT_EXPORT __be16 rdma_get_dst_port(struct rdma_cm_id *id)
{
	if (!ext_ops()->tcp_mode()) {
		__typeof__(&rdma_get_dst_port) f = REAL(rdma_get_dst_port);

		return f ? f(id) : 0;
	}
	return port_of(&id->route.addr.dst_addr);
}

EXT_EXPORT struct ibv_context **rdma_get_devices(int *num)
{
	if (!ext_ops()->tcp_mode()) {
		__typeof__(&rdma_get_devices) f = REAL(rdma_get_devices);

		if (!f) {
			if (num)
				*num = 0;
			errno = ENOSYS;
			return NULL;
		}
		return f(num);
	}
	return ext_ops()->rdma_get_devices(num);
}

EXT_EXPORT void rdma_free_devices(struct ibv_context **list)
{
	if (!ext_ops()->tcp_mode()) {
		__typeof__(&rdma_free_devices) f = REAL(rdma_free_devices);

		if (f)
			f(list);
		return;
	}
	ext_ops()->rdma_free_devices(list);
}

static const char *const event_names[] = {
	[RDMA_CM_EVENT_ADDR_RESOLVED] = "RDMA_CM_EVENT_ADDR_RESOLVED",
	[RDMA_CM_EVENT_ADDR_ERROR] = "RDMA_CM_EVENT_ADDR_ERROR",
	[RDMA_CM_EVENT_ROUTE_RESOLVED] = "RDMA_CM_EVENT_ROUTE_RESOLVED",
	[RDMA_CM_EVENT_ROUTE_ERROR] = "RDMA_CM_EVENT_ROUTE_ERROR",
	[RDMA_CM_EVENT_CONNECT_REQUEST] = "RDMA_CM_EVENT_CONNECT_REQUEST",
	[RDMA_CM_EVENT_CONNECT_RESPONSE] = "RDMA_CM_EVENT_CONNECT_RESPONSE",
	[RDMA_CM_EVENT_CONNECT_ERROR] = "RDMA_CM_EVENT_CONNECT_ERROR",
	[RDMA_CM_EVENT_UNREACHABLE] = "RDMA_CM_EVENT_UNREACHABLE",
	[RDMA_CM_EVENT_REJECTED] = "RDMA_CM_EVENT_REJECTED",
	[RDMA_CM_EVENT_ESTABLISHED] = "RDMA_CM_EVENT_ESTABLISHED",
	[RDMA_CM_EVENT_DISCONNECTED] = "RDMA_CM_EVENT_DISCONNECTED",
	[RDMA_CM_EVENT_DEVICE_REMOVAL] = "RDMA_CM_EVENT_DEVICE_REMOVAL",
	[RDMA_CM_EVENT_MULTICAST_JOIN] = "RDMA_CM_EVENT_MULTICAST_JOIN",
	[RDMA_CM_EVENT_MULTICAST_ERROR] = "RDMA_CM_EVENT_MULTICAST_ERROR",
	[RDMA_CM_EVENT_ADDR_CHANGE] = "RDMA_CM_EVENT_ADDR_CHANGE",
	[RDMA_CM_EVENT_TIMEWAIT_EXIT] = "RDMA_CM_EVENT_TIMEWAIT_EXIT",
};

/* A pure function, the same strings as librdmacm's: served here in both
 * modes (no need to find the system library for it). */
EXT_EXPORT const char *rdma_event_str(enum rdma_cm_event_type event)
{
	if ((unsigned int)event <
		    sizeof(event_names) / sizeof(event_names[0]) &&
	    event_names[event])
		return event_names[event];
	return "UNKNOWN EVENT";
}
