// SPDX-License-Identifier: MIT
/* hostile_verbs: long chains, ERR state, UC, a missing peer */
#include "hostile.h"

/* A chain longer than the queue: the first max_send_wr go and complete. */
void t_post_chain(void)
{
	enum { SQ = 4, N = 10 };
	struct pair p;
	struct ibv_sge s = sge(0, 8);
	struct ibv_send_wr w[N], *bad = NULL;
	struct ibv_recv_wr rw[N], *rbad = NULL;
	struct ibv_wc wc[2 * N];
	int i, r, n, sends = 0, recvs = 0;
	bool order = true;

	tc_section = "chains";
	if (!pair_up(&p, IBV_QPT_RC, SQ, SQ))
		return;
	for (i = 0; i < N; i++) {
		rw[i] = (struct ibv_recv_wr){ .wr_id = 100 + i,
					      .sg_list = &s,
					      .num_sge = 1,
					      .next = i + 1 < N ? &rw[i + 1]
								: NULL };
		w[i] = (struct ibv_send_wr){ .wr_id = i,
					     .sg_list = &s,
					     .num_sge = 1,
					     .opcode = IBV_WR_SEND,
					     .send_flags = IBV_SEND_SIGNALED,
					     .next = i + 1 < N ? &w[i + 1]
							       : NULL };
	}
	r = ibv_post_recv(p.b, rw, &rbad);
	check(r == ENOMEM && rbad == &rw[SQ],
	      "post_recv(chain of %d, max_recv_wr %d) -> %s, bad_wr at %ld "
	      "(want %d)",
	      N, SQ, en(r), rbad ? (long)(rbad - rw) : -1L, SQ);
	r = ibv_post_send(p.a, w, &bad);
	check(r == ENOMEM && bad == &w[SQ],
	      "post_send(chain of %d, max_send_wr %d) -> %s, bad_wr at %ld "
	      "(want %d)",
	      N, SQ, en(r), bad ? (long)(bad - w) : -1L, SQ);
	n = poll_n(wc, 2 * SQ);
	for (i = 0; i < n; i++) {
		if (wc[i].status != IBV_WC_SUCCESS)
			order = false;
		else if (wc[i].opcode == IBV_WC_SEND)
			order &= wc[i].wr_id == (uint64_t)sends++;
		else
			order &= wc[i].wr_id == (uint64_t)(100 + recvs++);
	}
	check(sends == SQ && recvs == SQ && order,
	      "the %d posted SENDs and %d RECVs complete in order (%d and %d)",
	      SQ, SQ, sends, recvs);
	check(ibv_poll_cq(cq, 2 * N, wc) == 0, "and nothing else completes");

	/* a bad WR in the middle: the ones before it go, it and after not */
	w[2].num_sge = 9;
	for (i = 0; i < SQ; i++)
		rw[i].next = i + 1 < SQ ? &rw[i + 1] : NULL;
	rbad = NULL;
	r = ibv_post_recv(p.b, rw, &rbad);
	check(!r, "repost %d receives: %s", SQ, en(r));
	bad = NULL;
	r = ibv_post_send(p.a, w, &bad);
	check(r == EINVAL && bad == &w[2],
	      "post_send(chain, 3rd WR num_sge 9) -> %s, bad_wr at %ld "
	      "(want 2)",
	      en(r), bad ? (long)(bad - w) : -1L);
	n = poll_n(wc, 4);
	sends = recvs = 0;
	for (i = 0; i < n; i++)
		if (wc[i].status == IBV_WC_SUCCESS)
			*(wc[i].opcode == IBV_WC_SEND ? &sends : &recvs) += 1;
	check(sends == 2 && recvs == 2, "the 2 WRs before it complete (%d, %d)",
	      sends, recvs);
	pair_down(&p);
	drain();
}

