// SPDX-License-Identifier: MIT
/* hostile_verbs: create_qp and modify_qp */
#include "hostile.h"

/* -------------------------------------------------------- create_qp */

/* create_qp: each cap over the limit. */
static void create_qp_caps(void)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp *qp;
	int i;
	static const struct {
		const char *what;
		struct ibv_qp_cap cap;
	} caps[] = {
		{ "max_send_wr UINT32_MAX", { .max_send_wr = UINT32_MAX } },
		{ "max_send_wr 16385", { .max_send_wr = 16385 } },
		{ "max_recv_wr UINT32_MAX", { .max_recv_wr = UINT32_MAX } },
		{ "max_send_sge 33", { .max_send_sge = 33 } },
		{ "max_send_sge UINT32_MAX", { .max_send_sge = UINT32_MAX } },
		{ "max_recv_sge 33", { .max_recv_sge = 33 } },
		{ "max_inline_data 1025", { .max_inline_data = 1025 } },
		{ "max_inline_data UINT32_MAX",
		  { .max_inline_data = UINT32_MAX } },
	};

	tc_section = "create_qp";
	for (i = 0; i < (int)(sizeof(caps) / sizeof(caps[0])); i++) {
		char what[96];

		memset(&ia, 0, sizeof(ia));
		ia.send_cq = ia.recv_cq = cq;
		ia.qp_type = IBV_QPT_RC;
		ia.cap = caps[i].cap;
		errno = 0;
		qp = ibv_create_qp(pd, &ia);
		snprintf(what, sizeof(what), "create_qp(%s)", caps[i].what);
		EXPECT_NULL(EINVAL, qp, what);
		if (qp)
			ibv_destroy_qp(qp);
	}
}

/* create_qp: missing CQs, other types, objects of another context. */
static void create_qp_objs(void)
{
	struct ibv_qp_init_attr ia;
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = 4, .max_sge = 1 } };
	struct ibv_srq *srq2;
	struct ibv_qp *qp;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = ia.recv_cq = cq;
	ia.qp_type = IBV_QPT_RC;
	ia.send_cq = NULL;
	qp = ibv_create_qp(pd, &ia);
	EXPECT_NULL(EINVAL, qp, "create_qp(send_cq NULL)");
	ia.send_cq = cq;
	ia.recv_cq = NULL;
	qp = ibv_create_qp(pd, &ia);
	EXPECT_NULL(EINVAL, qp, "create_qp(recv_cq NULL)");
	ia.recv_cq = cq;
	/* (UD is offered since issue 16; raw packet QPs are not) */
	ia.qp_type = IBV_QPT_RAW_PACKET;
	qp = ibv_create_qp(pd, &ia);
	EXPECT_NULL(EOPNOTSUPP, qp, "create_qp(RAW_PACKET)");
	ia.qp_type = (enum ibv_qp_type)200;
	qp = ibv_create_qp(pd, &ia);
	EXPECT_NULL(EOPNOTSUPP, qp, "create_qp(qp_type 200)");
	ia.qp_type = IBV_QPT_RC;

	/* objects of another context: the kernel finds no such handle */
	ia.send_cq = cq2;
	qp = ibv_create_qp(pd, &ia);
	EXPECT_NULL(EINVAL, qp, "create_qp(send_cq of another context)");
	if (qp)
		ibv_destroy_qp(qp);
	ia.send_cq = cq;
	ia.recv_cq = cq2;
	qp = ibv_create_qp(pd, &ia);
	EXPECT_NULL(EINVAL, qp, "create_qp(recv_cq of another context)");
	if (qp)
		ibv_destroy_qp(qp);
	ia.recv_cq = cq;
	qp = ibv_create_qp(pd2, &ia);
	EXPECT_NULL(EINVAL, qp, "create_qp(pd of another context, CQs ours)");
	if (qp)
		ibv_destroy_qp(qp);
	srq2 = ibv_create_srq(pd2, &sa);
	if (srq2) {
		ia.srq = srq2;
		qp = ibv_create_qp(pd, &ia);
		EXPECT_NULL(EINVAL, qp, "create_qp(srq of another context)");
		if (qp)
			ibv_destroy_qp(qp);
		ia.srq = NULL;
		EXPECT_RC(0, ibv_destroy_srq(srq2));
	}
}

