// SPDX-License-Identifier: MIT
/*
 * Unit tests of the PSP security associations (providers/tcp/psp.h):
 * known-answer tests for the key derivation and for AES-GCM / AES-GMAC
 * under our nonce construction (SPI || IV), tampering that must fail, and
 * the device key slots.
 *
 * None of the expected values comes from psp.c itself: the KDF and GMAC
 * vectors were computed with the openssl command line, the GCM framing
 * vectors with python3-cryptography, the primitive vectors are the
 * published GCM test cases; each says how. tests/unit/psp_cli.sh recomputes
 * fresh random ones with the openssl CLI at test time through the
 * "derive" and "gmac" commands of this program (see main()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psp.h"

#include "check.h"

/* Hex string to bytes; returns the byte count (the string must be even). */
static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;
	unsigned int b;

	while (s[0] && s[1] && sscanf(s, "%2x", &b) == 1) {
		out[n++] = (uint8_t)b;
		s += 2;
	}
	return n;
}

static bool eq_hex(const uint8_t *p, const char *hex)
{
	uint8_t want[256];
	size_t n = unhex(hex, want);

	return n == strlen(hex) / 2 && !memcmp(p, want, n);
}

static void print_hex(const uint8_t *p, size_t n)
{
	while (n--)
		printf("%02x", *p++);
	printf("\n");
}

/*
 * KDF vectors. The input block of counter C for version V and SPI S:
 *   blk(){ printf "$(printf '%08x' $1 | sed 's/../\\x&/g')Pv$2\x00\
 *   $(printf '%08x' $3 | sed 's/../\\x&/g')\x00\x00$4"; }
 *   blk 1 0 0x12345678 '\x00\x80' > b1        # AES-128: one block
 *   blk 1 1 0x12345678 '\x01\x00' > b1; blk 2 1 0x12345678 '\x01\x00' > b2
 *   openssl mac -cipher AES-256-CBC -macopt hexkey:$MASTER -in b1 CMAC
 *   openssl mac -cipher AES-256-CBC -macopt hexkey:$MASTER -in b2 CMAC
 * (OpenSSL 3.0.19); a 256-bit key is the two outputs concatenated.
 */
#define M1     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define M2     "c0ffee00deadbeef0123456789abcdeffedcba98765432100f1e2d3c4b5a6978"
#define K1_128 "4d867167433163e6eea6f172bae5fcb2"
#define K1_256 \
	"c960b23a83066cd0b2aaff6bc676c265ca166ff8454c00cfad7c0890500cd1cd"

/*
 * And the PSP reference implementation's: google/psp's test configuration
 * (cfg/encrypt_transport_crypt_off_128.cfg: master keys 0 and 1, SPI
 * 0x9A345678) with the derived keys a Rust port of that reference
 * (psp_security, unit tests test_derive_psp_key_128/test_derive_psp_key)
 * asserts; the openssl commands above give the same.
 */
#define REF_MK0 \
	"34448a064292601b11a0978f56a2d34cf3fc35ede1a6bc04f8db3e5243a2b0ca"
#define REF_MK1 \
	"563952565d3a78ae773ec1b779f2f2d99f4a7f53a6fbb9b07d5b71f39364d739"

static const struct kdf_vec {
	const char *master;
	uint32_t spi;
	enum tcp_psp_alg alg;
	const char *key;
} kdf_vecs[] = {
	{ M1, 0x12345678, TCP_PSP_AES128, K1_128 },
	{ M1, 0x12345678, TCP_PSP_AES256, K1_256 },
	{ M2, 0x9a0b0c0d, TCP_PSP_AES128, "6e2bf65d30d8462e8125dfde2c2fac7b" },
	{ M2, 0x9a0b0c0d, TCP_PSP_AES256,
	  "ea713357c2ce4086f5690244dccaf154235978032ce5cc20fa29266e6cee5008" },
	{ REF_MK0, 0x12345678, TCP_PSP_AES128,
	  "96c22dc799198090b74b70ae468e4e30" },
	{ REF_MK0, 0x12345678, TCP_PSP_AES256,
	  "2b7d72074e42ca334487f2990e3f8c4037e436f38283449b76463e9b7fb2e3de" },
	{ REF_MK1, 0x9a345678, TCP_PSP_AES128,
	  "3946da2554eae46ad1ef77a64372edc4" },
};

