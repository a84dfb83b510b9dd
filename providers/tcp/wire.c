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
	o[0] = h->opcode;
	o[1] = h->flags;
	put16(o + 2, RTCP_HDR_LEN);
	put32(o + 4, h->spi);
	put32(o + 8, h->msn);
	put32(o + 12, h->ack_msn);
	put32(o + 16, h->credits);
	put32(o + 20, h->rkey);
	put64(o + 24, h->raddr);
	put64(o + 32, h->sseq);
	put32(o + 40, h->len);
	memcpy(o + 44, &h->imm, 4); /* immediate data is opaque bytes */
	put64(o + 48, h->aux0);
	put64(o + 56, h->aux1);
}

void rtcp_hdr_decode(const uint8_t in[RTCP_HDR_LEN], struct rtcp_hdr *h)
{
	h->opcode = in[0];
	h->flags = in[1];
	h->hlen = get16(in + 2);
	h->spi = get32(in + 4);
	h->msn = get32(in + 8);
	h->ack_msn = get32(in + 12);
	h->credits = get32(in + 16);
	h->rkey = get32(in + 20);
	h->raddr = get64(in + 24);
	h->sseq = get64(in + 32);
	h->len = get32(in + 40);
	memcpy(&h->imm, in + 44, 4);
	h->aux0 = get64(in + 48);
	h->aux1 = get64(in + 56);
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
	default: /* atomics, their responses, acks, terminate: header only */
		if (h->len)
			return RTCP_EBADLEN;
		break;
	}
	return RTCP_OK;
}

void rtcp_hello_encode(const struct rtcp_hello *h, uint8_t o[RTCP_HELLO_LEN])
{
	put32(o, RTCP_HELLO_MAGIC);
	put16(o + 4, RTCP_VERSION);
	put16(o + 6, h->flags);
	put32(o + 8, h->src_qpn);
	put32(o + 12, h->dst_qpn);
	memcpy(o + 16, h->src_gid, 16);
}

int rtcp_hello_decode(const uint8_t in[RTCP_HELLO_LEN], struct rtcp_hello *h)
{
	h->magic = get32(in);
	h->version = get16(in + 4);
	h->flags = get16(in + 6);
	h->src_qpn = get32(in + 8);
	h->dst_qpn = get32(in + 12);
	memcpy(h->src_gid, in + 16, 16);
	if (h->magic != RTCP_HELLO_MAGIC || h->version != RTCP_VERSION)
		return -1;
	return 0;
}