/* create_qp_ex: PD, send_ops_flags, create_flags. */
static void create_qp_ex_args(void)
{
	struct ibv_qp_init_attr_ex ix;
	struct ibv_qp *qp;

	tc_section = "create_qp_ex";
	memset(&ix, 0, sizeof(ix));
	ix.send_cq = ix.recv_cq = cq;
	ix.qp_type = IBV_QPT_RC;
	ix.comp_mask = IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	ix.send_ops_flags = IBV_QP_EX_WITH_SEND;
	qp = ibv_create_qp_ex(ctx, &ix);
	EXPECT_NULL(EINVAL, qp, "create_qp_ex(no PD in comp_mask)");
	ix.comp_mask |= IBV_QP_INIT_ATTR_PD;
	ix.pd = NULL;
	qp = ibv_create_qp_ex(ctx, &ix);
	EXPECT_NULL(EINVAL, qp, "create_qp_ex(pd NULL)");
	ix.pd = pd2;
	qp = ibv_create_qp_ex(ctx, &ix);
	EXPECT_NULL(EINVAL, qp, "create_qp_ex(pd of another context)");
	if (qp)
		ibv_destroy_qp(qp);
	ix.pd = pd;
	ix.send_ops_flags = 1ull << 40;
	qp = ibv_create_qp_ex(ctx, &ix);
	EXPECT_NULL(EOPNOTSUPP, qp, "create_qp_ex(send_ops_flags 1<<40)");
	ix.send_ops_flags = IBV_QP_EX_WITH_TSO;
	qp = ibv_create_qp_ex(ctx, &ix);
	EXPECT_NULL(EOPNOTSUPP, qp, "create_qp_ex(WITH_TSO)");
	ix.qp_type = IBV_QPT_UC;
	ix.send_ops_flags = IBV_QP_EX_WITH_RDMA_READ;
	qp = ibv_create_qp_ex(ctx, &ix);
	EXPECT_NULL(EOPNOTSUPP, qp, "create_qp_ex(UC with RDMA_READ)");
	ix.qp_type = IBV_QPT_RC;
	ix.send_ops_flags = IBV_QP_EX_WITH_SEND;
	ix.comp_mask |= IBV_QP_INIT_ATTR_CREATE_FLAGS;
	ix.create_flags = 1u << 20;
	qp = ibv_create_qp_ex(ctx, &ix);
	EXPECT_NULL(EOPNOTSUPP, qp, "create_qp_ex(create_flags 1<<20)");
}

/* A QP of caps 0 takes nothing. */
static void create_qp_caps0(void)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp *qp;

	/* caps 0: a QP that holds nothing, every post is "queue full" */
	tc_section = "create_qp caps 0";
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = ia.recv_cq = cq;
	ia.qp_type = IBV_QPT_RC;
	qp = ibv_create_qp(pd, &ia);
	EXPECT_NULL(0, qp, "create_qp(all caps 0)");
	if (qp) {
		struct ibv_recv_wr rw = { .wr_id = 1 }, *rbad = NULL;
		struct ibv_sge s = sge(0, 8);

		rw.sg_list = &s;
		rw.num_sge = 0;
		check(to_init(qp) == 0, "caps 0 QP to INIT");
		EXPECT_POST(ENOMEM, ibv_post_recv(qp, &rw, &rbad), rbad, &rw);
		rw.num_sge = 1;
		rbad = NULL;
		EXPECT_POST(EINVAL, ibv_post_recv(qp, &rw, &rbad), rbad, &rw);
		EXPECT_RC(0, ibv_destroy_qp(qp));
	}
}

/*
 * Multicast verbs on what cannot join: an RC QP (EINVAL, as the kernel's
 * ib_attach_mcast), a UD QP given a unicast GID, a detach of a group not
 * joined (EINVAL, as rxe). Joining works: tests/tools/ud_mcast.
 */
static void mcast_refused(void)
{
	struct ibv_qp_init_attr ia;
	union ibv_gid mgid, uni;
	struct ibv_qp *qp;
	int t;

	tc_section = "mcast";
	/* ::ffff:239.1.2.3, a RoCE v2 IPv4 multicast GID */
	memset(&mgid, 0, sizeof(mgid));
	mgid.raw[10] = mgid.raw[11] = 0xff;
	mgid.raw[12] = 239;
	mgid.raw[13] = 1;
	mgid.raw[14] = 2;
	mgid.raw[15] = 3;
	if (ibv_query_gid(ctx, 1, 0, &uni))
		memset(&uni, 0, sizeof(uni));
	for (t = 0; t < 2; t++) {
		memset(&ia, 0, sizeof(ia));
		ia.send_cq = ia.recv_cq = cq;
		ia.qp_type = t ? IBV_QPT_UD : IBV_QPT_RC;
		ia.cap.max_send_wr = ia.cap.max_recv_wr = 1;
		ia.cap.max_send_sge = ia.cap.max_recv_sge = 1;
		qp = ibv_create_qp(pd, &ia);
		if (!qp) /* (a device without UD: certificates) */
			continue;
		if (t) {
			EXPECT_RC(EINVAL, ibv_attach_mcast(qp, &uni, 0));
		} else {
			EXPECT_RC(EINVAL, ibv_attach_mcast(qp, &mgid, 0));
		}
		EXPECT_RC(EINVAL, ibv_detach_mcast(qp, &mgid, 0));
		ibv_destroy_qp(qp);
	}
}

