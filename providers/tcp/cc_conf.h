/* SPDX-License-Identifier: MIT */
/*
 * Congestion control names (docs/design.md, "Congestion control and
 * traffic class"): the check both `rdma-tcp link add/set ... cc NAME` and
 * tcpdv_modify_qp_cc() make, and a device's NAME/tcp_cc as the registry
 * holds it. Also linked into the rdma-tcp tool, so tool and provider
 * accept the same names.
 */
#ifndef RDMA_TCP_CC_CONF_H
#define RDMA_TCP_CC_CONF_H

#include <stddef.h>

/* The kernel's TCP_CA_NAME_MAX, terminator included. */
#define TCP_CC_NAME_MAX 16

/* Where the kernel lists what TCP_CONGESTION accepts (every netns). */
#define TCP_CC_AVAILABLE "/proc/sys/net/ipv4/tcp_available_congestion_control"
/* The network namespace's default, what a socket gets unless told. */
#define TCP_CC_DEFAULT "/proc/sys/net/ipv4/tcp_congestion_control"

/*
 * 0 when @name is one of the kernel's available congestion controls;
 * EINVAL when it is not (or is empty, too long, not a plain word);
 * the errno of reading TCP_CC_AVAILABLE otherwise. @avail (may be NULL)
 * gets the kernel's list for an error message.
 */
int tcp_cc_check(const char *name, char *avail, size_t len);

/*
 * The congestion control configured for the device whose sysfs directory
 * is @ibdev_path (NAME/tcp_cc): @out is "" when none is (the file is
 * missing or empty: the netns default applies). 0, or an errno.
 */
int tcp_cc_conf_read(const char *ibdev_path, char out[TCP_CC_NAME_MAX]);

/* The network namespace's default into @out; 0 or an errno. */
int tcp_cc_default(char out[TCP_CC_NAME_MAX]);

#endif
