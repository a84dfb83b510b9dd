/* SPDX-License-Identifier: MIT */
/*
 * Progress from a CQ's side (cq_progress.c): ibv_poll_cq drives the
 * sockets of the QPs feeding the CQ, and ibv_req_notify_cq hands them
 * back to the engine.
 */
#ifndef RDMA_TCP_CQ_PROGRESS_H
#define RDMA_TCP_CQ_PROGRESS_H

#include "tcp.h"

void tcp_progress_cq(struct tcp_cq *cq);
void tcp_engine_takes_rx(struct tcp_cq *cq);

#endif
