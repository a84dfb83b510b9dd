// SPDX-License-Identifier: MIT
/*
 * nl_probe: what one process sees of devices and fork support
 * (test_coexist.sh).
 *
 *   nl_probe list        one line per device: "NAME INDEX GUID", then
 *                        "fork STATUS" (ibv_is_fork_initialized)
 *   nl_probe fork DEV    ibv_fork_init(), then an MR of DEV on the first
 *                        bytes of a page; a forked child reads and writes
 *                        the rest of that page (not registered, but
 *                        shared with the MR, as malloc() shares heap pages)
 *                        and exits 0; prints "fork_init RET", "status S",
 *                        "child exit N", "child signal N" or "child: page
 *                        not mapped" (MADV_DONTFORK), and exits 0
 *                        only if the child exited 0 and the parent's page
 *                        is as the parent left it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "../lib/tdev.h"

static const char *status_name(enum ibv_fork_status s)
{
	switch (s) {
	case IBV_FORK_DISABLED:
		return "DISABLED";
	case IBV_FORK_ENABLED:
		return "ENABLED";
	case IBV_FORK_UNNEEDED:
		return "UNNEEDED";
	}
	return "?";
}

static int list(void)
{
	struct ibv_device **l = ibv_get_device_list(NULL);
	int i;

	for (i = 0; l && l[i]; i++)
		printf("%s %d %016llx\n", ibv_get_device_name(l[i]),
		       ibv_get_device_index(l[i]),
		       (unsigned long long)be64toh(ibv_get_device_guid(l[i])));
	if (l)
		ibv_free_device_list(l);
	printf("fork %s\n", status_name(ibv_is_fork_initialized()));
	return l ? 0 : 1;
}

/*
 * The child: the unregistered part of the MR's page, read and written.
 * A page marked MADV_DONTFORK is not mapped in the child at all: said by
 * exit status 4 (msync() finds no mapping) rather than by a SIGSEGV that
 * a sanitizer runtime would report as a bug of this program.
 */
static void child(volatile char *page, long psize)
{
	long i, sum = 0;

	if (msync((void *)page, (size_t)psize, MS_ASYNC) && errno == ENOMEM)
		_exit(4);

	for (i = 64; i < psize; i++) {
		sum += page[i];
		page[i] = 'c';
	}
	_exit(sum == 'p' * (psize - 64) ? 0 : 3);
}

static int fork_check(const char *name)
{
	long psize = sysconf(_SC_PAGESIZE);
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
	char *page;
	int ret, st;
	pid_t pid;

	ret = ibv_fork_init();
	printf("fork_init %d\n", ret);
	printf("status %s\n", status_name(ibv_is_fork_initialized()));
	ctx = open_dev(name);
	pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	if (!pd ||
	    posix_memalign((void **)&page, (size_t)psize, (size_t)psize)) {
		fprintf(stderr, "cannot open %s\n", name);
		return 2;
	}
	memset(page, 'p', (size_t)psize);
	mr = ibv_reg_mr(pd, page, 64, IBV_ACCESS_LOCAL_WRITE);
	if (!mr) {
		fprintf(stderr, "ibv_reg_mr: %s\n", strerror(errno));
		return 2;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		child(page, psize);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 2;
	if (WIFSIGNALED(st))
		printf("child signal %d\n", WTERMSIG(st));
	else if (WEXITSTATUS(st) == 4)
		printf("child: page not mapped\n");
	else
		printf("child exit %d\n", WEXITSTATUS(st));
	/* copy-on-write: the child's writes are its own */
	ret = WIFEXITED(st) && !WEXITSTATUS(st) && page[psize - 1] == 'p' ? 0
									  : 1;
	ibv_dereg_mr(mr);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	free(page);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "list"))
		return list();
	if (argc == 3 && !strcmp(argv[1], "fork"))
		return fork_check(argv[2]);
	fprintf(stderr, "usage: %s list | fork DEVICE\n", argv[0]);
	return 2;
}
