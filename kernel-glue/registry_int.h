/* SPDX-License-Identifier: MIT */
/*
 * The device registry as the rdma-tcp tool manages it: paths, the lock,
 * creation as a transaction that can be rolled back, removal and listing.
 * The layout itself is documented in <rdma_tcp/registry.h>.
 *
 * Functions returning int give 0 or a negative errno and have already told
 * the user what went wrong, with the path involved.
 */
#ifndef RDMA_TCP_REGISTRY_INT_H
#define RDMA_TCP_REGISTRY_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <rdma_tcp/registry.h>

struct gid_table;

/* Room left under ROOT for the deepest registry path. */
#define REG_ROOT_MAX (PATH_MAX - 256)

struct reg_root {
	char path[REG_ROOT_MAX];
	/* ROOT is RDMA_TCP_DEFAULT_ROOT (whether or not the env set it) */
	bool is_default;
};

/* ROOT from $RDMA_TCP_ROOT or the default; must be absolute, not "/". */
int reg_root_get(struct reg_root *root);

int reg_sysfs_dir(const struct reg_root *r, char *buf, size_t len);
int reg_dev_dir(const struct reg_root *r, const char *name, char *buf,
		size_t len);
int reg_uverbs_dir(const struct reg_root *r, unsigned int idx, char *buf,
		   size_t len);
int reg_cdev_path(unsigned int idx, char *buf, size_t len);
int reg_pidfile(const struct reg_root *r, const char *name, char *buf,
		size_t len);

/*
 * Serialise add and del on one ROOT (flock on ROOT/run/lock). Returns the
 * lock's fd, which must not leak into a daemon: it would hold the lock.
 */
int reg_lock(const struct reg_root *r);
void reg_unlock(int fd);

/*
 * Create the class directories and class/infiniband_verbs/abi_version, and
 * remove staging directories that a killed run left (under the lock,
 * nobody else can be building one).
 */
int reg_prepare(const struct reg_root *r);

/*
 * Mirror the kernel's RDMA devices into ROOT's class/infiniband (symbolic
 * links; mirror.c), removing those gone. Only when that directory exists.
 * 0 or the first -errno.
 */
int reg_mirror_kernel(const struct reg_root *r);

/* Whether any trace of device @name is in the registry. */
bool reg_dev_exists(const struct reg_root *r, const char *name);

struct reg_dev_attrs {
	const char *name;
	const char *ifname;
	const char *hostname;
	uint8_t guid[8];
	unsigned long long netns;
	const struct gid_table *gids;
	const char *psp; /* the text of NAME/tcp_psp */
	const char *cc;	 /* the text of NAME/tcp_cc */
};

/* What `link add` has made so far, so a failure can undo exactly that. */
struct reg_txn {
	const struct reg_root *root;
	const char *name;
	unsigned int uverbs;
	bool cdev_made;
	bool dev_published;
	bool uverbs_published;
	bool pidfile_written;
	pid_t monitor;
};

void reg_txn_init(struct reg_txn *t, const struct reg_root *r,
		  const char *name);
/* Pick N and create /dev/infiniband/uverbsN, which claims N. */
int reg_claim_uverbs(struct reg_txn *t);
/* Build class/infiniband/NAME in a staging directory, then rename it in. */
int reg_publish_device(struct reg_txn *t, const struct reg_dev_attrs *a);
/* Same for class/infiniband_verbs/uverbsN: libibverbs sees NAME now. */
int reg_publish_uverbs(struct reg_txn *t);
int reg_write_pidfile(struct reg_txn *t, pid_t pid);
/* Undo everything @t records, newest first. */
void reg_rollback(struct reg_txn *t);

/* `link del`: -ENOENT (reported) when there is no such device. */
int reg_remove_device(const struct reg_root *r, const char *name);

/* Device names in ROOT, in version order (tcp2 before tcp10). */
int reg_list(const struct reg_root *r, char ***names, int *count);
void reg_list_free(char **names, int count);

/* One attribute of a device, e.g. "parent", without its newline. */
int reg_read_attr(const struct reg_root *r, const char *name, const char *attr,
		  char *buf, size_t len);

#endif
