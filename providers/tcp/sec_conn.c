// SPDX-License-Identifier: MIT
/*
 * A connection's security associations (docs/design.md, "Security
 * model"): the device keys and TLS credentials of a context, the key
 * exchange that brings a QP connection up -- TLS 1.3 (hs.c) carrying the
 * SA offer and answer (wire.h) -- and the rekey after a device key
 * rotation. Frames are sealed and opened by the transport (psp.h).
 *
 * Each side picks its own receive SA (SPI and key derived from its device
 * key, as a PSP receiver does) and hands it to the peer inside TLS: the
 * connecting side in its offer, the accepting side in its answer, once
 * the offer named a QP that takes the connection.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <openssl/crypto.h>

#include "conn.h"
#include "sec_conn.h"
#include "transport.h"

int tcp_sec_open(struct tcp_context *ctx)
{
	int err;

	tcp_mutex_init(&ctx->psp_lock, TCP_LOCK_RANK_PSP);
	err = tcp_sec_cfg_open(ctx);
	/* device keys even when off: `link set` may turn security on */
	if (!err)
		err = tcp_psp_dev_init(&ctx->psp_dev);
	if (err)
		tcp_sec_close(ctx);
	return err;
}

void tcp_sec_close(struct tcp_context *ctx)
{
	tcp_sec_cfg_close(ctx);
	tcp_psp_dev_wipe(&ctx->psp_dev);
}

/* The configuration of the QP's connection: the current one at its start. */
static struct tcp_sec_cfg *conn_cfg(struct tcp_qp *qp)
{
	if (!qp->sec.cfg)
		qp->sec.cfg = tcp_sec_cfg_get(qp->ctx);
	return qp->sec.cfg;
}

bool tcp_sec_conn_on(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	return conn_cfg(qp)->mode != TCP_PSP_OFF;
}

bool tcp_sec_pending_on(struct tcp_context *ctx, struct tcp_pending *pc)
{
	if (!pc->cfg)
		pc->cfg = tcp_sec_cfg_get(ctx);
	return pc->cfg->mode != TCP_PSP_OFF;
}

/* After tcp_sec_close, when the context goes (its engine has stopped). */
void tcp_sec_destroy(struct tcp_context *ctx)
{
	tcp_sec_close(ctx);
	tcp_mutex_destroy(&ctx->psp_lock);
}

/* A fresh receive SA in rx[0] (its key never leaves but in @key). */
static int sa_rx_new(struct tcp_qp *qp, uint8_t key[TCP_PSP_KEY_MAX])
{
	struct tcp_context *ctx = qp->ctx;
	struct tcp_sec_cfg *cfg = conn_cfg(qp);
	uint32_t spi;
	int err;

	tcp_mutex_lock(&ctx->psp_lock);
	err = tcp_psp_dev_new_rx(&ctx->psp_dev, cfg->alg, &spi, key) ? EIO : 0;
	qp->sec.rx_gen = ctx->psp_dev.gen;
	tcp_mutex_unlock(&ctx->psp_lock);
	if (!err)
		err = tcp_psp_sa_init(&qp->sec.rx[0], cfg->mode, cfg->alg, spi,
				      key);
	return err;
}

static int sa_tx_set(struct tcp_qp *qp, uint32_t spi, const uint8_t *key)
{
	struct tcp_sec_cfg *cfg = conn_cfg(qp);

	return tcp_psp_sa_init(&qp->sec.tx, cfg->mode, cfg->alg, spi, key);
}

/* The connection's SAs are set: frames from now on are sealed. */
static void sec_established(struct tcp_qp *qp)
{
	qp->sec.mode = conn_cfg(qp)->mode;
	if (qp->sec.hs) {
		tcp_hs_free(qp->sec.hs);
		qp->sec.hs = NULL;
	}
}

void tcp_sec_conn_end(struct tcp_qp *qp)
{
	if (qp->sec.hs) {
		tcp_hs_free(qp->sec.hs);
		qp->sec.hs = NULL;
	}
	tcp_psp_sa_clear(&qp->sec.tx);
	tcp_psp_sa_clear(&qp->sec.tx_next);
	tcp_psp_sa_clear(&qp->sec.rx[0]);
	tcp_psp_sa_clear(&qp->sec.rx[1]);
	qp->sec.mode = TCP_PSP_OFF;
	qp->sec.hs_phase = 0;
	qp->sec.peer_waits = false;
	tcp_sec_cfg_put(qp->sec.cfg);
	qp->sec.cfg = NULL;
}

int tcp_sec_self(struct tcp_qp *qp)
{
	uint8_t key[TCP_PSP_KEY_MAX];
	int err = sa_rx_new(qp, key);

	if (!err)
		err = sa_tx_set(qp, qp->sec.rx[0].spi, key);
	OPENSSL_cleanse(key, sizeof(key));
	if (!err)
		sec_established(qp);
	return err;
}

/* A message of this side, filled with its receive SA. */
static void sa_msg_init(const struct tcp_sec_cfg *cfg, struct rtcp_sa_msg *m,
			uint8_t kind)
{
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->mode = cfg->mode;
	m->alg = cfg->alg;
}

