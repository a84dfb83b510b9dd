// SPDX-License-Identifier: MIT
/*
 * The tcp devices as rdma_cm sees them: which mode the process is in, the
 * device table (each device opened once per process, as librdmacm does),
 * address -> device, GID lookups, rdma_get_devices().
 *
 * Mode: the first rdma_* call decides, once per process. If libibverbs
 * lists a tcp device (the provider lists only devices of this network
 * namespace), this library serves the rdma_cm API itself; otherwise every
 * call goes to the system librdmacm and this library is invisible.
 * Limitation (mixed case): in tcp mode, ids are never handed to the system
 * librdmacm, so a kernel RDMA device beside tcp devices is not reachable
 * through rdma_cm in the same process. libibverbs 44 cannot show both
 * anyway: with kernel RDMA (netlink) it ignores SYSFS_PATH and the tcp
 * registry.
 *
 * A device serves the addresses of its netdev (the registry's `parent`);
 * 127.0.0.0/8 and ::1 belong to the loopback device.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rdma_tcp/debug.h>
#include <rdma_tcp/registry.h>

#include "ext.h"

#define LOOPBACK_NETDEV "lo"

static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cm_dev **devs; /* each allocated once: ids point at them */
static int ndevs;
static pthread_once_t mode_once = PTHREAD_ONCE_INIT;
static bool tcp_mode;

static bool is_tcp_device(struct ibv_device *d)
{
	return !strncmp(d->name, RDMA_TCP_NAME_PREFIX,
			strlen(RDMA_TCP_NAME_PREFIX));
}

static void read_parent(struct ibv_device *d, char *buf, size_t sz)
{
	char path[IBV_SYSFS_PATH_MAX + 16];
	FILE *f;

	buf[0] = 0;
	snprintf(path, sizeof(path), "%s/parent", d->ibdev_path);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(buf, sz, f))
		buf[strcspn(buf, "\n ")] = 0;
	fclose(f);
}

/* The device's control port (registry.h): its file, else the default. */
static uint16_t read_cm_port(struct ibv_device *d)
{
	char path[IBV_SYSFS_PATH_MAX + 16], buf[16];
	unsigned long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/" RDMA_TCP_CM_PORT_FILE,
		 d->ibdev_path);
	f = fopen(path, "re");
	if (f) {
		if (fgets(buf, sizeof(buf), f))
			v = strtoul(buf, NULL, 10);
		fclose(f);
	}
	return v && v < 65536 ? (uint16_t)v : RTCP_CM_PORT_DEFAULT;
}

int cm_dev_ports(uint16_t *out, int max)
{
	int i, j, n = 0;

	pthread_mutex_lock(&dev_lock);
	for (i = 0; i < ndevs; i++) {
		for (j = 0; j < n && out[j] != devs[i]->cm_port; j++)
			;
		if (j == n && n < max)
			out[n++] = devs[i]->cm_port;
	}
	pthread_mutex_unlock(&dev_lock);
	return n;
}

/*
 * Adds the tcp devices of a fresh device list that are not in the table.
 * The lists are kept (never freed), so the ibv_device pointers stay valid.
 * Returns how many were added. Caller holds dev_lock.
 */
static int scan_devices(void)
{
	const struct ext_verbs *v = ext_verbs();
	struct ibv_device **list;
	struct cm_dev **nd, *d;
	int i, j, n, added = 0;

	if (!v)
		return 0;
	list = v->get_device_list(&n);
	if (!list)
		return 0;
	for (i = 0; i < n; i++) {
		if (!is_tcp_device(list[i]))
			continue;
		for (j = 0; j < ndevs; j++)
			if (!strcmp(devs[j]->device->name, list[i]->name))
				break;
		if (j < ndevs)
			continue;
		d = calloc(1, sizeof(*d));
		nd = d ? realloc(devs, (ndevs + 1) * sizeof(*devs)) : NULL;
		if (!nd) {
			free(d);
			break;
		}
		devs = nd;
		d->device = list[i];
		read_parent(list[i], d->netdev, sizeof(d->netdev));
		d->cm_port = read_cm_port(list[i]);
		devs[ndevs++] = d;
		added++;
	}
	if (!added)
		v->free_device_list(list);
	return added;
}

static void mode_init(void)
{
	const char *dbg = getenv("RDMACM_EXT_DEBUG"); /* the older switch */

	cm_debug_level =
		(dbg && atoi(dbg) > 0) ||
		(rtcp_debug_parse(getenv(RDMA_TCP_DEBUG_ENV)) & RTCP_DBG_CM);
	pthread_mutex_lock(&dev_lock);
	scan_devices();
	tcp_mode = ndevs > 0;
	pthread_mutex_unlock(&dev_lock);
	CM_DBG("%d tcp device(s): %s", ndevs,
	       tcp_mode ? "serving rdma_cm" : "forwarding to librdmacm");
}

bool cm_tcp_mode(void)
{
	pthread_once(&mode_once, mode_init);
	return tcp_mode;
}

