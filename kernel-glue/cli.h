/* SPDX-License-Identifier: MIT */
/* The commands of the rdma-tcp tool and what they share. */
#ifndef RDMA_TCP_CLI_H
#define RDMA_TCP_CLI_H

#include <stdbool.h>

/* Exit statuses: iproute2's, plus 2 for a malformed command line. */
#define RTCP_EXIT_OK	0
#define RTCP_EXIT_FAIL	1
#define RTCP_EXIT_USAGE 2

#ifndef RDMA_TCP_LINKS_CONF
#define RDMA_TCP_LINKS_CONF "/etc/rdma-tcp/links.conf"
#endif

#ifndef RDMA_TCP_VERSION
#define RDMA_TCP_VERSION "0.0.0"
#endif

/* "rdma-tcp: " + message + newline on stderr. */
void rtcp_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct psp_opts;

/* link.c */
/* @cc: the `cc` word's value, or NULL */
int cmd_link_add(const char *name, const char *ifname,
		 const struct psp_opts *psp, const char *cc);
int cmd_link_del(const char *name);
/* @name NULL lists every device */
int cmd_link_show(const char *name);

/* link.c: whether ROOT has a device @name */
bool link_exists(const char *name);

/*
 * restore.c: one line of a links.conf, the words after "link add"; @where
 * is "FILE:LINE" for messages. Checks only unless @apply; sets @name to
 * the device's. 0, or an exit status.
 */
typedef int (*restore_line_fn)(int argc, char **argv, const char *where,
			       bool apply, const char **name);
int cmd_link_restore(const char *file, bool check_only, restore_line_fn fn);

/* link_psp.c: the security configuration of an existing device */
int cmd_link_set(const char *name, const struct psp_opts *psp, const char *cc);
int cmd_link_rotate(const char *name);

/* link_cmport.c: the device's rdma_cm control port (cmport PORT) */
/* NULL, or why @port is not one (a usage error) */
const char *cm_port_check(const char *port);
int cmd_link_cmport(const char *name, const char *port);

/* env.c */
int cmd_env(void);
int cmd_run(char **argv);

/* stat_cmd.c: @dev NULL shows every device's QPs */
int cmd_stat(const char *dev, bool json);

#endif
