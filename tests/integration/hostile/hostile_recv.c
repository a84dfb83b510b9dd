// SPDX-License-Identifier: MIT
/* hostile_verbs: post_recv and SRQs */
#include "hostile.h"

/* -------------------------------------------------------- post_recv */

void t_post_recv(void)
{
	struct pair p;
	struct ibv_sge s[3] = { sge(0, 8), sge(8, 8), sge(16, 8) };
	struct ibv_recv_wr rw = { .wr_id = 1, .sg_list = s }, *rbad;
	struct ibv_send_wr w = { .wr_id = 2,
				 .sg_list = s,
				 .num_sge = 1,
				 .opcode = IBV_WR_SEND,
				 .send_flags = IBV_SEND_SIGNALED },
			   *bad = NULL;
	struct ibv_wc wc[4];
	int n, i;
	bool rl = false, sl = false;

	tc_section = "post_recv";
	if (!pair_up(&p, IBV_QPT_RC, 4, 4))
		return;
	rw.num_sge = 3;
	rbad = NULL;
	EXPECT_POST(EINVAL, ibv_post_recv(p.b, &rw, &rbad), rbad, &rw);
	rw.num_sge = -1;
	rbad = NULL;
	EXPECT_POST(EINVAL, ibv_post_recv(p.b, &rw, &rbad), rbad, &rw);
	rw.num_sge = 1;
	rw.sg_list = NULL;
	rbad = NULL;
	EXPECT_POST(EINVAL, ibv_post_recv(p.b, &rw, &rbad), rbad, &rw);

	/* a garbage lkey is found when a message lands: error completions */
	rw.sg_list = s;
	s[0].lkey ^= 0x77777700;
	rbad = NULL;
	EXPECT_POST(0, ibv_post_recv(p.b, &rw, &rbad), rbad, NULL);
	s[0].lkey = mr->lkey;
	EXPECT_POST(0, ibv_post_send(p.a, &w, &bad), bad, NULL);
	n = poll_n(wc, 2);
	for (i = 0; i < n; i++) {
		if (wc[i].wr_id == 1)
			rl = wc[i].status == IBV_WC_LOC_PROT_ERR;
		if (wc[i].wr_id == 2)
			sl = wc[i].status != IBV_WC_SUCCESS;
	}
	check(n == 2 && rl && sl,
	      "SEND into a receive with a garbage lkey: receive "
	      "LOC_PROT_ERR, send in error (%d completions)",
	      n);
	pair_down(&p);
	drain();
}

/* -------------------------------------------------------------- SRQ */

/* create_srq: each size over the limit. */
static void create_srq_bad(void)
{
	struct ibv_srq_init_attr sa;
	struct ibv_srq *srq;
	int i;
	static const struct {
		const char *what;
		uint32_t wr, sge, limit;
	} bad[] = {
		{ "max_wr 0", 0, 1, 0 },
		{ "max_wr UINT32_MAX", UINT32_MAX, 1, 0 },
		{ "max_wr 16385", 16385, 1, 0 },
		{ "max_sge 33", 4, 33, 0 },
		{ "max_sge UINT32_MAX", 4, UINT32_MAX, 0 },
		{ "srq_limit > max_wr", 4, 1, 5 },
	};

	tc_section = "create_srq";
	for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
		char what[64];

		memset(&sa, 0, sizeof(sa));
		sa.attr.max_wr = bad[i].wr;
		sa.attr.max_sge = bad[i].sge;
		sa.attr.srq_limit = bad[i].limit;
		errno = 0;
		srq = ibv_create_srq(pd, &sa);
		snprintf(what, sizeof(what), "create_srq(%s)", bad[i].what);
		EXPECT_NULL(EINVAL, srq, what);
		if (srq)
			ibv_destroy_srq(srq);
	}
}

/* create_srq_ex: the types this device does not have. */
static void create_srq_ex_types(void)
{
	tc_section = "create_srq_ex";
	{
		struct ibv_srq_init_attr_ex sx = {
			.attr = { .max_wr = 4, .max_sge = 1 },
			.comp_mask =
				IBV_SRQ_INIT_ATTR_PD | IBV_SRQ_INIT_ATTR_TYPE,
			.pd = pd,
			.srq_type = IBV_SRQT_XRC,
		};
		struct ibv_srq *s2 = ibv_create_srq_ex(ctx, &sx);

		EXPECT_NULL(EOPNOTSUPP, s2, "create_srq_ex(XRC)");
		sx.srq_type = IBV_SRQT_TM;
		s2 = ibv_create_srq_ex(ctx, &sx);
		EXPECT_NULL(EOPNOTSUPP, s2, "create_srq_ex(TM)");
		sx.srq_type = (enum ibv_srq_type)99;
		s2 = ibv_create_srq_ex(ctx, &sx);
		EXPECT_NULL(EOPNOTSUPP, s2, "create_srq_ex(type 99)");
		sx.srq_type = IBV_SRQT_BASIC;
		sx.comp_mask |= IBV_SRQ_INIT_ATTR_CQ;
		sx.cq = cq;
		s2 = ibv_create_srq_ex(ctx, &sx);
		EXPECT_NULL(EOPNOTSUPP, s2, "create_srq_ex(BASIC with a CQ)");
	}
}

