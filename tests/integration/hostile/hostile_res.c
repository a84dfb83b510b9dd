// SPDX-License-Identifier: MIT
/* hostile_verbs: device, port, MRs, CQs */
#include <sys/mman.h>

#include "hostile.h"

/* ------------------------------------------------------ device, port */

void t_device(void)
{
	struct ibv_port_attr pa;
	struct ibv_device_attr_ex dx;
	struct ibv_query_device_ex_input in = { .comp_mask = 1 };

	tc_section = "query";
	EXPECT_RC(0, ibv_query_port(ctx, 1, &pa));
	EXPECT_RC(EINVAL, ibv_query_port(ctx, 0, &pa));
	EXPECT_RC(EINVAL, ibv_query_port(ctx, 2, &pa));
	EXPECT_RC(EINVAL, ibv_query_port(ctx, 255, &pa));
	EXPECT_RC(0, ibv_query_device_ex(ctx, NULL, &dx));
	/* (libibverbs' inline wrapper refuses this one itself) */
	EXPECT_RV(EINVAL, ibv_query_device_ex(ctx, &in, &dx));
}

/* -------------------------------------------------------------- MRs */

/* rereg_mr: a failed one leaves the MR as it was. */
static void rereg_cases(char *hole, long pg)
{
	struct ibv_mr *m;
	int lw = IBV_ACCESS_LOCAL_WRITE;

	tc_section = "rereg_mr";
	m = ibv_reg_mr(pd, buf, BUF, lw);
	if (m) {
		uint32_t key = m->lkey;

		check(ibv_rereg_mr(m, IBV_REREG_MR_CHANGE_ACCESS, NULL, NULL, 0,
				   IBV_ACCESS_REMOTE_WRITE) != 0,
		      "rereg_mr(REMOTE_WRITE without LOCAL_WRITE) fails");
		check(ibv_rereg_mr(m, IBV_REREG_MR_CHANGE_TRANSLATION, NULL,
				   hole + pg, pg, 0) != 0,
		      "rereg_mr(to an unmapped page) fails");
		check(ibv_rereg_mr(m, IBV_REREG_MR_CHANGE_PD, NULL, NULL, 0,
				   0) != 0,
		      "rereg_mr(CHANGE_PD, NULL pd) fails");
		check(ibv_rereg_mr(m, 1 << 7, NULL, NULL, 0, 0) != 0,
		      "rereg_mr(unknown flag) fails");
		errno = 0;
		check(ibv_rereg_mr(m, IBV_REREG_MR_CHANGE_PD, pd2, NULL, 0,
				   0) != 0 &&
			      errno == EINVAL && m->pd == pd,
		      "rereg_mr(CHANGE_PD to a PD of another context) fails "
		      "with EINVAL (errno %s)",
		      en(errno));
		check(m->lkey == key, "a failed rereg leaves the key");
		EXPECT_RC(0, ibv_dereg_mr(m));
	}
}

void t_mr(void)
{
	struct ibv_mr *m;
	char *hole, *ro;
	long pg = sysconf(_SC_PAGESIZE);
	int lw = IBV_ACCESS_LOCAL_WRITE;

	tc_section = "reg_mr";
	hole = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hole == MAP_FAILED || ro == MAP_FAILED) {
		check(false, "mmap: %s", strerror(errno));
		return;
	}
	/*
	 * [hole, hole+pg) accessible, the next page not. PROT_NONE, not
	 * munmap: an unmapped hole can be mapped again at once by another
	 * thread (the engine, the sanitizer's allocator); the provider
	 * refuses both alike (no readable mapping: EFAULT).
	 */
	mprotect(hole + pg, pg, PROT_NONE);

	errno = 0;
	m = ibv_reg_mr(pd, NULL, 4096, lw);
	EXPECT_NULL(EFAULT, m, "reg_mr(NULL, 4096)");
	m = ibv_reg_mr(pd, buf, 0, lw);
	EXPECT_NULL(0, m, "reg_mr(len 0: valid, as on rxe)");
	if (m)
		EXPECT_RC(0, ibv_dereg_mr(m));
	m = ibv_reg_mr(pd, buf, SIZE_MAX, lw);
	EXPECT_NULL(EINVAL, m, "reg_mr(len SIZE_MAX: wraps)");
	m = ibv_reg_mr(pd, buf, (size_t)1 << 62, lw);
	EXPECT_NULL(EFAULT, m, "reg_mr(len 2^62: unmapped)");
	m = ibv_reg_mr(pd, hole, 2 * pg, lw);
	EXPECT_NULL(EFAULT, m, "reg_mr(range running into an unmapped page)");
	m = ibv_reg_mr(pd, hole + pg, 1, lw);
	EXPECT_NULL(EFAULT, m, "reg_mr(unmapped page)");
	m = ibv_reg_mr(pd, ro, pg, lw);
	EXPECT_NULL(EFAULT, m, "reg_mr(read-only page, LOCAL_WRITE)");
	m = ibv_reg_mr(pd, ro, pg, IBV_ACCESS_REMOTE_READ);
	EXPECT_NULL(0, m, "reg_mr(read-only page, REMOTE_READ)");
	if (m)
		ibv_dereg_mr(m);
	m = ibv_reg_mr(pd, buf, BUF, IBV_ACCESS_REMOTE_WRITE);
	EXPECT_NULL(EINVAL, m, "reg_mr(REMOTE_WRITE without LOCAL_WRITE)");
	m = ibv_reg_mr(pd, buf, BUF, IBV_ACCESS_REMOTE_ATOMIC);
	EXPECT_NULL(EINVAL, m, "reg_mr(REMOTE_ATOMIC without LOCAL_WRITE)");
	m = ibv_reg_mr(pd, buf, BUF, lw | (1 << 15));
	EXPECT_NULL(EINVAL, m, "reg_mr(unknown access bit 1<<15)");
	m = ibv_reg_mr(pd, buf, BUF, lw | IBV_ACCESS_ON_DEMAND);
	EXPECT_NULL(EOPNOTSUPP, m, "reg_mr(ON_DEMAND)");
	m = ibv_reg_mr(pd, buf, BUF, -1);
	EXPECT_NULL(EINVAL, m, "reg_mr(access -1)");

	m = ibv_reg_mr_iova(pd, buf, BUF, 1, lw);
	EXPECT_NULL(EINVAL, m, "reg_mr_iova(iova at another page offset)");
	m = ibv_reg_mr_iova(pd, buf, BUF, UINT64_MAX & ~(uint64_t)(pg - 1), lw);
	EXPECT_NULL(EINVAL, m, "reg_mr_iova(iova range wrapping past 2^64)");
	m = ibv_reg_mr_iova(pd, buf, BUF, (uint64_t)1 << 40, lw);
	EXPECT_NULL(0, m, "reg_mr_iova(iova 2^40)");
	if (m)
		ibv_dereg_mr(m);

	rereg_cases(hole, pg);

	munmap(hole, 2 * pg);
	munmap(ro, pg);
}

