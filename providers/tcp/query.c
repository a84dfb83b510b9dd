// SPDX-License-Identifier: MIT
/* Device and port attributes (ibv_query_device[_ex], ibv_query_port). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tcp.h"

static void fill_device_attr(struct tcp_context *ctx, struct ibv_device_attr *a)
{
	struct tcp_device *dev = ctx->dev;

	memset(a, 0, sizeof(*a));
	snprintf(a->fw_ver, sizeof(a->fw_ver), "%s", dev->fw_ver);
	a->node_guid = dev->node_guid;
	a->sys_image_guid = dev->sys_image_guid;
	a->max_mr_size = UINT64_MAX;
	a->page_size_cap = TCP_PAGE_SIZE_CAP;
	a->vendor_id = TCP_VENDOR_ID;
	a->vendor_part_id = TCP_VENDOR_PART_ID;
	a->hw_ver = 0;
	a->max_qp = TCP_MAX_QP;
	a->max_qp_wr = TCP_MAX_QP_WR;
	a->device_cap_flags =
		IBV_DEVICE_RC_RNR_NAK_GEN | IBV_DEVICE_SYS_IMAGE_GUID |
		IBV_DEVICE_RESIZE_MAX_WR | IBV_DEVICE_SRQ_RESIZE |
		IBV_DEVICE_N_NOTIFY_CQ | IBV_DEVICE_PORT_ACTIVE_EVENT |
		IBV_DEVICE_CURR_QP_STATE_MOD | IBV_DEVICE_MEM_WINDOW |
		IBV_DEVICE_MEM_WINDOW_TYPE_2B;
	a->max_sge = TCP_MAX_SGE;
	a->max_sge_rd = TCP_MAX_SGE_RD;
	a->max_cq = TCP_MAX_CQ;
	a->max_cqe = TCP_MAX_CQE;
	a->max_mr = TCP_MAX_MR;
	a->max_mw = TCP_MAX_MW;
	a->max_pd = TCP_MAX_PD;
	a->max_qp_rd_atom = TCP_MAX_QP_RD_ATOM;
	a->max_ee_rd_atom = 0;
	a->max_res_rd_atom = TCP_MAX_RES_RD_ATOM;
	a->max_qp_init_rd_atom = TCP_MAX_QP_RD_ATOM;
	a->max_ee_init_rd_atom = 0;
	/*
	 * Atomics are performed by the responder's CPU with __atomic
	 * operations on the target memory: atomic with respect to other
	 * tcp-device atomics and to CPU atomics on the same host, which is
	 * what IBV_ATOMIC_HCA promises (not atomicity against plain stores).
	 */
	a->atomic_cap = IBV_ATOMIC_HCA;
	a->max_ah = TCP_MAX_AH;
	a->max_mcast_grp = TCP_MAX_MCAST_GRP;
	a->max_mcast_qp_attach = TCP_MAX_MCAST_QP_ATTACH;
	a->max_total_mcast_qp_attach = TCP_MAX_TOTAL_MCAST_QP_ATTACH;
	a->max_srq = TCP_MAX_SRQ;
	a->max_srq_wr = TCP_MAX_SRQ_WR;
	a->max_srq_sge = TCP_MAX_SRQ_SGE;
	a->max_pkeys = 1;
	a->local_ca_ack_delay = 15;
	a->phys_port_cnt = 1;
}

int tcp_query_device_ex(struct ibv_context *ibctx,
			const struct ibv_query_device_ex_input *input,
			struct ibv_device_attr_ex *attr, size_t attr_size)
{
	struct tcp_context *ctx = to_tctx(ibctx);

	if (input && input->comp_mask)
		return tcp_fail(EINVAL);
	if (attr_size < sizeof(attr->orig_attr))
		return tcp_fail(EINVAL);
	if (attr_size > sizeof(*attr))
		attr_size = sizeof(*attr);
	memset(attr, 0, attr_size);
	fill_device_attr(ctx, &attr->orig_attr);
	if (attr_size >= offsetof(struct ibv_device_attr_ex, phys_port_cnt_ex) +
				 sizeof(attr->phys_port_cnt_ex))
		attr->phys_port_cnt_ex = 1;
	return 0;
}

/* The largest IB MTU that fits the netdev MTU (as soft-RoCE reports it). */
static enum ibv_mtu mtu_from_netdev(int mtu)
{
	if (mtu >= 4096)
		return IBV_MTU_4096;
	if (mtu >= 2048)
		return IBV_MTU_2048;
	if (mtu >= 1024)
		return IBV_MTU_1024;
	if (mtu >= 512)
		return IBV_MTU_512;
	return IBV_MTU_256;
}

/* An IB width/speed pair whose product is close to the link speed. */
static void speed_from_netdev(int mbps, uint8_t *width, uint8_t *speed)
{
	static const struct {
		int mbps;
		uint8_t width, speed;
	} t[] = {
		{ 400000, 2, 64 },		      /* 4x HDR */
		{ 200000, 2, 64 }, { 100000, 2, 32 }, /* 4x EDR */
		{ 56000, 2, 16 },  { 40000, 2, 4 },   /* 4x QDR */
		{ 25000, 1, 32 },		      /* 1x EDR */
		{ 10000, 1, 4 },		      /* 1x QDR */
		{ 5000, 1, 2 },	   { 0, 1, 1 },
	};
	unsigned int i;

	/* No reported speed (lo, dummy): the kernel's ceiling is ~100G. */
	if (mbps <= 0)
		mbps = 100000;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (mbps >= t[i].mbps)
			break;
	*width = t[i].width;
	*speed = t[i].speed;
}

int tcp_query_port(struct ibv_context *ibctx, uint8_t port,
		   struct ibv_port_attr *a)
{
	struct tcp_context *ctx = to_tctx(ibctx);
	int up = 0, mtu = 1500, mbps = -1;

	if (port != 1)
		return tcp_fail(EINVAL);
	tcp_netdev_state(ctx->dev->netdev, &up, &mtu, &mbps);
	memset(a, 0, sizeof(*a));
	a->state = up ? IBV_PORT_ACTIVE : IBV_PORT_DOWN;
	a->phys_state = up ? 5 /* LinkUp */ : 3 /* Disabled */;
	a->max_mtu = IBV_MTU_4096;
	a->active_mtu = mtu_from_netdev(mtu);
	a->gid_tbl_len = TCP_GID_TBL_LEN;
	a->port_cap_flags = IBV_PORT_CM_SUP;
	a->max_msg_sz = TCP_MAX_MSG_SZ;
	a->pkey_tbl_len = 1;
	a->lid = 0;
	a->sm_lid = 0;
	a->max_vl_num = 1;
	speed_from_netdev(mbps, &a->active_width, &a->active_speed);
	a->link_layer = IBV_LINK_LAYER_ETHERNET;
	a->flags = 0;
	return 0;
}