static enum tcp_sec_rc hs_rc(struct tcp_hs *hs, enum tcp_hs_status st)
{
	switch (st) {
	case TCP_HS_OK:
		return TCP_SEC_DONE;
	case TCP_HS_WANT_READ:
		return TCP_SEC_WAIT_IN;
	case TCP_HS_WANT_WRITE:
		return TCP_SEC_WAIT_OUT;
	default:
		/* other credentials: no retry makes it work */
		return tcp_hs_reason(hs) == TCP_HS_ERR_CRED ? TCP_SEC_FAIL_FATAL
							    : TCP_SEC_FAIL_CONN;
	}
}

/* The connecting side's offer: its hello and its receive SA. */
static enum tcp_hs_status client_offer(struct tcp_qp *qp)
{
	uint8_t out[RTCP_SA_MSG_LEN], key[TCP_PSP_KEY_MAX];
	struct rtcp_sa_msg m;
	struct rtcp_hello h;
	enum tcp_hs_status st;

	rtcp_hello_decode(qp->conn.hello_out, &h);
	if (sa_rx_new(qp, key))
		return TCP_HS_FAIL;
	sa_msg_init(conn_cfg(qp), &m, RTCP_SA_OFFER);
	m.src_qpn = h.src_qpn;
	m.dst_qpn = h.dst_qpn;
	memcpy(m.src_gid, h.src_gid, 16);
	m.spi = qp->sec.rx[0].spi;
	memcpy(m.key, key, sizeof(m.key));
	rtcp_sa_encode(&m, out);
	st = tcp_hs_send(qp->sec.hs, out, sizeof(out));
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(&m, sizeof(m));
	OPENSSL_cleanse(out, sizeof(out));
	return st;
}

/* The accepting side's answer to our offer. */
static enum tcp_sec_rc client_answer(struct tcp_qp *qp)
{
	uint8_t in[RTCP_SA_MSG_LEN];
	enum tcp_hs_status st;
	struct rtcp_sa_msg m;
	enum tcp_sec_rc rc = TCP_SEC_FAIL_FATAL;

	for (;;) {
		st = tcp_hs_recv(qp->sec.hs, in, sizeof(in));
		if (st != TCP_HS_OK)
			return hs_rc(qp->sec.hs, st);
		if (rtcp_sa_decode(in, &m) || m.kind != RTCP_SA_WAIT)
			break;
		/* its QP exists but waits for RTR: our budget runs now */
		qp->sec.peer_waits = true;
	}
	if (rtcp_sa_decode(in, &m)) {
		rc = TCP_SEC_FAIL_FATAL;
	} else if (m.kind == RTCP_SA_REJECT) {
		/* no QP there for us (yet): as a peer that never answers */
		rc = m.reason == RTCP_SA_R_NOQP ? TCP_SEC_FAIL_CONN
						: TCP_SEC_FAIL_FATAL;
	} else if (m.kind == RTCP_SA_ANSWER && m.mode == conn_cfg(qp)->mode &&
		   m.alg == conn_cfg(qp)->alg && m.spi &&
		   m.src_qpn == qp->attr.dest_qp_num &&
		   m.dst_qpn == qp->vqp.qp.qp_num &&
		   !sa_tx_set(qp, m.spi, m.key)) {
		sec_established(qp);
		rc = TCP_SEC_DONE;
	}
	OPENSSL_cleanse(in, sizeof(in));
	OPENSSL_cleanse(&m, sizeof(m));
	return rc;
}

enum tcp_sec_rc tcp_sec_client(struct tcp_qp *qp)
{
	enum tcp_hs_status st = TCP_HS_OK;

	tcp_assert_held(&qp->lock);
	if (!qp->sec.hs) {
		qp->sec.hs = tcp_hs_new(&conn_cfg(qp)->cred, TCP_HS_CLIENT,
					qp->conn.fd);
		qp->sec.hs_phase = 0;
		if (!qp->sec.hs)
			return TCP_SEC_FAIL_CONN;
	}
	switch (qp->sec.hs_phase) {
	case 0: /* the handshake */
		st = tcp_hs_step(qp->sec.hs);
		if (st != TCP_HS_OK)
			break;
		qp->sec.hs_phase = 1;
		st = client_offer(qp);
		if (st == TCP_HS_OK || st == TCP_HS_WANT_WRITE)
			qp->sec.hs_phase = st == TCP_HS_OK ? 2 : 1;
		if (st != TCP_HS_OK)
			break;
		/* fall through */
	case 2: /* the answer */
		qp->sec.hs_phase = 2;
		return client_answer(qp);
	case 1: /* the offer, still going out */
		st = tcp_hs_flush(qp->sec.hs);
		if (st == TCP_HS_OK) {
			qp->sec.hs_phase = 2;
			return client_answer(qp);
		}
		break;
	}
	return hs_rc(qp->sec.hs, st);
}

