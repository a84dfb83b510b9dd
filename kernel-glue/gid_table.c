// SPDX-License-Identifier: MIT
/* Collect and write the GID table; see gid_table.h. */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/if_addr.h>
#include <netlink/netlink.h>
#include <netlink/cache.h>
#include <netlink/route/addr.h>

#include "fsutil.h"
#include "gid_table.h"
#include "glue_util.h"

/* "RoCE v2" is what the kernel shows for IB_GID_TYPE_ROCE_UDP_ENCAP. */
#define GID_TYPE_STR "RoCE v2\n"
/* A dump raced with a change (NLM_F_DUMP_INTR): simply ask again. */
#define DUMP_RETRIES 5

static bool gid_in_table(const struct gid_table *tbl, const uint8_t gid[16])
{
	unsigned int i;

	for (i = 0; i < tbl->count; i++)
		if (!memcmp(tbl->gid[i], gid, 16))
			return true;
	return false;
}

static void add_family(struct nl_cache *cache, int ifindex, int family,
		       struct gid_table *tbl)
{
	struct nl_object *obj;

	for (obj = nl_cache_get_first(cache); obj;
	     obj = nl_cache_get_next(obj)) {
		struct rtnl_addr *addr = (struct rtnl_addr *)obj;
		struct nl_addr *local;
		uint8_t gid[16];
		unsigned int len;

		if (rtnl_addr_get_ifindex(addr) != ifindex ||
		    rtnl_addr_get_family(addr) != family)
			continue;
		/* not (yet) usable as a source or destination address */
		if (rtnl_addr_get_flags(addr) &
		    (IFA_F_TENTATIVE | IFA_F_DADFAILED))
			continue;
		/* IFA_LOCAL, or IFA_ADDRESS when there is no peer */
		local = rtnl_addr_get_local(addr);
		if (!local || nl_addr_get_family(local) != family)
			continue;
		len = nl_addr_get_len(local);
		if (family == AF_INET && len == 4)
			rtcp_gid_from_ipv4(nl_addr_get_binary_addr(local), gid);
		else if (family == AF_INET6 && len == 16)
			memcpy(gid, nl_addr_get_binary_addr(local), 16);
		else
			continue;
		/* a zero GID would read as an unused entry */
		if (rtcp_gid_is_zero(gid) || gid_in_table(tbl, gid))
			continue;
		if (tbl->count == RDMA_TCP_GID_TBL_LEN) {
			tbl->dropped++;
			continue;
		}
		memcpy(tbl->gid[tbl->count++], gid, 16);
	}
}

/* libnl error codes are their own; map the likely ones back to errno. */
static int nlerr_to_errno(int nlerr)
{
	switch (-nlerr) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_PERM:
		return -EPERM;
	case NLE_DUMP_INTR:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

int gid_table_collect(struct nl_sock *sk, const char *ifname,
		      struct gid_table *tbl)
{
	struct nl_cache *cache = NULL;
	unsigned int ifindex;
	int err = 0, attempt;

	memset(tbl, 0, sizeof(*tbl));
	ifindex = if_nametoindex(ifname);
	if (!ifindex)
		return errno == ENODEV || errno == ENXIO ? 0 : -errno;
	if (ifindex > INT_MAX)
		return -ERANGE;
	for (attempt = 0; attempt < DUMP_RETRIES; attempt++) {
		err = rtnl_addr_alloc_cache(sk, &cache);
		if (err != -NLE_DUMP_INTR)
			break;
	}
	if (err < 0)
		return nlerr_to_errno(err);
	tbl->netdev_present = true;
	tbl->ifindex = ifindex;
	/* The dump lists IPv4 before IPv6; two passes make sure of it. */
	add_family(cache, (int)ifindex, AF_INET, tbl);
	add_family(cache, (int)ifindex, AF_INET6, tbl);
	nl_cache_free(cache);
	return 0;
}

bool gid_table_equal(const struct gid_table *a, const struct gid_table *b)
{
	return a->count == b->count && !memcmp(a->gid, b->gid, sizeof(a->gid));
}

static int write_entry(const char *portdir, const char *sub, unsigned int i,
		       const char *content)
{
	char path[PATH_MAX];
	int err;

	err = fs_path(path, sizeof(path), "%s/%s/%u", portdir, sub, i);
	if (err)
		return err;
	return fs_write_str(path, content);
}

int gid_table_write(const char *portdir, const char *ifname,
		    const struct gid_table *old, const struct gid_table *tbl)
{
	char ndev[IF_NAMESIZE + 1], gid[RTCP_GID_STR_LEN + 1];
	int err = 0, e;
	unsigned int i;

	e = fs_path(ndev, sizeof(ndev), "%s\n", ifname);
	if (e)
		return e;
	/*
	 * Readers (libibverbs) take an entry file by file, so order the
	 * writes: an entry's attributes are in place before its GID turns
	 * non-zero, and its GID is zero before its attributes are cleared.
	 */
	for (i = 0; i < RDMA_TCP_GID_TBL_LEN; i++) {
		bool used = i < tbl->count;

		if (!old) {
			/* the type never changes: written once, at creation */
			e = write_entry(portdir, "gid_attrs/types", i,
					GID_TYPE_STR);
			if (e && !err)
				err = e;
		}
		if (used && (!old || i >= old->count)) {
			e = write_entry(portdir, "gid_attrs/ndevs", i, ndev);
			if (e && !err)
				err = e;
		}
	}
	for (i = 0; i < RDMA_TCP_GID_TBL_LEN; i++) {
		static const uint8_t zero[16];
		const uint8_t *g = i < tbl->count ? tbl->gid[i] : zero;
		const uint8_t *o = old && i < old->count ? old->gid[i] : zero;

		if (old && !memcmp(g, o, 16))
			continue;
		rtcp_gid_format(g, gid);
		strcat(gid, "\n");
		e = write_entry(portdir, "gids", i, gid);
		if (e && !err)
			err = e;
	}
	for (i = tbl->count; i < RDMA_TCP_GID_TBL_LEN; i++) {
		/* unused: an empty file, so readers get "no netdev" */
		if (old && i >= old->count)
			continue;
		e = write_entry(portdir, "gid_attrs/ndevs", i, "");
		if (e && !err)
			err = e;
	}
	return err;
}
