// SPDX-License-Identifier: MIT
/*
 * The `cc NAME` word of `rdma-tcp link add/set`: the congestion control
 * of a device's TCP connections, NAME/tcp_cc (docs/design.md, "Congestion
 * control and traffic class"). The provider reads the file at each
 * connection it makes or accepts, so a `link set` applies to connections
 * made afterwards, in processes that have the device open too; those
 * already up keep theirs. "default" leaves the choice to the network
 * namespace (net.ipv4.tcp_congestion_control).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cc_conf.h"
#include "cli.h"
#include "fsutil.h"
#include "link_cc.h"
#include "registry_int.h"

#define CC_DEFAULT "default"

int cc_opt_check(const char *name)
{
	char avail[256];
	int err;

	if (!strcmp(name, CC_DEFAULT))
		return 0;
	err = tcp_cc_check(name, avail, sizeof(avail));
	if (err == EINVAL)
		rtcp_err("congestion control \"%s\" is not available "
			 "(the kernel has: %s)",
			 name, avail);
	else if (err)
		rtcp_err("cannot read %s: %s", TCP_CC_AVAILABLE, strerror(err));
	return err ? -err : 0;
}

const char *cc_opt_text(const char *name)
{
	static char text[TCP_CC_NAME_MAX + 1];

	if (!name || !strcmp(name, CC_DEFAULT))
		return "";
	snprintf(text, sizeof(text), "%s\n", name);
	return text;
}

int cc_set_locked(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int err;

	err = fs_path(path, sizeof(path), "%s/" RDMA_TCP_CC_FILE, dir);
	if (!err)
		err = fs_write_str(path, cc_opt_text(name));
	if (err)
		rtcp_err("cannot write %s/" RDMA_TCP_CC_FILE ": %s", dir,
			 strerror(-err));
	return err;
}

void cc_describe(const char *dir, char *buf, size_t len)
{
	char cc[TCP_CC_NAME_MAX];

	buf[0] = '\0';
	if (tcp_cc_conf_read(dir, cc))
		snprintf(buf, len, " cc ?");
	else if (cc[0])
		snprintf(buf, len, " cc %s", cc);
}
