// SPDX-License-Identifier: MIT
/*
 * The security words of `link add` / `link set` and the NAME/tcp_psp they
 * produce; see psp_cfg.h. Files are checked when the command runs, so a
 * mistake shows here and not when an application opens the device.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli.h"
#include "fsutil.h"
#include "psp_cfg.h"

/* hex digits of a key's SHA-256 that `link show` prints */
#define KEY_FP_HEX 64 /* the whole SHA-256, as tcpdv_query_device reports it */

const char **psp_opts_slot(struct psp_opts *o, const char *word)
{
	if (!strcmp(word, "psp"))
		return &o->mode;
	if (!strcmp(word, "alg"))
		return &o->alg;
	if (!strcmp(word, "key"))
		return &o->key;
	if (!strcmp(word, "cert"))
		return &o->cert;
	if (!strcmp(word, "certkey"))
		return &o->certkey;
	if (!strcmp(word, "ca"))
		return &o->ca;
	if (!strcmp(word, "group"))
		return &o->group;
	return NULL;
}

bool psp_opts_any(const struct psp_opts *o)
{
	return o->mode || o->alg || o->key || o->cert || o->certkey || o->ca ||
	       o->group;
}

const char *psp_opts_check(const struct psp_opts *o)
{
	bool certs = o->cert || o->certkey || o->ca;

	if (o->mode && strcmp(o->mode, "auth") && strcmp(o->mode, "encrypt") &&
	    strcmp(o->mode, "off"))
		return "psp MODE is auth, encrypt or off";
	if (o->alg && strcmp(o->alg, "aes128") && strcmp(o->alg, "aes256"))
		return "alg is aes128 or aes256";
	if (certs && !(o->cert && o->certkey && o->ca))
		return "cert, certkey and ca go together";
	if (certs && o->key)
		return "key and cert exclude each other";
	if (o->group && (certs || o->key))
		return "group applies to the host key only";
	if (o->mode && !strcmp(o->mode, "off") && (certs || o->key || o->group))
		return "psp off takes no key, certificate or group";
	return NULL;
}

void psp_conf_default(struct tcp_psp_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->mode = TCP_PSP_AUTH;
	c->alg = TCP_PSP_AES128;
}

/* @dst = the absolute path of existing file @src (no newline in it). */
static int abs_path(char *dst, const char *src, const char *what)
{
	char *real = realpath(src, NULL);
	int err = 0;

	if (!real) {
		err = -errno;
		rtcp_err("%s %s: %s", what, src, strerror(errno));
		return err;
	}
	if (strchr(real, '\n') || strlen(real) >= PATH_MAX) {
		rtcp_err("%s %s: unusable path", what, src);
		err = -EINVAL;
	} else {
		strcpy(dst, real);
	}
	free(real);
	return err;
}

static int no_passphrase(char *buf, int size, int rw, void *u)
{
	return -1;
}

/* The certificate in PEM file @path; NULL (reported) when there is none. */
static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "re");
	X509 *x = NULL;

	if (f) {
		x = PEM_read_X509(f, NULL, no_passphrase, NULL);
		fclose(f);
	}
	if (!x)
		rtcp_err("%s: %s", path,
			 f ? "not a PEM certificate" : strerror(errno));
	return x;
}

/* The triple must load as the handshake will load it. */
static int check_certs(const struct tcp_psp_conf *c)
{
	EVP_PKEY *pk = NULL;
	X509 *x, *ca;
	FILE *f;
	int err = -EINVAL;

	x = read_cert(c->cert);
	ca = x ? read_cert(c->ca) : NULL;
	if (!ca)
		goto out;
	if (tcp_psp_secret_check(c->cert_key))
		goto out;
	f = fopen(c->cert_key, "re");
	if (f) {
		pk = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
		fclose(f);
	}
	if (!pk)
		rtcp_err("%s: not an unencrypted PEM private key", c->cert_key);
	else if (X509_check_private_key(x, pk) != 1)
		rtcp_err("%s is not the private key of %s", c->cert_key,
			 c->cert);
	else
		err = 0;
out:
	EVP_PKEY_free(pk);
	X509_free(ca);
	X509_free(x);
	return err;
}

/* The credential words of @o into @c; the host key when none is left. */
static int apply_credential(const struct reg_root *r, struct tcp_psp_conf *c,
			    const struct psp_opts *o)
{
	char host[PATH_MAX];
	int err = 0;

	if (o->key) {
		c->cert[0] = c->cert_key[0] = c->ca[0] = '\0';
		err = abs_path(c->key, o->key, "key file");
	} else if (o->cert) {
		c->key[0] = '\0';
		err = abs_path(c->cert, o->cert, "certificate");
		if (!err)
			err = abs_path(c->cert_key, o->certkey,
				       "certificate key");
		if (!err)
			err = abs_path(c->ca, o->ca, "CA certificate");
	}
	if (!err &&
	    fs_path(host, sizeof(host), "%s/" RDMA_TCP_HOST_KEY, r->path))
		err = -ENAMETOOLONG;
	if (err || (c->mode == TCP_PSP_OFF && !o->group))
		return err;
	if (!c->key[0] && !c->cert[0])
		strcpy(c->key, host);
	if (o->group && strcmp(c->key, host)) {
		rtcp_err("group applies to the host key only; the device uses "
			 "%s: chgrp it yourself",
			 c->key[0] ? c->key : c->cert_key);
		return -EINVAL;
	}
	/* made on first use; also for a device older than host keys */
	if (!strcmp(c->key, host))
		err = hostkey_ensure(r, o->group, host, sizeof(host));
	return err;
}

