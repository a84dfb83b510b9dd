// SPDX-License-Identifier: MIT
/*
 * The TLS 1.3 key exchange of a connection (hs.h): OpenSSL over memory
 * BIOs, fed one record at a time so that nothing past the last TLS record
 * leaves the socket -- the frames that follow belong to the transport.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "hs.h"

#define HS_REC_HDR 5
/* TLSCiphertext.length's limit (RFC 8446, 5.2) */
#define HS_REC_MAX (16384 + 256)
#define HS_MSG_MAX 512

/* Names the PSK, and so the scheme: a peer with another identity has no
 * PSK of ours. */
static const char hs_psk_identity[] = "rdma-tcp psk v1";

struct tcp_hs {
	SSL *ssl; /* owns rbio and wbio */
	BIO *rbio, *wbio;
	struct tcp_hs_cred *cred;
	int fd;
	bool server, done, failed;
	bool psk_named; /* server: the client named our PSK's identity */
	unsigned int records_in; /* records fed to OpenSSL */
	enum tcp_hs_err err;
	char detail[128];
	/* bytes SSL wrote that the socket has not taken yet */
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	/* the record being read: header, then exactly its body */
	size_t rec_have;
	bool rec_checked;
	uint8_t rec[HS_REC_HDR + HS_REC_MAX];
};

static enum tcp_hs_status hs_fail(struct tcp_hs *hs, enum tcp_hs_err e,
				  const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The first failure is the reason; what follows from it is not. */
static enum tcp_hs_status hs_fail(struct tcp_hs *hs, enum tcp_hs_err e,
				  const char *fmt, ...)
{
	va_list ap;

	if (!hs->failed) {
		hs->failed = true;
		hs->err = e;
		va_start(ap, fmt);
		vsnprintf(hs->detail, sizeof(hs->detail), fmt, ap);
		va_end(ap);
	}
	return TCP_HS_FAIL;
}

/* ---- credentials ---- */

/* The external PSK as the resumption session TLS 1.3 takes it as. */
static SSL_SESSION *hs_psk_session(SSL *ssl, const uint8_t *psk)
{
	static const unsigned char aes128gcm[2] = { 0x13, 0x01 };
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcm);
	SSL_SESSION *s;

	if (!cipher)
		return NULL;
	s = SSL_SESSION_new();
	if (!s)
		return NULL;
	if (!SSL_SESSION_set1_master_key(s, psk, TCP_PSP_PSK_LEN) ||
	    !SSL_SESSION_set_cipher(s, cipher) ||
	    !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
		SSL_SESSION_free(s); /* cleanses the master key */
		return NULL;
	}
	return s;
}

static int hs_psk_use(SSL *ssl, const EVP_MD *md, const unsigned char **id,
		      size_t *idlen, SSL_SESSION **sess)
{
	struct tcp_hs *hs = SSL_get_app_data(ssl);

	*sess = NULL;
	/* after a HelloRetryRequest: only a SHA-256 suite fits our PSK */
	if (md && EVP_MD_get_type(md) != NID_sha256)
		return 1;
	*sess = hs_psk_session(ssl, hs->cred->psk);
	if (!*sess)
		return 0;
	*id = (const unsigned char *)hs_psk_identity;
	*idlen = sizeof(hs_psk_identity) - 1;
	return 1;
}

static int hs_psk_find(SSL *ssl, const unsigned char *id, size_t idlen,
		       SSL_SESSION **sess)
{
	struct tcp_hs *hs = SSL_get_app_data(ssl);

	*sess = NULL;
	/* another identity: no PSK, and without a certificate no handshake */
	if (idlen != sizeof(hs_psk_identity) - 1 ||
	    memcmp(id, hs_psk_identity, idlen))
		return 1;
	hs->psk_named = true;
	*sess = hs_psk_session(ssl, hs->cred->psk);
	return *sess ? 1 : 0;
}

