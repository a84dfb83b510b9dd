// SPDX-License-Identifier: MIT
/*
 * limits: what this machine allows at best, the ceilings of the
 * benchmark's targets (docs/performance.md, "Physical limits"). Benchmark
 * helper for tests/bench/run; no verbs, no tcp device.
 *
 * Each figure is the best of ROUNDS short rounds: a ceiling, not a
 * typical value. Printed as key=value on one line:
 *   memcpy_l2_gbps     memcpy of 64 KiB between two cache-resident buffers
 *   memcpy_mem_gbps    memcpy of 64 MiB (larger than the caches)
 *   syscall_ns         the cheapest system call (getppid): entry and exit
 *   sendrecv_8b_ns     send() of 8 B on a loopback TCP connection and
 *                      recv() of them at the other end, one thread: the
 *                      kernel's work for one small message, both sides
 *   epoll0_ns          epoll_pwait2 with a zero timeout on one idle socket
 *                      (one look of a spinning poller)
 *   loadavg_ns         one pread of /proc/loadavg (the engine's spin gate)
 *   wake_us            one-way hand-off between two threads on two CPUs
 *                      that sleep in read() on an eventfd: a wake-up
 *   spin_us            the same hand-off between two threads spinning on
 *                      a shared word: the cross-CPU floor of any message
 *   gmac_64k_gbps      AES-128-GCM over 64 KiB of AAD only (GMAC, the
 *                      `auth` mode's per-byte work) through EVP
 *   gcm_64k_gbps       AES-128-GCM encryption of 64 KiB (`encrypt`)
 * Exit 0 on success, 1 if a step failed (message on stderr).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include <openssl/evp.h>

#include "tcheck.h"

#define ROUNDS 5

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* ns per byte-moving call of @fn over @n calls, best of ROUNDS */
#define BEST_NS(n, body)                                             \
	({                                                           \
		double best_ = 1e30;                                 \
		for (int r_ = 0; r_ < ROUNDS; r_++) {                \
			uint64_t t0_ = now_ns();                     \
			for (long i_ = 0; i_ < (n); i_++) {          \
				body;                                \
			}                                            \
			double ns_ = (double)(now_ns() - t0_) / (n); \
			if (ns_ < best_)                             \
				best_ = ns_;                         \
		}                                                    \
		best_;                                               \
	})

static double memcpy_gbps(size_t len, long reps)
{
	char *a = malloc(len), *b = malloc(len);
	double ns;

	if (!a || !b)
		die("malloc");
	memset(a, 1, len);
	memset(b, 2, len);
	ns = BEST_NS(reps, {
		memcpy(b, a, len);
		__asm__ volatile("" ::: "memory");
	});
	free(a);
	free(b);
	return (double)len / ns;
}

/* a connected loopback TCP pair: @fd[0] the connecting end */
static void tcp_pair(int fd[2])
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (void *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (void *)&sa, &len))
		die("listen");
	fd[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (fd[0] < 0 || connect(fd[0], (void *)&sa, sizeof(sa)))
		die("connect");
	fd[1] = accept(l, NULL, NULL);
	if (fd[1] < 0)
		die("accept");
	setsockopt(fd[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(l);
}

static double sendrecv_ns(void)
{
	char buf[8] = { 0 };
	int fd[2];
	double ns;

	tcp_pair(fd);
	ns = BEST_NS(20000, {
		if (send(fd[0], buf, 8, 0) != 8 ||
		    recv(fd[1], buf, 8, MSG_WAITALL) != 8)
			die("send/recv");
	});
	close(fd[0]);
	close(fd[1]);
	return ns;
}

static double epoll0_ns(void)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	struct timespec zero = { 0 };
	int fd[2], ep = epoll_create1(0);
	double ns;

	tcp_pair(fd);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd[1], &ev))
		die("epoll");
	ns = BEST_NS(100000, {
		if (epoll_pwait2(ep, &out, 1, &zero, NULL) < 0)
			die("epoll_pwait2");
	});
	close(ep);
	close(fd[0]);
	close(fd[1]);
	return ns;
}

static double loadavg_ns(void)
{
	char buf[128];
	int fd = open("/proc/loadavg", O_RDONLY);
	double ns;

	if (fd < 0)
		return 0;
	ns = BEST_NS(20000, {
		if (pread(fd, buf, sizeof(buf), 0) <= 0)
			die("pread");
	});
	close(fd);
	return ns;
}

