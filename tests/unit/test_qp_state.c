// SPDX-License-Identifier: MIT
/*
 * Unit tests of the QP state machine table (providers/tcp/qp_state.c):
 * which transitions exist and which attribute masks each accepts, for RC,
 * UC and UD, as the IB spec's modify-QP tables say.
 */
#include <stdio.h>

#include "qp_state.h"

#include "check.h"

#define S(x) IBV_QP_##x
#define RC   IBV_QPT_RC
#define UC   IBV_QPT_UC
#define UD   IBV_QPT_UD

static const int to_init = S(STATE) | S(PKEY_INDEX) | S(PORT) | S(ACCESS_FLAGS);
static const int to_rtr_uc =
	S(STATE) | S(AV) | S(PATH_MTU) | S(DEST_QPN) | S(RQ_PSN);
static const int to_rtr_rc = S(STATE) | S(AV) | S(PATH_MTU) | S(DEST_QPN) |
			     S(RQ_PSN) | S(MAX_DEST_RD_ATOMIC) |
			     S(MIN_RNR_TIMER);
static const int to_rts_uc = S(STATE) | S(SQ_PSN);
static const int to_init_ud = S(STATE) | S(PKEY_INDEX) | S(PORT) | S(QKEY);
static const int to_rts_rc = S(STATE) | S(SQ_PSN) | S(TIMEOUT) | S(RETRY_CNT) |
			     S(RNR_RETRY) | S(MAX_QP_RD_ATOMIC);