static void test_kdf(void)
{
	uint8_t master[TCP_PSP_MASTER_LEN], key[TCP_PSP_KEY_MAX];
	size_t i;

	for (i = 0; i < sizeof(kdf_vecs) / sizeof(kdf_vecs[0]); i++) {
		const struct kdf_vec *v = &kdf_vecs[i];

		unhex(v->master, master);
		memset(key, 0xee, sizeof(key));
		CHECK(tcp_psp_derive(master, v->spi, v->alg, key) == 0);
		CHECKF(eq_hex(key, v->key), "KDF vector %zu", i);
		/* a 128-bit key writes 16 bytes, no more */
		if (v->alg == TCP_PSP_AES128)
			CHECK(key[16] == 0xee && key[31] == 0xee);
	}
	CHECK(tcp_psp_derive(master, 1, (enum tcp_psp_alg)7, key) == -1);
}

/* An SA from hex key; the SPI is the nonce's first 4 bytes. */
static void sa_hex(struct tcp_psp_sa *sa, enum tcp_psp_mode mode,
		   const char *key, uint32_t spi)
{
	uint8_t k[TCP_PSP_KEY_MAX];
	size_t n = unhex(key, k);

	memset(sa, 0, sizeof(*sa));
	CHECK(tcp_psp_sa_init(sa, mode,
			      n == 32 ? TCP_PSP_AES256 : TCP_PSP_AES128, spi,
			      k) == 0);
}

/*
 * Published GCM test cases (McGrew & Viega, "The Galois/Counter Mode of
 * Operation", test cases 3, 4 and 16): IV cafebabe facedbaddecaf888 is
 * our SPI 0xcafebabe and IV 0xfacedbaddecaf888.
 */
#define GCM_K "feffe9928665731c6d6a8f9467308308"
#define GCM_P                                                              \
	"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
	"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
#define GCM_A "feedfacedeadbeeffeedfacedeadbeefabaddad2"

