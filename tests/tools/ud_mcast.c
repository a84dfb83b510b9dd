// SPDX-License-Identifier: MIT
/*
 * ud_mcast DEVICE MGID: UD multicast on one device (test_ud_mcast.sh).
 * Three UD QPs join the group MGID (an IPv4-mapped ::ffff:239.x.y.z or an
 * IPv6 ff0x:: GID), a fourth sends to it (remote QPN 0xFFFFFF); every
 * member gets every message, with the group in the GRH's destination and
 * the sender in src_qp. A member that detached gets nothing more. The
 * verbs' refusals: an RC QP, a unicast GID, a group not joined. Prints one
 * "ok"/"not ok" line per check and "N passed, N failed"; exit 0 if all
 * passed. pyverbs 44 has no ibv_attach_mcast, hence C.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <infiniband/verbs.h>

#define MEMBERS 3
#define MSGS	8
#define LEN	64
#define GRH	40
#define QKEY	0x11111111u

static int passed, failed;

static void check(int ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	if (ok)
		passed++;
	else
		failed++;
}

static struct ibv_context *ctx;
static struct ibv_pd *pd;
static struct ibv_cq *cq;
static struct ibv_mr *mr;
static char *buf;

static struct ibv_qp *ud_qp(enum ibv_qp_type type)
{
	struct ibv_qp_init_attr ia = { .send_cq = cq,
				       .recv_cq = cq,
				       .qp_type = type,
				       .cap = { .max_send_wr = MSGS,
						.max_recv_wr = MSGS,
						.max_send_sge = 1,
						.max_recv_sge = 1 } };
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_INIT,
				 .port_num = 1,
				 .qkey = QKEY };
	struct ibv_qp *qp = ibv_create_qp(pd, &ia);

	if (!qp || type != IBV_QPT_UD)
		return qp;
	if (ibv_modify_qp(qp, &a,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				  IBV_QP_QKEY))
		return NULL;
	a.qp_state = IBV_QPS_RTR;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE))
		return NULL;
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = 0;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN) ? NULL : qp;
}

static int post_recvs(struct ibv_qp *qp, int m)
{
	int i;

	for (i = 0; i < MSGS; i++) {
		struct ibv_sge sg = { .addr = (uintptr_t)buf +
					      (m * MSGS + i) * (GRH + LEN),
				      .length = GRH + LEN,
				      .lkey = mr->lkey };
		struct ibv_recv_wr wr = { .wr_id = m * MSGS + i,
					  .sg_list = &sg,
					  .num_sge = 1 },
				   *bad;

		if (ibv_post_recv(qp, &wr, &bad))
			return -1;
	}
	return 0;
}

/* Completions for `secs` seconds or until `want`; counts receives per QP. */
static int reap(int want, double secs, uint32_t src_qpn, int *bad)
{
	struct timespec t0, t;
	struct ibv_wc wc[16];
	int got = 0, n, i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		n = ibv_poll_cq(cq, 16, wc);
		for (i = 0; i < n; i++) {
			if (wc[i].opcode != IBV_WC_RECV)
				continue;
			got++;
			if (wc[i].status != IBV_WC_SUCCESS ||
			    wc[i].src_qp != src_qpn ||
			    wc[i].byte_len != GRH + LEN ||
			    !(wc[i].wc_flags & IBV_WC_GRH))
				(*bad)++;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((want && got >= want) ||
		    (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 >
			    secs)
			return got;
	}
}

static int send_all(struct ibv_qp *qp, struct ibv_ah *ah)
{
	char *src = buf + MEMBERS * MSGS * (GRH + LEN);
	int i;

	for (i = 0; i < MSGS; i++) {
		struct ibv_sge sg = { .addr = (uintptr_t)src,
				      .length = LEN,
				      .lkey = mr->lkey };
		struct ibv_send_wr wr = { .wr_id = 100 + i,
					  .sg_list = &sg,
					  .num_sge = 1,
					  .opcode = IBV_WR_SEND },
				   *bad;

		wr.wr.ud.ah = ah;
		wr.wr.ud.remote_qpn = 0xffffff;
		wr.wr.ud.remote_qkey = QKEY;
		if (ibv_post_send(qp, &wr, &bad))
			return -1;
	}
	return 0;
}

static void refusals(union ibv_gid *mgid, struct ibv_qp *member)
{
	struct ibv_qp *rc = ud_qp(IBV_QPT_RC);
	union ibv_gid uni;

	check(rc && ibv_attach_mcast(rc, mgid, 0) == EINVAL,
	      "attach on an RC QP: EINVAL");
	if (rc)
		ibv_destroy_qp(rc);
	ibv_query_gid(ctx, 1, 0, &uni);
	check(ibv_attach_mcast(member, &uni, 0) == EINVAL,
	      "attach to a unicast GID: EINVAL");
	check(ibv_attach_mcast(member, mgid, 0) == 0,
	      "attach twice: 0 (as rxe)");
}

/* A source GID of the group's family (IPv4 mapped or IPv6). */
static int sgid_index(const union ibv_gid *mgid)
{
	static const uint8_t v4[12] = { [10] = 0xff, [11] = 0xff };
	union ibv_gid g;
	int i, want4 = !memcmp(mgid->raw, v4, 12);

	for (i = 0; i < 16; i++)
		if (!ibv_query_gid(ctx, 1, i, &g) && g.global.interface_id &&
		    (memcmp(g.raw, v4, 12) == 0) == want4)
			return i;
	return 0;
}

static void traffic(union ibv_gid *mgid, struct ibv_qp **m, struct ibv_qp *s)
{
	struct ibv_ah_attr aa = { .is_global = 1, .port_num = 1 };
	struct ibv_ah *ah;
	int i, bad = 0, got;
	char want[128];

	aa.grh.dgid = *mgid;
	aa.grh.sgid_index = sgid_index(mgid);
	ah = ibv_create_ah(pd, &aa);
	check(ah != NULL, "create an AH to the group");
	if (!ah)
		return;
	check(send_all(s, ah) == 0, "send 8 datagrams to the group");
	got = reap(MEMBERS * MSGS, 10, s->qp_num, &bad);
	snprintf(want, sizeof(want),
		 "every member got every message (%d of %d)", got,
		 MEMBERS * MSGS);
	check(got == MEMBERS * MSGS && !bad, want);
	/* the GRH's destination is the group */
	check(!memcmp(buf + 24, mgid->raw, 16) ||
		      (buf[20] == 0x45 && !memcmp(buf + 36, mgid->raw + 12, 4)),
	      "the GRH names the group as destination");
	for (i = 0; i < MEMBERS; i++)
		post_recvs(m[i], i);
	check(ibv_detach_mcast(m[0], mgid, 0) == 0, "member 0 detaches");
	check(ibv_detach_mcast(m[0], mgid, 0) == EINVAL,
	      "detach a group not joined: EINVAL");
	send_all(s, ah);
	got = reap((MEMBERS - 1) * MSGS, 10, s->qp_num, &bad);
	got += reap(0, 0.3, s->qp_num, &bad); /* nothing more must come */
	snprintf(want, sizeof(want),
		 "only the remaining members got them (%d of %d)", got,
		 (MEMBERS - 1) * MSGS);
	check(got == (MEMBERS - 1) * MSGS && !bad, want);
	ibv_destroy_ah(ah);
}

int main(int argc, char **argv)
{
	struct ibv_device **list;
	struct ibv_qp *m[MEMBERS], *s;
	union ibv_gid mgid;
	int i, n;

	if (argc != 3 || inet_pton(AF_INET6, argv[2], mgid.raw) != 1) {
		fprintf(stderr, "usage: %s DEVICE MGID\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0); /* lines out as they come */
	list = ibv_get_device_list(&n);
	for (i = 0; list && i < n && !ctx; i++)
		if (!strcmp(ibv_get_device_name(list[i]), argv[1]))
			ctx = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	buf = calloc(1, (MEMBERS + 1) * MSGS * (GRH + LEN));
	if (!ctx || !buf || !(pd = ibv_alloc_pd(ctx)) ||
	    !(cq = ibv_create_cq(ctx, 256, NULL, NULL, 0)) ||
	    !(mr = ibv_reg_mr(pd, buf, (MEMBERS + 1) * MSGS * (GRH + LEN),
			      IBV_ACCESS_LOCAL_WRITE))) {
		fprintf(stderr, "%s: cannot set up %s\n", argv[0], argv[1]);
		return 2;
	}
	for (i = 0; i < MEMBERS; i++) {
		m[i] = ud_qp(IBV_QPT_UD);
		check(m[i] && post_recvs(m[i], i) == 0 &&
			      ibv_attach_mcast(m[i], &mgid, 0) == 0,
		      "a member joins");
		if (!m[i])
			return 1;
	}
	s = ud_qp(IBV_QPT_UD);
	if (!s)
		return 1;
	refusals(&mgid, m[1]);
	traffic(&mgid, m, s);
	for (i = 0; i < MEMBERS; i++)
		ibv_destroy_qp(m[i]); /* (leaves the groups it is in) */
	ibv_destroy_qp(s);
	ibv_dereg_mr(mr);
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	free(buf);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
