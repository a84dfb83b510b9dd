// SPDX-License-Identifier: MIT
/*
 * A hostile peer against a real tcp-device QP, in one process.
 *
 *   malformed [DEVICE]        (default: $RDMA_TCP_DEV, else tcp0)
 *
 * The QP under test is an RC QP of the device, moved to RTS with
 * dest_qp_num 1 and dgid = its own GID 0. Same GID and the smaller QPN
 * make the other end the connecting side, so this program plays that end
 * with a plain TCP socket: it connects to the QP's listener port
 * (qp_num >> 8) on GID 0's address, sends a hello naming both QPNs, and
 * then writes frames of its own making (include/rdma_tcp/wire.h) - well
 * formed, or not.
 *
 * Memory: one 64 KiB window registered (remote write, read, atomic) in
 * the middle of a larger buffer whose every byte holds a known pattern,
 * plus small regions for under-privileged, deregistered and foreign-PD
 * keys. A shadow copy says what every byte must hold; after every case
 * each byte is compared, canaries included.
 *
 * Each case gets a fresh QP and connection. A positive control first
 * proves that the scaffolding is right (a WRITE lands and is acked, READ
 * and atomics answer). Then each malformed input must:
 *   - move the QP to IBV_QPS_ERR within 3 s (ibv_query_qp);
 *   - deliver one async event for that QP, of an allowed type;
 *   - where the frame was a placeable request refused by the responder's
 *     checks, answer with a TERMINATE frame carrying the request's msn and
 *     the right syndrome (REM_ACCESS, REM_INV_REQ, RNR);
 *   - never answer with data (READ_RESP / ATOMIC_RESP);
 *   - close the connection (the peer reads EOF) within 3 s;
 *   - leave every byte outside accepted writes unchanged;
 *   - and every frame the QP sends back must itself be well formed.
 * A peer that acks the QP's WRITE and closes in the same segment must
 * leave the WRITE completed with success. A large WRITE whose payload
 * arrives in pieces must land whole, and the bare header after it must be
 * read and acked (the engine's receive low mark, SO_RCVLOWAT, never waits
 * for more than a frame owes). Requester-side cases have the
 * QP post an RDMA READ and answer it badly (too long, too short, wrong
 * msn, wrong opcode): the READ completes in error and nothing lands.
 * Hello cases: bad magic, wrong source QPN, unused slot, truncated hello
 * are turned away without harming the QP;
 * a second connection to a connected QP must not take it over, nor be
 * adopted later by a new QP that reuses the QPN.
 * The process must not crash or hang (a watchdog ends a hung run).
 *
 * Prints one line per check, "ok - ..." or "FAIL - ...", then
 * "N passed, N failed"; exit 1 on any failure, 2 on a setup error.
 */
#include <signal.h>

#include "malformed.h"

TC_DEFINE_COUNTERS;

struct region reg[NREG];
uint32_t stale_rkey;
struct ibv_context *ctx;
struct ibv_pd *pd, *pd2;
struct ibv_cq *cq;
union ibv_gid gid0;

static struct ibv_mr *reg_region(struct ibv_pd *on, int r, int access)
{
	struct ibv_mr *m = ibv_reg_mr(on, reg[r].mem + PAD, reg[r].len, access);

	if (!m)
		fprintf(stderr, "ibv_reg_mr %s: %s\n", reg[r].name,
			strerror(errno));
	return m;
}

/* The device @name, its GID 0, PDs and CQ; false (and why) on failure. */
static bool open_device(const char *name)
{
	struct ibv_device **list;
	int i, n;
	char gs[INET6_ADDRSTRLEN];

	list = ibv_get_device_list(&n);
	if (!list) {
		fprintf(stderr, "ibv_get_device_list: %s\n", strerror(errno));
		return false;
	}
	for (i = 0; i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			break;
	if (i == n) {
		fprintf(stderr, "device %s not found\n", name);
		return false;
	}
	ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!ctx || ibv_query_gid(ctx, 1, 0, &gid0)) {
		fprintf(stderr, "open %s / query GID 0: %s\n", name,
			strerror(errno));
		return false;
	}
	inet_ntop(AF_INET6, gid0.raw, gs, sizeof(gs));
	printf("# device %s, GID 0 %s\n", name, gs);
	pd = ibv_alloc_pd(ctx);
	pd2 = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 256, NULL, NULL, 0);
	if (!pd || !pd2 || !cq) {
		fprintf(stderr, "PD/CQ: %s\n", strerror(errno));
		return false;
	}
	return true;
}

/* The regions, registered; R_STALE's key deregistered. */
static bool setup_regions(void)
{
	const int full = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;

	if (region_alloc(R_WIN, "window (64 KiB, remote write/read/atomic)",
			 WIN) ||
	    region_alloc(R_RO, "region without REMOTE_WRITE", SMALL) ||
	    region_alloc(R_STALE, "deregistered region", SMALL) ||
	    region_alloc(R_FOREIGN, "region of another PD", SMALL) ||
	    region_alloc(R_BIG, "large region (1 MiB, remote write)", BIG)) {
		fprintf(stderr, "out of memory\n");
		return false;
	}
	reg[R_WIN].mr = reg_region(pd, R_WIN, full);
	reg[R_RO].mr = reg_region(
		pd, R_RO, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ);
	reg[R_STALE].mr = reg_region(pd, R_STALE, full);
	reg[R_FOREIGN].mr = reg_region(pd2, R_FOREIGN, full);
	reg[R_BIG].mr = reg_region(pd, R_BIG, full);
	if (!reg[R_WIN].mr || !reg[R_RO].mr || !reg[R_STALE].mr ||
	    !reg[R_FOREIGN].mr || !reg[R_BIG].mr)
		return false;
	stale_rkey = reg[R_STALE].mr->rkey;
	if (ibv_dereg_mr(reg[R_STALE].mr)) {
		fprintf(stderr, "ibv_dereg_mr: %s\n", strerror(errno));
		return false;
	}
	reg[R_STALE].mr = NULL;
	return true;
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : getenv("RDMA_TCP_DEV");
	int i;

	if (!name || !*name)
		name = "tcp0";
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	tc_watchdog(WATCHDOG_S);
	if (!open_device(name) || !setup_regions())
		return 2;

	control();
	ack_then_close();
	trickled_write();
	hello_cases();
	for (i = 0; i < (int)n_cases; i++)
		run_case(&cases[i]);
	hijack_case();

	tc_section = "teardown";
	for (i = 0; i < NREG; i++)
		if (reg[i].mr && ibv_dereg_mr(reg[i].mr))
			fail("ibv_dereg_mr %s: %s", reg[i].name,
			     strerror(errno));
	check(!ibv_destroy_cq(cq), "destroy CQ");
	check(!ibv_dealloc_pd(pd2) && !ibv_dealloc_pd(pd), "dealloc PDs");
	check(!ibv_close_device(ctx), "close device");
	for (i = 0; i < NREG; i++) {
		free(reg[i].mem);
		free(reg[i].shadow);
	}
	return tc_report();
}