/* -------------------------------------------------------------- CQs */

/* create_cq: sizes, vectors, a channel. */
static void create_cq_args(void)
{
	struct ibv_cq *c;

	tc_section = "create_cq";
	errno = 0;
	c = ibv_create_cq(ctx, 0, NULL, NULL, 0);
	EXPECT_NULL(EINVAL, c, "create_cq(cqe 0)");
	c = ibv_create_cq(ctx, -1, NULL, NULL, 0);
	EXPECT_NULL(EINVAL, c, "create_cq(cqe -1)");
	c = ibv_create_cq(ctx, INT_MAX, NULL, NULL, 0);
	EXPECT_NULL(EINVAL, c, "create_cq(cqe INT_MAX)");
	c = ibv_create_cq(ctx, 1 << 20, NULL, NULL, 0);
	EXPECT_NULL(EINVAL, c, "create_cq(cqe max_cqe + 1)");
	c = ibv_create_cq(ctx, 16, NULL, NULL, -1);
	EXPECT_NULL(EINVAL, c, "create_cq(comp_vector -1)");
	c = ibv_create_cq(ctx, 16, NULL, NULL, 1);
	EXPECT_NULL(EINVAL, c, "create_cq(comp_vector 1 of 1)");

	{
		/* without the librdmacm-ext preload there is no channel for a
		 * tcp device: creating one fails cleanly, and a CQ refuses
		 * whatever it got */
		struct ibv_comp_channel *ch = ibv_create_comp_channel(ctx);

		check(!ch && errno,
		      "create_comp_channel without the preload: NULL, errno %s",
		      en(errno));
		if (ch) {
			c = ibv_create_cq(ctx, 4, NULL, ch, 0);
			EXPECT_NULL(EINVAL, c, "create_cq(that channel)");
			if (c)
				ibv_destroy_cq(c);
			ibv_destroy_comp_channel(ch);
		}
	}
}

