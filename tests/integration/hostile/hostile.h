/* SPDX-License-Identifier: MIT */
/*
 * What the files of hostile_verbs share (hostile_main.c says what the
 * program checks): the expectation macros, the objects main sets up,
 * the QP helpers (hostile_util.c) and one entry point per area.
 */
#ifndef RDMA_TCP_HOSTILE_H
#define RDMA_TCP_HOSTILE_H

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>

#define TC_EXTERN
#include "tcheck.h"

#define BUF	    (64 * 1024)
#define DEADLINE_MS 5000
#define WATCHDOG_S  240

/* e as "number (text)", in one of four rotating buffers */
const char *en(int e);

/* An int-returning verb: returns want and sets errno to it. */
#define EXPECT_RC(want, call)                                                \
	do {                                                                 \
		int r_, e_;                                                  \
		errno = 0;                                                   \
		r_ = (call);                                                 \
		e_ = errno;                                                  \
		check(r_ == (want) && (!(want) || e_ == (want)),             \
		      "%s -> %s, errno %s (want %s)", #call, en(r_), en(e_), \
		      en(want));                                             \
	} while (0)

/* A verb that returns an errno value and may leave errno alone. */
#define EXPECT_RV(want, call)                                            \
	do {                                                             \
		int r_ = (call);                                         \
		check(r_ == (want), "%s -> %s (want %s)", #call, en(r_), \
		      en(want));                                         \
	} while (0)

/* The same for post verbs: the return value and *bad_wr only. */
#define EXPECT_POST(want, call, badp, wantbad)                            \
	do {                                                              \
		int r_;                                                   \
		r_ = (call);                                              \
		check(r_ == (want) && (badp) == (wantbad),                \
		      "%s -> %s (want %s), bad_wr %s", #call, en(r_),     \
		      en(want), (badp) == (wantbad) ? "right" : "WRONG"); \
	} while (0)

/* A constructor: NULL with errno want (or, want 0: success). */
#define EXPECT_NULL(want, ptr, what)                                         \
	do {                                                                 \
		int e_ = errno;                                              \
		check((want) ? (ptr) == NULL &&e_ == (want) : (ptr) != NULL, \
		      "%s -> %s, errno %s (want %s)", what,                  \
		      (ptr) ? "object" : "NULL", en((ptr) ? 0 : e_),         \
		      (want) ? en(want) : "an object");                      \
	} while (0)

extern struct ibv_context *ctx, *ctx2;
extern struct ibv_pd *pd, *pd2;
extern struct ibv_cq *cq, *cq2;
extern struct ibv_mr *mr;
extern char *buf;
extern union ibv_gid gid0;
extern uint32_t qp_inline; /* max_inline_data of new_qp's QPs */

struct pair {
	struct ibv_qp *a, *b;
};

/* hostile_util.c */
struct ibv_qp *new_qp(enum ibv_qp_type t, uint32_t swr, uint32_t rwr,
		      struct ibv_srq *srq);
int to_init(struct ibv_qp *qp);
void rtr_attr(struct ibv_qp_attr *a, uint32_t dqpn, int *mask);
void rts_attr(struct ibv_qp_attr *a, int *mask);
int to_rts(struct ibv_qp *qp, uint32_t dqpn);
enum ibv_qp_state qstate(struct ibv_qp *qp);
bool pair_up(struct pair *p, enum ibv_qp_type t, uint32_t swr, uint32_t rwr);
void pair_down(struct pair *p);
int poll_n(struct ibv_wc *wc, int n);
int drain(void);
struct ibv_sge sge(uint32_t off, uint32_t len);
struct ibv_qp *err_qp_on(struct ibv_cq *c, uint32_t rwr);
int flush_recvs(struct ibv_qp *qp, int n);
bool async_event(enum ibv_event_type t);
/* a failed modify must leave the QP where it was (hostile_qp.c) */
void bad_modify(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask,
		const char *what);
/* one bad WR on a live pair: refused, the QP lives on (hostile_send.c) */
void bad_send(struct pair *p, struct ibv_send_wr *w, int want,
	      const char *what);

/* one entry point per area, in the order main runs them */
void t_device(void); /* hostile_res.c */
void t_mr(void);
void t_cq(void);
void t_cq_full(void);
void t_create_qp(void); /* hostile_qp.c */
void t_modify_qp(void);
void t_post_send_states(void); /* hostile_send.c */
void t_post_send_args(void);
void t_inline_zero(void);
void t_post_send_local(void);
void t_post_chain(void); /* hostile_chain.c */
void t_post_err_state(void);
void t_uc(void);
void t_no_peer(void);
void t_post_recv(void); /* hostile_recv.c */
void t_srq(void);
void t_wr_api(void);	  /* hostile_wr.c */
void t_ah_and_busy(void); /* hostile_objs.c */
void t_corrupt_handles(void);
void t_close_live(void);

#endif