/* ping-pong between this thread and a partner on another CPU */
struct pong {
	int efd[2];	       /* eventfd per direction (wake_us) */
	_Atomic uint64_t word; /* the shared word (spin_us) */
	long n;
	bool spin;
};

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % CPU_SETSIZE, &set);
	/* one CPU only: the figures then include a same-CPU switch */
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void hop_wait(struct pong *p, int side, uint64_t want)
{
	uint64_t v;

	if (p->spin) {
		while (atomic_load_explicit(&p->word, memory_order_acquire) !=
		       want)
			;
	} else if (read(p->efd[side], &v, sizeof(v)) != sizeof(v)) {
		die("read eventfd");
	}
}

static void hop_send(struct pong *p, int side, uint64_t val)
{
	uint64_t one = 1;

	if (p->spin)
		atomic_store_explicit(&p->word, val, memory_order_release);
	else if (write(p->efd[!side], &one, sizeof(one)) != sizeof(one))
		die("write eventfd");
}

static void *partner(void *arg)
{
	struct pong *p = arg;

	pin(1);
	for (long i = 0; i < p->n; i++) {
		hop_wait(p, 1, 2 * (uint64_t)i + 1);
		hop_send(p, 1, 2 * (uint64_t)i + 2);
	}
	return NULL;
}

/* one-way hand-off in us, best of ROUNDS ping-pongs of @n round trips */
static double handoff_us(bool spin, long n)
{
	double best = 1e30;

	for (int r = 0; r < ROUNDS; r++) {
		struct pong p = { .n = n, .spin = spin };
		pthread_t t;
		uint64_t t0;

		p.efd[0] = eventfd(0, 0);
		p.efd[1] = eventfd(0, 0);
		if (p.efd[0] < 0 || p.efd[1] < 0)
			die("eventfd");
		pin(0);
		if (pthread_create(&t, NULL, partner, &p))
			die("pthread_create");
		t0 = now_ns();
		for (long i = 0; i < n; i++) {
			hop_send(&p, 0, 2 * (uint64_t)i + 1);
			hop_wait(&p, 0, 2 * (uint64_t)i + 2);
		}
		double us = (double)(now_ns() - t0) / 1000.0 / (2.0 * n);
		pthread_join(t, NULL);
		close(p.efd[0]);
		close(p.efd[1]);
		if (us < best)
			best = us;
	}
	return best;
}

/* AES-128-GCM over 64 KiB: AAD only (GMAC) or encrypting, GB/s */
static double gcm_gbps(bool encrypt)
{
	static unsigned char in[65536], out[65536];
	unsigned char key[16] = { 1 }, iv[12] = { 2 }, tag[16];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len;
	double ns;

	if (!c || !EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, key, iv))
		die("EVP init");
	ns = BEST_NS(2000, {
		iv[0]++;
		if (!EVP_EncryptInit_ex(c, NULL, NULL, NULL, iv) ||
		    !EVP_EncryptUpdate(c, encrypt ? out : NULL, &len, in,
				       sizeof(in)) ||
		    !EVP_EncryptFinal_ex(c, out, &len) ||
		    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag))
			die("EVP");
	});
	EVP_CIPHER_CTX_free(c);
	return sizeof(in) / ns;
}

int main(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	printf("memcpy_l2_gbps=%.3f", memcpy_gbps(65536, 20000));
	printf(" memcpy_mem_gbps=%.3f", memcpy_gbps(64ul << 20, 10));
	printf(" syscall_ns=%.1f",
	       BEST_NS(200000, { (void)syscall(SYS_getppid); }));
	printf(" sendrecv_8b_ns=%.1f", sendrecv_ns());
	printf(" epoll0_ns=%.1f", epoll0_ns());
	printf(" loadavg_ns=%.1f", loadavg_ns());
	printf(" wake_us=%.3f", handoff_us(false, 20000));
	/* two spinners on one CPU hand off once per time slice: only
	 * meaningful with a CPU each */
	printf(" spin_us=%.3f", ncpu >= 2 ? handoff_us(true, 200000) : 0.0);
	printf(" gmac_64k_gbps=%.3f", gcm_gbps(false));
	printf(" gcm_64k_gbps=%.3f\n", gcm_gbps(true));
	return 0;
}
