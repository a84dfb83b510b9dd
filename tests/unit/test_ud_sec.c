// SPDX-License-Identifier: MIT
/*
 * Unit tests of UD datagram security (providers/tcp/ud_sec.h): datagrams
 * sealed by one context's tx state and opened by another's rx state, as
 * the UD path does, through the real wire codec (rtcp_ud_decode).
 *
 * - round trips in auth and encrypt, AES-128 and AES-256, payloads of 0,
 *   1 and 1000 bytes; encrypt hides the payload, auth leaves it;
 * - every byte of header, payload and tag flipped: dropped;
 * - replay and reorder, another PSK, mode or alg mismatch, off against
 *   on: dropped; certificate devices: EOPNOTSUPP;
 * - 10,000 forged random sids allocate nothing; 10,000 genuine senders
 *   keep 256 in the cache, and an evicted sender's replay stays
 *   refused while its new datagrams pass.
 *
 * The key derivation and framing against independent implementations
 * (openssl kdf/mac, python3-cryptography) are ud_sec_cli.py's, through
 * this program's "seal" and "open" commands (see main()).
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "sec_cfg.h"
#include "tcp.h"
#include "ud_sec.h"

#include "check.h"

#define MTU    4096
#define DG_MAX (RTCP_UD_HDR_LEN + MTU + RTCP_UD_TAG_LEN)

struct dgram {
	uint8_t b[DG_MAX];
	size_t n;
};

static uint8_t psk_a[TCP_PSP_PSK_LEN], psk_b[TCP_PSP_PSK_LEN];
/* senders of the cache test: 10,000, fewer under valgrind (CMakeLists) */
static unsigned int senders = 10000;

static struct tcp_context *ctx_new(enum tcp_psp_mode mode, enum tcp_psp_alg alg,
				   const uint8_t *psk)
{
	struct tcp_context *ctx = calloc(1, sizeof(*ctx));
	struct tcp_sec_cfg *cfg = calloc(1, sizeof(*cfg));

	/* what sec_cfg.c loads at open: the PSK lives in the credential */
	ctx->psp_conf.mode = cfg->mode = mode;
	ctx->psp_conf.alg = cfg->alg = alg;
	cfg->cred.have_psk = psk != NULL;
	if (psk)
		memcpy(cfg->cred.psk, psk, TCP_PSP_PSK_LEN);
	atomic_init(&cfg->refs, 1);
	ctx->sec_cfg = cfg;
	tcp_mutex_init(&ctx->psp_lock, TCP_LOCK_RANK_PSP);
	return ctx;
}

static void ctx_free(struct tcp_context *ctx)
{
	tcp_sec_cfg_put(ctx->sec_cfg); /* the last reference wipes the PSK */
	OPENSSL_cleanse(ctx, sizeof(*ctx));
	free(ctx);
}

/* A SEND of @len bytes of @p sealed by @tx into @d; 0 or -errno. */
static int seal(struct tcp_context *ctx, struct tcp_ud_tx_sec *tx,
		const uint8_t *p, uint32_t len, struct dgram *d)
{
	struct rtcp_ud_hdr h = { .opcode = RTCP_UD_SEND,
				 .dst_qpn = 0x1234,
				 .src_qpn = 0x5678,
				 .qkey = 0x11111111,
				 .len = len };
	struct iovec v = { (void *)p, len };
	uint8_t *pay = d->b + RTCP_UD_HDR_LEN;
	int err;

	if (len)
		memcpy(pay, p, len); /* auth sends the plaintext itself */
	err = tcp_ud_seal(tx, &h, d->b, &v, 1, len, pay, pay + len);
	d->n = RTCP_UD_HDR_LEN + len +
	       (ctx->psp_conf.mode ? RTCP_UD_TAG_LEN : 0);
	return err;
}

/*
 * The receiver's path: decode, then open a copy (encrypt decrypts in
 * place). 0 and the payload in @out (may be NULL), or -EBADMSG, or 1 when
 * the codec dropped it first.
 */
