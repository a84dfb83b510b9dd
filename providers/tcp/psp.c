// SPDX-License-Identifier: MIT
/*
 * PSP-style security associations: device keys, the PSP key derivation,
 * and sealing/opening frame pieces with AES-GCM / AES-GMAC (psp.h has the
 * contract and the frame layout). OpenSSL's EVP interface only.
 *
 * An SA keys one EVP_CIPHER_CTX once (the AES key schedule and the GHASH
 * tables are the expensive part); every call then only sets the nonce and
 * the direction, which OpenSSL's GCM implementation does without
 * re-keying. So the data path allocates nothing and derives nothing.
 *
 * What is left per tag is EVP's parameter handling: in OpenSSL 3.0 every
 * re-init with a nonce asks the provider for the IV length, and every
 * tag goes in or out as a named parameter -- each a string search through
 * the provider's parameter names, which costs as much as hashing a small
 * frame. An open therefore sets nonce and expected tag in one parameter
 * call: PSP's nonce is a fixed field (the SPI) and an invocation field
 * (the IV), exactly the split OpenSSL's GCM offers for TLS records --
 * "tlsivfixed" once, when the SA starts opening, then "tlsivinv" (the
 * invocation field, decryption only) with the tag, per open.
 * An SA is one cipher context: calls on one SA must not overlap (each
 * direction's SA belongs to the thread sending or receiving it).
 */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "psp.h"

#define PSP_NONCE_LEN 12
/* EVP's update takes an int length: feed longer runs in steps */
#define PSP_EVP_STEP (1u << 30)
/* distinct non-zero values of an SPI's low 31 bits */
#define PSP_SPI_MAX (TCP_PSP_SPI_KEY_BIT - 1)
/* auth frames up to this size (header included) are hashed in one go */
#define PSP_SMALL 256

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static bool mode_valid(enum tcp_psp_mode m)
{
	return m == TCP_PSP_AUTH || m == TCP_PSP_ENCRYPT;
}

static bool alg_valid(enum tcp_psp_alg a)
{
	return a == TCP_PSP_AES128 || a == TCP_PSP_AES256;
}

int tcp_psp_dev_init(struct tcp_psp_dev *d)
{
	memset(d, 0, sizeof(*d));
	if (RAND_priv_bytes(&d->master[0][0], sizeof(d->master)) != 1 ||
	    RAND_bytes((unsigned char *)&d->spi_base, sizeof(d->spi_base)) !=
		    1) {
		tcp_psp_dev_wipe(d);
		return EIO;
	}
	return 0;
}

int tcp_psp_dev_rotate(struct tcp_psp_dev *d)
{
	uint8_t fresh[TCP_PSP_MASTER_LEN];
	unsigned int slot = (d->gen + 1) & 1;

	/* into a scratch first: a failed draw leaves both keys valid */
	if (RAND_priv_bytes(fresh, sizeof(fresh)) != 1) {
		OPENSSL_cleanse(fresh, sizeof(fresh));
		return EIO;
	}
	memcpy(d->master[slot], fresh, sizeof(fresh));
	OPENSSL_cleanse(fresh, sizeof(fresh));
	d->gen++;
	return 0;
}

void tcp_psp_dev_wipe(struct tcp_psp_dev *d)
{
	OPENSSL_cleanse(d->master, sizeof(d->master));
}

/* PSP's KDF input block for one counter value (psp.h). */
static void kdf_block(uint8_t b[16], uint32_t counter, uint32_t spi,
		      enum tcp_psp_alg alg)
{
	unsigned int bits = alg == TCP_PSP_AES256 ? 256 : 128;

	put_be32(b, counter);
	b[4] = 'P';
	b[5] = 'v';
	b[6] = alg == TCP_PSP_AES256 ? '1' : '0';
	b[7] = 0;
	put_be32(b + 8, spi);
	b[12] = 0;
	b[13] = 0;
	b[14] = bits >> 8;
	b[15] = bits & 0xff;
}