/* Opens the device and its default PD the first time. dev_lock held. */
static int dev_open(struct cm_dev *d)
{
	const struct ext_verbs *v = ext_verbs();
	struct ibv_device_attr attr;

	if (d->verbs && d->pd)
		return 0;
	if (!v)
		return ENOSYS;
	if (!d->verbs) {
		d->verbs = v->open_device(d->device);
		if (!d->verbs)
			return errno ? errno : ENODEV;
		if (v->query_device(d->verbs, &attr) == 0) {
			d->max_initiator_depth =
				attr.max_qp_init_rd_atom > 255
					? 255
					: attr.max_qp_init_rd_atom;
			d->max_responder_resources =
				attr.max_qp_rd_atom > 255 ? 255
							  : attr.max_qp_rd_atom;
			d->max_qpsize = attr.max_qp_wr;
		}
	}
	if (!d->pd) {
		d->pd = v->alloc_pd(d->verbs);
		if (!d->pd)
			return errno ? errno : ENOMEM;
	}
	return 0;
}

/* The netdev name owning local address @sa, in @name. */
static bool netdev_of(const struct sockaddr *sa, char *name, size_t sz)
{
	struct ifaddrs *ifa, *i;
	bool found = false;

	if (cm_addr_is_loopback(sa)) {
		snprintf(name, sz, "%s", LOOPBACK_NETDEV);
		return true;
	}
	if (getifaddrs(&ifa))
		return false;
	for (i = ifa; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != sa->sa_family)
			continue;
		if (sa->sa_family == AF_INET)
			found = ((struct sockaddr_in *)i->ifa_addr)
					->sin_addr.s_addr ==
				((const struct sockaddr_in *)sa)
					->sin_addr.s_addr;
		else if (sa->sa_family == AF_INET6)
			found = !memcmp(
				&((struct sockaddr_in6 *)i->ifa_addr)
					 ->sin6_addr,
				&((const struct sockaddr_in6 *)sa)->sin6_addr,
				sizeof(struct in6_addr));
		if (found)
			snprintf(name, sz, "%s", i->ifa_name);
	}
	freeifaddrs(ifa);
	return found;
}

static struct cm_dev *find_by_netdev(const char *name)
{
	int i;

	for (i = 0; i < ndevs; i++)
		if (!strcmp(devs[i]->netdev, name))
			return devs[i];
	return NULL;
}

/*
 * A loopback address with no tcp device on the loopback netdev: the
 * kernel's rdma_cm resolves it to the first device with an active port
 * (cma_bind_loopback), so a connection to 127.0.0.1 in a namespace whose
 * device sits on a veth finds that device. Ours is the first whose
 * netdev exists in this namespace. rdma_bind_addr does not use it
 * (cm_bind_locked). dev_lock held.
 */
static struct cm_dev *loopback_fallback(void)
{
	int i;

	for (i = 0; i < ndevs; i++)
		if (if_nametoindex(devs[i]->netdev))
			return devs[i];
	return NULL;
}

static struct cm_dev *dev_find(const struct sockaddr *addr, bool fallback)
{
	struct sockaddr_storage ss;
	char name[IF_NAMESIZE + 1];
	struct cm_dev *d;
	int err;

	memcpy(&ss, addr, cm_addrlen(addr));
	cm_addr_unmap(&ss);
	if (!netdev_of((struct sockaddr *)&ss, name, sizeof(name))) {
		errno = ENODEV;
		return NULL;
	}
	pthread_mutex_lock(&dev_lock);
	d = find_by_netdev(name);
	/* a device registered since we last looked */
	if (!d && scan_devices())
		d = find_by_netdev(name);
	if (!d && fallback && cm_addr_is_loopback((struct sockaddr *)&ss))
		d = loopback_fallback();
	err = d ? dev_open(d) : ENODEV;
	pthread_mutex_unlock(&dev_lock);
	if (err) {
		errno = err;
		return NULL;
	}
	return d;
}

struct cm_dev *cm_dev_by_addr(const struct sockaddr *addr)
{
	return dev_find(addr, true);
}

struct cm_dev *cm_dev_on_netdev(const struct sockaddr *addr)
{
	return dev_find(addr, false);
}

uint8_t cm_dev_gid_index(struct cm_dev *dev, const union ibv_gid *gid)
{
	const struct ext_verbs *v = ext_verbs();
	union ibv_gid g;
	int i;

	for (i = 0; v && i < RDMA_TCP_GID_TBL_LEN; i++)
		if (!v->query_gid(dev->verbs, 1, i, &g) &&
		    !memcmp(&g, gid, sizeof(g)))
			return i;
	return 0;
}

enum ibv_mtu cm_dev_active_mtu(struct cm_dev *dev)
{
	struct ibv_port_attr pa;
	struct verbs_context *vctx = verbs_get_ctx_op(dev->verbs, query_port);

	memset(&pa, 0, sizeof(pa));
	if (vctx && !vctx->query_port(dev->verbs, 1, &pa, sizeof(pa)) &&
	    pa.active_mtu >= IBV_MTU_256)
		return pa.active_mtu;
	return IBV_MTU_1024;
}

struct ibv_context **cm_get_devices(int *num)
{
	struct ibv_context **list;
	int i, n = 0;

	pthread_mutex_lock(&dev_lock);
	scan_devices();
	list = calloc(ndevs + 1, sizeof(*list));
	if (list)
		for (i = 0; i < ndevs; i++)
			if (!dev_open(devs[i]))
				list[n++] = devs[i]->verbs;
	pthread_mutex_unlock(&dev_lock);
	if (num)
		*num = list ? n : 0;
	if (!list)
		errno = ENOMEM;
	return list;
}

void cm_free_devices(struct ibv_context **list)
{
	free(list);
}
