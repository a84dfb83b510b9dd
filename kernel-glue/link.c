// SPDX-License-Identifier: MIT
/*
 * `rdma-tcp link add|del|show`: validation, privilege checks and the order
 * of the steps; the file work is registry.c's, the addresses gid_table.c's,
 * the security configuration psp_cfg.c's (link set/rotate: link_psp.c).
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "cli.h"
#include "fsutil.h"
#include "gid_monitor.h"
#include "gid_table.h"
#include "glue_util.h"
#include "link_cc.h"
#include "netdev.h"
#include "psp_cfg.h"
#include "registry_int.h"

/* /etc/machine-id is 32 hex digits; room for a longer one */
#define SEED_MAX 128

/*
 * A half-made device can only come from a crash once the steps run with
 * the usual stop signals (^C, a closed terminal, kill) held back.
 */
static void block_stop_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigprocmask(SIG_BLOCK, &set, old);
}

static void read_host_seed(char *buf, size_t len)
{
	static const char *const files[] = { "/etc/machine-id",
					     "/var/lib/dbus/machine-id" };
	unsigned int i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (!fs_read_line(files[i], buf, len) && *buf)
			return;
	/* no machine-id (a minimal container): the host name still helps */
	if (gethostname(buf, len) || !*buf)
		buf[0] = '\0';
	buf[len - 1] = '\0';
}

/* Whether another device of ROOT already has @guid as its node GUID. */
static bool guid_in_use(const struct reg_root *r, const uint8_t guid[8])
{
	char want[RTCP_GUID_STR_LEN], have[RTCP_GUID_STR_LEN + 1];
	char **names;
	bool used = false;
	int n, i;

	if (reg_list(r, &names, &n))
		return false;
	rtcp_guid_format(guid, want);
	for (i = 0; i < n && !used; i++)
		used = !reg_read_attr(r, names[i], "node_guid", have,
				      sizeof(have)) &&
		       !strcmp(have, want);
	reg_list_free(names, n);
	return used;
}

/*
 * The node GUID: the netdev's MAC as an EUI-64 like a RoCE NIC, or when
 * it has none (lo, tun) or a second device on the same netdev would get
 * the same one, a hash of the machine id and the device name.
 */
static void make_guid(const struct reg_root *r, struct nl_sock *sk,
		      unsigned int ifindex, const char *name, uint8_t guid[8])
{
	char seed[SEED_MAX];
	uint8_t mac[32];
	size_t len = sizeof(mac);

	if (!netdev_hwaddr(sk, ifindex, mac, &len) &&
	    !rtcp_guid_from_mac(mac, len, guid) && !guid_in_use(r, guid))
		return;
	read_host_seed(seed, sizeof(seed));
	rtcp_guid_from_seed(seed, strlen(seed), name, guid);
}

static void host_name(char *buf, size_t len)
{
	if (gethostname(buf, len) || !*buf)
		snprintf(buf, len, "localhost");
	buf[len - 1] = '\0';
}

/* The netlink socket that reads @ifname's addresses and MAC; NULL on error. */
static struct nl_sock *route_socket(const char *ifname, unsigned int *ifindex)
{
	struct nl_sock *sk;
	int err;

