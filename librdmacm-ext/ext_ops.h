/* SPDX-License-Identifier: MIT */
/*
 * The implementation's entry points as one table. The preload's exported
 * functions (cm_forward.c, entry.c) call through it, and entry.c picks
 * the table: the one linked in, or -- in a sanitizer build, in a process
 * that runs with the ASan runtime -- the one of librdmacm-ext-asan.so, the
 * same code instrumented. So the preload itself carries no sanitizer
 * runtime and can be in LD_PRELOAD of any program (`rdma-tcp env` exports
 * it to the whole shell), while stock programs started with the sanitizer
 * runtimes first (tests/lib/sanitize.sh) run the instrumented code.
 */
#ifndef RDMACM_EXT_OPS_H
#define RDMACM_EXT_OPS_H

#include <stdbool.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <rdma/rdma_verbs.h>

#include "rio.h"

#define RDMACM_EXT_OPS_VERSION 3
#define RDMACM_EXT_OPS_SYMBOL  "rdmacm_ext_ops_impl"

struct rdmacm_ext_ops {
	unsigned int version;
	size_t size;
	/* mode and the system libraries */
	bool (*tcp_mode)(void);
	void *(*rdmacm_real)(const char *name);
	/* completion channels */
	bool (*is_tcp_context)(struct ibv_context *ctx);
	struct ibv_comp_channel *(*comp_channel_create)(
		struct ibv_context *ctx);
	int (*comp_channel_destroy)(struct ibv_comp_channel *ch);
	struct ibv_comp_channel *(*verbs_create_comp_channel)(
		struct ibv_context *ctx);
	int (*verbs_destroy_comp_channel)(struct ibv_comp_channel *ch);
	/* rdma_cm, named as the API */
	struct rdma_event_channel *(*rdma_create_event_channel)(void);
	void (*rdma_destroy_event_channel)(struct rdma_event_channel *ch);
	int (*rdma_create_id)(struct rdma_event_channel *ch,
			      struct rdma_cm_id **id, void *ctx,
			      enum rdma_port_space ps);
	int (*rdma_destroy_id)(struct rdma_cm_id *id);
	int (*rdma_bind_addr)(struct rdma_cm_id *id, struct sockaddr *addr);
	int (*rdma_resolve_addr)(struct rdma_cm_id *id, struct sockaddr *src,
				 struct sockaddr *dst, int timeout_ms);
	int (*rdma_resolve_route)(struct rdma_cm_id *id, int timeout_ms);
	int (*rdma_create_qp)(struct rdma_cm_id *id, struct ibv_pd *pd,
			      struct ibv_qp_init_attr *attr);
	int (*rdma_create_qp_ex)(struct rdma_cm_id *id,
				 struct ibv_qp_init_attr_ex *attr);
	void (*rdma_destroy_qp)(struct rdma_cm_id *id);
	int (*rdma_create_srq)(struct rdma_cm_id *id, struct ibv_pd *pd,
			       struct ibv_srq_init_attr *attr);
	int (*rdma_create_srq_ex)(struct rdma_cm_id *id,
				  struct ibv_srq_init_attr_ex *attr);
	void (*rdma_destroy_srq)(struct rdma_cm_id *id);
	int (*rdma_connect)(struct rdma_cm_id *id,
			    struct rdma_conn_param *param);
	int (*rdma_establish)(struct rdma_cm_id *id);
	int (*rdma_listen)(struct rdma_cm_id *id, int backlog);
	int (*rdma_get_request)(struct rdma_cm_id *listen,
				struct rdma_cm_id **id);
	int (*rdma_accept)(struct rdma_cm_id *id,
			   struct rdma_conn_param *param);
	int (*rdma_reject)(struct rdma_cm_id *id, const void *pdata,
			   uint8_t len);
	int (*rdma_notify)(struct rdma_cm_id *id, enum ibv_event_type event);
	int (*rdma_disconnect)(struct rdma_cm_id *id);
	int (*rdma_get_cm_event)(struct rdma_event_channel *ch,
				 struct rdma_cm_event **ev);
	int (*rdma_ack_cm_event)(struct rdma_cm_event *ev);
	int (*rdma_set_option)(struct rdma_cm_id *id, int level, int optname,
			       void *optval, size_t optlen);
	int (*rdma_migrate_id)(struct rdma_cm_id *id,
			       struct rdma_event_channel *ch);
	int (*rdma_getaddrinfo)(const char *node, const char *service,
				const struct rdma_addrinfo *hints,
				struct rdma_addrinfo **res);
	void (*rdma_freeaddrinfo)(struct rdma_addrinfo *res);
	int (*rdma_create_ep)(struct rdma_cm_id **id, struct rdma_addrinfo *res,
			      struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
	void (*rdma_destroy_ep)(struct rdma_cm_id *id);
	int (*rdma_init_qp_attr)(struct rdma_cm_id *id,
				 struct ibv_qp_attr *attr, int *mask);
	int (*rdma_set_local_ece)(struct rdma_cm_id *id, struct ibv_ece *ece);
	int (*rdma_get_remote_ece)(struct rdma_cm_id *id, struct ibv_ece *ece);
	int (*rdma_join_multicast)(struct rdma_cm_id *id, struct sockaddr *addr,
				   void *context);
	int (*rdma_join_multicast_ex)(struct rdma_cm_id *id,
				      struct rdma_cm_join_mc_attr_ex *attr,
				      void *context);
	int (*rdma_leave_multicast)(struct rdma_cm_id *id,
				    struct sockaddr *addr);
	struct ibv_context **(*rdma_get_devices)(int *num);
	void (*rdma_free_devices)(struct ibv_context **list);
	/* framed rsockets (rio.h), for rsock.c */
	const struct rio_ops *rio;
};

/* The table of this copy of the implementation (ext_ops.c). */
extern const struct rdmacm_ext_ops rdmacm_ext_ops_impl;

/* The table in use (entry.c). */
const struct rdmacm_ext_ops *ext_ops(void);

#endif
