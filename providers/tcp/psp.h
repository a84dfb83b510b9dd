/* SPDX-License-Identifier: MIT */
/*
 * PSP-style security associations (docs/design.md, "Security model"):
 * per-context device keys, the PSP key derivation, and sealing/opening the
 * pieces of a secured frame with AES-GCM (encrypt) or AES-GMAC (auth)
 * through OpenSSL's EVP interface. No key leaves this module but through
 * the handshake (hs.c), which hands a receive key to the peer inside TLS.
 *
 * A secured frame on the wire (both modes; wire.h has the header):
 *
 *   header(64) chunk_0 tag_0 [chunk_1 tag_1 ... chunk_{n-1} tag_{n-1}]
 *
 * chunk_k is payload bytes [k*C, min(len, (k+1)*C)), C = TCP_PSP_CHUNK;
 * n = max(1, ceil(len / C)) -- a frame without payload has one empty chunk
 * and so one tag. tag_0 covers the header (as AAD) and chunk_0; tag_k (k>0)
 * covers chunk_k alone. The nonce of tag_k is SPI (4 bytes, big-endian) ||
 * IV (8 bytes, big-endian) where IV is the stream offset of the first byte
 * the tag protects: the header's for tag_0, chunk_k's for k > 0. Stream
 * offsets count every byte of the direction after the handshake (headers,
 * payload, tags), so IVs strictly increase and never repeat under a key.
 * In auth mode the chunk is authenticated only (GMAC: it goes in as AAD);
 * in encrypt mode it is encrypted (GCM), the header still only
 * authenticated. The header's `sseq` keeps its meaning: the stream offset
 * of the first payload byte (header offset + 64).
 *
 * A group (auth mode only): two or more small frames of one transmit
 * batch under one tag. It is a secured frame of opcode RTCP_OP_GROUP
 * whose payload (at most TCP_PSP_GROUP_MAX bytes, so one chunk) is the
 * frames themselves, each header(64) payload(len) with no tag of its
 * own, their sseq the stream offsets they have inside the group:
 *
 *   group_hdr(64) hdr_1 payload_1 ... hdr_n payload_n tag_0
 *
 * The receiver opens the group as any frame (header as AAD, the frames
 * as chunk 0), checks that its frames fill it exactly, then takes them in
 * order as if each had come alone.
 */
#ifndef RDMA_TCP_PSP_H
#define RDMA_TCP_PSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum tcp_psp_mode {
	TCP_PSP_OFF = 0,     /* unauthenticated: the plain wire format */
	TCP_PSP_AUTH = 1,    /* AES-GMAC over header and payload */
	TCP_PSP_ENCRYPT = 2, /* AES-GCM: header authenticated, payload
				encrypted */
};

enum tcp_psp_alg {
	TCP_PSP_AES128 = 0, /* derived key of 128 bits (PSP v0 / v2) */
	TCP_PSP_AES256 = 1, /* 256 bits (PSP v1 / v3) */
};

#define TCP_PSP_TAG_LEN	   16
#define TCP_PSP_MASTER_LEN 32 /* device keys are AES-256-CMAC keys */
#define TCP_PSP_KEY_MAX	   32
/* payload bytes under one tag */
#define TCP_PSP_CHUNK 8192
/* a group's payload bytes, and a grouped frame's payload at most */
#define TCP_PSP_GROUP_MAX   TCP_PSP_CHUNK
#define TCP_PSP_GROUP_FRAME 512
/* the SPI's top bit says which of the two device keys derived its key */
#define TCP_PSP_SPI_KEY_BIT 0x80000000u

/* Tags of a frame with @len payload bytes. */
static inline uint32_t tcp_psp_nchunks(uint32_t len)
{
	return len ? (len + TCP_PSP_CHUNK - 1) / TCP_PSP_CHUNK : 1;
}

/* Bytes of the stream a secured frame with @len payload bytes takes. */
static inline uint64_t tcp_psp_frame_bytes(uint32_t len)
{
	return 64 + (uint64_t)len +
	       (uint64_t)tcp_psp_nchunks(len) * TCP_PSP_TAG_LEN;
}

/*
 * A context's device keys, as a PSP NIC holds them: two masters, the
 * SPI's top bit picks one. Rotation writes a fresh master into the slot
 * not in use; SAs derived from the previous one stay valid until the next
 * rotation.
 */
