// SPDX-License-Identifier: MIT
/*
 * res_attack: bounded resources of a victim process under attack. The
 * victim (a forked child) runs RC QP pairs on DEVICE doing RDMA WRITEs
 * both ways; the parent attacks its listener port (a QPN's upper 16 bits)
 * over loopback and measures the victim from /proc: RSS, open fds, and the
 * CPU time of its engine thread (the task named "rdma-tcp-engine").
 *
 *   res_attack DEV flood      300 idle connections and 200 half-hellos:
 *                             each is closed within the hello timeout
 *                             (+ margin), the victim's fds stay within
 *                             the pending cap and return to baseline,
 *                             its traffic goes on
 *   res_attack DEV nofile N   the victim under RLIMIT_NOFILE N with more
 *                             QPs than fds allow, plus connections to its
 *                             port: the attack costs its engine under 20 %
 *                             of a core more than its traffic alone,
 *                             every WR completes or fails, QPs that failed
 *                             got an async event, connected ones work
 *   res_attack DEV hold       a victim with one pair: prints "port P",
 *                             serves until its stdin closes
 *   res_attack probe ADDR PORT  one connect(): prints "connected" (exit 0)
 *                             or "refused" (exit 1)
 *
 * Prints each figure and check, and "N passed, N failed".
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "tcheck.h"
#include "tdev.h"
#include "tqp.h"
#include <rdma_tcp/wire.h>

/* the provider's bounds this test holds it to (providers/tcp/engine.h) */
#define PENDING_MAX	 256
#define HELLO_TIMEOUT_S	 5
#define CLOSE_MARGIN_S	 5
#define ENGINE_CPU_LIMIT 20.0

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- victim */

/* q[0] connects to q[1]; each WRITEs into the other's half of the slot */
struct pair {
	struct ibv_qp *q[2];
	bool busy[2], dead[2];
};

struct victim {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	union ibv_gid gid; /* read once: reading it takes an fd */
	char *buf;
	struct pair *p;
	int npairs, cap, setup_failed; /* pairs whose modify_qp failed */
	unsigned long posted, ok, err, events;
};

#define SLOT 8192 /* each pair WRITEs 4 KiB within its own 8 KiB */
#define HALF (SLOT / 2)

static struct ibv_qp *new_qp(struct victim *v)
{
	struct ibv_qp_init_attr qa = { 0 };

	qa.send_cq = qa.recv_cq = v->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = qa.cap.max_recv_wr = 4;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	return ibv_create_qp(v->pd, &qa);
}

/*
 * Connects the pair's two QPs to each other; the name of the call that
 * failed, or NULL.
 */
static const char *pair_connect(struct victim *v, struct pair *p)
{
	struct tqp_path p0 = tqp_path(p->q[1]->qp_num, &v->gid);
	struct tqp_path p1 = tqp_path(p->q[0]->qp_num, &v->gid);
	const char *what = NULL;

	p0.hop_limit = p1.hop_limit = 1;
	/* out of fds may fail the QP later, never these calls */
	if (tqp_init(p->q[0], IBV_ACCESS_REMOTE_WRITE) ||
	    tqp_init(p->q[1], IBV_ACCESS_REMOTE_WRITE))
		what = "INIT";
	else if (tqp_rtr(p->q[0], &p0))
		what = "RTR (connecting end)";
	else if (tqp_rtr(p->q[1], &p1))
		what = "RTR (accepting end)";
	else if (tqp_rts(p->q[0], &p0) || tqp_rts(p->q[1], &p1))
		what = "RTS";
	p->dead[0] = p->dead[1] = what;
	return what;
}

static bool pair_create(struct victim *v, struct pair *p)
{
	p->q[0] = new_qp(v);
	p->q[1] = p->q[0] ? new_qp(v) : NULL;
	if (!p->q[1] && p->q[0])
		ibv_destroy_qp(p->q[0]);
	return p->q[1];
}

/*
 * Creates and connects the pairs (in this process), with room for one
 * more (victim_new_pair); 0 or -1.
 */