/* modify_srq, post_srq_recv, and the SRQ while a QP uses it. */
static void srq_modify_post(struct ibv_srq *srq)
{
	struct ibv_srq_attr ma;
	struct ibv_sge s = sge(0, 8);
	struct ibv_recv_wr rw[6], *rbad;
	struct ibv_qp *qp;
	int i;
	uint32_t num;

	tc_section = "modify_srq";
	memset(&ma, 0, sizeof(ma));
	EXPECT_RC(EINVAL, ibv_modify_srq(srq, &ma, 1 << 5));
	EXPECT_RC(EINVAL, ibv_modify_srq(srq, &ma, -1));
	ma.srq_limit = 5;
	EXPECT_RC(EINVAL, ibv_modify_srq(srq, &ma, IBV_SRQ_LIMIT));
	ma.max_wr = 0;
	EXPECT_RC(EINVAL, ibv_modify_srq(srq, &ma, IBV_SRQ_MAX_WR));
	ma.max_wr = UINT32_MAX;
	EXPECT_RC(EINVAL, ibv_modify_srq(srq, &ma, IBV_SRQ_MAX_WR));
	ma.srq_limit = 3;
	EXPECT_RC(0, ibv_modify_srq(srq, &ma, IBV_SRQ_LIMIT));
	ma.max_wr = 2;
	EXPECT_RC(EINVAL, ibv_modify_srq(srq, &ma, IBV_SRQ_MAX_WR));
	memset(&ma, 0, sizeof(ma));
	EXPECT_RC(0, ibv_query_srq(srq, &ma));
	check(ma.max_wr == 4 && ma.srq_limit == 3,
	      "failed modifies change nothing: max_wr %u, limit %u", ma.max_wr,
	      ma.srq_limit);
	EXPECT_RC(EOPNOTSUPP, ibv_get_srq_num(srq, &num));

	tc_section = "post_srq_recv";
	for (i = 0; i < 6; i++)
		rw[i] = (struct ibv_recv_wr){ .wr_id = i,
					      .sg_list = &s,
					      .num_sge = 1,
					      .next = i < 5 ? &rw[i + 1]
							    : NULL };
	rw[0].num_sge = 3;
	rbad = NULL;
	EXPECT_POST(EINVAL, ibv_post_srq_recv(srq, rw, &rbad), rbad, rw);
	rw[0].num_sge = -1;
	rbad = NULL;
	EXPECT_POST(EINVAL, ibv_post_srq_recv(srq, rw, &rbad), rbad, rw);
	rw[0].num_sge = 1;
	rw[0].sg_list = NULL;
	rbad = NULL;
	EXPECT_POST(EINVAL, ibv_post_srq_recv(srq, rw, &rbad), rbad, rw);
	rw[0].sg_list = &s;
	rbad = NULL;
	EXPECT_POST(ENOMEM, ibv_post_srq_recv(srq, rw, &rbad), rbad, &rw[4]);
	ma.max_wr = 3;
	EXPECT_RC(EINVAL, ibv_modify_srq(srq, &ma, IBV_SRQ_MAX_WR));

	tc_section = "SRQ in use";
	qp = new_qp(IBV_QPT_RC, 4, UINT32_MAX, srq);
	EXPECT_NULL(0, qp,
		    "create_qp(with SRQ, max_recv_wr UINT32_MAX: "
		    "ignored)");
	if (qp) {
		rw[0].next = NULL;
		rbad = NULL;
		EXPECT_POST(EINVAL, ibv_post_recv(qp, rw, &rbad), rbad, rw);
		EXPECT_RC(EBUSY, ibv_destroy_srq(srq));
		EXPECT_RC(EBUSY, ibv_dealloc_pd(pd));
		EXPECT_RC(0, ibv_destroy_qp(qp));
	}
}

void t_srq(void)
{
	struct ibv_srq_init_attr sa;
	struct ibv_srq *srq;

	create_srq_bad();
	memset(&sa, 0, sizeof(sa));
	sa.attr.max_wr = 4;
	sa.attr.max_sge = 2;
	srq = ibv_create_srq(pd, &sa);
	EXPECT_NULL(0, srq, "create_srq(4, 2)");
	if (!srq)
		return;

	create_srq_ex_types();
	srq_modify_post(srq);
	EXPECT_RC(0, ibv_destroy_srq(srq));
}
