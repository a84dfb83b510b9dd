// SPDX-License-Identifier: MIT
/*
 * Security of UD datagrams (ud_sec.h). This first version carries only
 * psp off; auth and encrypt report EOPNOTSUPP until their keys exist.
 */
#include <errno.h>
#include <string.h>

#include "tcp.h"
#include "ud_sec.h"

int tcp_ud_sec_supported(struct tcp_context *ctx)
{
	return ctx->psp_conf.mode == TCP_PSP_OFF ? 0 : -EOPNOTSUPP;
}

int tcp_ud_tx_init(struct tcp_context *ctx, struct tcp_ud_tx_sec *tx)
{
	memset(tx, 0, sizeof(*tx));
	return tcp_ud_sec_supported(ctx);
}

void tcp_ud_tx_fini(struct tcp_ud_tx_sec *tx)
{
	memset(tx, 0, sizeof(*tx));
}

int tcp_ud_rx_init(struct tcp_context *ctx, struct tcp_ud_rx_sec *rx)
{
	memset(rx, 0, sizeof(*rx));
	return tcp_ud_sec_supported(ctx);
}

void tcp_ud_rx_fini(struct tcp_ud_rx_sec *rx)
{
	memset(rx, 0, sizeof(*rx));
}

int tcp_ud_seal(struct tcp_context *ctx, struct tcp_ud_tx_sec *tx,
		struct rtcp_ud_hdr *h, uint8_t hdr_wire[RTCP_UD_HDR_LEN],
		const struct iovec *iov, int niov, uint32_t len, uint8_t *out,
		uint8_t tag[RTCP_UD_TAG_LEN])
{
	(void)tx, (void)iov, (void)niov, (void)len, (void)out, (void)tag;
	if (ctx->psp_conf.mode != TCP_PSP_OFF)
		return -EOPNOTSUPP;
	h->mode = TCP_PSP_OFF;
	h->alg = 0;
	h->sid = 0;
	h->seq = 0;
	rtcp_ud_encode(h, hdr_wire);
	return 0;
}

int tcp_ud_open(struct tcp_context *ctx, struct tcp_ud_rx_sec *rx,
		const struct rtcp_ud_hdr *h,
		const uint8_t hdr_wire[RTCP_UD_HDR_LEN], uint8_t *payload,
		uint32_t len, const uint8_t tag[RTCP_UD_TAG_LEN])
{
	(void)rx, (void)hdr_wire, (void)payload, (void)len, (void)tag;
	if (ctx->psp_conf.mode != TCP_PSP_OFF || h->mode != TCP_PSP_OFF)
		return -EBADMSG;
	return 0;
}
