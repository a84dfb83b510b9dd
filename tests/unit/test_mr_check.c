// SPDX-License-Identifier: MIT
/*
 * Unit tests of the memory registration argument checks
 * (providers/tcp/mr_check.h): access flag rules (as the kernel's
 * ib_check_mr_access) and "is this range really mapped" (as ib_umem_get
 * faults). Each failing check is printed; the last line is "N passed, N
 * failed"; the exit status is non-zero on any failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mr_check.h"

#include "check.h"

#define CHECK_RET(expr, want)                                         \
	do {                                                          \
		int r_ = (expr);                                      \
		CHECKF(r_ == (want), "got %d (%s), want %d (%s)", r_, \
		       strerror(r_), (want), strerror(want));         \
	} while (0)

static const int base_flags[] = {
	IBV_ACCESS_LOCAL_WRITE, IBV_ACCESS_REMOTE_WRITE,
	IBV_ACCESS_REMOTE_READ, IBV_ACCESS_REMOTE_ATOMIC,
	IBV_ACCESS_MW_BIND,
};

static int combo(unsigned int bits)
{
	int a = 0;
	unsigned int i;

	for (i = 0; i < 5; i++)
		if (bits & (1u << i))
			a |= base_flags[i];
	return a;
}

static int expected(int a)
{
	if ((a & (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC)) &&
	    !(a & IBV_ACCESS_LOCAL_WRITE))
		return EINVAL;
	return 0;
}

static void test_access_combinations(void)
{
	unsigned int bits;
	int nvalid = 0, a, r, want;

	for (bits = 0; bits < 32; bits++) {
		a = combo(bits);
		want = expected(a);
		r = tcp_mr_check_access(a);
		CHECKF(r == want, "access %#x: got %d, want %d", a, r, want);
		nvalid += want == 0;
		/* An optional flag (ignorable by definition) changes nothing */
		r = tcp_mr_check_access(a | IBV_ACCESS_RELAXED_ORDERING);
		CHECKF(r == want,
		       "access %#x|RELAXED_ORDERING: got %d, want %d", a, r,
		       want);
	}
	/* Of the 16 combinations without LOCAL_WRITE, 12 carry REMOTE_WRITE or
	 * REMOTE_ATOMIC and are invalid; the other 20 are valid. */
	CHECKF(nvalid == 20, "20 of 32 combinations are valid (%d)", nvalid);
	/* The named cases, spelled out */
	CHECK_RET(tcp_mr_check_access(0), 0);
	CHECK_RET(tcp_mr_check_access(IBV_ACCESS_REMOTE_WRITE), EINVAL);
	CHECK_RET(tcp_mr_check_access(IBV_ACCESS_REMOTE_ATOMIC), EINVAL);
	CHECK_RET(tcp_mr_check_access(IBV_ACCESS_REMOTE_READ), 0);
	CHECK_RET(tcp_mr_check_access(IBV_ACCESS_MW_BIND), 0);
	CHECK_RET(tcp_mr_check_access(IBV_ACCESS_REMOTE_READ |
				      IBV_ACCESS_REMOTE_WRITE),
		  EINVAL);
	CHECK_RET(tcp_mr_check_access(IBV_ACCESS_LOCAL_WRITE |
				      IBV_ACCESS_REMOTE_WRITE |
				      IBV_ACCESS_REMOTE_ATOMIC),
		  0);
}

static void test_access_unknown_and_odp(void)
{
	int bit;

	/* Bits 8..19 have no meaning in rdma-core 44; 30 and 31 lie beyond
	 * the optional range. Unknown bits are refused, alone or not. */
	for (bit = 8; bit < 20; bit++) {
		CHECK_RET(tcp_mr_check_access(1 << bit), EINVAL);
		CHECK_RET(tcp_mr_check_access(IBV_ACCESS_LOCAL_WRITE |
					      IBV_ACCESS_REMOTE_READ |
					      (1 << bit)),
			  EINVAL);
	}
	CHECK_RET(tcp_mr_check_access(1 << 30), EINVAL);
	CHECK_RET(tcp_mr_check_access((int)(1u << 31)), EINVAL);
	CHECK_RET(tcp_mr_check_access(-1 & ~IBV_ACCESS_ON_DEMAND), EINVAL);
	/* ...with ON_DEMAND too: the kernel refuses invalid bits first */
	CHECK_RET(tcp_mr_check_access(-1), EINVAL);
	CHECK_RET(tcp_mr_check_access(IBV_ACCESS_ON_DEMAND | (1 << 30)),
		  EINVAL);
	CHECK_RET(tcp_mr_check_access(IBV_ACCESS_ON_DEMAND |
				      IBV_ACCESS_REMOTE_WRITE),
		  EINVAL);
	/* On-demand paging: a real flag we do not implement */
	CHECK_RET(tcp_mr_check_access(IBV_ACCESS_ON_DEMAND), EOPNOTSUPP);
	CHECK_RET(tcp_mr_check_access(IBV_ACCESS_ON_DEMAND |
				      IBV_ACCESS_LOCAL_WRITE |
				      IBV_ACCESS_REMOTE_READ),
		  EOPNOTSUPP);
}