static int hs_ctx_psk(SSL_CTX *ctx, bool server)
{
	/* the suite of hs_psk_session: a PSK binds its hash */
	if (!SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256"))
		return ENOMEM;
	/* a server that verifies peers resumes (takes a PSK) only within
	 * a session id context */
	if (server && !SSL_CTX_set_session_id_context(
			      ctx, (const unsigned char *)hs_psk_identity,
			      sizeof(hs_psk_identity) - 1))
		return ENOMEM;
	if (server)
		SSL_CTX_set_psk_find_session_callback(ctx, hs_psk_find);
	else
		SSL_CTX_set_psk_use_session_callback(ctx, hs_psk_use);
	return 0;
}

static int hs_ctx_cert(SSL_CTX *ctx, const struct tcp_psp_conf *conf)
{
	/* send the chain of the certificate file, not one completed from
	 * the CA file: the peer holds that CA already (and a stranger's
	 * certificate then fails as "unable to get local issuer", not as a
	 * self-signed root of ours in its chain) */
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
	if (SSL_CTX_use_certificate_chain_file(ctx, conf->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, conf->cert_key,
					SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, conf->ca, NULL) != 1)
		return EINVAL;
	return 0;
}

/* One role's context: TLS 1.3 only, mutual, nothing after the handshake. */
static SSL_CTX *hs_ctx_new(const struct tcp_psp_conf *conf, bool server,
			   int *err)
{
	SSL_CTX *ctx =
		SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	*err = ENOMEM;
	if (!ctx)
		return NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_num_tickets(ctx, 0))
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION |
					 SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_CLEANSE_PLAINTEXT);
	/* no dummy ChangeCipherSpec records: there is no middlebox to fool */
	SSL_CTX_clear_options(ctx, SSL_OP_ENABLE_MIDDLEBOX_COMPAT);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* PSK handshakes carry no certificates; a peer without the PSK is
	 * asked for one, which it cannot prove without our CA */
	SSL_CTX_set_verify(ctx,
			   server ? SSL_VERIFY_PEER |
					    SSL_VERIFY_FAIL_IF_NO_PEER_CERT
				  : SSL_VERIFY_PEER,
			   NULL);
	*err = conf->have_psk ? hs_ctx_psk(ctx, server)
			      : hs_ctx_cert(ctx, conf);
	if (*err)
		goto fail;
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

int tcp_hs_cred_init(struct tcp_hs_cred *c, const struct tcp_psp_conf *conf)
{
	int err;

	memset(c, 0, sizeof(*c));
	if (conf->have_psk) {
		memcpy(c->psk, conf->psk, TCP_PSP_PSK_LEN);
		c->have_psk = true;
	} else if (!conf->cert[0] || !conf->cert_key[0] || !conf->ca[0]) {
		return EINVAL;
	}
	c->client = hs_ctx_new(conf, false, &err);
	if (c->client)
		c->server = hs_ctx_new(conf, true, &err);
	if (!c->server) {
		tcp_hs_cred_free(c);
		return err;
	}
	return 0;
}

void tcp_hs_cred_free(struct tcp_hs_cred *c)
{
	SSL_CTX_free(c->client);
	SSL_CTX_free(c->server);
	c->client = c->server = NULL;
	OPENSSL_cleanse(c->psk, sizeof(c->psk));
	c->have_psk = false;
}

/* ---- one handshake ---- */

struct tcp_hs *tcp_hs_new(struct tcp_hs_cred *c, enum tcp_hs_role role, int fd)
{
	struct tcp_hs *hs = calloc(1, sizeof(*hs));

	if (!hs)
		return NULL;
	hs->cred = c;
	hs->fd = fd;
	hs->server = role == TCP_HS_SERVER;
	hs->ssl = SSL_new(hs->server ? c->server : c->client);
	hs->rbio = BIO_new(BIO_s_mem());
	hs->wbio = BIO_new(BIO_s_mem());
	if (!hs->ssl || !hs->rbio || !hs->wbio) {
		BIO_free(hs->rbio);
		BIO_free(hs->wbio);
		SSL_free(hs->ssl);
		free(hs);
		ERR_clear_error();
		return NULL;
	}
	/* an empty rbio means "wait", not end of stream */
	BIO_set_mem_eof_return(hs->rbio, -1);
	SSL_set_bio(hs->ssl, hs->rbio, hs->wbio);
	SSL_set_app_data(hs->ssl, hs);
	if (hs->server)
		SSL_set_accept_state(hs->ssl);
	else
		SSL_set_connect_state(hs->ssl);
	return hs;
}

