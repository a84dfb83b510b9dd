/* SPDX-License-Identifier: MIT */
/*
 * The GID table of port 1: the netdev's IP addresses as RoCE v2 GIDs, read
 * with libnl-3 and written as the kernel's sysfs files would show them.
 */
#ifndef RDMA_TCP_GID_TABLE_H
#define RDMA_TCP_GID_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include <rdma_tcp/registry.h>

struct nl_sock;

struct gid_table {
	/* entries 0..count-1 are used, the rest are zero */
	unsigned int count;
	/* addresses that did not fit in the table */
	unsigned int dropped;
	/* false when no netdev of that name exists in this netns */
	bool netdev_present;
	/* its index when present; not part of the files */
	unsigned int ifindex;
	uint8_t gid[RDMA_TCP_GID_TBL_LEN][16];
};

/*
 * Fill @tbl from the addresses of @ifname in the caller's network
 * namespace: IPv4 as ::ffff:a.b.c.d first, then IPv6 (every scope), each
 * family in the order the kernel lists it (`ip addr` order), tentative and
 * DAD-failed IPv6 addresses left out. Packing from index 0 keeps GID 0
 * non-zero whenever the netdev has an address. @sk is a connected
 * NETLINK_ROUTE socket. An absent netdev is not an error: the table is
 * empty and netdev_present false. Returns 0 or a negative errno.
 */
int gid_table_collect(struct nl_sock *sk, const char *ifname,
		      struct gid_table *tbl);

/* Whether two tables would produce the same files. */
bool gid_table_equal(const struct gid_table *a, const struct gid_table *b);

/*
 * Write ports/1/{gids,gid_attrs/types,gid_attrs/ndevs}/I under @portdir
 * (which holds the three directories already). With @old, only the entries
 * that differ from it are rewritten; without, all of them. Returns 0 or
 * the first negative errno (it still tries every file).
 */
int gid_table_write(const char *portdir, const char *ifname,
		    const struct gid_table *old, const struct gid_table *tbl);

#endif