int psp_apply(const struct reg_root *r, struct tcp_psp_conf *c,
	      const struct psp_opts *o)
{
	int err;

	if (o->mode)
		c->mode = !strcmp(o->mode, "off")    ? TCP_PSP_OFF
			  : !strcmp(o->mode, "auth") ? TCP_PSP_AUTH
						     : TCP_PSP_ENCRYPT;
	if (o->alg)
		c->alg = !strcmp(o->alg, "aes256") ? TCP_PSP_AES256
						   : TCP_PSP_AES128;
	err = apply_credential(r, c, o);
	if (err || c->mode == TCP_PSP_OFF)
		return err;
	if (c->key[0]) {
		err = -tcp_psp_key_read(c->key, c->psk);
		tcp_psp_conf_wipe(c);
		return err;
	}
	return check_certs(c);
}

static const char *mode_name(enum tcp_psp_mode m)
{
	return m == TCP_PSP_OFF	   ? "off"
	       : m == TCP_PSP_AUTH ? "auth"
				   : "encrypt";
}

static const char *alg_name(enum tcp_psp_alg a)
{
	return a == TCP_PSP_AES256 ? "aes256" : "aes128";
}

int psp_format(const struct tcp_psp_conf *c, char *buf, size_t len)
{
	int n;

	n = snprintf(buf, len, "mode %s\nalg %s\n", mode_name(c->mode),
		     alg_name(c->alg));
	if (n >= 0 && (size_t)n < len && c->key[0])
		n += snprintf(buf + n, len - (size_t)n, "key %s\n", c->key);
	else if (n >= 0 && (size_t)n < len && c->cert[0])
		n += snprintf(buf + n, len - (size_t)n,
			      "cert %s\ncertkey %s\nca %s\n", c->cert,
			      c->cert_key, c->ca);
	if (n < 0)
		return -EINVAL;
	return (size_t)n < len ? 0 : -ENAMETOOLONG;
}

static void hex(const unsigned char *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/*
 * "sha256:" and the key's SHA-256 (64 hex digits, as tcpdv reports it), or why there
 * is none.
 */
static void key_fingerprint(struct tcp_psp_conf *c, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	int err;

	/* a user who may not read it sees that, not a refusal message */
	if (access(c->key, R_OK)) {
		strcpy(out, errno == ENOENT ? "(missing)" : "(unreadable)");
		return;
	}
	err = tcp_psp_key_read(c->key, c->psk);
	if (err) {
		strcpy(out, err == EACCES ? "(refused)" : "(malformed)");
		return;
	}
	if (EVP_Digest(c->psk, sizeof(c->psk), md, &n, EVP_sha256(), NULL) &&
	    n >= KEY_FP_HEX / 2) {
		strcpy(out, "sha256:");
		hex(md, KEY_FP_HEX / 2, out + 7);
	} else {
		strcpy(out, "(no SHA-256)");
	}
	tcp_psp_conf_wipe(c);
	OPENSSL_cleanse(md, sizeof(md));
}

/* "sha256:" and the certificate's whole SHA-256 fingerprint, or why not. */
static void cert_fingerprint(const char *path, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	FILE *f = fopen(path, "re");
	X509 *x = NULL;
	bool ok;

	if (f) {
		x = PEM_read_X509(f, NULL, no_passphrase, NULL);
		fclose(f);
	}
	ok = x && X509_digest(x, EVP_sha256(), md, &n) && n == 32;
	X509_free(x);
	if (ok) {
		strcpy(out, "sha256:");
		hex(md, n, out + 7);
	} else {
		strcpy(out, f ? "(not a certificate)" : "(unreadable)");
	}
}

void psp_describe(const char *dir, char *buf, size_t len)
{
	struct tcp_psp_conf c;
	char fp[8 + 2 * EVP_MAX_MD_SIZE];

	if (tcp_psp_conf_read(dir, &c)) {
		snprintf(buf, len, "psp (unreadable configuration)");
		return;
	}
	if (c.mode == TCP_PSP_OFF) {
		snprintf(buf, len, "psp off (UNAUTHENTICATED)");
		return;
	}
	if (c.have_psk)
		key_fingerprint(&c, fp);
	else
		cert_fingerprint(c.cert, fp);
	snprintf(buf, len, "psp %s %s %s %s", mode_name(c.mode),
		 alg_name(c.alg), c.have_psk ? "key" : "cert", fp);
}
