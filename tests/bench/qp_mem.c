// SPDX-License-Identifier: MIT
/*
 * qp_mem [-d DEV] [-n PAIRS] [-s SEND_WR] [-r RECV_WR] [-i INLINE]:
 * the memory an idle, connected RC QP costs. Benchmark helper for
 * tests/bench/run.
 *
 * In one process, on one context/PD/CQ: one warm-up pair of RC QPs is
 * connected to each other (so the context's listener, engine thread and
 * first-use allocations are paid before the baseline), then PAIRS more pairs
 * are created and connected (INIT -> RTR -> RTS, GRH with GID 0). One 8-byte
 * RDMA WRITE per pair, polled to completion, proves each connection is up;
 * then the process sits idle for 2.5 s and is measured again. Per QP =
 * (after - baseline) / (2 * PAIRS): both ends of each pair are QPs.
 *
 * Printed as key=value on one line:
 *   rss_per_qp     VmRSS delta (resident user memory: heap, rings, stacks)
 *   heap_per_qp    malloc'ed bytes delta (mallinfo2 uordblks + hblkhd)
 *   vm_per_qp      VmSize delta (address space reserved, touched or not)
 *   skmem_per_qp   kernel socket buffers charged to this process's sockets
 *                  (SO_MEMINFO: rmem_alloc + wmem_queued + fwd_alloc + optmem)
 *   slab_per_qp    new sockets x the kernel's TCP socket object size
 *                  (/proc/slabinfo "TCP" objsize; 0 if unreadable)
 *   total_per_qp   rss + skmem + slab: what the idle QP costs the host
 *   setup_s        wall time to create, connect and complete the first
 *                  WRITE on the PAIRS pairs (both ends in this process)
 *   setup_cpu_s    CPU time (user + system, all threads) of that
 *   poll_us        then, with all of them on the one CQ: the mean cost of
 *                  an ibv_poll_cq that finds nothing (20000 polls)
 *   write_poll_us  the mean time of an 8 B signaled WRITE on the first
 *                  pair, polled to its completion on that CQ (2000 times)
 *   wait_engine_pct
 *                  then one SEND on the first pair, whose peer has no
 *                  receive posted (it waits for one: rnr_retry 7): the
 *                  CPU the provider's engine threads take in the next
 *                  300 ms, in percent of one CPU (the wait holds a timer
 *                  reference, so the engine ticks every millisecond)
 * Exit 0 on success, 1 if a step failed (message on stderr).
 */

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <linux/sock_diag.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "tqp.h"

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif

struct snap {
	long rss_kb, vm_kb;
	long long heap;
	long sockets;
	long long skmem;
};

struct pair {
	struct ibv_qp *a, *b;
};

static struct ibv_context *ctx;
static struct ibv_pd *pd;
static struct ibv_cq *cq;
static struct ibv_mr *mr;
static char buf[4096];
static union ibv_gid gid0;
static int send_wr = 128, recv_wr = 512, max_inline;

static long status_kb(const char *key)
{
	char line[256];
	size_t n = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Sockets this process holds and the socket memory the kernel charges them */
static void sockets(long *count, long long *mem)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	*count = 0;
	*mem = 0;
	if (!d)
		return;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		struct stat st;
		uint32_t mi[SK_MEMINFO_VARS];
		socklen_t len = sizeof(mi);

		if (e->d_name[0] == '.' || fd == dirfd(d) || fstat(fd, &st) ||
		    !S_ISSOCK(st.st_mode))
			continue;
		(*count)++;
		memset(mi, 0, sizeof(mi));
		if (!getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len))
			*mem += (long long)mi[SK_MEMINFO_RMEM_ALLOC] +
				mi[SK_MEMINFO_WMEM_QUEUED] +
				mi[SK_MEMINFO_FWD_ALLOC] +
				mi[SK_MEMINFO_OPTMEM];
	}
	closedir(d);
}

static long tcp_slab_objsize(void)
{
	char line[512], name[64];
	long active, num, objsize = 0;
	FILE *f = fopen("/proc/slabinfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld %ld %ld", name, &active, &num,
			   &objsize) == 4 &&
		    !strcmp(name, "TCP"))
			break;
		else
			objsize = 0;
	fclose(f);
	return objsize;
}

static double cpu_s(const struct rusage *u)
{
	return u->ru_utime.tv_sec + u->ru_stime.tv_sec +
	       (u->ru_utime.tv_usec + u->ru_stime.tv_usec) / 1e6;
}

