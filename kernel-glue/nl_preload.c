// SPDX-License-Identifier: MIT
/*
 * librdma-tcp-nl.so's socket calls: socket(AF_NETLINK, *, NETLINK_RDMA)
 * returns one end of an AF_UNIX SOCK_SEQPACKET pair instead, with the
 * kernel's NETLINK_RDMA socket (when ib_core is loaded) kept behind it;
 * nl_proxy.c answers what is sent on it. The calls libnl and libmnl make
 * on such a socket are interposed (bind, getsockname, setsockopt,
 * sendmsg, sendto, send, recvmsg, recvfrom, close); every other socket
 * goes straight to the next library after one atomic load, so programs
 * that never open NETLINK_RDMA pay nothing else.
 *
 * A few sockets at once (libibverbs opens one at a time): the table is
 * small and lock-free, a slot is claimed by compare-and-swap.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nl_preload.h"

#define NLP_EXPORT __attribute__((visibility("default")))
#define MAX_SOCKS  16
/* our end's send buffer: a dump of many devices must not block */
#define PEER_SNDBUF (1 << 20)
/* the largest request accepted (libibverbs' are under 100 bytes) */
#define REQ_MAX 65536

struct nlp_real nlp_real;
static pthread_once_t resolved = PTHREAD_ONCE_INIT;

static struct nlp_sock socks[MAX_SOCKS];
/* fd + 1 of each slot (0 free, -1 being filled) */
static int slot_fd[MAX_SOCKS];
static int nsocks;

static void resolve(void)
{
#define NEXT(f) nlp_real.f = (__typeof__(nlp_real.f))dlsym(RTLD_NEXT, #f)
	NEXT(socket);
	NEXT(bind);
	NEXT(getsockname);
	NEXT(setsockopt);
	NEXT(send);
	NEXT(sendto);
	NEXT(sendmsg);
	NEXT(recvmsg);
	NEXT(recvfrom);
	NEXT(close);
#undef NEXT
}

static void init(void)
{
	pthread_once(&resolved, resolve);
}

/* the inode of @fd, 0 if it is not open */
static ino_t ino_of(int fd)
{
	struct stat st;

	return fd < 0 || fstat(fd, &st) ? 0 : st.st_ino;
}

static void publish(struct nlp_sock *s, int fd1);

static struct nlp_sock *lookup(int fd)
{
	int i;

	init();
	if (!__atomic_load_n(&nsocks, __ATOMIC_ACQUIRE) || fd < 0)
		return NULL;
	for (i = 0; i < MAX_SOCKS; i++) {
		if (__atomic_load_n(&slot_fd[i], __ATOMIC_ACQUIRE) != fd + 1)
			continue;
		if (ino_of(fd) == socks[i].fd_ino)
			return &socks[i];
		/*
		 * Closed behind our back (close_range(), dup2() over it) and
		 * the number reused: not ours any more. Its companions'
		 * numbers may be reused too, so they are left alone.
		 */
		publish(&socks[i], 0);
		return NULL;
	}
	return NULL;
}

static struct nlp_sock *claim(void)
{
	int i, zero;

	for (i = 0; i < MAX_SOCKS; i++) {
		zero = 0;
		if (__atomic_compare_exchange_n(&slot_fd[i], &zero, -1, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return &socks[i];
	}
	return NULL;
}

static void publish(struct nlp_sock *s, int fd1)
{
	__atomic_store_n(&slot_fd[s - socks], fd1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&nsocks, fd1 ? 1 : -1, __ATOMIC_ACQ_REL);
}

static int open_proxy(int type)
{
	int sv[2], size = PEER_SNDBUF;
	struct nlp_sock *s = claim();

	if (!s)
		return nlp_real.socket(AF_NETLINK, type, NETLINK_RDMA);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		__atomic_store_n(&slot_fd[s - socks], 0, __ATOMIC_RELEASE);
		return -1;
	}
	if (!(type & SOCK_CLOEXEC))
		fcntl(sv[0], F_SETFD, 0);
	if (type & SOCK_NONBLOCK)
		fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	nlp_real.setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	s->fd = sv[0];
	s->peer = sv[1];
	s->bound = false;
	s->portid = 0;
	/* fails without ib_core: then all answers are ours */
	s->kernel = nlp_real.socket(AF_NETLINK,
				    (type & ~SOCK_NONBLOCK) | SOCK_CLOEXEC,
				    NETLINK_RDMA);
	s->fd_ino = ino_of(sv[0]);
	s->peer_ino = ino_of(sv[1]);
	s->kernel_ino = ino_of(s->kernel);
	publish(s, sv[0] + 1);
	return sv[0];
}

NLP_EXPORT int socket(int domain, int type, int protocol)
{
	init();
	if (domain != AF_NETLINK || protocol != NETLINK_RDMA)
		return nlp_real.socket(domain, type, protocol);
	return open_proxy(type);
}

static int bind_as(struct nlp_sock *s, const struct sockaddr_nl *want)
{
	struct sockaddr_nl got = { 0 };
	socklen_t len = sizeof(got);

	if (s->kernel < 0) {
		s->portid = want->nl_pid ? want->nl_pid : (uint32_t)getpid();
	} else {
		if (nlp_real.bind(s->kernel, (const struct sockaddr *)want,
				  sizeof(*want)))
			return -1;
		if (nlp_real.getsockname(s->kernel, (struct sockaddr *)&got,
					 &len))
			return -1;
		s->portid = got.nl_pid;
	}
	s->bound = true;
	return 0;
}

/* as the kernel autobinds a netlink socket at its first send */
static int ensure_bound(struct nlp_sock *s)
{
	struct sockaddr_nl any = { .nl_family = AF_NETLINK };

	return s->bound ? 0 : bind_as(s, &any);
}

NLP_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct nlp_sock *s = lookup(fd);
	struct sockaddr_nl want;

