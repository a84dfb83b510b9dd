// SPDX-License-Identifier: MIT
/*
 * Unit tests of the wire codec (include/rdma_tcp/wire.h): byte layout in
 * network order, round trips, and the validation of every header field a
 * hostile peer controls.
 */
#include <stdio.h>
#include <string.h>

#include <rdma_tcp/wire.h>

#include "check.h"

static struct rtcp_hdr sample(void)
{
	struct rtcp_hdr h = {
		.opcode = RTCP_OP_WRITE,
		.flags = RTCP_F_SOLICITED,
		.spi = 0x01020304,
		.msn = 0x11121314,
		.ack_msn = 0x21222324,
		.credits = 0x31323334,
		.rkey = 0x41424344,
		.raddr = 0x5152535455565758ull,
		.sseq = 64,
		.len = 4096,
		.imm = 0xa1a2a3a4,
		.aux0 = 0x6162636465666768ull,
		.aux1 = 0x7172737475767778ull,
	};
	return h;
}

int main(void)
{
	uint8_t b[RTCP_HDR_LEN], hb[RTCP_HELLO_LEN];
	struct rtcp_hdr h = sample(), d;
	struct rtcp_hello hi = { .src_qpn = 0xabcdef, .dst_qpn = 0x123456 }, ho;

	rtcp_hdr_encode(&h, b);
	/* layout: fields in network byte order at fixed offsets */
	CHECK(b[0] == RTCP_OP_WRITE && b[1] == RTCP_F_SOLICITED);
	CHECK(b[2] == 0 && b[3] == RTCP_HDR_LEN);
	CHECK(b[4] == 1 && b[7] == 4);	       /* spi */
	CHECK(b[20] == 0x41 && b[23] == 0x44); /* rkey */
	CHECK(b[24] == 0x51 && b[31] == 0x58); /* raddr */
	CHECK(b[40] == 0 && b[41] == 0 && b[42] == 0x10 && b[43] == 0);

	rtcp_hdr_decode(b, &d);
	h.hlen = RTCP_HDR_LEN;
	CHECK(!memcmp(&h, &d, sizeof(h)));
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_OK);

	/* every field a peer controls is checked */
	d.opcode = 0;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_EBADOP);
	d.opcode = RTCP_OP_MAX + 1;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_EBADOP);
	d = h;
	d.hlen = 65;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_EBADHLEN);
	d = h;
	d.flags = 0x80;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_EBADFLAGS);
	d = h;
	CHECK(rtcp_hdr_validate(&d, 128, 1u << 31) == RTCP_EBADSEQ);
	d.len = 5000;
	CHECK(rtcp_hdr_validate(&d, 64, 4096) == RTCP_EBADLEN);
	d = h;
	d.opcode = RTCP_OP_READ_REQ;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_EBADLEN);
	d.len = 0;
	d.aux0 = 1ull << 32;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_EBADLEN);
	d.aux0 = 4096;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_OK);
	d.opcode = RTCP_OP_ATOMIC_FADD;
	d.len = 8;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_EBADLEN);
	d.opcode = RTCP_OP_ACK;
	d.len = 0;
	CHECK(rtcp_hdr_validate(&d, 64, 1u << 31) == RTCP_OK);

	/* hello */
	memset(hi.src_gid, 0xee, 16);
	rtcp_hello_encode(&hi, hb);
	CHECK(rtcp_hello_decode(hb, &ho) == 0);
	CHECK(ho.src_qpn == hi.src_qpn && ho.dst_qpn == hi.dst_qpn);
	CHECK(!memcmp(ho.src_gid, hi.src_gid, 16));
	hb[0] ^= 1;
	CHECK(rtcp_hello_decode(hb, &ho) != 0);
	hb[0] ^= 1;
	hb[5] = 99; /* version */
	CHECK(rtcp_hello_decode(hb, &ho) != 0);

	return check_report();
}
