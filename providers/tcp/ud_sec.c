// SPDX-License-Identifier: MIT
/*
 * Security of UD datagrams (ud_sec.h; docs/design.md, "UD datagram
 * security"). A UD datagram has no handshake, so its key comes from what
 * every user of the device already shares, the pre-shared key:
 *
 *   key = HKDF-SHA256(IKM = PSK, salt = "rdma-tcp ud v1",
 *                     info = mode(1) || alg(1) || sid(8, big-endian))
 *
 * 16 or 32 bytes by alg (RFC 5869, OpenSSL's EVP_KDF "HKDF"). The sid is
 * 64 random bits drawn per sending QP, so every sender has a key of its
 * own. Sealing and opening are psp.c's SAs unchanged: the SA's SPI is the
 * sid's low 32 bits (never 0) and the IV the datagram's seq, so the nonce
 * is low32(sid) || seq. The header (48 bytes) is the AAD; the payload is
 * authenticated (auth, GMAC) or encrypted (encrypt, GCM).
 *
 * Nonces never repeat under a key: a key belongs to one sid, a sid to one
 * tx state (a fresh draw per QP; two QPs drawing the same 64-bit sid is
 * the birthday bound, n^2 / 2^65 for n QPs under one PSK), and a tx state's
 * seq strictly increases (tcp_ud_seal takes it before sealing and refuses
 * to wrap).
 *
 * seq is the sender's CLOCK_REALTIME in nanoseconds, or the last seq + 1
 * when the clock has not moved past it. The receiver needs no clock; the
 * time only lets it refuse replays of senders it has forgotten (below).
 *
 * The receiver keeps up to UD_SLOTS senders (sid -> keyed SA, last seq
 * accepted). A sender enters only once a datagram of it verified, so a
 * flood of forged sids allocates nothing and evicts nobody: each costs one
 * HKDF and one tag check on the spare SA. When a genuine newcomer finds
 * the cache full, the sender least recently heard from is evicted and its
 * last seq raises the low-water mark; a sid not in the cache is accepted
 * only with a seq above that mark, so an evicted sender's old datagrams,
 * replayed, stay refused (their seqs are at most its last one).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "sec_cfg.h"
#include "tcp.h"
#include "ud_sec.h"

#define UD_KDF_SALT "rdma-tcp ud v1"
#define UD_INFO_LEN 10
#define UD_SLOTS    256
#define UD_BUCKETS  128 /* a power of two */
#define UD_NONE	    (-1)

struct ud_sender {
	uint64_t sid;
	uint64_t last; /* seq last accepted */
	uint64_t used; /* the cache's tick when last accepted: LRU */
	int next;      /* the next sender in its bucket, or UD_NONE */
	struct tcp_psp_sa sa;
};

struct ud_cache {
	int bucket[UD_BUCKETS];	 /* first sender of each chain */
	unsigned int n;		 /* senders in use: s[0 .. n) */
	uint64_t tick;		 /* datagrams accepted */
	uint64_t low_water;	 /* highest last seq of an evicted sender */
	struct tcp_psp_sa spare; /* a newcomer's SA until its tag checks */
	struct ud_sender s[UD_SLOTS];
};

static bool ud_on(const struct tcp_sec_cfg *cfg)
{
	return cfg && cfg->mode != TCP_PSP_OFF;
}

/* sid 0 means "off" and an SPI of 0 "no SA": neither names a key. */
static bool sid_ok(uint64_t sid)
{
	return (uint32_t)sid != 0;
}

