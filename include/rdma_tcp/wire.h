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

#include <stddef.h>
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
	/* SEND that also invalidates the responder's window named by rkey */
	RTCP_OP_SEND_INV = 12,
	/*
	 * Secured connections only: the sender's new receive SA (after a
	 * device key rotation), payload struct rtcp_rekey; always sealed in
	 * encrypt mode, whatever the connection's mode
	 */
	RTCP_OP_REKEY = 13,
	/*
	 * IBV_WR_ATOMIC_WRITE (RC): header only, the 8 bytes in aux0 (as a
	 * big-endian integer of the requester's bytes), stored by the
	 * responder in one 8-byte atomic store at raddr (8-aligned, remote
	 * write access); acked like a WRITE, no response
	 */
	RTCP_OP_ATOMIC_WRITE = 14,
	RTCP_OP_MAX = 14,
	/*
	 * Secured connections in auth mode only, outside the range above
	 * (rtcp_hdr_validate refuses it): one tag over several small frames,
	 * its payload those frames (providers/tcp/psp.h, docs/design.md
	 * "Secured frames"); flags, msn, ack_msn, credits, rkey, raddr, imm,
	 * aux0, aux1 0
	 */
	RTCP_OP_GROUP = 15,
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
	/*
	 * SEND, SEND_IMM, SEND_INV, WRITE, WRITE_IMM, READ_RESP: more frames
	 * of this message follow. A message longer than the sender's segment
	 * is cut into frames with the same opcode and msn; in each of them
	 * aux0 is the offset of its payload in the message and aux1 the
	 * message's length, and a WRITE's raddr is its own payload's. The
	 * frames of one message follow each other in order; only frames of
	 * the other kind (responses and acks between a request's frames,
	 * requests and acks between a response's) may come between them. A
	 * single-frame message has aux0 0 and this flag clear.
	 */
	RTCP_F_MORE = 1 << 4,
	RTCP_F_KNOWN = RTCP_F_SOLICITED | RTCP_F_NO_CREDIT | RTCP_F_ACK_REQ |
		       RTCP_F_RNR | RTCP_F_MORE,
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

/*
 * Security association messages (docs/design.md, "Security model"): on a
 * secured connection the hello travels inside TLS 1.3 as an SA offer, and
 * the accepting side answers with its own SA (or a reject). Each side
 * sends the SPI and key of its *receive* SA, chosen and derived by itself
 * from its device key (as a PSP receiver does); the peer seals its frames
 * with them. Fixed length; integers big-endian.
 */
#define RTCP_SA_MAGIC 0x52545341u /* "RTSA" */
enum rtcp_sa_kind {
	RTCP_SA_OFFER = 1,  /* connecting side: hello + its receive SA */
	RTCP_SA_ANSWER = 2, /* accepting side: bound; its receive SA */
	RTCP_SA_REJECT = 3, /* accepting side: no connection (reason) */
	/* accepting side: the offer's QP exists but is not at RTR; the
	 * answer (or a reject) follows when it is (or is destroyed) */
	RTCP_SA_WAIT = 4,
};
enum rtcp_sa_reason {
	RTCP_SA_R_NONE = 0,
	RTCP_SA_R_MODE = 1,  /* psp mode or algorithm differ */
	RTCP_SA_R_NOQP = 2,  /* no QP with that number, or not for this peer */
	RTCP_SA_R_PROTO = 3, /* malformed offer */
};
struct rtcp_sa_msg {
	uint32_t magic;
	uint16_t version; /* RTCP_VERSION */
	uint8_t kind;
	uint8_t reason;
	uint8_t mode;	/* enum tcp_psp_mode of the sender */
	uint8_t alg;	/* enum tcp_psp_alg */
	uint16_t flags; /* 0 */
	uint32_t src_qpn;
	uint32_t dst_qpn;
	uint32_t spi;	 /* the sender's receive SPI */
	uint8_t key[32]; /* ...and key (16 bytes used with AES-128) */
	uint8_t src_gid[16];
};
#define RTCP_SA_MSG_LEN 72

/* REKEY's payload: the sender's new receive SA. */
struct rtcp_rekey {
	uint32_t spi;
	uint8_t alg;
	uint8_t pad[3];
	uint8_t key[32];
};
#define RTCP_REKEY_LEN 40