void tcp_hs_free(struct tcp_hs *hs)
{
	if (!hs)
		return;
	/* no SSL_shutdown: no close_notify, frames follow on the stream.
	 * SSL_free cleanses the traffic secrets (and, with
	 * SSL_OP_CLEANSE_PLAINTEXT, the plaintext buffers). */
	SSL_free(hs->ssl);
	free(hs->out);
	OPENSSL_cleanse(hs, sizeof(*hs));
	free(hs);
}

static enum tcp_hs_status hs_sock_err(struct tcp_hs *hs, int err,
				      const char *what)
{
	return hs_fail(hs, TCP_HS_ERR_CLOSED, "%s: %s", what, strerror(err));
}

/* Moves what SSL wrote into the output buffer. */
static enum tcp_hs_status hs_drain(struct tcp_hs *hs)
{
	size_t pend = BIO_ctrl_pending(hs->wbio);
	uint8_t *p;

	if (!pend)
		return TCP_HS_OK;
	if (hs->out_off) {
		memmove(hs->out, hs->out + hs->out_off,
			hs->out_len - hs->out_off);
		hs->out_len -= hs->out_off;
		hs->out_off = 0;
	}
	if (hs->out_len + pend > hs->out_cap) {
		p = realloc(hs->out, hs->out_len + pend);
		if (!p)
			return hs_fail(hs, TCP_HS_ERR_NOMEM, "out of memory");
		hs->out = p;
		hs->out_cap = hs->out_len + pend;
	}
	if (BIO_read(hs->wbio, hs->out + hs->out_len, (int)pend) != (int)pend)
		return hs_fail(hs, TCP_HS_ERR_NOMEM, "memory BIO read");
	hs->out_len += pend;
	return TCP_HS_OK;
}

static enum tcp_hs_status hs_read_record(struct tcp_hs *hs);
static enum tcp_hs_status hs_ssl_fail(struct tcp_hs *hs, int ret);

/*
 * send() found the connection reset: a peer that rejected us sends its
 * alert and closes, and the close resets when our records are unread.
 * Linux still hands out what was queued before the reset, so the alert
 * may be there to read: it says why better than the reset does.
 */