static int deliver(struct tcp_context *ctx, struct tcp_ud_rx_sec *rx,
		   const struct dgram *d, uint8_t *out)
{
	struct rtcp_ud_hdr h;
	struct dgram c = *d;
	int ret;

	if (rtcp_ud_decode(c.b, c.n, MTU, &h) != RTCP_OK)
		return 1;
	ret = tcp_ud_open(rx, &h, c.b, c.b + RTCP_UD_HDR_LEN, h.len,
			  c.b + RTCP_UD_HDR_LEN + h.len);
	if (!ret && out)
		memcpy(out, c.b + RTCP_UD_HDR_LEN, h.len);
	return ret;
}

static void round_trip(enum tcp_psp_mode mode, enum tcp_psp_alg alg)
{
	static const uint32_t lens[] = { 0, 1, 1000 };
	struct tcp_context *a = ctx_new(mode, alg, psk_a);
	struct tcp_context *b = ctx_new(mode, alg, psk_a);
	struct tcp_ud_tx_sec tx;
	struct tcp_ud_rx_sec rx;
	uint8_t p[1000], got[1000];
	struct dgram d;
	unsigned int i;

	RAND_bytes(p, sizeof(p));
	CHECK(!tcp_ud_tx_init(a, &tx) && tx.sid && tx.sa);
	CHECK(!tcp_ud_rx_init(b, &rx));
	for (i = 0; i < 3; i++) {
		CHECK(!seal(a, &tx, p, lens[i], &d));
		CHECK(d.b[RTCP_UD_OFF_MODE] == mode &&
		      d.b[RTCP_UD_OFF_ALG] == alg);
		if (lens[i] == 1000)
			CHECKF(!memcmp(d.b + RTCP_UD_HDR_LEN, p, 1000) ==
				       (mode == TCP_PSP_AUTH),
			       "mode %d: payload on the wire", mode);
		memset(got, 0, sizeof(got));
		CHECKF(!deliver(b, &rx, &d, got), "mode %d alg %d len %u", mode,
		       alg, lens[i]);
		CHECK(!memcmp(got, p, lens[i]));
	}
	CHECK(tcp_ud_rx_senders(&rx) == 1);
	tcp_ud_tx_fini(&tx);
	CHECK(!tx.sa && !tx.sid);
	tcp_ud_rx_fini(&rx);
	CHECK(!rx.cache);
	ctx_free(a);
	ctx_free(b);
}

/* Every byte of a datagram flipped: never delivered; then the original is. */
static void tamper(enum tcp_psp_mode mode)
{
	struct tcp_context *a = ctx_new(mode, TCP_PSP_AES128, psk_a);
	struct tcp_ud_tx_sec tx;
	struct tcp_ud_rx_sec rx;
	struct rtcp_ud_hdr h;
	uint8_t p[64];
	struct dgram d, t;
	unsigned int i, bad = 0, codec = 0, hdr_bad = 0;
	int r;

	RAND_bytes(p, sizeof(p));
	tcp_ud_tx_init(a, &tx);
	tcp_ud_rx_init(a, &rx);
	CHECK(!seal(a, &tx, p, sizeof(p), &d));
	rtcp_ud_decode(d.b, d.n, MTU, &h);
	for (i = 0; i < d.n; i++) {
		t = d;
		t.b[i] ^= 1u << (i % 8);
		r = deliver(a, &rx, &t, NULL);
		bad += r == -EBADMSG;
		codec += r == 1;
		/* and the tag alone, the header decoded from the original */
		if (i < RTCP_UD_HDR_LEN)
			hdr_bad += tcp_ud_open(&rx, &h, t.b,
					       t.b + RTCP_UD_HDR_LEN, h.len,
					       t.b + RTCP_UD_HDR_LEN + h.len) ==
				   -EBADMSG;
	}
	CHECKF(bad + codec == d.n, "mode %d: %u of %zu flips dropped", mode,
	       bad + codec, d.n);
	CHECKF(hdr_bad == RTCP_UD_HDR_LEN, "mode %d: %u header flips", mode,
	       hdr_bad);
	CHECK(!deliver(a, &rx, &d, NULL));
	tcp_ud_tx_fini(&tx);
	tcp_ud_rx_fini(&rx);
	ctx_free(a);
}

