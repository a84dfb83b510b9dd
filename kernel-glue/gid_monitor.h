/* SPDX-License-Identifier: MIT */
/*
 * The GID monitor: one daemon per device that keeps ports/1/gids and
 * gid_attrs current as addresses come and go on the netdev.
 */
#ifndef RDMA_TCP_GID_MONITOR_H
#define RDMA_TCP_GID_MONITOR_H

#include <sys/types.h>

struct reg_root;

/*
 * Start the monitor of device @name (already published) in the caller's
 * network namespace. Returns once the daemon is subscribed to address
 * changes and has rewritten the table, so no change after `link add` can
 * be missed: its pid, or -1 after telling the user why.
 */
pid_t gid_monitor_start(const struct reg_root *r, const char *name,
			const char *ifname);

/*
 * Stop the monitor @pid if it is one (its comm says so: a stale pidfile
 * must not kill an unrelated process that reused the pid). Returns 0 when
 * it is gone, -ETIMEDOUT if it would not die.
 */
int gid_monitor_stop(pid_t pid);

#endif
