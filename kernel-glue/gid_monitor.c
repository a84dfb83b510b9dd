// SPDX-License-Identifier: MIT
/*
 * The GID monitor daemon; see gid_monitor.h.
 *
 * A kernel RoCE driver rewrites its GID table from netdev notifiers; with
 * no driver, a small daemon per device does it from rtnetlink events. It
 * is forked from `link add`, so it lives in the network namespace whose
 * addresses the table describes. On any address or link event of its
 * netdev it dumps the netdev's addresses again and rewrites the entries
 * that changed (a full dump, not the event's content: after a lost event,
 * ENOBUFS, the next dump is still right).
 *
 * It follows the netdev by name. If the netdev disappears the table is
 * zeroed and the monitor keeps waiting: a netdev of that name that comes
 * back (a veth recreated by a test, say) gets its addresses in the table
 * again. The monitor exits on SIGTERM/SIGINT/SIGHUP (`link del`) and by
 * itself when the device directory is gone or replaced, which it checks on
 * every wakeup and at least every MON_TICK_MS.
 *
 * Being the device's one long-lived process, it also keeps the device's
 * ports/1/hw_counters/ (hw_counters.c), once every MON_TICK_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/socket.h>

#include "cli.h"
#include "fsutil.h"
#include "gid_monitor.h"
#include "gid_table.h"
#include "hw_counters.h"
#include "glue_util.h"
#include "registry_int.h"

/* comm (at most 15 characters): what `link del` checks before killing */
#define MON_COMM    "rdma-tcp-gidmon"
#define MON_TICK_MS 1000
/* `link add` gives the daemon this long to subscribe and write the table */
#define MON_READY_TIMEOUT_MS 5000
#define MON_TERM_WAIT_MS     2000
#define MON_KILL_WAIT_MS     1000
#define MON_POLL_STEP_MS     10
/* messages drained per wakeup before the table is brought up to date */
#define MON_DRAIN_MAX 1024
#define MON_RCVBUF    (256 * 1024)

struct mon {
	const struct reg_root *root;
	const char *name;
	const char *ifname;
	char devdir[PATH_MAX];
	char portdir[PATH_MAX];
	/* identity of devdir: a re-created device is not ours any more */
	dev_t dir_dev;
	ino_t dir_ino;
	/* subscribed to address and link events; dumps go through req */
	struct nl_sock *ev;
	struct nl_sock *req;
	struct nl_cb *cb;
	/* the netdev's index, 0 while it is absent */
	unsigned int ifindex;
	/* what the files hold, when cur_valid */
	struct gid_table cur;
	bool cur_valid;
	bool dirty;
	/* the last sync failed: logged once, not on every retry */
	bool failing;
	/* the device's counters, when their directory could be made */
	struct hw_ctrs hw;
	bool hw_ok;
	struct timespec hw_at; /* last refresh (CLOCK_MONOTONIC) */
};

static volatile sig_atomic_t mon_stop;

static void mon_on_signal(int sig)
{
	(void)sig;
	mon_stop = 1;
}

/* Whether an rtnetlink event concerns our netdev. */
static bool event_is_ours(struct mon *m, struct nlmsghdr *hdr)
{
	switch (hdr->nlmsg_type) {
	case RTM_NEWADDR:
	case RTM_DELADDR: {
		struct ifaddrmsg *ifa = nlmsg_data(hdr);

		if (!nlmsg_valid_hdr(hdr, sizeof(*ifa)))
			return true;
		return m->ifindex && ifa->ifa_index == m->ifindex;
	}
	case RTM_NEWLINK:
	case RTM_DELLINK: {
		struct ifinfomsg *ifi = nlmsg_data(hdr);
		size_t len = strlen(m->ifname);
		struct nlattr *name;

		if (!nlmsg_valid_hdr(hdr, sizeof(*ifi)))
			return true;
		if (m->ifindex && (unsigned int)ifi->ifi_index == m->ifindex)
			return true;
		/* a netdev taking our name: created, or renamed to it */
		name = nlmsg_find_attr(hdr, sizeof(*ifi), IFLA_IFNAME);
		return name &&
		       strnlen(nla_data(name), (size_t)nla_len(name)) == len &&
		       !memcmp(nla_data(name), m->ifname, len);
	}
	default:
		return false;
	}
}

static int mon_on_event(struct nl_msg *msg, void *arg)
{
	struct mon *m = arg;

	if (event_is_ours(m, nlmsg_hdr(msg)))
		m->dirty = true;
	return NL_OK;
}