static const struct gcm_vec {
	const char *key, *aad;
	size_t len; /* plaintext bytes of GCM_P */
	const char *ct, *tag;
} gcm_vecs[] = {
	{ GCM_K, "", 64,
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
	  "4d5c2af327cd64a62cf35abd2ba6fab4" },
	{ GCM_K, GCM_A, 60,
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
	  "5bc94fbc3221a5db94fae95ae7121a47" },
	{ GCM_K GCM_K, GCM_A, 60,
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
};

/* Seals @p split over three iovecs plus bytes past @len that must not count. */
static int seal_split(struct tcp_psp_sa *sa, enum tcp_psp_mode mode,
		      uint64_t iv, const uint8_t *aad, size_t aad_len,
		      const uint8_t *p, size_t len, uint8_t *out, uint8_t *tag)
{
	static const uint8_t junk[7] = "garbage";
	size_t a = len / 3, b = len / 2;
	struct iovec v[4] = {
		{ (void *)p, a },
		{ (void *)(p + a), b - a },
		{ (void *)(p + b), len - b },
		{ (void *)junk, sizeof(junk) },
	};

	return tcp_psp_seal(sa, mode, iv, aad, aad_len, v, 4, len, out, tag);
}

static void test_gcm_published(void)
{
	uint8_t p[64], a[32], buf[64], tag[TCP_PSP_TAG_LEN];
	struct tcp_psp_sa sa;
	size_t i, alen;

	unhex(GCM_P, p);
	for (i = 0; i < sizeof(gcm_vecs) / sizeof(gcm_vecs[0]); i++) {
		const struct gcm_vec *v = &gcm_vecs[i];

		alen = unhex(v->aad, a);
		sa_hex(&sa, TCP_PSP_ENCRYPT, v->key, 0xcafebabe);
		CHECK(seal_split(&sa, TCP_PSP_ENCRYPT, 0xfacedbaddecaf888ull, a,
				 alen, p, v->len, buf, tag) == 0);
		CHECKF(eq_hex(buf, v->ct), "GCM case %zu ciphertext", i);
		CHECKF(eq_hex(tag, v->tag), "GCM case %zu tag", i);
		/* the same SA opens (the context turns direction per call) */
		CHECK(tcp_psp_open(&sa, TCP_PSP_ENCRYPT, 0xfacedbaddecaf888ull,
				   a, alen, buf, v->len, tag) == 0);
		CHECK(!memcmp(buf, p, v->len));
		tcp_psp_sa_clear(&sa);
		CHECK(sa.spi == 0 && sa.evp == NULL);
	}
}

/*
 * GMAC: NIST CAVS gcmEncryptExtIV128.rsp, [Keylen = 128] [IVlen = 96]
 * [PTlen = 0] [AADlen = 128] [Taglen = 128] Count = 0.
 */
static void test_gmac_published(void)
{
	uint8_t a[16], tag[TCP_PSP_TAG_LEN];
	struct tcp_psp_sa sa;

	unhex("7a43ec1d9c0a5a78a0b16533a6213cab", a);
	sa_hex(&sa, TCP_PSP_AUTH, "77be63708971c4e240d1cb79e8d77feb",
	       0xe0e00f19);
	CHECK(tcp_psp_seal(&sa, TCP_PSP_AUTH, 0xfed7ba0136a797f3ull, a, 16,
			   NULL, 0, 0, NULL, tag) == 0);
	CHECK(eq_hex(tag, "209fcc8d3675ed938e9c7166709dd946"));
	CHECK(tcp_psp_open(&sa, TCP_PSP_AUTH, 0xfed7ba0136a797f3ull, a, 16,
			   NULL, 0, tag) == 0);
	tcp_psp_sa_clear(&sa);
}

/*
 * Our framing, under the derived keys K1_128 / K1_256 above (SPI
 * 0x12345678): a frame's first tag covers a 64-byte header (bytes 0..63)
 * as AAD and the payload "payload!", nonce SPI || IV 0x1000; a later
 * chunk (100 bytes (i * 7 + 3) & 255) has no AAD, IV 0x3050.
 * Auth tags (GMAC over header then payload):
 *   python3 -c "import sys; sys.stdout.buffer.write(bytes(range(64))+
 *       b'payload!')" > f72
 *   openssl mac -cipher AES-128-GCM -macopt hexkey:$K1_128 \
 *       -macopt hexiv:123456780000000000001000 -in f72 GMAC
 * Encrypt (GCM) ciphertexts and tags: python3-cryptography 38,
 *   AESGCM(key).encrypt(bytes.fromhex('123456780000000000001000'),
 *                       b'payload!', bytes(range(64)))
 */
static const struct frame_vec {
	const char *key, *gmac0, *gmac1, *ct0, *tag0, *tag1;
} frame_vecs[] = {
	{ K1_128, "0ab274842822a86e637ad83ca38ea742",
	  "b724ba3b042e44a79ba320551b3b55ed", "5cac3781f75ebb19",
	  "1b8548c5c97de15ab8dcf5b11e869095",
	  "9a9db9cb7fe3d13689db6e7fa5e63eb0" },
	{ K1_256, "40ba267b4295d4765a2287c7e1f5330f",
	  "fa29def4a3540a5c434167ebdbadebae", "d32d3cbeb4200206",
	  "b36c09d0c4d1560ceb502bf843f58aa1",
	  "7eba6f52df2e539356adc7958bf45e13" },
};

static uint8_t hdr[64], chunk[100], big[1500];

static void frame_inputs(void)
{
	size_t i;

	for (i = 0; i < sizeof(hdr); i++)
		hdr[i] = (uint8_t)i;
	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)((i * 7 + 3) & 255);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13 + (i >> 8));
}

