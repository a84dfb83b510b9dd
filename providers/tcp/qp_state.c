// SPDX-License-Identifier: MIT
/*
 * The QP state machine: which transitions exist and which attributes each
 * one requires or allows, per the IB spec's modify-QP tables (as the kernel's
 * ib_modify_qp_is_ok() encodes them), for RC and UC, and for UD its own
 * (Q_Key instead of the connection's attributes).
 */
#include "qp_state.h"

#define M(x) IBV_QP_##x

struct trans {
	int req, opt; /* RC masks; UC drops the RC-only bits below */
};

#define RC_ONLY                                                  \
	(M(MAX_DEST_RD_ATOMIC) | M(MIN_RNR_TIMER) | M(TIMEOUT) | \
	 M(RETRY_CNT) | M(RNR_RETRY) | M(MAX_QP_RD_ATOMIC))

static const struct trans table[IBV_QPS_ERR + 1][IBV_QPS_ERR + 1] = {
	[IBV_QPS_RESET] = {
		[IBV_QPS_RESET] = { 0, 0 },
		[IBV_QPS_INIT] = { M(PKEY_INDEX) | M(PORT) | M(ACCESS_FLAGS),
				   0 },
	},
	[IBV_QPS_INIT] = {
		[IBV_QPS_INIT] = { 0, M(PKEY_INDEX) | M(PORT) |
				      M(ACCESS_FLAGS) },
		[IBV_QPS_RTR] = { M(AV) | M(PATH_MTU) | M(DEST_QPN) |
				     M(RQ_PSN) | M(MAX_DEST_RD_ATOMIC) |
				     M(MIN_RNR_TIMER),
				  M(ALT_PATH) | M(ACCESS_FLAGS) |
				     M(PKEY_INDEX) },
	},
	[IBV_QPS_RTR] = {
		[IBV_QPS_RTS] = { M(SQ_PSN) | M(TIMEOUT) | M(RETRY_CNT) |
				     M(RNR_RETRY) | M(MAX_QP_RD_ATOMIC),
				  M(CUR_STATE) | M(ALT_PATH) |
				     M(ACCESS_FLAGS) | M(MIN_RNR_TIMER) |
				     M(PATH_MIG_STATE) },
	},
	[IBV_QPS_RTS] = {
		[IBV_QPS_RTS] = { 0, M(CUR_STATE) | M(ACCESS_FLAGS) |
				      M(ALT_PATH) | M(PATH_MIG_STATE) |
				      M(MIN_RNR_TIMER) | M(TIMEOUT) |
				      M(RETRY_CNT) | M(RNR_RETRY) },
		[IBV_QPS_SQD] = { 0, M(EN_SQD_ASYNC_NOTIFY) },
	},
	[IBV_QPS_SQD] = {
		[IBV_QPS_RTS] = { 0, M(CUR_STATE) | M(ACCESS_FLAGS) |
				      M(ALT_PATH) | M(PATH_MIG_STATE) |
				      M(MIN_RNR_TIMER) },
		[IBV_QPS_SQD] = { 0, M(AV) | M(ALT_PATH) | M(ACCESS_FLAGS) |
				      M(PKEY_INDEX) | M(MIN_RNR_TIMER) |
				      M(PATH_MIG_STATE) | M(TIMEOUT) |
				      M(RETRY_CNT) | M(RNR_RETRY) |
				      M(MAX_QP_RD_ATOMIC) |
				      M(MAX_DEST_RD_ATOMIC) },
	},
	[IBV_QPS_SQE] = {
		[IBV_QPS_RTS] = { 0, M(CUR_STATE) | M(ACCESS_FLAGS) },
	},
};

/* UD (and the kernel's UD column of qp_state_table) */
static const struct trans ud_table[IBV_QPS_ERR + 1][IBV_QPS_ERR + 1] = {
	[IBV_QPS_RESET] = {
		[IBV_QPS_INIT] = { M(PKEY_INDEX) | M(PORT) | M(QKEY), 0 },
	},
	[IBV_QPS_INIT] = {
		[IBV_QPS_INIT] = { 0, M(PKEY_INDEX) | M(PORT) | M(QKEY) },
		[IBV_QPS_RTR] = { 0, M(PKEY_INDEX) | M(QKEY) },
	},
	[IBV_QPS_RTR] = {
		[IBV_QPS_RTS] = { M(SQ_PSN), M(CUR_STATE) | M(QKEY) },
	},
	[IBV_QPS_RTS] = {
		[IBV_QPS_RTS] = { 0, M(CUR_STATE) | M(QKEY) },
		[IBV_QPS_SQD] = { 0, M(EN_SQD_ASYNC_NOTIFY) },
	},
	[IBV_QPS_SQD] = {
		[IBV_QPS_RTS] = { 0, M(CUR_STATE) | M(QKEY) },
		[IBV_QPS_SQD] = { 0, M(PKEY_INDEX) | M(QKEY) },
	},
	[IBV_QPS_SQE] = {
		[IBV_QPS_RTS] = { 0, M(CUR_STATE) | M(QKEY) },
	},
};

static bool exists(int cur, int next)
{
	if (next == IBV_QPS_RESET || next == IBV_QPS_ERR)
		return true;
	if (cur == IBV_QPS_ERR)
		return false;
	switch (cur) {
	case IBV_QPS_RESET:
		return next == IBV_QPS_INIT;
	case IBV_QPS_INIT:
		return next == IBV_QPS_INIT || next == IBV_QPS_RTR;
	case IBV_QPS_RTR:
		return next == IBV_QPS_RTS;
	case IBV_QPS_RTS:
		return next == IBV_QPS_RTS || next == IBV_QPS_SQD;
	case IBV_QPS_SQD:
		return next == IBV_QPS_RTS || next == IBV_QPS_SQD;
	case IBV_QPS_SQE:
		return next == IBV_QPS_RTS;
	default:
		return false;
	}
}

bool tcp_qp_mask_ok(enum ibv_qp_type type, enum ibv_qp_state cur,
		    enum ibv_qp_state next, int mask)
{
	int req, opt;

	if (cur > IBV_QPS_ERR || next > IBV_QPS_ERR || !exists(cur, next))
		return false;
	if (next == IBV_QPS_RESET || next == IBV_QPS_ERR)
		return !(mask & ~(M(STATE) | M(CUR_STATE)));
	if (type == IBV_QPT_UD) {
		req = ud_table[cur][next].req | M(STATE);
		opt = ud_table[cur][next].opt;
		return (mask & req) == req && !(mask & ~(req | opt));
	}
	req = table[cur][next].req | M(STATE);
	opt = table[cur][next].opt;
	if (type == IBV_QPT_UC) {
		req &= ~RC_ONLY;
		opt &= ~RC_ONLY;
	}
	if ((mask & req) != req)
		return false;
	return !(mask & ~(req | opt));
}