static long page;

/* Any function: its code is a readable, non-writable mapping. */
int main_marker_fn(void);
int main_marker_fn(void)
{
	return 42;
}

static void *map(size_t npages, int prot)
{
	void *p = mmap(NULL, npages * page, prot, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

/* Number of /proc/self/maps entries that overlap [p, p + len). */
static int vmas_in(const void *p, size_t len)
{
	uintptr_t s = (uintptr_t)p, e = s + len;
	unsigned long lo, hi;
	char line[512];
	int n = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo < e && hi > s)
			n++;
	fclose(f);
	return n;
}

static void test_mapped_basic(void)
{
	static char data[100];
	char stack[64];
	char *heap = malloc(10);
	char *p;

	CHECK_RET(tcp_check_mapped(heap, 10, true), 0);
	CHECK_RET(tcp_check_mapped(stack, sizeof(stack), true), 0);
	CHECK_RET(tcp_check_mapped(data, sizeof(data), true), 0);
	/* Zero length is invalid even at a good address */
	CHECK_RET(tcp_check_mapped(heap, 0, false), EINVAL);
	CHECK_RET(tcp_check_mapped(heap, 0, true), EINVAL);
	/* NULL and the rest of page 0 are never mapped */
	CHECK_RET(tcp_check_mapped(NULL, 4096, false), EFAULT);
	CHECK_RET(tcp_check_mapped(NULL, 1, true), EFAULT);
	CHECK_RET(tcp_check_mapped((void *)16, 8, false), EFAULT);
	/* Wraparound past the top of the address space */
	CHECK_RET(tcp_check_mapped((void *)(UINTPTR_MAX - 10), 100, false),
		  EINVAL);
	CHECK_RET(tcp_check_mapped(heap, SIZE_MAX, false), EINVAL);
	CHECK_RET(tcp_check_mapped((void *)UINTPTR_MAX, 2, true), EINVAL);
	/* Code is readable, not writable */
	CHECK_RET(tcp_check_mapped((const void *)(uintptr_t)&main_marker_fn, 16,
				   false),
		  0);
	CHECK_RET(tcp_check_mapped((const void *)(uintptr_t)&main_marker_fn, 16,
				   true),
		  EFAULT);
	free(heap);

	p = map(4, PROT_READ | PROT_WRITE);
	CHECK_RET(tcp_check_mapped(p, 4 * page, true), 0);
	CHECK_RET(tcp_check_mapped(p + 1, 4 * page - 1, true), 0);
	CHECK_RET(tcp_check_mapped(p + 4 * page - 1, 1, true), 0);
	munmap(p, 4 * page);
}

static void test_mapped_unmapped(void)
{
	char *p = map(3, PROT_READ | PROT_WRITE);

	munmap(p, 3 * page);
	CHECK_RET(tcp_check_mapped(p, 3 * page, false), EFAULT);
	CHECK_RET(tcp_check_mapped(p, 1, true), EFAULT);
	CHECK_RET(tcp_check_mapped(p + page, page, false), EFAULT);

	/* A hole after a mapping: exact end fine, one byte past fails */
	p = map(3, PROT_READ | PROT_WRITE);
	munmap(p + 2 * page, page);
	CHECK_RET(tcp_check_mapped(p, 2 * page, true), 0);
	CHECK_RET(tcp_check_mapped(p, 2 * page + 1, true), EFAULT);
	CHECK_RET(tcp_check_mapped(p + page, 2 * page, false), EFAULT);
	munmap(p, 2 * page);

	/* A hole in the middle of the range */
	p = map(3, PROT_READ | PROT_WRITE);
	munmap(p + page, page);
	CHECK_RET(tcp_check_mapped(p, 3 * page, false), EFAULT);
	CHECK_RET(tcp_check_mapped(p + 2 * page, page, false), 0);
	CHECK_RET(tcp_check_mapped(p + page - 8, 16, false), EFAULT);
	munmap(p, page);
	munmap(p + 2 * page, page);
}

static void test_mapped_protection(void)
{
	char *p = map(2, PROT_READ);
	char *n = map(1, PROT_NONE);

	CHECK_RET(tcp_check_mapped(p, 2 * page, false), 0);
	CHECK_RET(tcp_check_mapped(p, 2 * page, true), EFAULT);
	CHECK_RET(tcp_check_mapped(p + 5, 1, true), EFAULT);
	CHECK_RET(tcp_check_mapped(n, page, false), EFAULT);
	CHECK_RET(tcp_check_mapped(n, page, true), EFAULT);
	munmap(p, 2 * page);
	munmap(n, page);

	/* Writable then read-only: fine to read, not to write */
	p = map(2, PROT_READ | PROT_WRITE);
	CHECKF(mprotect(p + page, page, PROT_READ) == 0, "mprotect");
	CHECKF(vmas_in(p, 2 * page) == 2, "two VMAs (%d)",
	       vmas_in(p, 2 * page));
	CHECK_RET(tcp_check_mapped(p, 2 * page, false), 0);
	CHECK_RET(tcp_check_mapped(p, 2 * page, true), EFAULT);
	CHECK_RET(tcp_check_mapped(p, page, true), 0);
	CHECK_RET(tcp_check_mapped(p + page - 1, 2, true), EFAULT);
	munmap(p, 2 * page);
}

static void test_mapped_straddle(void)
{
	char *p = map(4, PROT_READ | PROT_WRITE);
	void *q;
	int fd = memfd_create("rtcp-test", MFD_CLOEXEC);

	/* Put a different (shared, file-backed) mapping over pages 2-3 so
	 * the range is covered by two adjacent VMAs that cannot merge. */
	CHECKF(fd >= 0, "memfd_create: %s", strerror(errno));
	if (fd < 0)
		return;
	CHECKF(ftruncate(fd, 2 * page) == 0, "ftruncate");
	q = mmap(p + 2 * page, 2 * page, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, 0);
	CHECKF(q == p + 2 * page, "MAP_FIXED mmap");
	CHECKF(vmas_in(p, 4 * page) == 2, "range spans 2 VMAs (%d)",
	       vmas_in(p, 4 * page));
	memset(p, 1, 4 * page); /* really writable */
	CHECK_RET(tcp_check_mapped(p, 4 * page, true), 0);
	CHECK_RET(tcp_check_mapped(p + page + 100, 2 * page, true), 0);
	CHECK_RET(tcp_check_mapped(p + 2 * page - 1, 2, false), 0);
	munmap(p, 4 * page);
	close(fd);
	CHECK_RET(tcp_check_mapped(p + 2 * page - 1, 2, false), EFAULT);
}

/* Many VMAs: the range crosses a run of alternating mappings */
static void test_mapped_many(void)
{
	enum { N = 64 };
	char *p = map(N, PROT_READ | PROT_WRITE);
	int i;

	for (i = 1; i < N; i += 2)
		mprotect(p + i * page, page, PROT_READ);
	CHECKF(vmas_in(p, N * page) == N, "%d VMAs (%d)", N,
	       vmas_in(p, N * page));
	CHECK_RET(tcp_check_mapped(p, N * page, false), 0);
	CHECK_RET(tcp_check_mapped(p, N * page, true), EFAULT);
	munmap(p + (N / 2) * page, page);
	CHECK_RET(tcp_check_mapped(p, N * page, false), EFAULT);
	CHECK_RET(tcp_check_mapped(p, (N / 2) * page, false), 0);
	munmap(p, N * page);
}

int main(void)
{
	page = sysconf(_SC_PAGESIZE);
	test_access_combinations();
	test_access_unknown_and_odp();
	test_mapped_basic();
	test_mapped_unmapped();
	test_mapped_protection();
	test_mapped_straddle();
	test_mapped_many();
	return check_report();
}
