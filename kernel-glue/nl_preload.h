/* SPDX-License-Identifier: MIT */
/*
 * librdma-tcp-nl.so: the preload `rdma-tcp env` adds so that libibverbs'
 * RDMA netlink sees the registry's devices beside the kernel's (docs/
 * design.md, "Coexistence with kernel RDMA devices"). Internal interfaces
 * between its files; nothing here is exported.
 */
#ifndef RDMA_TCP_NL_PRELOAD_H
#define RDMA_TCP_NL_PRELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <linux/netlink.h>

/*
 * Indexes of registry devices: the kernel hands out ib_device indexes from
 * 0 upwards (cyclic in 31 bits); ours are this base plus the low bits of
 * the device directory's inode, so that a device deleted and added again
 * (perhaps on the same uverbsN) gets another index, as in the kernel.
 */
#define NLP_INDEX_BASE 0x40000000u
#define NLP_INDEX_MASK 0x3fffffffu

/* One registry device as the kernel's nldev would report it. */
struct nlp_dev {
	char name[64];
	char uverbs[32];
	char fw[64];
	uint32_t index;
	uint32_t ports;
	uint64_t guid; /* host order, as the kernel's NODE_GUID attribute */
	uint8_t node_type;
	uint64_t abi;
	uint64_t cdev; /* huge_encode_dev() of the char device */
};

/*
 * The registry devices of this network namespace, in libibverbs' sysfs
 * scan order, from $SYSFS_PATH (none when it is unset or the real /sys).
 * Returns the count (0 on any error); *devs is malloc()ed.
 */
int nlp_devs_scan(struct nlp_dev **devs);
/* $SYSFS_PATH resolved (malloc()ed), NULL when unset or the real /sys */
char *nlp_registry_sysfs(void);

/* A netlink message under construction (one nlmsghdr and attributes). */
struct nlp_msg {
	union {
		struct nlmsghdr hdr;
		char b[2048];
	} u;
};

void nlp_msg_start(struct nlp_msg *m, uint16_t type, uint16_t flags,
		   uint32_t seq, uint32_t portid);
void nlp_put(struct nlp_msg *m, uint16_t type, const void *data, size_t len);
void nlp_put_u32(struct nlp_msg *m, uint16_t type, uint32_t v);
void nlp_put_u64(struct nlp_msg *m, uint16_t type, uint64_t v);
void nlp_put_str(struct nlp_msg *m, uint16_t type, const char *s);
/* an NLMSG_ERROR (err 0: an ack) for request @req */
void nlp_msg_error(struct nlp_msg *m, const struct nlmsghdr *req,
		   uint32_t portid, int err);
/* a nested attribute: start returns where it begins, end closes it */
size_t nlp_nest_start(struct nlp_msg *m, uint16_t type);
void nlp_nest_end(struct nlp_msg *m, size_t at);
/*
 * The answer to RDMA_NLDEV_CMD_STAT_GET for a port of a registry device:
 * the counters of its ports/1/hw_counters/ (nl_stat.c). false when the
 * port has none.
 */
bool nlp_msg_stat(struct nlp_msg *m, const struct nlp_dev *d, uint32_t port,
		  uint32_t seq, uint32_t portid);
/* the device message of a GET dump or a GET */
void nlp_msg_dev(struct nlp_msg *m, const struct nlp_dev *d, uint16_t flags,
		 uint32_t seq, uint32_t portid);
/*
 * The attribute @type of request @req: its payload and length, or NULL.
 * Malformed attribute lists end the search.
 */
const void *nlp_req_attr(const struct nlmsghdr *req, uint16_t type,
			 size_t *len);

/* One proxied NETLINK_RDMA socket (nl_proxy.c). */
struct nlp_sock {
	int fd;	    /* the application's end of the pair */
	int peer;   /* our end: answers are written here */
	int kernel; /* the kernel's NETLINK_RDMA socket, -1 without one */
	bool bound;
	uint32_t portid;
	/* the inodes of the three, to tell them from reused numbers */
	ino_t fd_ino, peer_ino, kernel_ino;
};

/* Answer the request(s) in @buf (@len bytes) sent on @s. */
void nlp_serve(struct nlp_sock *s, const char *buf, size_t len);
/* Queue message @m for the application. */
void nlp_emit(struct nlp_sock *s, const void *msg, size_t len);

/* The next library's definitions (libc's, or a shim's under ours). */
struct nlp_real {
	int (*socket)(int, int, int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int,
			  const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *,
			    socklen_t *);
	int (*close)(int);
};
extern struct nlp_real nlp_real;

#endif
