// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpus of the frame fuzz target:
 *
 *   fuzz_gen_corpus DIR
 *
 * Each file is a control prefix (see fuzz_frame.c) and a stream of valid
 * frames with correct stream sequence numbers, sometimes preceded by a
 * hello, sometimes ending short, so that the fuzzer starts from inputs
 * that get deep into the framing loop. The files under tests/fuzz/corpus/
 * were made with it; rerun after a wire format change.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_gen.h"

static const char *dir;
static uint8_t buf[8192];

static int put(const char *name, const struct fgen *g)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(g->buf, 1, g->n, f) != g->n || fclose(f)) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct fgen g;
	struct rtcp_hdr h;
	int rc = 0, op;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];

	/* hello, WRITE 16 bytes, ACK: what a requester sends first */
	fgen_init(&g, buf, sizeof(buf), 8, 4, 0x1234);
	fgen_hello(&g, 0x100, 0xc35001);
	h = (struct rtcp_hdr){ .opcode = RTCP_OP_WRITE,
			       .flags = RTCP_F_ACK_REQ,
			       .msn = 0,
			       .rkey = 0x01000a5,
			       .raddr = 0x1000,
			       .len = 16 };
	fgen_frame(&g, &h);
	h = (struct rtcp_hdr){ .opcode = RTCP_OP_ACK,
			       .ack_msn = 1,
			       .credits = 4 };
	fgen_frame(&g, &h);
	rc |= put("hello_write_ack", &g);

	/* one frame of every opcode, each well formed */
	fgen_init(&g, buf, sizeof(buf), 0, 6, 0xbeef);
	for (op = RTCP_OP_SEND; op <= RTCP_OP_MAX; op++) {
		h = (struct rtcp_hdr){ .opcode = op,
				       .msn = op,
				       .flags = RTCP_F_SOLICITED };
		switch (op) {
		case RTCP_OP_SEND:
		case RTCP_OP_SEND_IMM:
		case RTCP_OP_SEND_INV:
		case RTCP_OP_WRITE:
		case RTCP_OP_WRITE_IMM:
		case RTCP_OP_READ_RESP:
			h.len = 8 * op;
			h.imm = 0x11223344;
			break;
		case RTCP_OP_READ_REQ:
			h.aux0 = 4096;
			break;
		case RTCP_OP_ATOMIC_CMP_SWP:
			h.aux0 = 1;
			h.aux1 = 2;
			break;
		case RTCP_OP_TERMINATE:
			h.imm = RTCP_SYN_REM_ACCESS;
			break;
		default:
			h.aux0 = 7;
		}
		fgen_frame(&g, &h);
	}
	rc |= put("all_opcodes", &g);

	/* a large WRITE whose payload is cut short */
	fgen_init(&g, buf, sizeof(buf), 0, 4, 7);
	h = (struct rtcp_hdr){ .opcode = RTCP_OP_WRITE, .len = 1000 };
	fgen_frame(&g, &h);
	h = (struct rtcp_hdr){ .opcode = RTCP_OP_SEND, .len = 5000 };
	fgen_frame(&g, &h);
	g.n -= 3000;
	rc |= put("short_payload", &g);

	/* many small frames: fix-up mode on, so mutations pass the seq check */
	fgen_init(&g, buf, sizeof(buf), 7, 3, 0x4242);
	for (op = 0; op < 40; op++) {
		h = (struct rtcp_hdr){ .opcode = RTCP_OP_SEND_IMM,
				       .msn = op,
				       .len = (uint32_t)(op % 5),
				       .imm = op };
		fgen_frame(&g, &h);
	}
	rc |= put("many_small_fixup", &g);

	/* desynchronised sequence on the second frame */
	fgen_init(&g, buf, sizeof(buf), 0, 4, 99);
	h = (struct rtcp_hdr){ .opcode = RTCP_OP_WRITE, .len = 32 };
	fgen_frame(&g, &h);
	g.seq += 1;
	h = (struct rtcp_hdr){ .opcode = RTCP_OP_WRITE, .msn = 1, .len = 32 };
	fgen_frame(&g, &h);
	rc |= put("bad_sseq", &g);

	/* a READ_REQ for more than max_msg, and one with a payload */
	fgen_init(&g, buf, sizeof(buf), 1, 3, 5);
	h = (struct rtcp_hdr){ .opcode = RTCP_OP_READ_REQ, .aux0 = 4096 };
	fgen_frame(&g, &h);
	h = (struct rtcp_hdr){ .opcode = RTCP_OP_READ_REQ,
			       .msn = 1,
			       .aux0 = 4097 };
	fgen_frame(&g, &h);
	rc |= put("read_req_limits", &g);

	/* the control prefix alone: an empty stream */
	fgen_init(&g, buf, sizeof(buf), 5, 0x28, 0x0805);
	rc |= put("empty_stream", &g);

	/* hello with a wrong version: rejected */
	fgen_init(&g, buf, sizeof(buf), 8, 0, 1);
	fgen_hello(&g, 1, 2);
	buf[4 + RTCP_HELLO_OFF_VERSION + 1] = 2; /* after the 4-byte prefix */
	rc |= put("hello_bad_version", &g);
	return rc;
}
