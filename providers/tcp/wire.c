// SPDX-License-Identifier: MIT
/* The wire codec: header and hello encoding, decoding and validation. */
#include <endian.h>
#include <string.h>

#include <rdma_tcp/wire.h>

static void put16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return be16toh(v);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

void rtcp_hdr_encode(const struct rtcp_hdr *h, uint8_t o[RTCP_HDR_LEN])
{
	o[RTCP_OFF_OPCODE] = h->opcode;
	o[RTCP_OFF_FLAGS] = h->flags;
	put16(o + RTCP_OFF_HLEN, RTCP_HDR_LEN);
	put32(o + RTCP_OFF_SPI, h->spi);
	put32(o + RTCP_OFF_MSN, h->msn);
	put32(o + RTCP_OFF_ACK_MSN, h->ack_msn);
	put32(o + RTCP_OFF_CREDITS, h->credits);
	put32(o + RTCP_OFF_RKEY, h->rkey);
	put64(o + RTCP_OFF_RADDR, h->raddr);
	put64(o + RTCP_OFF_SSEQ, h->sseq);
	put32(o + RTCP_OFF_LEN, h->len);
	memcpy(o + RTCP_OFF_IMM, &h->imm, 4); /* immediate data is opaque */
	put64(o + RTCP_OFF_AUX0, h->aux0);
	put64(o + RTCP_OFF_AUX1, h->aux1);
}

void rtcp_hdr_decode(const uint8_t in[RTCP_HDR_LEN], struct rtcp_hdr *h)
{
	h->opcode = in[RTCP_OFF_OPCODE];
	h->flags = in[RTCP_OFF_FLAGS];
	h->hlen = get16(in + RTCP_OFF_HLEN);
	h->spi = get32(in + RTCP_OFF_SPI);
	h->msn = get32(in + RTCP_OFF_MSN);
	h->ack_msn = get32(in + RTCP_OFF_ACK_MSN);
	h->credits = get32(in + RTCP_OFF_CREDITS);
	h->rkey = get32(in + RTCP_OFF_RKEY);
	h->raddr = get64(in + RTCP_OFF_RADDR);
	h->sseq = get64(in + RTCP_OFF_SSEQ);
	h->len = get32(in + RTCP_OFF_LEN);
	memcpy(&h->imm, in + RTCP_OFF_IMM, 4);
	h->aux0 = get64(in + RTCP_OFF_AUX0);
	h->aux1 = get64(in + RTCP_OFF_AUX1);
}

int rtcp_hdr_validate(const struct rtcp_hdr *h, uint64_t expect_sseq,
		      uint32_t max_msg)
{
	if (h->opcode < RTCP_OP_SEND || h->opcode > RTCP_OP_MAX)
		return RTCP_EBADOP;
	if (h->hlen != RTCP_HDR_LEN)
		return RTCP_EBADHLEN;
	if (h->flags & ~RTCP_F_KNOWN)
		return RTCP_EBADFLAGS;
	if (h->sseq != expect_sseq)
		return RTCP_EBADSEQ;
	switch (h->opcode) {
	case RTCP_OP_SEND:
	case RTCP_OP_SEND_IMM:
	case RTCP_OP_SEND_INV:
	case RTCP_OP_WRITE:
	case RTCP_OP_WRITE_IMM:
	case RTCP_OP_READ_RESP:
		if (h->len > max_msg)
			return RTCP_EBADLEN;
		break;
	case RTCP_OP_READ_REQ:
		if (h->len || h->aux0 > max_msg)
			return RTCP_EBADLEN;
		break;
	case RTCP_OP_REKEY:
		if (h->len != RTCP_REKEY_LEN)
			return RTCP_EBADLEN;
		break;
	default: /* atomics, their responses, acks, terminate: header only */
		if (h->len)
			return RTCP_EBADLEN;
		break;
	}
	return RTCP_OK;
}