static void test_frame_auth(const struct frame_vec *v)
{
	struct iovec pl = { (void *)"payload!", 8 },
		     c = { chunk, sizeof(chunk) };
	uint8_t tag[TCP_PSP_TAG_LEN], f72[72];
	struct tcp_psp_sa sa;

	sa_hex(&sa, TCP_PSP_AUTH, v->key, 0x12345678);
	CHECK(tcp_psp_seal(&sa, TCP_PSP_AUTH, 0x1000, hdr, 64, &pl, 1, 8, NULL,
			   tag) == 0);
	CHECK(eq_hex(tag, v->gmac0));
	/* GMAC is over AAD: header-then-payload equals one 72-byte AAD */
	memcpy(f72, hdr, 64);
	memcpy(f72 + 64, "payload!", 8);
	CHECK(tcp_psp_open(&sa, TCP_PSP_AUTH, 0x1000, f72, 72, NULL, 0, tag) ==
	      0);
	CHECK(tcp_psp_open(&sa, TCP_PSP_AUTH, 0x1000, hdr, 64, f72 + 64, 8,
			   tag) == 0);
	CHECK(!memcmp(f72 + 64, "payload!", 8)); /* auth leaves it alone */
	CHECK(tcp_psp_seal(&sa, TCP_PSP_AUTH, 0x3050, NULL, 0, &c, 1,
			   sizeof(chunk), NULL, tag) == 0);
	CHECK(eq_hex(tag, v->gmac1));
	tcp_psp_sa_clear(&sa);
}

static void test_frame_encrypt(const struct frame_vec *v)
{
	struct iovec pl = { (void *)"payload!", 8 };
	uint8_t tag[TCP_PSP_TAG_LEN], ct[sizeof(chunk)];
	struct tcp_psp_sa sa;

	sa_hex(&sa, TCP_PSP_ENCRYPT, v->key, 0x12345678);
	CHECK(tcp_psp_seal(&sa, TCP_PSP_ENCRYPT, 0x1000, hdr, 64, &pl, 1, 8, ct,
			   tag) == 0);
	CHECK(eq_hex(ct, v->ct0) && eq_hex(tag, v->tag0));
	CHECK(tcp_psp_open(&sa, TCP_PSP_ENCRYPT, 0x1000, hdr, 64, ct, 8, tag) ==
	      0);
	CHECK(!memcmp(ct, "payload!", 8));
	CHECK(seal_split(&sa, TCP_PSP_ENCRYPT, 0x3050, NULL, 0, chunk,
			 sizeof(chunk), ct, tag) == 0);
	CHECK(eq_hex(tag, v->tag1));
	CHECK(tcp_psp_open(&sa, TCP_PSP_ENCRYPT, 0x3050, NULL, 0, ct,
			   sizeof(chunk), tag) == 0);
	CHECK(!memcmp(ct, chunk, sizeof(chunk)));
	tcp_psp_sa_clear(&sa);
}

/* An auth SA seals with ENCRYPT when the call asks (psp.h: @mode). */
static void test_mode_override(void)
{
	struct iovec pl = { (void *)"payload!", 8 };
	uint8_t tag[TCP_PSP_TAG_LEN], ct[TCP_PSP_TAG_LEN];
	struct tcp_psp_sa sa;

	sa_hex(&sa, TCP_PSP_AUTH, K1_128, 0x12345678);
	CHECK(tcp_psp_seal(&sa, TCP_PSP_ENCRYPT, 0x1000, hdr, 64, &pl, 1, 8, ct,
			   tag) == 0);
	CHECK(eq_hex(ct, frame_vecs[0].ct0) && eq_hex(tag, frame_vecs[0].tag0));
	CHECK(tcp_psp_seal(&sa, TCP_PSP_OFF, 0x1000, hdr, 64, &pl, 1, 8, ct,
			   tag) == -1);
	/* encrypt needs somewhere to put the ciphertext */
	CHECK(tcp_psp_seal(&sa, TCP_PSP_ENCRYPT, 0x1000, hdr, 64, &pl, 1, 8,
			   NULL, tag) == -1);
	/* unless there is none: a header alone is GMAC'd in both modes */
	CHECK(tcp_psp_seal(&sa, TCP_PSP_ENCRYPT, 0x1000, hdr, 64, NULL, 0, 0,
			   NULL, tag) == 0);
	CHECK(tcp_psp_seal(&sa, TCP_PSP_AUTH, 0x1000, hdr, 64, NULL, 0, 0, NULL,
			   ct) == 0);
	CHECK(!memcmp(tag, ct, TCP_PSP_TAG_LEN));
	CHECK(tcp_psp_open(&sa, TCP_PSP_ENCRYPT, 0x1000, hdr, 64, NULL, 0,
			   tag) == 0);
	tcp_psp_sa_clear(&sa);
}