static void replay_reorder(void)
{
	struct tcp_context *a = ctx_new(TCP_PSP_AUTH, TCP_PSP_AES128, psk_a);
	struct tcp_ud_tx_sec tx;
	struct tcp_ud_rx_sec rx;
	struct dgram d[4];
	uint8_t p[8] = "datagram";
	int i;

	tcp_ud_tx_init(a, &tx);
	tcp_ud_rx_init(a, &rx);
	for (i = 0; i < 4; i++)
		seal(a, &tx, p, sizeof(p), &d[i]);
	CHECK(!deliver(a, &rx, &d[0], NULL));
	CHECK(!deliver(a, &rx, &d[1], NULL));
	CHECK(deliver(a, &rx, &d[0], NULL) == -EBADMSG);
	CHECK(deliver(a, &rx, &d[1], NULL) == -EBADMSG);
	CHECK(!deliver(a, &rx, &d[3], NULL));
	CHECK(deliver(a, &rx, &d[2], NULL) == -EBADMSG); /* reordered */
	CHECK(deliver(a, &rx, &d[3], NULL) == -EBADMSG);
	tcp_ud_tx_fini(&tx);
	tcp_ud_rx_fini(&rx);
	ctx_free(a);
}

/* seq strictly increases even when the clock does not move between. */
static void seq_monotonic(void)
{
	struct tcp_context *a = ctx_new(TCP_PSP_AUTH, TCP_PSP_AES128, psk_a);
	struct tcp_ud_tx_sec tx;
	struct rtcp_ud_hdr h;
	uint64_t last = 0;
	struct dgram d;
	unsigned int i, up = 0;

	tcp_ud_tx_init(a, &tx);
	for (i = 0; i < 1000; i++) {
		seal(a, &tx, NULL, 0, &d);
		rtcp_ud_decode(d.b, d.n, MTU, &h);
		up += h.seq > last && h.sid == tx.sid;
		last = h.seq;
	}
	CHECK(up == 1000);
	tcp_ud_tx_fini(&tx);
	ctx_free(a);
}

/* One datagram from @txc's context to @rxc's: the open's verdict. */
static int one_way(struct tcp_context *txc, struct tcp_context *rxc)
{
	struct tcp_ud_tx_sec tx;
	struct tcp_ud_rx_sec rx;
	struct dgram d;
	uint8_t p[32] = { 0 };
	int r;

	tcp_ud_tx_init(txc, &tx);
	tcp_ud_rx_init(rxc, &rx);
	seal(txc, &tx, p, sizeof(p), &d);
	r = deliver(rxc, &rx, &d, NULL);
	if (r == -EBADMSG && tcp_ud_rx_senders(&rx))
		r = -1000; /* refused but kept: must never happen */
	tcp_ud_tx_fini(&tx);
	tcp_ud_rx_fini(&rx);
	return r;
}

