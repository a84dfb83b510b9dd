// SPDX-License-Identifier: MIT
/*
 * The real wire codec (providers/tcp/wire.c) behind a line protocol, so
 * tests/pyverbs/test_wire_layout.py can check that what Python packs with
 * rtcp_wire.py is what the provider decodes. One request per line on
 * stdin, one answer line on stdout:
 *
 *   hdr HEX64 EXPECT_SSEQ MAX_MSG   -> the decoded fields, then
 *                                      validate=<rtcp_hdr_validate's result>
 *   hello HEX32                     -> the decoded fields, then
 *                                      decode=<rtcp_hello_decode's result>
 *   ud HEX48 DGRAM_LEN MTU          -> the decoded fields, then
 *                                      decode=<rtcp_ud_decode's result>
 *
 * HEX64 / HEX32 / HEX48 are the header's 64 / the hello's 32 / the UD
 * header's 48 bytes in hex; a UD header is decoded as the start of a
 * datagram of DGRAM_LEN bytes (zeros after the header). Fields
 * come out as name=value (decimal; imm and src_gid as hex of their bytes;
 * a UD header's fields after a truncated datagram's decode are not shown).
 * A malformed request line answers "error ..." and the program goes on.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rdma_tcp/wire.h>

static int unhex(const char *s, uint8_t *out, size_t n)
{
	size_t i;
	unsigned int v;

	if (strlen(s) != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static void put_hex(const char *name, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	printf(" %s=", name);
	for (i = 0; i < n; i++)
		printf("%02x", b[i]);
}

static void do_hdr(const char *hex, const char *sseq, const char *max)
{
	uint8_t b[RTCP_HDR_LEN];
	struct rtcp_hdr h;
	int r;

	if (!sseq || !max || unhex(hex, b, sizeof(b))) {
		printf("error bad hdr request\n");
		return;
	}
	memset(&h, 0xa5, sizeof(h)); /* no field may keep stale bytes */
	rtcp_hdr_decode(b, &h);
	r = rtcp_hdr_validate(&h, strtoull(sseq, NULL, 0),
			      (uint32_t)strtoul(max, NULL, 0));
	printf("opcode=%u flags=%u hlen=%u spi=%" PRIu32 " msn=%" PRIu32
	       " ack_msn=%" PRIu32 " credits=%" PRIu32 " rkey=%" PRIu32
	       " raddr=%" PRIu64 " sseq=%" PRIu64 " len=%" PRIu32,
	       h.opcode, h.flags, h.hlen, h.spi, h.msn, h.ack_msn, h.credits,
	       h.rkey, h.raddr, h.sseq, h.len);
	put_hex("imm", &h.imm, sizeof(h.imm));
	printf(" aux0=%" PRIu64 " aux1=%" PRIu64 " validate=%d\n", h.aux0,
	       h.aux1, r);
}

static void do_hello(const char *hex)
{
	uint8_t b[RTCP_HELLO_LEN];
	struct rtcp_hello h;
	int r;

	if (unhex(hex, b, sizeof(b))) {
		printf("error bad hello request\n");
		return;
	}
	memset(&h, 0xa5, sizeof(h));
	r = rtcp_hello_decode(b, &h);
	printf("magic=%" PRIu32 " version=%u flags=%u src_qpn=%" PRIu32
	       " dst_qpn=%" PRIu32,
	       h.magic, h.version, h.flags, h.src_qpn, h.dst_qpn);
	put_hex("src_gid", h.src_gid, sizeof(h.src_gid));
	printf(" decode=%d\n", r);
}

static void do_ud(const char *hex, const char *dlen, const char *mtu)
{
	uint8_t b[RTCP_UD_HDR_LEN], *dgram;
	struct rtcp_ud_hdr h;
	size_t n;
	int r;

	if (!dlen || !mtu || unhex(hex, b, sizeof(b))) {
		printf("error bad ud request\n");
		return;
	}
	n = strtoul(dlen, NULL, 0);
	dgram = calloc(1, n > sizeof(b) ? n : sizeof(b));
	if (!dgram) {
		printf("error no memory for %zu bytes\n", n);
		return;
	}
	memcpy(dgram, b, sizeof(b));
	memset(&h, 0xa5, sizeof(h));
	r = rtcp_ud_decode(dgram, n, (uint32_t)strtoul(mtu, NULL, 0), &h);
	free(dgram);
	if (n >= RTCP_UD_HDR_LEN) {
		printf("magic=%" PRIu32 " version=%u opcode=%u mode=%u alg=%u"
		       " dst_qpn=%" PRIu32 " src_qpn=%" PRIu32 " qkey=%" PRIu32,
		       h.magic, h.version, h.opcode, h.mode, h.alg, h.dst_qpn,
		       h.src_qpn, h.qkey);
		put_hex("imm", &h.imm, sizeof(h.imm));
		printf(" len=%" PRIu32 " flags=%" PRIu32 " sid=%" PRIu64
		       " seq=%" PRIu64 " ",
		       h.len, h.flags, h.sid, h.seq);
	}
	printf("decode=%d\n", r);
}

int main(void)
{
	char line[512];

	while (fgets(line, sizeof(line), stdin)) {
		char *save, *cmd = strtok_r(line, " \t\n", &save);
		char *a = strtok_r(NULL, " \t\n", &save);
		char *b = strtok_r(NULL, " \t\n", &save);
		char *c = strtok_r(NULL, " \t\n", &save);

		if (cmd && a && !strcmp(cmd, "hdr"))
			do_hdr(a, b, c);
		else if (cmd && a && !strcmp(cmd, "hello"))
			do_hello(a);
		else if (cmd && a && !strcmp(cmd, "ud"))
			do_ud(a, b, c);
		else
			printf("error unknown request\n");
		fflush(stdout);
	}
	return 0;
}
