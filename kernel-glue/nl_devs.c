// SPDX-License-Identifier: MIT
/*
 * The registry's devices as RDMA netlink reports devices (librdma-tcp-nl).
 *
 * Read from where libibverbs' sysfs scan reads them ($SYSFS_PATH/class/
 * infiniband_verbs/uverbsN, then class/infiniband/NAME), in the same
 * readdir() order, so that a program lists the same devices in the same
 * order through netlink as it did through sysfs. Only devices the registry
 * made (tcp_uverbs names this uverbsN) in this network namespace: the
 * kernel lists only its namespace's devices too.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rdma/rdma_netlink.h>
#include <rdma_tcp/registry.h>

#include "nl_preload.h"

/*
 * The sysfs-shaped directory whose devices we list: $SYSFS_PATH as
 * ibv_get_sysfs_path() gives it to libibverbs, unless that is the
 * kernel's /sys (its devices are the kernel's to list). Unset, the
 * registry's own ROOT/sys ($RDMA_TCP_ROOT or /run/rdma-tcp): an installed
 * rdma-tcp with this library in /etc/ld.so.preload lists the registry's
 * devices to programs started with no environment at all, and the
 * provider finds them there (docs/design.md, "Installed: no
 * environment"). secure_getenv(), as libibverbs ignores SYSFS_PATH in
 * set-user-ID programs: /etc/ld.so.preload reaches those too. NULL: none.
 */
char *nlp_registry_sysfs(void)
{
	const char *env = secure_getenv("SYSFS_PATH");
	const char *root = secure_getenv(RDMA_TCP_ROOT_ENV);
	char real[PATH_MAX], dflt[PATH_MAX];

	if (!env || !*env) {
		if (!root || root[0] != '/')
			root = RDMA_TCP_DEFAULT_ROOT;
		if (snprintf(dflt, sizeof(dflt), "%s/sys", root) >=
		    (int)sizeof(dflt))
			return NULL;
		env = dflt;
	}
	if (!realpath(env, real) || !strcmp(real, "/sys"))
		return NULL;
	return strdup(real);
}

/* First line of DIR/NAME, without its newline. 0 or -1. */
static int read_line(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	char *nl;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return -1;
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	return 0;
}

static uint64_t parse_guid(const char *s)
{
	unsigned int p[4];
	uint64_t g = 0;
	int i;

	if (sscanf(s, "%x:%x:%x:%x", &p[0], &p[1], &p[2], &p[3]) != 4)
		return 0;
	for (i = 0; i < 4; i++)
		g = g << 16 | (p[i] & 0xffff);
	return g;
}

static unsigned long netns_ino(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : (unsigned long)st.st_ino;
}

static uint32_t count_ports(const char *ibdir)
{
	char path[PATH_MAX];
	struct dirent *de;
	uint32_t n = 0;
	DIR *d;

	if (snprintf(path, sizeof(path), "%s/ports", ibdir) >=
	    (int)sizeof(path))
		return 1;
	d = opendir(path);
	if (!d)
		return 1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n ? n : 1;
}

/* The char device number "MAJOR:MINOR" in huge_encode_dev() form. */
static uint64_t encode_cdev(const char *s)
{
	unsigned int ma, mi;

	if (sscanf(s, "%u:%u", &ma, &mi) != 2)
		return 0;
	return (mi & 0xffu) | ((uint64_t)ma << 8) |
	       (((uint64_t)mi & ~0xffull) << 12);
}

/* Fill @d from class/infiniband_verbs/@uverbs of @sysfs. 0 or -1. */
static int read_dev(const char *sysfs, const char *uverbs, struct nlp_dev *d,
		    unsigned long netns)
{
	char uvdir[PATH_MAX], ibdir[PATH_MAX], buf[128];
	struct stat st;

	memset(d, 0, sizeof(*d));
	if (strlen(uverbs) >= sizeof(d->uverbs) ||
	    snprintf(uvdir, sizeof(uvdir), "%s/class/infiniband_verbs/%s",
		     sysfs, uverbs) >= (int)sizeof(uvdir))
		return -1;
	if (read_line(uvdir, "ibdev", d->name, sizeof(d->name)) ||
	    !d->name[0] || strchr(d->name, '/'))
		return -1;
	if (snprintf(ibdir, sizeof(ibdir), "%s/class/infiniband/%s", sysfs,
		     d->name) >= (int)sizeof(ibdir))
		return -1;
	/* the registry's marker: this uverbsN is that device's */
	if (read_line(ibdir, "tcp_uverbs", buf, sizeof(buf)) ||
	    strcmp(buf, uverbs) || stat(ibdir, &st))
		return -1;
	if (!read_line(ibdir, "tcp_netns", buf, sizeof(buf)) &&
	    strtoul(buf, NULL, 10) != netns)
		return -1;
	if (read_line(uvdir, "dev", buf, sizeof(buf)))
		return -1;
	d->cdev = encode_cdev(buf);
	d->abi = read_line(uvdir, "abi_version", buf, sizeof(buf))
			 ? 0
			 : strtoull(buf, NULL, 10);
	memcpy(d->uverbs, uverbs, strlen(uverbs) + 1);
	d->index = NLP_INDEX_BASE | ((uint32_t)st.st_ino & NLP_INDEX_MASK);
	d->ports = count_ports(ibdir);
	d->node_type = read_line(ibdir, "node_type", buf, sizeof(buf))
			       ? RDMA_NODE_IB_CA
			       : (uint8_t)strtoul(buf, NULL, 10);
	if (!read_line(ibdir, "node_guid", buf, sizeof(buf)))
		d->guid = parse_guid(buf);
	if (read_line(ibdir, "fw_ver", d->fw, sizeof(d->fw)))
		d->fw[0] = '\0';
	return 0;
}

int nlp_devs_scan(struct nlp_dev **devs)
{
	char *sysfs = nlp_registry_sysfs();
	unsigned long netns = netns_ino();
	struct nlp_dev *out = NULL, *grown;
	char path[PATH_MAX];
	struct dirent *de;
	int n = 0, cap = 0;
	DIR *d;

	*devs = NULL;
	if (!sysfs)
		return 0;
	snprintf(path, sizeof(path), "%s/class/infiniband_verbs", sysfs);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "uverbs", 6))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			grown = realloc(out, (size_t)cap * sizeof(*out));
			if (!grown)
				break;
			out = grown;
		}
		if (!read_dev(sysfs, de->d_name, &out[n], netns))
			n++;
	}
	if (d)
		closedir(d);
	free(sysfs);
	*devs = out;
	return n;
}