/* Bring the files up to date with the netdev; 0 or a negative errno. */
static int mon_sync(struct mon *m)
{
	struct gid_table t;
	int err;

	/* an event arriving from here on sets it again */
	m->dirty = false;
	err = gid_table_collect(m->req, m->ifname, &t);
	if (err) {
		if (!m->failing)
			syslog(LOG_ERR, "%s: cannot read addresses of %s: %s",
			       m->name, m->ifname, strerror(-err));
		goto fail;
	}
	if (m->cur_valid && m->cur.netdev_present != t.netdev_present)
		syslog(LOG_INFO, "%s: netdev %s %s", m->name, m->ifname,
		       t.netdev_present ? "is back" : "is gone");
	m->ifindex = t.ifindex;
	if (m->cur_valid && gid_table_equal(&m->cur, &t)) {
		m->failing = false;
		return 0;
	}
	/* after a failed write the files are unknown: rewrite them all */
	err = gid_table_write(m->portdir, m->ifname,
			      m->cur_valid ? &m->cur : NULL, &t);
	if (err) {
		if (!m->failing)
			syslog(LOG_ERR, "%s: cannot write the GID table: %s",
			       m->name, strerror(-err));
		m->cur_valid = false;
		goto fail;
	}
	if (t.dropped && (!m->cur_valid || m->cur.dropped != t.dropped))
		syslog(LOG_WARNING,
		       "%s: %u addresses of %s do not fit in the %d-entry GID "
		       "table",
		       m->name, t.dropped, m->ifname, RDMA_TCP_GID_TBL_LEN);
	m->cur = t;
	m->cur_valid = true;
	m->failing = false;
	return 0;
fail:
	m->failing = true;
	m->dirty = true;
	return err;
}

static void mon_drain(struct mon *m)
{
	int i, n;

	for (i = 0; i < MON_DRAIN_MAX; i++) {
		n = nl_recvmsgs_report(m->ev, m->cb);
		if (n > 0)
			continue;
		if (n < 0) {
			/*
			 * Mostly ENOBUFS (libnl says NLE_NOMEM): the kernel
			 * dropped events. Whatever it was, a fresh dump
			 * repairs it.
			 */
			m->dirty = true;
			if (n != -NLE_NOMEM)
				syslog(LOG_WARNING, "%s: netlink: %s", m->name,
				       nl_geterror(n));
		}
		break;
	}
}

static bool mon_dir_alive(const struct mon *m)
{
	struct stat st;

	return !stat(m->devdir, &st) && st.st_dev == m->dir_dev &&
	       st.st_ino == m->dir_ino;
}

/*
 * The device was removed behind our back (not by `link del`, which removes
 * the pidfile itself): remove the pidfile if it still names us. Only with
 * the lock, and only if it is free: a `link del` holding it may be waiting
 * for us to exit.
 */