static void mismatches(void)
{
	struct tcp_context *auth = ctx_new(TCP_PSP_AUTH, TCP_PSP_AES128, psk_a);
	struct tcp_context *enc =
		ctx_new(TCP_PSP_ENCRYPT, TCP_PSP_AES128, psk_a);
	struct tcp_context *a256 = ctx_new(TCP_PSP_AUTH, TCP_PSP_AES256, psk_a);
	struct tcp_context *other =
		ctx_new(TCP_PSP_AUTH, TCP_PSP_AES128, psk_b);
	struct tcp_context *off = ctx_new(TCP_PSP_OFF, TCP_PSP_AES128, NULL);
	struct tcp_context *cert = ctx_new(TCP_PSP_AUTH, TCP_PSP_AES128, NULL);
	struct tcp_ud_tx_sec tx;
	struct tcp_ud_rx_sec rx;

	CHECK(!one_way(auth, auth) && !one_way(enc, enc) && !one_way(off, off));
	CHECK(one_way(auth, other) == -EBADMSG); /* another PSK */
	CHECK(one_way(auth, enc) == -EBADMSG && one_way(enc, auth) == -EBADMSG);
	CHECK(one_way(auth, a256) == -EBADMSG &&
	      one_way(a256, auth) == -EBADMSG);
	CHECK(one_way(off, auth) == -EBADMSG); /* no downgrade */
	CHECK(one_way(auth, off) == -EBADMSG);
	CHECK(tcp_ud_sec_supported(cert) == -EOPNOTSUPP);
	CHECK(tcp_ud_tx_init(cert, &tx) == -EOPNOTSUPP && !tx.sa);
	CHECK(tcp_ud_rx_init(cert, &rx) == -EOPNOTSUPP && !rx.cache);
	CHECK(!tcp_ud_sec_supported(off) && !tcp_ud_sec_supported(auth));
	ctx_free(auth);
	ctx_free(enc);
	ctx_free(a256);
	ctx_free(other);
	ctx_free(off);
	ctx_free(cert);
}

/* Heap bytes in use; 0 where the allocator does not say (valgrind). */
static size_t heap_used(void)
{
	return mallinfo2().uordblks;
}

/* 10,000 forged sids: nothing kept, nothing allocated. */
static void flood_forged(struct tcp_context *a, struct tcp_ud_rx_sec *rx)
{
	struct tcp_ud_tx_sec tx;
	struct dgram d, t;
	unsigned int i, bad = 0;
	size_t before;
	uint8_t p[32] = { 0 };

	tcp_ud_tx_init(a, &tx);
	seal(a, &tx, p, sizeof(p), &d);
	before = heap_used();
	for (i = 0; i < senders; i++) {
		t = d;
		RAND_bytes(t.b + RTCP_UD_OFF_SID, 16); /* sid and seq */
		RAND_bytes(t.b + t.n - RTCP_UD_TAG_LEN, RTCP_UD_TAG_LEN);
		bad += deliver(a, rx, &t, NULL) == -EBADMSG;
	}
	CHECK(bad == senders);
	CHECK(tcp_ud_rx_senders(rx) == 0);
	CHECKF(heap_used() <= before + 4096, "heap %zu -> %zu", before,
	       heap_used());
	tcp_ud_tx_fini(&tx);
}

/* 10,000 genuine senders: at most 256 kept; eviction keeps replays out. */
static void flood_genuine(struct tcp_context *a, struct tcp_ud_rx_sec *rx)
{
	struct tcp_ud_tx_sec first, tx;
	struct dgram d0, d1, d;
	unsigned int i, ok = 0;
	size_t mid = 0, start = heap_used();
	uint8_t p[32] = { 0 };

	tcp_ud_tx_init(a, &first);
	seal(a, &first, p, sizeof(p), &d0);
	CHECK(!deliver(a, rx, &d0, NULL));
	for (i = 0; i < senders; i++) {
		tcp_ud_tx_init(a, &tx);
		seal(a, &tx, p, sizeof(p), &d);
		ok += !deliver(a, rx, &d, NULL);
		tcp_ud_tx_fini(&tx);
		if (i == senders / 2)
			mid = heap_used();
	}
	CHECK(ok == senders);
	CHECKF(tcp_ud_rx_senders(rx) == 256, "%u senders",
	       tcp_ud_rx_senders(rx));
	/* a full cache's memory stays put however many more senders come */
	CHECKF(heap_used() <= mid + 4096, "heap %zu -> %zu", mid, heap_used());
	if (start)
		printf("a full cache of %u senders: %zu bytes of heap\n",
		       tcp_ud_rx_senders(rx), heap_used() - start);
	CHECK(deliver(a, rx, &d0, NULL) == -EBADMSG); /* evicted, replayed */
	CHECK(deliver(a, rx, &d, NULL) == -EBADMSG);  /* cached, replayed */
	seal(a, &first, p, sizeof(p), &d1);
	CHECK(!deliver(a, rx, &d1, NULL)); /* evicted, but new: welcome */
	CHECK(deliver(a, rx, &d1, NULL) == -EBADMSG);
	tcp_ud_tx_fini(&first);
}

