// SPDX-License-Identifier: MIT
/*
 * A consistent copy of a context's statistics file: the provider moves a
 * destroyed QP's counters into the header's retired totals between
 * fold_begin++ and fold_end++ (stat.h); a copy taken while no move ran
 * counts every QP exactly once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "stat_read.h"

#define SNAPSHOT_TRIES 16 /* QP destroys racing every copy: give up */

const char *const stat_ctr_names[RTCP_STAT_N] = {
	"send_ops",	   "send_bytes",   "write_ops",	     "write_bytes",
	"read_ops",	   "read_bytes",   "atomic_ops",     "recv_ops",
	"recv_bytes",	   "err_wc",	   "ud_sent",	     "ud_recv",
	"ud_dropped",	   "rnr_waits",	   "rejected",	     "tgt_write_ops",
	"tgt_write_bytes", "tgt_read_ops", "tgt_read_bytes", "tgt_atomic_ops",
};

const char *hw_ctr_name(unsigned int i)
{
	if (i < RTCP_STAT_N)
		return stat_ctr_names[i];
	return i == HW_CTR_RDMA_SENDS ? "rdma_sends" : "rdma_recvs";
}

/* rxe's rdma_sends / rdma_recvs: send WQEs completed, receives completed */
void hw_ctr_values(const uint64_t tot[RTCP_STAT_N], uint64_t v[HW_CTR_N])
{
	memcpy(v, tot, RTCP_STAT_N * sizeof(*v));
	v[HW_CTR_RDMA_SENDS] = tot[RTCP_STAT_SEND_OPS] + tot[RTCP_STAT_UD_SENT];
	v[HW_CTR_RDMA_RECVS] = tot[RTCP_STAT_RECV_OPS] + tot[RTCP_STAT_UD_RECV];
}

void hw_retired_load(const char *path, uint64_t retired[RTCP_STAT_N])
{
	char name[32];
	unsigned long long v;
	unsigned int i;
	FILE *f = fopen(path, "re");

	while (f && fscanf(f, "%31s %llu", name, &v) == 2)
		for (i = 0; i < RTCP_STAT_N; i++)
			if (!strcmp(name, stat_ctr_names[i]))
				retired[i] = v;
	if (f)
		fclose(f);
}

int hw_totals_now(const char *hwdir, const char *retired_path,
		  const char *statdir, const char *dev,
		  uint64_t tot[RTCP_STAT_N])
{
	struct rtcp_stat_file *f = malloc(sizeof(*f)); /* large */
	int lock = open(hwdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *e;
	int err = 0;
	DIR *d;

	memset(tot, 0, RTCP_STAT_N * sizeof(*tot));
	if (!f || lock < 0 || flock(lock, LOCK_SH))
		err = f ? errno : ENOMEM;
	if (err) {
		free(f);
		if (lock >= 0)
			close(lock);
		return err;
	}
	hw_retired_load(retired_path, tot);
	d = opendir(statdir);
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' &&
		    !stat_snapshot(dirfd(d), e->d_name, f) &&
		    !strncmp(f->dev, dev, sizeof(f->dev)))
			stat_file_add(f, tot);
	if (d)
		closedir(d);
	close(lock); /* (the lock goes with it) */
	free(f);
	return 0;
}

static int read_u64(int fd, size_t off, uint64_t *v)
{
	return pread(fd, v, sizeof(*v), (off_t)off) == sizeof(*v) ? 0 : EIO;
}

static int snapshot_fd(int fd, struct rtcp_stat_file *f)
{
	uint64_t end, begin;
	int i;

	for (i = 0; i < SNAPSHOT_TRIES; i++) {
		if (read_u64(fd, offsetof(struct rtcp_stat_file, fold_end),
			     &end) ||
		    pread(fd, f, sizeof(*f), 0) != (ssize_t)sizeof(*f) ||
		    read_u64(fd, offsetof(struct rtcp_stat_file, fold_begin),
			     &begin))
			return EIO;
		if (f->magic != RTCP_STAT_MAGIC ||
		    f->version != RTCP_STAT_VERSION)
			return EPROTO;
		if (begin == end)
			return 0;
	}
	return EAGAIN;
}

int stat_snapshot(int dirfd, const char *name, struct rtcp_stat_file *f)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int err;

	if (fd < 0)
		return errno;
	err = snapshot_fd(fd, f);
	close(fd);
	return err;
}

bool stat_file_over(const struct rtcp_stat_file *f)
{
	return f->closed || (kill((pid_t)f->pid, 0) && errno == ESRCH);
}

void stat_file_add(const struct rtcp_stat_file *f, uint64_t sum[RTCP_STAT_N])
{
	unsigned int i, k;

	for (k = 0; k < RTCP_STAT_N; k++)
		sum[k] += f->retired[k];
	for (i = 0; i < RTCP_STAT_SLOTS; i++) {
		const struct rtcp_stat_slot *s = &f->slot[i];

		/* free, or being claimed: its old counters are retired */
		if (!s->qpn || s->qpn == UINT32_MAX)
			continue;
		for (k = 0; k < RTCP_STAT_N; k++)
			sum[k] += s->ctr[k];
	}
}
