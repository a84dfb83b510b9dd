// SPDX-License-Identifier: MIT
/*
 * cm_connect_held ADDR CM_PORT: an rdma_connect whose control connection's
 * SYN meets a full backlog must wait for TCP to retransmit it, not fail.
 *
 * librdmacm-ext adds a control connection's socket to its thread's epoll
 * set before calling connect(); an unconnected socket polls as hung up, so
 * the thread, waiting in epoll_wait, can harvest that event and handle it
 * after connect() has begun. Once in CI (a busy 2-vCPU machine, the SYN's
 * softirq deferred) that made a UD id's SIDR fail at once with UNREACHABLE
 * -EAGAIN: the routing prefix was sent into a socket still in SYN_SENT.
 *
 * Here the window is made wide on purpose: this program defines connect(),
 * which the preload's calls reach before libc's (an executable's exported
 * symbols come first), and the first call after arming it pauses before
 * the real connect, long enough for the woken CM thread to harvest the
 * early event. The SYN is then held for real: a raw listener on ADDR's
 * control port (more specific than the preload's wildcard one) with a
 * backlog of zero that a plain connection already fills, so the kernel
 * drops the SYN and TCP retransmits it after its initial RTO (1 s). Once
 * that filler is accepted, the retransmitted SYN gets through and the
 * routing prefix must arrive; the id's first event comes only when this
 * program closes the connection unanswered: UNREACHABLE, -ECONNRESET.
 *
 * Run with the preload (test_rdmacm.sh). One line per check, then
 * "N passed, N failed"; exit 1 on a failure, 2 on a usage or setup error.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <rdma/rdma_cma.h>

#include "cm_proto.h"
#include "tcheck.h"

#define RDMA_PORT 7 /* the rdma_cm port asked for: nobody's */
#define WAIT_MS	  5000

static atomic_bool pause_next_connect;

/* Every connect of this process, the preload's included. */
int connect(int fd, const struct sockaddr *to, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	struct timespec pause = { 0, 20 * 1000 * 1000 };

	if (!real)
		real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(
			RTLD_NEXT, "connect");
	if (atomic_exchange(&pause_next_connect, false))
		nanosleep(&pause, NULL); /* widens the race, see above */
	return real(fd, to, len);
}

static void die(const char *what)
{
	printf("setup: %s: %s\n", what, strerror(errno));
	exit(2);
}

static struct rdma_cm_event *next_event(struct rdma_event_channel *ch, int ms)
{
	struct pollfd p = { .fd = ch->fd, .events = POLLIN };
	struct rdma_cm_event *ev;

	if (poll(&p, 1, ms) != 1 || rdma_get_cm_event(ch, &ev))
		return NULL;
	return ev;
}

static void expect(struct rdma_event_channel *ch, enum rdma_cm_event_type t)
{
	struct rdma_cm_event *ev = next_event(ch, WAIT_MS);

	if (!ev || ev->event != t) {
		printf("setup: expected %s, got %s\n", rdma_event_str(t),
		       ev ? rdma_event_str(ev->event) : "nothing");
		exit(2);
	}
	rdma_ack_cm_event(ev);
}

static unsigned long listen_overflows(void)
{
	char names[4096], values[4096], *n, *v, *sn, *sv;
	unsigned long got = 0;
	FILE *f = fopen("/proc/net/netstat", "r");

	if (!f)
		return 0;
	while (fgets(names, sizeof(names), f) &&
	       fgets(values, sizeof(values), f)) {
		if (strncmp(names, "TcpExt:", 7))
			continue;
		n = strtok_r(names, " \n", &sn);
		v = strtok_r(values, " \n", &sv);
		while (n && v && strcmp(n, "ListenOverflows")) {
			n = strtok_r(NULL, " \n", &sn);
			v = strtok_r(NULL, " \n", &sv);
		}
		if (n && v)
			got = strtoul(v, NULL, 10);
	}
	fclose(f);
	return got;
}

/* A listener of backlog 0 on ADDR:CM_PORT, filled by one connection. */
static int full_listener(struct sockaddr_in *ctl, int *filler)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)ctl, sizeof(*ctl)) || listen(fd, 0))
		die("control port listener");
	*filler = socket(AF_INET, SOCK_STREAM, 0);
	if (*filler < 0 ||
	    connect(*filler, (struct sockaddr *)ctl, sizeof(*ctl)))
		die("filler connection");
	return fd;
}