	*ifindex = if_nametoindex(ifname);
	if (!*ifindex) {
		if (errno == ENODEV || errno == ENXIO)
			rtcp_err("no netdev %s in this network namespace",
				 ifname);
		else
			rtcp_err("netdev %s: %s", ifname, strerror(errno));
		return NULL;
	}
	sk = nl_socket_alloc();
	if (!sk) {
		rtcp_err("out of memory");
		return NULL;
	}
	err = nl_connect(sk, NETLINK_ROUTE);
	if (err) {
		rtcp_err("cannot open a netlink socket: %s", nl_geterror(err));
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

/* @ifname's addresses into @gids; what does not fit is only warned of. */
static int read_gids(struct nl_sock *sk, const char *ifname,
		     struct gid_table *gids)
{
	int err;

	err = gid_table_collect(sk, ifname, gids);
	if (!err && !gids->netdev_present)
		err = -ENODEV;
	if (err) {
		rtcp_err("cannot read the addresses of %s: %s", ifname,
			 strerror(-err));
		return err;
	}
	if (gids->dropped)
		fprintf(stderr,
			"rdma-tcp: warning: %u addresses of %s do not fit in "
			"the %d-entry GID table\n",
			gids->dropped, ifname, RDMA_TCP_GID_TBL_LEN);
	return 0;
}

/* The registry's steps, in order; a failed one undoes those before it. */
static int publish(const struct reg_root *r, const char *name,
		   const char *ifname, const struct reg_dev_attrs *attrs)
{
	struct reg_txn t;
	pid_t pid;
	int err;

	reg_txn_init(&t, r, name);
	err = reg_claim_uverbs(&t);
	if (!err)
		err = reg_publish_device(&t, attrs);
	if (!err)
		err = reg_publish_uverbs(&t);
	if (!err) {
		pid = gid_monitor_start(r, name, ifname);
		if (pid < 0)
			err = -ECHILD;
		else
			t.monitor = pid;
	}
	if (!err)
		err = reg_write_pidfile(&t, t.monitor);
	if (err)
		reg_rollback(&t);
	return err;
}

/* The device's NAME/tcp_psp into @text; under the lock (the host key). */
static int psp_text(const struct reg_root *r, const struct psp_opts *o,
		    char *text, size_t len)
{
	struct tcp_psp_conf c;
	int err;

	psp_conf_default(&c);
	err = psp_apply(r, &c, o);
	if (!err && psp_format(&c, text, len)) {
		rtcp_err("the security configuration does not fit");
		err = -ENAMETOOLONG;
	}
	return err;
}

/* Everything after the checks that need no lock; see cmd_link_add(). */
static int link_add(const struct reg_root *r, const char *name,
		    const char *ifname, const struct psp_opts *psp,
		    const char *cc)
{
	char hostname[HOST_NAME_MAX + 1], psp_conf[PSP_TEXT_MAX];
	struct reg_dev_attrs attrs;
	struct gid_table gids;
	struct nl_sock *sk;
	unsigned int ifindex;
	int lock = -1, err;

	sk = route_socket(ifname, &ifindex);
	if (!sk)
		return RTCP_EXIT_FAIL;

	memset(&attrs, 0, sizeof(attrs));
	attrs.name = name;
	attrs.ifname = ifname;
	attrs.gids = &gids;
	host_name(hostname, sizeof(hostname));
	attrs.hostname = hostname;
	attrs.psp = psp_conf;
	attrs.cc = cc_opt_text(cc);
	err = netns_inode(&attrs.netns);
	if (err) {
		rtcp_err("cannot find our network namespace: %s",
			 strerror(-err));
		goto out;
	}

	lock = reg_lock(r);
	if (lock < 0) {
		err = lock;
		goto out;
	}
	err = reg_prepare(r);
	if (err)
		goto out;
	if (reg_mirror_kernel(r))
		fprintf(stderr,
			"rdma-tcp: warning: cannot mirror the kernel's "
			"RDMA devices into %s\n",
			r->path);
	if (reg_dev_exists(r, name)) {
		rtcp_err("device %s already exists", name);
		err = -EEXIST;
		goto out;
	}
	err = psp_text(r, psp, psp_conf, sizeof(psp_conf));
	if (!err)
		err = read_gids(sk, ifname, &gids);
	if (err)
		goto out;
	make_guid(r, sk, ifindex, name, attrs.guid);
	err = publish(r, name, ifname, &attrs);
out:
	reg_unlock(lock);
	nl_socket_free(sk);
	return err ? RTCP_EXIT_FAIL : RTCP_EXIT_OK;
}

int cmd_link_add(const char *name, const char *ifname,
		 const struct psp_opts *psp, const char *cc)
{
	struct reg_root root;
	const char *why;
	sigset_t old;
	int ret;

	why = rtcp_check_dev_name(name);
	if (why) {
		rtcp_err("invalid device name \"%s\": %s", name, why);
		return RTCP_EXIT_FAIL;
	}
	why = rtcp_check_ifname(ifname);
	if (why) {
		rtcp_err("invalid netdev name \"%s\": %s", ifname, why);
		return RTCP_EXIT_FAIL;
	}
	if (geteuid() != 0) {
		rtcp_err("must be root to add devices");
		return RTCP_EXIT_FAIL;
	}
	if (reg_root_get(&root))
		return RTCP_EXIT_FAIL;
	/* files are read by every user; the caller's umask must not matter */
	umask(022);
	block_stop_signals(&old);
	ret = link_add(&root, name, ifname, psp, cc);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}

bool link_exists(const char *name)
{
	struct reg_root root;

	return !reg_root_get(&root) && reg_dev_exists(&root, name);
}

int cmd_link_del(const char *name)
{
	struct reg_root root;
	const char *why;
	sigset_t old;
	int lock, err;

	why = rtcp_check_dev_name(name);
	if (why) {
		rtcp_err("invalid device name \"%s\": %s", name, why);
		return RTCP_EXIT_FAIL;
	}
	if (geteuid() != 0) {
		rtcp_err("must be root to delete devices");
		return RTCP_EXIT_FAIL;
	}
	if (reg_root_get(&root))
		return RTCP_EXIT_FAIL;
	/* checked before the lock too, so a mistyped ROOT is not created */
	if (!reg_dev_exists(&root, name)) {
		rtcp_err("%s: no such device", name);
		return RTCP_EXIT_FAIL;
	}
	umask(022);
	block_stop_signals(&old);
	lock = reg_lock(&root);
	err = lock < 0 ? lock : reg_remove_device(&root, name);
	reg_unlock(lock);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return err ? RTCP_EXIT_FAIL : RTCP_EXIT_OK;
}

static void show_one(const struct reg_root *r, const char *name,
		     unsigned long long my_netns, bool have_netns)
{
	char parent[IF_NAMESIZE + 1] = "?", val[32], dir[PATH_MAX];
	char psp[PSP_DESCR_MAX] = "psp ?", cc[32] = "";
	unsigned long long netns;
	unsigned int flags = 0;
	bool present, active;

	if (reg_read_attr(r, name, "parent", parent, sizeof(parent)) ||
	    rtcp_check_ifname(parent))
		snprintf(parent, sizeof(parent), "?");
	/*
	 * A device made in another network namespace names a netdev of that
	 * namespace; a same-named one here (every netns has a "lo") is not it.
	 */
	present = strcmp(parent, "?") != 0;
	if (present && have_netns &&
	    !reg_read_attr(r, name, "tcp_netns", val, sizeof(val)) &&
	    sscanf(val, "%llu", &netns) == 1 && netns != my_netns)
		present = false;
	if (present && netdev_flags(parent, &flags))
		present = false;
	/* lo has no carrier to speak of: being up is enough */
	active = present && (flags & IFF_UP) &&
		 (flags & (IFF_RUNNING | IFF_LOOPBACK));
	if (!reg_dev_dir(r, name, dir, sizeof(dir))) {
		psp_describe(dir, psp, sizeof(psp));
		cc_describe(dir, cc, sizeof(cc));
	}
	printf("link %s/1 state %s physical_state %s netdev %s%s %s%s\n", name,
	       active ? "ACTIVE" : "DOWN", active ? "LINK_UP" : "DISABLED",
	       parent, present ? "" : " (absent)", psp, cc);
}

int cmd_link_show(const char *arg)
{
	char name[RTCP_DEV_NAME_MAX + 1], dir[PATH_MAX];
	unsigned long long my_netns = 0;
	struct reg_root root;
	struct stat st;
	bool have_netns;
	const char *slash, *why;
	char **names;
	int n, i;

	if (reg_root_get(&root))
		return RTCP_EXIT_FAIL;
	have_netns = !netns_inode(&my_netns);
	if (!arg) {
		if (reg_list(&root, &names, &n))
			return RTCP_EXIT_FAIL;
		for (i = 0; i < n; i++)
			show_one(&root, names[i], my_netns, have_netns);
		reg_list_free(names, n);
		return RTCP_EXIT_OK;
	}
	/* NAME or NAME/PORT as `rdma link show` takes it; port 1 is all */
	slash = strchr(arg, '/');
	if (slash && strcmp(slash, "/1") != 0) {
		rtcp_err("%s: devices have only port 1", arg);
		return RTCP_EXIT_FAIL;
	}
	if (fs_path(name, sizeof(name), "%.*s",
		    (int)(slash ? (size_t)(slash - arg) : strlen(arg)), arg)) {
		rtcp_err("invalid device name \"%s\"", arg);
		return RTCP_EXIT_FAIL;
	}
	why = rtcp_check_dev_name(name);
	if (why) {
		rtcp_err("invalid device name \"%s\": %s", name, why);
		return RTCP_EXIT_FAIL;
	}
	if (reg_dev_dir(&root, name, dir, sizeof(dir)) || lstat(dir, &st) ||
	    !S_ISDIR(st.st_mode)) {
		rtcp_err("%s: no such device", name);
		return RTCP_EXIT_FAIL;
	}
	show_one(&root, name, my_netns, have_netns);
	return RTCP_EXIT_OK;
}
