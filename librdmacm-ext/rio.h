/* SPDX-License-Identifier: MIT */
/*
 * Framed rsockets: riomap/riowrite for the preload's TCP rsockets
 * (rsock.c). An rsocket whose RDMA_IOMAPSIZE is above 0 when it connects
 * (rconnect) or is accepted (raccept, from the listener's value) becomes
 * framed: its TCP connection carries rio_proto.h's frames, and the
 * application's descriptor becomes one end of a unix socketpair. A
 * receive thread per framed rsocket reads the TCP socket, places WRITE
 * payloads in the riomap'd memory itself (the application may spin on
 * that memory without calling into the library, as riostream does) and
 * passes DATA bytes on to the application's end in order. Sends write
 * whole frames to the TCP socket. Other rsockets stay kernel TCP sockets.
 *
 * Files: rio_sock.c (descriptor table, connect/accept, close, options),
 * rio_poll.c (rpoll, rselect), rio_map.c (riomap/riounmap, the mapping tables), rio_tx.c
 * (frames out: rsend, riowrite), rio_rx.c (the receive thread).
 *
 * Locking, per socket: tx_lock keeps a frame whole (taken by senders
 * only), map_lock guards both mapping tables, the hello state and err.
 * Order: tx_lock before map_lock; the receive thread takes map_lock only,
 * never blocking while it holds it. The descriptor table has its own lock
 * (rio_sock.c), taken before neither.
 */
#ifndef RIO_H
#define RIO_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "rio_proto.h"

/* A mapping of ours the peer may write (PROT_WRITE), or one the peer
 * announced to us (peer table). len 0: slot free. */
struct rio_map {
	uint64_t off;
	uint64_t len;
	uint8_t *addr;	/* ours only */
	bool announced; /* ours: MAP frame sent */
};

/* riomap(PROT_NONE): no effect here, kept so riounmap finds it */
struct rio_local {
	struct rio_local *next;
	void *addr;
	size_t len;
};

struct rio_sock {
	int fd;		/* the application's descriptor */
	int iomap_size; /* RDMA_IOMAPSIZE as set (0..RIO_MAX_MAPS) */
	bool framed;
	/* framed only */
	int tcp;	       /* the connection (private descriptor) */
	int pair;	       /* the receive thread's end of the socketpair */
	_Atomic bool nonblock; /* O_NONBLOCK of the application's descriptor */
	pthread_t thr;
	pthread_mutex_t tx_lock;
	pthread_mutex_t map_lock;
	pthread_cond_t hello_cond; /* map_lock */
	bool hello;		   /* the peer's hello arrived (map_lock) */
	uint32_t peer_iomap;	   /* slots the peer offers us */
	int err;	   /* the connection's error, once broken (map_lock) */
	bool maps_pending; /* a mapping of ours not yet announced */
	_Atomic bool stop; /* closing: the receive thread ends quietly */
	struct rio_map mine[RIO_MAX_MAPS]; /* below peer_iomap */
	struct rio_map peer[RIO_MAX_MAPS]; /* below iomap_size */
	struct rio_local *local;
};

/* rio_sock.c */
struct rio_sock *rio_find(int fd);
/* The framed rsocket @fd, or NULL (errno EBADF if none) */
struct rio_sock *rio_framed(int fd);
/* Sets rs->err (first error wins) and wakes hello waiters. */
void rio_fail(struct rio_sock *rs, int err);
int rio_error(struct rio_sock *rs);
bool rio_any_framed(void);

/* rio_poll.c */
bool rio_poll(struct pollfd *fds, nfds_t n, int timeout, int *ret);
bool rio_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t,
		int *ret);

/* rio_map.c */
off_t rio_iomap(int s, void *buf, size_t len, int prot, int flags, off_t off);
int rio_iounmap(int s, void *buf, size_t len);
/* The peer's mapping holding @off, and how many bytes from @off are in
 * it (0: none). map_lock held. */
uint64_t rio_peer_room(struct rio_sock *rs, uint64_t off);
/* Our memory for [off, off+len), all in one mapping, or NULL.
 * map_lock held. */
uint8_t *rio_mine_at(struct rio_sock *rs, uint64_t off, uint64_t len);
void rio_maps_free(struct rio_sock *rs);

/* rio_tx.c */
int rio_send_hello(struct rio_sock *rs);
ssize_t rio_sendmsg(struct rio_sock *rs, const struct msghdr *m, int flags);
size_t rio_iowrite(int s, const void *buf, size_t n, off_t off, int flags);

/* rio_rx.c */
void *rio_rx_main(void *arg);

/* The entry points rsock.c calls: each returns true if @s is one of
 * ours and it served the call (result in *ret), false for a plain
 * kernel-socket rsocket. */
struct rio_ops {
	void (*socket_made)(int fd);
	bool (*setsockopt)(int s, int level, int name, const void *v,
			   socklen_t l, int *ret);
	bool (*getsockopt)(int s, int level, int name, void *v, socklen_t *l,
			   int *ret);
	bool (*fcntl)(int s, int cmd, long arg, int *ret);
	int (*accepted)(int ls, int fd);
	bool (*connect)(int s, const struct sockaddr *a, socklen_t l, int *ret);
	bool (*shutdown)(int s, int how, int *ret);
	bool (*close)(int s, int *ret);
	bool (*getname)(int s, bool peer, struct sockaddr *a, socklen_t *l,
			int *ret);
	bool (*sendmsg)(int s, const struct msghdr *m, int flags, ssize_t *ret);
	bool (*recvmsg)(int s, struct msghdr *m, int flags, ssize_t *ret);
	bool (*poll)(struct pollfd *fds, nfds_t n, int timeout, int *ret);
	bool (*select)(int n, fd_set *r, fd_set *w, fd_set *e,
		       struct timeval *t, int *ret);
	off_t (*iomap)(int s, void *buf, size_t len, int prot, int flags,
		       off_t off);
	int (*iounmap)(int s, void *buf, size_t len);
	size_t (*iowrite)(int s, const void *buf, size_t n, off_t off,
			  int flags);
};

extern const struct rio_ops rio_ops_impl;

#endif
