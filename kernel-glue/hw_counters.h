/* SPDX-License-Identifier: MIT */
/*
 * A device's counters in its sysfs-shaped ports/1/hw_counters/, kept by the
 * device's daemon (gid_monitor.c) from the contexts' statistics files
 * (docs/design.md, "Statistics"): one file per counter, never lower than
 * it was, rewritten when it changed, at most a second old.
 */
#ifndef RTCP_HW_COUNTERS_H
#define RTCP_HW_COUNTERS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <rdma_tcp/stat.h>

#include "registry_int.h"
#include "stat_read.h"

struct hw_ctrs {
	char dev[16];
	char dir[PATH_MAX]; /* DEV/ports/1/hw_counters */
	char retired_path[PATH_MAX];
	char statdir[PATH_MAX]; /* ROOT/run/stat */
	uint64_t retired[RTCP_STAT_N];
	bool retired_dirty;	  /* not saved yet */
	uint64_t shown[HW_CTR_N]; /* what the files hold */
};

/* 0 or a negative errno; reads what an earlier daemon left */
int hw_ctrs_init(struct hw_ctrs *h, const struct reg_root *r, const char *name,
		 const char *devdir);
/* sums the device's contexts, takes in those that are over, writes */
void hw_ctrs_refresh(struct hw_ctrs *h);

#endif
