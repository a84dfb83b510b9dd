// SPDX-License-Identifier: MIT
/*
 * `rdma statistic show` for registry devices (librdma-tcp-nl): the answer
 * to RDMA_NLDEV_CMD_STAT_GET is the port's hw_counters/ directory, which
 * the device's daemon keeps (kernel-glue/hw_counters.c), so netlink and
 * sysfs readers see the same numbers. Names in alphabetical order, as
 * `ls` shows the directory.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rdma/rdma_netlink.h>

#include "nl_preload.h"

static bool read_u64(const char *dir, const char *name, uint64_t *v)
{
	char path[PATH_MAX], buf[32];
	bool ok = false;
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return false;
	f = fopen(path, "re");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f)) {
		*v = strtoull(buf, NULL, 10);
		ok = true;
	}
	fclose(f);
	return ok;
}

static void put_counters(struct nlp_msg *m, const char *dir)
{
	struct dirent **names;
	size_t table, entry;
	uint64_t v;
	int i, n = scandir(dir, &names, NULL, alphasort);

	table = nlp_nest_start(m, RDMA_NLDEV_ATTR_STAT_HWCOUNTERS);
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.' &&
		    read_u64(dir, names[i]->d_name, &v)) {
			entry = nlp_nest_start(
				m, RDMA_NLDEV_ATTR_STAT_HWCOUNTER_ENTRY);
			nlp_put_str(m,
				    RDMA_NLDEV_ATTR_STAT_HWCOUNTER_ENTRY_NAME,
				    names[i]->d_name);
			nlp_put_u64(m,
				    RDMA_NLDEV_ATTR_STAT_HWCOUNTER_ENTRY_VALUE,
				    v);
			nlp_nest_end(m, entry);
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	nlp_nest_end(m, table);
}

bool nlp_msg_stat(struct nlp_msg *m, const struct nlp_dev *d, uint32_t port,
		  uint32_t seq, uint32_t portid)
{
	char *sysfs = nlp_registry_sysfs();
	char dir[PATH_MAX];
	int len;

	if (!sysfs)
		return false;
	len = snprintf(dir, sizeof(dir),
		       "%s/class/infiniband/%s/ports/%u/"
		       "hw_counters",
		       sysfs, d->name, port);
	free(sysfs);
	if (len >= (int)sizeof(dir) || port < 1 || port > d->ports)
		return false;
	nlp_msg_start(m,
		      RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_STAT_GET),
		      0, seq, portid);
	nlp_put_u32(m, RDMA_NLDEV_ATTR_DEV_INDEX, d->index);
	nlp_put_str(m, RDMA_NLDEV_ATTR_DEV_NAME, d->name);
	nlp_put_u32(m, RDMA_NLDEV_ATTR_PORT_INDEX, port);
	put_counters(m, dir);
	return true;
}
