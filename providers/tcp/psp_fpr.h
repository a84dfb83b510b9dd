/* SPDX-License-Identifier: MIT */
/*
 * The fingerprint of a device's credential, as tcpdv_query_device() (and
 * `rdma-tcp link show`) print it: "sha256:" and the 64 lowercase hex
 * digits of a SHA-256 digest -- of the 32 key bytes for a pre-shared key
 * (what `sha256sum` prints for a raw key file), of the certificate's DER
 * encoding for a certificate (what `openssl x509 -noout -fingerprint
 * -sha256` prints, without the colons). Identifies a credential without
 * revealing it: the key is random, so its digest cannot be inverted.
 */
#ifndef RDMA_TCP_PSP_FPR_H
#define RDMA_TCP_PSP_FPR_H

#include <stddef.h>
#include <stdint.h>

/* "sha256:" + 64 hex digits + NUL */
#define TCP_PSP_FPR_LEN 72

/* Of a pre-shared key of @len bytes. 0, or EINVAL (@out too small). */
int tcp_psp_fpr_psk(const uint8_t *psk, size_t len, char *out, size_t size);
/*
 * Of the first certificate in the PEM file @path. 0, or an errno: what
 * opening the file failed with, EINVAL if it holds no certificate.
 */
int tcp_psp_fpr_cert(const char *path, char *out, size_t size);

#endif