/* One CMAC block per 16 key bytes, the MAC keyed once for both. */
static int cmac_blocks(EVP_MAC_CTX *m, const uint8_t *master, uint32_t spi,
		       enum tcp_psp_alg alg, uint8_t *key)
{
	char cipher[] = "AES-256-CBC";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher,
						 0),
		OSSL_PARAM_construct_end(),
	};
	size_t n = tcp_psp_key_len(alg) / 16, outl;
	uint8_t block[16];
	uint32_t i;

	if (EVP_MAC_init(m, master, TCP_PSP_MASTER_LEN, params) != 1)
		return -1;
	for (i = 0; i < n; i++) {
		kdf_block(block, i + 1, spi, alg);
		/* re-init with no key restarts the MAC under the same key */
		if ((i && EVP_MAC_init(m, NULL, 0, NULL) != 1) ||
		    EVP_MAC_update(m, block, sizeof(block)) != 1 ||
		    EVP_MAC_final(m, key + 16 * i, &outl, 16) != 1 ||
		    outl != 16)
			return -1;
	}
	return 0;
}

int tcp_psp_derive(const uint8_t master[TCP_PSP_MASTER_LEN], uint32_t spi,
		   enum tcp_psp_alg alg, uint8_t *key)
{
	EVP_MAC *mac;
	EVP_MAC_CTX *m = NULL;
	int ret = -1;

	if (!alg_valid(alg))
		return -1;
	mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
	if (mac)
		m = EVP_MAC_CTX_new(mac);
	if (m)
		ret = cmac_blocks(m, master, spi, alg, key);
	if (ret)
		OPENSSL_cleanse(key, tcp_psp_key_len(alg));
	EVP_MAC_CTX_free(m); /* CMAC's free wipes its key state */
	EVP_MAC_free(mac);
	return ret;
}

int tcp_psp_dev_new_rx(struct tcp_psp_dev *d, enum tcp_psp_alg alg,
		       uint32_t *spi, uint8_t key[TCP_PSP_KEY_MAX])
{
	unsigned int slot = d->gen & 1;
	uint32_t n, s;

	/*
	 * A counter, not a fresh random SPI: among n random ones two would
	 * collide with odds near n^2 / 2^32, and colliding SAs share a key.
	 * The low 31 bits run through 1 .. 2^31 - 1 from a random start.
	 */
	n = __atomic_fetch_add(&d->spi_count, 1, __ATOMIC_RELAXED);
	if (n >= PSP_SPI_MAX)
		return -1;
	s = (uint32_t)(((uint64_t)d->spi_base + n) % PSP_SPI_MAX) + 1;
	if (slot)
		s |= TCP_PSP_SPI_KEY_BIT;
	if (tcp_psp_derive(d->master[slot], s, alg, key))
		return -1;
	*spi = s;
	return 0;
}

int tcp_psp_sa_init(struct tcp_psp_sa *sa, enum tcp_psp_mode mode,
		    enum tcp_psp_alg alg, uint32_t spi, const uint8_t *key)
{
	const EVP_CIPHER *c;
	EVP_CIPHER_CTX *ctx;

	tcp_psp_sa_clear(sa);
	if (!mode_valid(mode) || !alg_valid(alg) || !spi)
		return EINVAL;
	c = alg == TCP_PSP_AES256 ? EVP_aes_256_gcm() : EVP_aes_128_gcm();
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return ENOMEM;
	/* cipher, nonce length, then key: the order GCM requires */
	if (EVP_EncryptInit_ex(ctx, c, NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, PSP_NONCE_LEN,
				NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, NULL) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return EIO;
	}
	sa->spi = spi;
	sa->mode = mode;
	sa->alg = alg;
	memcpy(sa->key, key, tcp_psp_key_len(alg));
	sa->evp = ctx;
	sa->opening = false;
	return 0;
}

