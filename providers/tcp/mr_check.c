// SPDX-License-Identifier: MIT
/* Memory registration argument checks: see mr_check.h. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "mr_check.h"

#define TCP_ACCESS_SUPPORTED                                               \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |                \
	 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC |               \
	 IBV_ACCESS_MW_BIND | IBV_ACCESS_ZERO_BASED | IBV_ACCESS_HUGETLB | \
	 IBV_ACCESS_RELAXED_ORDERING)

/*
 * Same rules, in the same order, as the kernel's ib_check_mr_access(): an
 * invalid request is EINVAL even if it also asks for on-demand paging,
 * which only a valid one learns is not supported.
 */
int tcp_mr_check_access(int access)
{
	/* Remote writers need the local write right first (IB spec 10.6.3) */
	if ((access & (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC)) &&
	    !(access & IBV_ACCESS_LOCAL_WRITE))
		return EINVAL;
	if (access & ~(TCP_ACCESS_SUPPORTED | IBV_ACCESS_ON_DEMAND))
		return EINVAL;
	if (access & IBV_ACCESS_ON_DEMAND)
		return EOPNOTSUPP;
	return 0;
}

/*
 * Is [addr, addr+length) covered by readable (and, if asked, writable)
 * mappings? /proc/self/maps is sorted, so one pass suffices. EFAULT is what
 * the kernel's ib_umem_get() reports for the same faults.
 */
int tcp_check_mapped(const void *addr, size_t length, bool need_write)
{
	uintptr_t start = (uintptr_t)addr, end, cur;
	char line[512], perms[8];
	unsigned long lo, hi;
	FILE *f;
	int ret = EFAULT;

	if (!length)
		return EINVAL;
	if (start + length < start)
		return EINVAL;
	end = start + length;
	cur = start;
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3)
			continue;
		if (hi <= cur)
			continue;
		if (lo > cur)
			break; /* a hole before the range is covered */
		if (perms[0] != 'r' || (need_write && perms[1] != 'w'))
			break;
		cur = hi;
		if (cur >= end) {
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}
