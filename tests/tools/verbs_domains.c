// SPDX-License-Identifier: MIT
/*
 * Thread and parent domains, and EOPNOTSUPP for what a tcp device lacks,
 * through the verbs pyverbs cannot reach (ibv_alloc_td, the destroy order
 * of parent domains, ibv_alloc_dm, counters, dmabuf MRs, flow steering,
 * ODP advice, ibv_import_*). One device, no traffic.
 *
 *   verbs_domains DEV
 *
 * Prints each check and "N passed, N failed"; exit 1 if any failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "../lib/tdev.h"

static int passed, failed;

static void check(int ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "FAIL", what);
	if (ok)
		passed++;
	else
		failed++;
}

/* A NULL result with errno err (the verbs that return objects). */
static int null_errno(const void *p, int err)
{
	return !p && errno == err;
}

static struct ibv_qp *rc_qp(struct ibv_pd *pd, struct ibv_cq *cq)
{
	struct ibv_qp_init_attr a = {
		.send_cq = cq,
		.recv_cq = cq,
		.cap = { .max_send_wr = 4,
			 .max_recv_wr = 4,
			 .max_send_sge = 1,
			 .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
	};

	return ibv_create_qp(pd, &a);
}

static void thread_domains(struct ibv_context *c, struct ibv_pd *pd)
{
	struct ibv_td_init_attr ta = { 0 };
	struct ibv_parent_domain_init_attr pa = { .pd = pd };
	struct ibv_td *td;
	struct ibv_pd *pdom;
	struct ibv_cq *cq;
	struct ibv_qp *qp;

	ta.comp_mask = 1;
	errno = 0;
	check(null_errno(ibv_alloc_td(c, &ta), EINVAL),
	      "ibv_alloc_td: unknown comp_mask is EINVAL");
	ta.comp_mask = 0;
	td = ibv_alloc_td(c, &ta);
	check(td && td->context == c, "ibv_alloc_td");
	if (!td)
		return;
	pa.td = td;
	pdom = ibv_alloc_parent_domain(c, &pa);
	check(pdom && pdom->context == c, "parent domain with a thread domain");
	if (!pdom) {
		ibv_dealloc_td(td);
		return;
	}
	check(ibv_dealloc_td(td) == EBUSY, "thread domain in use: EBUSY");
	cq = ibv_create_cq(c, 8, NULL, NULL, 0);
	qp = cq ? rc_qp(pdom, cq) : NULL;
	check(qp && qp->pd == pdom, "QP through the parent domain");
	errno = 0;
	check(ibv_dealloc_pd(pdom) == EBUSY && errno == EBUSY,
	      "parent domain with a QP: EBUSY, errno set");
	check(ibv_dealloc_pd(pd) == EBUSY, "its PD: EBUSY");
	check(!qp || !ibv_destroy_qp(qp), "QP destroyed");
	check(!ibv_dealloc_pd(pdom), "parent domain deallocated");
	check(!ibv_dealloc_td(td), "thread domain deallocated");
	if (cq)
		ibv_destroy_cq(cq);
	pa.pd = NULL;
	pa.td = NULL;
	errno = 0;
	check(null_errno(ibv_alloc_parent_domain(c, &pa), EINVAL),
	      "parent domain without a PD: EINVAL");
}

/* A parent domain's allocator that counts, and can be made to fail. */
static int n_alloc, n_free, alloc_fails;

static void *count_alloc(struct ibv_pd *pd, void *pd_context, size_t size,
			 size_t alignment, uint64_t resource_type)
{
	void *p = NULL;

	(void)pd;
	(void)resource_type;
	if (pd_context != &n_alloc || alloc_fails)
		return NULL;
	if (posix_memalign(&p, alignment, size))
		return NULL;
	memset(p, 0x5a, size); /* the provider must not rely on zeroes */
	n_alloc++;
	return p;
}

static void count_free(struct ibv_pd *pd, void *pd_context, void *ptr,
		       uint64_t resource_type)
{
	(void)pd;
	(void)pd_context;
	(void)resource_type;
	n_free++;
	free(ptr);
}

/* Buffers replaced by ibv_resize_cq and a growing SRQ come from the
 * allocator too, and the old ones go back. */
static void allocator_regrow(struct ibv_context *c, struct ibv_pd *pd)
{
	struct ibv_parent_domain_init_attr pa = {
		.pd = pd,
		.comp_mask = IBV_PARENT_DOMAIN_INIT_ATTR_ALLOCATORS |
			     IBV_PARENT_DOMAIN_INIT_ATTR_PD_CONTEXT,
		.alloc = count_alloc,
		.free = count_free,
		.pd_context = &n_alloc,
	};
	struct ibv_cq_init_attr_ex ca = {
		.cqe = 4,
		.wc_flags = IBV_WC_EX_WITH_COMPLETION_TIMESTAMP,
		.comp_mask = IBV_CQ_INIT_ATTR_MASK_PD,
	};
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = 4, .max_sge = 1 } };
	struct ibv_srq_attr grow = { .max_wr = 64 };
	struct ibv_pd *pdom = ibv_alloc_parent_domain(c, &pa);
	struct ibv_cq_ex *cq;
	struct ibv_srq *srq;

	check(pdom != NULL, "parent domain with allocators");
	if (!pdom)
		return;
	ca.parent_domain = pdom;
	alloc_fails = 1;
	errno = 0;
	check(null_errno(ibv_create_cq_ex(c, &ca), ENOMEM) && !n_alloc,
	      "allocator returns NULL: create fails with ENOMEM");
	alloc_fails = 0;
	cq = ibv_create_cq_ex(c, &ca);
	check(cq && n_alloc == 1, "CQ ring from the allocator");
	check(cq && !ibv_resize_cq(ibv_cq_ex_to_cq(cq), 64) && n_alloc == 2 &&
		      n_free == 1,
	      "ibv_resize_cq: new ring from the allocator, old one freed");
	srq = ibv_create_srq(pdom, &sa);
	check(srq && n_alloc == 3, "SRQ ring from the allocator");
	check(srq && !ibv_modify_srq(srq, &grow, IBV_SRQ_MAX_WR) &&
		      n_alloc == 4 && n_free == 2,
	      "SRQ grown: new ring from the allocator, old one freed");
	if (srq)
		ibv_destroy_srq(srq);
	if (cq)
		ibv_destroy_cq(ibv_cq_ex_to_cq(cq));
	check(n_free == n_alloc, "every buffer back through free");
	check(!ibv_dealloc_pd(pdom), "parent domain deallocated");
}

