// SPDX-License-Identifier: MIT
/* hostile_verbs: the ibv_wr_* API */
#include "hostile.h"

/* ----------------------------------------------------- ibv_wr_* API */

/*
 * ibv_wr_complete posts the whole batch or none of it (it has no bad_wr to
 * say where it stopped): a batch that does not fit in what the send queue
 * has left is ENOMEM, and so is a batch with a bad WR in it -- EINVAL.
 */
static void wr_all_or_none(struct ibv_qp *qp, struct ibv_qp_ex *x,
			   struct ibv_qp *peer)
{
	struct ibv_sge s = sge(0, 8);
	struct ibv_recv_wr rw = { .wr_id = 70, .sg_list = &s, .num_sge = 1 },
			   *rbad;
	struct ibv_send_wr w = { .wr_id = 63,
				 .opcode = IBV_WR_RDMA_WRITE,
				 .send_flags = IBV_SEND_SIGNALED },
			   *bad;
	struct ibv_wc wc[8];
	uint64_t ids[8];
	int n = 0, r, i;
	uint64_t t0 = now_ms();
	bool got63 = false, stray = false;

	/* a SEND with no receive at the peer holds one of the 2 slots */
	ibv_wr_start(x);
	x->wr_id = 60;
	x->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send(x);
	ibv_wr_set_sge(x, mr->lkey, (uintptr_t)buf, 8);
	EXPECT_RC(0, ibv_wr_complete(x));
	ibv_wr_start(x);
	for (i = 61; i <= 62; i++) {
		x->wr_id = i;
		ibv_wr_rdma_write(x, mr->rkey, (uintptr_t)buf + 8192);
		ibv_wr_set_sge(x, mr->lkey, (uintptr_t)buf, 8);
	}
	EXPECT_RC(ENOMEM, ibv_wr_complete(x));
	ibv_wr_start(x);
	x->wr_id = 64;
	ibv_wr_rdma_write(x, mr->rkey, (uintptr_t)buf + 8192);
	ibv_wr_set_sge(x, mr->lkey, (uintptr_t)buf, 8);
	x->wr_id = 65;
	ibv_wr_rdma_write(x, mr->rkey, (uintptr_t)buf + 8192);
	ibv_wr_set_sge(x, mr->lkey, (uintptr_t)buf, UINT32_MAX);
	EXPECT_RC(EINVAL, ibv_wr_complete(x));
	x->wr_flags = 0;
	/* let the SEND through, then a marker WRITE: anything of the
	 * refused batches would complete between the two, in order */
	r = ibv_post_recv(peer, &rw, &rbad);
	check(!r, "post the peer's receive: %s", en(r));
	while (!got63 && now_ms() - t0 < DEADLINE_MS && n < 8) {
		r = ibv_poll_cq(cq, 1, &wc[0]);
		if (r <= 0) {
			usleep(200);
			continue;
		}
		ids[n++] = wc[0].wr_id;
		if (wc[0].wr_id == 60) {
			bad = NULL;
			if (ibv_post_send(qp, &w, &bad))
				break;
		}
		got63 |= wc[0].wr_id == 63;
		stray |= wc[0].wr_id >= 61 && wc[0].wr_id <= 65 &&
			 wc[0].wr_id != 63;
	}
	check(got63 && !stray && n == 3,
	      "nothing of the refused batches was posted (%d completions: "
	      "%s%" PRIu64 " %s%" PRIu64 " ...)",
	      n, n > 0 ? "" : "-", n > 0 ? ids[0] : 0, n > 1 ? "" : "-",
	      n > 1 ? ids[1] : 0);
}

