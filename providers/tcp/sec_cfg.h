/* SPDX-License-Identifier: MIT */
/*
 * A context's security configuration as its connections use it (docs/
 * design.md, "Security model"): the mode, algorithm, credential
 * fingerprint and TLS credentials loaded from the registry (psp_conf.h),
 * at open and again whenever `rdma-tcp link set` changes the device's
 * tcp_psp or the files it names (the engine looks once a second,
 * sec_rekey.c). Counted references: a connection takes the configuration
 * current when it starts and keeps it to its end, so a handshake in
 * flight keeps its credentials while later connections use the new ones,
 * and an established connection keeps its mode and SAs until it ends.
 */
#ifndef RDMA_TCP_SEC_CFG_H
#define RDMA_TCP_SEC_CFG_H

#include <stdatomic.h>
#include <sys/types.h>
#include <time.h>

#include "hs.h"
#include "psp_conf.h"
#include "psp_fpr.h"

struct tcp_sec_cfg {
	atomic_uint refs;
	enum tcp_psp_mode mode;
	enum tcp_psp_alg alg;
	char fpr[TCP_PSP_FPR_LEN]; /* the credential's; "" when off */
	struct tcp_hs_cred cred;   /* mode != off */
};

/* What one file looked like: a change of any part is a change. */
struct tcp_sec_stamp {
	int err; /* stat's errno: a file that appears is a change too */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim; /* chmod changes ctim */
};

/* tcp_psp, then the credential it names: key, or cert, certkey, ca */
#define TCP_SEC_STAMPS 4

/* The engine's last look (engine thread only, after open). */
struct tcp_sec_watch {
	struct tcp_psp_conf conf; /* paths of the last one read; no secret */
	struct tcp_sec_stamp stamp[TCP_SEC_STAMPS];
};

struct tcp_context;

/* At open: the configuration, or an errno (the open fails). */
int tcp_sec_cfg_open(struct tcp_context *ctx);
/* At close: the context's reference (connections have ended). */
void tcp_sec_cfg_close(struct tcp_context *ctx);
/* The current configuration, referenced; takes ctx->psp_lock. */
struct tcp_sec_cfg *tcp_sec_cfg_get(struct tcp_context *ctx);
/* Drops a reference (NULL is fine); the last one wipes the secrets. */
void tcp_sec_cfg_put(struct tcp_sec_cfg *c);
/*
 * The engine's look: a changed tcp_psp or credential file is loaded and
 * checked, and becomes current for connections that start later. One
 * that fails (a key others may read: EACCES) leaves the current one, with
 * one line on stderr per change seen.
 */
void tcp_sec_cfg_poll(struct tcp_context *ctx);

#endif
