// SPDX-License-Identifier: MIT
/*
 * The peer's new receive SA, from a REKEY frame (docs/design.md,
 * "Security model"). Caller holds qp->lock.
 *
 * A stub until the rekey exchange exists: the payload is verified and
 * decrypted (qp_open.c) and handed here; nothing is done with it yet.
 */
#include "transport.h"

void tcp_qp_rekey_rx(struct tcp_qp *qp, const uint8_t *payload)
{
	(void)qp;
	(void)payload;
}