/*
 * The accepting side: drives the handshake of a pending connection and
 * reads its offer. 1: the offer is in (pc->buf holds its hello for the
 * verdict), 0: wait, -1: close the connection.
 */
int tcp_sec_pending_rx(struct tcp_context *ctx, struct tcp_pending *pc)
{
	uint8_t in[RTCP_SA_MSG_LEN];
	enum tcp_hs_status st;
	struct rtcp_hello h;
	int r = -1;

	if (!tcp_sec_pending_on(ctx, pc))
		return -1;
	if (!pc->hs) {
		pc->hs = tcp_hs_new(&pc->cfg->cred, TCP_HS_SERVER, pc->fd);
		if (!pc->hs)
			return -1;
	}
	st = tcp_hs_step(pc->hs);
	if (st == TCP_HS_OK)
		st = tcp_hs_recv(pc->hs, in, sizeof(in));
	if (st == TCP_HS_WANT_READ || st == TCP_HS_WANT_WRITE) {
		tcp_engine_rewatch(
			ctx, pc->fd, &pc->p,
			EPOLLIN | EPOLLRDHUP |
				(st == TCP_HS_WANT_WRITE ? EPOLLOUT : 0));
		return 0;
	}
	if (st != TCP_HS_OK)
		return -1;
	if (rtcp_sa_decode(in, &pc->offer) || pc->offer.kind != RTCP_SA_OFFER ||
	    !pc->offer.spi) {
		tcp_sec_pending_reject(pc, RTCP_SA_R_PROTO);
	} else if (pc->offer.mode != pc->cfg->mode ||
		   pc->offer.alg != pc->cfg->alg) {
		tcp_sec_pending_reject(pc, RTCP_SA_R_MODE);
	} else {
		memset(&h, 0, sizeof(h));
		h.src_qpn = pc->offer.src_qpn;
		h.dst_qpn = pc->offer.dst_qpn;
		memcpy(h.src_gid, pc->offer.src_gid, 16);
		rtcp_hello_encode(&h, pc->buf);
		r = 1;
	}
	OPENSSL_cleanse(in, sizeof(in));
	return r;
}

/* Tells the connecting side why not, as far as the socket takes it. */
void tcp_sec_pending_reject(struct tcp_pending *pc, uint8_t reason)
{
	tcp_sec_pending_tell(pc, RTCP_SA_REJECT, reason);
}

/* A REJECT or WAIT to the connecting side, as far as the socket takes it. */
void tcp_sec_pending_tell(struct tcp_pending *pc, uint8_t kind, uint8_t reason)
{
	uint8_t out[RTCP_SA_MSG_LEN];
	struct rtcp_sa_msg m = { .kind = kind, .reason = reason };

	if (!pc->hs)
		return;
	rtcp_sa_encode(&m, out);
	(void)tcp_hs_send(pc->hs, out, sizeof(out));
}

/*
 * The offer's QP takes the connection: its SAs, and our answer. 0, or -1
 * when the answer cannot go (the connection is then closed). Caller holds
 * ctx->lock and qp->lock.
 */
int tcp_sec_pending_bind(struct tcp_pending *pc, struct tcp_qp *qp)
{
	uint8_t out[RTCP_SA_MSG_LEN], key[TCP_PSP_KEY_MAX];
	struct rtcp_sa_msg m;
	enum tcp_hs_status st = TCP_HS_FAIL;

	tcp_assert_held(&qp->lock);
	tcp_sec_conn_end(qp);  /* (an SA of an earlier connection) */
	qp->sec.cfg = pc->cfg; /* the connection's from its first byte */
	pc->cfg = NULL;
	if (!sa_rx_new(qp, key) &&
	    !sa_tx_set(qp, pc->offer.spi, pc->offer.key)) {
		sa_msg_init(qp->sec.cfg, &m, RTCP_SA_ANSWER);
		m.src_qpn = qp->vqp.qp.qp_num;
		m.dst_qpn = pc->offer.src_qpn;
		m.spi = qp->sec.rx[0].spi;
		memcpy(m.key, key, sizeof(m.key));
		rtcp_sa_encode(&m, out);
		st = tcp_hs_send(pc->hs, out, sizeof(out));
		/* the socket holds only our handshake flight: room enough */
		if (st == TCP_HS_WANT_WRITE)
			st = tcp_hs_flush(pc->hs);
		OPENSSL_cleanse(&m, sizeof(m));
		OPENSSL_cleanse(out, sizeof(out));
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (st != TCP_HS_OK) {
		tcp_sec_conn_end(qp);
		return -1;
	}
	qp->sec.mode = qp->sec.cfg->mode;
	tcp_sec_pending_free(pc);
	return 0;
}

void tcp_sec_pending_free(struct tcp_pending *pc)
{
	if (pc->hs) {
		tcp_hs_free(pc->hs);
		pc->hs = NULL;
	}
	OPENSSL_cleanse(&pc->offer, sizeof(pc->offer));
	tcp_sec_cfg_put(pc->cfg);
	pc->cfg = NULL;
}
