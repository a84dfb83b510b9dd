// SPDX-License-Identifier: MIT
/*
 * A QP's congestion control and traffic class on its TCP socket
 * (docs/design.md, "Congestion control and traffic class"):
 *
 *   qp_net DEVICE 'LINK SET CC BBR' ['STAT -J']
 *   qp_net DEVICE --unprivileged NAME ALLOWED
 *
 * The device's congestion control is cubic when this starts (the script's
 * `link add ... cc cubic`). One context, RC pairs of two of its QPs
 * connected to each other; each pair's two sockets are the connected TCP
 * sockets that appear in this process while it connects. What the kernel
 * says of them is read twice: getsockopt here, and at the end `ss -tin
 * --tos` (sock_diag) from outside, and by `rdma-tcp stat -j` when given.
 *
 *   pair 1, traffic class 0x60: cubic, TOS 0x60 on both sockets
 *   `link set cc bbr`: tcpdv_query_device says bbr; pair 2 connects with
 *   bbr, pair 1 keeps cubic; tcpdv_modify_qp_cc(pair 2, "reno") switches
 *   its live sockets
 *   pair 3, traffic class 0xb8, cubic set per QP before RTR: cubic; reset
 *   (NULL): the device's bbr
 *   refused: an unknown name, a long one (EINVAL), a UD QP (EOPNOTSUPP)
 *   pair 4, over the device's first IPv6 GID if it has one, traffic class
 *   0x28: the sockets' IPv6 traffic class
 *
 * --unprivileged: run by a user who may not use NAME (available, not in
 * tcp_allowed_congestion_control), the device's congestion control: two
 * pairs connect all the same, with the netns default (the provider says so
 * on stderr, which the script counts); tcpdv_modify_qp_cc(NAME) is EPERM
 * and changes nothing, ALLOWED (one this user may use) works.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <infiniband/tcpdv.h>
#include <infiniband/verbs.h>

#include "tcheck.h"
#include "tdev.h"
#include "tqp.h"

#define NPAIRS	4
#define TRIP_MS 20000
#define MAXFD	64

struct pair {
	struct ibv_cq *cq;
	struct ibv_qp *qp[2];
	struct ibv_mr *mr;
	char buf[128];
	int fd[2]; /* its sockets, -1 if not found */
};

static struct ibv_context *ctx;
static struct ibv_pd *pd;
static union ibv_gid gid, gid6; /* GID 0; the first IPv6 GID */
static int sgid6 = -1;		/* its index, -1 if none */
static bool on_v6;		/* pairs made now use gid6 */
/* what the pairs say at the end */
static const char *const final_cc[NPAIRS] = { "cubic", "reno", "bbr", "bbr" };
static const int final_tos[NPAIRS] = { 0x60, 0, 0xb8, 0x28 };

/* The connected TCP sockets of this process, as a bitmap by fd. */
static void conn_fds(unsigned char *set, int max)
{
	DIR *d = opendir("/proc/self/fd");
	struct sockaddr_storage ss;
	struct dirent *e;
	int fd, proto;
	socklen_t len;

	memset(set, 0, max);
	while (d && (e = readdir(d))) {
		fd = atoi(e->d_name);
		len = sizeof(proto);
		if (fd <= 2 || fd >= max || fd == dirfd(d) ||
		    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) ||
		    proto != IPPROTO_TCP)
			continue;
		len = sizeof(ss);
		if (!getpeername(fd, (struct sockaddr *)&ss, &len))
			set[fd] = 1;
	}
	if (d)
		closedir(d);
}

static int to_rts(struct ibv_qp *qp, uint32_t dest, uint8_t tclass)
{
	struct tqp_path p = tqp_path(dest, on_v6 ? &gid6 : &gid);

	p.sgid_index = on_v6 ? sgid6 : 0;
	p.traffic_class = tclass;
	return tqp_connect(qp, 0, &p) ? -1 : 0;
}