void rtcp_hello_encode(const struct rtcp_hello *h, uint8_t o[RTCP_HELLO_LEN])
{
	put32(o + RTCP_HELLO_OFF_MAGIC, RTCP_HELLO_MAGIC);
	put16(o + RTCP_HELLO_OFF_VERSION, RTCP_VERSION);
	put16(o + RTCP_HELLO_OFF_FLAGS, h->flags);
	put32(o + RTCP_HELLO_OFF_SRC_QPN, h->src_qpn);
	put32(o + RTCP_HELLO_OFF_DST_QPN, h->dst_qpn);
	memcpy(o + RTCP_HELLO_OFF_SRC_GID, h->src_gid, 16);
}

int rtcp_hello_decode(const uint8_t in[RTCP_HELLO_LEN], struct rtcp_hello *h)
{
	h->magic = get32(in + RTCP_HELLO_OFF_MAGIC);
	h->version = get16(in + RTCP_HELLO_OFF_VERSION);
	h->flags = get16(in + RTCP_HELLO_OFF_FLAGS);
	h->src_qpn = get32(in + RTCP_HELLO_OFF_SRC_QPN);
	h->dst_qpn = get32(in + RTCP_HELLO_OFF_DST_QPN);
	memcpy(h->src_gid, in + RTCP_HELLO_OFF_SRC_GID, 16);
	if (h->magic != RTCP_HELLO_MAGIC || h->version != RTCP_VERSION)
		return -1;
	return 0;
}

void rtcp_sa_encode(const struct rtcp_sa_msg *m, uint8_t o[RTCP_SA_MSG_LEN])
{
	put32(o + RTCP_SA_OFF_MAGIC, RTCP_SA_MAGIC);
	put16(o + RTCP_SA_OFF_VERSION, RTCP_VERSION);
	o[RTCP_SA_OFF_KIND] = m->kind;
	o[RTCP_SA_OFF_REASON] = m->reason;
	o[RTCP_SA_OFF_MODE] = m->mode;
	o[RTCP_SA_OFF_ALG] = m->alg;
	put16(o + RTCP_SA_OFF_FLAGS, m->flags);
	put32(o + RTCP_SA_OFF_SRC_QPN, m->src_qpn);
	put32(o + RTCP_SA_OFF_DST_QPN, m->dst_qpn);
	put32(o + RTCP_SA_OFF_SPI, m->spi);
	memcpy(o + RTCP_SA_OFF_KEY, m->key, sizeof(m->key));
	memcpy(o + RTCP_SA_OFF_SRC_GID, m->src_gid, 16);
}

int rtcp_sa_decode(const uint8_t in[RTCP_SA_MSG_LEN], struct rtcp_sa_msg *m)
{
	m->magic = get32(in + RTCP_SA_OFF_MAGIC);
	m->version = get16(in + RTCP_SA_OFF_VERSION);
	m->kind = in[RTCP_SA_OFF_KIND];
	m->reason = in[RTCP_SA_OFF_REASON];
	m->mode = in[RTCP_SA_OFF_MODE];
	m->alg = in[RTCP_SA_OFF_ALG];
	m->flags = get16(in + RTCP_SA_OFF_FLAGS);
	m->src_qpn = get32(in + RTCP_SA_OFF_SRC_QPN);
	m->dst_qpn = get32(in + RTCP_SA_OFF_DST_QPN);
	m->spi = get32(in + RTCP_SA_OFF_SPI);
	memcpy(m->key, in + RTCP_SA_OFF_KEY, sizeof(m->key));
	memcpy(m->src_gid, in + RTCP_SA_OFF_SRC_GID, 16);
	if (m->magic != RTCP_SA_MAGIC || m->version != RTCP_VERSION ||
	    m->kind < RTCP_SA_OFFER || m->kind > RTCP_SA_WAIT)
		return -1;
	return 0;
}