static int victim_setup(struct victim *v, const char *dev, int npairs)
{
	size_t len = (size_t)(npairs + 1) * SLOT;
	int i;

	v->ctx = open_dev(dev);
	if (!v->ctx)
		return -1;
	fcntl(v->ctx->async_fd, F_SETFL, O_NONBLOCK);
	if (ibv_query_gid(v->ctx, 1, 0, &v->gid))
		return -1;
	v->pd = ibv_alloc_pd(v->ctx);
	v->cq = ibv_create_cq(v->ctx, (npairs + 1) * 4 + 16, NULL, NULL, 0);
	v->buf = calloc(1, len);
	v->p = calloc(npairs + 1, sizeof(*v->p));
	v->cap = npairs + 1;
	if (!v->pd || !v->cq || !v->buf || !v->p)
		return -1;
	v->mr = ibv_reg_mr(v->pd, v->buf, len,
			   IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!v->mr)
		return -1;
	/* QPs are created while fds last (a listener needs a few) */
	for (i = 0; i < npairs && pair_create(v, &v->p[i]); i++)
		;
	v->npairs = i;
	for (i = 0; i < v->npairs; i++) {
		const char *what = pair_connect(v, &v->p[i]);

		if (!what)
			continue;
		v->setup_failed++;
		fprintf(stderr, "victim: pair %d, modify to %s: %s\n", i, what,
			strerror(errno));
	}
	return v->npairs ? 0 : -1;
}

/* Posts a WRITE on side k of pair i, into the other side's half. */
static void victim_post(struct victim *v, int i, int k)
{
	struct pair *p = &v->p[i];
	char *slot = v->buf + (size_t)i * SLOT;
	struct ibv_sge sge = {
		.addr = (uintptr_t)slot + (size_t)k * HALF,
		.length = HALF,
		.lkey = v->mr->lkey,
	};
	struct ibv_send_wr wr = { 0 }, *bad;

	wr.wr_id = (uint64_t)i * 2 + k;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = (uintptr_t)slot + (size_t)(1 - k) * HALF;
	wr.wr.rdma.rkey = v->mr->rkey;
	v->posted++;
	if (ibv_post_send(p->q[k], &wr, &bad)) {
		/* a QP in ERR may refuse the post: counted as failed */
		v->err++;
		p->dead[k] = true;
		return;
	}
	p->busy[k] = true;
}

/* One round: post where idle, reap, count async events. */
static void victim_round(struct victim *v, bool posting)
{
	struct ibv_async_event ev;
	struct ibv_wc wc[32];
	int i, k, n;

	for (i = 0; posting && i < v->npairs; i++)
		for (k = 0; k < 2; k++)
			if (!v->p[i].busy[k] && !v->p[i].dead[k])
				victim_post(v, i, k);
	while ((n = ibv_poll_cq(v->cq, 32, wc)) > 0) {
		for (i = 0; i < n; i++) {
			struct pair *p = &v->p[wc[i].wr_id / 2];

			k = wc[i].wr_id % 2;
			p->busy[k] = false;
			if (wc[i].status == IBV_WC_SUCCESS) {
				v->ok++;
			} else {
				v->err++;
				p->dead[k] = true;
			}
		}
	}
	while (!ibv_get_async_event(v->ctx, &ev)) {
		if (ev.event_type == IBV_EVENT_QP_FATAL)
			v->events++;
		ibv_ack_async_event(&ev);
	}
}

/*
 * A pair set up while the attack runs: its connection must get through
 * whatever waits on the listener. "ok" once each side's WRITE is done.
 */
static const char *victim_new_pair(struct victim *v)
{
	struct pair *p = &v->p[v->npairs];
	double end = now_s() + 15;

	if (v->npairs == v->cap || !pair_create(v, p))
		return "fail";
	v->npairs++;
	if (pair_connect(v, p))
		return "fail";
	victim_round(v, true); /* posts its first WRITEs */
	while ((p->busy[0] || p->busy[1]) && now_s() < end) {
		usleep(1000);
		victim_round(v, false);
	}
	if (p->busy[0] || p->busy[1])
		return "timeout";
	return p->dead[0] || p->dead[1] ? "fail" : "ok";
}

