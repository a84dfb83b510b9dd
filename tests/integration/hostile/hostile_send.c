// SPDX-License-Identifier: MIT
/* hostile_verbs: post_send: states, arguments, local failures */
#include "hostile.h"

/* -------------------------------------------------------- post_send */

void t_post_send_states(void)
{
	struct ibv_qp *qp = new_qp(IBV_QPT_RC, 4, 4, NULL);
	struct ibv_sge s = sge(0, 8);
	struct ibv_send_wr w = { .wr_id = 1, .sg_list = &s, .num_sge = 1 };
	struct ibv_send_wr *bad = NULL;
	struct ibv_recv_wr rw = { .wr_id = 2, .sg_list = &s, .num_sge = 1 };
	struct ibv_recv_wr *rbad = NULL;
	struct ibv_qp_attr a;
	int mask;

	tc_section = "post in early states";
	if (!qp)
		return;
	w.opcode = IBV_WR_SEND;
	EXPECT_POST(EINVAL, ibv_post_send(qp, &w, &bad), bad, &w);
	EXPECT_POST(EINVAL, ibv_post_recv(qp, &rw, &rbad), rbad, &rw);
	to_init(qp);
	bad = NULL;
	EXPECT_POST(EINVAL, ibv_post_send(qp, &w, &bad), bad, &w);
	rbad = NULL;
	EXPECT_POST(0, ibv_post_recv(qp, &rw, &rbad), rbad, NULL);
	rtr_attr(&a, 1, &mask);
	if (!ibv_modify_qp(qp, &a, mask)) {
		bad = NULL;
		EXPECT_POST(EINVAL, ibv_post_send(qp, &w, &bad), bad, &w);
	}
	ibv_destroy_qp(qp);
	drain();
}

/* One bad WR on a live pair: refused with bad_wr at it; the QP lives on. */
void bad_send(struct pair *p, struct ibv_send_wr *w, int want, const char *what)
{
	struct ibv_send_wr *bad = NULL;
	int r = ibv_post_send(p->a, w, &bad);

	check(r == want && bad == w && qstate(p->a) == IBV_QPS_RTS,
	      "post_send(%s) -> %s (want %s), bad_wr %s, state %d", what, en(r),
	      en(want), bad == w ? "right" : "WRONG", qstate(p->a));
}

/* SGE counts, lists, lengths and opcodes the send queue refuses. */
static void bad_sges_opcodes(struct pair *p, struct ibv_send_wr *w,
			     struct ibv_sge *s)
{
	w->num_sge = 3;
	bad_send(p, w, EINVAL, "num_sge 3 > max_send_sge 2");
	w->num_sge = 40;
	bad_send(p, w, EINVAL, "num_sge 40");
	w->num_sge = -1;
	bad_send(p, w, EINVAL, "num_sge -1");
	w->num_sge = INT_MIN;
	bad_send(p, w, EINVAL, "num_sge INT_MIN");
	w->num_sge = 1;
	w->sg_list = NULL;
	bad_send(p, w, EINVAL, "sg_list NULL, num_sge 1");
	w->sg_list = s;
	s[0].length = UINT32_MAX;
	bad_send(p, w, EINVAL, "length 2^32-1");
	s[0].length = 1u << 31;
	s[1].length = 1u << 31;
	w->num_sge = 2;
	bad_send(p, w, EINVAL, "two SGEs of 2^31");
	s[0] = sge(0, 8);
	s[1] = sge(8, 8);
	w->num_sge = 1;
	w->opcode = (enum ibv_wr_opcode)100;
	bad_send(p, w, EINVAL, "opcode 100");
	w->opcode = (enum ibv_wr_opcode) - 1;
	bad_send(p, w, EINVAL, "opcode -1");
	/* LOCAL_INV and SEND_WITH_INV are valid (memory windows): a bad key
	 * fails at completion, as on rxe (tests/pyverbs/test_mw.py) */
	w->opcode = IBV_WR_BIND_MW; /* bind_mw.mw NULL */
	bad_send(p, w, EINVAL, "opcode BIND_MW without a window");
	w->opcode = IBV_WR_TSO;
	bad_send(p, w, EINVAL, "opcode TSO");
	w->opcode = IBV_WR_DRIVER1;
	bad_send(p, w, EINVAL, "opcode DRIVER1");
	/* ATOMIC_WRITE is valid with exactly one 8-byte SGE (RC) */
	w->opcode = IBV_WR_ATOMIC_WRITE;
	s[0].length = 16;
	bad_send(p, w, EINVAL, "ATOMIC_WRITE with 16 bytes");
	s[0].length = 8;
	w->num_sge = 0;
	bad_send(p, w, EINVAL, "ATOMIC_WRITE without an SGE");
	w->num_sge = 1;
}

