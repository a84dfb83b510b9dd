/* SPDX-License-Identifier: MIT */
/*
 * The context's statistics file (stat.h): created at open, a slot per QP,
 * marked closed at close (the device's daemon adds its totals to the
 * device's and removes it). Readers only ever see whole counters; a slot's
 * QPN is published last (release) so that a reader never shows a half-set
 * slot.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rdma_tcp/registry.h>

#include "qp.h"
#include "stat.h"
#include "tcp.h"

#define STAT_OFLAGS (O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC)

static atomic_uint stat_seq; /* N of PID-N: one file per context */

static void stat_path(char *buf, size_t len, unsigned int seq)
{
	const char *root = secure_getenv(RDMA_TCP_ROOT_ENV);

	snprintf(buf, len, "%s/%s/%d-%u",
		 root && *root ? root : RDMA_TCP_DEFAULT_ROOT, RTCP_STAT_DIR,
		 (int)getpid(), seq);
}

static void stat_mkdir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return;
	*slash = 0;
	/* run/ then run/stat; 01777 like /tmp: every user's contexts write
	 * here, each file is its owner's alone (0600) */
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
		mkdir(dir, 0755);
		*slash = '/';
	}
	if (!mkdir(dir, 01777))
		chmod(dir, 01777);
}

/* device names are short ("tcp0"); a longer one is cut, still ended */
static void stat_dev_name(char dst[16], const char *name)
{
	size_t n = strnlen(name, 15);

	memcpy(dst, name, n);
	dst[n] = 0;
}

void tcp_stat_open(struct tcp_context *ctx)
{
	struct rtcp_stat_file *f;
	char path[PATH_MAX];
	int fd;

	ctx->stat_seq = atomic_fetch_add(&stat_seq, 1);
	stat_path(path, sizeof(path), ctx->stat_seq);
	stat_mkdir(path);
	/* never through a link or into another's file: a stale one of a
	 * killed process that had our PID is ours to replace, once */
	fd = open(path, STAT_OFLAGS, 0600);
	if (fd < 0 && errno == EEXIST && !unlink(path))
		fd = open(path, STAT_OFLAGS, 0600);
	if (fd < 0)
		return;
	if (ftruncate(fd, sizeof(*f))) {
		close(fd);
		unlink(path);
		return;
	}
	f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (f == MAP_FAILED) {
		unlink(path);
		return;
	}
	f->version = RTCP_STAT_VERSION;
	f->pid = (uint32_t)getpid();
	f->nslots = RTCP_STAT_SLOTS;
	stat_dev_name(f->dev, ctx->vctx.context.device->name);
	__atomic_store_n(&f->magic, RTCP_STAT_MAGIC, __ATOMIC_RELEASE);
	ctx->stat = f;
}

/*
 * The file stays: its totals are the device's (hw_counters) until the
 * device's daemon has added them to its own and removes it.
 */
void tcp_stat_close(struct tcp_context *ctx)
{
	if (!ctx->stat)
		return;
	__atomic_store_n(&ctx->stat->closed, 1, __ATOMIC_RELEASE);
	munmap(ctx->stat, sizeof(*ctx->stat));
	ctx->stat = NULL;
}

void tcp_stat_qp_add(struct tcp_qp *qp)
{
	struct rtcp_stat_file *f = qp->ctx->stat;
	struct rtcp_stat_slot *s;
	uint32_t free_qpn;
	unsigned int i;

	qp->stat = NULL;
	if (!f)
		return;
	for (i = 0; i < RTCP_STAT_SLOTS; i++) {
		s = &f->slot[i];
		free_qpn = 0;
		/* claim with a marker no QP has, fill, then publish */
		if (!__atomic_compare_exchange_n(&s->qpn, &free_qpn, UINT32_MAX,
						 false, __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;
		memset(s->ctr, 0, sizeof(s->ctr));
		memset(s->laddr, 0, sizeof(s->laddr));
		memset(s->raddr, 0, sizeof(s->raddr));
		s->qp_type = qp->type;
		stat_dev_name(s->dev, qp->ctx->vctx.context.device->name);
		__atomic_store_n(&s->qpn, qp->vqp.qp.qp_num, __ATOMIC_RELEASE);
		qp->stat = s->ctr;
		qp->stat_slot = s;
		return;
	}
}

/*
 * The QP's counters move to the context's retired totals before its slot
 * is freed, so that the device's totals never go back; bracketed for
 * readers (stat.h).
 */
void tcp_stat_qp_del(struct tcp_qp *qp)
{
	struct rtcp_stat_file *f = qp->ctx->stat;
	uint64_t *ctr = qp->stat;
	unsigned int i;

	if (!qp->stat_slot)
		return;
	qp->stat = NULL;
	/* acquire: the moves below stay after it (no fence: ThreadSanitizer
	 * builds refuse atomic_thread_fence) */
	__atomic_fetch_add(&f->fold_begin, 1, __ATOMIC_ACQ_REL);
	for (i = 0; i < RTCP_STAT_N; i++)
		__atomic_fetch_add(&f->retired[i],
				   __atomic_load_n(&ctr[i], __ATOMIC_RELAXED),
				   __ATOMIC_RELAXED);
	__atomic_store_n(&qp->stat_slot->qpn, 0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&f->fold_end, 1, __ATOMIC_RELEASE);
	qp->stat_slot = NULL;
}

void tcp_stat_qp_conn(struct tcp_qp *qp, int fd)
{
	struct rtcp_stat_slot *s = qp->stat_slot;
	struct sockaddr_storage ss;
	socklen_t len;

	if (!s)
		return;
	len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (!getsockname(fd, (struct sockaddr *)&ss, &len))
		memcpy(s->laddr, &ss, sizeof(s->laddr));
	len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (!getpeername(fd, (struct sockaddr *)&ss, &len))
		memcpy(s->raddr, &ss, sizeof(s->raddr));
}