void t_create_qp(void)
{
	create_qp_caps();
	create_qp_objs();
	create_qp_ex_args();
	create_qp_caps0();
	mcast_refused();
}

/* -------------------------------------------------------- modify_qp */

/* A failed modify must leave the QP where it was. */
void bad_modify(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask,
		const char *what)
{
	enum ibv_qp_state before = qstate(qp);
	int r;

	errno = 0;
	r = ibv_modify_qp(qp, a, mask);
	check(r == EINVAL && errno == EINVAL && qstate(qp) == before,
	      "modify_qp(%s) -> %s, errno %s, state %d (was %d)", what, en(r),
	      en(errno), qstate(qp), before);
}

/* Every mask bit the transition does not allow is refused. */
static void extra_bits(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask,
		       int allowed, const char *tr)
{
	int bit;

	for (bit = 0; bit < 32; bit++) {
		int b = (int)(1u << bit);
		char what[80];

		if (b & allowed)
			continue;
		snprintf(what, sizeof(what), "%s with extra bit 1<<%d", tr,
			 bit);
		bad_modify(qp, a, mask | b, what);
	}
}

/* RESET -> INIT: each bad attribute refused, then the good one. */
static void modify_reset_init(struct ibv_qp *qp)
{
	struct ibv_qp_attr a;
	int full;

	/* RESET -> INIT */
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	full = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
	       IBV_QP_ACCESS_FLAGS;
	bad_modify(qp, &a, IBV_QP_STATE, "RESET->INIT, required bits missing");
	bad_modify(qp, &a, full & ~IBV_QP_PORT, "RESET->INIT without PORT");
	extra_bits(qp, &a, full, full, "RESET->INIT");
	a.port_num = 0;
	bad_modify(qp, &a, full, "port 0");
	a.port_num = 2;
	bad_modify(qp, &a, full, "port 2");
	a.port_num = 255;
	bad_modify(qp, &a, full, "port 255");
	a.port_num = 1;
	a.pkey_index = 1;
	bad_modify(qp, &a, full, "pkey_index 1");
	a.pkey_index = 0xffff;
	bad_modify(qp, &a, full, "pkey_index 0xffff");
	a.pkey_index = 0;
	a.qp_access_flags = 1 << 12;
	bad_modify(qp, &a, full, "access flags 1<<12");
	a.qp_access_flags = -1;
	bad_modify(qp, &a, full, "access flags -1");
	a.qp_access_flags = 0;
	a.qp_state = (enum ibv_qp_state)7;
	bad_modify(qp, &a, full, "state 7 (UNKNOWN)");
	a.qp_state = (enum ibv_qp_state)100;
	bad_modify(qp, &a, full, "state 100");
	a.qp_state = (enum ibv_qp_state) - 1;
	bad_modify(qp, &a, full, "state -1");
	a.qp_state = IBV_QPS_RTR;
	bad_modify(qp, &a, full, "RESET->RTR");
	a.qp_state = IBV_QPS_RTS;
	bad_modify(qp, &a, full, "RESET->RTS");
	a.qp_state = IBV_QPS_INIT;
	a.cur_qp_state = IBV_QPS_RTS;
	bad_modify(qp, &a, full | IBV_QP_CUR_STATE, "cur_qp_state wrong");
	EXPECT_RC(0, ibv_modify_qp(qp, &a, full));
	check(qstate(qp) == IBV_QPS_INIT, "QP in INIT");
}