static void take(struct snap *s)
{
	struct mallinfo2 m = mallinfo2();

	s->rss_kb = status_kb("VmRSS");
	s->vm_kb = status_kb("VmSize");
	s->heap = (long long)m.uordblks + (long long)m.hblkhd;
	sockets(&s->sockets, &s->skmem);
}

static struct ibv_qp *new_qp(void)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = cq,
		.recv_cq = cq,
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = send_wr,
			 .max_recv_wr = recv_wr,
			 .max_send_sge = 1,
			 .max_recv_sge = 1,
			 .max_inline_data = max_inline },
	};
	struct ibv_qp *qp = ibv_create_qp(pd, &ia);

	if (!qp)
		fprintf(stderr, "qp_mem: ibv_create_qp: %s\n", strerror(errno));
	return qp;
}

static int to_rtr(struct ibv_qp *qp, uint32_t dest)
{
	struct tqp_path p = tqp_path(dest, &gid0);
	int rc = tqp_init(qp, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				      IBV_ACCESS_REMOTE_READ);

	if (!rc)
		rc = tqp_rtr(qp, &p);
	if (rc)
		fprintf(stderr, "qp_mem: ibv_modify_qp: %s\n", strerror(rc));
	return rc ? -1 : 0;
}

static int rts(struct ibv_qp *qp, uint32_t dest)
{
	struct tqp_path p = tqp_path(dest, &gid0);
	int rc = tqp_rts(qp, &p);

	if (rc)
		fprintf(stderr, "qp_mem: ibv_modify_qp RTS: %s\n",
			strerror(rc));
	return rc ? -1 : 0;
}

static double since_us(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1e6 + (b.tv_nsec - a->tv_nsec) / 1e3;
}

/* CPU time so far of this process's engine threads (schedstat), in ns */
static uint64_t engine_cpu_ns(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	uint64_t sum = 0;

	while (d && (e = readdir(d))) {
		char path[288], comm[32] = "";
		unsigned long long ns;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		if (strncmp(comm, "rdma-tcp-engine", 15))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat",
			 e->d_name);
		f = fopen(path, "r");
		if (f && fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return sum;
}

/* One signaled 8-byte request from buf: a WRITE lands at buf + 64 */
static int post8(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t wr_id)
{
	struct ibv_sge sge = { .addr = (uintptr_t)buf,
			       .length = 8,
			       .lkey = mr->lkey };
	struct ibv_send_wr wr = { .wr_id = wr_id,
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED,
				  .wr.rdma = { .remote_addr =
						       (uintptr_t)buf + 64,
					       .rkey = mr->rkey } },
			   *bad;

	return ibv_post_send(qp, &wr, &bad);
}

/* wait_engine_pct (see the top); -1 if the SEND could not be posted */
static double wait_engine_pct(struct ibv_qp *qp)
{
	struct timespec t0;
	uint64_t e0;

	if (post8(qp, IBV_WR_SEND, 0))
		return -1;
	e0 = engine_cpu_ns();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	usleep(300000); /* the measured interval, not a wait for anything */
	return (engine_cpu_ns() - e0) / 1e3 / since_us(&t0) * 100;
}

/* poll_us and write_poll_us (see the top); -1 if a WRITE failed */
static int poll_costs(struct ibv_qp *qp, double *poll_us, double *write_us)
{
	struct timespec t0;
	struct ibv_wc wc;
	int i, k;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 20000; i++)
		ibv_poll_cq(cq, 1, &wc);
	*poll_us = since_us(&t0) / 20000;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 2000; i++) {
		if (post8(qp, IBV_WR_RDMA_WRITE, 0))
			return -1;
		while (!(k = ibv_poll_cq(cq, 1, &wc)))
			;
		if (k < 0 || wc.status != IBV_WC_SUCCESS)
			return -1;
	}
	*write_us = since_us(&t0) / 2000;
	return 0;
}

