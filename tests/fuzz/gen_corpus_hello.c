// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpus of the hello fuzz target (fuzz_hello.c):
 *
 *   fuzz_gen_corpus_hello DIR
 *
 * One file per outcome the accepting side can reach: a hello that binds,
 * one that waits for RTR, and one turned away for each reason (magic,
 * version, unknown QPN, failed QP, busy QP, wrong source QPN, unknown or
 * wrong peer address), plus a listener with four QPs and a sequence of
 * hellos, one of them a second hello for a QP already bound. The files
 * under tests/fuzz/corpus-hello/ were made with it; rerun after a change
 * of the hello or of the input layout.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rdma_tcp/wire.h>

#define F_FAILED  1
#define F_BEFORE  2
#define F_BUSY	  4
#define P_UNKNOWN 1
#define P_DGID	  2

static const char *dir;
static uint8_t buf[1024];
static size_t n;

/* 127.0.0.1 and 127.0.0.2 as IPv4-mapped GIDs */
static const uint8_t gid_a[16] = {
	[10] = 0xff, [11] = 0xff, [12] = 127, [15] = 1
};
static const uint8_t gid_b[16] = {
	[10] = 0xff, [11] = 0xff, [12] = 127, [15] = 2
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void start(int nqp)
{
	buf[0] = (uint8_t)(nqp - 1);
	n = 1;
}

static void qp(uint8_t flags, uint32_t qpn, uint32_t dest_qpn,
	       const uint8_t *dgid)
{
	buf[n] = flags;
	put32(buf + n + 1, qpn);
	put32(buf + n + 5, dest_qpn);
	memcpy(buf + n + 9, dgid, 16);
	n += 25;
}

/* a connection: its hello, then the peer's address */
static uint8_t *conn(uint32_t src, uint32_t dst, uint8_t peer,
		     const uint8_t *addr)
{
	struct rtcp_hello h = { .src_qpn = src, .dst_qpn = dst };
	uint8_t *at = buf + n;

	memcpy(h.src_gid, gid_a, 16);
	rtcp_hello_encode(&h, at);
	at[RTCP_HELLO_LEN] = peer;
	memcpy(at + RTCP_HELLO_LEN + 1, addr, 16);
	n += RTCP_HELLO_LEN + 17;
	return at;
}

static int put(const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, n, f) != n || fclose(f)) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

/* one QP (number 0xc35001, told peer 0x100 at 127.0.0.1), one hello */
static int one(const char *name, uint8_t flags, uint32_t src, uint32_t dst,
	       uint8_t peer, const uint8_t *addr, int spoil)
{
	uint8_t *h;

	start(1);
	qp(flags, 0xc35001, 0x100, gid_a);
	h = conn(src, dst, peer, addr);
	if (spoil >= 0)
		h[spoil] ^= 0x40;
	return put(name);
}

int main(int argc, char **argv)
{
	int rc = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	rc |= one("bind", 0, 0x100, 0xc35001, 0, gid_a, -1);
	rc |= one("bind_peer_is_dgid", 0, 0x100, 0xc35001, P_DGID, gid_b, -1);
	rc |= one("wait_before_rtr", F_BEFORE, 0x100, 0xc35001, 0, gid_a, -1);
	rc |= one("reject_magic", 0, 0x100, 0xc35001, 0, gid_a, 0);
	rc |= one("reject_version", 0, 0x100, 0xc35001, 0, gid_a, 5);
	rc |= one("reject_unknown_qpn", 0, 0x100, 0xc35002, 0, gid_a, -1);
	rc |= one("reject_failed", F_FAILED | F_BEFORE, 0x100, 0xc35001, 0,
		  gid_a, -1);
	rc |= one("reject_busy", F_BUSY, 0x100, 0xc35001, 0, gid_a, -1);
	rc |= one("reject_src_qpn", 0, 0x101, 0xc35001, 0, gid_a, -1);
	rc |= one("reject_peer_unknown", 0, 0x100, 0xc35001, P_UNKNOWN, gid_a,
		  -1);
	rc |= one("reject_peer_addr", 0, 0x100, 0xc35001, 0, gid_b, -1);

	/* four QPs behind one listener (port 50000), five connections */
	start(4);
	qp(0, 0xc35000, 0x200, gid_a);
	qp(F_BEFORE, 0xc35001, 0x201, gid_a);
	qp(0, 0xc35002, 0x202, gid_b);
	qp(F_FAILED, 0xc350ff, 0x2ff, gid_a);
	conn(0x200, 0xc35000, 0, gid_a);      /* binds */
	conn(0x200, 0xc35000, 0, gid_a);      /* again: already bound */
	conn(0x201, 0xc35001, 0, gid_a);      /* waits */
	conn(0x202, 0xc35002, P_DGID, gid_a); /* binds */
	conn(0x2ff, 0xc350ff, 0, gid_a);      /* failed QP */
	rc |= put("listener_sequence");
	return rc;
}