void tcp_psp_sa_clear(struct tcp_psp_sa *sa)
{
	/* the context's free wipes its copy of the key schedule */
	EVP_CIPHER_CTX_free(sa->evp);
	OPENSSL_cleanse(sa->key, sizeof(sa->key));
	sa->evp = NULL;
	sa->spi = 0;
}

/*
 * Starts one seal: nonce SPI || IV, encrypting. With a NULL cipher and
 * key, EVP keeps the keyed context and only resets the GCM state.
 */
static int seal_start(struct tcp_psp_sa *sa, uint64_t iv)
{
	uint8_t nonce[PSP_NONCE_LEN];

	if (!sa->evp || !sa->spi)
		return -1;
	put_be32(nonce, sa->spi);
	put_be32(nonce + 4, iv >> 32);
	put_be32(nonce + 8, (uint32_t)iv);
	sa->opening = false;
	return EVP_CipherInit_ex(sa->evp, NULL, NULL, NULL, nonce, 1) == 1 ? 0
									   : -1;
}

/* The context set up for opens: decrypting, the SPI its fixed field. */
static int open_setup(struct tcp_psp_sa *sa)
{
	uint8_t fixed[4];
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_octet_string(
			OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, fixed,
			sizeof(fixed)),
		OSSL_PARAM_construct_end(),
	};

	put_be32(fixed, sa->spi);
	if (EVP_CipherInit_ex(sa->evp, NULL, NULL, NULL, NULL, 0) != 1 ||
	    EVP_CIPHER_CTX_set_params(sa->evp, p) != 1)
		return -1;
	sa->opening = true;
	return 0;
}

/*
 * Starts one open: the invocation field (@iv) and the tag to check, in
 * one parameter call; setting the invocation field restarts GCM.
 */
static int open_start(struct tcp_psp_sa *sa, uint64_t iv,
		      const uint8_t tag[TCP_PSP_TAG_LEN])
{
	uint8_t inv[8];
	OSSL_PARAM p[] = {
		/* set_params only reads it: the cast drops nothing */
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
						  (void *)tag, TCP_PSP_TAG_LEN),
		OSSL_PARAM_construct_octet_string(
			OSSL_CIPHER_PARAM_AEAD_TLS1_SET_IV_INV, inv,
			sizeof(inv)),
		OSSL_PARAM_construct_end(),
	};

	if (!sa->evp || !sa->spi || (!sa->opening && open_setup(sa)))
		return -1;
	put_be32(inv, iv >> 32);
	put_be32(inv + 4, (uint32_t)iv);
	return EVP_CIPHER_CTX_set_params(sa->evp, p) == 1 ? 0 : -1;
}

/*
 * Feeds @n bytes: as AAD when @out is NULL (GMAC, the header), else
 * through the cipher into @out (may equal @in: in-place decryption).
 */
static int feed(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t n)
{
	int step, outl;

	while (n) {
		step = n < PSP_EVP_STEP ? (int)n : (int)PSP_EVP_STEP;
		if (EVP_CipherUpdate(ctx, out, &outl, in, step) != 1 ||
		    (out && outl != step))
			return -1;
		in += step;
		if (out)
			out += step;
		n -= (size_t)step;
	}
	return 0;
}

/* The first @len bytes of the iovec list, in order; -1 if it is short. */
static int feed_iov(EVP_CIPHER_CTX *ctx, uint8_t *out, const struct iovec *in,
		    int in_n, size_t len)
{
	size_t n;
	int i;

	for (i = 0; i < in_n && len; i++) {
		n = in[i].iov_len < len ? in[i].iov_len : len;
		if (feed(ctx, out, in[i].iov_base, n))
			return -1;
		if (out)
			out += n;
		len -= n;
	}
	return len ? -1 : 0;
}

/*
 * Auth mode authenticates header and payload alike as AAD, so a small
 * frame goes to GHASH in one update: each EVP call costs about as much as
 * hashing a hundred bytes.
 */