static int victim_busy(const struct victim *v)
{
	int i, n = 0;

	for (i = 0; i < v->npairs; i++)
		n += v->p[i].busy[0] + v->p[i].busy[1];
	return n;
}

/*
 * The victim: set up, say "ready port P pairs N failed F", then traffic
 * until the parent's 'q' (each 's' gets a "stat" line), then every WR
 * outstanding must end within 60 s: "done posted P ok O err E out U
 * events F".
 */
static void victim_main(const char *dev, int npairs, int nofile, int cmd,
			FILE *out)
{
	struct victim v = { 0 };
	bool posting = true;
	double end = 0;
	char c;

	if (nofile) {
		struct rlimit rl = { .rlim_cur = nofile, .rlim_max = nofile };

		if (setrlimit(RLIMIT_NOFILE, &rl))
			_exit(2);
	}
	if (victim_setup(&v, dev, npairs)) {
		fprintf(out, "setup failed: %s\n", strerror(errno));
		fflush(out);
		_exit(2);
	}
	fcntl(cmd, F_SETFL, O_NONBLOCK);
	fprintf(out, "ready port %u pairs %d failed %d\n",
		v.p[0].q[0]->qp_num >> 8, v.npairs, v.setup_failed);
	fflush(out);
	for (;;) {
		victim_round(&v, posting);
		/* load shaping: steady traffic that leaves the engine's CPU
		 * time to what the attack costs it */
		usleep(1000);
		while (read(cmd, &c, 1) == 1) {
			if (c == 's')
				fprintf(out, "stat posted %lu ok %lu err %lu\n",
					v.posted, v.ok, v.err);
			if (c == 'n')
				fprintf(out, "new %s\n", victim_new_pair(&v));
			if (c == 'q' && posting) {
				posting = false;
				end = now_s() + 60;
			}
			fflush(out);
		}
		if (!posting && (!victim_busy(&v) || now_s() > end))
			break;
	}
	fprintf(out, "done posted %lu ok %lu err %lu out %d events %lu\n",
		v.posted, v.ok, v.err, victim_busy(&v), v.events);
	fflush(out);
	_exit(0);
}

/* ------------------------------------------------------------- measuring */

static long proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int proc_nfds(pid_t pid)
{
	char path[64];
	struct dirent *d;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/*
 * utime + stime (clock ticks) of the victim's engine threads; of all its
 * threads but the main one if none is named (a provider that does not
 * name its engine: the victim runs no other thread)
 */
static unsigned long long engine_ticks(pid_t pid)
{
	unsigned long long sum = 0, others = 0;
	bool named = false;
	char path[320], buf[512];
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((d = readdir(dir))) {
		unsigned long long ut, st;
		char *p;
		FILE *f;
		size_t n;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid,
			 d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		/* "tid (comm) state ..." fields 14 and 15 */
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 2,
				 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
				 "%llu %llu",
				 &ut, &st) != 2)
			continue;
		if (strstr(buf, "(rdma-tcp-engine)")) {
			named = true;
			sum += ut + st;
		} else if (atoi(d->d_name) != (int)pid) {
			others += ut + st;
		}
	}
	closedir(dir);
	return named ? sum : others;
}

/* Engine CPU in % of one core over the interval since *t0 / *k0. */
static double engine_cpu(pid_t pid, double *t0, unsigned long long *k0)
{
	unsigned long long k = engine_ticks(pid);
	double t = now_s();
	double pct = (double)(k - *k0) / sysconf(_SC_CLK_TCK) / (t - *t0) * 100;

	*t0 = t;
	*k0 = k;
	return pct;
}

/* ---------------------------------------------------------------- parent */

struct child {
	pid_t pid;
	int cmd;
	FILE *in;
	unsigned int port;
	int setup_failed;
};

