// SPDX-License-Identifier: MIT
/*
 * The kernel's RDMA devices inside the registry's sysfs view.
 *
 * Under `rdma-tcp env`, SYSFS_PATH=ROOT/sys, and libibverbs builds every
 * device's ibdev_path from it, kernel devices (listed through RDMA netlink)
 * included: their sysfs reads (GID table fallback, providers' attributes)
 * would miss without ROOT/sys/class/infiniband/KDEV. Each is a symbolic
 * link to the kernel's /sys/class/infiniband/KDEV: the registry's own
 * listing skips links (dev_filter), and a device name taken by the kernel
 * is taken for `link add` too. Refreshed by `link add` and by `env`/`run`
 * (kernel devices come and go); links whose device is gone are removed.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "registry_int.h"

#define KERNEL_IB_CLASS "/sys/class/infiniband"

/* a link to a kernel device that is gone */
static bool stale_link(const char *path)
{
	char target[PATH_MAX];
	struct stat st;
	ssize_t n;

	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	if (strncmp(target, KERNEL_IB_CLASS "/", strlen(KERNEL_IB_CLASS) + 1))
		return false;
	return stat(target, &st) && errno == ENOENT;
}

static int add_links(const char *ibdir)
{
	char dst[PATH_MAX], src[PATH_MAX];
	struct dirent *de;
	struct stat st;
	int err = 0;
	DIR *d;

	d = opendir(KERNEL_IB_CLASS);
	if (!d)
		return 0; /* no ib_core: nothing to mirror */
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' ||
		    fs_path(dst, sizeof(dst), "%s/%s", ibdir, de->d_name) ||
		    fs_path(src, sizeof(src), KERNEL_IB_CLASS "/%s",
			    de->d_name))
			continue;
		if (!lstat(dst, &st))
			continue; /* mirrored, or a registry device */
		if (symlink(src, dst) && errno != EEXIST && !err)
			err = -errno;
	}
	closedir(d);
	return err;
}

int reg_mirror_kernel(const struct reg_root *r)
{
	char ibdir[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	int err;
	DIR *d;

	err = fs_path(ibdir, sizeof(ibdir), "%s/sys/class/infiniband", r->path);
	if (err)
		return err;
	d = opendir(ibdir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_type != DT_LNK ||
		    fs_path(path, sizeof(path), "%s/%s", ibdir, de->d_name))
			continue;
		if (stale_link(path) && unlink(path) && !err)
			err = -errno;
	}
	closedir(d);
	return add_links(ibdir) ?: err;
}
