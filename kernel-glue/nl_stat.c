// SPDX-License-Identifier: MIT
/*
 * `rdma statistic show` for registry devices (librdma-tcp-nl): the answer
 * to RDMA_NLDEV_CMD_STAT_GET has the counters of the port's hw_counters/
 * directory, which the device's daemon rewrites once a second
 * (hw_counters.c), each as it is at the moment of the request: the
 * retired totals plus the device's statistics files (stat_read.c), never
 * below what the file says (a caller that cannot read other users' files
 * counts only its own). Names in alphabetical order, as `ls` shows them.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rdma/rdma_netlink.h>
#include <rdma_tcp/registry.h>

#include "nl_preload.h"
#include "stat_read.h"

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

/* the counter @name now (@now: hw_ctr_values'), or as its file says */
static uint64_t current(const char *name, uint64_t file, const uint64_t *now)
{
	unsigned int i;

	for (i = 0; now && i < HW_CTR_N; i++)
		if (!strcmp(name, hw_ctr_name(i)))
			return now[i] > file ? now[i] : file;
	return file;
}

static void put_counters(struct nlp_msg *m, const char *dir,
			 const uint64_t *now)
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
				    current(names[i]->d_name, v, now));
			nlp_nest_end(m, entry);
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	nlp_nest_end(m, table);
}

/* the device's counters now; false if they cannot be summed */
static bool totals_now(const char *sysfs, const char *dev, const char *hwdir,
		       uint64_t v[HW_CTR_N])
{
	const char *root = secure_getenv(RDMA_TCP_ROOT_ENV);
	char retired[PATH_MAX], statdir[PATH_MAX];
	uint64_t tot[RTCP_STAT_N];

	if (snprintf(retired, sizeof(retired), "%s/class/infiniband/%s/%s",
		     sysfs, dev, HW_RETIRED_FILE) >= (int)sizeof(retired) ||
	    snprintf(statdir, sizeof(statdir), "%s/%s",
		     root && *root ? root : RDMA_TCP_DEFAULT_ROOT,
		     RTCP_STAT_DIR) >= (int)sizeof(statdir) ||
	    hw_totals_now(hwdir, retired, statdir, dev, tot))
		return false;
	hw_ctr_values(tot, v);
	return true;
}

bool nlp_msg_stat(struct nlp_msg *m, const struct nlp_dev *d, uint32_t port,
		  uint32_t seq, uint32_t portid)
{
	char *sysfs = nlp_registry_sysfs();
	uint64_t now[HW_CTR_N];
	char dir[PATH_MAX];
	bool have_now;
	int len;

	if (!sysfs)
		return false;
	len = snprintf(dir, sizeof(dir), "%s/class/infiniband/%s/ports/%u/%s",
		       sysfs, d->name, port, "hw_counters");
	have_now = port == 1 && len < (int)sizeof(dir) &&
		   totals_now(sysfs, d->name, dir, now);
	free(sysfs);
	if (len >= (int)sizeof(dir) || port < 1 || port > d->ports)
		return false;
	nlp_msg_start(m,
		      RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_STAT_GET),
		      0, seq, portid);
	nlp_put_u32(m, RDMA_NLDEV_ATTR_DEV_INDEX, d->index);
	nlp_put_str(m, RDMA_NLDEV_ATTR_DEV_NAME, d->name);
	nlp_put_u32(m, RDMA_NLDEV_ATTR_PORT_INDEX, port);
	put_counters(m, dir, have_now ? now : NULL);
	return true;
}
