// SPDX-License-Identifier: MIT
/*
 * The netdev a device is bound to, as the kernel reports it: its state
 * (up, MTU, speed) and its addresses (the GID table), and a GID as a
 * socket address. Used by the device queries, the connections, the
 * listeners and port events; calls nothing of the provider.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp.h"

/* Reads a one-line file (a sysfs attribute); 0 on success. */
static int read_line(const char *path, char *buf, size_t sz)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sz - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

int tcp_netdev_state(const char *netdev, int *up, int *mtu, int *speed_mbps)
{
	struct ifreq ifr = { 0 };
	char path[128], buf[32];
	int fd, ret = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", netdev);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		ret = errno;
		*up = 0;
	} else {
		/* lo never reports a carrier; UP is all it has */
		*up = (ifr.ifr_flags & IFF_UP) &&
		      ((ifr.ifr_flags & IFF_RUNNING) ||
		       (ifr.ifr_flags & IFF_LOOPBACK));
	}
	*mtu = 1500;
	if (!ret && ioctl(fd, SIOCGIFMTU, &ifr) == 0)
		*mtu = ifr.ifr_mtu;
	close(fd);

	*speed_mbps = -1;
	snprintf(path, sizeof(path), "/sys/class/net/%s/speed", netdev);
	if (speed_mbps && read_line(path, buf, sizeof(buf)) == 0)
		*speed_mbps = atoi(buf);
	return ret;
}

/* Adds one RTM_NEWADDR record of ifindex to out (see tcp_netdev_addrs). */
static void addr_record(struct nlmsghdr *h, int ifindex, struct tcp_addr *out,
			int *n, int max)
{
	struct ifaddrmsg *a = NLMSG_DATA(h);
	int len = (int)IFA_PAYLOAD(h);
	uint32_t flags = a->ifa_flags;
	const void *local = NULL, *addr = NULL;
	struct rtattr *rta;
	struct tcp_addr t = { 0 };

	if ((int)a->ifa_index != ifindex ||
	    (a->ifa_family != AF_INET && a->ifa_family != AF_INET6))
		return;
	for (rta = IFA_RTA(a); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == IFA_LOCAL)
			local = RTA_DATA(rta);
		else if (rta->rta_type == IFA_ADDRESS)
			addr = RTA_DATA(rta);
		else if (rta->rta_type == IFA_FLAGS &&
			 RTA_PAYLOAD(rta) >= sizeof(flags))
			memcpy(&flags, RTA_DATA(rta), sizeof(flags));
	}
	/* as the GID table: not (yet) usable as an address */
	if ((flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) || *n >= max)
		return;
	if (!local)
		local = addr;
	if (!local)
		return;
	if (a->ifa_family == AF_INET) {
		t.gid[10] = t.gid[11] = 0xff;
		memcpy(t.gid + 12, local, 4);
	} else {
		memcpy(t.gid, local, 16);
		if (IN6_IS_ADDR_LINKLOCAL((const struct in6_addr *)local))
			t.scope = (uint32_t)ifindex;
	}
	out[(*n)++] = t;
}

/* One RTM_GETADDR dump; -EAGAIN when it raced with a change. */
static int addr_dump(int fd, int ifindex, struct tcp_addr *out, int max)
{
	struct {
		struct nlmsghdr h;
		struct ifaddrmsg a;
	} req = {
		.h = { .nlmsg_len = sizeof(req),
		       .nlmsg_type = RTM_GETADDR,
		       .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		       .nlmsg_seq = 1 },
		.a = { .ifa_family = AF_UNSPEC },
	};
	/* aligned for the nlmsghdr casts */
	uint64_t buf[2048];
	bool intr = false;
	int n = 0;

	if (send(fd, &req, sizeof(req), 0) < 0)
		return -errno;
	for (;;) {
		ssize_t got = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		int len = (int)got;

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_flags & NLM_F_DUMP_INTR)
				intr = true;
			if (h->nlmsg_type == NLMSG_DONE)
				return intr ? -EAGAIN : n;
			if (h->nlmsg_type == NLMSG_ERROR)
				return -EIO;
			if (h->nlmsg_type == RTM_NEWADDR)
				addr_record(h, ifindex, out, &n, max);
		}
	}
}

int tcp_netdev_addrs(const char *netdev, struct tcp_addr *out, int max)
{
	int ifindex = (int)if_nametoindex(netdev);
	int fd, n = -EAGAIN, tries;

	if (!ifindex)
		return 0; /* the netdev is gone: no address */
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	/* a dump that raced with an address change is simply asked again */
	for (tries = 0; tries < 5 && n == -EAGAIN; tries++)
		n = addr_dump(fd, ifindex, out, max);
	close(fd);
	return n;
}

bool tcp_gid_is_v4(const union ibv_gid *g)
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0,	   0,
					 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(g->raw, pfx, 12);
}

socklen_t tcp_gid_sockaddr(const union ibv_gid *g, uint16_t port,
			   uint32_t scope, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (tcp_gid_is_v4(g)) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		memcpy(&s->sin_addr, g->raw + 12, 4);
		return sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		memcpy(&s->sin6_addr, g->raw, 16);
		if (IN6_IS_ADDR_LINKLOCAL(&s->sin6_addr))
			s->sin6_scope_id = scope;
		return sizeof(*s);
	}
}
