// SPDX-License-Identifier: MIT
/*
 * The device registry: create, remove and list the directories that stand
 * in for the kernel's RDMA sysfs classes; see registry_int.h.
 *
 * Readers (libibverbs, the provider, `link show`) take no lock, so every
 * visible change is a single rename(): a directory is built under a
 * staging name and renamed into place, and renamed away before it is
 * emptied. libibverbs finds devices through class/infiniband_verbs/uverbsN,
 * so that entry is published last and withdrawn first.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cli.h"
#include "fsutil.h"
#include "gid_monitor.h"
#include "gid_table.h"
#include "glue_util.h"
#include "registry_int.h"

#define VERBS_CLASS "sys/class/infiniband_verbs"
#define IB_CLASS    "sys/class/infiniband"
#define RUN_DIR	    "run"
#define LOCK_FILE   "lock"
/* Dot names: invisible to readers, which look names up or want "uverbs" */
#define STAGE_PREFIX ".stage-"
/* Far more than anyone needs; bounds the search for a free index. */
#define UVERBS_MAX 1024
/*
 * Where the search starts when the kernel has uverbs devices of its own
 * (ib_uverbs loaded): /dev/infiniband/uverbsN is one namespace for the
 * kernel and the registry, the kernel takes the lowest free N, and a
 * kernel device made after ours must not find its node taken.
 */
#define UVERBS_KERNEL_BASE 512
#define KERNEL_VERBS_CLASS "/sys/class/infiniband_verbs"
/* Entries of class/infiniband_verbs one device may own (normally one). */
#define UVERBS_PER_DEV_MAX 8
#define ATTR_MAX	   512

int reg_root_get(struct reg_root *r)
{
	const char *env = getenv(RDMA_TCP_ROOT_ENV);
	size_t len;

	if (!env || !*env)
		env = RDMA_TCP_DEFAULT_ROOT;
	/* the GID monitor runs in "/", so a relative ROOT would move */
	if (env[0] != '/') {
		rtcp_err("%s=%s: must be an absolute path", RDMA_TCP_ROOT_ENV,
			 env);
		return -EINVAL;
	}
	len = strlen(env);
	while (len > 1 && env[len - 1] == '/')
		len--;
	if (len == 1) {
		rtcp_err("%s=/: the registry would be the kernel's own /sys",
			 RDMA_TCP_ROOT_ENV);
		return -EINVAL;
	}
	if (len >= sizeof(r->path)) {
		rtcp_err("%s is too long", RDMA_TCP_ROOT_ENV);
		return -ENAMETOOLONG;
	}
	memcpy(r->path, env, len);
	r->path[len] = '\0';
	r->is_default = !strcmp(r->path, RDMA_TCP_DEFAULT_ROOT);
	return 0;
}

int reg_sysfs_dir(const struct reg_root *r, char *buf, size_t len)
{
	return fs_path(buf, len, "%s/sys", r->path);
}

int reg_dev_dir(const struct reg_root *r, const char *name, char *buf,
		size_t len)
{
	return fs_path(buf, len, "%s/" IB_CLASS "/%s", r->path, name);
}

int reg_uverbs_dir(const struct reg_root *r, unsigned int idx, char *buf,
		   size_t len)
{
	return fs_path(buf, len, "%s/" VERBS_CLASS "/uverbs%u", r->path, idx);
}

int reg_cdev_path(unsigned int idx, char *buf, size_t len)
{
	return fs_path(buf, len, RDMA_TCP_CDEV_DIR "/uverbs%u", idx);
}

int reg_pidfile(const struct reg_root *r, const char *name, char *buf,
		size_t len)
{
	return fs_path(buf, len, "%s/" RUN_DIR "/%s.pid", r->path, name);
}