/*
 * UD datagrams (docs/design.md, "UD queue pairs"): one UDP datagram per
 * message, header | payload (<= the port's active MTU) | tag (16 bytes,
 * psp auth and encrypt only). A UD QP's number names its UDP port
 * (qpn >> 8, as an RC QPN names its TCP port); dst_qpn says which QP of
 * that port. Security: the sender's random 64-bit sid names the key
 * (derived from the device's pre-shared key, ud_sec.h), seq strictly
 * increases per sid; the header is authenticated in both modes, the
 * payload encrypted in encrypt mode. Integers big-endian.
 */
#define RTCP_UD_MAGIC	  0x52545544u /* "RTUD" */
#define RTCP_UD_HDR_LEN	  48
#define RTCP_UD_TAG_LEN	  16
#define RTCP_UD_MCAST_QPN 0xffffffu
enum rtcp_ud_opcode {
	RTCP_UD_SEND = 1,
	RTCP_UD_SEND_IMM = 2,
};
struct rtcp_ud_hdr {
	uint32_t magic;
	uint8_t version; /* RTCP_VERSION */
	uint8_t opcode;	 /* enum rtcp_ud_opcode */
	uint8_t mode;	 /* enum tcp_psp_mode: must be the receiver's */
	uint8_t alg;	 /* enum tcp_psp_alg (0 when mode is off) */
	uint32_t dst_qpn;
	uint32_t src_qpn;
	uint32_t qkey;
	uint32_t imm;	/* opaque: immediate data as the application gave it */
	uint32_t len;	/* payload bytes: the datagram is exactly hdr+len+tag */
	uint32_t flags; /* bit 0: solicited; other bits 0 */
	uint64_t sid;	/* sender's key id (0 when off) */
	uint64_t seq;	/* per-sid sequence, nonce part (0 when off) */
};
#define RTCP_UD_F_SOLICITED 1u

/*
 * Byte offsets on the wire, defined here once: wire.c encodes and decodes
 * with them, the fuzz oracle and the hostile-peer tests check against them,
 * and tests/pyverbs/rtcp_wire.py reads these lines to build its struct
 * layout. A field runs from its offset to the next field's (the last one to
 * the record's length); integers are big-endian, except a field whose
 * comment starts with "opaque", which travels as the sender's bytes.
 */
#define RTCP_OFF_OPCODE	 0
#define RTCP_OFF_FLAGS	 1
#define RTCP_OFF_HLEN	 2
#define RTCP_OFF_SPI	 4
#define RTCP_OFF_MSN	 8
#define RTCP_OFF_ACK_MSN 12
#define RTCP_OFF_CREDITS 16
#define RTCP_OFF_RKEY	 20
#define RTCP_OFF_RADDR	 24
#define RTCP_OFF_SSEQ	 32
#define RTCP_OFF_LEN	 40
#define RTCP_OFF_IMM	 44 /* opaque: immediate data as the application gave it */
#define RTCP_OFF_AUX0	 48
#define RTCP_OFF_AUX1	 56

#define RTCP_HELLO_OFF_MAGIC   0
#define RTCP_HELLO_OFF_VERSION 4
#define RTCP_HELLO_OFF_FLAGS   6
#define RTCP_HELLO_OFF_SRC_QPN 8
#define RTCP_HELLO_OFF_DST_QPN 12
#define RTCP_HELLO_OFF_SRC_GID 16 /* opaque: 16 bytes of GID */

#define RTCP_SA_OFF_MAGIC   0
#define RTCP_SA_OFF_VERSION 4
#define RTCP_SA_OFF_KIND    6
#define RTCP_SA_OFF_REASON  7
#define RTCP_SA_OFF_MODE    8
#define RTCP_SA_OFF_ALG	    9
#define RTCP_SA_OFF_FLAGS   10
#define RTCP_SA_OFF_SRC_QPN 12
#define RTCP_SA_OFF_DST_QPN 16
#define RTCP_SA_OFF_SPI	    20
#define RTCP_SA_OFF_KEY	    24 /* opaque: key bytes */
#define RTCP_SA_OFF_SRC_GID 56 /* opaque: 16 bytes of GID */

#define RTCP_UD_OFF_MAGIC   0
#define RTCP_UD_OFF_VERSION 4
#define RTCP_UD_OFF_OPCODE  5
#define RTCP_UD_OFF_MODE    6
#define RTCP_UD_OFF_ALG	    7
#define RTCP_UD_OFF_DST_QPN 8
#define RTCP_UD_OFF_SRC_QPN 12
#define RTCP_UD_OFF_QKEY    16
#define RTCP_UD_OFF_IMM	    20 /* opaque: immediate data */
#define RTCP_UD_OFF_LEN	    24
#define RTCP_UD_OFF_FLAGS   28
#define RTCP_UD_OFF_SID	    32
#define RTCP_UD_OFF_SEQ	    40