int main(void)
{
	enum ibv_qp_state s;

	/* the regular path, RC and UC */
	CHECK(tcp_qp_mask_ok(RC, IBV_QPS_RESET, IBV_QPS_INIT, to_init));
	CHECK(tcp_qp_mask_ok(RC, IBV_QPS_INIT, IBV_QPS_RTR, to_rtr_rc));
	CHECK(tcp_qp_mask_ok(RC, IBV_QPS_RTR, IBV_QPS_RTS, to_rts_rc));
	CHECK(tcp_qp_mask_ok(UC, IBV_QPS_RESET, IBV_QPS_INIT, to_init));
	CHECK(tcp_qp_mask_ok(UC, IBV_QPS_INIT, IBV_QPS_RTR, to_rtr_uc));
	CHECK(tcp_qp_mask_ok(UC, IBV_QPS_RTR, IBV_QPS_RTS, to_rts_uc));

	/* UD: the Q_Key instead of access flags, nothing of a connection
	 * (the kernel's qp_state_table, UD column) */
	CHECK(tcp_qp_mask_ok(UD, IBV_QPS_RESET, IBV_QPS_INIT, to_init_ud));
	CHECK(tcp_qp_mask_ok(UD, IBV_QPS_INIT, IBV_QPS_RTR, S(STATE)));
	CHECK(tcp_qp_mask_ok(UD, IBV_QPS_INIT, IBV_QPS_RTR,
			     S(STATE) | S(QKEY)));
	CHECK(tcp_qp_mask_ok(UD, IBV_QPS_RTR, IBV_QPS_RTS, to_rts_uc));
	CHECK(tcp_qp_mask_ok(UD, IBV_QPS_RTS, IBV_QPS_RTS, S(STATE) | S(QKEY)));
	CHECK(tcp_qp_mask_ok(UD, IBV_QPS_RTS, IBV_QPS_SQD, S(STATE)));
	CHECK(tcp_qp_mask_ok(UD, IBV_QPS_SQD, IBV_QPS_RTS, S(STATE) | S(QKEY)));
	CHECK(!tcp_qp_mask_ok(UD, IBV_QPS_RESET, IBV_QPS_INIT,
			      to_init_ud & ~S(QKEY)));
	CHECK(!tcp_qp_mask_ok(UD, IBV_QPS_RESET, IBV_QPS_INIT, to_init));
	CHECK(!tcp_qp_mask_ok(UD, IBV_QPS_INIT, IBV_QPS_RTR, to_rtr_uc));
	CHECK(!tcp_qp_mask_ok(UD, IBV_QPS_RTR, IBV_QPS_RTS, S(STATE)));
	CHECK(!tcp_qp_mask_ok(UD, IBV_QPS_RTR, IBV_QPS_RTS,
			      to_rts_uc | S(TIMEOUT)));
	CHECK(tcp_qp_mask_ok(UD, IBV_QPS_RTS, IBV_QPS_ERR, S(STATE)));
	CHECK(tcp_qp_mask_ok(UD, IBV_QPS_ERR, IBV_QPS_RESET, S(STATE)));

	/* required attributes missing */
	CHECK(!tcp_qp_mask_ok(RC, IBV_QPS_RESET, IBV_QPS_INIT,
			      to_init & ~S(PORT)));
	CHECK(!tcp_qp_mask_ok(RC, IBV_QPS_INIT, IBV_QPS_RTR,
			      to_rtr_rc & ~S(MIN_RNR_TIMER)));
	CHECK(!tcp_qp_mask_ok(RC, IBV_QPS_INIT, IBV_QPS_RTR,
			      to_rtr_rc & ~S(AV)));
	CHECK(!tcp_qp_mask_ok(RC, IBV_QPS_RTR, IBV_QPS_RTS,
			      to_rts_rc & ~S(TIMEOUT)));

	/* attributes not allowed in a transition */
	CHECK(!tcp_qp_mask_ok(RC, IBV_QPS_RESET, IBV_QPS_INIT,
			      to_init | S(DEST_QPN)));
	CHECK(!tcp_qp_mask_ok(UC, IBV_QPS_INIT, IBV_QPS_RTR,
			      to_rtr_uc | S(MAX_DEST_RD_ATOMIC)));
	CHECK(!tcp_qp_mask_ok(UC, IBV_QPS_RTR, IBV_QPS_RTS,
			      to_rts_uc | S(TIMEOUT)));

	/* transitions that do not exist */
	CHECK(!tcp_qp_mask_ok(RC, IBV_QPS_RESET, IBV_QPS_RTR, to_rtr_rc));
	CHECK(!tcp_qp_mask_ok(RC, IBV_QPS_INIT, IBV_QPS_RTS, to_rts_rc));
	CHECK(!tcp_qp_mask_ok(RC, IBV_QPS_RESET, IBV_QPS_RTS, to_rts_rc));
	CHECK(!tcp_qp_mask_ok(RC, IBV_QPS_ERR, IBV_QPS_RTS, S(STATE)));
	CHECK(!tcp_qp_mask_ok(RC, IBV_QPS_RTR, IBV_QPS_SQD, S(STATE)));
	CHECK(!tcp_qp_mask_ok(RC, IBV_QPS_UNKNOWN, IBV_QPS_INIT, to_init));

	/* RTS->RTS with only timer/retry attributes is legal (docs/design.md) */
	CHECK(tcp_qp_mask_ok(RC, IBV_QPS_RTS, IBV_QPS_RTS,
			     S(STATE) | S(MIN_RNR_TIMER)));
	CHECK(tcp_qp_mask_ok(RC, IBV_QPS_RTS, IBV_QPS_RTS,
			     S(STATE) | S(TIMEOUT) | S(RETRY_CNT)));
	CHECK(!tcp_qp_mask_ok(UC, IBV_QPS_RTS, IBV_QPS_RTS,
			      S(STATE) | S(TIMEOUT)));

	/* SQD and SQE */
	CHECK(tcp_qp_mask_ok(RC, IBV_QPS_RTS, IBV_QPS_SQD, S(STATE)));
	CHECK(tcp_qp_mask_ok(RC, IBV_QPS_SQD, IBV_QPS_RTS, S(STATE)));
	CHECK(tcp_qp_mask_ok(RC, IBV_QPS_SQE, IBV_QPS_RTS, S(STATE)));
	CHECK(!tcp_qp_mask_ok(RC, IBV_QPS_SQE, IBV_QPS_SQD, S(STATE)));

	/* any state may go to RESET or ERR, with nothing but the state */
	for (s = IBV_QPS_RESET; s <= IBV_QPS_ERR; s++) {
		CHECK(tcp_qp_mask_ok(RC, s, IBV_QPS_RESET, S(STATE)));
		CHECK(tcp_qp_mask_ok(RC, s, IBV_QPS_ERR, S(STATE)));
		CHECK(!tcp_qp_mask_ok(RC, s, IBV_QPS_ERR,
				      S(STATE) | S(DEST_QPN)));
	}

	return check_report();
}