int reg_lock(const struct reg_root *r)
{
	char dir[PATH_MAX], path[PATH_MAX];
	int fd, err;

	err = fs_path(dir, sizeof(dir), "%s/" RUN_DIR, r->path);
	if (!err)
		err = fs_path(path, sizeof(path), "%s/" LOCK_FILE, dir);
	if (!err)
		err = fs_mkdir_p(dir, 0755);
	if (err) {
		rtcp_err("cannot create %s: %s", dir, strerror(-err));
		return err;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		err = -errno;
		rtcp_err("cannot open %s: %s", path, strerror(-err));
		return err;
	}
	while (flock(fd, LOCK_EX)) {
		if (errno == EINTR)
			continue;
		err = -errno;
		rtcp_err("cannot lock %s: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

void reg_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* Remove staging directories left by a run that was killed mid-way. */
static void remove_stale(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[PATH_MAX];

		if (strncmp(de->d_name, STAGE_PREFIX, strlen(STAGE_PREFIX)))
			continue;
		if (!fs_path(path, sizeof(path), "%s/%s", dir, de->d_name))
			fs_remove_tree(path);
	}
	closedir(d);
}

int reg_prepare(const struct reg_root *r)
{
	static const char *const dirs[] = { VERBS_CLASS, IB_CLASS };
	char path[PATH_MAX], cur[16];
	unsigned int i;
	int err;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		err = fs_path(path, sizeof(path), "%s/%s", r->path, dirs[i]);
		if (!err)
			err = fs_mkdir_p(path, 0755);
		if (err) {
			rtcp_err("cannot create %s: %s", path, strerror(-err));
			return err;
		}
		remove_stale(path);
	}
	err = fs_path(path, sizeof(path), "%s/" VERBS_CLASS "/abi_version",
		      r->path);
	if (err)
		return err;
	/* libibverbs refuses the whole class unless this reads 6 */
	if (fs_read_line(path, cur, sizeof(cur)) || strcmp(cur, "6") != 0) {
		err = fs_write_str(path, "6\n");
		if (err) {
			rtcp_err("cannot write %s: %s", path, strerror(-err));
			return err;
		}
	}
	return 0;
}

/*
 * Indices N of ROOT's class/infiniband_verbs/uverbsN whose ibdev is @name;
 * more than one only if someone made them by hand.
 */
static int uverbs_of(const struct reg_root *r, const char *name,
		     unsigned int *idx, int max)
{
	char dir[PATH_MAX];
	struct dirent *de;
	int count = 0;
	DIR *d;

	if (fs_path(dir, sizeof(dir), "%s/" VERBS_CLASS, r->path))
		return 0;
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d)) && count < max) {
		char path[PATH_MAX], ibdev[RTCP_DEV_NAME_MAX + 2];
		unsigned int n;

		if (rtcp_parse_uverbs(de->d_name, &n))
			continue;
		if (fs_path(path, sizeof(path), "%s/%s/ibdev", dir, de->d_name))
			continue;
		if (fs_read_line(path, ibdev, sizeof(ibdev)))
			continue;
		if (!strcmp(ibdev, name))
			idx[count++] = n;
	}
	closedir(d);
	return count;
}

bool reg_dev_exists(const struct reg_root *r, const char *name)
{
	unsigned int idx[1];
	char dir[PATH_MAX];
	struct stat st;

	if (reg_dev_dir(r, name, dir, sizeof(dir)))
		return false;
	if (!lstat(dir, &st) || errno != ENOENT)
		return true;
	return uverbs_of(r, name, idx, 1) > 0;
}

void reg_txn_init(struct reg_txn *t, const struct reg_root *r, const char *name)
{
	memset(t, 0, sizeof(*t));
	t->root = r;
	t->name = name;
	t->monitor = -1;
}

static unsigned int uverbs_base(void)
{
	struct stat st;

	return stat(KERNEL_VERBS_CLASS, &st) ? 0 : UVERBS_KERNEL_BASE;
}

int reg_claim_uverbs(struct reg_txn *t)
{
	char dir[PATH_MAX], cdev[PATH_MAX];
	const dev_t rdev = makedev(RDMA_TCP_CDEV_MAJOR, RDMA_TCP_CDEV_MINOR);
	struct stat st;
	unsigned int n;
	int err;

	err = fs_mkdir_p(RDMA_TCP_CDEV_DIR, 0755);
	if (err) {
		rtcp_err("cannot create %s: %s", RDMA_TCP_CDEV_DIR,
			 strerror(-err));
		return err;
	}
	for (n = uverbs_base(); n < UVERBS_MAX; n++) {
		if (reg_uverbs_dir(t->root, n, dir, sizeof(dir)) ||
		    reg_cdev_path(n, cdev, sizeof(cdev)))
			return -ENAMETOOLONG;
		if (!lstat(dir, &st))
			continue;
		/*
		 * mknod() is the claim: it fails with EEXIST for a node of
		 * a real kernel device or one made by an rdma-tcp run with
		 * another ROOT, which the lock does not cover.
		 */
		if (mknod(cdev, S_IFCHR | 0666, rdev)) {
			if (errno == EEXIST)
				continue;
			err = -errno;
			rtcp_err("cannot create %s: %s", cdev, strerror(-err));
			return err;
		}
		t->uverbs = n;
		t->cdev_made = true;
		/* mknod() applied the umask; UCX skips a node it cannot rw */
		if (chmod(cdev, 0666)) {
			err = -errno;
			rtcp_err("cannot chmod %s: %s", cdev, strerror(-err));
			return err;
		}
		return 0;
	}
	rtcp_err("no free uverbs index below %d in %s", UVERBS_MAX,
		 RDMA_TCP_CDEV_DIR);
	return -ENOSPC;
}

