// SPDX-License-Identifier: MIT
/*
 * What a QP's TCP socket carries of the network's knobs (docs/design.md,
 * "Congestion control and traffic class"): its congestion control -- the
 * QP's own (tcpdv_modify_qp_cc), else the device's (`rdma-tcp link ... cc
 * NAME`, read at each connection), else the netns default -- and the
 * traffic class of the QP's address vector as the IP TOS / IPv6 traffic
 * class, as a RoCE NIC puts the GRH's traffic class in the IP header it
 * builds. Both sides of a connection set their own: the connecting socket
 * before connect(), so its SYN already has the TOS, the accepted one when
 * its hello names the QP.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cc_conf.h"
#include "qp.h"

_Static_assert(sizeof(((struct tcp_qp *)0)->conn.cc) == TCP_CC_NAME_MAX,
	       "a QP holds any name the kernel does");

/*
 * A name the device's file gives that the kernel refuses (its module
 * unloaded, or an unprivileged process and a name outside
 * tcp_allowed_congestion_control): the connection keeps the default, and
 * the process is told once.
 */
static void cc_refused(const struct tcp_qp *qp, const char *name, int err)
{
	static atomic_flag told = ATOMIC_FLAG_INIT;

	if (atomic_flag_test_and_set(&told))
		return;
	fprintf(stderr,
		"rdma-tcp: %s: congestion control \"%s\" refused by the "
		"kernel (%s); connections use the default\n",
		qp->ctx->vctx.context.device->name, name, strerror(err));
}

/* The name a connection of @qp made now uses; "" for the netns default. */
static void cc_wanted(const struct tcp_qp *qp, char out[TCP_CC_NAME_MAX])
{
	if (qp->conn.cc[0]) {
		memcpy(out, qp->conn.cc, TCP_CC_NAME_MAX);
		return;
	}
	if (tcp_cc_conf_read(qp->ctx->dev->ibdev_path, out))
		out[0] = '\0';
}

static int set_cc(int fd, const char *name)
{
	if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, strlen(name)))
		return errno;
	return 0;
}

/*
 * The traffic class byte as it is: DSCP in the upper six bits, ECN in the
 * lower two, which the kernel keeps as TCP's own ECN needs them. An IPv6
 * socket may carry IPv4 (a mapped peer): both options then.
 */
static void set_tclass(int fd, uint8_t tclass)
{
	int v = tclass, domain = AF_INET;
	socklen_t len = sizeof(domain);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len))
		return;
	if (domain == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &v, sizeof(v));
	setsockopt(fd, IPPROTO_IP, IP_TOS, &v, sizeof(v));
}

void tcp_qp_sock_net(struct tcp_qp *qp, int fd)
{
	char cc[TCP_CC_NAME_MAX];
	int err;

	cc_wanted(qp, cc);
	if (cc[0]) {
		err = set_cc(fd, cc);
		if (err)
			cc_refused(qp, cc, err);
	}
	if (qp->attr.ah_attr.grh.traffic_class)
		set_tclass(fd, qp->attr.ah_attr.grh.traffic_class);
}

/*
 * Whether this process may use @name: a socket of its own tries it, so
 * the answer is the kernel's (tcp_allowed_congestion_control, or
 * CAP_NET_ADMIN) and comes now, not at a later connection.
 */
static int cc_probe(const char *name)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	int err;

	if (fd < 0 && errno == EAFNOSUPPORT) /* a host without IPv4 */
		fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return errno;
	err = set_cc(fd, name);
	close(fd);
	return err;
}

/*
 * The QP's own congestion control: @name, or NULL/"" for the device's.
 * A connection already up changes at once (the kernel switches a live
 * socket); later ones start with it. EINVAL for a name the kernel does
 * not have, EPERM for one this process may not use; the QP is then as it
 * was.
 */
int tcp_qp_set_cc(struct tcp_qp *qp, const char *name)
{
	char cc[TCP_CC_NAME_MAX], old[TCP_CC_NAME_MAX];
	int err = 0;

	if (name && name[0]) {
		err = tcp_cc_check(name, NULL, 0);
		if (!err)
			err = cc_probe(name);
		if (err)
			return err == ENOENT ? EINVAL : err;
	}
	tcp_mutex_lock(&qp->lock);
	memcpy(old, qp->conn.cc, sizeof(old));
	snprintf(qp->conn.cc, sizeof(qp->conn.cc), "%s", name ? name : "");
	if (qp->conn.fd >= 0) {
		cc_wanted(qp, cc);
		if (!cc[0])
			err = tcp_cc_default(cc);
		if (!err)
			err = set_cc(qp->conn.fd, cc);
		if (err)
			memcpy(qp->conn.cc, old, sizeof(old));
	}
	tcp_qp_unlock(qp);
	return err == ENOENT ? EINVAL : err;
}

/*
 * What @qp's connection uses, as the kernel says (its socket), or before
 * it has one, what a connection made now would start with.
 */
int tcp_qp_get_cc(struct tcp_qp *qp, char out[TCP_CC_NAME_MAX])
{
	socklen_t len = TCP_CC_NAME_MAX;
	int err = 0;

	memset(out, 0, TCP_CC_NAME_MAX);
	tcp_mutex_lock(&qp->lock);
	if (qp->conn.fd < 0 ||
	    getsockopt(qp->conn.fd, IPPROTO_TCP, TCP_CONGESTION, out, &len))
		cc_wanted(qp, out);
	tcp_qp_unlock(qp);
	if (!out[0])
		err = tcp_cc_default(out);
	out[TCP_CC_NAME_MAX - 1] = '\0';
	return err;
}