static void unsupported_objects(struct ibv_context *c, struct ibv_pd *pd)
{
	struct ibv_alloc_dm_attr dm = { .length = 64 };
	struct ibv_counters_init_attr ca = { 0 };
	struct ibv_xrcd_init_attr xa = {
		.comp_mask = IBV_XRCD_INIT_ATTR_FD | IBV_XRCD_INIT_ATTR_OFLAGS,
		.fd = -1,
		.oflags = O_CREAT,
	};
	struct ibv_sge sge = { 0 };

	errno = 0;
	check(null_errno(ibv_alloc_dm(c, &dm), EOPNOTSUPP),
	      "ibv_alloc_dm: EOPNOTSUPP");
	errno = 0;
	check(null_errno(ibv_create_counters(c, &ca), EOPNOTSUPP),
	      "ibv_create_counters: EOPNOTSUPP");
	errno = 0;
	check(null_errno(ibv_open_xrcd(c, &xa), EOPNOTSUPP),
	      "ibv_open_xrcd: EOPNOTSUPP");
	errno = 0;
	check(null_errno(ibv_reg_dmabuf_mr(pd, 0, 4096, 0, 0,
					   IBV_ACCESS_LOCAL_WRITE),
			 EOPNOTSUPP),
	      "ibv_reg_dmabuf_mr: EOPNOTSUPP");
	check(ibv_advise_mr(pd, IBV_ADVISE_MR_ADVICE_PREFETCH, 0, &sge, 1) ==
		      EOPNOTSUPP,
	      "ibv_advise_mr (ODP): EOPNOTSUPP");
	errno = 0;
	check(null_errno(ibv_import_pd(c, pd->handle), EOPNOTSUPP),
	      "ibv_import_pd: EOPNOTSUPP");
	errno = 0;
	check(null_errno(ibv_import_mr(pd, 1), EOPNOTSUPP),
	      "ibv_import_mr: EOPNOTSUPP");
}

static void flow_steering(struct ibv_context *c, struct ibv_pd *pd)
{
	struct ibv_flow_attr fa = {
		.size = sizeof(fa),
		.type = IBV_FLOW_ATTR_NORMAL,
		.port = 1,
	};
	struct ibv_cq *cq = ibv_create_cq(c, 8, NULL, NULL, 0);
	struct ibv_qp *qp = cq ? rc_qp(pd, cq) : NULL;

	errno = 0;
	check(qp && null_errno(ibv_create_flow(qp, &fa), EOPNOTSUPP),
	      "ibv_create_flow: EOPNOTSUPP");
	if (qp)
		ibv_destroy_qp(qp);
	if (cq)
		ibv_destroy_cq(cq);
}

int main(int argc, char **argv)
{
	struct ibv_context *c;
	struct ibv_pd *pd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DEV\n", argv[0]);
		return 2;
	}
	c = open_dev(argv[1]);
	pd = c ? ibv_alloc_pd(c) : NULL;
	if (!pd) {
		fprintf(stderr, "%s: cannot open %s\n", argv[0], argv[1]);
		return 2;
	}
	thread_domains(c, pd);
	allocator_regrow(c, pd);
	unsupported_objects(c, pd);
	flow_steering(c, pd);
	check(!ibv_dealloc_pd(pd), "PD deallocated at the end");
	ibv_close_device(c);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
