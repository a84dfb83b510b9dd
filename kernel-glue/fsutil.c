// SPDX-License-Identifier: MIT
/* File-system primitives of the registry; see fsutil.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

/* The registry tree is about six levels deep; anything deeper is not ours. */
#define FS_REMOVE_MAX_DEPTH 16

int fs_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int fs_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	struct stat st;
	char *p;
	int err;

	err = fs_path(tmp, sizeof(tmp), "%s", path);
	if (err)
		return err;
	/* Walk the components after the leading '/', creating each. */
	for (p = tmp + 1;; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (p > tmp && p[-1] != '/' && mkdir(tmp, mode) &&
		    errno != EEXIST)
			return -errno;
		/* EEXIST may be a file or a dangling symlink: insist on a dir */
		if (p > tmp && p[-1] != '/') {
			if (stat(tmp, &st))
				return -errno;
			if (!S_ISDIR(st.st_mode))
				return -ENOTDIR;
		}
		if (last)
			break;
		*p = '/';
	}
	return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_write_atomic(const char *path, const char *data, size_t len)
{
	const char *slash = strrchr(path, '/');
	char tmp[PATH_MAX];
	int fd = -1, err, attempt;

	if (!slash || !slash[1])
		return -EINVAL;
	/*
	 * A dot name in the same directory (rename() cannot cross file
	 * systems, and nothing looks up dot names there); the pid keeps two
	 * writers, e.g. `link add` and a GID monitor, apart.
	 */
	err = fs_path(tmp, sizeof(tmp), "%.*s.%s.tmp.%ld",
		      (int)(slash - path + 1), path, slash + 1, (long)getpid());
	if (err)
		return err;
	for (attempt = 0; attempt < 2; attempt++) {
		fd = open(tmp,
			  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			  0644);
		if (fd >= 0 || errno != EEXIST)
			break;
		/* left behind by a dead process that had our pid */
		unlink(tmp);
	}
	if (fd < 0)
		return -errno;
	err = fchmod(fd, 0644) ? -errno : 0;
	if (!err)
		err = write_all(fd, data, len);
	/* close() can report a deferred write error (e.g. NFS, quota) */
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

int fs_write_str(const char *path, const char *s)
{
	return fs_write_atomic(path, s, strlen(s));
}

static ssize_t read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int fs_read_line(const char *path, char *buf, size_t len)
{
	ssize_t n;
	char extra;
	int fd;

	if (!len)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read_all(fd, buf, len);
	if (n == (ssize_t)len) {
		/* a full buffer is fine only when it ends the file in '\n' */
		if (buf[len - 1] != '\n' || read_all(fd, &extra, 1) != 0) {
			close(fd);
			return -EOVERFLOW;
		}
	}
	close(fd);
	if (n < 0)
		return (int)n;
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	if (memchr(buf, '\n', (size_t)n) || strlen(buf) != (size_t)n)
		return -EINVAL;
	return 0;
}

static int remove_at(int parent, const char *name, int depth)
{
	struct dirent *de;
	int fd, err = 0;
	DIR *d;

	if (!unlinkat(parent, name, 0) || errno == ENOENT)
		return 0;
	/* Linux says EISDIR for a directory, POSIX allows EPERM */
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	if (depth >= FS_REMOVE_MAX_DEPTH)
		return -ELOOP;
	fd = openat(parent, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	while ((de = readdir(d))) {
		int e;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		e = remove_at(dirfd(d), de->d_name, depth + 1);
		if (e && !err)
			err = e;
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) && errno != ENOENT && !err)
		err = -errno;
	return err;
}

int fs_remove_tree(const char *path)
{
	return remove_at(AT_FDCWD, path, 0);
}

int fs_rename_noreplace(const char *from, const char *to)
{
	struct stat st;

	if (!renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE))
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/*
	 * The file system cannot do RENAME_NOREPLACE. Callers hold the
	 * registry lock, so check-then-rename is safe among rdma-tcp runs.
	 */
	if (!lstat(to, &st))
		return -EEXIST;
	if (errno != ENOENT)
		return -errno;
	return rename(from, to) ? -errno : 0;
}