static void cache_bounded(void)
{
	struct tcp_context *a = ctx_new(TCP_PSP_AUTH, TCP_PSP_AES128, psk_a);
	struct tcp_ud_rx_sec rx;

	tcp_ud_rx_init(a, &rx);
	flood_forged(a, &rx);
	flood_genuine(a, &rx);
	tcp_ud_rx_fini(&rx);
	ctx_free(a);
}

static int run_tests(void)
{
	enum tcp_psp_mode m;

	if (getenv("UD_SEC_SENDERS"))
		senders = (unsigned int)atoi(getenv("UD_SEC_SENDERS"));
	RAND_bytes(psk_a, sizeof(psk_a));
	RAND_bytes(psk_b, sizeof(psk_b));
	for (m = TCP_PSP_AUTH; m <= TCP_PSP_ENCRYPT; m++) {
		round_trip(m, TCP_PSP_AES128);
		round_trip(m, TCP_PSP_AES256);
		tamper(m);
	}
	replay_reorder();
	seq_monotonic();
	mismatches();
	cache_bounded();
	return check_report();
}

/* Hex string to bytes; the count, or -1 if it is not @max bytes of hex. */
static int unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;
	unsigned int b;

	while (n < max && s[0] && s[1] && sscanf(s, "%2x", &b) == 1) {
		out[n++] = (uint8_t)b;
		s += 2;
	}
	return n == max && !*s ? (int)n : -1;
}

/*
 * For ud_sec_cli.py:
 *   seal PSK MODE ALG FILE   a datagram carrying FILE's bytes, to stdout
 *   open PSK MODE ALG FILE   FILE's datagram opened by a fresh receiver:
 *                            the payload in hex, or "EBADMSG" (exit 1)
 * PSK 64 hex digits, MODE auth|encrypt, ALG 128|256.
 */
static int cli(int argc, char **argv)
{
	uint8_t psk[TCP_PSP_PSK_LEN], in[DG_MAX];
	struct tcp_context *ctx;
	struct tcp_ud_tx_sec tx;
	struct tcp_ud_rx_sec rx;
	struct dgram d;
	FILE *f;
	size_t n, i;
	int ret = 2;

	if (argc != 6 || unhex(argv[2], psk, sizeof(psk)) < 0 ||
	    !(f = fopen(argv[5], "rb")))
		return 2;
	n = fread(in, 1, sizeof(in), f);
	fclose(f);
	ctx = ctx_new(
		strcmp(argv[3], "encrypt") ? TCP_PSP_AUTH : TCP_PSP_ENCRYPT,
		strcmp(argv[4], "256") ? TCP_PSP_AES128 : TCP_PSP_AES256, psk);
	if (!strcmp(argv[1], "seal") && n <= MTU && !tcp_ud_tx_init(ctx, &tx)) {
		ret = seal(ctx, &tx, in, (uint32_t)n, &d) ? 1 : 0;
		fwrite(d.b, 1, d.n, stdout);
		tcp_ud_tx_fini(&tx);
	} else if (!strcmp(argv[1], "open") && !tcp_ud_rx_init(ctx, &rx)) {
		memcpy(d.b, in, n);
		d.n = n;
		ret = deliver(ctx, &rx, &d, in) ? 1 : 0;
		for (i = 0; !ret && i < n - RTCP_UD_HDR_LEN - RTCP_UD_TAG_LEN;
		     i++)
			printf("%02x", in[i]);
		printf("%s\n", ret ? "EBADMSG" : "");
		tcp_ud_rx_fini(&rx);
	}
	ctx_free(ctx);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return cli(argc, argv);
	return run_tests();
}