static int spawn_victim(struct child *c, const char *dev, int npairs,
			int nofile)
{
	int c2p[2], p2c[2], pairs;
	char line[256];

	if (pipe(c2p) || pipe(p2c))
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (!c->pid) {
		close(c2p[0]);
		close(p2c[1]);
		victim_main(dev, npairs, nofile, p2c[0], fdopen(c2p[1], "w"));
	}
	close(c2p[1]);
	close(p2c[0]);
	c->cmd = p2c[1];
	c->in = fdopen(c2p[0], "r");
	if (!fgets(line, sizeof(line), c->in) ||
	    sscanf(line, "ready port %u pairs %d failed %d", &c->port, &pairs,
		   &c->setup_failed) != 3) {
		printf("victim did not start: %s\n", line);
		return -1;
	}
	printf("victim pid %d: %d QP pairs (%d failed to set up), listener "
	       "port %u\n",
	       (int)c->pid, pairs, c->setup_failed, c->port);
	return 0;
}

/* Sends cmd and reads the victim's answer into line. */
static bool ask(struct child *c, char cmd, char *line, size_t sz)
{
	return write(c->cmd, &cmd, 1) == 1 && fgets(line, (int)sz, c->in);
}

static unsigned long stat_ok(struct child *c, unsigned long *err)
{
	unsigned long posted = 0, ok = 0;
	char line[256];

	*err = 0;
	if (ask(c, 's', line, sizeof(line)))
		sscanf(line, "stat posted %lu ok %lu err %lu", &posted, &ok,
		       err);
	return ok;
}

static int finish_victim(struct child *c, unsigned long *ok, unsigned long *err,
			 int *out, unsigned long *events)
{
	unsigned long posted = 0;
	char line[256] = "";
	int st = 0;

	*out = -1;
	if (ask(c, 'q', line, sizeof(line)))
		sscanf(line, "done posted %lu ok %lu err %lu out %d events %lu",
		       &posted, ok, err, out, events);
	printf("victim: %s", line);
	fclose(c->in);
	close(c->cmd);
	waitpid(c->pid, &st, 0);
	return st;
}

static int tcp_connect(const char *addr, unsigned int port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd;

	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		sl = sizeof(*s6);
	} else {
		errno = EINVAL;
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, sl)) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* An attacker's connection: when it was opened and when the victim
 * closed it (0: still open). */
struct aconn {
	int fd;
	double opened, closed;
};

