/* SPDX-License-Identifier: MIT */
/*
 * One exact inet_diag query per socket: the kernel answers for sockets of
 * any process, so `rdma-tcp stat` needs neither the QP's process nor its
 * file descriptors (the same interface as `ss -ti`).
 */
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "stat_diag.h"

static void put_addr(const struct sockaddr *sa, __be16 *port, __be32 addr[4])
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)sa;

		*port = a->sin_port;
		memcpy(addr, &a->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;

		*port = a->sin6_port;
		memcpy(addr, &a->sin6_addr, 16);
	}
}

/*
 * TCP is found by its own side in src (the send orientation); UDP's exact
 * lookup is a receive lookup: the local side in dst ("src and dst are
 * swapped for historical reasons", net/ipv4/udp_diag.c), the peer -- here
 * none, the socket is not connected -- in src.
 */
static void fill_id(struct inet_diag_sockid *id, const struct sockaddr *l,
		    const struct sockaddr *r, int proto)
{
	if (proto == IPPROTO_UDP)
		put_addr(l, &id->idiag_dport, id->idiag_dst);
	else
		put_addr(l, &id->idiag_sport, id->idiag_src);
	if (r)
		put_addr(r, &id->idiag_dport, id->idiag_dst);
	id->idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	id->idiag_cookie[1] = INET_DIAG_NOCOOKIE;
}

static void take_meminfo(const struct rtattr *a, struct diag_info *out)
{
	uint32_t mem[SK_MEMINFO_VARS] = { 0 };
	size_t n = RTA_PAYLOAD(a);

	memcpy(mem, RTA_DATA(a), n < sizeof(mem) ? n : sizeof(mem));
	out->rcvbuf = mem[SK_MEMINFO_RCVBUF];
	out->drops = mem[SK_MEMINFO_DROPS];
}

static void take_attrs(struct inet_diag_msg *m, int len, struct diag_info *out)
{
	struct rtattr *a = (struct rtattr *)(m + 1);
	struct tcp_info ti;
	size_t n;

	out->state = m->idiag_state;
	out->rqueue = m->idiag_rqueue;
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == INET_DIAG_SKMEMINFO)
			take_meminfo(a, out);
		/* an IPv6 socket's own is its traffic class (a mapped IPv4
		 * peer's packets carry the TOS, which the provider sets to
		 * the same byte) */
		if ((a->rta_type == INET_DIAG_TOS &&
		     m->idiag_family == AF_INET) ||
		    (a->rta_type == INET_DIAG_TCLASS &&
		     m->idiag_family == AF_INET6))
			if (RTA_PAYLOAD(a) >= 1)
				out->tos = *(uint8_t *)RTA_DATA(a);
		if (a->rta_type == INET_DIAG_CONG)
			snprintf(out->cc, sizeof(out->cc), "%.*s",
				 (int)RTA_PAYLOAD(a), (char *)RTA_DATA(a));
		if (a->rta_type != INET_DIAG_INFO)
			continue;
		n = RTA_PAYLOAD(a);
		memset(&ti, 0, sizeof(ti));
		memcpy(&ti, RTA_DATA(a), n < sizeof(ti) ? n : sizeof(ti));
		out->rtt_us = ti.tcpi_rtt;
		out->rttvar_us = ti.tcpi_rttvar;
		out->snd_cwnd = ti.tcpi_snd_cwnd;
		out->total_retrans = ti.tcpi_total_retrans;
		out->delivery_rate = ti.tcpi_delivery_rate;
		out->bytes_acked = ti.tcpi_bytes_acked;
		out->bytes_received = ti.tcpi_bytes_received;
	}
}

static int diag_answer(int fd, struct diag_info *out)
{
	char buf[8192];
	struct nlmsghdr *h;
	ssize_t n = recv(fd, buf, sizeof(buf), 0);

	if (n < 0)
		return errno;
	for (h = (void *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			int e = -((struct nlmsgerr *)NLMSG_DATA(h))->error;

			return e ? e : ENOENT;
		}
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
			take_attrs(NLMSG_DATA(h),
				   (int)(h->nlmsg_len -
					 NLMSG_LENGTH(
						 sizeof(struct inet_diag_msg))),
				   out);
			return 0;
		}
	}
	return ENOENT;
}

static int diag_query(int proto, const struct sockaddr *local,
		      const struct sockaddr *peer, struct diag_info *out)
{
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 r;
	} req;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	int fd, err;

	if (local->sa_family != AF_INET && local->sa_family != AF_INET6)
		return ENOENT;
	memset(&req, 0, sizeof(req));
	memset(out, 0, sizeof(*out));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = local->sa_family;
	req.r.sdiag_protocol = (uint8_t)proto;
	req.r.idiag_ext = 1 << (INET_DIAG_INFO - 1) |
			  1 << (INET_DIAG_CONG - 1) | 1 << (INET_DIAG_TOS - 1) |
			  1 << (INET_DIAG_TCLASS - 1) |
			  1 << (INET_DIAG_SKMEMINFO - 1);
	req.r.idiag_states = ~0u;
	fill_id(&req.r.id, local, peer, proto);
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return errno;
	err = sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&nl,
		     sizeof(nl)) < 0
		      ? errno
		      : diag_answer(fd, out);
	close(fd);
	return err;
}

int diag_lookup(const struct sockaddr *local, const struct sockaddr *peer,
		struct diag_info *out)
{
	if (peer->sa_family != local->sa_family)
		return ENOENT;
	return diag_query(IPPROTO_TCP, local, peer, out);
}

int diag_lookup_udp(const struct sockaddr *local, struct diag_info *out)
{
	return diag_query(IPPROTO_UDP, local, NULL, out);
}

const char *diag_state_name(int state)
{
	static const char *const names[] = {
		"?",	      "ESTAB",	    "SYN-SENT",	 "SYN-RECV",
		"FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "CLOSE",
		"CLOSE-WAIT", "LAST-ACK",   "LISTEN",	 "CLOSING",
	};

	return state > 0 && state < 12 ? names[state] : "?";
}
