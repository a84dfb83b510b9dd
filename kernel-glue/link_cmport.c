// SPDX-License-Identifier: MIT
/*
 * `rdma-tcp link add/set NAME ... cmport PORT`: the TCP port of the
 * device's rdma_cm control listener (include/rdma_tcp/registry.h,
 * NAME/tcp_cm_port; librdmacm-ext/cm_route.c). rdma_cm ports are virtual;
 * this one port is the only TCP port rdma_cm takes, the same on every
 * host of a fabric (an active side connects to its own device's port on
 * the peer). Processes read it when they first open the device.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rdma_tcp/registry.h>

#include "cli.h"
#include "fsutil.h"
#include "glue_util.h"
#include "registry_int.h"

const char *cm_port_check(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || !v || v > 65535)
		return "cmport is a TCP port, 1 to 65535";
	return NULL;
}

int cmd_link_cmport(const char *name, const char *port)
{
	char dir[PATH_MAX], path[PATH_MAX], text[16];
	const char *why = rtcp_check_dev_name(name);
	struct reg_root root;
	struct stat st;
	int lock, err;

	if (why) {
		rtcp_err("invalid device name \"%s\": %s", name, why);
		return RTCP_EXIT_FAIL;
	}
	if (geteuid() != 0) {
		rtcp_err("must be root to change devices");
		return RTCP_EXIT_FAIL;
	}
	if (reg_root_get(&root))
		return RTCP_EXIT_FAIL;
	if (reg_dev_dir(&root, name, dir, sizeof(dir)) || lstat(dir, &st) ||
	    !S_ISDIR(st.st_mode)) {
		rtcp_err("%s: no such device", name);
		return RTCP_EXIT_FAIL;
	}
	snprintf(text, sizeof(text), "%lu\n", strtoul(port, NULL, 10));
	umask(022);
	lock = reg_lock(&root);
	err = lock < 0 ? lock
		       : fs_path(path, sizeof(path), "%s/%s", dir,
				 RDMA_TCP_CM_PORT_FILE);
	if (!err)
		err = fs_write_str(path, text);
	reg_unlock(lock);
	if (err)
		rtcp_err("cannot write %s/%s: %s", dir, RDMA_TCP_CM_PORT_FILE,
			 strerror(-err));
	return err ? RTCP_EXIT_FAIL : RTCP_EXIT_OK;
}
