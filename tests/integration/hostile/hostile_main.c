// SPDX-License-Identifier: MIT
/*
 * Hostile application input against every verb the tcp provider implements.
 *
 *   hostile_verbs [DEVICE]        (default: $RDMA_TCP_DEV, else tcp0)
 *
 * Each verb is called through the real libibverbs with NULL, garbage or
 * oversize arguments: sge counts, lengths, queue sizes, access flags,
 * attribute masks and values, opcodes, WR chains longer than the queue,
 * objects of another context, objects still in use. Each call must fail
 * the way libibverbs documents it (ibv_create_* return NULL with errno
 * set; ibv_modify_*, ibv_destroy_* and ibv_dealloc_* return an errno value
 * and set errno; ibv_post_* return an errno value and set *bad_wr to the
 * first WR not posted, the ones before it posted and completing) with the
 * errno the kernel and rdma-core's rxe give: EINVAL for invalid arguments,
 * ENOMEM for a full queue, EOPNOTSUPP for an unsupported feature, EBUSY
 * for an object in use, EFAULT for memory that is not there. Calls that
 * crash in libibverbs itself whatever the provider (a NULL QP, a NULL
 * attr pointer it dereferences first) are not made.
 *
 * Work that needs a peer runs on pairs of RC (or UC) QPs of one context,
 * connected to each other over the device's GID 0 (loopback).
 *
 * Prints one line per check, "ok - ..." or "FAIL - ...", then
 * "N passed, N failed"; exit 1 on any failure, 2 on a setup error. The
 * ASan build catches memory errors; a watchdog ends a hung run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostile.h"
#include "tdev.h"

TC_DEFINE_COUNTERS;

struct ibv_context *ctx, *ctx2;
struct ibv_pd *pd, *pd2;
struct ibv_cq *cq, *cq2;
struct ibv_mr *mr;
char *buf;
union ibv_gid gid0;
uint32_t qp_inline = 64;

const char *en(int e)
{
	static char b[4][64];
	static int i;

	i = (i + 1) % 4;
	snprintf(b[i], sizeof(b[i]), "%d (%s)", e, e > 0 ? strerror(e) : "-");
	return b[i];
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : getenv("RDMA_TCP_DEV");

	tc_watchdog(WATCHDOG_S);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!dev)
		dev = "tcp0";
	ctx = open_dev(dev);
	ctx2 = open_dev(dev);
	if (!ctx || !ctx2) {
		fprintf(stderr, "cannot open %s\n", dev);
		return 2;
	}
	pd = ibv_alloc_pd(ctx);
	pd2 = ibv_alloc_pd(ctx2);
	cq = ibv_create_cq(ctx, 256, NULL, NULL, 0);
	cq2 = ibv_create_cq(ctx2, 16, NULL, NULL, 0);
	buf = aligned_alloc(4096, BUF);
	if (!pd || !pd2 || !cq || !cq2 || !buf ||
	    ibv_query_gid(ctx, 1, 0, &gid0)) {
		fprintf(stderr, "setup: %s\n", strerror(errno));
		return 2;
	}
	memset(buf, 0, BUF);
	mr = ibv_reg_mr(pd, buf, BUF,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				IBV_ACCESS_REMOTE_READ |
				IBV_ACCESS_REMOTE_ATOMIC);
	if (!mr) {
		fprintf(stderr, "reg_mr: %s\n", strerror(errno));
		return 2;
	}

	t_device();
	t_mr();
	t_cq();
	t_cq_full();
	t_create_qp();
	t_modify_qp();
	t_post_send_states();
	t_post_send_args();
	t_inline_zero();
	t_post_send_local();
	t_post_chain();
	t_post_err_state();
	t_uc();
	t_no_peer();
	t_post_recv();
	t_srq();
	t_wr_api();
	t_ah_and_busy();
	t_corrupt_handles();
	t_close_live();

	tc_section = "teardown";
	EXPECT_RC(EBUSY, ibv_dealloc_pd(pd));
	EXPECT_RC(0, ibv_dereg_mr(mr));
	EXPECT_RC(0, ibv_destroy_cq(cq));
	EXPECT_RC(0, ibv_destroy_cq(cq2));
	EXPECT_RC(0, ibv_dealloc_pd(pd));
	EXPECT_RC(0, ibv_dealloc_pd(pd2));
	EXPECT_RC(0, ibv_close_device(ctx));
	EXPECT_RC(0, ibv_close_device(ctx2));
	free(buf);
	return tc_report();
}
