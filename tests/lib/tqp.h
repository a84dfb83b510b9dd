/* SPDX-License-Identifier: MIT */
/*
 * Moving an RC or UC QP of the C test programs through INIT, RTR and RTS
 * to a known peer, with the attributes ibv_rc_pingpong uses unless a test
 * says otherwise.
 */
#ifndef RDMA_TCP_TQP_H
#define RDMA_TCP_TQP_H

#include <stdint.h>

#include <infiniband/verbs.h>

/* Where the QP connects to, and the attributes the tests vary. */
struct tqp_path {
	uint32_t dest_qpn;
	union ibv_gid dgid;
	enum ibv_mtu path_mtu;
	uint8_t sgid_index;
	uint8_t hop_limit;
	uint8_t traffic_class;
	uint8_t rd_atomic; /* max_rd_atomic and max_dest_rd_atomic */
	uint8_t min_rnr_timer;
	uint8_t timeout;
	uint8_t retry_cnt;
	uint8_t rnr_retry;
};

/* The usual path to @dest_qpn at @dgid: change fields before use. */
static inline struct tqp_path tqp_path(uint32_t dest_qpn,
				       const union ibv_gid *dgid)
{
	struct tqp_path p = { .dest_qpn = dest_qpn,
			      .dgid = *dgid,
			      .path_mtu = IBV_MTU_1024,
			      .hop_limit = 64,
			      .rd_atomic = 1,
			      .min_rnr_timer = 12, /* 0.64 ms */
			      .timeout = 14,	   /* 67 ms */
			      .retry_cnt = 7,
			      .rnr_retry = 7 };

	return p;
}

static inline int tqp_init(struct ibv_qp *qp, unsigned int access)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_INIT,
				 .port_num = 1,
				 .qp_access_flags = access };

	return ibv_modify_qp(qp, &a,
			     IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				     IBV_QP_ACCESS_FLAGS);
}

static inline int tqp_rtr(struct ibv_qp *qp, const struct tqp_path *p)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RTR,
				 .path_mtu = p->path_mtu,
				 .dest_qp_num = p->dest_qpn,
				 .max_dest_rd_atomic = p->rd_atomic,
				 .min_rnr_timer = p->min_rnr_timer };
	int mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
		   IBV_QP_DEST_QPN | IBV_QP_RQ_PSN;

	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.dgid = p->dgid;
	a.ah_attr.grh.sgid_index = p->sgid_index;
	a.ah_attr.grh.hop_limit = p->hop_limit;
	a.ah_attr.grh.traffic_class = p->traffic_class;
	if (qp->qp_type != IBV_QPT_UC)
		mask |= IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
	return ibv_modify_qp(qp, &a, mask);
}

static inline int tqp_rts(struct ibv_qp *qp, const struct tqp_path *p)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RTS,
				 .timeout = p->timeout,
				 .retry_cnt = p->retry_cnt,
				 .rnr_retry = p->rnr_retry,
				 .max_rd_atomic = p->rd_atomic };
	int mask = IBV_QP_STATE | IBV_QP_SQ_PSN;

	if (qp->qp_type != IBV_QPT_UC)
		mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			IBV_QP_MAX_QP_RD_ATOMIC;
	return ibv_modify_qp(qp, &a, mask);
}

/* From RESET to RTS in one go; 0 or the failing step's errno. */
static inline int tqp_connect(struct ibv_qp *qp, unsigned int access,
			      const struct tqp_path *p)
{
	int rc = tqp_init(qp, access);

	if (!rc)
		rc = tqp_rtr(qp, p);
	if (!rc)
		rc = tqp_rts(qp, p);
	return rc;
}

#endif