static void mon_drop_pidfile(const struct mon *m)
{
	char lock[PATH_MAX], path[PATH_MAX], val[32];
	unsigned long pid;
	int fd;

	if (fs_path(lock, sizeof(lock), "%s/run/lock", m->root->path) ||
	    reg_pidfile(m->root, m->name, path, sizeof(path)))
		return;
	fd = open(lock, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	if (!flock(fd, LOCK_EX | LOCK_NB) &&
	    !fs_read_line(path, val, sizeof(val)) &&
	    !rtcp_parse_ulong(val, 0x7fffffff, &pid) &&
	    pid == (unsigned long)getpid())
		unlink(path);
	close(fd);
}

static int mon_setup(struct mon *m, const struct reg_root *r, const char *name,
		     const char *ifname)
{
	struct stat st;
	int err;

	memset(m, 0, sizeof(*m));
	m->root = r;
	m->name = name;
	m->ifname = ifname;
	if (reg_dev_dir(r, name, m->devdir, sizeof(m->devdir)) ||
	    fs_path(m->portdir, sizeof(m->portdir), "%s/ports/1", m->devdir))
		return -ENAMETOOLONG;
	if (stat(m->devdir, &st))
		return -errno;
	m->dir_dev = st.st_dev;
	m->dir_ino = st.st_ino;
	m->hw_ok = !hw_ctrs_init(&m->hw, r, name, m->devdir);

	m->ev = nl_socket_alloc();
	m->req = nl_socket_alloc();
	if (!m->ev || !m->req)
		return -ENOMEM;
	/* events carry no sequence numbers of ours */
	nl_socket_disable_seq_check(m->ev);
	err = nl_socket_modify_cb(m->ev, NL_CB_VALID, NL_CB_CUSTOM,
				  mon_on_event, m);
	if (!err)
		err = nl_connect(m->ev, NETLINK_ROUTE);
	/* subscribe before the first dump, so no change falls in between */
	if (!err)
		err = nl_socket_add_memberships(m->ev, RTNLGRP_IPV4_IFADDR,
						RTNLGRP_IPV6_IFADDR,
						RTNLGRP_LINK, 0);
	if (!err)
		err = nl_socket_set_nonblocking(m->ev);
	if (!err)
		err = nl_connect(m->req, NETLINK_ROUTE);
	if (err) {
		syslog(LOG_ERR, "%s: netlink: %s", name, nl_geterror(err));
		return -EIO;
	}
	/* fewer ENOBUFS when many addresses change at once; best effort */
	nl_socket_set_buffer_size(m->ev, MON_RCVBUF, 0);
	m->cb = nl_socket_get_cb(m->ev);
	if (!m->cb)
		return -ENOMEM;
	return 0;
}

static void mon_teardown(struct mon *m)
{
	if (m->cb)
		nl_cb_put(m->cb);
	if (m->ev)
		nl_socket_free(m->ev);
	if (m->req)
		nl_socket_free(m->req);
}

/*
 * Once per MON_TICK_MS, however many events wake us; returns how long
 * until the next time (the loop's wait).
 */
static struct timespec mon_hw_counters(struct mon *m)
{
	struct timespec now,
		wait = { MON_TICK_MS / 1000, (MON_TICK_MS % 1000) * 1000000L };
	int64_t ms;

	if (!m->hw_ok)
		return wait;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(now.tv_sec - m->hw_at.tv_sec) * 1000 +
	     (now.tv_nsec - m->hw_at.tv_nsec) / 1000000;
	if (!m->hw_at.tv_sec || ms >= MON_TICK_MS) {
		m->hw_at = now;
		hw_ctrs_refresh(&m->hw);
		return wait;
	}
	ms = MON_TICK_MS - ms;
	wait.tv_sec = ms / 1000;
	wait.tv_nsec = (ms % 1000) * 1000000L;
	return wait;
}

static void mon_loop(struct mon *m)
{
	struct timespec tick;
	struct pollfd pfd = { .fd = nl_socket_get_fd(m->ev), .events = POLLIN };
	sigset_t waitmask;

	/* the stop signals are blocked except inside ppoll(): none is lost */
	sigemptyset(&waitmask);
	while (!mon_stop) {
		int n;

		if (!mon_dir_alive(m)) {
			syslog(LOG_INFO, "%s: device directory gone, exiting",
			       m->name);
			mon_drop_pidfile(m);
			return;
		}
		if (m->dirty)
			mon_sync(m);
		tick = mon_hw_counters(m);
		n = ppoll(&pfd, 1, &tick, &waitmask);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			syslog(LOG_ERR, "%s: ppoll: %m", m->name);
			return;
		}
		if (n > 0)
			mon_drain(m);
	}
}

static int write_msg(int fd, int32_t v)
{
	ssize_t n;

	do
		n = write(fd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(v) ? 0 : -1;
}

/* close_range(), or a loop where the kernel predates it (5.9) */
static int close_fds(unsigned int first, unsigned int last)
{
	long max;
	unsigned int fd;

	if (!close_range(first, last, 0))
		return 0;
	if (errno != ENOSYS)
		return -1;
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = first; fd <= last && fd < (unsigned int)max; fd++)
		close((int)fd);
	return 0;
}

/*
 * Become a daemon's process: stdio on /dev/null and no other inherited fd,
 * above all not the registry lock, which would stay held for our lifetime.
 * Returns @keep, possibly moved above 2, or -1.
 */
static int mon_detach(int keep)
{
	int null;

	/* our caller may have run with stdio closed, so keep could be 0..2 */
	if (keep < 3) {
		int moved = fcntl(keep, F_DUPFD_CLOEXEC, 3);

		if (moved < 0)
			return -1;
		close(keep);
		keep = moved;
	}
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return -1;
	if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		return -1;
	if (null > 2)
		close(null);
	if (keep > 3 && close_fds(3, (unsigned int)keep - 1))
		return -1;
	if (close_fds((unsigned int)keep + 1, ~0U))
		return -1;
	if (chdir("/"))
		return -1;
	umask(022);
	return keep;
}

static void mon_signals(void)
{
	static const int stop_sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct sigaction sa;
	sigset_t block;
	unsigned int i;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&block);
	/* no SA_RESTART: ppoll() must return */
	sa.sa_handler = mon_on_signal;
	for (i = 0; i < sizeof(stop_sigs) / sizeof(stop_sigs[0]); i++) {
		sigaction(stop_sigs[i], &sa, NULL);
		sigaddset(&block, stop_sigs[i]);
	}
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigprocmask(SIG_SETMASK, &block, NULL);
}

