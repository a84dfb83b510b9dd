// SPDX-License-Identifier: MIT
/*
 * What a proxied NETLINK_RDMA socket answers (librdma-tcp-nl).
 *
 * Each request is answered completely before sendmsg() returns: the
 * answer is queued on the application's end of the socket pair, where its
 * recvmsg() finds it, one netlink message per packet.
 *
 * With a kernel (ib_core loaded), requests go to it and its answers come
 * back untouched, except:
 * - an RDMA_NLDEV_CMD_GET dump: the registry's devices go in before the
 *   kernel's NLMSG_DONE;
 * - GET, GET_CHARDEV, STAT_GET (`rdma statistic show`, nl_stat.c) and
 *   other nldev commands naming one of the registry's indexes: answered
 *   here (the kernel does not know them).
 * Without a kernel, the same, plus RDMA_NLDEV_CMD_SYS_GET: copy-on-fork
 * (nothing in the process pins pages for a device: the tcp provider
 * reaches registered memory through the process's own mappings), and
 * everything else is refused with EOPNOTSUPP.
 *
 * Registry devices carry no driver id in GET_CHARDEV, so libibverbs offers
 * them to every provider and tcp_match_device claims them, while kernel
 * devices keep their driver ids, indexes and char devices.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rdma/rdma_netlink.h>

#include "nl_preload.h"

/* the longest the kernel may take to answer one request */
#define KERNEL_WAIT_MS 5000
/* a kernel netlink packet is at most 32 KiB (netlink_dump's allocation) */
#define KERNEL_BUF 65536

void nlp_emit(struct nlp_sock *s, const void *msg, size_t len)
{
	/* a full queue blocks until the application reads: SEQPACKET counts
	 * bytes (a large send buffer), never packets */
	nlp_real.send(s->peer, msg, len, MSG_NOSIGNAL);
}

static void emit_msg(struct nlp_sock *s, const struct nlp_msg *m)
{
	nlp_emit(s, m->u.b, m->u.hdr.nlmsg_len);
}

static void emit_error(struct nlp_sock *s, const struct nlmsghdr *req, int err)
{
	struct nlp_msg m;

	nlp_msg_error(&m, req, s->portid, err);
	emit_msg(s, &m);
}

/* after an answer of our own: the ack, if the request asked for one */
static void own_done(struct nlp_sock *s, const struct nlmsghdr *req)
{
	if (req->nlmsg_flags & NLM_F_ACK)
		emit_error(s, req, 0);
}