static void test_frames(void)
{
	size_t i;

	frame_inputs();
	for (i = 0; i < sizeof(frame_vecs) / sizeof(frame_vecs[0]); i++) {
		test_frame_auth(&frame_vecs[i]);
		test_frame_encrypt(&frame_vecs[i]);
	}
	test_mode_override();
}

/*
 * Seals hdr + @len bytes of big under @mode, then opens a copy changed by
 * @t. Lengths up to 192 take psp.c's one-update path for small auth
 * frames, longer ones the general path.
 */
enum tamper { T_NONE, T_AAD, T_DATA, T_TAG, T_IV, T_KEY, T_SHORT, T_MODE };

static int sealed_then_opened(enum tcp_psp_mode mode, enum tamper t, int bit,
			      size_t len)
{
	struct iovec c[2] = { { big, len / 2 },
			      { big + len / 2, len - len / 2 } };
	uint8_t tag[TCP_PSP_TAG_LEN], buf[sizeof(big)], h[64];
	struct tcp_psp_sa tx, rx, other;
	uint64_t iv = 0x2000;
	int ret;

	sa_hex(&tx, mode, K1_128, 0x12345678);
	sa_hex(&rx, mode, K1_128, 0x12345678);
	/* same key, other SPI: the nonce differs */
	sa_hex(&other, mode, K1_128, 0x12345679);
	memcpy(h, hdr, sizeof(h));
	memcpy(buf, big, len);
	CHECK(tcp_psp_seal(&tx, mode, iv, h, 64, c, 2, len, buf, tag) == 0);
	switch (t) {
	case T_AAD:
		h[bit / 8 % 64] ^= 1u << (bit % 8);
		break;
	case T_DATA:
		buf[bit / 8 % len] ^= 1u << (bit % 8);
		break;
	case T_TAG:
		tag[bit / 8 % 16] ^= 1u << (bit % 8);
		break;
	case T_IV:
		iv += 1;
		break;
	case T_SHORT:
		len -= 1;
		break;
	case T_MODE:
		mode = mode == TCP_PSP_AUTH ? TCP_PSP_ENCRYPT : TCP_PSP_AUTH;
		break;
	default:
		break;
	}
	ret = tcp_psp_open(t == T_KEY ? &other : &rx, mode, iv, h, 64, buf, len,
			   tag);
	if (!ret)
		CHECK(!memcmp(buf, big, len));
	tcp_psp_sa_clear(&tx);
	tcp_psp_sa_clear(&rx);
	tcp_psp_sa_clear(&other);
	return ret;
}

static void tamper_len(enum tcp_psp_mode m, size_t len)
{
	int bit, bad;

	CHECK(sealed_then_opened(m, T_NONE, 0, len) == 0);
	/* every bit of the tag, a spread of header and data bits */
	for (bad = 0, bit = 0; bit < 128; bit++)
		bad += sealed_then_opened(m, T_TAG, bit, len) == -1;
	CHECKF(bad == 128, "mode %d len %zu: %d of 128 tag flips caught", m,
	       len, bad);
	for (bad = 0, bit = 0; bit < 512; bit += 37)
		bad += sealed_then_opened(m, T_AAD, bit, len) == -1;
	CHECKF(bad == 14, "mode %d len %zu: %d of 14 header flips", m, len,
	       bad);
	for (bad = 0, bit = 0; bit < 20 * 41; bit += 41)
		bad += sealed_then_opened(m, T_DATA, bit * (int)len / 100,
					  len) == -1;
	CHECKF(bad == 20, "mode %d len %zu: %d of 20 data flips", m, len, bad);
	CHECK(sealed_then_opened(m, T_IV, 0, len) == -1);
	CHECK(sealed_then_opened(m, T_KEY, 0, len) == -1);
	CHECK(sealed_then_opened(m, T_SHORT, 0, len) == -1);
	CHECK(sealed_then_opened(m, T_MODE, 0, len) == -1);
}

static void test_tamper(void)
{
	static const size_t lens[] = { 1, 100, 192, 193, 1500 };
	size_t i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		tamper_len(TCP_PSP_AUTH, lens[i]);
		tamper_len(TCP_PSP_ENCRYPT, lens[i]);
	}
}

