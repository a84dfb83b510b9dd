/* SPDX-License-Identifier: MIT */
/*
 * Connection rendezvous: the listeners that give QPs their numbers and
 * accept their connections (listen.c), the connections waiting for their
 * hello (conn.c), and the port events that keep the listeners on the
 * netdev's addresses (port_events.c). All served by the engine through
 * the watches and hooks declared here.
 */
#ifndef RDMA_TCP_CONN_H
#define RDMA_TCP_CONN_H

#include <rdma_tcp/wire.h>

#include "engine.h"

#define TCP_QPS_PER_LISTENER 256
/* a listener's port is open on at most this many of the netdev's addresses
 * (as many as the GID table holds) */
#define TCP_LISTEN_ADDRS TCP_GID_TBL_LEN
/*
 * Accepted connections whose hello is not complete yet, per listener. A
 * peer sends its hello as soon as its engine sees the connection up, so
 * only idle or hostile connections stay so for long: past the cap the
 * oldest is closed. A peer bringing up all the listener's QPs at once has
 * one such connection per QP (its engine writes the hellos one after the
 * other): with a cap of 64, QPs past the 64th of a burst lost theirs.
 */
#define TCP_PENDING_MAX TCP_QPS_PER_LISTENER
/*
 * Connections whose hello names a QP of the listener that has not reached
 * RTR yet: legitimate while the application brings its QPs up (one per QP,
 * TCP_QPS_PER_LISTENER at most) -- past twice that, the oldest is closed.
 */
#define TCP_PENDING_HELLO_MAX (2 * TCP_QPS_PER_LISTENER)
/* a connection whose hello is not complete this long after accept closes */
#define TCP_HELLO_TIMEOUT_NS 5000000000ull
/* accept() out of fds or memory: the listener rests this long, not spins */
#define TCP_ACCEPT_BACKOFF_NS 100000000ull
/* rests in a row after which a listener still out of fds refuses its
 * backlog (accept into the spare fd, close) rather than leave its peers
 * waiting for ever: about TCP_DEAD_PEER_MAX_NS */
#define TCP_ACCEPT_RESTS 10
/* connections accepted per readiness event, so that QPs get their turn */
#define TCP_ACCEPT_BATCH 32

struct tcp_listener;
/* The listener's port on one of the netdev's addresses (listen.c). */
struct tcp_lsock {
	struct tcp_watch p;
	struct tcp_listener *l;
	int fd;		    /* -1: a free entry */
	bool watched;	    /* in the epoll set (not while accept backs off) */
	unsigned int rests; /* back-offs since accept last succeeded */
	struct tcp_addr addr;
};

struct tcp_listener {
	/* its sockets' watch ops: who accepts (conn.c) */
	const struct tcp_watch_ops *ops;
	/* bound to the wildcard address, never listening: holds the port on
	 * every address for the sockets below (listen.c) */
	int resv_fd;
	uint16_t port;
	/* the port of one UD QP (slot 0), held on TCP so that no RC QP
	 * anywhere gets its number; never listens (ud_port.c) */
	bool ud;
	uint32_t nused;
	/* where the search for a free slot starts: QP numbers are handed out
	 * in turn, as rxe does, so a number just freed is not reused while
	 * connections meant for its old QP may still arrive */
	uint32_t next_slot;
	uint32_t npending; /* its connections on the pending list */
	struct tcp_lsock socks[TCP_LISTEN_ADDRS];
	struct tcp_qp *slots[TCP_QPS_PER_LISTENER];
	/* the slots whose QP the engine's timer and flush passes look at:
	 * it holds timer references or held-back WRs (qp_watch.c) */
	_Atomic uint64_t watch[TCP_QPS_PER_LISTENER / 64];
};

/* An accepted connection whose hello has not been matched to a QP yet. */
struct tcp_pending {
	struct tcp_watch p;
	int fd;
	bool gone; /* unlinked and buried (tcp_engine_bury) */
	uint8_t buf[32];
	uint32_t got;
	bool complete;
	bool told_wait; /* secured: RTCP_SA_WAIT sent (its QP not at RTR) */
	struct tcp_listener *l; /* accepted by (counts in its npending) */
	uint64_t accepted_ns;
	/* secured devices: the key exchange, and the offer it brought
	 * (sec_conn.c); buf then holds the offer's hello */
	struct tcp_hs *hs;
	struct rtcp_sa_msg offer;
	struct tcp_sec_cfg *cfg; /* taken at its first byte (sec_cfg.h) */
	struct tcp_pending *next;
};

/*
 * A context's rendezvous (ctx->rv), from the engine's start to its stop
 * (tcp_conn_hooks): its listeners and pending connections, under
 * ctx->lock, and the port events that keep the listeners on the netdev's
 * addresses.
 */
struct tcp_rendezvous {
	struct tcp_listener **lis;
	int nlis;
	struct tcp_pending *pending; /* newest first */
	uint64_t accept_resume_at;   /* listeners resting after EMFILE & co */
	int spare_fd; /* given up to accept a connection only to refuse it */
	/* port events (port_events.c; tcp_port_hooks runs after
	 * tcp_conn_hooks, which allocates this) */
	struct tcp_watch nl;
	int nlfd;
	int ifindex;
	int port_up;
};

/* The engine hooks of the rendezvous (conn.c) and of port events. */
extern const struct tcp_engine_hooks tcp_conn_hooks;
extern const struct tcp_engine_hooks tcp_port_hooks;

/* conn.c */
void tcp_conn_match_pending(struct tcp_context *ctx); /* ctx->lock held */
void tcp_conn_drop_pending(struct tcp_context *ctx, uint32_t qpn);
/* A QP of the context not destroyed yet, or NULL (ctx->lock held). */
struct tcp_qp *tcp_conn_live_qp(struct tcp_context *ctx);
/* listen.c: a listener's sockets (caller holds ctx->lock) */
/* holds a free port on TCP, every address (l->resv_fd, l->port) */
int tcp_listen_reserve(struct tcp_listener *l);
int tcp_listen_open(struct tcp_context *ctx, struct tcp_listener *l,
		    const struct tcp_watch_ops *ops);
void tcp_listen_close(struct tcp_context *ctx, struct tcp_listener *l);
/* the netdev's addresses changed: open and close sockets to match */
void tcp_listen_sync(struct tcp_context *ctx);
/* accept() failed for want of fds or memory: rest the socket */
void tcp_listen_rest(struct tcp_context *ctx, struct tcp_lsock *s);
void tcp_listen_resume(struct tcp_context *ctx); /* all resting sockets */

#endif