static int write_attr(const char *dir, const char *attr, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int write_attr(const char *dir, const char *attr, const char *fmt, ...)
{
	char path[PATH_MAX], val[ATTR_MAX];
	va_list ap;
	int n, err;

	va_start(ap, fmt);
	n = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(val))
		return -EOVERFLOW;
	err = fs_path(path, sizeof(path), "%s/%s", dir, attr);
	if (!err)
		err = fs_write_str(path, val);
	if (err)
		rtcp_err("cannot write %s/%s: %s", dir, attr, strerror(-err));
	return err;
}

/* write_attr() for text longer than an attribute (paths). */
static int write_text(const char *dir, const char *attr, const char *text)
{
	char path[PATH_MAX];
	int err;

	err = fs_path(path, sizeof(path), "%s/%s", dir, attr);
	if (!err)
		err = fs_write_str(path, text);
	if (err)
		rtcp_err("cannot write %s/%s: %s", dir, attr, strerror(-err));
	return err;
}

static int fill_device(const char *dir, const struct reg_txn *t,
		       const struct reg_dev_attrs *a)
{
	static const char *const subdirs[] = {
		"ports/1/gids",
		"ports/1/gid_attrs/types",
		"ports/1/gid_attrs/ndevs",
		"ports/1/pkeys",
	};
	char guid[RTCP_GUID_STR_LEN], path[PATH_MAX];
	unsigned int i;
	int err = 0;

	for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		err = fs_path(path, sizeof(path), "%s/%s", dir, subdirs[i]);
		if (!err)
			err = fs_mkdir_p(path, 0755);
		if (err) {
			rtcp_err("cannot create %s: %s", path, strerror(-err));
			return err;
		}
	}
	rtcp_guid_format(a->guid, guid);
	/* The attributes libibverbs and the provider read, as sysfs has them */
	if (!err)
		err = write_attr(dir, "node_type", "1: CA\n");
	if (!err)
		err = write_attr(dir, "node_guid", "%s\n", guid);
	if (!err)
		err = write_attr(dir, "sys_image_guid", "%s\n", guid);
	if (!err)
		err = write_attr(dir, "fw_ver", "%s\n", RDMA_TCP_VERSION);
	if (!err)
		err = write_attr(dir, "hw_rev", "0\n");
	if (!err)
		err = write_attr(dir, "hca_type", "tcp\n");
	if (!err)
		err = write_attr(dir, "node_desc", "%s %s\n", a->hostname,
				 a->name);
	/* Ours, for the provider: the netdev and the netns it lives in */
	if (!err)
		err = write_attr(dir, "parent", "%s\n", a->ifname);
	if (!err)
		err = write_attr(dir, "tcp_netns", "%llu\n", a->netns);
	if (!err)
		err = write_attr(dir, "tcp_uverbs", "uverbs%u\n", t->uverbs);
	/* security: the configuration (paths only) and `link rotate`'s count */
	if (!err)
		err = write_text(dir, RDMA_TCP_PSP_FILE, a->psp);
	if (!err)
		err = write_attr(dir, RDMA_TCP_PSP_ROTATION, "0\n");
	/* congestion control: "" for the netns default */
	if (!err)
		err = write_text(dir, RDMA_TCP_CC_FILE, a->cc ? a->cc : "");
	if (!err)
		err = write_attr(dir, "ports/1/link_layer", "Ethernet\n");
	if (!err)
		err = write_attr(dir, "ports/1/pkeys/0", "0xffff\n");
	if (err)
		return err;
	err = fs_path(path, sizeof(path), "%s/ports/1", dir);
	if (!err)
		err = gid_table_write(path, a->ifname, NULL, a->gids);
	if (err)
		rtcp_err("cannot write the GID table in %s: %s", path,
			 strerror(-err));
	return err;
}

/* Build @final under a staging name beside it, then rename it in. */
static int publish_dir(const char *final, const char *stage,
		       int (*fill)(const char *dir, const struct reg_txn *t,
				   const struct reg_dev_attrs *a),
		       const struct reg_txn *t, const struct reg_dev_attrs *a)
{
	int err;

	/* a leftover of a dead process that had our pid */
	fs_remove_tree(stage);
	if (mkdir(stage, 0755)) {
		err = -errno;
		rtcp_err("cannot create %s: %s", stage, strerror(-err));
		return err;
	}
	err = fill(stage, t, a);
	if (!err) {
		err = fs_rename_noreplace(stage, final);
		if (err == -EEXIST || err == -ENOTEMPTY)
			rtcp_err("%s already exists", final);
		else if (err)
			rtcp_err("cannot rename %s to %s: %s", stage, final,
				 strerror(-err));
	}
	if (err)
		fs_remove_tree(stage);
	return err;
}

