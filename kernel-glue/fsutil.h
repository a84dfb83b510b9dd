/* SPDX-License-Identifier: MIT */
/*
 * File-system primitives of the registry. Every function returns 0 or a
 * negative errno and prints nothing: callers decide what to tell the user
 * (the CLI on stderr, the GID monitor in syslog).
 */
#ifndef RDMA_TCP_FSUTIL_H
#define RDMA_TCP_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* snprintf() into @buf; -ENAMETOOLONG instead of silent truncation. */
int fs_path(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* mkdir -p with @mode for the directories it creates. */
int fs_mkdir_p(const char *path, mode_t mode);

/*
 * Replace @path with @data: written to a temporary file in the same
 * directory, then rename()d over @path, so a reader sees the old content or
 * the new one, never a part. Mode 0644 whatever the umask: the files are
 * read by unprivileged programs through libibverbs.
 */
int fs_write_atomic(const char *path, const char *data, size_t len);
int fs_write_str(const char *path, const char *s);

/*
 * Read a small one-line file into @buf without its trailing newline.
 * -EOVERFLOW when it does not fit, -EINVAL when it holds more than a line.
 */
int fs_read_line(const char *path, char *buf, size_t len);

/* rm -rf that never follows a symlink; a missing @path is not an error. */
int fs_remove_tree(const char *path);

/* rename() that fails with -EEXIST instead of replacing @to. */
int fs_rename_noreplace(const char *from, const char *to);

#endif
