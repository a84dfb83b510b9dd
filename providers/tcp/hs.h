/* SPDX-License-Identifier: MIT */
/*
 * The authenticated key exchange of a QP connection (docs/design.md,
 * "Security model"): TLS 1.3 with OpenSSL, mutual, with an external PSK
 * (the device's key file) or certificates. TLS carries only the
 * rendezvous messages (the SA offer and answer, wire.h); frames follow on
 * the raw stream. So TLS must never read past its last record: records
 * are read from the socket one at a time (5-byte record header, then
 * exactly its body) and fed to OpenSSL through memory BIOs.
 *
 * Nonblocking: every call does what the socket allows and says whether
 * it waits for input or for room to write. No session tickets, no
 * renegotiation, no post-handshake messages.
 */
#ifndef RDMA_TCP_HS_H
#define RDMA_TCP_HS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "psp_conf.h"

/* A context's TLS configuration, both roles (SSL_CTX each). */
struct tcp_hs_cred {
	void *client; /* SSL_CTX */
	void *server; /* SSL_CTX */
	/* external PSK (conf->psk), wiped with the credential */
	uint8_t psk[TCP_PSP_PSK_LEN];
	bool have_psk;
};

/* Builds both SSL_CTXs from @conf (the PSK when conf->have_psk, else
 * cert/key/CA). 0 or an errno (EINVAL: unusable credentials -- a file
 * missing or unreadable, a key that is not the certificate's; ENOMEM). */
int tcp_hs_cred_init(struct tcp_hs_cred *c, const struct tcp_psp_conf *conf);
void tcp_hs_cred_free(struct tcp_hs_cred *c);

enum tcp_hs_role { TCP_HS_CLIENT, TCP_HS_SERVER };

enum tcp_hs_status {
	TCP_HS_OK = 0,	   /* done: handshake complete / message sent or read */
	TCP_HS_WANT_READ,  /* call again when the socket is readable */
	TCP_HS_WANT_WRITE, /* call again when the socket is writable */
	TCP_HS_FAIL,	   /* the exchange failed: close the connection */
};

/* Why an exchange failed (tcp_hs_reason), for logs and rdma_cm rejects. */
enum tcp_hs_err {
	TCP_HS_ERR_NONE = 0,
	TCP_HS_ERR_CRED,   /* the peer's credentials are not ours (PSK, CA) */
	TCP_HS_ERR_CLOSED, /* the peer closed or reset the connection */
	TCP_HS_ERR_PROTO,  /* not TLS 1.3 as we speak it, or too large */
	TCP_HS_ERR_NOMEM,
};

struct tcp_hs;

/* A handshake on connected socket @fd (nonblocking; not owned). @c must
 * stay where it is and outlive the handshake (the PSK callbacks read it). */
struct tcp_hs *tcp_hs_new(struct tcp_hs_cred *c, enum tcp_hs_role role, int fd);
/* Frees the TLS state (no close_notify: frames follow); wipes secrets. */
void tcp_hs_free(struct tcp_hs *hs);
/*
 * Drives the handshake; TCP_HS_OK once it is complete. Each end's OK
 * means it has authenticated the peer -- but the client's step completes
 * when it has sent its last flight, before the server has checked the
 * client's certificate (or, in PSK mode, its Finished). A client is only
 * accepted once the server's first message arrives: a rejection reaches
 * it as TCP_HS_FAIL/ERR_CRED from tcp_hs_recv (or tcp_hs_send, if the
 * server's close reset the connection first). tcp_hs_send/recv fail
 * before the end's own step returned OK, so the server never takes a
 * message from a client it has not authenticated. In PSK mode a wrong
 * key fails at the ClientHello (its binder), before either end is done.
 */
enum tcp_hs_status tcp_hs_step(struct tcp_hs *hs);
/* Sends one application message of @len bytes (1..512) after the
 * handshake, as one TLS record; TCP_HS_WANT_WRITE: call tcp_hs_flush
 * until TCP_HS_OK. */
enum tcp_hs_status tcp_hs_send(struct tcp_hs *hs, const void *msg, size_t len);
enum tcp_hs_status tcp_hs_flush(struct tcp_hs *hs);
/* Reads one application message of exactly @len bytes (1..512; the peer
 * sent it with one tcp_hs_send; another length is ERR_PROTO); reads no
 * byte of the stream past its record. */
enum tcp_hs_status tcp_hs_recv(struct tcp_hs *hs, void *msg, size_t len);
enum tcp_hs_err tcp_hs_reason(const struct tcp_hs *hs);
const char *tcp_hs_strerror(enum tcp_hs_err e);
/* One line on what failed, for logs: the peer's alert ("peer's alert:
 * unknown CA"), the certificate check ("peer's certificate: certificate
 * has expired"), the socket error; "" while nothing failed. Names no key
 * material. Valid until tcp_hs_free. */
const char *tcp_hs_detail(const struct tcp_hs *hs);
/*
 * RFC 5705 / 8446 (7.5) exported keying material of the completed
 * handshake: @len bytes for @label (no context), equal on both ends and
 * secret like a key (wipe it). 0, or -1 before the handshake completed.
 */
int tcp_hs_export(struct tcp_hs *hs, const char *label, uint8_t *out,
		  size_t len);

#endif
