// SPDX-License-Identifier: MIT
/*
 * Credential fingerprints (providers/tcp/psp_fpr.c) against known answers
 * computed with the command line: `sha256sum` of a raw 32-byte key, and
 * `openssl x509 -noout -fingerprint -sha256` of a certificate made with
 * `openssl req -x509 -newkey ed25519 -subj "/CN=rdma-tcp fpr test"`.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "psp_fpr.h"

static const char cert_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBTzCCAQGgAwIBAgIUFbz1AUrXC+RZJ3DimzshlDZRasowBQYDK2VwMBwxGjAY\n"
	"BgNVBAMMEXJkbWEtdGNwIGZwciB0ZXN0MCAXDTI2MTIwNjExMDgwNloYDzIxMjYx\n"
	"MTEyMTEwODA2WjAcMRowGAYDVQQDDBFyZG1hLXRjcCBmcHIgdGVzdDAqMAUGAytl\n"
	"cAMhALhOfhtOUsiDzXftkrHB+xOA/F2aiCHSw+E1qlqhXjr4o1MwUTAdBgNVHQ4E\n"
	"FgQUO58JODknrmdq9uwxyztMZX6U2dEwHwYDVR0jBBgwFoAUO58JODknrmdq9uwx\n"
	"yztMZX6U2dEwDwYDVR0TAQH/BAUwAwEB/zAFBgMrZXADQQAEgJZXLJaxkFFhB+Xr\n"
	"o2/TGY1w+Ev/lrYsICLJ06AJwzgDkxZ0UzKKBhU+ejImsKeI9QXCaj2eO+NUOQcx\n"
	"DJ0B\n"
	"-----END CERTIFICATE-----\n";
/* 77:6E:B2:14:... as openssl prints it */
static const char cert_fpr[] = "sha256:"
			       "776eb2149966948a12ddf6328df49db0"
			       "9a048f76e50f580a1557377c3c9bc6ff";
/* sha256sum of the bytes 0, 1, ..., 31 */
static const char psk_fpr[] = "sha256:"
			      "630dcd2966c4336691125448bbb25b4f"
			      "f412a49c732db2c8abc1b8581bd710dd";

/* @text in a new temporary file; its path in @path. */
static int temp_file(char *path, const char *text)
{
	int fd = mkstemp(path);
	size_t len = strlen(text);

	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static void check_cert(void)
{
	char good[] = "/tmp/rtcp-fpr.XXXXXX", bad[] = "/tmp/rtcp-fpr.XXXXXX";
	char out[TCP_PSP_FPR_LEN];

	if (temp_file(good, cert_pem) || temp_file(bad, "not a certificate")) {
		CHECKF(0, "temporary files: errno %d", errno);
		return;
	}
	memset(out, 0, sizeof(out));
	CHECK(tcp_psp_fpr_cert(good, out, sizeof(out)) == 0);
	CHECKF(!strcmp(out, cert_fpr), "%s", out);
	CHECK(tcp_psp_fpr_cert(bad, out, sizeof(out)) == EINVAL);
	CHECK(tcp_psp_fpr_cert("/nonexistent/c.pem", out, sizeof(out)) ==
	      ENOENT);
	CHECK(tcp_psp_fpr_cert(good, out, sizeof(out) - 1) == EINVAL);
	unlink(good);
	unlink(bad);
}

int main(void)
{
	uint8_t psk[32];
	char out[TCP_PSP_FPR_LEN + 8];
	int i;

	for (i = 0; i < 32; i++)
		psk[i] = i;
	memset(out, 'x', sizeof(out));
	CHECK(tcp_psp_fpr_psk(psk, sizeof(psk), out, TCP_PSP_FPR_LEN) == 0);
	CHECKF(!strcmp(out, psk_fpr), "%s", out);
	CHECKF(strlen(out) == TCP_PSP_FPR_LEN - 1, "%zu", strlen(out));
	CHECK(tcp_psp_fpr_psk(psk, sizeof(psk), out, TCP_PSP_FPR_LEN - 1) ==
	      EINVAL);
	psk[0] ^= 1;
	CHECK(tcp_psp_fpr_psk(psk, sizeof(psk), out, sizeof(out)) == 0 &&
	      strcmp(out, psk_fpr));
	check_cert();
	return check_report();
}
