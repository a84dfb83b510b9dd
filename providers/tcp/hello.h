/* SPDX-License-Identifier: MIT */
/*
 * The accepting side's decision on a connection's hello (conn.c), kept
 * apart from sockets and locks so that the fuzz target
 * (tests/fuzz/fuzz_hello.c) runs the very code the provider runs on the
 * first 32 bytes a peer sends.
 */
#ifndef RDMA_TCP_HELLO_H
#define RDMA_TCP_HELLO_H

#include <stdbool.h>
#include <stdint.h>

#include <rdma_tcp/wire.h>

enum tcp_hello_verdict {
	TCP_HELLO_REJECT, /* close the connection */
	TCP_HELLO_WAIT, /* its QP is not at RTR (yet, or again): keep it pending */
	TCP_HELLO_BIND, /* the socket becomes the QP's */
};

/* The QP a hello names, as the accepting side sees it. */
struct tcp_hello_qp {
	bool failed;	   /* destroyed */
	bool before_rtr;   /* RESET, INIT, or ERROR (until it is reset) */
	bool busy;	   /* the connecting end, or has its socket already */
	uint32_t dest_qpn; /* the remote QPN it was given at RTR */
	uint8_t dgid[16];  /* the remote GID it was given at RTR */
};

/* What the listener knows, asked for only when the decision needs it. */
struct tcp_hello_env {
	/* The QP behind @qpn: fills *q and returns true, or false when no
	 * QP has that number. Called at most once. */
	bool (*lookup)(void *arg, uint32_t qpn, struct tcp_hello_qp *q);
	/* The connection's peer address as a GID (IPv4-mapped for IPv4),
	 * false when unknown. Called at most once, and only for a hello that
	 * passed every other check. */
	bool (*peer)(void *arg, uint8_t gid[16]);
	void *arg;
};

enum tcp_hello_verdict tcp_hello_judge(const uint8_t in[RTCP_HELLO_LEN],
				       const struct tcp_hello_env *env);

#endif
