// SPDX-License-Identifier: MIT
/*
 * The other order of loading: a program not linked with -ltcp opens a tcp
 * device (libibverbs dlopen()s the provider by its provider-directory
 * name, libtcp-rdmav34.so), then dlopen()s libtcp.so.1 for the direct
 * verbs, as a plugin of the program might. Both names must give the one
 * object: tcpdv_query_device() then knows the context (another copy
 * would answer EOPNOTSUPP) and one file is mapped.
 *
 *   tcpdv_dlopen DEVICE     (tests/integration/test_tcpdv.sh)
 *
 * Prints each failing check and "N passed, N failed".
 */
#include <infiniband/tcpdv.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "tdev.h"

typedef int (*query_fn)(struct ibv_context *, struct tcpdv_device_attr *);

/* Distinct files mapped whose name starts with libtcp. */
static int libtcp_files(void)
{
	char line[4096], seen[4][4096], *path;
	int n = 0, i;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		path = strchr(line, '/');
		if (!path || !strstr(path, "/libtcp"))
			continue;
		path[strcspn(path, "\n")] = '\0';
		for (i = 0; i < n && strcmp(seen[i], path); i++)
			;
		if (i == n && n < 4)
			snprintf(seen[n++], sizeof(seen[0]), "%s", path);
	}
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	struct tcpdv_device_attr a = { .comp_mask = 0 };
	struct ibv_context *ctx;
	query_fn query;
	void *h;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DEVICE\n", argv[0]);
		return 2;
	}
	ctx = open_dev(argv[1]);
	CHECKF(ctx != NULL, "cannot open %s", argv[1]);
	if (!ctx)
		return check_report();
	CHECKF(libtcp_files() == 1, "%d files before dlopen", libtcp_files());
	h = dlopen("libtcp.so.1", RTLD_NOW);
	CHECKF(h != NULL, "dlopen libtcp.so.1: %s", dlerror());
	query = h ? (query_fn)dlsym(h, "tcpdv_query_device") : NULL;
	CHECKF(query != NULL, "no tcpdv_query_device");
	if (query) {
		errno = 0;
		CHECKF(query(ctx, &a) == 0, "errno %d (EOPNOTSUPP: two copies)",
		       errno);
		CHECKF(a.caps & TCPDV_CAP_RC, "caps %#llx",
		       (unsigned long long)a.caps);
	}
	CHECKF(libtcp_files() == 1, "%d files after dlopen", libtcp_files());
	if (h)
		dlclose(h);
	ibv_close_device(ctx);
	return check_report();
}
