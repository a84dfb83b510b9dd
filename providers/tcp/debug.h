/* SPDX-License-Identifier: MIT */
/*
 * The provider's debug log (<rdma_tcp/debug.h>): one stderr line per
 * event, "rdma-tcp[PID/TID] DEV qp N: ...". Off, a log point costs one
 * load and one predictable branch; its arguments are not evaluated.
 */
#ifndef TCP_DEBUG_H
#define TCP_DEBUG_H

#include <rdma_tcp/debug.h>

struct tcp_qp;

extern unsigned int tcp_debug_mask; /* set once, when the library loads */

void tcp_debug_qp(const struct tcp_qp *qp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *tcp_qps_name(int state);
/* "local ADDR peer ADDR" of a connected socket, in a per-thread buffer */
const char *tcp_debug_addrs(int fd);

#define TCP_DBG_ON(cat) __builtin_expect(!!(tcp_debug_mask & (cat)), 0)

/* a line about a QP, in category cat */
#define TCP_DBG_QP(cat, qp, ...)                       \
	do {                                           \
		if (TCP_DBG_ON(cat))                   \
			tcp_debug_qp(qp, __VA_ARGS__); \
	} while (0)

#endif
