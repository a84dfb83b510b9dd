// SPDX-License-Identifier: MIT
/*
 * Provider registration and device discovery: which registry entries are
 * ours, and what each one is bound to (netdev, GUIDs).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Inode of this process's network namespace, to tell hosts apart. */
static unsigned long current_netns(void)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st))
		return 0;
	return (unsigned long)st.st_ino;
}

/*
 * The registry's directory of a device libibverbs placed under the
 * kernel's /sys: with no SYSFS_PATH (an installed rdma-tcp, its netlink
 * library in /etc/ld.so.preload), libibverbs builds every ibdev_path as
 * /sys/class/infiniband/NAME, where no tcp device is. The device is the
 * registry's ($RDMA_TCP_ROOT or /run/rdma-tcp) when that has NAME marked
 * with the same uverbsN; then its ibdev_path becomes the registry's, so
 * libibverbs' own sysfs reads (GIDs, pkeys) and ours go there. Kernel
 * devices keep their paths (docs/design.md, "Installed: no environment").
 */
static bool tcp_registry_path(struct verbs_sysfs_dev *sdev)
{
	const char *root = secure_getenv(RDMA_TCP_ROOT_ENV);
	char path[IBV_SYSFS_PATH_MAX], buf[64];

	if (!root || root[0] != '/')
		root = RDMA_TCP_DEFAULT_ROOT;
	if (snprintf(path, sizeof(path), "%s/sys/class/infiniband/%s", root,
		     sdev->ibdev_name) >= (int)sizeof(path))
		return false;
	if (read_attr(path, "tcp_uverbs", buf, sizeof(buf)) ||
	    strcmp(buf, sdev->sysfs_name))
		return false;
	memcpy(sdev->ibdev_path, path, sizeof(path));
	return true;
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
	if (read_attr(sdev->ibdev_path, "tcp_uverbs", buf, sizeof(buf)) &&
	    !tcp_registry_path(sdev))
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

/*
 * No table entry matches: tcp_match_device decides. The table must still
 * exist: for a device listed through RDMA netlink with a driver id (a
 * kernel device, e.g. rxe), libibverbs 44 walks every provider's table
 * without a NULL check (try_drivers -> match_driver_id, libibverbs/init.c).
 */
static const struct verbs_match_ent tcp_match_table[] = {
	{ .kind = VABI_MATCH_SENTINEL },
};

static const struct verbs_device_ops tcp_dev_ops = {
	.name = "tcp",
	.match_min_abi_version = RDMA_TCP_UVERBS_ABI,
	.match_max_abi_version = RDMA_TCP_UVERBS_ABI,
	.match_table = tcp_match_table,
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