static int accept_within(int lfd, int ms)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 ? accept(lfd, NULL, NULL) : -1;
}

static bool prefix_arrives(int fd, uint16_t rdma_port)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint8_t b[RTCP_ROUTE_LEN];
	struct rtcp_route r;
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(b) && poll(&p, 1, WAIT_MS) == 1) {
		n = recv(fd, b + got, sizeof(b) - got, 0);
		if (n <= 0)
			return false;
		got += n;
	}
	return got == sizeof(b) && !rtcp_route_decode(b, &r) &&
	       r.ps == RDMA_PS_UDP && ntohs(r.dport) == rdma_port;
}

/* An id of the process listens: the CM thread runs, idle in epoll_wait. */
static void start_cm_thread(struct rdma_event_channel *ch,
			    struct sockaddr_in *addr, struct rdma_cm_id **lid)
{
	struct sockaddr_in any = *addr;

	any.sin_port = 0;
	if (rdma_create_id(ch, lid, NULL, RDMA_PS_UDP) ||
	    rdma_bind_addr(*lid, (struct sockaddr *)&any) ||
	    rdma_listen(*lid, 4))
		die("listening id");
}

int main(int argc, char **argv)
{
	struct sockaddr_in ctl = { .sin_family = AF_INET }, dst;
	struct rdma_cm_id *id, *lid;
	struct rdma_event_channel *ch;
	struct rdma_cm_event *ev;
	unsigned long drops;
	int lfd, filler, held, conn;
	uint64_t deadline;

	if (argc != 3 || inet_pton(AF_INET, argv[1], &ctl.sin_addr) != 1) {
		fprintf(stderr, "usage: %s IPV4_ADDR CM_PORT\n", argv[0]);
		return 2;
	}
	tc_watchdog(60);
	ctl.sin_port = htons(atoi(argv[2]));
	dst = ctl;
	dst.sin_port = htons(RDMA_PORT);
	ch = rdma_create_event_channel();
	if (!ch)
		die("event channel");
	start_cm_thread(ch, &ctl, &lid);
	lfd = full_listener(&ctl, &filler);
	if (rdma_create_id(ch, &id, NULL, RDMA_PS_UDP) ||
	    rdma_resolve_addr(id, NULL, (struct sockaddr *)&dst, 2000))
		die("resolve");
	expect(ch, RDMA_CM_EVENT_ADDR_RESOLVED);
	if (rdma_resolve_route(id, 2000))
		die("resolve route");
	expect(ch, RDMA_CM_EVENT_ROUTE_RESOLVED);

	drops = listen_overflows();
	atomic_store(&pause_next_connect, true);
	check(!rdma_connect(id, NULL), "rdma_connect of a UD id returns 0");
	deadline = now_ns() + 2000000000ull;
	while (listen_overflows() == drops && now_ns() < deadline)
		sched_yield();
	check(listen_overflows() > drops,
	      "its control connection's SYN met the full backlog");

	held = accept_within(lfd, 0); /* the filler's, room for the SYN */
	conn = held < 0 ? -1 : accept_within(lfd, WAIT_MS);
	check(conn >= 0, "the retransmitted SYN connects once there is room");
	check(conn >= 0 && prefix_arrives(conn, RDMA_PORT),
	      "the routing prefix follows: UDP port space, rdma_cm port %d",
	      RDMA_PORT);
	if (conn >= 0)
		close(conn);
	ev = next_event(ch, WAIT_MS);
	check(ev && ev->event == RDMA_CM_EVENT_UNREACHABLE &&
		      ev->status == -ECONNRESET,
	      "its first event: UNREACHABLE, -ECONNRESET, once closed "
	      "unanswered (got %s, %d)",
	      ev ? rdma_event_str(ev->event) : "nothing", ev ? ev->status : 0);
	if (ev)
		rdma_ack_cm_event(ev);
	rdma_destroy_id(id);
	rdma_destroy_id(lid);
	rdma_destroy_event_channel(ch);
	close(held);
	close(filler);
	close(lfd);
	return tc_report();
}