/* Send flags, inline sizes and atomics the send queue refuses. */
static void bad_flags_inline_atomics(struct pair *p, struct ibv_send_wr *w,
				     struct ibv_sge *s, char *big)
{
	w->opcode = IBV_WR_RDMA_WRITE;
	w->send_flags = IBV_SEND_SIGNALED | (1u << 20);
	bad_send(p, w, EINVAL, "send_flags 1<<20");
	w->send_flags = IBV_SEND_SIGNALED | IBV_SEND_IP_CSUM;
	bad_send(p, w, EINVAL, "send_flags IP_CSUM");
	w->send_flags = -1;
	bad_send(p, w, EINVAL, "send_flags -1");
	w->send_flags = IBV_SEND_SIGNALED | IBV_SEND_INLINE;
	s[0] = (struct ibv_sge){ .addr = (uintptr_t)big, .length = 65 };
	bad_send(p, w, EINVAL, "inline 65 > max_inline_data 64");
	s[0].length = 40;
	s[1] = (struct ibv_sge){ .addr = (uintptr_t)big, .length = 40 };
	w->num_sge = 2;
	bad_send(p, w, EINVAL, "inline 2 x 40 > max_inline_data 64");
	w->num_sge = 1;
	w->opcode = IBV_WR_RDMA_READ;
	bad_send(p, w, EINVAL, "inline RDMA_READ");
	w->opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
	s[0] = sge(0, 8);
	bad_send(p, w, EINVAL, "inline atomic");
	w->send_flags = IBV_SEND_SIGNALED;
	w->wr.atomic.rkey = mr->rkey;
	w->wr.atomic.remote_addr = (uintptr_t)buf + 4096;
	s[0].length = 4;
	bad_send(p, w, EINVAL, "atomic of 4 bytes");
	s[0].length = 8;
	w->num_sge = 0;
	bad_send(p, w, EINVAL, "atomic without SGE");
	w->num_sge = 1;
}

/* Zero-length WRs are legal, whatever the lkey. */
static void zero_length_wrs(struct pair p)
{
	struct ibv_send_wr w, *bad;
	struct ibv_sge s[1];
	struct ibv_wc wc[4];
	int i;

	memset(&w, 0, sizeof(w));
	w.wr_id = 100;
	w.opcode = IBV_WR_RDMA_WRITE;
	w.send_flags = IBV_SEND_SIGNALED;
	w.wr.rdma.rkey = mr->rkey;
	w.wr.rdma.remote_addr = (uintptr_t)buf;
	bad = NULL;
	EXPECT_POST(0, ibv_post_send(p.a, &w, &bad), bad, NULL);
	i = poll_n(wc, 1);
	i += ibv_poll_cq(cq, 1, wc + 1);
	check(i == 1 && wc[0].status == IBV_WC_SUCCESS,
	      "zero-length WRITE (num_sge 0) completes: %s",
	      i ? ibv_wc_status_str(wc[0].status) : "no completion");

	/* a zero-length SGE needs no valid key (rxe), inline or not */
	s[0] = (struct ibv_sge){ .addr = 0, .length = 0, .lkey = 0xdeadbeef };
	w.sg_list = s;
	w.num_sge = 1;
	w.wr_id = 101;
	bad = NULL;
	EXPECT_POST(0, ibv_post_send(p.a, &w, &bad), bad, NULL);
	w.wr_id = 102;
	w.send_flags |= IBV_SEND_INLINE;
	EXPECT_POST(0, ibv_post_send(p.a, &w, &bad), bad, NULL);
	i = poll_n(wc, 2);
	check(i == 2 && wc[0].status == IBV_WC_SUCCESS &&
		      wc[1].status == IBV_WC_SUCCESS,
	      "zero-length SGE, address 0, garbage lkey, plain and inline: "
	      "%d completions, %s, %s",
	      i, i > 0 ? ibv_wc_status_str(wc[0].status) : "-",
	      i > 1 ? ibv_wc_status_str(wc[1].status) : "-");
}