/*
 * One receive SA over a stream of frames, as a connection uses it: each
 * open after the first only replaces the nonce's invocation field and the
 * tag (psp.c), so a failed open must leave nothing behind that lets a
 * later wrong frame pass, and a seal on the same SA (which re-inits it
 * for encryption) must not break later opens. Frame k is sealed at IV
 * 0x100 * k; opening it at another IV, with a flipped tag bit, or after a
 * failure must behave exactly as on a fresh SA.
 */
static void open_stream(enum tcp_psp_mode mode, size_t len)
{
	uint8_t tag[8][TCP_PSP_TAG_LEN], ct[8][sizeof(big)], buf[sizeof(big)];
	struct iovec v = { big, len };
	struct tcp_psp_sa tx, rx;
	int k, good = 0, bad = 0;

	sa_hex(&tx, mode, K1_128, 0x0badcafe);
	sa_hex(&rx, mode, K1_128, 0x0badcafe);
	for (k = 0; k < 8; k++)
		CHECK(tcp_psp_seal(&tx, mode, 0x100 * k, hdr, 64, &v, 1, len,
				   ct[k], tag[k]) == 0);
	for (k = 0; k < 8; k++) {
		const uint8_t *in = mode == TCP_PSP_ENCRYPT ? ct[k] : big;
		uint8_t t[TCP_PSP_TAG_LEN];

		memcpy(t, tag[k], sizeof(t));
		/* a wrong IV, then a flipped tag bit, then the right frame */
		memcpy(buf, in, len);
		bad += tcp_psp_open(&rx, mode, 0x100 * k + 1, hdr, 64, buf, len,
				    t) == -1;
		t[k] ^= 0x40;
		memcpy(buf, in, len);
		bad += tcp_psp_open(&rx, mode, 0x100 * k, hdr, 64, buf, len,
				    t) == -1;
		memcpy(buf, in, len);
		good += tcp_psp_open(&rx, mode, 0x100 * k, hdr, 64, buf, len,
				     tag[k]) == 0 &&
			!memcmp(buf, big, len);
		/* the previous frame's tag at this frame's IV */
		memcpy(buf, in, len);
		bad += k && tcp_psp_open(&rx, mode, 0x100 * k, hdr, 64, buf,
					 len, tag[k - 1]) == -1;
		if (k == 3) /* a seal on the SA between opens */
			CHECK(tcp_psp_seal(&rx, mode, 0x7777, hdr, 64, &v, 1,
					   len, buf, t) == 0);
	}
	CHECKF(good == 8, "mode %d len %zu: %d of 8 frames open on one SA",
	       mode, len, good);
	CHECKF(bad == 23, "mode %d len %zu: %d of 23 wrong opens refused", mode,
	       len, bad);
	tcp_psp_sa_clear(&tx);
	tcp_psp_sa_clear(&rx);
}

static void test_open_stream(void)
{
	static const size_t lens[] = { 8, 64, 1500 };
	size_t i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		open_stream(TCP_PSP_AUTH, lens[i]);
		open_stream(TCP_PSP_ENCRYPT, lens[i]);
	}
}

/* A list shorter than @len is an error, not a read past its end. */
static void test_short_iov(void)
{
	struct iovec c[2] = { { chunk, 10 }, { chunk + 10, 10 } };
	uint8_t tag[TCP_PSP_TAG_LEN], out[32];
	struct tcp_psp_sa sa;

	sa_hex(&sa, TCP_PSP_ENCRYPT, K1_128, 0x12345678);
	CHECK(tcp_psp_seal(&sa, TCP_PSP_ENCRYPT, 1, NULL, 0, c, 2, 21, out,
			   tag) == -1);
	CHECK(tcp_psp_seal(&sa, TCP_PSP_AUTH, 1, NULL, 0, c, 2, 21, NULL,
			   tag) == -1);
	/* and the SA works afterwards */
	CHECK(tcp_psp_seal(&sa, TCP_PSP_ENCRYPT, 1, NULL, 0, c, 2, 20, out,
			   tag) == 0);
	CHECK(tcp_psp_open(&sa, TCP_PSP_ENCRYPT, 1, NULL, 0, out, 20, tag) ==
	      0);
	tcp_psp_sa_clear(&sa);
	CHECK(tcp_psp_seal(&sa, TCP_PSP_AUTH, 1, NULL, 0, c, 2, 20, NULL,
			   tag) == -1); /* a cleared SA refuses */
}

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