/* INIT -> RTR: each bad attribute or path refused, then the good one. */
static void modify_init_rtr(struct ibv_qp *qp, struct ibv_qp *peer)
{
	struct ibv_qp_attr a;
	int mask;

	/* INIT -> RTR */
	rtr_attr(&a, peer->qp_num, &mask);
	bad_modify(qp, &a, mask & ~IBV_QP_AV, "INIT->RTR without AV");
	bad_modify(qp, &a, mask | IBV_QP_SQ_PSN, "INIT->RTR with SQ_PSN");
	bad_modify(qp, &a, mask | IBV_QP_TIMEOUT, "INIT->RTR with TIMEOUT");
	extra_bits(qp, &a, mask,
		   mask | IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS |
			   IBV_QP_PKEY_INDEX,
		   "INIT->RTR");
	a.path_mtu = (enum ibv_mtu)0;
	bad_modify(qp, &a, mask, "path_mtu 0");
	a.path_mtu = (enum ibv_mtu)6;
	bad_modify(qp, &a, mask, "path_mtu 6");
	a.path_mtu = (enum ibv_mtu)255;
	bad_modify(qp, &a, mask, "path_mtu 255");
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = 1u << 24;
	bad_modify(qp, &a, mask, "dest_qp_num 1<<24");
	a.dest_qp_num = UINT32_MAX;
	bad_modify(qp, &a, mask, "dest_qp_num 0xffffffff");
	a.dest_qp_num = peer->qp_num;
	a.max_dest_rd_atomic = 255;
	bad_modify(qp, &a, mask, "max_dest_rd_atomic 255");
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 32;
	bad_modify(qp, &a, mask, "min_rnr_timer 32");
	a.min_rnr_timer = 255;
	bad_modify(qp, &a, mask, "min_rnr_timer 255");
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 0;
	bad_modify(qp, &a, mask, "AV without GRH");
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 2;
	bad_modify(qp, &a, mask, "AV port 2");
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.sgid_index = 16;
	bad_modify(qp, &a, mask, "sgid_index 16 (table of 16)");
	a.ah_attr.grh.sgid_index = 255;
	bad_modify(qp, &a, mask, "sgid_index 255");
	a.ah_attr.grh.sgid_index = 15;
	bad_modify(qp, &a, mask, "sgid_index 15 (an empty slot on lo)");
	a.ah_attr.grh.sgid_index = 0;
	/* the alternate path is checked like the primary one (rxe) */
	a.alt_ah_attr = a.ah_attr;
	a.alt_port_num = 1;
	a.alt_timeout = 14;
	a.alt_port_num = 0;
	bad_modify(qp, &a, mask | IBV_QP_ALT_PATH, "alt_port_num 0");
	a.alt_port_num = 2;
	bad_modify(qp, &a, mask | IBV_QP_ALT_PATH, "alt_port_num 2");
	a.alt_port_num = 1;
	a.alt_pkey_index = 3;
	bad_modify(qp, &a, mask | IBV_QP_ALT_PATH, "alt_pkey_index 3");
	a.alt_pkey_index = 0;
	a.alt_timeout = 32;
	bad_modify(qp, &a, mask | IBV_QP_ALT_PATH, "alt_timeout 32");
	a.alt_timeout = 14;
	a.alt_ah_attr.is_global = 0;
	bad_modify(qp, &a, mask | IBV_QP_ALT_PATH, "alt AV without GRH");
	a.alt_ah_attr.is_global = 1;
	a.alt_ah_attr.grh.sgid_index = 200;
	bad_modify(qp, &a, mask | IBV_QP_ALT_PATH, "alt sgid_index 200");
	a.alt_ah_attr.grh.sgid_index = 0;
	a.rq_psn = 0xffffffff;
	EXPECT_RC(0, ibv_modify_qp(qp, &a, mask));
	check(qstate(qp) == IBV_QPS_RTR, "QP in RTR");
}

/* RTR -> RTS: each bad attribute refused, then the good one. */
static void modify_rtr_rts(struct ibv_qp *qp)
{
	struct ibv_qp_attr a;
	int mask;

	/* RTR -> RTS */
	rts_attr(&a, &mask);
	bad_modify(qp, &a, mask & ~IBV_QP_SQ_PSN, "RTR->RTS without SQ_PSN");
	bad_modify(qp, &a, mask | IBV_QP_PATH_MTU, "RTR->RTS with PATH_MTU");
	bad_modify(qp, &a, mask | IBV_QP_PORT, "RTR->RTS with PORT");
	extra_bits(qp, &a, mask,
		   mask | IBV_QP_CUR_STATE | IBV_QP_ALT_PATH |
			   IBV_QP_ACCESS_FLAGS | IBV_QP_MIN_RNR_TIMER |
			   IBV_QP_PATH_MIG_STATE,
		   "RTR->RTS");
	a.timeout = 32;
	bad_modify(qp, &a, mask, "timeout 32");
	a.timeout = 255;
	bad_modify(qp, &a, mask, "timeout 255");
	a.timeout = 14;
	a.retry_cnt = 8;
	bad_modify(qp, &a, mask, "retry_cnt 8");
	a.retry_cnt = 7;
	a.rnr_retry = 8;
	bad_modify(qp, &a, mask, "rnr_retry 8");
	a.rnr_retry = 255;
	bad_modify(qp, &a, mask, "rnr_retry 255");
	a.rnr_retry = 7;
	a.max_rd_atomic = 255;
	bad_modify(qp, &a, mask, "max_rd_atomic 255");
	a.max_rd_atomic = 1;
	a.path_mig_state = (enum ibv_mig_state)3;
	bad_modify(qp, &a, mask | IBV_QP_PATH_MIG_STATE, "path_mig_state 3");
	a.path_mig_state = IBV_MIG_MIGRATED;
	a.sq_psn = 0xfedcba98;
	EXPECT_RC(0, ibv_modify_qp(qp, &a, mask));
	check(qstate(qp) == IBV_QPS_RTS, "QP in RTS");
}