/* Batches over the queue, over the SGE and inline limits, without buffers. */
static void wr_bad_batches(struct ibv_qp_ex *x)
{
	struct ibv_sge sl[40];
	struct ibv_data_buf db[2];
	char data[64] = "x";
	int i;

	for (i = 0; i < 40; i++)
		sl[i] = sge(i * 8, 8);

	ibv_wr_start(x);
	for (i = 0; i < 3; i++) {
		x->wr_id = i;
		ibv_wr_rdma_write(x, mr->rkey, (uintptr_t)buf + 8192);
		ibv_wr_set_sge(x, mr->lkey, (uintptr_t)buf, 8);
	}
	EXPECT_RC(ENOMEM, ibv_wr_complete(x));
	drain();

	ibv_wr_start(x);
	ibv_wr_rdma_write(x, mr->rkey, (uintptr_t)buf + 8192);
	ibv_wr_set_sge_list(x, 40, sl);
	EXPECT_RC(EINVAL, ibv_wr_complete(x));

	ibv_wr_start(x);
	ibv_wr_rdma_write(x, mr->rkey, (uintptr_t)buf + 8192);
	ibv_wr_set_sge_list(x, 3, sl);
	EXPECT_RC(EINVAL, ibv_wr_complete(x));

	ibv_wr_start(x);
	ibv_wr_send(x);
	ibv_wr_set_inline_data(x, data, 33);
	EXPECT_RC(EINVAL, ibv_wr_complete(x));

	ibv_wr_start(x);
	ibv_wr_send(x);
	db[0] = (struct ibv_data_buf){ .addr = data, .length = SIZE_MAX };
	db[1] = (struct ibv_data_buf){ .addr = data, .length = 2 };
	ibv_wr_set_inline_data_list(x, 2, db);
	EXPECT_RC(EINVAL, ibv_wr_complete(x));

	ibv_wr_start(x);
	ibv_wr_send(x);
	ibv_wr_set_sge_list(x, 1, NULL);
	EXPECT_RC(EINVAL, ibv_wr_complete(x));

	ibv_wr_start(x);
	ibv_wr_send(x);
	ibv_wr_set_inline_data_list(x, 2, NULL);
	EXPECT_RC(EINVAL, ibv_wr_complete(x));

	ibv_wr_start(x);
	ibv_wr_send(x);
	ibv_wr_set_inline_data(x, NULL, 8);
	EXPECT_RC(EINVAL, ibv_wr_complete(x));

	ibv_wr_start(x);
	ibv_wr_send(x);
	ibv_wr_set_sge(x, mr->lkey, (uintptr_t)buf, UINT32_MAX);
	EXPECT_RC(EINVAL, ibv_wr_complete(x));
}

/* An empty inline WR may name no buffer. */
static void wr_empty_inline(struct ibv_qp_ex *x)
{
	ibv_wr_start(x);
	x->wr_id = 50;
	x->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_rdma_write(x, mr->rkey, (uintptr_t)buf + 8192);
	ibv_wr_set_inline_data(x, NULL, 0);
	EXPECT_RC(0, ibv_wr_complete(x));
	x->wr_flags = 0;
	{
		struct ibv_wc wc;
		int n = poll_n(&wc, 1);

		check(n == 1 && wc.wr_id == 50 && wc.status == IBV_WC_SUCCESS,
		      "the empty inline WRITE completes: %s",
		      n ? ibv_wc_status_str(wc.status) : "no completion");
	}
}

void t_wr_api(void)
{
	struct ibv_qp_init_attr_ex ix = {
		.send_cq = cq,
		.recv_cq = cq,
		.cap = { .max_send_wr = 2,
			 .max_recv_wr = 2,
			 .max_send_sge = 2,
			 .max_recv_sge = 1,
			 .max_inline_data = 32 },
		.qp_type = IBV_QPT_RC,
		.comp_mask =
			IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.pd = pd,
		.send_ops_flags =
			IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_RDMA_WRITE,
	};
	struct ibv_qp *qp, *peer;
	struct ibv_qp_ex *x;

	tc_section = "wr_* API";
	qp = ibv_create_qp_ex(ctx, &ix);
	peer = new_qp(IBV_QPT_RC, 2, 2, NULL);
	x = qp ? ibv_qp_to_qp_ex(qp) : NULL;
	if (!x || !peer || to_rts(qp, peer->qp_num) ||
	    to_rts(peer, qp->qp_num)) {
		check(false, "create an ibv_qp_ex pair: %s", strerror(errno));
		goto out;
	}
	wr_bad_batches(x);
	wr_empty_inline(x);
	wr_all_or_none(qp, x, peer);

	ibv_wr_start(x);
	ibv_wr_send(x);
	ibv_wr_set_sge(x, mr->lkey, (uintptr_t)buf, 8);
	ibv_wr_abort(x);
	check(ibv_poll_cq(cq, 1, (struct ibv_wc[1]){ 0 }) == 0,
	      "an aborted batch posts nothing");
	check(qstate(qp) == IBV_QPS_RTS, "the QP is still in RTS");
out:
	if (qp)
		ibv_destroy_qp(qp);
	if (peer)
		ibv_destroy_qp(peer);
	drain();
}
