/* SPDX-License-Identifier: MIT */
/*
 * Per-QP counters published for `rdma-tcp stat` (<rdma_tcp/stat.h>,
 * docs/design.md "Statistics"). The fast path adds with relaxed atomics
 * and takes no lock; a QP without a slot has ctr == NULL and counts
 * nothing.
 */
#ifndef TCP_STAT_H
#define TCP_STAT_H

#include <stdint.h>

#include <rdma_tcp/stat.h>

struct tcp_context;
struct tcp_qp;

/* maps the context's file; failure only leaves the context unpublished */
void tcp_stat_open(struct tcp_context *ctx);
void tcp_stat_close(struct tcp_context *ctx);
/* claims / frees the QP's slot (after its number is known) */
void tcp_stat_qp_add(struct tcp_qp *qp);
void tcp_stat_qp_del(struct tcp_qp *qp);
/* records the QP's connected socket's addresses */
void tcp_stat_qp_conn(struct tcp_qp *qp, int fd);

static inline void tcp_stat_add(uint64_t *ctr, enum rtcp_stat_ctr i, uint64_t v)
{
	if (ctr)
		__atomic_fetch_add(&ctr[i], v, __ATOMIC_RELAXED);
}

#endif