static bool auth_small(enum tcp_psp_mode mode, size_t aad_len, size_t len)
{
	return mode == TCP_PSP_AUTH && aad_len + len <= PSP_SMALL;
}

/* @aad then the first @len bytes of @in, copied to @dst; -1 if short. */
static int gather(uint8_t *dst, const void *aad, size_t aad_len,
		  const struct iovec *in, int in_n, size_t len)
{
	size_t n;
	int i;

	if (aad_len)
		memcpy(dst, aad, aad_len);
	dst += aad_len;
	for (i = 0; i < in_n && len; i++) {
		n = in[i].iov_len < len ? in[i].iov_len : len;
		memcpy(dst, in[i].iov_base, n);
		dst += n;
		len -= n;
	}
	return len ? -1 : 0;
}

/* The tag out of the context, straight through params:
 * EVP_CIPHER_CTX_ctrl would translate to the same params first. */
static int tag_get(EVP_CIPHER_CTX *ctx, uint8_t tag[TCP_PSP_TAG_LEN])
{
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
						  tag, TCP_PSP_TAG_LEN),
		OSSL_PARAM_construct_end(),
	};

	return EVP_CIPHER_CTX_get_params(ctx, p) == 1 ? 0 : -1;
}

/*
 * Feeds aad and payload, the payload through the cipher into @out in
 * encrypt mode (out == in.iov_base decrypts in place). A small auth frame
 * takes one AAD update.
 */
static int feed_frame(EVP_CIPHER_CTX *ctx, enum tcp_psp_mode mode,
		      const void *aad, size_t aad_len, const struct iovec *in,
		      int in_n, size_t len, uint8_t *out)
{
	uint8_t small[PSP_SMALL];

	/* header and payload side by side (a received frame): no copy */
	if (auth_small(mode, aad_len, len) && aad_len && in_n == 1 &&
	    (const uint8_t *)aad + aad_len == in[0].iov_base)
		return feed(ctx, NULL, aad, aad_len + len);
	if (auth_small(mode, aad_len, len))
		return gather(small, aad, aad_len, in, in_n, len) ||
		       feed(ctx, NULL, small, aad_len + len);
	return feed(ctx, NULL, aad, aad_len) ||
	       feed_iov(ctx, mode == TCP_PSP_ENCRYPT ? out : NULL, in, in_n,
			len);
}

int tcp_psp_seal(struct tcp_psp_sa *sa, enum tcp_psp_mode mode, uint64_t iv,
		 const void *aad, size_t aad_len, const struct iovec *in,
		 int in_n, size_t len, uint8_t *out,
		 uint8_t tag[TCP_PSP_TAG_LEN])
{
	int outl;

	if (!mode_valid(mode) || (mode == TCP_PSP_ENCRYPT && len && !out) ||
	    seal_start(sa, iv) ||
	    feed_frame(sa->evp, mode, aad, aad_len, in, in_n, len, out))
		return -1;
	/* GCM's final emits nothing: the cipher is a stream */
	if (EVP_EncryptFinal_ex(sa->evp, NULL, &outl) != 1)
		return -1;
	return tag_get(sa->evp, tag);
}

int tcp_psp_open(struct tcp_psp_sa *sa, enum tcp_psp_mode mode, uint64_t iv,
		 const void *aad, size_t aad_len, uint8_t *buf, size_t len,
		 const uint8_t tag[TCP_PSP_TAG_LEN])
{
	struct iovec v = { buf, len };
	EVP_CIPHER_CTX *ctx = sa->evp;
	int outl;

	if (!mode_valid(mode) || open_start(sa, iv, tag) ||
	    feed_frame(ctx, mode, aad, aad_len, &v, 1, len, buf))
		return -1;
	/* the comparison inside is constant time (CRYPTO_memcmp) */
	return EVP_DecryptFinal_ex(ctx, NULL, &outl) == 1 ? 0 : -1;
}
