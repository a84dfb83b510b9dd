// SPDX-License-Identifier: MIT
/*
 * Credential fingerprints (psp_fpr.h): SHA-256 through OpenSSL's EVP.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "psp_fpr.h"

static int fpr_format(const unsigned char *md, unsigned int n, char *out,
		      size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t pos = sizeof("sha256:") - 1;
	unsigned int i;

	if (n != 32 || size < TCP_PSP_FPR_LEN)
		return EINVAL;
	memcpy(out, "sha256:", pos);
	for (i = 0; i < n; i++) {
		out[pos++] = hex[md[i] >> 4];
		out[pos++] = hex[md[i] & 15];
	}
	out[pos] = '\0';
	return 0;
}

int tcp_psp_fpr_psk(const uint8_t *psk, size_t len, char *out, size_t size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(psk, len, md, &n, EVP_sha256(), NULL))
		return EINVAL;
	return fpr_format(md, n, out, size);
}

int tcp_psp_fpr_cert(const char *path, char *out, size_t size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	X509 *cert;
	FILE *f;
	int err;

	f = fopen(path, "re");
	if (!f)
		return errno;
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!cert)
		return EINVAL;
	err = X509_digest(cert, EVP_sha256(), md, &n) ? 0 : EINVAL;
	X509_free(cert);
	return err ? err : fpr_format(md, n, out, size);
}