/* One SEND each way: both sockets exist and are connected after it. */
static int round_trip(struct pair *p)
{
	struct ibv_sge s = { .addr = (uintptr_t)p->buf,
			     .length = 8,
			     .lkey = p->mr->lkey };
	struct ibv_recv_wr rw = { .sg_list = &s, .num_sge = 1 }, *rbad;
	struct ibv_send_wr w = { .sg_list = &s,
				 .num_sge = 1,
				 .opcode = IBV_WR_SEND,
				 .send_flags = IBV_SEND_SIGNALED },
			   *bad;
	uint64_t t0 = now_ms();
	struct ibv_wc wc;
	int dir, got, k;

	for (dir = 0; dir < 2; dir++) {
		s.addr = (uintptr_t)p->buf + 64;
		if (ibv_post_recv(p->qp[!dir], &rw, &rbad))
			return -1;
		s.addr = (uintptr_t)p->buf;
		if (ibv_post_send(p->qp[dir], &w, &bad))
			return -1;
		for (got = 0; got < 2;) {
			k = ibv_poll_cq(p->cq, 1, &wc);
			if (k < 0 || now_ms() - t0 > TRIP_MS)
				return -1;
			if (k && wc.status != IBV_WC_SUCCESS)
				return -1;
			got += k;
		}
	}
	return 0;
}

static int qp_new(struct pair *p, int i)
{
	struct ibv_qp_init_attr ia = { .qp_type = IBV_QPT_RC,
				       .send_cq = p->cq,
				       .recv_cq = p->cq,
				       .cap = { .max_send_wr = 4,
						.max_recv_wr = 4,
						.max_send_sge = 1,
						.max_recv_sge = 1 } };

	p->qp[i] = ibv_create_qp(pd, &ia);
	return p->qp[i] ? 0 : -1;
}

/* Creates the pair's QPs (@cc: each one's own, or NULL), connects them. */
static int pair_new(struct pair *p, uint8_t tclass, const char *cc)
{
	unsigned char before[MAXFD], after[MAXFD];
	int i, n = 0;

	p->fd[0] = p->fd[1] = -1;
	p->cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	p->mr = ibv_reg_mr(pd, p->buf, sizeof(p->buf), IBV_ACCESS_LOCAL_WRITE);
	if (!p->cq || !p->mr || qp_new(p, 0) || qp_new(p, 1))
		return -1;
	for (i = 0; cc && i < 2; i++)
		if (tcpdv_modify_qp_cc(p->qp[i], cc))
			return -1;
	conn_fds(before, MAXFD);
	for (i = 0; i < 2; i++)
		if (to_rts(p->qp[i], p->qp[!i]->qp_num, tclass))
			return -1;
	if (round_trip(p))
		return -1;
	conn_fds(after, MAXFD);
	for (i = 0; i < MAXFD; i++)
		if (after[i] && !before[i] && n < 2)
			p->fd[n++] = i;
	return n == 2 ? 0 : -1;
}

static void sock_cc(int fd, char out[TCPDV_CC_NAME_MAX])
{
	socklen_t len = TCPDV_CC_NAME_MAX;

	memset(out, 0, TCPDV_CC_NAME_MAX);
	if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, out, &len))
		snprintf(out, TCPDV_CC_NAME_MAX, "?");
	out[TCPDV_CC_NAME_MAX - 1] = '\0';
}

/* The IPv4 TOS, or an IPv6 peer's socket's traffic class. */
static int sock_tos(int fd)
{
	struct sockaddr_in6 peer;
	socklen_t len = sizeof(peer);
	int v = -1;

	if (getpeername(fd, (struct sockaddr *)&peer, &len))
		return -1;
	len = sizeof(v);
	if (peer.sin6_family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED(&peer.sin6_addr)) {
		if (getsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &v, &len))
			return -1;
	} else if (getsockopt(fd, IPPROTO_IP, IP_TOS, &v, &len)) {
		return -1;
	}
	return v & ~3; /* DSCP: the kernel owns TCP's ECN bits */
}