static void hs_salvage(struct tcp_hs *hs)
{
	uint8_t buf[HS_MSG_MAX + 1];
	int r;

	while (!hs->failed && hs_read_record(hs) == TCP_HS_OK) {
		ERR_clear_error();
		r = hs->done ? SSL_read(hs->ssl, buf, sizeof(buf))
			     : SSL_do_handshake(hs->ssl);
		if (r <= 0 && SSL_get_error(hs->ssl, r) != SSL_ERROR_WANT_READ)
			hs_ssl_fail(hs, r);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	ERR_clear_error();
}

/* Sends what SSL wrote, as far as the socket takes it. */
static enum tcp_hs_status hs_push(struct tcp_hs *hs)
{
	ssize_t n;
	int err;

	if (hs_drain(hs) != TCP_HS_OK)
		return TCP_HS_FAIL;
	while (hs->out_off < hs->out_len) {
		n = send(hs->fd, hs->out + hs->out_off,
			 hs->out_len - hs->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			hs->out_off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return TCP_HS_WANT_WRITE;
		err = errno;
		if (!hs->failed && (err == ECONNRESET || err == EPIPE))
			hs_salvage(hs);
		return hs_sock_err(hs, err, "send");
	}
	hs->out_off = hs->out_len = 0;
	return TCP_HS_OK;
}

/* A record header we could be given by TLS 1.3: a known content type,
 * a 3.x version, a length within the limit. Checked before reading the
 * body, so a stranger's bytes fail at once and a huge length is never
 * read. */
static enum tcp_hs_status hs_check_header(struct tcp_hs *hs)
{
	const uint8_t *h = hs->rec;
	unsigned int len = (unsigned int)h[3] << 8 | h[4];

	if (h[0] < 20 || h[0] > 23 || h[1] != 3)
		return hs_fail(hs, TCP_HS_ERR_PROTO,
			       "not a TLS record (bytes %02x %02x %02x)", h[0],
			       h[1], h[2]);
	if (len > HS_REC_MAX)
		return hs_fail(hs, TCP_HS_ERR_PROTO,
			       "TLS record of %u bytes (limit %u)", len,
			       HS_REC_MAX);
	hs->rec_checked = true;
	return TCP_HS_OK;
}

/* Reads one whole record from the socket into rbio, and not a byte more. */
static enum tcp_hs_status hs_read_record(struct tcp_hs *hs)
{
	size_t need;
	ssize_t n;

	for (;;) {
		if (hs->rec_have == HS_REC_HDR && !hs->rec_checked &&
		    hs_check_header(hs) != TCP_HS_OK)
			return TCP_HS_FAIL;
		need = HS_REC_HDR;
		if (hs->rec_checked)
			need += (size_t)hs->rec[3] << 8 | hs->rec[4];
		if (hs->rec_checked && hs->rec_have == need)
			break;
		n = recv(hs->fd, hs->rec + hs->rec_have, need - hs->rec_have,
			 MSG_DONTWAIT);
		if (n > 0) {
			hs->rec_have += (size_t)n;
			continue;
		}
		if (n == 0)
			return hs_fail(hs, TCP_HS_ERR_CLOSED,
				       "the peer closed the connection");
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return TCP_HS_WANT_READ;
		return hs_sock_err(hs, errno, "recv");
	}
	hs->rec_have = 0;
	hs->rec_checked = false;
	hs->records_in++;
	if (BIO_write(hs->rbio, hs->rec, (int)need) != (int)need)
		return hs_fail(hs, TCP_HS_ERR_NOMEM, "memory BIO write");
	return TCP_HS_OK;
}

/* Alerts that say the peer does not accept our credentials. */
static bool hs_cred_alert(int alert)
{
	switch (alert) {
	case SSL_AD_HANDSHAKE_FAILURE:
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_EXPIRED:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_UNKNOWN_CA:
	case SSL_AD_ACCESS_DENIED:
	case SSL_AD_DECRYPT_ERROR:
	case SSL_AD_UNKNOWN_PSK_IDENTITY:
	case SSL_AD_CERTIFICATE_REQUIRED:
		return true;
	}
	return false;
}

/*
 * Credential mismatches OpenSSL reports as something else. A PSK server
 * answers a bad binder with illegal_parameter (the client sees it as the
 * first record, instead of a ServerHello); a PSK server has no
 * certificate, so a client that did not name our PSK gets "no suitable
 * signature algorithm".
 */
static bool hs_psk_refused(struct tcp_hs *hs, int reason)
{
	if (!hs->cred->have_psk)
		return false;
	if (hs->server)
		return !hs->psk_named &&
		       reason == SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM;
	return hs->records_in == 1 &&
	       reason == SSL_AD_REASON_OFFSET + SSL_AD_ILLEGAL_PARAMETER;
}

/* Why OpenSSL gave up, from the first error it queued. */
static void hs_classify(struct tcp_hs *hs, unsigned long code)
{
	int reason =
		ERR_GET_LIB(code) == ERR_LIB_SSL ? ERR_GET_REASON(code) : 0;
	int alert = reason - SSL_AD_REASON_OFFSET;
	const char *what = ERR_reason_error_string(code);

	if (!what)
		what = "unknown error";
	if (hs_psk_refused(hs, reason))
		hs_fail(hs, TCP_HS_ERR_CRED, "%s (%s)",
			hs->server ? "the peer did not offer our PSK"
				   : "the peer refused our PSK",
			what);
	else if (alert > 0 && alert < 256)
		hs_fail(hs,
			hs_cred_alert(alert) ? TCP_HS_ERR_CRED
					     : TCP_HS_ERR_PROTO,
			"peer's alert: %s", SSL_alert_desc_string_long(alert));
	else if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
		hs_fail(hs, TCP_HS_ERR_CRED, "peer's certificate: %s",
			X509_verify_cert_error_string(
				SSL_get_verify_result(hs->ssl)));
	else if (reason == SSL_R_BINDER_DOES_NOT_VERIFY ||
		 reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		hs_fail(hs, TCP_HS_ERR_CRED, "%s", what);
	else
		hs_fail(hs, TCP_HS_ERR_PROTO, "%s", what);
}

/* An SSL call failed: record why, and let our alert reach the peer. */
static enum tcp_hs_status hs_ssl_fail(struct tcp_hs *hs, int ret)
{
	int e = SSL_get_error(hs->ssl, ret);

	if (e == SSL_ERROR_ZERO_RETURN)
		hs_fail(hs, TCP_HS_ERR_CLOSED, "the peer sent close_notify");
	else if (e == SSL_ERROR_SSL)
		hs_classify(hs, ERR_peek_error());
	else
		hs_fail(hs, TCP_HS_ERR_PROTO, "TLS error %d", e);
	ERR_clear_error();
	hs_push(hs); /* best effort: the reason is already set */
	return TCP_HS_FAIL;
}

enum tcp_hs_status tcp_hs_step(struct tcp_hs *hs)
{
	enum tcp_hs_status st;
	int r;

	if (hs->failed)
		return TCP_HS_FAIL;
	for (;;) {
		st = hs_push(hs);
		if (st != TCP_HS_OK || hs->done)
			return st;
		ERR_clear_error();
		r = SSL_do_handshake(hs->ssl);
		if (r == 1) {
			hs->done = true;
			continue; /* our last flight may be unsent */
		}
		if (SSL_get_error(hs->ssl, r) != SSL_ERROR_WANT_READ)
			return hs_ssl_fail(hs, r);
		st = hs_push(hs);
		if (st == TCP_HS_OK)
			st = hs_read_record(hs);
		if (st != TCP_HS_OK)
			return st;
	}
}

enum tcp_hs_status tcp_hs_send(struct tcp_hs *hs, const void *msg, size_t len)
{
	int r;

	if (hs->failed)
		return TCP_HS_FAIL;
	if (!hs->done || !len || len > HS_MSG_MAX)
		return hs_fail(hs, TCP_HS_ERR_PROTO,
			       "message of %zu bytes before/after handshake",
			       len);
	ERR_clear_error();
	r = SSL_write(hs->ssl, msg, (int)len);
	if (r != (int)len)
		return hs_ssl_fail(hs, r);
	return hs_push(hs);
}

enum tcp_hs_status tcp_hs_flush(struct tcp_hs *hs)
{
	if (hs->failed)
		return TCP_HS_FAIL;
	return hs_push(hs);
}

enum tcp_hs_status tcp_hs_recv(struct tcp_hs *hs, void *msg, size_t len)
{
	uint8_t buf[HS_MSG_MAX + 1];
	enum tcp_hs_status st;
	int r;

	if (hs->failed)
		return TCP_HS_FAIL;
	if (!hs->done || !len || len > HS_MSG_MAX)
		return hs_fail(hs, TCP_HS_ERR_PROTO,
			       "reading %zu bytes before/after handshake", len);
	for (;;) {
		ERR_clear_error();
		/* one more byte than asked: a longer record is an error,
		 * not a message cut in two */
		r = SSL_read(hs->ssl, buf, (int)len + 1);
		if (r > 0)
			break;
		if (SSL_get_error(hs->ssl, r) != SSL_ERROR_WANT_READ)
			return hs_ssl_fail(hs, r);
		st = hs_read_record(hs);
		if (st != TCP_HS_OK)
			return st;
	}
	if ((size_t)r == len)
		memcpy(msg, buf, len);
	OPENSSL_cleanse(buf, (size_t)r);
	if ((size_t)r != len)
		return hs_fail(hs, TCP_HS_ERR_PROTO,
			       "message of %d bytes, expected %zu", r, len);
	return TCP_HS_OK;
}

int tcp_hs_export(struct tcp_hs *hs, const char *label, uint8_t *out,
		  size_t len)
{
	int r;

	if (!hs->done || hs->failed)
		return -1;
	ERR_clear_error();
	r = SSL_export_keying_material(hs->ssl, out, len, label, strlen(label),
				       NULL, 0, 0);
	ERR_clear_error();
	return r == 1 ? 0 : -1;
}

enum tcp_hs_err tcp_hs_reason(const struct tcp_hs *hs)
{
	return hs->err;
}

const char *tcp_hs_detail(const struct tcp_hs *hs)
{
	return hs->detail;
}

const char *tcp_hs_strerror(enum tcp_hs_err e)
{
	switch (e) {
	case TCP_HS_ERR_NONE:
		return "no error";
	case TCP_HS_ERR_CRED:
		return "the peer's credentials do not match ours";
	case TCP_HS_ERR_CLOSED:
		return "the peer closed the connection during the key exchange";
	case TCP_HS_ERR_PROTO:
		return "the peer does not speak our key exchange";
	case TCP_HS_ERR_NOMEM:
		return "out of memory";
	}
	return "unknown error";
}