static int remaining_ms(const struct timespec *end)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (end->tv_sec - now.tv_sec) * 1000 +
	     (end->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

/* One packet from the kernel into @buf: its length, or -1 (timeout). */
static ssize_t kernel_recv(struct nlp_sock *s, char *buf,
			   const struct timespec *end)
{
	struct pollfd p = { .fd = s->kernel, .events = POLLIN };
	struct iovec iov = { .iov_base = buf, .iov_len = KERNEL_BUF };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	for (;;) {
		if (poll(&p, 1, remaining_ms(end)) <= 0) {
			if (errno == EINTR && remaining_ms(end))
				continue;
			return -1;
		}
		n = nlp_real.recvmsg(s->kernel, &mh, MSG_DONTWAIT);
		if (n >= 0 || (errno != EINTR && errno != EAGAIN))
			return n;
	}
}

static int kernel_send(struct nlp_sock *s, const struct nlmsghdr *req,
		       bool dump)
{
	struct sockaddr_nl kaddr = { .nl_family = AF_NETLINK };
	struct nlmsghdr *copy = malloc(req->nlmsg_len);
	ssize_t n;

	if (!copy)
		return -1;
	memcpy(copy, req, req->nlmsg_len);
	/* an ack marks the end of any answer but a dump's */
	if (!dump)
		copy->nlmsg_flags |= NLM_F_ACK;
	n = nlp_real.sendto(s->kernel, copy, copy->nlmsg_len, 0,
			    (struct sockaddr *)&kaddr, sizeof(kaddr));
	free(copy);
	return n < 0 ? -1 : 0;
}

/*
 * Pass the kernel's answer to @req on, one message of it at a time. For a
 * dump, its NLMSG_DONE goes to @done instead (when it fits). Returns 1
 * when @done was filled, 0 when the answer is complete, -1 when the
 * kernel did not complete it in time.
 */
static int kernel_answer(struct nlp_sock *s, const struct nlmsghdr *req,
			 bool dump, struct nlp_msg *done, const char *buf,
			 ssize_t n)
{
	const struct nlmsghdr *h = (const void *)buf;
	int len = (int)n;

	for (; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
		if (h->nlmsg_seq != req->nlmsg_seq)
			continue; /* not this request's */
		if (h->nlmsg_type == NLMSG_DONE && dump && done &&
		    h->nlmsg_len <= sizeof(done->u.b)) {
			memcpy(done->u.b, h, h->nlmsg_len);
			return 1;
		}
		if (h->nlmsg_type == NLMSG_ERROR &&
		    h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			/* the ack we asked for, not the application */
			if (!e->error && !dump &&
			    !(req->nlmsg_flags & NLM_F_ACK))
				return 0;
			nlp_emit(s, h, h->nlmsg_len);
			return 0;
		}
		nlp_emit(s, h, h->nlmsg_len);
		if (h->nlmsg_type == NLMSG_DONE)
			return 0;
	}
	return 2; /* more to come */
}

static int forward(struct nlp_sock *s, const struct nlmsghdr *req,
		   struct nlp_msg *done)
{
	bool dump = req->nlmsg_flags & NLM_F_DUMP;
	struct timespec end;
	int rc = -1;
	ssize_t n;
	char *buf;

	if (kernel_send(s, req, dump))
		return -1;
	buf = malloc(KERNEL_BUF);
	if (!buf)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += KERNEL_WAIT_MS / 1000;
	do {
		n = kernel_recv(s, buf, &end);
		if (n < 0) {
			rc = -1;
			break;
		}
		rc = kernel_answer(s, req, dump, done, buf, n);
	} while (rc == 2);
	free(buf);
	return rc;
}

/* To the kernel, or refused when there is none. */
static void pass(struct nlp_sock *s, const struct nlmsghdr *req)
{
	if (s->kernel < 0)
		emit_error(s, req, EOPNOTSUPP);
	else if (forward(s, req, NULL) < 0)
		emit_error(s, req, EIO);
}

static void serve_dump(struct nlp_sock *s, const struct nlmsghdr *req)
{
	struct nlp_msg done, m;
	struct nlp_dev *devs;
	int32_t zero = 0;
	int i, n;

	if (s->kernel >= 0) {
		i = forward(s, req, &done);
		if (i < 0)
			emit_error(s, req, EIO);
		if (i != 1)
			return; /* the kernel's error, already passed on */
	} else {
		nlp_msg_start(&done, NLMSG_DONE, NLM_F_MULTI, req->nlmsg_seq,
			      s->portid);
		memcpy(done.u.b + done.u.hdr.nlmsg_len, &zero, sizeof(zero));
		done.u.hdr.nlmsg_len += sizeof(zero);
	}
	n = nlp_devs_scan(&devs);
	for (i = 0; i < n; i++) {
		nlp_msg_dev(&m, &devs[i], NLM_F_MULTI, req->nlmsg_seq,
			    s->portid);
		emit_msg(s, &m);
	}
	free(devs);
	emit_msg(s, &done);
}

static void serve_chardev(struct nlp_sock *s, const struct nlmsghdr *req,
			  const struct nlp_dev *d)
{
	const char *type;
	struct nlp_msg m;
	size_t len = 0;

	type = nlp_req_attr(req, RDMA_NLDEV_ATTR_CHARDEV_TYPE, &len);
	if (!type || len != sizeof("uverbs") || memcmp(type, "uverbs", len)) {
		emit_error(s, req, EOPNOTSUPP);
		return;
	}
	nlp_msg_start(&m, req->nlmsg_type, 0, req->nlmsg_seq, s->portid);
	nlp_put_u64(&m, RDMA_NLDEV_ATTR_CHARDEV, d->cdev);
	nlp_put_u64(&m, RDMA_NLDEV_ATTR_CHARDEV_ABI, d->abi);
	nlp_put_str(&m, RDMA_NLDEV_ATTR_CHARDEV_NAME, d->uverbs);
	/* no RDMA_NLDEV_ATTR_UVERBS_DRIVER_ID: tcp_match_device decides */
	emit_msg(s, &m);
	own_done(s, req);
}

static void serve_sys(struct nlp_sock *s, const struct nlmsghdr *req)
{
	uint8_t shared = 1, cof = 1;
	struct nlp_msg m;

	if (s->kernel >= 0) {
		pass(s, req); /* the kernel knows its copy-on-fork */
		return;
	}
	nlp_msg_start(&m, req->nlmsg_type, 0, req->nlmsg_seq, s->portid);
	nlp_put(&m, RDMA_NLDEV_SYS_ATTR_NETNS_MODE, &shared, 1);
	nlp_put(&m, RDMA_NLDEV_SYS_ATTR_COPY_ON_FORK, &cof, 1);
	emit_msg(s, &m);
	own_done(s, req);
}

/* The port's counters; QP counters (STAT_RES, dumps) are not kept. */
static void serve_stat(struct nlp_sock *s, const struct nlmsghdr *req,
		       const struct nlp_dev *d)
{
	struct nlp_msg m;
	size_t len = 0;
	const void *a = nlp_req_attr(req, RDMA_NLDEV_ATTR_PORT_INDEX, &len);
	uint32_t port = 0;

	if (a && len == sizeof(port))
		memcpy(&port, a, len);
	if ((req->nlmsg_flags & NLM_F_DUMP) ||
	    nlp_req_attr(req, RDMA_NLDEV_ATTR_STAT_RES, &len)) {
		emit_error(s, req, EOPNOTSUPP);
		return;
	}
	if (!nlp_msg_stat(&m, d, port, req->nlmsg_seq, s->portid)) {
		emit_error(s, req, EINVAL);
		return;
	}
	emit_msg(s, &m);
	own_done(s, req);
}

/* The registry device of index @idx, into @out. */
static bool own_dev(uint32_t idx, struct nlp_dev *out)
{
	struct nlp_dev *devs;
	bool found = false;
	int i, n;

	if ((idx & ~NLP_INDEX_MASK) != NLP_INDEX_BASE)
		return false;
	n = nlp_devs_scan(&devs);
	for (i = 0; i < n && !found; i++) {
		if (devs[i].index == idx) {
			*out = devs[i];
			found = true;
		}
	}
	free(devs);
	return found;
}

static void serve_one(struct nlp_sock *s, const struct nlmsghdr *req)
{
	uint16_t op = RDMA_NL_GET_OP(req->nlmsg_type);
	const void *a;
	struct nlp_dev d;
	struct nlp_msg m;
	size_t len = 0;
	uint32_t idx;
	bool ours;

	if (RDMA_NL_GET_CLIENT(req->nlmsg_type) != RDMA_NL_NLDEV) {
		pass(s, req);
		return;
	}
	a = nlp_req_attr(req, RDMA_NLDEV_ATTR_DEV_INDEX, &len);
	ours = a && len == sizeof(idx) && (memcpy(&idx, a, len), true) &&
	       own_dev(idx, &d);
	if (op == RDMA_NLDEV_CMD_GET && (req->nlmsg_flags & NLM_F_DUMP)) {
		serve_dump(s, req);
	} else if (op == RDMA_NLDEV_CMD_SYS_GET) {
		serve_sys(s, req);
	} else if (!ours) {
		pass(s, req);
	} else if (op == RDMA_NLDEV_CMD_GET_CHARDEV) {
		serve_chardev(s, req, &d);
	} else if (op == RDMA_NLDEV_CMD_GET) {
		nlp_msg_dev(&m, &d, 0, req->nlmsg_seq, s->portid);
		emit_msg(s, &m);
		own_done(s, req);
	} else if (op == RDMA_NLDEV_CMD_STAT_GET) {
		serve_stat(s, req, &d);
	} else {
		emit_error(s, req, EOPNOTSUPP);
	}
}

void nlp_serve(struct nlp_sock *s, const char *buf, size_t len)
{
	const struct nlmsghdr *h = (const void *)buf;
	int left = (int)len;

	for (; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left))
		serve_one(s, h);
}