/* Create and connect n pairs, then one signaled WRITE on each: all up */
static int make_pairs(struct pair *p, int n)
{
	struct timespec t0, t;
	int i, done = 0;

	for (i = 0; i < n; i++) {
		p[i].a = new_qp();
		p[i].b = new_qp();
		if (!p[i].a || !p[i].b)
			return -1;
		if (to_rtr(p[i].a, p[i].b->qp_num) ||
		    to_rtr(p[i].b, p[i].a->qp_num) ||
		    rts(p[i].a, p[i].b->qp_num) || rts(p[i].b, p[i].a->qp_num))
			return -1;
	}
	for (i = 0; i < n; i++) {
		int rc = post8(p[i].a, IBV_WR_RDMA_WRITE, i);

		if (rc) {
			fprintf(stderr, "qp_mem: ibv_post_send: %s\n",
				strerror(rc));
			return -1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < n) {
		struct ibv_wc wc[32];
		int k = ibv_poll_cq(cq, 32, wc);

		for (i = 0; i < k; i++)
			if (wc[i].status != IBV_WC_SUCCESS) {
				fprintf(stderr, "qp_mem: completion %s\n",
					ibv_wc_status_str(wc[i].status));
				return -1;
			}
		done += k > 0 ? k : 0;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 30) {
			fprintf(stderr,
				"qp_mem: %d of %d WRITEs completed in 30 s\n",
				done, n);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *dev = "tcp0";
	struct ibv_device **list;
	struct pair warm, *p;
	struct snap s0, s1;
	struct timespec t0, t1;
	struct rusage u0, u1;
	struct rlimit rl;
	long slab;
	int i, n, npairs = 256, opt;
	double q, poll_us, write_us, wait_pct;

	while ((opt = getopt(argc, argv, "d:n:s:r:i:")) != -1) {
		switch (opt) {
		case 'd':
			dev = optarg;
			break;
		case 'n':
			npairs = atoi(optarg);
			break;
		case 's':
			send_wr = atoi(optarg);
			break;
		case 'r':
			recv_wr = atoi(optarg);
			break;
		case 'i':
			max_inline = atoi(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: %s [-d DEV] [-n PAIRS] [-s SEND_WR] "
				"[-r RECV_WR] [-i INLINE]\n",
				argv[0]);
			return 2;
		}
	}
	if (npairs < 1)
		return 2;
	/* two sockets per pair plus listeners: lift the soft fd limit */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	list = ibv_get_device_list(&n);
	for (i = 0; list && i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), dev))
			ctx = ibv_open_device(list[i]);
	if (!ctx) {
		fprintf(stderr, "qp_mem: cannot open %s\n", dev);
		return 1;
	}
	pd = ibv_alloc_pd(ctx);
	cq = pd ? ibv_create_cq(ctx, 4 * npairs + 64, NULL, NULL, 0) : NULL;
	mr = cq ? ibv_reg_mr(pd, buf, sizeof(buf),
			     IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				     IBV_ACCESS_REMOTE_READ)
		: NULL;
	p = calloc(npairs, sizeof(*p));
	if (!mr || !p || ibv_query_gid(ctx, 1, 0, &gid0)) {
		fprintf(stderr, "qp_mem: PD/CQ/MR/GID setup failed\n");
		return 1;
	}
	if (make_pairs(&warm, 1))
		return 1;
	usleep(200000);
	take(&s0);
	getrusage(RUSAGE_SELF, &u0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (make_pairs(p, npairs))
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &u1);
	/* idle: the provider gives back what only traffic needs once a QP
	 * has been idle for a second (its idle pass) */
	usleep(2500000);
	take(&s1);
	slab = tcp_slab_objsize();
	q = 2.0 * npairs;
	if (poll_costs(p[0].a, &poll_us, &write_us)) {
		fprintf(stderr, "qp_mem: a WRITE of the poll test failed\n");
		return 1;
	}
	wait_pct = wait_engine_pct(p[0].a);
	printf("pairs=%d qps=%d send_wr=%d recv_wr=%d inline=%d "
	       "rss_per_qp=%.0f heap_per_qp=%.0f vm_per_qp=%.0f "
	       "sockets=%ld skmem_per_qp=%.0f slab_per_qp=%.0f "
	       "total_per_qp=%.0f setup_s=%.3f setup_cpu_s=%.3f "
	       "poll_us=%.2f write_poll_us=%.2f wait_engine_pct=%.2f\n",
	       npairs, 2 * npairs, send_wr, recv_wr, max_inline,
	       (s1.rss_kb - s0.rss_kb) * 1024.0 / q, (s1.heap - s0.heap) / q,
	       (s1.vm_kb - s0.vm_kb) * 1024.0 / q, s1.sockets - s0.sockets,
	       (s1.skmem - s0.skmem) / q,
	       (s1.sockets - s0.sockets) * (double)slab / q,
	       ((s1.rss_kb - s0.rss_kb) * 1024.0 + (s1.skmem - s0.skmem) +
		(s1.sockets - s0.sockets) * (double)slab) /
		       q,
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
	       cpu_s(&u1) - cpu_s(&u0), poll_us, write_us, wait_pct);
	for (i = 0; i < npairs; i++) {
		ibv_destroy_qp(p[i].a);
		ibv_destroy_qp(p[i].b);
	}
	ibv_destroy_qp(warm.a);
	ibv_destroy_qp(warm.b);
	ibv_dereg_mr(mr);
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	ibv_free_device_list(list);
	free(p);
	return 0;
}