/* Both sockets and both QPs of @p say @cc and @tos. */
static bool pair_is(struct pair *p, const char *cc, int tos)
{
	char name[TCPDV_CC_NAME_MAX];
	bool good = true;
	int i;

	for (i = 0; i < 2; i++) {
		sock_cc(p->fd[i], name);
		if (strcmp(name, cc) || sock_tos(p->fd[i]) != tos) {
			note("socket %d: %s tos 0x%x", p->fd[i], name,
			     sock_tos(p->fd[i]));
			good = false;
		}
		if (tcpdv_query_qp_cc(p->qp[i], name) || strcmp(name, cc)) {
			note("QP %u: tcpdv_query_qp_cc %s", p->qp[i]->qp_num,
			     name);
			good = false;
		}
	}
	return good;
}

static unsigned int port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* What `ss -tin --tos` (sock_diag) says of socket @fd: @cc and @tos. */
static bool ss_says(int fd, const char *cc, int tos)
{
	struct sockaddr_storage l, r;
	socklen_t ll = sizeof(l), rl = sizeof(r);
	char cmd[256], out[4096], want[TCPDV_CC_NAME_MAX + 2];
	unsigned int seen = 0;
	const char *t;
	size_t n;
	FILE *f;

	if (getsockname(fd, (struct sockaddr *)&l, &ll) ||
	    getpeername(fd, (struct sockaddr *)&r, &rl))
		return false;
	snprintf(cmd, sizeof(cmd),
		 "ss -Htin --tos state established "
		 "'( sport = :%u and dport = :%u )'",
		 port_of(&l), port_of(&r));
	f = popen(cmd, "r");
	if (!f)
		return false;
	n = fread(out, 1, sizeof(out) - 1, f);
	pclose(f);
	out[n] = '\0';
	/* an IPv6 socket's own is its traffic class */
	t = strstr(out, "tclass:0x");
	if (t)
		seen = strtoul(t + 7, NULL, 16);
	else if ((t = strstr(out, "tos:0x")))
		seen = strtoul(t + 4, NULL, 16);
	snprintf(want, sizeof(want), " %s ", cc);
	if (strstr(out, want) && (int)(seen & ~3u) == tos)
		return true;
	note("%s: %s", cmd, out);
	return false;
}

static bool ss_pair(struct pair *p, const char *cc, int tos)
{
	return ss_says(p->fd[0], cc, tos) && ss_says(p->fd[1], cc, tos);
}

/* The `rdma-tcp stat -j` entry of QP @qpn says "cc":@cc and "tos":@tos. */
static bool stat_says(const char *out, uint32_t qpn, const char *cc, int tos)
{
	char key[32], want[64];
	const char *e, *end;
	size_t n;

	snprintf(key, sizeof(key), "\"qpn\":%u,", qpn);
	e = strstr(out, key);
	end = e ? strstr(e, "\"counters\"") : NULL;
	if (!end)
		return false;
	n = (size_t)(end - e);
	snprintf(want, sizeof(want), "\"cc\":\"%s\"", cc);
	if (!memmem(e, n, want, strlen(want)))
		return false;
	snprintf(want, sizeof(want), "\"tos\":%d}", tos);
	return memmem(e, n, want, strlen(want)) != NULL;
}

static void step_stat(struct pair *pr, const char *cmd)
{
	static char out[1 << 16];
	size_t n = 0;
	FILE *f;
	int i, j;

	tc_section = "stat";
	f = popen(cmd, "r");
	if (f) {
		n = fread(out, 1, sizeof(out) - 1, f);
		pclose(f);
	}
	out[n] = '\0';
	for (i = 0; i < NPAIRS && pr[i].qp[1]; i++) {
		bool good = true;

		for (j = 0; j < 2; j++)
			good &= stat_says(out, pr[i].qp[j]->qp_num, final_cc[i],
					  final_tos[i]);
		CHECK(good, "%s: pair %d's QPs: %s, tos %d", cmd, i + 1,
		      final_cc[i], final_tos[i]);
		if (!good)
			note("%s", out);
	}
}

static void dev_cc(char out[TCPDV_CC_NAME_MAX])
{
	struct tcpdv_device_attr a = { .comp_mask = TCPDV_DEVICE_ATTR_CC };

	if (tcpdv_query_device(ctx, &a) ||
	    !(a.comp_mask & TCPDV_DEVICE_ATTR_CC))
		snprintf(out, TCPDV_CC_NAME_MAX, "?");
	else
		memcpy(out, a.cc, TCPDV_CC_NAME_MAX);
}

