/* SPDX-License-Identifier: MIT */
/*
 * Reading the contexts' statistics files (<rdma_tcp/stat.h>), for
 * `rdma-tcp stat`, the device daemon's hw_counters (hw_counters.c) and
 * `rdma statistic show` (nl_stat.c).
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

/* A device's counters: the stat counters, then rxe's where they agree. */
#define HW_CTR_RDMA_SENDS RTCP_STAT_N
#define HW_CTR_RDMA_RECVS (RTCP_STAT_N + 1)
#define HW_CTR_N	  (RTCP_STAT_N + 2)
const char *hw_ctr_name(unsigned int i);
void hw_ctr_values(const uint64_t tot[RTCP_STAT_N], uint64_t v[HW_CTR_N]);

/* DEV/tcp_hw_retired: "NAME VALUE" lines, the totals of the device's
 * contexts that are over, written by its daemon (hw_counters.c) */
#define HW_RETIRED_FILE "tcp_hw_retired"
void hw_retired_load(const char *path, uint64_t retired[RTCP_STAT_N]);
/*
 * The device's totals now: the retired ones and every file of the device
 * in statdir (those over and not taken in yet too), under a shared lock
 * on hwdir that the daemon takes exclusively while it takes files in.
 * Files the caller cannot read are not counted. 0 or an errno.
 */
int hw_totals_now(const char *hwdir, const char *retired_path,
		  const char *statdir, const char *dev,
		  uint64_t tot[RTCP_STAT_N]);

#endif
