/* SPDX-License-Identifier: MIT */
/*
 * A connection's security associations: the key exchange that brings a
 * QP connection up, and the rekey after a device key rotation
 * (sec_conn.c, sec_rekey.c; docs/design.md, "Security model").
 */
#ifndef RDMA_TCP_SEC_CONN_H
#define RDMA_TCP_SEC_CONN_H

#include "qp.h"

struct tcp_pending;

/* The context's configuration (sec_cfg.h) and device keys. */
int tcp_sec_open(struct tcp_context *ctx);
void tcp_sec_close(struct tcp_context *ctx);
void tcp_sec_destroy(struct tcp_context *ctx);

/* What the key exchange of a connection asks of its caller. */
enum tcp_sec_rc {
	TCP_SEC_DONE,	    /* SAs set: frames may flow */
	TCP_SEC_WAIT_IN,    /* wait for the socket to be readable */
	TCP_SEC_WAIT_OUT,   /* ... writable */
	TCP_SEC_FAIL_CONN,  /* as a lost connection (a peer that may come) */
	TCP_SEC_FAIL_FATAL, /* other credentials or mode: the QP fails */
};

/*
 * Does the QP's connection run the key exchange? Its first call takes
 * the configuration current then for the whole connection (until
 * tcp_sec_conn_end). Caller holds qp->lock.
 */
bool tcp_sec_conn_on(struct tcp_qp *qp);
/* The same for a pending connection of the accepting side (ctx->lock). */
bool tcp_sec_pending_on(struct tcp_context *ctx, struct tcp_pending *pc);

/* The connecting side (qp_conn.c); caller holds qp->lock. */
enum tcp_sec_rc tcp_sec_client(struct tcp_qp *qp);
/* A QP connected to itself: one SA both ways, no exchange. */
int tcp_sec_self(struct tcp_qp *qp);
/* The connection is gone: its handshake and SAs with it. */
void tcp_sec_conn_end(struct tcp_qp *qp);

/* The accepting side (conn.c); caller holds ctx->lock. */
int tcp_sec_pending_rx(struct tcp_context *ctx, struct tcp_pending *pc);
int tcp_sec_pending_bind(struct tcp_pending *pc, struct tcp_qp *qp);
void tcp_sec_pending_reject(struct tcp_pending *pc, uint8_t reason);
void tcp_sec_pending_tell(struct tcp_pending *pc, uint8_t kind, uint8_t reason);
void tcp_sec_pending_free(struct tcp_pending *pc);

/* sec_rekey.c: the engine's look for `rdma-tcp link rotate` */
extern const struct tcp_engine_hooks tcp_sec_hooks;

#endif