static void test_sa_init_errors(void)
{
	uint8_t k[32] = { 1 };
	struct tcp_psp_sa sa;

	memset(&sa, 0, sizeof(sa));
	CHECK(tcp_psp_sa_init(&sa, TCP_PSP_AUTH, TCP_PSP_AES128, 0, k) ==
	      EINVAL);
	CHECK(tcp_psp_sa_init(&sa, TCP_PSP_OFF, TCP_PSP_AES128, 5, k) ==
	      EINVAL);
	CHECK(tcp_psp_sa_init(&sa, TCP_PSP_AUTH, (enum tcp_psp_alg)3, 5, k) ==
	      EINVAL);
	CHECK(sa.evp == NULL && sa.spi == 0);
	/* re-initialising a live SA frees the old context (valgrind) */
	CHECK(tcp_psp_sa_init(&sa, TCP_PSP_AUTH, TCP_PSP_AES128, 5, k) == 0);
	CHECK(tcp_psp_sa_init(&sa, TCP_PSP_AUTH, TCP_PSP_AES256, 6, k) == 0);
	CHECK(sa.spi == 6 && sa.evp != NULL && sa.key[0] == 1);
	tcp_psp_sa_clear(&sa);
	CHECK(all_zero(sa.key, sizeof(sa.key))); /* wiped */
	tcp_psp_sa_clear(&sa);			 /* twice is harmless */
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* SPIs handed out so far: every one must be new (psp.h). */
static uint32_t spis[1000];
static size_t nspis;

static bool spis_distinct(void)
{
	size_t i;

	qsort(spis, nspis, sizeof(spis[0]), cmp_u32);
	for (i = 1; i < nspis; i++)
		if ((spis[i] & ~TCP_PSP_SPI_KEY_BIT) ==
		    (spis[i - 1] & ~TCP_PSP_SPI_KEY_BIT))
			return false;
	return true;
}

/* new_rx from @d: the SPI's slot bit and the key derived from that slot. */
static void check_new_rx(struct tcp_psp_dev *d, enum tcp_psp_alg alg,
			 unsigned int slot)
{
	uint8_t key[TCP_PSP_KEY_MAX], want[TCP_PSP_KEY_MAX];
	uint32_t spi;
	int i, ok = 1;

	for (i = 0; i < 200; i++) {
		CHECK(tcp_psp_dev_new_rx(d, alg, &spi, key) == 0);
		ok &= spi != 0 && (spi & ~TCP_PSP_SPI_KEY_BIT) != 0;
		ok &= !!(spi & TCP_PSP_SPI_KEY_BIT) == slot;
		CHECK(tcp_psp_derive(d->master[slot], spi, alg, want) == 0);
		ok &= !memcmp(key, want, tcp_psp_key_len(alg));
		if (nspis < sizeof(spis) / sizeof(spis[0]))
			spis[nspis++] = spi;
	}
	CHECKF(ok, "200 SPIs of slot %u", slot);
}

/* The low 31 bits wrap past 2^31 - 1 to 1, never 0, and run out. */
static void test_spi_wrap(void)
{
	uint8_t key[TCP_PSP_KEY_MAX];
	struct tcp_psp_dev d;
	uint32_t spi;

	CHECK(tcp_psp_dev_init(&d) == 0);
	d.spi_base = 0x7ffffffe;
	CHECK(tcp_psp_dev_new_rx(&d, TCP_PSP_AES128, &spi, key) == 0 &&
	      spi == 0x7fffffff);
	CHECK(tcp_psp_dev_new_rx(&d, TCP_PSP_AES128, &spi, key) == 0 &&
	      spi == 1);
	d.spi_count = 0x7ffffffe; /* the last of 2^31 - 1 */
	CHECK(tcp_psp_dev_new_rx(&d, TCP_PSP_AES128, &spi, key) == 0 &&
	      spi == 0x7ffffffe);
	CHECK(tcp_psp_dev_new_rx(&d, TCP_PSP_AES128, &spi, key) == -1);
	tcp_psp_dev_wipe(&d);
}

static void test_dev(void)
{
	uint8_t m0[TCP_PSP_MASTER_LEN], m1[TCP_PSP_MASTER_LEN];
	struct tcp_psp_dev d;

	CHECK(tcp_psp_dev_init(&d) == 0);
	CHECK(d.gen == 0);
	CHECK(!all_zero(d.master[0], 32) && !all_zero(d.master[1], 32));
	CHECK(memcmp(d.master[0], d.master[1], 32));
	check_new_rx(&d, TCP_PSP_AES256, 0);
	memcpy(m0, d.master[0], 32);
	memcpy(m1, d.master[1], 32);
	/* rotation: a fresh key in slot 1, slot 0 kept for one rotation */
	CHECK(tcp_psp_dev_rotate(&d) == 0);
	CHECK(d.gen == 1 && !memcmp(d.master[0], m0, 32));
	CHECK(memcmp(d.master[1], m1, 32));
	check_new_rx(&d, TCP_PSP_AES128, 1);
	memcpy(m1, d.master[1], 32);
	CHECK(tcp_psp_dev_rotate(&d) == 0);
	CHECK(d.gen == 2 && !memcmp(d.master[1], m1, 32));
	CHECK(memcmp(d.master[0], m0, 32));
	check_new_rx(&d, TCP_PSP_AES256, 0);
	/* unique across rotations too, whichever slot they came from */
	CHECKF(spis_distinct(), "%zu SPIs distinct", nspis);
	tcp_psp_dev_wipe(&d);
	CHECK(all_zero(d.master[0], 64));
	CHECK(tcp_psp_dev_init(&d) == 0);
	check_new_rx(&d, TCP_PSP_AES128, 0);
	/* an algorithm that does not exist derives nothing */
	{
		uint8_t key[TCP_PSP_KEY_MAX];
		uint32_t spi;

		CHECK(tcp_psp_dev_new_rx(&d, (enum tcp_psp_alg)7, &spi, key) ==
		      -1);
	}
	tcp_psp_dev_wipe(&d);
	test_spi_wrap();
}

/*
 * For tests/unit/psp_cli.sh: "derive MASTERHEX SPI 128|256" prints the
 * derived key; "gmac KEYHEX SPI IV FILE" prints the auth tag of FILE's
 * bytes (the first 64 as the header AAD, the rest as payload).
 */
static int cli(int argc, char **argv)
{
	uint8_t m[TCP_PSP_MASTER_LEN], k[TCP_PSP_KEY_MAX], buf[4096];
	uint8_t tag[TCP_PSP_TAG_LEN];
	enum tcp_psp_alg alg;
	struct tcp_psp_sa sa = { 0 };
	struct iovec v;
	size_t n, got;
	FILE *f;

	if (argc == 5 && !strcmp(argv[1], "derive")) {
		alg = atoi(argv[4]) == 256 ? TCP_PSP_AES256 : TCP_PSP_AES128;
		if (unhex(argv[2], m) != sizeof(m) ||
		    tcp_psp_derive(m, strtoul(argv[3], NULL, 0), alg, k))
			return 2;
		print_hex(k, tcp_psp_key_len(alg));
		return 0;
	}
	if (argc != 6 || strcmp(argv[1], "gmac"))
		return 2;
	n = unhex(argv[2], k);
	f = fopen(argv[5], "rb");
	if (!f)
		return 2;
	got = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	v.iov_base = buf + 64;
	v.iov_len = got - 64;
	if (got < 64 ||
	    tcp_psp_sa_init(&sa, TCP_PSP_AUTH,
			    n == 32 ? TCP_PSP_AES256 : TCP_PSP_AES128,
			    strtoul(argv[3], NULL, 0), k) ||
	    tcp_psp_seal(&sa, TCP_PSP_AUTH, strtoull(argv[4], NULL, 0), buf, 64,
			 &v, 1, got - 64, NULL, tag))
		return 2;
	tcp_psp_sa_clear(&sa);
	print_hex(tag, sizeof(tag));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return cli(argc, argv);
	test_kdf();
	test_gcm_published();
	test_gmac_published();
	test_frames();
	test_tamper();
	test_open_stream();
	test_short_iov();
	test_sa_init_errors();
	test_dev();
	return check_report();
}