static void step_device(struct pair *pr, const char *cmd)
{
	char cc[TCPDV_CC_NAME_MAX];

	tc_section = "device";
	dev_cc(cc);
	CHECK(!strcmp(cc, "cubic"), "tcpdv_query_device: cubic (%s)", cc);
	CHECK(pair_new(&pr[0], 0x60, NULL) == 0, "pair 1 connects");
	CHECK(pair_is(&pr[0], "cubic", 0x60),
	      "its sockets: cubic, TOS 0x60 (the traffic class)");
	CHECK(system(cmd) == 0, "%s", cmd);
	dev_cc(cc);
	CHECK(!strcmp(cc, "bbr"), "tcpdv_query_device: bbr (%s)", cc);
	CHECK(pair_new(&pr[1], 0, NULL) == 0, "pair 2 connects");
	CHECK(pair_is(&pr[1], "bbr", 0), "its sockets: bbr, TOS 0");
	CHECK(pair_is(&pr[0], "cubic", 0x60), "pair 1 keeps cubic");
}

static void step_qp(struct pair *pr)
{
	tc_section = "per QP";
	CHECK(!tcpdv_modify_qp_cc(pr[1].qp[0], "reno") &&
		      !tcpdv_modify_qp_cc(pr[1].qp[1], "reno"),
	      "tcpdv_modify_qp_cc(reno) on pair 2's live QPs");
	CHECK(pair_is(&pr[1], "reno", 0), "their sockets switch to reno");
	CHECK(pair_new(&pr[2], 0xb8, "cubic") == 0,
	      "pair 3 (cubic per QP before RTR, traffic class 0xb8) connects");
	CHECK(pair_is(&pr[2], "cubic", 0xb8), "its sockets: cubic, TOS 0xb8");
	CHECK(!tcpdv_modify_qp_cc(pr[2].qp[0], NULL) &&
		      !tcpdv_modify_qp_cc(pr[2].qp[1], ""),
	      "tcpdv_modify_qp_cc(NULL / \"\") resets pair 3");
	CHECK(pair_is(&pr[2], "bbr", 0xb8), "back to the device's bbr");
}

static void step_refused(struct pair *pr)
{
	struct ibv_qp_init_attr ia = { .qp_type = IBV_QPT_UD,
				       .send_cq = pr[0].cq,
				       .recv_cq = pr[0].cq,
				       .cap = { .max_send_wr = 1,
						.max_recv_wr = 1,
						.max_send_sge = 1,
						.max_recv_sge = 1 } };
	char name[TCPDV_CC_NAME_MAX];
	struct ibv_qp *ud;
	int r;

	tc_section = "refused";
	errno = 0;
	r = tcpdv_modify_qp_cc(pr[0].qp[0], "nosuchcc");
	CHECK(r == EINVAL && errno == EINVAL, "an unknown name: EINVAL (%d)",
	      r);
	r = tcpdv_modify_qp_cc(pr[0].qp[0], "cubic_but_far_too_long");
	CHECK(r == EINVAL, "a name longer than the kernel's: EINVAL (%d)", r);
	CHECK(pair_is(&pr[0], "cubic", 0x60), "pair 1 unchanged: cubic");
	CHECK(tcpdv_modify_qp_cc(NULL, "reno") == EINVAL &&
		      tcpdv_query_qp_cc(pr[0].qp[0], NULL) == EINVAL,
	      "NULL arguments: EINVAL");
	ud = ibv_create_qp(pd, &ia);
	CHECK(ud && tcpdv_modify_qp_cc(ud, "reno") == EOPNOTSUPP &&
		      tcpdv_query_qp_cc(ud, name) == EOPNOTSUPP,
	      "a UD QP: EOPNOTSUPP");
	if (ud)
		ibv_destroy_qp(ud);
}

static void step_ss(struct pair *pr)
{
	int i;

	tc_section = "ss";
	for (i = 0; i < NPAIRS && pr[i].qp[1]; i++)
		CHECK(ss_pair(&pr[i], final_cc[i], final_tos[i]),
		      "pair %d: %s, tos 0x%x", i + 1, final_cc[i],
		      final_tos[i]);
}