#define RTCP_REKEY_OFF_SPI 0
#define RTCP_REKEY_OFF_ALG 4
#define RTCP_REKEY_OFF_PAD 5 /* opaque: zero */
#define RTCP_REKEY_OFF_KEY 8 /* opaque: key bytes */

/* Each field is as wide on the wire as in the host-order struct. */
#define RTCP_END(type, f, off) ((off) + sizeof(((struct type *)0)->f))
#define RTCP_ADJ(type, f, off, next)                     \
	_Static_assert(RTCP_END(type, f, off) == (next), \
		       #type "." #f " ends where the next field starts")
RTCP_ADJ(rtcp_hdr, opcode, RTCP_OFF_OPCODE, RTCP_OFF_FLAGS);
RTCP_ADJ(rtcp_hdr, flags, RTCP_OFF_FLAGS, RTCP_OFF_HLEN);
RTCP_ADJ(rtcp_hdr, hlen, RTCP_OFF_HLEN, RTCP_OFF_SPI);
RTCP_ADJ(rtcp_hdr, spi, RTCP_OFF_SPI, RTCP_OFF_MSN);
RTCP_ADJ(rtcp_hdr, msn, RTCP_OFF_MSN, RTCP_OFF_ACK_MSN);
RTCP_ADJ(rtcp_hdr, ack_msn, RTCP_OFF_ACK_MSN, RTCP_OFF_CREDITS);
RTCP_ADJ(rtcp_hdr, credits, RTCP_OFF_CREDITS, RTCP_OFF_RKEY);
RTCP_ADJ(rtcp_hdr, rkey, RTCP_OFF_RKEY, RTCP_OFF_RADDR);
RTCP_ADJ(rtcp_hdr, raddr, RTCP_OFF_RADDR, RTCP_OFF_SSEQ);
RTCP_ADJ(rtcp_hdr, sseq, RTCP_OFF_SSEQ, RTCP_OFF_LEN);
RTCP_ADJ(rtcp_hdr, len, RTCP_OFF_LEN, RTCP_OFF_IMM);
RTCP_ADJ(rtcp_hdr, imm, RTCP_OFF_IMM, RTCP_OFF_AUX0);
RTCP_ADJ(rtcp_hdr, aux0, RTCP_OFF_AUX0, RTCP_OFF_AUX1);
RTCP_ADJ(rtcp_hdr, aux1, RTCP_OFF_AUX1, RTCP_HDR_LEN);
RTCP_ADJ(rtcp_hello, magic, RTCP_HELLO_OFF_MAGIC, RTCP_HELLO_OFF_VERSION);
RTCP_ADJ(rtcp_hello, version, RTCP_HELLO_OFF_VERSION, RTCP_HELLO_OFF_FLAGS);
RTCP_ADJ(rtcp_hello, flags, RTCP_HELLO_OFF_FLAGS, RTCP_HELLO_OFF_SRC_QPN);
RTCP_ADJ(rtcp_hello, src_qpn, RTCP_HELLO_OFF_SRC_QPN, RTCP_HELLO_OFF_DST_QPN);
RTCP_ADJ(rtcp_hello, dst_qpn, RTCP_HELLO_OFF_DST_QPN, RTCP_HELLO_OFF_SRC_GID);
RTCP_ADJ(rtcp_hello, src_gid, RTCP_HELLO_OFF_SRC_GID, RTCP_HELLO_LEN);
RTCP_ADJ(rtcp_sa_msg, magic, RTCP_SA_OFF_MAGIC, RTCP_SA_OFF_VERSION);
RTCP_ADJ(rtcp_sa_msg, version, RTCP_SA_OFF_VERSION, RTCP_SA_OFF_KIND);
RTCP_ADJ(rtcp_sa_msg, kind, RTCP_SA_OFF_KIND, RTCP_SA_OFF_REASON);
RTCP_ADJ(rtcp_sa_msg, reason, RTCP_SA_OFF_REASON, RTCP_SA_OFF_MODE);
RTCP_ADJ(rtcp_sa_msg, mode, RTCP_SA_OFF_MODE, RTCP_SA_OFF_ALG);
RTCP_ADJ(rtcp_sa_msg, alg, RTCP_SA_OFF_ALG, RTCP_SA_OFF_FLAGS);
RTCP_ADJ(rtcp_sa_msg, flags, RTCP_SA_OFF_FLAGS, RTCP_SA_OFF_SRC_QPN);
RTCP_ADJ(rtcp_sa_msg, src_qpn, RTCP_SA_OFF_SRC_QPN, RTCP_SA_OFF_DST_QPN);
RTCP_ADJ(rtcp_sa_msg, dst_qpn, RTCP_SA_OFF_DST_QPN, RTCP_SA_OFF_SPI);
RTCP_ADJ(rtcp_sa_msg, spi, RTCP_SA_OFF_SPI, RTCP_SA_OFF_KEY);
RTCP_ADJ(rtcp_sa_msg, key, RTCP_SA_OFF_KEY, RTCP_SA_OFF_SRC_GID);
RTCP_ADJ(rtcp_sa_msg, src_gid, RTCP_SA_OFF_SRC_GID, RTCP_SA_MSG_LEN);
RTCP_ADJ(rtcp_rekey, spi, RTCP_REKEY_OFF_SPI, RTCP_REKEY_OFF_ALG);
RTCP_ADJ(rtcp_rekey, alg, RTCP_REKEY_OFF_ALG, RTCP_REKEY_OFF_PAD);
RTCP_ADJ(rtcp_rekey, pad, RTCP_REKEY_OFF_PAD, RTCP_REKEY_OFF_KEY);
RTCP_ADJ(rtcp_rekey, key, RTCP_REKEY_OFF_KEY, RTCP_REKEY_LEN);
RTCP_ADJ(rtcp_ud_hdr, magic, RTCP_UD_OFF_MAGIC, RTCP_UD_OFF_VERSION);
RTCP_ADJ(rtcp_ud_hdr, version, RTCP_UD_OFF_VERSION, RTCP_UD_OFF_OPCODE);
RTCP_ADJ(rtcp_ud_hdr, opcode, RTCP_UD_OFF_OPCODE, RTCP_UD_OFF_MODE);
RTCP_ADJ(rtcp_ud_hdr, mode, RTCP_UD_OFF_MODE, RTCP_UD_OFF_ALG);
RTCP_ADJ(rtcp_ud_hdr, alg, RTCP_UD_OFF_ALG, RTCP_UD_OFF_DST_QPN);
RTCP_ADJ(rtcp_ud_hdr, dst_qpn, RTCP_UD_OFF_DST_QPN, RTCP_UD_OFF_SRC_QPN);
RTCP_ADJ(rtcp_ud_hdr, src_qpn, RTCP_UD_OFF_SRC_QPN, RTCP_UD_OFF_QKEY);
RTCP_ADJ(rtcp_ud_hdr, qkey, RTCP_UD_OFF_QKEY, RTCP_UD_OFF_IMM);
RTCP_ADJ(rtcp_ud_hdr, imm, RTCP_UD_OFF_IMM, RTCP_UD_OFF_LEN);
RTCP_ADJ(rtcp_ud_hdr, len, RTCP_UD_OFF_LEN, RTCP_UD_OFF_FLAGS);
RTCP_ADJ(rtcp_ud_hdr, flags, RTCP_UD_OFF_FLAGS, RTCP_UD_OFF_SID);
RTCP_ADJ(rtcp_ud_hdr, sid, RTCP_UD_OFF_SID, RTCP_UD_OFF_SEQ);
RTCP_ADJ(rtcp_ud_hdr, seq, RTCP_UD_OFF_SEQ, RTCP_UD_HDR_LEN);
#undef RTCP_ADJ
#undef RTCP_END

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
void rtcp_sa_encode(const struct rtcp_sa_msg *m, uint8_t out[RTCP_SA_MSG_LEN]);
/* 0, or -1 for a bad magic, version or kind */
/* UD header: decode returns RTCP_OK or why the datagram is dropped
 * (magic, version, opcode, flags, len against @dgram_len and @mtu). */
void rtcp_ud_encode(const struct rtcp_ud_hdr *h, uint8_t out[RTCP_UD_HDR_LEN]);
int rtcp_ud_decode(const uint8_t *in, size_t dgram_len, uint32_t mtu,
		   struct rtcp_ud_hdr *h);
int rtcp_sa_decode(const uint8_t in[RTCP_SA_MSG_LEN], struct rtcp_sa_msg *m);
void rtcp_rekey_encode(const struct rtcp_rekey *r, uint8_t out[RTCP_REKEY_LEN]);
void rtcp_rekey_decode(const uint8_t in[RTCP_REKEY_LEN], struct rtcp_rekey *r);

#endif
