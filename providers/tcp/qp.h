/* SPDX-License-Identifier: MIT */
#ifndef RDMA_TCP_QP_H
#define RDMA_TCP_QP_H
#include "tcp.h"
struct ibv_ah *tcp_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr);
int tcp_destroy_ah(struct ibv_ah *ah);
struct ibv_qp *tcp_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
struct ibv_qp *tcp_create_qp_ex(struct ibv_context *ctx,
				struct ibv_qp_init_attr_ex *attr);
int tcp_destroy_qp(struct ibv_qp *qp);
int tcp_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask);
int tcp_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask,
		 struct ibv_qp_init_attr *init);
int tcp_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
		  struct ibv_send_wr **bad);
int tcp_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
		  struct ibv_recv_wr **bad);
struct ibv_srq *tcp_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr *a);
struct ibv_srq *tcp_create_srq_ex(struct ibv_context *ctx,
				  struct ibv_srq_init_attr_ex *a);
int tcp_destroy_srq(struct ibv_srq *srq);
int tcp_modify_srq(struct ibv_srq *srq, struct ibv_srq_attr *a, int mask);
int tcp_query_srq(struct ibv_srq *srq, struct ibv_srq_attr *a);
int tcp_get_srq_num(struct ibv_srq *srq, uint32_t *num);
int tcp_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad);
#endif
