/* SPDX-License-Identifier: MIT */
/*
 * Reading the contexts' statistics files (<rdma_tcp/stat.h>), for
 * `rdma-tcp stat` and the device daemon's hw_counters (hw_counters.c).
 */
#ifndef RTCP_STAT_READ_H
#define RTCP_STAT_READ_H

#include <stdbool.h>
#include <stdint.h>

#include <rdma_tcp/stat.h>

/* a whole copy of dirfd/name (stat.h's fold bracket); 0 or an errno */
int stat_snapshot(int dirfd, const char *name, struct rtcp_stat_file *f);
/* its context is gone: closed, or its process died without closing */
bool stat_file_over(const struct rtcp_stat_file *f);
/* adds the context's totals, destroyed QPs and live ones, to sum */
void stat_file_add(const struct rtcp_stat_file *f, uint64_t sum[RTCP_STAT_N]);
/* the counters' names, as `rdma-tcp stat` prints them */
extern const char *const stat_ctr_names[RTCP_STAT_N];

#endif
