// SPDX-License-Identifier: MIT
/* Netdev and network namespace queries; see netdev.h. */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include "netdev.h"

int netdev_hwaddr(struct nl_sock *sk, unsigned int ifindex, uint8_t *buf,
		  size_t *len)
{
	struct rtnl_link *link = NULL;
	struct nl_addr *addr;
	unsigned int alen;
	int err;

	if (ifindex > INT_MAX)
		return -ERANGE;
	err = rtnl_link_get_kernel(sk, (int)ifindex, NULL, &link);
	if (err < 0)
		return err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV ? -ENODEV
								     : -EIO;
	addr = rtnl_link_get_addr(link);
	alen = addr ? nl_addr_get_len(addr) : 0;
	if (!alen) {
		err = -ENODATA;
	} else if (alen > *len) {
		err = -EOVERFLOW;
	} else {
		memcpy(buf, nl_addr_get_binary_addr(addr), alen);
		*len = alen;
		err = 0;
	}
	rtnl_link_put(link);
	return err;
}

int netdev_flags(const char *ifname, unsigned int *flags)
{
	struct ifreq ifr;
	int fd, err = 0;

	if (strlen(ifname) >= sizeof(ifr.ifr_name))
		return -ENODEV;
	/* any socket will do for SIOCGIFFLAGS; AF_UNIX works without IPv4 */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(fd, SIOCGIFFLAGS, &ifr))
		err = errno == ENXIO ? -ENODEV : -errno;
	else
		*flags = (unsigned short)ifr.ifr_flags;
	close(fd);
	return err;
}

int netns_inode(unsigned long long *ino)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st))
		return -errno;
	*ino = (unsigned long long)st.st_ino;
	return 0;
}