	if (!s)
		return nlp_real.bind(fd, addr, len);
	if (len < sizeof(want) || addr->sa_family != AF_NETLINK) {
		errno = EINVAL;
		return -1;
	}
	if (s->bound) {
		errno = EINVAL;
		return -1;
	}
	memcpy(&want, addr, sizeof(want));
	return bind_as(s, &want);
}

NLP_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct nlp_sock *s = lookup(fd);
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };

	if (!s)
		return nlp_real.getsockname(fd, addr, len);
	nl.nl_pid = s->portid;
	memcpy(addr, &nl, *len < sizeof(nl) ? *len : sizeof(nl));
	*len = sizeof(nl);
	return 0;
}

NLP_EXPORT int setsockopt(int fd, int level, int name, const void *val,
			  socklen_t len)
{
	struct nlp_sock *s = lookup(fd);

	if (!s)
		return nlp_real.setsockopt(fd, level, name, val, len);
	if (level == SOL_SOCKET)
		return nlp_real.setsockopt(fd, level, name, val, len);
	/* SOL_NETLINK options (extended acks, strict checking) */
	if (s->kernel >= 0)
		return nlp_real.setsockopt(s->kernel, level, name, val, len);
	return 0;
}

NLP_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct nlp_sock *s = lookup(fd);
	size_t len = 0, i;
	char *buf;

	if (!s)
		return nlp_real.sendmsg(fd, msg, flags);
	/* malloc()ed: aligned for the netlink headers */
	buf = malloc(REQ_MAX);
	if (!buf)
		return -1;
	for (i = 0; i < msg->msg_iovlen; i++) {
		if (msg->msg_iov[i].iov_len > REQ_MAX - len) {
			free(buf);
			errno = EMSGSIZE;
			return -1;
		}
		memcpy(buf + len, msg->msg_iov[i].iov_base,
		       msg->msg_iov[i].iov_len);
		len += msg->msg_iov[i].iov_len;
	}
	if (ensure_bound(s)) {
		free(buf);
		return -1;
	}
	nlp_serve(s, buf, len);
	free(buf);
	return (ssize_t)len;
}

NLP_EXPORT ssize_t sendto(int fd, const void *data, size_t len, int flags,
			  const struct sockaddr *to, socklen_t tolen)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (!lookup(fd))
		return nlp_real.sendto(fd, data, len, flags, to, tolen);
	return sendmsg(fd, &msg, flags);
}

NLP_EXPORT ssize_t send(int fd, const void *data, size_t len, int flags)
{
	return sendto(fd, data, len, flags, NULL, 0);
}

/* The answers come from the kernel's address (libnl checks the pid). */
static void kernel_name(void *name, socklen_t *namelen)
{
	struct sockaddr_nl k = { .nl_family = AF_NETLINK };

	if (!name || !namelen)
		return;
	memcpy(name, &k, *namelen < sizeof(k) ? *namelen : sizeof(k));
	*namelen = sizeof(k);
}

NLP_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	void *name = msg->msg_name;
	socklen_t namelen = msg->msg_namelen;
	ssize_t n;

	if (!lookup(fd))
		return nlp_real.recvmsg(fd, msg, flags);
	msg->msg_name = NULL;
	msg->msg_namelen = 0;
	n = nlp_real.recvmsg(fd, msg, flags);
	msg->msg_name = name;
	msg->msg_namelen = 0;
	if (n >= 0 && name) {
		msg->msg_namelen = namelen;
		kernel_name(name, &msg->msg_namelen);
	}
	return n;
}

NLP_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
			    struct sockaddr *from, socklen_t *fromlen)
{
	ssize_t n;

	if (!lookup(fd))
		return nlp_real.recvfrom(fd, buf, len, flags, from, fromlen);
	n = nlp_real.recvfrom(fd, buf, len, flags, NULL, NULL);
	if (n >= 0)
		kernel_name(from, fromlen);
	return n;
}

NLP_EXPORT int close(int fd)
{
	struct nlp_sock *s = lookup(fd);

	if (s) {
		/* unless closed behind our back and reused */
		if (s->kernel >= 0 && ino_of(s->kernel) == s->kernel_ino)
			nlp_real.close(s->kernel);
		if (ino_of(s->peer) == s->peer_ino)
			nlp_real.close(s->peer);
		publish(s, 0);
	}
	return nlp_real.close(fd);
}
