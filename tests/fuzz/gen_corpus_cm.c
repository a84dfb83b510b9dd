// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpus of the CM fuzz target (fuzz_cm.c):
 *
 *   fuzz_gen_corpus_cm DIR
 *
 * Each file is 2 bytes of read-size seed, then a CM byte stream made
 * with rtcp_cm_encode (cm_msg.c): both directions of a connection's life
 * (REQ with the most private data, REP, RTU, DREQ, DREP), a reject with
 * private data, a UD id's SIDR_REQ and SIDR_REP, a routing prefix before a
 * REQ, and broken streams (bad magic, version, length over the
 * limit, private data over the limit or beyond the body, an RTU with a
 * body, an unknown type, a message cut short). The files under
 * tests/fuzz/corpus-cm/ were made with it; rerun after a change of
 * cm_proto.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cm_proto.h"

static const char *dir;
static uint8_t buf[4096];
static size_t n;

static void start(uint16_t seed)
{
	buf[0] = seed >> 8;
	buf[1] = seed & 0xff;
	n = 2;
}

static uint8_t *msg(uint8_t type, const void *body, size_t len)
{
	uint8_t *at = buf + n;

	rtcp_cm_encode(at, type, body, len);
	n += RTCP_CM_HDR_LEN + len;
	return at;
}

static struct rtcp_cm_req req(uint8_t plen)
{
	struct rtcp_cm_req r;
	int i;

	memset(&r, 0, sizeof(r));
	r.gid[10] = r.gid[11] = 0xff;
	r.gid[12] = 127;
	r.gid[15] = 1;
	r.qpn = htonl(0xc35001);
	r.psn = htonl(0x123456);
	r.responder_resources = 16;
	r.initiator_depth = 16;
	r.retry_count = 7;
	r.rnr_retry_count = 7;
	r.qp_type = 2; /* IBV_QPT_RC */
	r.tos = 0xb8;  /* DSCP EF */
	r.pdata_len = plen;
	for (i = 0; i < plen; i++)
		r.pdata[i] = (uint8_t)(0xa0 + i);
	return r;
}

static struct rtcp_cm_rep rep(uint8_t plen)
{
	struct rtcp_cm_rep r;
	int i;

	memset(&r, 0, sizeof(r));
	r.qpn = htonl(0xc36002);
	r.psn = htonl(0x654321);
	r.responder_resources = 16;
	r.initiator_depth = 16;
	r.rnr_retry_count = 7;
	r.pdata_len = plen;
	for (i = 0; i < plen; i++)
		r.pdata[i] = (uint8_t)i;
	return r;
}

/* A SIDR_REQ with @qlen bytes of private data and a SIDR_REP with
 * @plen and @status; the REQ claims @extra bytes more than it has. */
