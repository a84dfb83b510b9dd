// SPDX-License-Identifier: MIT
/*
 * fake_rdma_nl.so: an LD_PRELOAD library that makes this process see the
 * RDMA netlink of a kernel with ib_core loaded (test_coexist.sh).
 *
 * This kernel has no RDMA at all, so socket(AF_NETLINK, *, NETLINK_RDMA)
 * fails and libibverbs lists devices from SYSFS_PATH. Under this library
 * that socket is one end of an AF_UNIX datagram pair instead, and each
 * request sent on it is answered on the other end as the kernel's nldev
 * would answer it:
 *
 * - RDMA_NLDEV_CMD_GET (dump): one message per fake device, then DONE;
 * - RDMA_NLDEV_CMD_GET_CHARDEV "uverbs" for a fake device's index: its
 *   char device name, number (stat() of /dev/infiniband/NAME) and driver id;
 * - RDMA_NLDEV_CMD_SYS_GET: a reply without attributes (a kernel before
 *   5.13), or with RDMA_NLDEV_SYS_ATTR_COPY_ON_FORK = FAKE_RDMA_NL_COF
 *   when that is set (0 or 1);
 * - anything else: an NLMSG_ERROR with -EOPNOTSUPP;
 * - after a successful answer to a request other than a dump with
 *   NLM_F_ACK: an ack (NLMSG_ERROR 0), as rdma_nl_rcv_skb() sends.
 *
 * The devices come from FAKE_RDMA_NL_DEVICES="NAME:DRIVER_ID:CHARDEV,...",
 * their indexes are 1, 2, ... in that order. FAKE_RDMA_NL_TRACE=1 prints a
 * line on stderr per request answered, so a test can tell the netlink path
 * was taken.
 *
 * Interposed for the fake sockets only: socket, bind, getsockname,
 * setsockopt, sendmsg, sendto, recvmsg, close. Single-threaded use (the
 * device listing of one program) is all it is written for.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <rdma/rdma_netlink.h>

#define MAX_FDS	 1024
#define MAX_DEVS 4
#define MSG_MAX	 8192

struct fake_dev {
	char name[64];
	char chardev[64];
	uint32_t driver_id;
};

static struct fake_dev devs[MAX_DEVS];
static int ndevs = -1;
/* peer[fd]: the end the answers are written to, 0 when fd is not fake */
static int peer[MAX_FDS];

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

static void load_devs(void)
{
	const char *env = getenv("FAKE_RDMA_NL_DEVICES");
	char *list, *save = NULL, *tok;

	ndevs = 0;
	if (!env)
		return;
	list = strdup(env);
	for (tok = strtok_r(list, ",", &save); tok && ndevs < MAX_DEVS;
	     tok = strtok_r(NULL, ",", &save)) {
		struct fake_dev *d = &devs[ndevs];
		unsigned int id;

		if (sscanf(tok, "%63[^:]:%u:%63s", d->name, &id, d->chardev) ==
		    3) {
			d->driver_id = id;
			ndevs++;
		}
	}
	free(list);
}

static bool is_fake(int fd)
{
	return fd >= 0 && fd < MAX_FDS && peer[fd] > 0;
}

static void trace(const char *what)
{
	const char *t = getenv("FAKE_RDMA_NL_TRACE");

	if (t && *t == '1')
		fprintf(stderr, "fake_rdma_nl: %s\n", what);
}

int socket(int domain, int type, int protocol)
{
	int sv[2];

	if (domain != AF_NETLINK || protocol != NETLINK_RDMA)
		return REAL(socket)(domain, type, protocol);
	if (ndevs < 0)
		load_devs();
	if (socketpair(AF_UNIX, SOCK_DGRAM | (type & SOCK_CLOEXEC), 0, sv))
		return -1;
	if (sv[0] >= MAX_FDS) {
		REAL(close)(sv[0]);
		REAL(close)(sv[1]);
		errno = EMFILE;
		return -1;
	}
	peer[sv[0]] = sv[1];
	return sv[0];
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (is_fake(fd))
		return 0;
	return REAL(bind)(fd, addr, len);
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK,
				  .nl_pid = (uint32_t)getpid() };

	if (!is_fake(fd))
		return REAL(getsockname)(fd, addr, len);
	memcpy(addr, &nl, *len < sizeof(nl) ? *len : sizeof(nl));
	*len = sizeof(nl);
	return 0;
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	if (is_fake(fd))
		return 0;
	return REAL(setsockopt)(fd, level, name, val, len);
}

int close(int fd)
{
	if (is_fake(fd)) {
		REAL(close)(peer[fd]);
		peer[fd] = 0;
	}
	return REAL(close)(fd);
}

