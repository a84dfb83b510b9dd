/* SPDX-License-Identifier: MIT */
/*
 * A device's security configuration, as `rdma-tcp link add/set` wrote it
 * into the registry (include/rdma_tcp/registry.h: NAME/tcp_psp and
 * NAME/tcp_psp_rotation), loaded when a context opens.
 */
#ifndef RDMA_TCP_PSP_CONF_H
#define RDMA_TCP_PSP_CONF_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "psp.h"

#define TCP_PSP_PSK_LEN 32

struct tcp_psp_conf {
	enum tcp_psp_mode mode;
	enum tcp_psp_alg alg;
	/* credential: a key file (have_psk) or a certificate triple */
	bool have_psk;
	uint8_t psk[TCP_PSP_PSK_LEN];
	char key[PATH_MAX]; /* the key file's path (have_psk) */
	char cert[PATH_MAX], cert_key[PATH_MAX], ca[PATH_MAX];
	/* `rdma-tcp link rotate` count: a change rotates the device key */
	uint32_t rotation;
};

/*
 * Loads the configuration of the device at @ibdev_path (its registry
 * directory). A device without one is `auth` with the host key. Returns
 * 0, or an errno: EACCES (the key file is unreadable to this user, or
 * accessible to every user or writable by its group: refused), EINVAL
 * (malformed), ENOENT (no key).
 * Prints one line saying why on stderr when it fails.
 */
int tcp_psp_conf_load(const char *ibdev_path, struct tcp_psp_conf *c);
/*
 * The file alone, for `rdma-tcp link set/show`: the credential's paths
 * (the host key's when none is named and the mode is not off), nothing
 * opened, psk left zero. 0 or an errno; one line on stderr on failure.
 */
int tcp_psp_conf_read(const char *ibdev_path, struct tcp_psp_conf *c);
/*
 * A key file: 64 hex digits (32 bytes) and an optional newline, mode at
 * most 0640 (readable by its owner and one group, writable by its owner
 * only). 0 or an errno as tcp_psp_conf_load(); @psk is wiped on failure.
 */
int tcp_psp_key_read(const char *path, uint8_t psk[TCP_PSP_PSK_LEN]);
/* The same permission rule for a certificate's private key; 0 or errno. */
int tcp_psp_secret_check(const char *path);
/* The rotation count only (the engine polls it); 0 or an errno. */
int tcp_psp_conf_rotation(const char *ibdev_path, uint32_t *rotation);
/* Wipes the PSK. */
void tcp_psp_conf_wipe(struct tcp_psp_conf *c);

#endif