/* A QP in ERR flushes what is posted, but still refuses garbage. */
void t_post_err_state(void)
{
	struct ibv_qp *qp = new_qp(IBV_QPT_RC, 4, 4, NULL);
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };
	struct ibv_sge s = sge(0, 8);
	struct ibv_send_wr w = { .wr_id = 11,
				 .sg_list = &s,
				 .num_sge = 1,
				 .opcode = IBV_WR_SEND },
			   *bad = NULL;
	struct ibv_recv_wr rw = { .wr_id = 12, .sg_list = &s, .num_sge = 1 },
			   *rbad = NULL;
	struct ibv_wc wc[4];
	int n;

	tc_section = "post in ERR";
	if (!qp || to_init(qp) || ibv_modify_qp(qp, &a, IBV_QP_STATE)) {
		check(false, "QP to ERR: %s", strerror(errno));
		return;
	}
	drain();
	EXPECT_POST(0, ibv_post_send(qp, &w, &bad), bad, NULL);
	EXPECT_POST(0, ibv_post_recv(qp, &rw, &rbad), rbad, NULL);
	n = poll_n(wc, 2);
	check(n == 2 && wc[0].status == IBV_WC_WR_FLUSH_ERR &&
		      wc[1].status == IBV_WC_WR_FLUSH_ERR,
	      "both flushed (%d completions)", n);
	w.num_sge = 50;
	EXPECT_POST(EINVAL, ibv_post_send(qp, &w, &bad), bad, &w);
	w.num_sge = 1;
	w.sg_list = NULL;
	EXPECT_POST(EINVAL, ibv_post_send(qp, &w, &bad), bad, &w);
	w.sg_list = &s;
	w.opcode = (enum ibv_wr_opcode)77;
	EXPECT_POST(EINVAL, ibv_post_send(qp, &w, &bad), bad, &w);
	rw.num_sge = 50;
	EXPECT_POST(EINVAL, ibv_post_recv(qp, &rw, &rbad), rbad, &rw);
	rw.num_sge = 1;
	rw.sg_list = NULL;
	EXPECT_POST(EINVAL, ibv_post_recv(qp, &rw, &rbad), rbad, &rw);
	check(ibv_poll_cq(cq, 4, wc) == 0, "refused WRs are not flushed");
	ibv_destroy_qp(qp);
	drain();
}

void t_uc(void)
{
	struct ibv_qp_attr a;
	int mask;
	struct pair p;
	struct ibv_sge s = sge(0, 8);
	struct ibv_send_wr w = { .wr_id = 1, .sg_list = &s, .num_sge = 1 };

	tc_section = "UC";
	p.a = new_qp(IBV_QPT_UC, 4, 4, NULL);
	if (p.a && !to_init(p.a)) {
		rtr_attr(&a, 1, &mask);
		bad_modify(p.a, &a, mask, "UC INIT->RTR with RC-only bits");
		rts_attr(&a, &mask);
		a.qp_state = IBV_QPS_RTR;
		bad_modify(p.a, &a, IBV_QP_STATE | IBV_QP_TIMEOUT,
			   "UC INIT->RTR with TIMEOUT");
	}
	if (p.a)
		ibv_destroy_qp(p.a);
	if (!pair_up(&p, IBV_QPT_UC, 4, 4))
		return;
	rts_attr(&a, &mask);
	bad_modify(p.a, &a, IBV_QP_STATE | IBV_QP_RNR_RETRY,
		   "UC RTS->RTS with RNR_RETRY");
	w.wr.rdma.rkey = mr->rkey;
	w.wr.rdma.remote_addr = (uintptr_t)buf;
	w.opcode = IBV_WR_RDMA_READ;
	bad_send(&p, &w, EINVAL, "UC RDMA_READ");
	w.opcode = IBV_WR_ATOMIC_CMP_AND_SWP;
	bad_send(&p, &w, EINVAL, "UC CMP_AND_SWP");
	pair_down(&p);
	drain();
}

/* A dest_qp_num nobody owns: the work fails, nothing hangs or crashes. */
void t_no_peer(void)
{
	struct ibv_qp *qp = new_qp(IBV_QPT_RC, 4, 4, NULL);
	struct ibv_sge s = sge(0, 8);
	struct ibv_send_wr w = { .wr_id = 8,
				 .sg_list = &s,
				 .num_sge = 1,
				 .opcode = IBV_WR_RDMA_WRITE,
				 .send_flags = IBV_SEND_SIGNALED },
			   *bad = NULL;
	struct ibv_wc wc;
	int r, n;

	tc_section = "dest_qp_num of nobody";
	if (!qp)
		return;
	w.wr.rdma.rkey = mr->rkey;
	w.wr.rdma.remote_addr = (uintptr_t)buf;
	r = to_rts(qp, 0xffffff);
	check(!r, "to RTS with dest_qp_num 0xffffff: %s", en(r));
	if (!r) {
		EXPECT_POST(0, ibv_post_send(qp, &w, &bad), bad, NULL);
		n = poll_n(&wc, 1);
		check(n == 1 && wc.wr_id == 8 && wc.status != IBV_WC_SUCCESS &&
			      qstate(qp) == IBV_QPS_ERR,
		      "the WRITE fails (%s), the QP is in ERR (%d)",
		      n ? ibv_wc_status_str(wc.status) : "no completion",
		      qstate(qp));
	}
	EXPECT_RC(0, ibv_destroy_qp(qp));
	drain();
}
