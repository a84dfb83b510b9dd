/* SPDX-License-Identifier: MIT */
#ifndef RDMA_TCP_ENGINE_H
#define RDMA_TCP_ENGINE_H
#include "tcp.h"
void tcp_engine_stop(struct tcp_context *ctx);
void tcp_progress_cq(struct tcp_cq *cq);
#endif