/* The HKDF of the file comment into @key (tcp_psp_key_len bytes). */
static int ud_derive(const uint8_t psk[TCP_PSP_PSK_LEN], enum tcp_psp_mode mode,
		     enum tcp_psp_alg alg, uint64_t sid, uint8_t *key)
{
	char digest[] = "SHA256", salt[] = UD_KDF_SALT;
	uint8_t info[UD_INFO_LEN];
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest,
						 0),
		/* derive only reads them: the casts drop nothing */
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						  (void *)psk, TCP_PSP_PSK_LEN),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt,
						  sizeof(salt) - 1),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
						  sizeof(info)),
		OSSL_PARAM_construct_end(),
	};
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *k = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	int i, ret = -1;

	info[0] = (uint8_t)mode;
	info[1] = (uint8_t)alg;
	for (i = 0; i < 8; i++)
		info[2 + i] = (uint8_t)(sid >> (56 - 8 * i));
	if (k && EVP_KDF_derive(k, key, tcp_psp_key_len(alg), p) == 1)
		ret = 0;
	else
		OPENSSL_cleanse(key, tcp_psp_key_len(alg));
	EVP_KDF_CTX_free(k); /* HKDF's free wipes its copy of the PSK */
	EVP_KDF_free(kdf);
	return ret;
}

/* @sa keyed for @sid under the configuration's PSK, mode and alg. */
static int ud_sa_new(const struct tcp_sec_cfg *c, uint64_t sid,
		     struct tcp_psp_sa *sa)
{
	uint8_t key[TCP_PSP_KEY_MAX];
	int ret = -1;

	if (!ud_derive(c->cred.psk, c->mode, c->alg, sid, key))
		ret = tcp_psp_sa_init(sa, c->mode, c->alg, (uint32_t)sid, key)
			      ? -1
			      : 0;
	OPENSSL_cleanse(key, sizeof(key));
	return ret;
}

/* certificates authenticate handshakes; UD has none to carry them */
static int cfg_supported(const struct tcp_sec_cfg *cfg)
{
	return ud_on(cfg) && !cfg->cred.have_psk ? -EOPNOTSUPP : 0;
}

int tcp_ud_sec_supported(struct tcp_context *ctx)
{
	struct tcp_sec_cfg *cfg = tcp_sec_cfg_get(ctx);
	int err = cfg_supported(cfg);

	tcp_sec_cfg_put(cfg);
	return err;
}

/*
 * A UD QP keeps the configuration current at its creation for its life,
 * as a connection keeps the one it started with (sec_cfg.h). The *_cfg
 * initialisers take over the caller's reference to @cfg, also on error.
 */
