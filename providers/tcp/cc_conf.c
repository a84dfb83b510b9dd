// SPDX-License-Identifier: MIT
/*
 * Congestion control names: the kernel's list, the device's choice
 * (cc_conf.h). No state: each call reads the files, so a `link set`
 * applies to the next connection without anyone watching for it.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rdma_tcp/registry.h>

#include "cc_conf.h"

/* The first line of @path, without its newline, into @buf; 0 or errno. */
static int read_line(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		err = errno;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* A name the kernel could hold: 1..15 characters, no blank or control. */
static bool plain_word(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n >= TCP_CC_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!isgraph((unsigned char)name[i]))
			return false;
	return true;
}

int tcp_cc_check(const char *name, char *avail, size_t len)
{
	char list[512], *w, *save = NULL;
	int err;

	err = read_line(TCP_CC_AVAILABLE, list, sizeof(list));
	if (avail)
		snprintf(avail, len, "%s", err ? "?" : list);
	if (!name || !plain_word(name))
		return EINVAL;
	if (err)
		return err;
	for (w = strtok_r(list, " \t", &save); w;
	     w = strtok_r(NULL, " \t", &save))
		if (!strcmp(w, name))
			return 0;
	return EINVAL;
}

int tcp_cc_conf_read(const char *ibdev_path, char out[TCP_CC_NAME_MAX])
{
	char path[PATH_MAX], buf[64];
	int err;

	out[0] = '\0';
	if (snprintf(path, sizeof(path), "%s/" RDMA_TCP_CC_FILE, ibdev_path) >=
	    (int)sizeof(path))
		return ENAMETOOLONG;
	err = read_line(path, buf, sizeof(buf));
	if (err == ENOENT)
		return 0; /* none configured */
	if (err)
		return err;
	if (buf[0] && !plain_word(buf))
		return EINVAL;
	memcpy(out, buf, strlen(buf) + 1); /* plain_word: it fits */
	return 0;
}

int tcp_cc_default(char out[TCP_CC_NAME_MAX])
{
	char buf[64];
	int err = read_line(TCP_CC_DEFAULT, buf, sizeof(buf));

	out[0] = '\0';
	if (!err && !plain_word(buf))
		err = EINVAL;
	if (!err)
		memcpy(out, buf, strlen(buf) + 1);
	return err;
}
