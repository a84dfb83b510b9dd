/* SPDX-License-Identifier: MIT */
/*
 * rdma-tcp wire format, shared by the provider, tools, tests and fuzzers.
 *
 * One TCP connection per connected QP; each direction is a stream of frames.
 * A frame is a fixed 64-byte header in network byte order, then `len` bytes
 * of payload. The header carries everything the receiver needs to place
 * the payload with no intermediate buffer: for any payload byte,
 *
 *   address = region(rkey).base + (raddr - region.iova)
 *             + (stream_seq_of_byte - sseq)
 *
 * so a receiver (or a future NIC / zero-copy path) can place each chunk as
 * it arrives. Every header also piggybacks the sender's cumulative ack of
 * the peer's requests (ack_msn) and its receive credits.
 *
 * Before the first frame, the connecting side sends one hello record.
 */
#ifndef RDMA_TCP_WIRE_H
#define RDMA_TCP_WIRE_H

#include <stdint.h>

#define RTCP_HELLO_MAGIC 0x52544350u /* "RTCP" */
#define RTCP_VERSION	 1
#define RTCP_HDR_LEN	 64

enum rtcp_opcode {
	RTCP_OP_SEND = 1,
	RTCP_OP_SEND_IMM = 2,
	RTCP_OP_WRITE = 3,
	RTCP_OP_WRITE_IMM = 4,
	RTCP_OP_READ_REQ = 5,
	RTCP_OP_READ_RESP = 6,
	RTCP_OP_ATOMIC_CMP_SWP = 7,
	RTCP_OP_ATOMIC_FADD = 8,
	RTCP_OP_ATOMIC_RESP = 9,
	RTCP_OP_ACK = 10,	/* carries only ack_msn and credits */
	RTCP_OP_TERMINATE = 11, /* fatal error on request msn; imm = syndrome */
	RTCP_OP_MAX = 11,
};

enum rtcp_flags {
	RTCP_F_SOLICITED = 1 << 0,
	RTCP_F_NO_CREDIT = 1 << 1, /* receiver uses an SRQ: credits unused */
	RTCP_F_ACK_REQ = 1 << 2, /* requester waits on this one: ack at once */
	/*
	 * ACK only: request msn waits for a receive (an empty SRQ); imm is
	 * the responder's RNR timer code, as an RNR NAK carries it
	 */
	RTCP_F_RNR = 1 << 3,
	RTCP_F_KNOWN = RTCP_F_SOLICITED | RTCP_F_NO_CREDIT | RTCP_F_ACK_REQ |
		       RTCP_F_RNR,
};

/*
 * TERMINATE syndromes: how the requester's work request completes. Carried
 * in the imm field, in network byte order.
 */
enum rtcp_syndrome {
	RTCP_SYN_REM_ACCESS = 1,  /* key, PD, rights or range */
	RTCP_SYN_REM_INV_REQ = 2, /* bad opcode, length, too-small receive */
	RTCP_SYN_REM_OP = 3, /* responder could not perform the operation */
	RTCP_SYN_RNR = 4,    /* receiver not ready past the retry budget */
};

/* Host-order view of a frame header. */
struct rtcp_hdr {
	uint8_t opcode;
	uint8_t flags;
	uint16_t hlen; /* header bytes, RTCP_HDR_LEN (room for extensions) */
	uint32_t spi;  /* security association index, 0 = none */
	uint32_t msn;  /* request: its number; response/NAK: request answered */
	uint32_t ack_msn; /* all peer requests below this one are done */
	uint32_t credits; /* receive WQEs posted so far by the sender */
	uint32_t rkey;
	uint64_t raddr;
	uint64_t sseq; /* stream offset of the first payload byte */
	uint32_t len;  /* payload bytes that follow */
	uint32_t imm;  /* immediate data (as on the wire) or syndrome */
	uint64_t aux0; /* READ_REQ: length; ATOMIC: compare/add; RESP: value */
	uint64_t aux1; /* ATOMIC_CMP_SWP: swap value */
};

struct rtcp_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t flags;
	uint32_t src_qpn;
	uint32_t dst_qpn;
	uint8_t src_gid[16];
};
#define RTCP_HELLO_LEN 32

enum rtcp_decode_err {
	RTCP_OK = 0,
	RTCP_EBADOP,   /* unknown opcode */
	RTCP_EBADHLEN, /* header length not understood */
	RTCP_EBADFLAGS,
	RTCP_EBADLEN, /* payload length impossible for the opcode */
	RTCP_EBADSEQ, /* stream sequence does not match the receiver's */
};

void rtcp_hdr_encode(const struct rtcp_hdr *h, uint8_t out[RTCP_HDR_LEN]);
void rtcp_hdr_decode(const uint8_t in[RTCP_HDR_LEN], struct rtcp_hdr *h);
/*
 * Checks a decoded header against the receiver's stream position and its
 * message size limit. Returns RTCP_OK or the reason the frame is malformed.
 */
int rtcp_hdr_validate(const struct rtcp_hdr *h, uint64_t expect_sseq,
		      uint32_t max_msg);
void rtcp_hello_encode(const struct rtcp_hello *h, uint8_t out[RTCP_HELLO_LEN]);
int rtcp_hello_decode(const uint8_t in[RTCP_HELLO_LEN], struct rtcp_hello *h);

#endif
