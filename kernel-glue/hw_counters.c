// SPDX-License-Identifier: MIT
/*
 * ports/1/hw_counters/ of a device (hw_counters.h). A kernel driver
 * computes these when they are read; a directory of plain files cannot,
 * so the device's daemon sums every second: the totals of the device's
 * contexts that are over (kept in DEV/tcp_hw_retired) plus what its live
 * contexts publish. A context that is over (closed, or its process died)
 * has its file removed here and its totals added to the retired ones, so
 * a counter never goes back when a process exits; a file is never lowered
 * either (a restarted daemon starts from what the files hold).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "fsutil.h"
#include "hw_counters.h"
#include "stat_read.h"

static uint64_t read_u64_file(const char *path)
{
	char buf[32];

	return fs_read_line(path, buf, sizeof(buf)) ? 0
						    : strtoull(buf, NULL, 10);
}

static int retired_save(const struct hw_ctrs *h)
{
	char buf[RTCP_STAT_N * 48];
	size_t n = 0;
	unsigned int i;

	for (i = 0; i < RTCP_STAT_N; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
				      "%s %" PRIu64 "\n", stat_ctr_names[i],
				      h->retired[i]);
	return fs_write_atomic(h->retired_path, buf, n);
}

int hw_ctrs_init(struct hw_ctrs *h, const struct reg_root *r, const char *name,
		 const char *devdir)
{
	char path[PATH_MAX];
	unsigned int i;
	int err;

	memset(h, 0, sizeof(*h));
	snprintf(h->dev, sizeof(h->dev), "%s", name);
	err = fs_path(h->dir, sizeof(h->dir), "%s/ports/1/hw_counters", devdir);
	if (!err)
		err = fs_path(h->retired_path, sizeof(h->retired_path),
			      "%s/" HW_RETIRED_FILE, devdir);
	if (!err)
		err = fs_path(h->statdir, sizeof(h->statdir), "%s/%s", r->path,
			      RTCP_STAT_DIR);
	if (err)
		return err;
	if (mkdir(h->dir, 0755) && errno != EEXIST)
		return -errno;
	hw_retired_load(h->retired_path, h->retired);
	for (i = 0; i < HW_CTR_N; i++)
		if (!fs_path(path, sizeof(path), "%s/%s", h->dir,
			     hw_ctr_name(i)))
			h->shown[i] = read_u64_file(path);
	return 0;
}

/*
 * The device's live contexts summed into live[]; those that are over are
 * removed and added to h->retired. Returns how many were taken in.
 */
static unsigned int sum_contexts(struct hw_ctrs *h, uint64_t live[])
{
	static struct rtcp_stat_file f; /* large: not on the stack */
	unsigned int taken = 0;
	struct dirent *e;
	DIR *d = opendir(h->statdir);

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' ||
		    stat_snapshot(dirfd(d), e->d_name, &f) ||
		    strncmp(f.dev, h->dev, sizeof(f.dev)))
			continue;
		if (!stat_file_over(&f)) {
			stat_file_add(&f, live);
			continue;
		}
		/* gone from the directory first: never counted twice */
		if (unlinkat(dirfd(d), e->d_name, 0))
			continue;
		stat_file_add(&f, h->retired);
		taken++;
	}
	if (d)
		closedir(d);
	return taken;
}

static void write_ctr(struct hw_ctrs *h, unsigned int i, uint64_t v)
{
	char path[PATH_MAX], buf[32];
	int n;

	if (fs_path(path, sizeof(path), "%s/%s", h->dir, hw_ctr_name(i)))
		return;
	n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", v);
	if (!fs_write_atomic(path, buf, (size_t)n))
		h->shown[i] = v;
}

/*
 * Sums the device's contexts, taking in those that are over, under the
 * exclusive lock on the counters' directory: a reader of the totals
 * (hw_totals_now, under the shared lock) sees each context once, in its
 * file or in the retired totals.
 */
static void sum_locked(struct hw_ctrs *h, uint64_t tot[RTCP_STAT_N])
{
	int lock = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	unsigned int i;

	if (lock >= 0 && flock(lock, LOCK_EX)) {
		close(lock);
		lock = -1;
	}
	if (sum_contexts(h, tot))
		h->retired_dirty = true;
	if (h->retired_dirty) {
		h->retired_dirty = retired_save(h) != 0;
		if (h->retired_dirty)
			syslog(LOG_ERR, "%s: cannot write %s", h->dev,
			       h->retired_path);
	}
	if (lock >= 0)
		close(lock); /* (the lock goes with it) */
	for (i = 0; i < RTCP_STAT_N; i++)
		tot[i] += h->retired[i];
}

void hw_ctrs_refresh(struct hw_ctrs *h)
{
	uint64_t tot[RTCP_STAT_N] = { 0 }, v[HW_CTR_N];
	struct stat st;
	unsigned int i;

	/* the directory is made again if someone removed it */
	if (stat(h->dir, &st) && mkdir(h->dir, 0755))
		return;
	sum_locked(h, tot);
	hw_ctr_values(tot, v);
	for (i = 0; i < HW_CTR_N; i++) {
		char path[PATH_MAX];

		/* a counter never goes back, even when a reader's copy of a
		 * context raced its QPs' destroys */
		if (v[i] < h->shown[i])
			v[i] = h->shown[i];
		if (v[i] != h->shown[i] ||
		    (!fs_path(path, sizeof(path), "%s/%s", h->dir,
			      hw_ctr_name(i)) &&
		     access(path, F_OK)))
			write_ctr(h, i, v[i]);
	}
}
