/* SPDX-License-Identifier: MIT */
/* The fuzz target's entry point, shared by libFuzzer and the replay driver. */
#ifndef RDMA_TCP_FUZZ_FRAME_H
#define RDMA_TCP_FUZZ_FRAME_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* How the framing model ended on the input's stream (FUZZ_END_*), or -1
 * when the input never reached it (too short, hello rejected). */
enum {
	FUZZ_END_CLEAN,
	FUZZ_END_SHORT_HDR,
	FUZZ_END_SHORT_PAYLOAD,
	FUZZ_END_BAD,
	FUZZ_END_LIMIT,
};
int fuzz_frame_run(const uint8_t *data, size_t size);

#endif
