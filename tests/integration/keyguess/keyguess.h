/* SPDX-License-Identifier: MIT */
/*
 * keyguess: what the files of the rkey guessing test share (keyguess_main.c
 * says what it measures): the victim's and the attacker's objects, and the
 * QP helpers (keyguess_qp.c).
 */
#ifndef RDMA_TCP_KEYGUESS_H
#define RDMA_TCP_KEYGUESS_H

#include <stdbool.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#include "tcheck.h"

#define DEADLINE_MS 10000

/* One process's verbs objects: the victim's, or the attacker's */
struct side {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	union ibv_gid gid;
};

/* A victim QP and the attacker QP connected to it */
struct pair {
	struct ibv_qp *v, *a;
};

extern struct side vic, att;
extern char *vbuf; /* the victim's memory every target region covers */
extern char *abuf; /* the attacker's source buffer */
extern struct ibv_mr *amr;

int side_open(struct side *s, const char *dev);
int pair_up(struct pair *p, enum ibv_qp_type t);
void pair_down(struct pair *p);
int poll_one(struct ibv_cq *cq, struct ibv_wc *wc);
uint32_t rand_key(void);
/* An 8-byte RDMA WRITE from abuf to vbuf with rkey */
int post_write(struct ibv_qp *qp, uint32_t rkey, bool signaled);

#endif