static void __attribute__((noreturn))
mon_main(int ready, const struct reg_root *r, const char *name,
	 const char *ifname)
{
	struct mon m;
	int err;

	/* _exit() throughout: the atexit handlers and stdio are the CLI's */
	mon_signals();
	ready = mon_detach(ready);
	if (ready < 0)
		_exit(1);
	prctl(PR_SET_NAME, MON_COMM, 0, 0, 0);
	openlog("rdma-tcp", LOG_PID, LOG_DAEMON);
	if (write_msg(ready, (int32_t)getpid()))
		_exit(1);

	err = mon_setup(&m, r, name, ifname);
	/* the first sync writes every file: the table may have moved */
	if (!err)
		err = mon_sync(&m);
	/* a failed write means `link add` died: the device is not ours */
	if (write_msg(ready, (int32_t)-err) || err) {
		mon_teardown(&m);
		_exit(1);
	}
	close(ready);
	mon_loop(&m);
	mon_teardown(&m);
	closelog();
	_exit(0);
}

/* Read one message from the daemon, waiting at most until @deadline. */
static int read_msg(int fd, int32_t *v, const struct timespec *deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct timespec now;
	long ms;
	ssize_t n;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (deadline->tv_sec - now.tv_sec) * 1000 +
		     (deadline->tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		n = read(fd, v, sizeof(*v));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		/* EOF: the daemon died before saying anything */
		return n == (ssize_t)sizeof(*v) ? 0 : -EPIPE;
	}
}

pid_t gid_monitor_start(const struct reg_root *r, const char *name,
			const char *ifname)
{
	struct timespec deadline;
	int pfd[2], status, err;
	int32_t pid = -1, result = 0;
	pid_t child;

	if (pipe2(pfd, O_CLOEXEC)) {
		rtcp_err("cannot start the GID monitor: %s", strerror(errno));
		return -1;
	}
	/* unflushed stdio would be written twice, once by each process */
	fflush(NULL);
	child = fork();
	if (child < 0) {
		rtcp_err("cannot start the GID monitor: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (child == 0) {
		/*
		 * setsid() drops the controlling terminal; the second fork
		 * makes the daemon a non-leader, so it can never get one back,
		 * and leaves it to init, so nobody has to reap it.
		 */
		close(pfd[0]);
		if (setsid() < 0)
			_exit(1);
		child = fork();
		if (child < 0)
			_exit(1);
		if (child > 0)
			_exit(0);
		mon_main(pfd[1], r, name, ifname);
	}
	close(pfd[1]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += MON_READY_TIMEOUT_MS / 1000;
	err = read_msg(pfd[0], &pid, &deadline);
	if (!err)
		err = read_msg(pfd[0], &result, &deadline);
	close(pfd[0]);
	if (!err && result) {
		/* the daemon sends a positive errno */
		rtcp_err("GID monitor of %s failed: %s", name,
			 strerror(result));
		/* it exits by itself; make sure before the caller rolls back */
		gid_monitor_stop(pid);
		return -1;
	}
	if (err) {
		rtcp_err("GID monitor of %s did not start: %s", name,
			 err == -EPIPE ? "it exited" : strerror(-err));
		if (pid > 1)
			gid_monitor_stop(pid);
		return -1;
	}
	return pid;
}

static bool proc_is_monitor(pid_t pid)
{
	char path[64], comm[32];

	if (fs_path(path, sizeof(path), "/proc/%ld/comm", (long)pid) ||
	    fs_read_line(path, comm, sizeof(comm)))
		return false;
	return !strcmp(comm, MON_COMM);
}

static bool proc_gone(pid_t pid)
{
	char path[64], stat[1024], *paren;

	if (kill(pid, 0) && errno == ESRCH)
		return true;
	/*
	 * Dead but unreaped counts as gone: in a container whose init does
	 * not reap, the zombie could outlive us.
	 */
	if (fs_path(path, sizeof(path), "/proc/%ld/stat", (long)pid) ||
	    fs_read_line(path, stat, sizeof(stat)))
		return false;
	paren = strrchr(stat, ')');
	return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

static bool wait_gone(pid_t pid, int ms)
{
	const struct timespec step = { 0, MON_POLL_STEP_MS * 1000000L };
	int waited;

	for (waited = 0; waited < ms; waited += MON_POLL_STEP_MS) {
		if (proc_gone(pid))
			return true;
		nanosleep(&step, NULL);
	}
	return proc_gone(pid);
}

int gid_monitor_stop(pid_t pid)
{
	if (pid <= 1 || !proc_is_monitor(pid))
		return 0;
	if (kill(pid, SIGTERM))
		return errno == ESRCH ? 0 : -errno;
	if (wait_gone(pid, MON_TERM_WAIT_MS))
		return 0;
	if (kill(pid, SIGKILL) && errno == ESRCH)
		return 0;
	return wait_gone(pid, MON_KILL_WAIT_MS) ? 0 : -ETIMEDOUT;
}