void t_post_send_args(void)
{
	struct pair p;
	struct ibv_sge s[40];
	struct ibv_send_wr w, *bad;
	struct ibv_wc wc[4];
	int i;
	char big[256];

	tc_section = "post_send args";
	if (!pair_up(&p, IBV_QPT_RC, 8, 8))
		return;
	for (i = 0; i < 40; i++)
		s[i] = sge(i * 8, 8);
	memset(big, 'x', sizeof(big));
	memset(&w, 0, sizeof(w));
	w.wr_id = 7;
	w.sg_list = s;
	w.opcode = IBV_WR_RDMA_WRITE;
	w.wr.rdma.rkey = mr->rkey;
	w.wr.rdma.remote_addr = (uintptr_t)buf + 4096;
	w.send_flags = IBV_SEND_SIGNALED;

	bad_sges_opcodes(&p, &w, s);
	bad_flags_inline_atomics(&p, &w, s, big);

	/*
	 * (An atomic at a misaligned remote address is posted, and fails at
	 * the responder as on hardware: tests/pyverbs test_data.py.)
	 * Nothing of the above was queued: the QP still works.
	 */
	w.wr_id = 99;
	bad = NULL;
	EXPECT_POST(0, ibv_post_send(p.a, &w, &bad), bad, NULL);
	i = poll_n(wc, 1);
	i += ibv_poll_cq(cq, 1, wc + 1); /* nothing more */
	check(i == 1 && wc[0].wr_id == 99 && wc[0].status == IBV_WC_SUCCESS,
	      "after the refused WRs a good one completes (%d wc, id %" PRIu64
	      ", %s)",
	      i, i ? wc[0].wr_id : 0,
	      i ? ibv_wc_status_str(wc[0].status) : "-");

	zero_length_wrs(p);
	pair_down(&p);
	drain();
}

/*
 * max_inline_data 0 with 2 send SGEs: the capacity is the SGE area (32
 * bytes, as rxe_init_sq reports it); an empty inline WR is legal.
 */
void t_inline_zero(void)
{
	struct pair p;
	struct ibv_sge s = { .addr = 0, .length = 0, .lkey = 0 };
	struct ibv_send_wr w = { .wr_id = 1,
				 .sg_list = &s,
				 .num_sge = 1,
				 .opcode = IBV_WR_RDMA_WRITE,
				 .send_flags =
					 IBV_SEND_SIGNALED | IBV_SEND_INLINE },
			   *bad = NULL;
	struct ibv_wc wc[2];
	int n;

	tc_section = "inline, max_inline_data 0";
	qp_inline = 0;
	if (!pair_up(&p, IBV_QPT_RC, 4, 4)) {
		qp_inline = 64;
		return;
	}
	qp_inline = 64;
	w.wr.rdma.rkey = mr->rkey;
	w.wr.rdma.remote_addr = (uintptr_t)buf;
	EXPECT_POST(0, ibv_post_send(p.a, &w, &bad), bad, NULL);
	s.length = 33;
	s.addr = (uintptr_t)buf;
	bad_send(&p, &w, EINVAL, "inline 33 bytes > the SGE area 32");
	s.length = 32;
	EXPECT_POST(0, ibv_post_send(p.a, &w, &bad), bad, NULL);
	n = poll_n(wc, 2);
	check(n == 2 && wc[0].status == IBV_WC_SUCCESS &&
		      wc[1].status == IBV_WC_SUCCESS,
	      "the empty and the 32-byte inline WRITEs complete: %s",
	      n ? ibv_wc_status_str(wc[n - 1].status) : "no completion");
	pair_down(&p);
	drain();
}