static int sidr(uint8_t qlen, uint8_t plen, uint8_t status, uint8_t extra)
{
	struct rtcp_cm_sidr_req q;
	struct rtcp_cm_sidr_rep p;

	memset(&q, 0, sizeof(q));
	q.gid[10] = q.gid[11] = 0xff;
	q.gid[12] = 127;
	q.gid[15] = 1;
	q.ps = htons(0x0111); /* RDMA_PS_UDP */
	q.pdata_len = qlen + extra;
	memset(q.pdata, 0x3c, qlen);
	msg(RTCP_CM_SIDR_REQ, &q, RTCP_CM_SIDR_REQ_FIXED + qlen);
	memset(&p, 0, sizeof(p));
	p.status = status;
	if (status == RTCP_SIDR_SUCCESS) {
		p.qpn = htonl(0xc37003);
		p.qkey = htonl(0x01234567);
	}
	p.pdata_len = plen;
	memset(p.pdata, 0xc3, plen);
	msg(RTCP_CM_SIDR_REP, &p, RTCP_CM_SIDR_REP_FIXED + plen);
	return 0;
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

int main(int argc, char **argv)
{
	struct rtcp_cm_req rq;
	struct rtcp_cm_rep rp;
	struct rtcp_cm_rej rj;
	uint8_t *m;
	int rc = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];

	/* what the passive side reads: REQ (full private data), RTU, DREQ */
	start(0x0101);
	rq = req(RTCP_CM_REQ_PDATA_MAX);
	msg(RTCP_CM_REQ, &rq, RTCP_CM_REQ_FIXED + rq.pdata_len);
	msg(RTCP_CM_RTU, NULL, 0);
	msg(RTCP_CM_DREQ, NULL, 0);
	rc |= put("passive_life");

	/* what an accepted control connection carries: the routing prefix
	 * (cm_route.c), then a REQ */
	start(0x0c0d);
	{
		struct rtcp_route r = { .ps = 0x0106,
					.dport = htons(7611),
					.sport = htons(40000) };

		rtcp_route_encode(buf + n, &r);
		n += RTCP_ROUTE_LEN;
	}
	rq = req(8);
	msg(RTCP_CM_REQ, &rq, RTCP_CM_REQ_FIXED + rq.pdata_len);
	rc |= put("routed_req");

	/* what the active side reads: REP (full private data), DREQ, DREP */
	start(0x2222);
	rp = rep(RTCP_CM_REP_PDATA_MAX);
	msg(RTCP_CM_REP, &rp, RTCP_CM_REP_FIXED + rp.pdata_len);
	msg(RTCP_CM_DREQ, NULL, 0);
	msg(RTCP_CM_DREP, NULL, 0);
	rc |= put("active_life");

	/* REQ with no private data, REP with some */
	start(0x0303);
	rq = req(0);
	msg(RTCP_CM_REQ, &rq, RTCP_CM_REQ_FIXED);
	rp = rep(13);
	msg(RTCP_CM_REP, &rp, RTCP_CM_REP_FIXED + 13);
	rc |= put("req_rep_small");

	/* a consumer reject with private data */
	start(0x4444);
	memset(&rj, 0, sizeof(rj));
	rj.reason = htons(RTCP_CM_REJ_CONSUMER);
	rj.pdata_len = 20;
	memset(rj.pdata, 0x77, 20);
	msg(RTCP_CM_REJ, &rj, RTCP_CM_REJ_FIXED + 20);
	rc |= put("rej_pdata");

	/* bad headers: magic, version, length over RTCP_CM_MAX_BODY */
	start(0x0505);
	msg(RTCP_CM_RTU, NULL, 0);
	m = msg(RTCP_CM_DREQ, NULL, 0);
	m[0] ^= 1;
	rc |= put("bad_magic");
	start(0x0606);
	m = msg(RTCP_CM_RTU, NULL, 0);
	m[4] = RTCP_CM_VERSION - 1; /* a peer of the contract before */
	rc |= put("bad_version");
	start(0x0707);
	rp = rep(RTCP_CM_REP_PDATA_MAX);
	m = msg(RTCP_CM_REP, &rp, RTCP_CM_REP_FIXED + rp.pdata_len);
	m[7]++; /* one byte over the largest body */
	rc |= put("len_over_max");

	/* well-framed bodies that break their type's rules */
	start(0x0808);
	rq = req(RTCP_CM_REQ_PDATA_MAX);
	rq.pdata_len = RTCP_CM_REQ_PDATA_MAX + 1;
	msg(RTCP_CM_REQ, &rq, RTCP_CM_REQ_FIXED + RTCP_CM_REQ_PDATA_MAX);
	rc |= put("req_pdata_over_limit");
	start(0x0909);
	rp = rep(40);
	msg(RTCP_CM_REP, &rp, RTCP_CM_REP_FIXED + 20);
	rc |= put("rep_pdata_beyond_body");
	start(0x0a0a);
	rj.pdata_len = 200;
	msg(RTCP_CM_REJ, &rj, RTCP_CM_REJ_FIXED + 20);
	rc |= put("rej_pdata_beyond_body");
	start(0x0b0b);
	rq = req(0);
	msg(RTCP_CM_RTU, &rq, 8);
	msg(9, NULL, 0);
	msg(0, NULL, 0);
	rc |= put("rtu_body_unknown_types");

	/* SIDR: the most private data each way, a reject, and a SIDR_REQ
	 * whose private data runs past its body */
	start(0x0d0d);
	rc |= sidr(RTCP_CM_SIDR_REQ_PDATA_MAX, RTCP_CM_SIDR_REP_PDATA_MAX,
		   RTCP_SIDR_SUCCESS, 0);
	rc |= put("sidr_life");
	start(0x0e0e);
	rc |= sidr(0, 9, RTCP_SIDR_REJECT, 0);
	rc |= put("sidr_reject");
	start(0x0f0f);
	rc |= sidr(12, 0, RTCP_SIDR_SUCCESS, 30);
	rc |= put("sidr_pdata_beyond_body");

	/* a REQ cut short: the peer left mid-message */
	start(0x0c0c);
	rq = req(30);
	msg(RTCP_CM_REQ, &rq, RTCP_CM_REQ_FIXED + 30);
	n -= 17;
	rc |= put("req_cut_short");
	return rc;
}
