/* SPDX-License-Identifier: MIT */
/*
 * Progress from a CQ's side (cq_progress.c): ibv_poll_cq drives the
 * sockets of the QPs feeding the CQ, and ibv_req_notify_cq hands them
 * back to the engine.
 */
#ifndef RDMA_TCP_CQ_PROGRESS_H
#define RDMA_TCP_CQ_PROGRESS_H

#include "tcp.h"

struct tcp_qp;

void tcp_progress_cq(struct tcp_cq *cq);
void tcp_engine_takes_rx(struct tcp_cq *cq);
/* A CQ's ready set (many QPs, one epoll set): a QP's socket joins it when
 * its connection is up, leaves before it closes (qp->lock held), and for
 * good when the QP leaves the CQ (cq->qps_lock held). */
void tcp_cq_ready_add(struct tcp_qp *qp);
void tcp_cq_ready_del(struct tcp_qp *qp);
void tcp_cq_ready_gone(struct tcp_cq *cq, struct tcp_qp *qp);

#endif