struct tcp_psp_dev {
	uint8_t master[2][TCP_PSP_MASTER_LEN];
	uint32_t gen; /* rotations so far: the active master is gen & 1 */
	/*
	 * Receive SPIs handed out (atomic) and the random start they count
	 * from: a key is a function of master and SPI, and IVs restart at 0
	 * on every connection, so two SAs sharing an SPI would share nonces
	 * and each peer could forge the other's frames.
	 */
	uint32_t spi_base, spi_count;
};

/*
 * Fresh random masters (RAND_priv_bytes); 0 or an errno. The masters do
 * not depend on mode or algorithm: the KDF takes the algorithm per SA.
 */
int tcp_psp_dev_init(struct tcp_psp_dev *d);
/* A fresh master in the other slot; gen++. 0 or an errno. */
int tcp_psp_dev_rotate(struct tcp_psp_dev *d);
/* Wipes the masters (OPENSSL_cleanse). */
void tcp_psp_dev_wipe(struct tcp_psp_dev *d);

/*
 * PSP's key derivation: NIST SP 800-108 counter mode with AES-256-CMAC
 * keyed by @master, input block counter(4) || "Pv" || ('0' | '1') || 0x00
 * || SPI(4) || 0x0000 || L(2, bits); 128-bit keys take one block
 * (counter 1), 256-bit keys two (counters 1 and 2). Writes 16 or 32
 * bytes to @key; 0 or -1.
 */
int tcp_psp_derive(const uint8_t master[TCP_PSP_MASTER_LEN], uint32_t spi,
		   enum tcp_psp_alg alg, uint8_t *key);
/*
 * A new receive SA's SPI and key (of @alg) from the active master: the
 * SPI is unique within @d (2^31 - 1 of them) and non-zero, its top bit
 * the active slot. Safe to call concurrently, but not with rotate. 0 or
 * -1.
 */
int tcp_psp_dev_new_rx(struct tcp_psp_dev *d, enum tcp_psp_alg alg,
		       uint32_t *spi, uint8_t key[TCP_PSP_KEY_MAX]);

static inline size_t tcp_psp_key_len(enum tcp_psp_alg alg)
{
	return alg == TCP_PSP_AES256 ? 32 : 16;
}

/* One direction's security association: the key is set up once. */
struct tcp_psp_sa {
	uint32_t spi; /* 0: no SA */
	enum tcp_psp_mode mode;
	enum tcp_psp_alg alg;
	uint8_t key[TCP_PSP_KEY_MAX];
	void *evp;    /* EVP_CIPHER_CTX, keyed */
	bool opening; /* evp is set up for opens: decrypt, SPI as fixed IV */
};

/* 0 or an errno; @sa is cleared first, so it may hold an old SA. */
int tcp_psp_sa_init(struct tcp_psp_sa *sa, enum tcp_psp_mode mode,
		    enum tcp_psp_alg alg, uint32_t spi, const uint8_t *key);
/* Frees the cipher context and wipes the key; spi becomes 0. */
void tcp_psp_sa_clear(struct tcp_psp_sa *sa);

/*
 * Computes the tag over @aad (may be NULL/0) and the @len bytes of @in
 * (an iovec list that may hold more than @len bytes; only the first @len
 * count), with nonce SPI || @iv. @mode overrides sa->mode for this call
 * (a frame that must stay confidential in auth mode passes
 * TCP_PSP_ENCRYPT). Encrypt: the ciphertext goes to @out (@len bytes,
 * never overlapping @in). Auth: @out is unused. 0 or -1.
 */
int tcp_psp_seal(struct tcp_psp_sa *sa, enum tcp_psp_mode mode, uint64_t iv,
		 const void *aad, size_t aad_len, const struct iovec *in,
		 int in_n, size_t len, uint8_t *out,
		 uint8_t tag[TCP_PSP_TAG_LEN]);
/*
 * Checks @tag over @aad and @buf's @len bytes with nonce SPI || @iv;
 * encrypt mode decrypts @buf in place. 0 when the tag is right, -1
 * otherwise (then @buf's contents are undefined: never use them).
 */
int tcp_psp_open(struct tcp_psp_sa *sa, enum tcp_psp_mode mode, uint64_t iv,
		 const void *aad, size_t aad_len, uint8_t *buf, size_t len,
		 const uint8_t tag[TCP_PSP_TAG_LEN]);

#endif