/* A reply under construction: one netlink message. */
struct reply {
	union {
		struct nlmsghdr hdr;
		char b[MSG_MAX];
	} u;
};

static void reply_start(struct reply *r, uint16_t type, uint16_t flags,
			const struct nlmsghdr *req)
{
	memset(&r->u.hdr, 0, sizeof(r->u.hdr));
	r->u.hdr.nlmsg_len = NLMSG_HDRLEN;
	r->u.hdr.nlmsg_type = type;
	r->u.hdr.nlmsg_flags = flags;
	r->u.hdr.nlmsg_seq = req->nlmsg_seq;
	r->u.hdr.nlmsg_pid = req->nlmsg_pid;
}

static void put_attr(struct reply *r, uint16_t type, const void *data,
		     size_t len)
{
	struct nlattr *a = (struct nlattr *)(r->u.b + r->u.hdr.nlmsg_len);

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	memcpy((char *)a + NLA_HDRLEN, data, len);
	memset((char *)a + NLA_HDRLEN + len, 0,
	       NLA_ALIGN(a->nla_len) - a->nla_len);
	r->u.hdr.nlmsg_len += NLA_ALIGN(a->nla_len);
}

static void put_u32(struct reply *r, uint16_t type, uint32_t v)
{
	put_attr(r, type, &v, sizeof(v));
}

static void put_u64(struct reply *r, uint16_t type, uint64_t v)
{
	put_attr(r, type, &v, sizeof(v));
}

static void put_str(struct reply *r, uint16_t type, const char *s)
{
	put_attr(r, type, s, strlen(s) + 1);
}

static void reply_send(int fd, struct reply *r)
{
	if (send(peer[fd], r->u.b, r->u.hdr.nlmsg_len, 0) < 0)
		perror("fake_rdma_nl: send");
}

static void answer_error(int fd, const struct nlmsghdr *req, int err)
{
	struct nlmsgerr e = { .error = -err, .msg = *req };
	struct reply r;

	reply_start(&r, NLMSG_ERROR, 0, req);
	memcpy(r.u.b + r.u.hdr.nlmsg_len, &e, sizeof(e));
	r.u.hdr.nlmsg_len += NLMSG_ALIGN(sizeof(e));
	reply_send(fd, &r);
}

static void answer_dump(int fd, const struct nlmsghdr *req)
{
	uint16_t type = RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_GET);
	struct reply r;
	int32_t done = 0;
	int i;

	for (i = 0; i < ndevs; i++) {
		reply_start(&r, type, NLM_F_MULTI, req);
		put_u32(&r, RDMA_NLDEV_ATTR_DEV_INDEX, (uint32_t)i + 1);
		put_str(&r, RDMA_NLDEV_ATTR_DEV_NAME, devs[i].name);
		/* the number of ports, in a dump */
		put_u32(&r, RDMA_NLDEV_ATTR_PORT_INDEX, 1);
		put_u64(&r, RDMA_NLDEV_ATTR_NODE_GUID,
			0x0200000000000000ULL | (uint64_t)i);
		put_attr(&r, RDMA_NLDEV_ATTR_DEV_NODE_TYPE,
			 &(uint8_t){ RDMA_NODE_IB_CA }, 1);
		reply_send(fd, &r);
	}
	reply_start(&r, NLMSG_DONE, NLM_F_MULTI, req);
	memcpy(r.u.b + r.u.hdr.nlmsg_len, &done, sizeof(done));
	r.u.hdr.nlmsg_len += NLMSG_ALIGN(sizeof(done));
	reply_send(fd, &r);
	trace("answered RDMA_NLDEV_CMD_GET");
}

/* The u32 attribute @type of request @req, or @dflt. */
static uint32_t req_u32(const struct nlmsghdr *req, uint16_t type,
			uint32_t dflt)
{
	const struct nlattr *a =
		(const void *)((const char *)req + NLMSG_HDRLEN);
	size_t left = req->nlmsg_len - NLMSG_HDRLEN;

	while (left >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&
	       a->nla_len <= left) {
		if ((a->nla_type & NLA_TYPE_MASK) == type &&
		    a->nla_len >= NLA_HDRLEN + sizeof(uint32_t)) {
			uint32_t v;

			memcpy(&v, (const char *)a + NLA_HDRLEN, sizeof(v));
			return v;
		}
		if ((size_t)NLA_ALIGN(a->nla_len) >= left)
			break;
		left -= NLA_ALIGN(a->nla_len);
		a = (const void *)((const char *)a + NLA_ALIGN(a->nla_len));
	}
	return dflt;
}