int reg_publish_device(struct reg_txn *t, const struct reg_dev_attrs *a)
{
	char final[PATH_MAX], stage[PATH_MAX];
	int err;

	err = reg_dev_dir(t->root, t->name, final, sizeof(final));
	if (!err)
		err = fs_path(stage, sizeof(stage),
			      "%s/" IB_CLASS "/" STAGE_PREFIX "%s.%ld",
			      t->root->path, t->name, (long)getpid());
	if (err)
		return err;
	err = publish_dir(final, stage, fill_device, t, a);
	if (!err)
		t->dev_published = true;
	return err;
}

static int fill_uverbs(const char *dir, const struct reg_txn *t,
		       const struct reg_dev_attrs *a)
{
	int err;

	(void)a;
	err = write_attr(dir, "ibdev", "%s\n", t->name);
	if (!err)
		err = write_attr(dir, "dev", "%d:%d\n", RDMA_TCP_CDEV_MAJOR,
				 RDMA_TCP_CDEV_MINOR);
	if (!err)
		err = write_attr(dir, "abi_version", "%d\n",
				 RDMA_TCP_UVERBS_ABI);
	return err;
}

int reg_publish_uverbs(struct reg_txn *t)
{
	char final[PATH_MAX], stage[PATH_MAX];
	int err;

	err = reg_uverbs_dir(t->root, t->uverbs, final, sizeof(final));
	if (!err)
		err = fs_path(stage, sizeof(stage),
			      "%s/" VERBS_CLASS "/" STAGE_PREFIX "uverbs%u.%ld",
			      t->root->path, t->uverbs, (long)getpid());
	if (err)
		return err;
	err = publish_dir(final, stage, fill_uverbs, t, NULL);
	if (!err)
		t->uverbs_published = true;
	return err;
}

int reg_write_pidfile(struct reg_txn *t, pid_t pid)
{
	char path[PATH_MAX], val[32];
	int err;

	err = reg_pidfile(t->root, t->name, path, sizeof(path));
	if (!err)
		err = fs_path(val, sizeof(val), "%ld\n", (long)pid);
	if (!err)
		err = fs_write_str(path, val);
	if (err) {
		rtcp_err("cannot write %s: %s", path, strerror(-err));
		return err;
	}
	t->pidfile_written = true;
	return 0;
}

static int read_pidfile(const struct reg_root *r, const char *name, pid_t *pid)
{
	char path[PATH_MAX], val[32];
	unsigned long v;
	int err;

	err = reg_pidfile(r, name, path, sizeof(path));
	if (!err)
		err = fs_read_line(path, val, sizeof(val));
	if (err)
		return err;
	if (rtcp_parse_ulong(val, 0x7fffffff, &v) || v < 2)
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

/*
 * Withdraw a published directory: one rename() takes it out of sight, then
 * it is emptied where no reader looks.
 */
static int unpublish_dir(const char *dir)
{
	const char *slash = strrchr(dir, '/');
	char grave[PATH_MAX];
	int err;

	err = fs_path(grave, sizeof(grave), "%.*s" STAGE_PREFIX "del-%s.%ld",
		      (int)(slash - dir + 1), dir, slash + 1, (long)getpid());
	if (err)
		return err;
	fs_remove_tree(grave);
	if (rename(dir, grave)) {
		if (errno == ENOENT)
			return 0;
		/* cannot rename: remove in place rather than leave it */
		err = fs_remove_tree(dir);
	} else {
		err = fs_remove_tree(grave);
	}
	if (err)
		rtcp_err("cannot remove %s: %s", dir, strerror(-err));
	return err;
}

/* Remove /dev/infiniband/uverbsN only if it is the node we make. */
static int remove_cdev(unsigned int idx)
{
	char path[PATH_MAX];
	struct stat st;
	int err;

	err = reg_cdev_path(idx, path, sizeof(path));
	if (err)
		return err;
	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISCHR(st.st_mode) ||
	    st.st_rdev != makedev(RDMA_TCP_CDEV_MAJOR, RDMA_TCP_CDEV_MINOR))
		return 0;
	if (unlink(path) && errno != ENOENT) {
		err = -errno;
		rtcp_err("cannot remove %s: %s", path, strerror(-err));
		return err;
	}
	return 0;
}

