// SPDX-License-Identifier: MIT
/* hostile_verbs: AHs, objects in use, corrupted handles, close with objects alive */
#include "hostile.h"
#include "tdev.h"

/*
 * ibv_close_device with objects alive, as a process that exits without
 * cleaning up: its QPs go as the kernel would destroy them, so their
 * peers' work fails instead of waiting forever on a connection nobody
 * serves. (The other objects stay in globals: their memory is the
 * provider's, and reachable.)
 */
/* not static: stores to them must stay for LeakSanitizer to see */
struct ibv_pd *left_pd;
struct ibv_cq *left_cq;
struct ibv_qp *left_qp;
struct ibv_mr *left_mr;
static char left_buf[64];

void t_close_live(void)
{
	struct ibv_context *c3 = open_dev(ibv_get_device_name(ctx->device));
	struct ibv_qp_init_attr ia = { .cap = { .max_send_wr = 4,
						.max_recv_wr = 4,
						.max_send_sge = 1,
						.max_recv_sge = 1 },
				       .qp_type = IBV_QPT_RC };
	struct ibv_qp *qp = new_qp(IBV_QPT_RC, 4, 4, NULL);
	struct ibv_sge s = sge(0, 8);
	struct ibv_send_wr w = { .wr_id = 9,
				 .sg_list = &s,
				 .num_sge = 1,
				 .opcode = IBV_WR_SEND,
				 .send_flags = IBV_SEND_SIGNALED },
			   *bad = NULL;
	struct ibv_wc wc;
	int n;

	tc_section = "close_device with a live QP";
	left_pd = c3 ? ibv_alloc_pd(c3) : NULL;
	left_cq = c3 ? ibv_create_cq(c3, 4, NULL, NULL, 0) : NULL;
	ia.send_cq = ia.recv_cq = left_cq;
	left_qp = left_pd && left_cq ? ibv_create_qp(left_pd, &ia) : NULL;
	if (!qp || !left_qp || to_rts(qp, left_qp->qp_num) ||
	    to_rts(left_qp, qp->qp_num)) {
		check(false, "set up a pair across two contexts: %s",
		      strerror(errno));
		return;
	}
	{
		/* one SEND across first: the connection is up */
		struct ibv_sge ls = { .addr = (uintptr_t)left_buf,
				      .length = sizeof(left_buf) };
		struct ibv_recv_wr rw = { .wr_id = 1,
					  .sg_list = &ls,
					  .num_sge = 1 },
				   *rbad;
		uint64_t t0 = now_ms();
		int got = 0;

		left_mr = ibv_reg_mr(left_pd, left_buf, sizeof(left_buf),
				     IBV_ACCESS_LOCAL_WRITE);
		ls.lkey = left_mr ? left_mr->lkey : 0;
		n = ibv_post_recv(left_qp, &rw, &rbad);
		n = n ? n : ibv_post_send(qp, &w, &bad);
		while (!n && got < 2 && now_ms() - t0 < DEADLINE_MS) {
			got += ibv_poll_cq(cq, 1, &wc) > 0 &&
			       wc.status == IBV_WC_SUCCESS;
			got += ibv_poll_cq(left_cq, 1, &wc) > 0 &&
			       wc.status == IBV_WC_SUCCESS;
		}
		check(got == 2, "a SEND across the pair completes first (%d)",
		      got);
	}
	EXPECT_RC(0, ibv_close_device(c3));
	/* no receive on the other side, rnr_retry 7: only the loss of the
	 * peer can end this SEND */
	EXPECT_POST(0, ibv_post_send(qp, &w, &bad), bad, NULL);
	n = poll_n(&wc, 1);
	check(n == 1 && wc.wr_id == 9 && wc.status != IBV_WC_SUCCESS &&
		      qstate(qp) == IBV_QPS_ERR,
	      "the peer's SEND fails (%s), its QP is in ERR (%d)",
	      n ? ibv_wc_status_str(wc.status) : "no completion", qstate(qp));
	ibv_destroy_qp(qp);
	drain();
}

/* ------------------------------------------- corrupted object handles */

/*
 * The application overwrote an object's handle, or its context pointer
 * with another open context of the device: the kernel finds no such
 * object in the file's table (ENOENT for a destroy, EINVAL for a modify);
 * so must the provider, and the object must survive intact. (A context
 * pointer to garbage is dereferenced by libibverbs itself, before any
 * provider, on every device.)
 */
#define CORRUPTED(field, bad, want, call)          \
	do {                                       \
		__typeof__(field) keep_ = (field); \
		(field) = (bad);                   \
		EXPECT_RC(want, call);             \
		(field) = keep_;                   \
	} while (0)

