// SPDX-License-Identifier: MIT
/*
 * Unit tests of congestion control names (providers/tcp/cc_conf.h): the
 * check against the kernel's list, which `link add/set ... cc` and
 * tcpdv_modify_qp_cc() share, and a device's tcp_cc in a temporary
 * directory. The names expected to pass are read from the kernel's own
 * list, so the test holds on any kernel.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rdma_tcp/registry.h>

#include "cc_conf.h"

#include "check.h"

static char dir[64];

static void put(const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/" RDMA_TCP_CC_FILE, dir);
	f = fopen(path, "w");
	CHECKF(f != NULL, "cannot create %s", path);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static void check_names(void)
{
	char avail[512], first[TCP_CC_NAME_MAX] = "";
	int err;

	err = tcp_cc_check("reno", avail, sizeof(avail));
	CHECKF(err == 0, "reno (always built in): %d; the kernel has: %s", err,
	       avail);
	if (sscanf(avail, "%15s", first) == 1)
		CHECKF(tcp_cc_check(first, NULL, 0) == 0, "%s", first);
	CHECK(tcp_cc_check("nosuchcc", NULL, 0) == EINVAL);
	CHECK(tcp_cc_check("", NULL, 0) == EINVAL);
	CHECK(tcp_cc_check(NULL, NULL, 0) == EINVAL);
	CHECK(tcp_cc_check("reno ", NULL, 0) == EINVAL);
	CHECK(tcp_cc_check("re no", NULL, 0) == EINVAL);
	CHECK(tcp_cc_check("reno\n", NULL, 0) == EINVAL);
	CHECK(tcp_cc_check("fifteen_chars_x", NULL, 0) == EINVAL);
	CHECK(tcp_cc_check("sixteen_chars_xy", NULL, 0) == EINVAL);
	/* a word of the list is matched whole, never a part of one */
	CHECK(tcp_cc_check("ren", NULL, 0) == EINVAL);
}

static void check_file(void)
{
	char cc[TCP_CC_NAME_MAX] = "x";

	CHECK(tcp_cc_conf_read(dir, cc) == 0 && cc[0] == '\0'); /* missing */
	put("");
	CHECK(tcp_cc_conf_read(dir, cc) == 0 && cc[0] == '\0');
	put("bbr\n");
	CHECK(tcp_cc_conf_read(dir, cc) == 0 && !strcmp(cc, "bbr"));
	put("cubic");
	CHECK(tcp_cc_conf_read(dir, cc) == 0 && !strcmp(cc, "cubic"));
	put("a b\n");
	CHECK(tcp_cc_conf_read(dir, cc) == EINVAL && cc[0] == '\0');
	put("far_too_long_a_name\n");
	CHECK(tcp_cc_conf_read(dir, cc) == EINVAL && cc[0] == '\0');
	CHECK(tcp_cc_conf_read("/nonexistent/dir", cc) == 0 && cc[0] == '\0');
	CHECK(tcp_cc_default(cc) == 0 && cc[0] &&
	      tcp_cc_check(cc, NULL, 0) == 0);
}

int main(void)
{
	char path[128];

	snprintf(dir, sizeof(dir), "/tmp/test_cc_conf.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	check_names();
	check_file();
	snprintf(path, sizeof(path), "%s/" RDMA_TCP_CC_FILE, dir);
	unlink(path);
	rmdir(dir);
	return check_report();
}
