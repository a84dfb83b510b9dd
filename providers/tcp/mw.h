/* SPDX-License-Identifier: MIT */
/*
 * Memory windows, as rxe has them: type 1 (bound by ibv_bind_mw) and type
 * 2B (bound by an IBV_WR_BIND_MW work request, invalidated by
 * IBV_WR_LOCAL_INV or a peer's SEND_WITH_INV). A window's key lives in the
 * region key table (keytab.h, kind KEYTAB_MW); a remote access through it
 * is checked against the window (range, rights, PD, and for type 2 the QP
 * it was bound through), then placed in the region it is bound to.
 *
 * A window's binding (mr, qp, addr, length, access) changes only under the
 * key table's lock, where remote accesses look it up.
 */
#ifndef RDMA_TCP_MW_H
#define RDMA_TCP_MW_H

#include "tcp.h"

struct tcp_qp;
struct tcp_send_wqe;

struct tcp_mw {
	struct ibv_mw ibmw;
	struct tcp_pd *pd;
	uint32_t key; /* the current rkey (ibmw.rkey runs ahead: tcp_bind_mw) */
	struct tcp_mr *mr; /* bound to; NULL: unbound (type 2: free) */
	struct tcp_qp *qp; /* type 2: bound through this QP (identity only) */
	uint32_t qpn;	   /* ...whose number this was */
	uint64_t addr, length;
	int access;
};

struct ibv_mw *tcp_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type);
int tcp_dealloc_mw(struct ibv_mw *mw);
int tcp_bind_mw(struct ibv_qp *qp, struct ibv_mw *mw, struct ibv_mw_bind *bind);

/*
 * The send queue's local operations (bind, local invalidate), done when
 * the queue reaches them (qp_tx.c, or UC's drain): true if w is one, now
 * WQE_DONE with its status.
 */
bool tcp_mw_sq_op(struct tcp_qp *qp, struct tcp_send_wqe *w);
enum ibv_wc_status tcp_mw_bind_wqe(struct tcp_qp *qp,
				   const struct tcp_send_wqe *w);
enum ibv_wc_status tcp_mw_local_inv(struct tcp_qp *qp, uint32_t rkey);
/* A peer's SEND_WITH_INV: false if rkey names no window it may invalidate */
bool tcp_mw_remote_inv(struct tcp_qp *qp, uint32_t rkey);

/*
 * Caller holds ctx->keys.lock. The region behind window rkey for a remote
 * access of len bytes at *va with right access (*va becomes the region's
 * address), or NULL if the window refuses it.
 */
struct tcp_mr *tcp_mw_target_locked(struct tcp_qp *qp, uint32_t rkey,
				    uint64_t *va, uint64_t len, int access);
/* Caller holds ctx->keys.lock. The region window rkey is bound to, or NULL */
struct tcp_mr *tcp_mw_mr_locked(struct tcp_context *ctx, uint32_t rkey);

#endif