/* The first GID that is IPv6 proper (not zero, not IPv4-mapped). */
static void find_gid6(void)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t zero[16];
	union ibv_gid g;
	int i;

	for (i = 0; i < 16 && sgid6 < 0; i++)
		if (!ibv_query_gid(ctx, 1, i, &g) && memcmp(g.raw, zero, 16) &&
		    memcmp(g.raw, mapped, 12)) {
			gid6 = g;
			sgid6 = i;
		}
}

static void step_v6(struct pair *pr)
{
	tc_section = "IPv6";
	find_gid6();
	if (sgid6 < 0) {
		ok("# SKIP the device has no IPv6 GID");
		return;
	}
	on_v6 = true;
	CHECK(pair_new(&pr[3], 0x28, NULL) == 0,
	      "pair 4 (GID %d, traffic class 0x28) connects", sgid6);
	on_v6 = false;
	CHECK(pair_is(&pr[3], "bbr", 0x28),
	      "its sockets: bbr, IPv6 traffic class 0x28");
}

static void step_unprivileged(struct pair *pr, const char *name,
			      const char *allowed)
{
	char def[TCPDV_CC_NAME_MAX] = "?";
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_congestion_control", "r");
	int r;

	tc_section = "unprivileged";
	if (f) {
		if (fscanf(f, "%15s", def) != 1)
			def[0] = '?';
		fclose(f);
	}
	CHECK(pair_new(&pr[0], 0x60, NULL) == 0 &&
		      pair_new(&pr[1], 0, NULL) == 0,
	      "two pairs connect though the device's %s is not allowed", name);
	CHECK(pair_is(&pr[0], def, 0x60) && pair_is(&pr[1], def, 0),
	      "with the default, %s (the traffic class all the same)", def);
	errno = 0;
	r = tcpdv_modify_qp_cc(pr[0].qp[0], name);
	CHECK(r == EPERM && errno == EPERM,
	      "tcpdv_modify_qp_cc(%s): EPERM (%d)", name, r);
	CHECK(pair_is(&pr[0], def, 0x60), "...and changes nothing");
	CHECK(!tcpdv_modify_qp_cc(pr[0].qp[0], allowed) &&
		      !tcpdv_modify_qp_cc(pr[0].qp[1], allowed) &&
		      pair_is(&pr[0], allowed, 0x60),
	      "%s, which this user may use, works", allowed);
}

static void pair_free(struct pair *p)
{
	int i;

	for (i = 0; i < 2; i++)
		if (p->qp[i])
			ibv_destroy_qp(p->qp[i]);
	if (p->mr)
		ibv_dereg_mr(p->mr);
	if (p->cq)
		ibv_destroy_cq(p->cq);
}

int main(int argc, char **argv)
{
	struct pair pr[NPAIRS] = { 0 };
	int i;

	if (argc < 3 || argc > 5) {
		fprintf(stderr,
			"usage: qp_net DEVICE 'LINK SET CC BBR' ['STAT -J']\n"
			"       qp_net DEVICE --unprivileged NAME ALLOWED\n");
		return 2;
	}
	tc_watchdog(60);
	ctx = open_dev(argv[1]);
	pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	if (!pd || ibv_query_gid(ctx, 1, 0, &gid)) {
		fail("open %s", argv[1]);
		return tc_report();
	}
	if (!strcmp(argv[2], "--unprivileged")) {
		if (argc == 5)
			step_unprivileged(pr, argv[3], argv[4]);
		else
			fail("--unprivileged needs NAME and ALLOWED");
		goto out;
	}
	step_device(pr, argv[2]);
	if (!tc_failed)
		step_qp(pr);
	if (!tc_failed)
		step_v6(pr);
	if (!tc_failed) {
		step_refused(pr);
		step_ss(pr);
		if (argc > 3)
			step_stat(pr, argv[3]);
	}
out:
	for (i = 0; i < NPAIRS; i++)
		pair_free(&pr[i]);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	return tc_report();
}
