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
	char cert[PATH_MAX], cert_key[PATH_MAX], ca[PATH_MAX];
	/* `rdma-tcp link rotate` count: a change rotates the device key */
	uint32_t rotation;
};

/*
 * Loads the configuration of the device at @ibdev_path (its registry
 * directory). A device without one is `auth` with the host key. Returns
 * 0, or an errno: EACCES (the key file is unreadable to this user, or
 * readable by everyone: refused), EINVAL (malformed), ENOENT (no key).
 * Prints one line saying why on stderr when it fails.
 */
int tcp_psp_conf_load(const char *ibdev_path, struct tcp_psp_conf *c);
/* The rotation count only (the engine polls it); 0 or an errno. */
int tcp_psp_conf_rotation(const char *ibdev_path, uint32_t *rotation);
/* Wipes the PSK. */
void tcp_psp_conf_wipe(struct tcp_psp_conf *c);

#endif
