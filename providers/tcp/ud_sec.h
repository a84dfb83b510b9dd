/* SPDX-License-Identifier: MIT */
/*
 * Security of UD datagrams (docs/design.md, "UD datagram security"). A UD
 * datagram has no connection and so no key exchange: in psp auth and
 * encrypt modes its key is derived from the device's pre-shared key (the
 * key file every user of the device reads) and the sender's random 64-bit
 * sid, so every sending QP has keys of its own and its nonces (SPI-like
 * low half of the sid || seq) never repeat under one key. The receiver
 * derives the same key from the sid it reads, caches it, and refuses a
 * seq not above the last one it accepted from that sid (seq is the
 * sender's clock in ns, kept strictly increasing, so that a receiver
 * can refuse old seqs of senders it evicted from its cache). A device with
 * certificates has no shared key: UD QPs are EOPNOTSUPP there.
 *
 * Locking: a tx state belongs to one QP's send path, an rx state to the
 * reader of one QP's socket; both are used under that QP's lock only.
 */
#ifndef RDMA_TCP_UD_SEC_H
#define RDMA_TCP_UD_SEC_H

#include <stdint.h>
#include <sys/uio.h>

#include <rdma_tcp/wire.h>

struct tcp_context;
struct tcp_sec_cfg;

/*
 * Each state holds a reference to the configuration current when it was
 * made (sec_cfg.h) and keeps it for its life: a `link set` reaches UD QPs
 * created afterwards, as it reaches connections that start afterwards.
 */
struct tcp_ud_tx_sec {
	uint64_t sid;
	uint64_t seq; /* last used */
	void *sa;     /* the keyed cipher (ud_sec.c), NULL when off */
	struct tcp_sec_cfg *cfg;
};

struct tcp_ud_rx_sec {
	void *cache; /* senders seen: sid -> key, last seq (ud_sec.c) */
	struct tcp_sec_cfg *cfg;
};

/*
 * Can this context's devices carry UD at all: 0, or -EOPNOTSUPP
 * (certificates, no shared key).
 */
int tcp_ud_sec_supported(struct tcp_context *ctx);
/* A fresh random sid and its key (nothing when off). 0 or -errno. */
int tcp_ud_tx_init(struct tcp_context *ctx, struct tcp_ud_tx_sec *tx);
void tcp_ud_tx_fini(struct tcp_ud_tx_sec *tx);
int tcp_ud_rx_init(struct tcp_context *ctx, struct tcp_ud_rx_sec *rx);
/*
 * Both halves of a UD QP from one configuration (a `link set` between
 * two looks could otherwise give them two). 0 or -errno (-EOPNOTSUPP
 * where the device has certificates); either way *_fini both.
 */
int tcp_ud_sec_init(struct tcp_context *ctx, struct tcp_ud_tx_sec *tx,
		    struct tcp_ud_rx_sec *rx);
void tcp_ud_rx_fini(struct tcp_ud_rx_sec *rx);
/* Senders an rx state holds keys for (at most 256; 0 when off). */
unsigned int tcp_ud_rx_senders(const struct tcp_ud_rx_sec *rx);

/*
 * Sets @h's mode, alg, sid and seq (the next one), encodes it into
 * @hdr_wire, and computes @tag over the header and the first @len bytes
 * of @iov. Encrypt mode writes the ciphertext to @out (@len bytes, not
 * overlapping @iov): send @out instead of @iov then. Off mode: no tag,
 * @out unused. 0 or -errno.
 */
int tcp_ud_seal(struct tcp_ud_tx_sec *tx, struct rtcp_ud_hdr *h,
		uint8_t hdr_wire[RTCP_UD_HDR_LEN], const struct iovec *iov,
		int niov, uint32_t len, uint8_t *out,
		uint8_t tag[RTCP_UD_TAG_LEN]);
/*
 * Checks a received datagram already decoded into @h (rtcp_ud_decode):
 * its mode and alg are this context's, its tag is right over @hdr_wire
 * and @payload (decrypted in place in encrypt mode), its seq is new for
 * its sid. 0: deliver; -EBADMSG: drop it (nothing of it may be placed).
 */
int tcp_ud_open(struct tcp_ud_rx_sec *rx, const struct rtcp_ud_hdr *h,
		const uint8_t hdr_wire[RTCP_UD_HDR_LEN], uint8_t *payload,
		uint32_t len, const uint8_t tag[RTCP_UD_TAG_LEN]);

#endif