void t_corrupt_handles(void)
{
	struct ibv_ah_attr aa = { .is_global = 1, .port_num = 1 };
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = 4, .max_sge = 1 } };
	struct ibv_qp_attr qa = { .qp_state = IBV_QPS_ERR };
	struct ibv_pd *p = ibv_alloc_pd(ctx);
	struct ibv_cq *c = ibv_create_cq(ctx, 4, NULL, NULL, 0);
	struct ibv_mr *m =
		p ? ibv_reg_mr(p, buf, 64, IBV_ACCESS_LOCAL_WRITE) : NULL;
	struct ibv_srq *q = p ? ibv_create_srq(p, &sa) : NULL;
	struct ibv_qp *qp = new_qp(IBV_QPT_RC, 2, 2, NULL);
	struct ibv_ah *ah;

	tc_section = "corrupted handles";
	aa.grh.dgid = gid0;
	ah = p ? ibv_create_ah(p, &aa) : NULL;
	if (!p || !c || !m || !q || !qp || !ah) {
		check(false, "set up objects: %s", strerror(errno));
		return;
	}
	CORRUPTED(p->handle, p->handle ^ 0x5a5a, ENOENT, ibv_dealloc_pd(p));
	CORRUPTED(p->context, ctx2, ENOENT, ibv_dealloc_pd(p));
	CORRUPTED(c->handle, c->handle + 1, ENOENT, ibv_destroy_cq(c));
	CORRUPTED(c->context, ctx2, ENOENT, ibv_destroy_cq(c));
	CORRUPTED(m->handle, m->handle ^ 0x100, ENOENT, ibv_dereg_mr(m));
	CORRUPTED(m->context, ctx2, ENOENT, ibv_dereg_mr(m));
	CORRUPTED(q->handle, 0, ENOENT, ibv_destroy_srq(q));
	CORRUPTED(q->context, ctx2, ENOENT, ibv_destroy_srq(q));
	CORRUPTED(ah->handle, ~ah->handle, ENOENT, ibv_destroy_ah(ah));
	CORRUPTED(ah->context, ctx2, ENOENT, ibv_destroy_ah(ah));
	CORRUPTED(qp->handle, qp->handle + 7, EINVAL,
		  ibv_modify_qp(qp, &qa, IBV_QP_STATE));
	CORRUPTED(qp->context, ctx2, EINVAL,
		  ibv_modify_qp(qp, &qa, IBV_QP_STATE));
	check(qstate(qp) == IBV_QPS_RESET,
	      "the refused modify left the QP in RESET (%d)", qstate(qp));
	CORRUPTED(qp->handle, 0, ENOENT, ibv_destroy_qp(qp));
	CORRUPTED(qp->context, ctx2, ENOENT, ibv_destroy_qp(qp));
	/* restored, each goes as usual */
	EXPECT_RC(0, ibv_destroy_qp(qp));
	EXPECT_RC(0, ibv_destroy_ah(ah));
	EXPECT_RC(0, ibv_destroy_srq(q));
	EXPECT_RC(0, ibv_dereg_mr(m));
	EXPECT_RC(0, ibv_destroy_cq(c));
	EXPECT_RC(0, ibv_dealloc_pd(p));
}

/* ------------------------------------------------ AH, in-use objects */

void t_ah_and_busy(void)
{
	struct ibv_ah_attr aa = { .is_global = 1, .port_num = 1 };
	struct ibv_ah *ah;
	struct ibv_pd *p;
	struct ibv_cq *c;
	struct ibv_mr *m;
	struct ibv_qp_init_attr ia = { .qp_type = IBV_QPT_RC };
	struct ibv_qp *qp;

	tc_section = "create_ah";
	aa.grh.dgid = gid0;
	aa.port_num = 0;
	ah = ibv_create_ah(pd, &aa);
	EXPECT_NULL(EINVAL, ah, "create_ah(port 0)");
	aa.port_num = 2;
	ah = ibv_create_ah(pd, &aa);
	EXPECT_NULL(EINVAL, ah, "create_ah(port 2)");
	aa.port_num = 1;
	aa.is_global = 0;
	ah = ibv_create_ah(pd, &aa);
	EXPECT_NULL(EINVAL, ah, "create_ah(no GRH on RoCE)");
	aa.is_global = 1;
	aa.grh.sgid_index = 200;
	ah = ibv_create_ah(pd, &aa);
	EXPECT_NULL(EINVAL, ah, "create_ah(sgid_index 200)");
	aa.grh.sgid_index = 0;

	tc_section = "in use";
	p = ibv_alloc_pd(ctx);
	c = ibv_create_cq(ctx, 4, NULL, NULL, 0);
	if (!p || !c) {
		check(false, "alloc pd/cq: %s", strerror(errno));
		return;
	}
	ah = ibv_create_ah(p, &aa);
	EXPECT_NULL(0, ah, "create_ah(GID 0)");
	if (ah) {
		EXPECT_RC(EBUSY, ibv_dealloc_pd(p));
		EXPECT_RC(0, ibv_destroy_ah(ah));
	}
	m = ibv_reg_mr(p, buf, 64, 0);
	if (m) {
		EXPECT_RC(EBUSY, ibv_dealloc_pd(p));
		EXPECT_RC(0, ibv_dereg_mr(m));
	}
	ia.send_cq = cq;
	ia.recv_cq = c;
	qp = ibv_create_qp(p, &ia);
	if (qp) {
		EXPECT_RC(EBUSY, ibv_dealloc_pd(p));
		EXPECT_RC(EBUSY, ibv_destroy_cq(c));
		EXPECT_RC(0, ibv_destroy_qp(qp));
	}
	EXPECT_RC(0, ibv_destroy_cq(c));
	EXPECT_RC(0, ibv_dealloc_pd(p));
}
