/* SPDX-License-Identifier: MIT */
/*
 * Builders of well-formed inputs for the frame fuzz target: the seed
 * corpus generator and the replay driver's structured inputs share them.
 */
#ifndef RDMA_TCP_FUZZ_GEN_H
#define RDMA_TCP_FUZZ_GEN_H

#include <stddef.h>
#include <stdint.h>

#include <rdma_tcp/wire.h>

struct fgen {
	uint8_t *buf;
	size_t cap, n;
	uint64_t seq; /* stream offset after the hello */
	size_t stream_start;
};

/* ctl: the fuzz input's control prefix (see fuzz_frame.c). */
void fgen_init(struct fgen *g, uint8_t *buf, size_t cap, uint8_t flags,
	       uint8_t max_sel, uint16_t seed);
void fgen_hello(struct fgen *g, uint32_t src_qpn, uint32_t dst_qpn);
/* Appends a frame with the right sseq and len payload bytes (pattern).
 * Returns the header's offset in buf, or (size_t)-1 when full. */
size_t fgen_frame(struct fgen *g, struct rtcp_hdr *h);
uint32_t fgen_rand(uint32_t *state);

#endif
