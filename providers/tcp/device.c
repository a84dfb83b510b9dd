// SPDX-License-Identifier: MIT
/*
 * Provider registration and device discovery: which registry entries are
 * ours, and what each one is bound to (netdev, GUIDs).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rdma_tcp/registry.h>

#include "tcp.h"

/* Reads a one-line registry file below the device directory. */
static int read_attr(const char *dir, const char *name, char *buf, size_t sz)
{
	char path[IBV_SYSFS_PATH_MAX + 64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sz - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

static uint64_t parse_guid(const char *s)
{
	unsigned int p[4];
	uint64_t g = 0;
	int i;

	if (sscanf(s, "%x:%x:%x:%x", &p[0], &p[1], &p[2], &p[3]) != 4)
		return 0;
	for (i = 0; i < 4; i++)
		g = g << 16 | (p[i] & 0xffff);
	return htobe64(g);
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
	snprintf(path, sizeof(path), "/sys/class/net/%s", netdev);
	if (speed_mbps && read_attr(path, "speed", buf, sizeof(buf)) == 0)
		*speed_mbps = atoi(buf);
	return ret;
}

/* Inode of this process's network namespace, to tell hosts apart. */
static unsigned long current_netns(void)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st))
		return 0;
	return (unsigned long)st.st_ino;
}

/*
 * A device is ours when its name has our prefix, the registry marked it as
 * a tcp device, and it was created in this network namespace: a device of
 * another namespace names a netdev this process cannot reach.
 */
static bool tcp_match_device(struct verbs_sysfs_dev *sdev)
{
	char buf[64];

	if (strncmp(sdev->ibdev_name, RDMA_TCP_NAME_PREFIX,
		    strlen(RDMA_TCP_NAME_PREFIX)))
		return false;
	if (read_attr(sdev->ibdev_path, "tcp_uverbs", buf, sizeof(buf)))
		return false;
	if (read_attr(sdev->ibdev_path, "tcp_netns", buf, sizeof(buf)) == 0 &&
	    strtoul(buf, NULL, 10) != current_netns())
		return false;
	return true;
}

static struct verbs_device *tcp_alloc_device(struct verbs_sysfs_dev *sdev)
{
	struct tcp_device *dev;
	char buf[64];

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	snprintf(dev->ibdev_path, sizeof(dev->ibdev_path), "%s",
		 sdev->ibdev_path);
	if (read_attr(sdev->ibdev_path, "parent", dev->netdev,
		      sizeof(dev->netdev))) {
		free(dev);
		return NULL;
	}
	if (read_attr(sdev->ibdev_path, "node_guid", buf, sizeof(buf)) == 0)
		dev->node_guid = parse_guid(buf);
	if (read_attr(sdev->ibdev_path, "sys_image_guid", buf, sizeof(buf)) ==
	    0)
		dev->sys_image_guid = parse_guid(buf);
	else
		dev->sys_image_guid = dev->node_guid;
	if (read_attr(sdev->ibdev_path, "fw_ver", dev->fw_ver,
		      sizeof(dev->fw_ver)))
		snprintf(dev->fw_ver, sizeof(dev->fw_ver), "0.0.0");
	return &dev->vdev;
}

static void tcp_uninit_device(struct verbs_device *vdev)
{
	free(container_of(vdev, struct tcp_device, vdev));
}

struct verbs_context *tcp_alloc_context(struct ibv_device *ibdev, int cmd_fd,
					void *private_data);

static const struct verbs_device_ops tcp_dev_ops = {
	.name = "tcp",
	.match_min_abi_version = RDMA_TCP_UVERBS_ABI,
	.match_max_abi_version = RDMA_TCP_UVERBS_ABI,
	.match_device = tcp_match_device,
	.alloc_device = tcp_alloc_device,
	.uninit_device = tcp_uninit_device,
	.alloc_context = tcp_alloc_context,
};

/* libibverbs dlopen()s the provider; registering is all the loader does. */
static void __attribute__((constructor)) tcp_register(void)
{
	verbs_register_driver_34(&tcp_dev_ops);
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