/* query_qp with any mask; the PSNs are 24 bits. */
static void query_qp_cases(struct ibv_qp *qp)
{
	struct ibv_qp_attr q;
	struct ibv_qp_init_attr qi;

	tc_section = "query_qp";
	memset(&q, 0xa5, sizeof(q));
	EXPECT_RC(0, ibv_query_qp(qp, &q, 0, &qi));
	EXPECT_RC(0, ibv_query_qp(qp, &q, -1, &qi));
	EXPECT_RC(0, ibv_query_qp(qp, &q, 1 << 30, &qi));
	check(q.qp_state == IBV_QPS_RTS && q.cap.max_send_wr >= 4,
	      "query_qp(mask -1): state %d, max_send_wr %u", q.qp_state,
	      q.cap.max_send_wr);
	/* the PSNs are 24 bits: high bits dropped, as rxe does */
	check(q.sq_psn == 0xdcba98 && q.rq_psn == 0xffffff,
	      "query_qp: sq_psn 0x%x (want 0xdcba98), rq_psn 0x%x (want "
	      "0xffffff)",
	      q.sq_psn, q.rq_psn);
}

/* From RTS: what RTS may become and what it may not. */
static void modify_from_rts(struct ibv_qp *qp)
{
	struct ibv_qp_attr a;

	tc_section = "modify_qp";
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	bad_modify(qp, &a, IBV_QP_STATE, "RTS->RTR");
	a.qp_state = IBV_QPS_INIT;
	bad_modify(qp, &a, IBV_QP_STATE, "RTS->INIT");
	a.qp_state = IBV_QPS_RTS;
	bad_modify(qp, &a, IBV_QP_STATE | IBV_QP_DEST_QPN,
		   "RTS->RTS with DEST_QPN");
	extra_bits(qp, &a, IBV_QP_STATE,
		   IBV_QP_STATE | IBV_QP_CUR_STATE | IBV_QP_ACCESS_FLAGS |
			   IBV_QP_ALT_PATH | IBV_QP_PATH_MIG_STATE |
			   IBV_QP_MIN_RNR_TIMER | IBV_QP_TIMEOUT |
			   IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY,
		   "RTS->RTS");
	a.timeout = 40;
	bad_modify(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT,
		   "RTS->RTS timeout 40");
	bad_modify(qp, &a, IBV_QP_TIMEOUT, "no STATE bit, timeout 40");
	a.timeout = 3;
	EXPECT_RC(0, ibv_modify_qp(qp, &a, IBV_QP_TIMEOUT));
	a.qp_state = IBV_QPS_ERR;
	EXPECT_RC(0, ibv_modify_qp(qp, &a, IBV_QP_STATE));
	a.qp_state = IBV_QPS_RTS;
	bad_modify(qp, &a, IBV_QP_STATE, "ERR->RTS");
	a.qp_state = IBV_QPS_RESET;
	bad_modify(qp, &a, IBV_QP_STATE | IBV_QP_PORT, "->RESET with PORT");
	EXPECT_RC(0, ibv_modify_qp(qp, &a, IBV_QP_STATE));
	check(qstate(qp) == IBV_QPS_RESET, "QP back in RESET");
}

void t_modify_qp(void)
{
	struct ibv_qp *qp = new_qp(IBV_QPT_RC, 4, 4, NULL), *peer;

	tc_section = "modify_qp";
	peer = new_qp(IBV_QPT_RC, 4, 4, NULL);
	if (!qp || !peer) {
		check(false, "create_qp: %s", strerror(errno));
		return;
	}
	modify_reset_init(qp);
	modify_init_rtr(qp, peer);
	modify_rtr_rts(qp);
	query_qp_cases(qp);
	modify_from_rts(qp);
	EXPECT_RC(0, ibv_destroy_qp(qp));
	EXPECT_RC(0, ibv_destroy_qp(peer));
	drain();
}
