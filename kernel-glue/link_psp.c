// SPDX-License-Identifier: MIT
/*
 * `rdma-tcp link set NAME psp ... cc ...` and `link rotate NAME`: the
 * security configuration (and congestion control, link_cc.c) of an
 * existing device. Both replace one registry file by
 * rename(), under the registry lock, so concurrent runs neither lose an
 * update nor show a reader half a file. Contexts read tcp_psp when they
 * open (so a change applies to connections made afterwards) and poll
 * tcp_psp_rotation.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fsutil.h"
#include "glue_util.h"
#include "link_cc.h"
#include "psp_cfg.h"
#include "registry_int.h"

/* Checks and ROOT shared by set and rotate; @dir is the device's. */
static int open_device(const char *verb, const char *name, struct reg_root *r,
		       char *dir, size_t len)
{
	const char *why = rtcp_check_dev_name(name);
	struct stat st;

	if (why) {
		rtcp_err("invalid device name \"%s\": %s", name, why);
		return -EINVAL;
	}
	if (geteuid() != 0) {
		rtcp_err("must be root to %s devices", verb);
		return -EPERM;
	}
	if (reg_root_get(r))
		return -EINVAL;
	if (reg_dev_dir(r, name, dir, len) || lstat(dir, &st) ||
	    !S_ISDIR(st.st_mode)) {
		rtcp_err("%s: no such device", name);
		return -ENOENT;
	}
	return 0;
}

static int write_file(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX];
	int err;

	err = fs_path(path, sizeof(path), "%s/%s", dir, file);
	if (!err)
		err = fs_write_str(path, text);
	if (err)
		rtcp_err("cannot write %s/%s: %s", dir, file, strerror(-err));
	return err;
}

static int set_locked(const struct reg_root *r, const char *dir,
		      const struct psp_opts *o)
{
	static char text[PSP_TEXT_MAX];
	struct tcp_psp_conf c;
	int err;

	if (tcp_psp_conf_read(dir, &c))
		return -EINVAL;
	err = psp_apply(r, &c, o);
	if (!err && psp_format(&c, text, sizeof(text))) {
		rtcp_err("the security configuration does not fit");
		err = -ENAMETOOLONG;
	}
	if (!err)
		err = write_file(dir, RDMA_TCP_PSP_FILE, text);
	return err;
}

/* The security words if any were given, then the congestion control. */
int cmd_link_set(const char *name, const struct psp_opts *o, const char *cc)
{
	char dir[PATH_MAX];
	struct reg_root root;
	int lock, err;

	if (open_device("change", name, &root, dir, sizeof(dir)))
		return RTCP_EXIT_FAIL;
	umask(022);
	lock = reg_lock(&root);
	err = lock < 0 ? lock : 0;
	if (!err && psp_opts_any(o))
		err = set_locked(&root, dir, o);
	if (!err && cc)
		err = cc_set_locked(dir, cc);
	reg_unlock(lock);
	return err ? RTCP_EXIT_FAIL : RTCP_EXIT_OK;
}

/* The count + 1, wrapping at 2^32 like the provider's uint32_t. */
static int rotate_locked(const char *dir)
{
	char buf[16];
	uint32_t n;

	if (tcp_psp_conf_rotation(dir, &n))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%u\n", (unsigned int)(n + 1));
	return write_file(dir, RDMA_TCP_PSP_ROTATION, buf);
}

int cmd_link_rotate(const char *name)
{
	char dir[PATH_MAX];
	struct reg_root root;
	int lock, err;

	if (open_device("rotate the keys of", name, &root, dir, sizeof(dir)))
		return RTCP_EXIT_FAIL;
	umask(022);
	lock = reg_lock(&root);
	err = lock < 0 ? lock : rotate_locked(dir);
	reg_unlock(lock);
	return err ? RTCP_EXIT_FAIL : RTCP_EXIT_OK;
}
