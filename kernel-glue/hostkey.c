// SPDX-License-Identifier: MIT
/*
 * The host key, ROOT/etc/host.key: the credential of every device of a
 * registry that names none, so loopback and namespaces sharing a registry
 * authenticate with no setup. Made once, by the first `link add` or
 * `link set` that needs it; see psp_cfg.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "fsutil.h"
#include "glue_util.h"
#include "psp_cfg.h"

#define KEY_BYTES TCP_PSP_PSK_LEN

static int group_id(const char *group, gid_t *gid)
{
	struct group *g = getgrnam(group);
	unsigned long v;

	if (g) {
		*gid = g->gr_gid;
		return 0;
	}
	if (!rtcp_parse_ulong(group, 0x7fffffff, &v)) {
		*gid = (gid_t)v;
		return 0;
	}
	rtcp_err("no group \"%s\"", group);
	return -ENOENT;
}

/* Owner root, group @gid, 0640; or 0600 with no group. */
static int key_perms(int fd, const char *group, gid_t gid)
{
	if (group && fchown(fd, (uid_t)-1, gid))
		return -errno;
	return fchmod(fd, group ? 0640 : 0600) ? -errno : 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 32 random bytes as 64 hex digits and a newline. */
static int random_hex(char hex[2 * KEY_BYTES + 1])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t key[KEY_BYTES];
	size_t got = 0;
	int i;

	while (got < sizeof(key)) {
		ssize_t n = getrandom(key + got, sizeof(key) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	for (i = 0; i < KEY_BYTES; i++) {
		hex[2 * i] = digits[key[i] >> 4];
		hex[2 * i + 1] = digits[key[i] & 15];
	}
	hex[2 * KEY_BYTES] = '\n';
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

/*
 * A new key in a temporary file that only its final name makes visible:
 * rename without replacing, so two writers agree on the first key made.
 */
static int create_key(const char *path, const char *group, gid_t gid)
{
	char tmp[PATH_MAX], hex[2 * KEY_BYTES + 1];
	const char *slash = strrchr(path, '/');
	int fd, err;

	err = fs_path(tmp, sizeof(tmp), "%.*s.host.key.tmp.%ld",
		      (int)(slash - path + 1), path, (long)getpid());
	if (err)
		return err;
	unlink(tmp); /* a leftover of a dead process that had our pid */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return -errno;
	err = key_perms(fd, group, gid);
	if (!err)
		err = random_hex(hex);
	if (!err)
		err = write_all(fd, hex, sizeof(hex));
	OPENSSL_cleanse(hex, sizeof(hex));
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err)
		err = fs_rename_noreplace(tmp, path);
	if (err)
		unlink(tmp);
	/* made meanwhile by an rdma-tcp run that did not take our lock */
	return err == -EEXIST ? 0 : err;
}

/* `group NAME` on an existing key: it is shared, so its group changes. */
static int regroup_key(const char *path, const char *group, gid_t gid)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	err = key_perms(fd, group, gid);
	close(fd);
	return err;
}

int hostkey_ensure(const struct reg_root *r, const char *group, char *path,
		   size_t len)
{
	char dir[PATH_MAX];
	struct stat st;
	gid_t gid = 0;
	int err;

	err = fs_path(dir, sizeof(dir), "%s/etc", r->path);
	if (!err)
		err = fs_path(path, len, "%s/" RDMA_TCP_HOST_KEY, r->path);
	if (err) {
		rtcp_err("%s: path too long", r->path);
		return err;
	}
	if (group && group_id(group, &gid))
		return -ENOENT;
	err = fs_mkdir_p(dir, 0755);
	if (!err) {
		if (lstat(path, &st) == 0)
			err = group ? regroup_key(path, group, gid) : 0;
		else
			err = errno == ENOENT ? create_key(path, group, gid)
					      : -errno;
	}
	if (err)
		rtcp_err("cannot make the host key %s: %s", path,
			 strerror(-err));
	return err;
}
