/* SPDX-License-Identifier: MIT */
/* What the tool asks about a netdev and the network namespace it is in. */
#ifndef RDMA_TCP_NETDEV_H
#define RDMA_TCP_NETDEV_H

#include <stddef.h>
#include <stdint.h>

struct nl_sock;

/*
 * The link-layer address of netdev @ifindex into @buf (*@len bytes of
 * room; set to the address length). -ENODATA when it has none (tun).
 */
int netdev_hwaddr(struct nl_sock *sk, unsigned int ifindex, uint8_t *buf,
		  size_t *len);

/* IFF_* flags of @ifname in this netns; -ENODEV when absent. */
int netdev_flags(const char *ifname, unsigned int *flags);

/* The inode of this process's network namespace (/proc/self/ns/net). */
int netns_inode(unsigned long long *ino);

#endif