void reg_rollback(struct reg_txn *t)
{
	char path[PATH_MAX];

	/* The monitor writes into the device directory: stop it first. */
	if (t->monitor > 0)
		gid_monitor_stop(t->monitor);
	if (t->pidfile_written &&
	    !reg_pidfile(t->root, t->name, path, sizeof(path)))
		unlink(path);
	if (t->uverbs_published &&
	    !reg_uverbs_dir(t->root, t->uverbs, path, sizeof(path)))
		unpublish_dir(path);
	if (t->dev_published &&
	    !reg_dev_dir(t->root, t->name, path, sizeof(path)))
		unpublish_dir(path);
	if (t->cdev_made)
		remove_cdev(t->uverbs);
	reg_txn_init(t, t->root, t->name);
}

int reg_remove_device(const struct reg_root *r, const char *name)
{
	char devdir[PATH_MAX], path[PATH_MAX], val[32];
	unsigned int idx[UVERBS_PER_DEV_MAX], own;
	bool have_dir, have_own;
	struct stat st;
	int n, i, err = 0, e;
	pid_t pid;

	if (reg_dev_dir(r, name, devdir, sizeof(devdir)))
		return -ENAMETOOLONG;
	have_dir = !lstat(devdir, &st);
	n = uverbs_of(r, name, idx, UVERBS_PER_DEV_MAX);
	if (!have_dir && !n) {
		rtcp_err("%s: no such device", name);
		return -ENOENT;
	}
	have_own = !reg_read_attr(r, name, "tcp_uverbs", val, sizeof(val)) &&
		   !rtcp_parse_uverbs(val, &own);

	/* out of libibverbs' sight first */
	for (i = 0; i < n; i++) {
		if (reg_uverbs_dir(r, idx[i], path, sizeof(path)))
			continue;
		e = unpublish_dir(path);
		if (e && !err)
			err = e;
	}
	if (!read_pidfile(r, name, &pid)) {
		e = gid_monitor_stop(pid);
		if (e) {
			rtcp_err("GID monitor (pid %ld) of %s would not exit",
				 (long)pid, name);
			if (!err)
				err = e;
		}
	}
	for (i = 0; i < n; i++) {
		e = remove_cdev(idx[i]);
		if (e && !err)
			err = e;
	}
	/*
	 * A run killed between making the node and publishing uverbsN leaves
	 * a node that only tcp_uverbs names. Its N is still ours unless a
	 * uverbsN of another device exists (uverbs_of() found ours).
	 */
	if (have_own && !reg_uverbs_dir(r, own, path, sizeof(path)) &&
	    lstat(path, &st) && errno == ENOENT) {
		e = remove_cdev(own);
		if (e && !err)
			err = e;
	}
	if (have_dir) {
		e = unpublish_dir(devdir);
		if (e && !err)
			err = e;
	}
	if (!reg_pidfile(r, name, path, sizeof(path)) && unlink(path) &&
	    errno != ENOENT) {
		e = -errno;
		rtcp_err("cannot remove %s: %s", path, strerror(-e));
		if (!err)
			err = e;
	}
	return err;
}

static int dev_filter(const struct dirent *de)
{
	if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
		return 0;
	return rtcp_check_dev_name(de->d_name) == NULL;
}

int reg_list(const struct reg_root *r, char ***names, int *count)
{
	struct dirent **ents;
	char dir[PATH_MAX];
	char **out;
	int n, i, err;

	*names = NULL;
	*count = 0;
	err = fs_path(dir, sizeof(dir), "%s/" IB_CLASS, r->path);
	if (err)
		return err;
	n = scandir(dir, &ents, dev_filter, versionsort);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		err = -errno;
		rtcp_err("cannot read %s: %s", dir, strerror(-err));
		return err;
	}
	out = calloc((size_t)n + 1, sizeof(*out));
	for (i = 0; i < n; i++) {
		if (out && !(out[i] = strdup(ents[i]->d_name)))
			err = -ENOMEM;
		free(ents[i]);
	}
	free(ents);
	if (!out || err) {
		reg_list_free(out, n);
		rtcp_err("out of memory");
		return -ENOMEM;
	}
	*names = out;
	*count = n;
	return 0;
}

void reg_list_free(char **names, int count)
{
	int i;

	if (!names)
		return;
	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

int reg_read_attr(const struct reg_root *r, const char *name, const char *attr,
		  char *buf, size_t len)
{
	char path[PATH_MAX];
	int err;

	err = fs_path(path, sizeof(path), "%s/" IB_CLASS "/%s/%s", r->path,
		      name, attr);
	if (err)
		return err;
	return fs_read_line(path, buf, len);
}