/* create_cq_ex: flags and sizes. */
static void create_cq_ex_args(void)
{
	struct ibv_cq_ex *cx;
	struct ibv_cq_init_attr_ex ca = { .cqe = 16 };

	tc_section = "create_cq_ex";
	/* (timestamps are served: tests/pyverbs/test_domains.py) */
	ca.wc_flags = IBV_WC_EX_WITH_TM_INFO;
	cx = ibv_create_cq_ex(ctx, &ca);
	EXPECT_NULL(EOPNOTSUPP, cx, "create_cq_ex(wc_flags TM info)");
	ca.wc_flags = 0;
	ca.comp_mask = IBV_CQ_INIT_ATTR_MASK_PD; /* no parent domain */
	cx = ibv_create_cq_ex(ctx, &ca);
	EXPECT_NULL(EINVAL, cx, "create_cq_ex(MASK_PD, parent_domain NULL)");
	ca.comp_mask = 0;
	ca.wc_flags = 1ull << 60;
	cx = ibv_create_cq_ex(ctx, &ca);
	EXPECT_NULL(EOPNOTSUPP, cx, "create_cq_ex(wc_flags 1<<60)");
	ca.wc_flags = 0;
	ca.comp_mask = IBV_CQ_INIT_ATTR_MASK_FLAGS;
	ca.flags = 1u << 9;
	cx = ibv_create_cq_ex(ctx, &ca);
	EXPECT_NULL(EOPNOTSUPP, cx, "create_cq_ex(flags 1<<9)");
	ca.comp_mask = 0;
	ca.cqe = 0;
	cx = ibv_create_cq_ex(ctx, &ca);
	EXPECT_NULL(EINVAL, cx, "create_cq_ex(cqe 0)");
	ca.cqe = 16;
	ca.comp_vector = 7;
	cx = ibv_create_cq_ex(ctx, &ca);
	EXPECT_NULL(EINVAL, cx, "create_cq_ex(comp_vector 7)");
	ca.comp_vector = 0;
	cx = ibv_create_cq_ex(ctx, &ca);
	EXPECT_NULL(0, cx, "create_cq_ex(cqe 16)");
	if (cx) {
		struct ibv_poll_cq_attr pa = { .comp_mask = 1 };

		EXPECT_RV(EINVAL, ibv_start_poll(cx, &pa));
		pa.comp_mask = 0;
		EXPECT_RV(ENOENT, ibv_start_poll(cx, &pa));
		EXPECT_RC(0, ibv_destroy_cq(ibv_cq_ex_to_cq(cx)));
	}
}

/* poll_cq and resize_cq. */
static void poll_resize_cq(void)
{
	struct ibv_cq *c;
	struct ibv_wc wc[4];

	tc_section = "poll_cq";
	c = ibv_create_cq(ctx, 4, NULL, NULL, 0);
	EXPECT_NULL(0, c, "create_cq(cqe 4)");
	if (!c)
		return;
	check(ibv_poll_cq(c, 0, wc) == 0, "poll_cq(n 0) -> 0");
	check(ibv_poll_cq(c, 0, NULL) == 0, "poll_cq(n 0, wc NULL) -> 0");
	check(ibv_poll_cq(c, -1, NULL) < 0, "poll_cq(n -1) -> negative");
	check(ibv_poll_cq(c, INT_MIN, NULL) < 0,
	      "poll_cq(n INT_MIN) -> negative");
	EXPECT_RC(0, ibv_req_notify_cq(c, 0));
	EXPECT_RC(0, ibv_req_notify_cq(c, 1));
	EXPECT_RC(0, ibv_req_notify_cq(c, 77));

	tc_section = "resize_cq";
	EXPECT_RC(EINVAL, ibv_resize_cq(c, 0));
	EXPECT_RC(EINVAL, ibv_resize_cq(c, -1));
	EXPECT_RC(EINVAL, ibv_resize_cq(c, INT_MAX));
	EXPECT_RC(EINVAL, ibv_resize_cq(c, 1 << 20));
	EXPECT_RC(0, ibv_resize_cq(c, 100));
	check(c->cqe >= 100, "resize_cq(100): cqe %d", c->cqe);
	EXPECT_RC(0, ibv_destroy_cq(c));
}

void t_cq(void)
{
	create_cq_args();
	create_cq_ex_args();
	poll_resize_cq();
}

void t_cq_full(void)
{
	struct ibv_cq *c = ibv_create_cq(ctx, 4, NULL, NULL, 0);
	struct ibv_qp *qp = c ? err_qp_on(c, 8) : NULL;
	struct ibv_wc wc[8];
	int n, i;
	bool order = true;

	tc_section = "resize_cq with completions queued";
	if (!qp || flush_recvs(qp, 3)) {
		check(false, "CQ with 3 flushed receives: %s", strerror(errno));
		goto out;
	}
	EXPECT_RC(EINVAL, ibv_resize_cq(c, 2));
	EXPECT_RC(0, ibv_resize_cq(c, 3));
	EXPECT_RC(0, ibv_resize_cq(c, 64));
	n = ibv_poll_cq(c, 8, wc);
	for (i = 0; i < n; i++)
		order &= wc[i].wr_id == (uint64_t)i &&
			 wc[i].status == IBV_WC_WR_FLUSH_ERR;
	check(n == 3 && order, "the 3 completions survive, in order (%d)", n);
	EXPECT_RC(0, ibv_resize_cq(c, 4));

	tc_section = "CQ overflow";
	if (flush_recvs(qp, 6)) {
		check(false, "flush 6 receives: %s", strerror(errno));
		goto out;
	}
	check(async_event(IBV_EVENT_CQ_ERR),
	      "6 completions into a CQ of 4: IBV_EVENT_CQ_ERR");
	n = ibv_poll_cq(c, 8, wc);
	check(n >= 0 && n <= 4, "the CQ gives back at most its 4 (%d)", n);
out:
	if (qp)
		ibv_destroy_qp(qp);
	if (c)
		ibv_destroy_cq(c);
}
