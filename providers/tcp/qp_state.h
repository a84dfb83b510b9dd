/* SPDX-License-Identifier: MIT */
/* The QP state machine's transition table (see qp_state.c). */
#ifndef RDMA_TCP_QP_STATE_H
#define RDMA_TCP_QP_STATE_H

#include <stdbool.h>
#include <infiniband/verbs.h>

/* True when cur -> next exists for this QP type and mask fits it. */
bool tcp_qp_mask_ok(enum ibv_qp_type type, enum ibv_qp_state cur,
		    enum ibv_qp_state next, int mask);

#endif