static int tx_init_cfg(struct tcp_sec_cfg *cfg, struct tcp_ud_tx_sec *tx)
{
	struct tcp_psp_sa *sa;
	uint64_t sid = 0;
	int err, tries;

	memset(tx, 0, sizeof(*tx));
	err = cfg_supported(cfg);
	if (err) {
		tcp_sec_cfg_put(cfg);
		return err;
	}
	tx->cfg = cfg;
	if (!ud_on(cfg))
		return 0;
	/* an unusable draw has odds 2^-31: a few tries are plenty */
	for (tries = 0; tries < 8 && !sid_ok(sid); tries++)
		if (RAND_bytes((unsigned char *)&sid, sizeof(sid)) != 1)
			return -EIO;
	sa = calloc(1, sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	if (!sid_ok(sid) || ud_sa_new(cfg, sid, sa)) {
		free(sa);
		return -EIO;
	}
	tx->sid = sid;
	tx->sa = sa;
	return 0;
}

static int rx_init_cfg(struct tcp_sec_cfg *cfg, struct tcp_ud_rx_sec *rx)
{
	struct ud_cache *c;
	int err, i;

	memset(rx, 0, sizeof(*rx));
	err = cfg_supported(cfg);
	if (err) {
		tcp_sec_cfg_put(cfg);
		return err;
	}
	rx->cfg = cfg;
	if (!ud_on(cfg))
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (i = 0; i < UD_BUCKETS; i++)
		c->bucket[i] = UD_NONE;
	rx->cache = c;
	return 0;
}

int tcp_ud_tx_init(struct tcp_context *ctx, struct tcp_ud_tx_sec *tx)
{
	return tx_init_cfg(tcp_sec_cfg_get(ctx), tx);
}

int tcp_ud_rx_init(struct tcp_context *ctx, struct tcp_ud_rx_sec *rx)
{
	return rx_init_cfg(tcp_sec_cfg_get(ctx), rx);
}

int tcp_ud_sec_init(struct tcp_context *ctx, struct tcp_ud_tx_sec *tx,
		    struct tcp_ud_rx_sec *rx)
{
	struct tcp_sec_cfg *cfg = tcp_sec_cfg_get(ctx);
	int err;

	atomic_fetch_add(&cfg->refs, 1); /* one for each half */
	err = tx_init_cfg(cfg, tx);
	if (err) {
		tcp_sec_cfg_put(cfg);
		memset(rx, 0, sizeof(*rx));
		return err;
	}
	return rx_init_cfg(cfg, rx);
}

void tcp_ud_tx_fini(struct tcp_ud_tx_sec *tx)
{
	if (tx->sa) {
		tcp_psp_sa_clear(tx->sa); /* frees the cipher, wipes the key */
		free(tx->sa);
	}
	tcp_sec_cfg_put(tx->cfg);
	memset(tx, 0, sizeof(*tx));
}

void tcp_ud_rx_fini(struct tcp_ud_rx_sec *rx)
{
	struct ud_cache *c = rx->cache;
	unsigned int i;

	if (c) {
		for (i = 0; i < c->n; i++)
			tcp_psp_sa_clear(&c->s[i].sa);
		tcp_psp_sa_clear(&c->spare);
		OPENSSL_clear_free(c, sizeof(*c));
	}
	tcp_sec_cfg_put(rx->cfg);
	memset(rx, 0, sizeof(*rx));
}

unsigned int tcp_ud_rx_senders(const struct tcp_ud_rx_sec *rx)
{
	const struct ud_cache *c = rx->cache;

	return c ? c->n : 0;
}

/* The next seq: the clock, or one past the last if the clock lags. */
static int next_seq(struct tcp_ud_tx_sec *tx, uint64_t *seq)
{
	struct timespec ts;
	uint64_t now = 0;

	if (tx->seq == UINT64_MAX)
		return -EOVERFLOW; /* a nonce would repeat: never reached */
	if (!clock_gettime(CLOCK_REALTIME, &ts) && ts.tv_sec >= 0)
		now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	*seq = now > tx->seq ? now : tx->seq + 1;
	return 0;
}

int tcp_ud_seal(struct tcp_ud_tx_sec *tx, struct rtcp_ud_hdr *h,
		uint8_t hdr_wire[RTCP_UD_HDR_LEN], const struct iovec *iov,
		int niov, uint32_t len, uint8_t *out,
		uint8_t tag[RTCP_UD_TAG_LEN])
{
	struct tcp_psp_sa *sa = tx->sa;
	uint64_t seq;
	int err;

	if (!ud_on(tx->cfg)) {
		h->mode = TCP_PSP_OFF;
		h->alg = 0;
		h->sid = 0;
		h->seq = 0;
		rtcp_ud_encode(h, hdr_wire);
		return 0;
	}
	if (!sa)
		return -EINVAL;
	err = next_seq(tx, &seq);
	if (err)
		return err;
	/* used from here on, whatever happens: a seq is never sealed twice */
	tx->seq = seq;
	h->mode = (uint8_t)sa->mode;
	h->alg = (uint8_t)sa->alg;
	h->sid = tx->sid;
	h->seq = seq;
	rtcp_ud_encode(h, hdr_wire);
	if (tcp_psp_seal(sa, sa->mode, seq, hdr_wire, RTCP_UD_HDR_LEN, iov,
			 niov, len, out, tag))
		return -EIO;
	return 0;
}

static unsigned int bucket_of(uint64_t sid)
{
	/* Fibonacci hashing: the top bits of sid times 2^64 / phi */
	return (unsigned int)((sid * 0x9e3779b97f4a7c15ull) >> 57) &
	       (UD_BUCKETS - 1);
}

static struct ud_sender *find(struct ud_cache *c, uint64_t sid)
{
	int i;

	for (i = c->bucket[bucket_of(sid)]; i != UD_NONE; i = c->s[i].next)
		if (c->s[i].sid == sid)
			return &c->s[i];
	return NULL;
}

/* Takes sender @i out of its bucket's chain. */
static void unlink_sender(struct ud_cache *c, int i)
{
	int *p = &c->bucket[bucket_of(c->s[i].sid)];

	while (*p != i)
		p = &c->s[*p].next;
	*p = c->s[i].next;
}

/*
 * A slot for a newcomer: a free one, or the least recently heard-from
 * sender's, evicted (key wiped, its last seq raising the low-water mark).
 */
static int slot_take(struct ud_cache *c)
{
	unsigned int i, lru = 0;

	if (c->n < UD_SLOTS)
		return (int)c->n++;
	for (i = 1; i < UD_SLOTS; i++)
		if (c->s[i].used < c->s[lru].used)
			lru = i;
	unlink_sender(c, (int)lru);
	if (c->s[lru].last > c->low_water)
		c->low_water = c->s[lru].last;
	tcp_psp_sa_clear(&c->s[lru].sa);
	return (int)lru;
}

/*
 * A sid not in the cache: keyed on the spare SA, kept only if its tag
 * checks. Replays of evicted senders stop at the low-water mark, before
 * any key is derived.
 */
static int newcomer(const struct tcp_sec_cfg *cfg, struct ud_cache *c,
		    const struct rtcp_ud_hdr *h, const uint8_t *hdr_wire,
		    uint8_t *payload, uint32_t len, const uint8_t *tag)
{
	struct ud_sender *s;
	int i;

	if (h->seq <= c->low_water || ud_sa_new(cfg, h->sid, &c->spare) ||
	    tcp_psp_open(&c->spare, c->spare.mode, h->seq, hdr_wire,
			 RTCP_UD_HDR_LEN, payload, len, tag)) {
		tcp_psp_sa_clear(&c->spare);
		return -EBADMSG;
	}
	i = slot_take(c);
	s = &c->s[i];
	s->sa = c->spare; /* the keyed cipher moves; the spare's copy goes */
	OPENSSL_cleanse(&c->spare, sizeof(c->spare));
	s->sid = h->sid;
	s->last = h->seq;
	s->used = ++c->tick;
	s->next = c->bucket[bucket_of(h->sid)];
	c->bucket[bucket_of(h->sid)] = i;
	return 0;
}

int tcp_ud_open(struct tcp_ud_rx_sec *rx, const struct rtcp_ud_hdr *h,
		const uint8_t hdr_wire[RTCP_UD_HDR_LEN], uint8_t *payload,
		uint32_t len, const uint8_t tag[RTCP_UD_TAG_LEN])
{
	const struct tcp_sec_cfg *conf = rx->cfg;
	struct ud_cache *c = rx->cache;
	struct ud_sender *s;

	if (!ud_on(conf))
		return h->mode == TCP_PSP_OFF && !h->alg ? 0 : -EBADMSG;
	/* no downgrade, no other algorithm: the context's, or nothing */
	if (!c || h->mode != conf->mode || h->alg != conf->alg ||
	    !sid_ok(h->sid) || !h->seq)
		return -EBADMSG;
	s = find(c, h->sid);
	if (!s)
		return newcomer(conf, c, h, hdr_wire, payload, len, tag);
	/* a replay or a reordered datagram: refused before any AES work */
	if (h->seq <= s->last ||
	    tcp_psp_open(&s->sa, s->sa.mode, h->seq, hdr_wire, RTCP_UD_HDR_LEN,
			 payload, len, tag))
		return -EBADMSG;
	s->last = h->seq;
	s->used = ++c->tick;
	return 0;
}
