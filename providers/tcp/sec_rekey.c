// SPDX-License-Identifier: MIT
/*
 * Device key rotation (docs/design.md, "Security model"). `rdma-tcp link
 * rotate` counts up the device's rotation file; the engine of every
 * context of the device notices within TCP_SEC_ROTATION_POLL_NS, writes a
 * fresh device key into the slot not in use (psp.h) and rekeys each live
 * connection: a new receive SA from the new key, announced to the peer in
 * a REKEY frame (always encrypted). The previous receive SA stays valid
 * until the next rotation, as in PSP, so frames the peer sealed before it
 * saw the REKEY still verify: no message is lost.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "engine.h"
#include "qp_watch.h"
#include "sec_conn.h"
#include "transport.h"

#define TCP_SEC_ROTATION_POLL_NS 1000000000ull

/* Our new receive SA, and the REKEY that tells the peer. */
static void qp_rekey_tx(struct tcp_qp *qp, uint64_t now)
{
	struct tcp_context *ctx = qp->ctx;
	/* the connection's algorithm, which `link set` may since have changed
	 * for later connections */
	struct rtcp_rekey rk = { .alg = qp->sec.rx[0].alg };
	struct tcp_resp *r;
	uint8_t key[TCP_PSP_KEY_MAX];

	(void)now;
	tcp_assert_held(&qp->lock);
	if (!qp->conn.connected || qp->sec.mode == TCP_PSP_OFF ||
	    qp->resp.term_at_ns)
		return;
	r = calloc(1, sizeof(*r) + RTCP_REKEY_LEN);
	if (!r)
		return;
	tcp_mutex_lock(&ctx->psp_lock);
	if (tcp_psp_dev_new_rx(&ctx->psp_dev, rk.alg, &rk.spi, key)) {
		tcp_mutex_unlock(&ctx->psp_lock);
		free(r);
		return;
	}
	qp->sec.rx_gen = ctx->psp_dev.gen;
	tcp_mutex_unlock(&ctx->psp_lock);
	tcp_psp_sa_clear(&qp->sec.rx[1]);
	qp->sec.rx[1] = qp->sec.rx[0];
	memset(&qp->sec.rx[0], 0, sizeof(qp->sec.rx[0]));
	if (tcp_psp_sa_init(&qp->sec.rx[0], qp->sec.mode, rk.alg, rk.spi,
			    key)) {
		OPENSSL_cleanse(key, sizeof(key));
		free(r);
		tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
		return;
	}
	memcpy(rk.key, key, sizeof(rk.key));
	r->hdr.opcode = RTCP_OP_REKEY;
	r->hdr.len = r->len = RTCP_REKEY_LEN;
	r->payload = (char *)(r + 1);
	rtcp_rekey_encode(&rk, (uint8_t *)r->payload);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(&rk, sizeof(rk));
	tcp_qp_queue_resp(qp, r);
	tcp_qp_tx(qp);
}

/*
 * The peer's new receive SA: frames sealed from the next frame on use it
 * (the transmit path moves tx_next to tx between frames).
 */
void tcp_qp_rekey_rx(struct tcp_qp *qp, const uint8_t *payload)
{
	struct rtcp_rekey rk;

	tcp_assert_held(&qp->lock);
	rtcp_rekey_decode(payload, &rk);
	if (qp->sec.mode == TCP_PSP_OFF || rk.alg != qp->sec.tx.alg ||
	    !rk.spi ||
	    tcp_psp_sa_init(&qp->sec.tx_next, qp->sec.mode, rk.alg, rk.spi,
			    rk.key))
		tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
	OPENSSL_cleanse(&rk, sizeof(rk));
}

/*
 * The engine's look at the configuration (`link set`, sec_cfg.c) and at
 * the rotation count; the next look's time. Device keys rotate in every
 * mode: a context that is off now may be secured later.
 */
static uint64_t sec_deadlines(struct tcp_context *ctx, uint64_t now)
{
	uint32_t rot;
	int err;

	tcp_sec_cfg_poll(ctx);
	if (!tcp_psp_conf_rotation(ctx->dev->ibdev_path, &rot) &&
	    rot != ctx->psp_conf.rotation) {
		ctx->psp_conf.rotation = rot;
		tcp_mutex_lock(&ctx->psp_lock);
		err = tcp_psp_dev_rotate(&ctx->psp_dev);
		tcp_mutex_unlock(&ctx->psp_lock);
		/* every live connection: a receive SA of the new key */
		if (!err)
			tcp_qp_each(ctx, qp_rekey_tx, now);
	}
	return now + TCP_SEC_ROTATION_POLL_NS;
}

/*
 * The first look: the engine runs deadlines only once one is set, and a
 * context that never accepts a connection sets none of its own.
 */
static int sec_start(struct tcp_context *ctx)
{
	tcp_engine_deadline(ctx, tcp_now_ns() + TCP_SEC_ROTATION_POLL_NS);
	return 0;
}

const struct tcp_engine_hooks tcp_sec_hooks = {
	.start = sec_start,
	.deadlines = sec_deadlines,
};