void rtcp_rekey_encode(const struct rtcp_rekey *r, uint8_t o[RTCP_REKEY_LEN])
{
	put32(o + RTCP_REKEY_OFF_SPI, r->spi);
	o[RTCP_REKEY_OFF_ALG] = r->alg;
	memset(o + RTCP_REKEY_OFF_PAD, 0, sizeof(r->pad));
	memcpy(o + RTCP_REKEY_OFF_KEY, r->key, sizeof(r->key));
}

void rtcp_rekey_decode(const uint8_t in[RTCP_REKEY_LEN], struct rtcp_rekey *r)
{
	r->spi = get32(in + RTCP_REKEY_OFF_SPI);
	r->alg = in[RTCP_REKEY_OFF_ALG];
	memcpy(r->pad, in + RTCP_REKEY_OFF_PAD, sizeof(r->pad));
	memcpy(r->key, in + RTCP_REKEY_OFF_KEY, sizeof(r->key));
}

void rtcp_ud_encode(const struct rtcp_ud_hdr *h, uint8_t o[RTCP_UD_HDR_LEN])
{
	put32(o + RTCP_UD_OFF_MAGIC, RTCP_UD_MAGIC);
	o[RTCP_UD_OFF_VERSION] = RTCP_VERSION;
	o[RTCP_UD_OFF_OPCODE] = h->opcode;
	o[RTCP_UD_OFF_MODE] = h->mode;
	o[RTCP_UD_OFF_ALG] = h->alg;
	put32(o + RTCP_UD_OFF_DST_QPN, h->dst_qpn);
	put32(o + RTCP_UD_OFF_SRC_QPN, h->src_qpn);
	put32(o + RTCP_UD_OFF_QKEY, h->qkey);
	memcpy(o + RTCP_UD_OFF_IMM, &h->imm, 4); /* opaque */
	put32(o + RTCP_UD_OFF_LEN, h->len);
	put32(o + RTCP_UD_OFF_FLAGS, h->flags);
	put64(o + RTCP_UD_OFF_SID, h->sid);
	put64(o + RTCP_UD_OFF_SEQ, h->seq);
}

/*
 * A datagram is exactly header, payload and (unless mode is off, 0) the
 * tag; anything else is dropped before any key is looked at.
 */
int rtcp_ud_decode(const uint8_t *in, size_t dgram_len, uint32_t mtu,
		   struct rtcp_ud_hdr *h)
{
	size_t want;

	if (dgram_len < RTCP_UD_HDR_LEN)
		return RTCP_EBADLEN;
	h->magic = get32(in + RTCP_UD_OFF_MAGIC);
	h->version = in[RTCP_UD_OFF_VERSION];
	h->opcode = in[RTCP_UD_OFF_OPCODE];
	h->mode = in[RTCP_UD_OFF_MODE];
	h->alg = in[RTCP_UD_OFF_ALG];
	h->dst_qpn = get32(in + RTCP_UD_OFF_DST_QPN);
	h->src_qpn = get32(in + RTCP_UD_OFF_SRC_QPN);
	h->qkey = get32(in + RTCP_UD_OFF_QKEY);
	memcpy(&h->imm, in + RTCP_UD_OFF_IMM, 4);
	h->len = get32(in + RTCP_UD_OFF_LEN);
	h->flags = get32(in + RTCP_UD_OFF_FLAGS);
	h->sid = get64(in + RTCP_UD_OFF_SID);
	h->seq = get64(in + RTCP_UD_OFF_SEQ);
	if (h->magic != RTCP_UD_MAGIC || h->version != RTCP_VERSION)
		return RTCP_EBADHLEN;
	if (h->opcode != RTCP_UD_SEND && h->opcode != RTCP_UD_SEND_IMM)
		return RTCP_EBADOP;
	if (h->flags & ~RTCP_UD_F_SOLICITED)
		return RTCP_EBADFLAGS;
	if (h->len > mtu)
		return RTCP_EBADLEN;
	want = RTCP_UD_HDR_LEN + (size_t)h->len +
	       (h->mode ? RTCP_UD_TAG_LEN : 0);
	return dgram_len == want ? RTCP_OK : RTCP_EBADLEN;
}