/* A WR the provider takes but cannot carry out: error completion, QP ERR. */
static void failing_op(enum ibv_wr_opcode op, struct ibv_sge s,
		       enum ibv_wc_status want, const char *what)
{
	struct pair p;
	struct ibv_send_wr w = { .wr_id = 5,
				 .sg_list = &s,
				 .num_sge = 1,
				 .opcode = op,
				 .send_flags = IBV_SEND_SIGNALED },
			   *bad = NULL;
	struct ibv_wc wc[2];
	int r, n;

	if (!pair_up(&p, IBV_QPT_RC, 4, 4))
		return;
	if (op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		w.wr.atomic.rkey = mr->rkey;
		w.wr.atomic.remote_addr = (uintptr_t)buf + 4096;
	} else {
		w.wr.rdma.rkey = mr->rkey;
		w.wr.rdma.remote_addr = (uintptr_t)buf + 4096;
	}
	r = ibv_post_send(p.a, &w, &bad);
	n = r ? 0 : poll_n(wc, 1);
	check(!r && n == 1 && wc[0].wr_id == 5 && wc[0].status == want &&
		      qstate(p.a) == (want == IBV_WC_SUCCESS ? IBV_QPS_RTS
							     : IBV_QPS_ERR),
	      "%s: post %s, completion %s (want %s), state %d", what, en(r),
	      n ? ibv_wc_status_str(wc[0].status) : "none",
	      ibv_wc_status_str(want), qstate(p.a));
	pair_down(&p);
	drain();
}

static void failing_send(struct ibv_sge s, enum ibv_wc_status want,
			 const char *what)
{
	char w[128];

	snprintf(w, sizeof(w), "WRITE %s", what);
	failing_op(IBV_WR_RDMA_WRITE, s, want, w);
}

void t_post_send_local(void)
{
	struct ibv_mr *ro =
		ibv_reg_mr(pd, buf + 8192, 4096, IBV_ACCESS_REMOTE_READ);
	struct ibv_sge s;

	tc_section = "post_send local checks";
	s = sge(0, 8);
	s.lkey = mr->lkey ^ 0x5a5a5a00;
	failing_send(s, IBV_WC_LOC_PROT_ERR, "with a garbage lkey");
	s.lkey = 0;
	failing_send(s, IBV_WC_LOC_PROT_ERR, "with lkey 0");
	s = sge(BUF - 4, 8);
	failing_send(s, IBV_WC_LOC_PROT_ERR, "running past the MR's end");
	s = sge(0, 8);
	s.addr = (uintptr_t)buf - 8;
	failing_send(s, IBV_WC_LOC_PROT_ERR, "starting before the MR");
	s = sge(0, 1u << 31);
	failing_send(s, IBV_WC_LOC_PROT_ERR, "of 2^31 bytes from a 64 KiB MR");
	s = sge(0, 8);
	s.addr = 0;
	failing_send(s, IBV_WC_LOC_PROT_ERR, "from address 0");
	/* a region without LOCAL_WRITE is no place for a READ's or an
	 * atomic's result */
	if (ro) {
		s = (struct ibv_sge){ .addr = (uintptr_t)buf + 8192,
				      .length = 8,
				      .lkey = ro->lkey };
		failing_op(IBV_WR_RDMA_READ, s, IBV_WC_LOC_PROT_ERR,
			   "READ into a region without LOCAL_WRITE");
		failing_op(IBV_WR_ATOMIC_FETCH_AND_ADD, s, IBV_WC_LOC_PROT_ERR,
			   "FETCH_ADD into a region without LOCAL_WRITE");
		failing_send(s, IBV_WC_SUCCESS,
			     "from a region without LOCAL_WRITE (allowed)");
		ibv_dereg_mr(ro);
	}
}
