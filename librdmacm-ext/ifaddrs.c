// SPDX-License-Identifier: MIT
/*
 * getifaddrs() as libfabric sees it: the netdev behind a tcp device is
 * reported without IFF_LOOPBACK.
 *
 * libfabric's verbs provider builds its FI_EP_MSG device list from the
 * interfaces getifaddrs() returns, binding an rdma_cm id to each address,
 * and skips every IFF_LOOPBACK interface first: on real hardware a
 * loopback interface never has an RDMA device behind it. A tcp device may
 * sit on `lo`, so without this the provider offers no msg (and no
 * ofi_rxm rdm) endpoint on a single host. Only callers inside libfabric
 * (by the object their return address is in) get the changed flags, and
 * only for netdevs that are the parent of a registered tcp device; every
 * other program and library sees the kernel's answer.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

/* Is @fname (a loaded object's path) libfabric or one of its providers? */
static bool is_libfabric(const char *fname)
{
	const char *base = strrchr(fname, '/');

	base = base ? base + 1 : fname;
	return !strncmp(base, "libfabric.so", 12) || strstr(base, "-fi.so");
}

/* Is @ifname the parent netdev of a device in the registry's sysfs? */
static bool backs_tcp_device(const char *ifname)
{
	const char *sysfs = getenv("SYSFS_PATH");
	char dir[PATH_MAX], path[PATH_MAX], parent[IF_NAMESIZE + 2];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/class/infiniband",
		 sysfs ? sysfs : "/sys");
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		FILE *f;

		if (de->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "%s/%s/parent", dir,
			     de->d_name) >= (int)sizeof(path))
			continue;
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(parent, sizeof(parent), f)) {
			parent[strcspn(parent, "\n")] = '\0';
			found = !strcmp(parent, ifname);
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

EXPORT int getifaddrs(struct ifaddrs **ifap)
{
	int (*real)(struct ifaddrs **) =
		(int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
	void *caller = __builtin_return_address(0);
	struct ifaddrs *ifa;
	Dl_info info;
	int ret;

	if (!real)
		return -1;
	ret = real(ifap);
	if (ret || !dladdr(caller, &info) || !info.dli_fname ||
	    !is_libfabric(info.dli_fname))
		return ret;
	for (ifa = *ifap; ifa; ifa = ifa->ifa_next)
		if ((ifa->ifa_flags & IFF_LOOPBACK) &&
		    backs_tcp_device(ifa->ifa_name))
			ifa->ifa_flags &= ~IFF_LOOPBACK;
	return ret;
}
