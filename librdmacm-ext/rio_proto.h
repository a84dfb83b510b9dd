/* SPDX-License-Identifier: MIT */
/*
 * The wire format of framed rsockets (rio_*.c): what two processes under
 * the preload exchange on the TCP connection of an rsocket that had
 * RDMA_IOMAPSIZE > 0 before rconnect/raccept. An rsocket without it is a
 * plain TCP byte stream and carries none of this.
 *
 * Each side first sends a hello (magic, version, the number of mappings
 * the peer may announce to it: its RDMA_IOMAPSIZE); then only frames, a
 * 16-byte header and, for DATA and WRITE, len payload bytes:
 *
 *   DATA   stream bytes (rsend ...), delivered in order to rrecv;
 *   WRITE  riowrite: len bytes placed at offset off of the receiver's
 *          riomap'd memory (all of them inside one mapping);
 *   MAP    riomap(PROT_WRITE) announced to the peer: mapping slot `slot`
 *          (below the receiver's iomap size) is now off..off+len-1.
 *
 * Frames are never interleaved, so a WRITE is in place before the DATA
 * that follows it is received (rsockets' ordering). All fields are
 * big-endian; everything a peer sends is checked (rio_rx.c): a bad hello
 * or frame, or a WRITE outside the receiver's mappings, ends the
 * connection (EPROTO here, a reset at the peer).
 */
#ifndef RIO_PROTO_H
#define RIO_PROTO_H

#include <stdint.h>

#define RIO_MAGIC   0x72696f7463702d31ULL /* "riotcp-1" */
#define RIO_VERSION 1

/* Most mappings a side offers (larger RDMA_IOMAPSIZE values are cut). */
#define RIO_MAX_MAPS 128
/* Largest DATA or WRITE payload of one frame. */
#define RIO_FRAME_MAX (1U << 20)

struct rio_hello {
	uint64_t magic;
	uint32_t version;
	uint32_t iomap_size;
} __attribute__((packed));

enum rio_type {
	RIO_DATA = 1,
	RIO_WRITE = 2,
	RIO_MAP = 3,
};

struct rio_hdr {
	uint8_t type;
	uint8_t rsvd;  /* 0 */
	uint16_t slot; /* MAP only, else 0 */
	uint32_t len;
	uint64_t off; /* WRITE, MAP; 0 in DATA */
} __attribute__((packed));

_Static_assert(sizeof(struct rio_hello) == 16, "hello is 16 bytes");
_Static_assert(sizeof(struct rio_hdr) == 16, "header is 16 bytes");

#endif