/* huge_encode_dev(), as the kernel reports a char device number */
static uint64_t encode_dev(dev_t d)
{
	uint64_t ma = major(d), mi = minor(d);

	return (mi & 0xff) | (ma << 8) | ((mi & ~0xffULL) << 12);
}

/* true when it answered with the char device (not an error) */
static bool answer_chardev(int fd, const struct nlmsghdr *req)
{
	uint32_t idx = req_u32(req, RDMA_NLDEV_ATTR_DEV_INDEX, 0);
	char path[128];
	struct reply r;
	struct stat st;

	if (idx < 1 || idx > (uint32_t)ndevs) {
		answer_error(fd, req, EINVAL);
		return false;
	}
	snprintf(path, sizeof(path), "/dev/infiniband/%s",
		 devs[idx - 1].chardev);
	if (stat(path, &st)) {
		answer_error(fd, req, ENODEV);
		return false;
	}
	reply_start(&r, req->nlmsg_type, 0, req);
	put_str(&r, RDMA_NLDEV_ATTR_CHARDEV_NAME, devs[idx - 1].chardev);
	put_u64(&r, RDMA_NLDEV_ATTR_CHARDEV_ABI, 1);
	put_u64(&r, RDMA_NLDEV_ATTR_CHARDEV, encode_dev(st.st_rdev));
	put_u32(&r, RDMA_NLDEV_ATTR_UVERBS_DRIVER_ID, devs[idx - 1].driver_id);
	reply_send(fd, &r);
	trace("answered RDMA_NLDEV_CMD_GET_CHARDEV");
	return true;
}

static void answer_ack(int fd, const struct nlmsghdr *req)
{
	if (req->nlmsg_flags & NLM_F_ACK)
		answer_error(fd, req, 0);
}

static void answer(int fd, const struct nlmsghdr *req)
{
	struct reply r;

	switch (req->nlmsg_type) {
	case RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_GET):
		if (req->nlmsg_flags & NLM_F_DUMP) {
			answer_dump(fd, req);
			return;
		}
		break;
	case RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_GET_CHARDEV):
		if (answer_chardev(fd, req))
			answer_ack(fd, req);
		return;
	case RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_SYS_GET):
		reply_start(&r, req->nlmsg_type, 0, req);
		if (getenv("FAKE_RDMA_NL_COF"))
			put_attr(&r, RDMA_NLDEV_SYS_ATTR_COPY_ON_FORK,
				 &(uint8_t){ getenv("FAKE_RDMA_NL_COF")[0] ==
					     '1' },
				 1);
		reply_send(fd, &r);
		answer_ack(fd, req);
		trace("answered RDMA_NLDEV_CMD_SYS_GET");
		return;
	}
	answer_error(fd, req, EOPNOTSUPP);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	char buf[MSG_MAX];
	size_t len = 0, i;

	if (!is_fake(fd))
		return REAL(sendmsg)(fd, msg, flags);
	for (i = 0; i < msg->msg_iovlen; i++) {
		if (msg->msg_iov[i].iov_len > sizeof(buf) - len) {
			errno = EMSGSIZE;
			return -1;
		}
		memcpy(buf + len, msg->msg_iov[i].iov_base,
		       msg->msg_iov[i].iov_len);
		len += msg->msg_iov[i].iov_len;
	}
	if (len < NLMSG_HDRLEN || ((struct nlmsghdr *)buf)->nlmsg_len > len) {
		errno = EINVAL;
		return -1;
	}
	answer(fd, (struct nlmsghdr *)buf);
	return (ssize_t)len;
}

ssize_t sendto(int fd, const void *data, size_t len, int flags,
	       const struct sockaddr *to, socklen_t tolen)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (!is_fake(fd))
		return REAL(sendto)(fd, data, len, flags, to, tolen);
	return sendmsg(fd, &msg, flags);
}

/* libnl insists on a netlink source address: the kernel's (pid 0). */
ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	void *name = msg->msg_name;
	socklen_t namelen = msg->msg_namelen;
	ssize_t n;

	if (!is_fake(fd))
		return REAL(recvmsg)(fd, msg, flags);
	msg->msg_name = NULL;
	msg->msg_namelen = 0;
	n = REAL(recvmsg)(fd, msg, flags);
	msg->msg_name = name;
	msg->msg_namelen = 0;
	if (n >= 0 && name) {
		memcpy(name, &kernel,
		       namelen < sizeof(kernel) ? namelen : sizeof(kernel));
		msg->msg_namelen = sizeof(kernel);
	}
	return n;
}