/* Marks the connections the victim has closed (EOF or reset). */
static int reap_closed(struct aconn *a, int n, int ms)
{
	struct pollfd *pf = calloc(n, sizeof(*pf));
	int i, open = 0;
	char buf[64];

	for (i = 0; i < n; i++) {
		pf[i].fd = a[i].closed ? -1 : a[i].fd;
		pf[i].events = POLLIN | POLLRDHUP;
	}
	poll(pf, n, ms);
	for (i = 0; i < n; i++) {
		if (!a[i].closed && pf[i].revents &&
		    recv(a[i].fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0) {
			a[i].closed = now_s();
			close(a[i].fd);
		}
		open += !a[i].closed;
	}
	free(pf);
	return open;
}

static void raise_nofile(rlim_t n)
{
	struct rlimit rl = { .rlim_cur = n, .rlim_max = n };

	if (setrlimit(RLIMIT_NOFILE, &rl))
		perror("setrlimit");
}

#define N_IDLE 300
#define N_HALF 200

static int flood(const char *dev)
{
	struct aconn a[N_IDLE + N_HALF];
	uint8_t half[RTCP_HELLO_LEN / 2] = { 0 };
	unsigned long ok0, ok1, err, okf = 0, errf = 0, events = 0;
	int i, n = 0, fds0, fds_end, fds, fds_max, open, out, early = 0;
	long rss0, rss, rss_max;
	double t0, t1, life_max = 0, cpu, deadline;
	unsigned long long k0;
	struct child c;
	char line[256];

	raise_nofile(4096);
	if (spawn_victim(&c, dev, 8, 0))
		return 2;
	/* connections up (one WRITE each done), fds and RSS at rest */
	deadline = now_s() + 30;
	while (stat_ok(&c, &err) < 8 * 4 && now_s() < deadline)
		usleep(10000);
	fds0 = proc_nfds(c.pid);
	rss0 = proc_rss_kb(c.pid);
	ok0 = stat_ok(&c, &err);
	printf("before: victim fds %d, RSS %ld KiB, WRITEs done %lu\n", fds0,
	       rss0, ok0);
	t0 = now_s();
	k0 = engine_ticks(c.pid);
	fds_max = fds0;
	rss_max = rss0;
	for (i = 0; i < N_IDLE + N_HALF; i++) {
		a[n].fd = tcp_connect("127.0.0.1", c.port);
		if (a[n].fd < 0) {
			printf("attacker: connect %d: %s\n", i,
			       strerror(errno));
			continue;
		}
		a[n].opened = now_s();
		a[n].closed = 0;
		if (i >= N_IDLE &&
		    send(a[n].fd, half, sizeof(half), MSG_NOSIGNAL) < 0)
			printf("attacker: half hello: %s\n", strerror(errno));
		n++;
		if (i % 50 == 49) {
			fds = proc_nfds(c.pid);
			fds_max = fds > fds_max ? fds : fds_max;
		}
	}
	printf("attacker: %d connections open (%d idle, %d half hellos)\n", n,
	       N_IDLE, N_HALF);
	t1 = now_s();
	if (!ask(&c, 'n', line, sizeof(line)))
		line[0] = 0;
	line[strcspn(line, "\n")] = 0;
	CHECK(!strcmp(line, "new ok"),
	      "a pair connected during the attack works (%.3f s): %s",
	      now_s() - t1, line);
	fds_end = fds0 + 2; /* with its two sockets */
	deadline = now_s() + HELLO_TIMEOUT_S + CLOSE_MARGIN_S;
	do {
		open = reap_closed(a, n, 100);
		fds = proc_nfds(c.pid);
		rss = proc_rss_kb(c.pid);
		fds_max = fds > fds_max ? fds : fds_max;
		rss_max = rss > rss_max ? rss : rss_max;
	} while (open && now_s() < deadline);
	cpu = engine_cpu(c.pid, &t0, &k0);
	for (i = 0; i < n; i++) {
		double life = a[i].closed - a[i].opened;

		if (a[i].closed && life > life_max)
			life_max = life;
		early += a[i].closed && life < 1.0;
	}
	ok1 = stat_ok(&c, &err);
	printf("during: victim fds max %d (+%d), RSS max %ld KiB (+%ld), "
	       "engine CPU %.1f %%, WRITEs done %lu\n",
	       fds_max, fds_max - fds0, rss_max, rss_max - rss0, cpu,
	       ok1 - ok0);
	printf("attacker: %d closed within 1 s (pending cap), the longest "
	       "lived %.2f s\n",
	       early, life_max);
	CHECK(n == N_IDLE + N_HALF, "attacker opened %d connections", n);
	CHECK(!open, "victim closed every connection within %d s (%d open)",
	      HELLO_TIMEOUT_S + CLOSE_MARGIN_S, open);
	CHECK(fds_max - fds0 <= PENDING_MAX + 4,
	      "victim fds grew by %d at most (cap %d)", fds_max - fds0,
	      PENDING_MAX);
	CHECK(rss_max - rss0 < 16384, "victim RSS grew by %ld KiB (< 16 MiB)",
	      rss_max - rss0);
	CHECK(ok1 > ok0 && !err, "traffic went on: %lu WRITEs, %lu errors",
	      ok1 - ok0, err);
	deadline = now_s() + 10;
	while ((fds = proc_nfds(c.pid)) > fds_end && now_s() < deadline)
		usleep(10000);
	CHECK(fds <= fds_end, "victim fds back to %d (now %d)", fds_end, fds);
	rss = proc_rss_kb(c.pid);
	engine_cpu(c.pid, &t0, &k0);
	usleep(1000000); /* the measuring window */
	printf("after: victim fds %d, RSS %ld KiB, engine CPU %.1f %%\n", fds,
	       rss, engine_cpu(c.pid, &t0, &k0));
	CHECK(finish_victim(&c, &okf, &errf, &out, &events) == 0 && !out &&
		      !errf,
	      "every WR completed: %lu ok, %lu errors, %d outstanding", okf,
	      errf, out);
	for (i = 0; i < n; i++)
		if (!a[i].closed)
			close(a[i].fd);
	return 0;
}

#define N_KNOCK 20

static int nofile(const char *dev, int limit)
{
	unsigned long ok0, ok1, err, okf = 0, errf = 0, events = 0;
	struct aconn a[N_KNOCK];
	int i, n = 0, open, out;
	unsigned long long k0;
	double t0, cpu, base, deadline;
	struct child c;

	if (spawn_victim(&c, dev, 40, limit))
		return 2;
	printf("victim: RLIMIT_NOFILE %d, fds %d\n", limit, proc_nfds(c.pid));
	/* a NIC spends nothing at RTR: the QPs fail later, with an event */
	CHECK(!c.setup_failed,
	      "modify_qp out of fds succeeded (%d pairs failed)",
	      c.setup_failed);
	t0 = now_s();
	k0 = engine_ticks(c.pid);
	/* what the traffic itself costs the engine here and now: the
	 * attack's cost is measured above it (a shared machine moves both) */
	sleep_ms(2000);
	base = engine_cpu(c.pid, &t0, &k0);
	ok0 = stat_ok(&c, &err);
	/* knocks on a listener that cannot accept: EMFILE in the victim */
	for (i = 0; i < N_KNOCK; i++) {
		a[n].fd = tcp_connect("127.0.0.1", c.port);
		if (a[n].fd < 0)
			continue;
		a[n].opened = now_s();
		a[n].closed = 0;
		n++;
	}
	/* 4 s of traffic, the connections left to the victim */
	deadline = now_s() + 4;
	open = n;
	while (now_s() < deadline)
		open = reap_closed(a, n, 100);
	cpu = engine_cpu(c.pid, &t0, &k0);
	ok1 = stat_ok(&c, &err);
	printf("under EMFILE: engine CPU %.1f %% (traffic alone %.1f %%), "
	       "fds %d, WRITEs done %lu (%lu more), failed %lu, knocks open "
	       "%d of %d\n",
	       cpu, base, proc_nfds(c.pid), ok1, ok1 - ok0, err, open, n);
	CHECK(cpu < base + ENGINE_CPU_LIMIT,
	      "engine CPU %.1f %% < traffic alone %.1f %% + %.0f %% of a core",
	      cpu, base, ENGINE_CPU_LIMIT);
	CHECK(ok1 > ok0, "connected QPs keep working (%lu WRITEs in 4 s)",
	      ok1 - ok0);
	CHECK(!open, "connections it could not accept were refused (%d open)",
	      open);
	t0 = now_s();
	CHECK(finish_victim(&c, &okf, &errf, &out, &events) == 0 && !out,
	      "every WR completed or failed: %lu ok, %lu failed, %d "
	      "outstanding (%.1f s)",
	      okf, errf, out, now_s() - t0);
	CHECK(errf > 0 && events >= errf,
	      "QPs out of fds failed with an async event each (%lu failed "
	      "WRs, %lu QP_FATAL)",
	      errf, events);
	for (i = 0; i < n; i++)
		if (!a[i].closed)
			close(a[i].fd);
	return 0;
}

static int hold(const char *dev)
{
	struct victim v = { 0 };
	char c;

	if (victim_setup(&v, dev, 1) || v.p[0].dead[0]) {
		printf("setup failed\n");
		return 2;
	}
	printf("port %u\n", v.p[0].q[0]->qp_num >> 8);
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	_exit(0); /* as a killed victim would: nothing torn down */
}

int main(int argc, char **argv)
{
	int rc;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "probe")) {
		int fd = tcp_connect(argv[2], (unsigned int)atoi(argv[3]));

		printf("%s\n", fd >= 0 ? "connected" : strerror(errno));
		return fd >= 0 ? 0 : 1;
	}
	if (argc == 3 && !strcmp(argv[2], "flood"))
		rc = flood(argv[1]);
	else if (argc == 4 && !strcmp(argv[2], "nofile"))
		rc = nofile(argv[1], atoi(argv[3]));
	else if (argc == 3 && !strcmp(argv[2], "hold"))
		return hold(argv[1]);
	else {
		fprintf(stderr,
			"usage: %s DEV flood | DEV nofile N | DEV hold | "
			"probe ADDR PORT\n",
			argv[0]);
		return 2;
	}
	if (rc)
		return rc;
	return tc_report();
}
