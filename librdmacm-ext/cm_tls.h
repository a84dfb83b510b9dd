/* SPDX-License-Identifier: MIT */
/*
 * The control connection's TLS, as a module of its own:
 * librdmacm-ext-tls.so, beside this library, dlopen'ed at the first
 * rdma_connect or accepted CM connection (cm_sec.c). It holds the
 * provider's handshake (providers/tcp/hs.c) and device configuration
 * loader (providers/tcp/psp_conf.c), and is the only part linked against
 * OpenSSL: the preload, in LD_PRELOAD of every program a shell starts,
 * keeps needing nothing but libc.
 *
 * The module exports one symbol, the table below; the functions are those
 * of hs.h and psp_conf.h, unchanged.
 */
#ifndef RDMACM_EXT_CM_TLS_H
#define RDMACM_EXT_CM_TLS_H

#include <stddef.h>

#include "hs.h"
#include "psp_conf.h"

#define RDMACM_EXT_TLS_VERSION 1
#define RDMACM_EXT_TLS_SYMBOL  "rdmacm_ext_tls_ops"

struct rdmacm_ext_tls_ops {
	unsigned int version;
	size_t size;
	int (*conf_load)(const char *ibdev_path, struct tcp_psp_conf *c);
	void (*conf_wipe)(struct tcp_psp_conf *c);
	int (*cred_init)(struct tcp_hs_cred *c,
			 const struct tcp_psp_conf *conf);
	void (*cred_free)(struct tcp_hs_cred *c);
	struct tcp_hs *(*hs_new)(struct tcp_hs_cred *c, enum tcp_hs_role role,
				 int fd);
	void (*hs_free)(struct tcp_hs *hs);
	enum tcp_hs_status (*hs_step)(struct tcp_hs *hs);
	enum tcp_hs_status (*hs_send)(struct tcp_hs *hs, const void *msg,
				      size_t len);
	enum tcp_hs_status (*hs_flush)(struct tcp_hs *hs);
	enum tcp_hs_status (*hs_recv)(struct tcp_hs *hs, void *msg, size_t len);
	enum tcp_hs_err (*hs_reason)(const struct tcp_hs *hs);
	const char *(*hs_strerror)(enum tcp_hs_err e);
	const char *(*hs_detail)(const struct tcp_hs *hs);
};

#endif
