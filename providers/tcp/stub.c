#include <errno.h>
#include "qp.h"
#include "engine.h"
void tcp_engine_stop(struct tcp_context *ctx) {}
void tcp_progress_cq(struct tcp_cq *cq) {}
struct ibv_ah *tcp_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr) { errno = ENOSYS; return NULL; }
int tcp_destroy_ah(struct ibv_ah *ah) { return ENOSYS; }
struct ibv_qp *tcp_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr) { errno = ENOSYS; return NULL; }
struct ibv_qp *tcp_create_qp_ex(struct ibv_context *ctx, struct ibv_qp_init_attr_ex *attr) { errno = ENOSYS; return NULL; }
int tcp_destroy_qp(struct ibv_qp *qp) { return ENOSYS; }
int tcp_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask) { return ENOSYS; }
int tcp_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask, struct ibv_qp_init_attr *init) { return ENOSYS; }
int tcp_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad) { return ENOSYS; }
int tcp_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad) { return ENOSYS; }
struct ibv_srq *tcp_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr *a) { errno = ENOSYS; return NULL; }
struct ibv_srq *tcp_create_srq_ex(struct ibv_context *ctx, struct ibv_srq_init_attr_ex *a) { errno = ENOSYS; return NULL; }
int tcp_destroy_srq(struct ibv_srq *srq) { return ENOSYS; }
int tcp_modify_srq(struct ibv_srq *srq, struct ibv_srq_attr *a, int mask) { return ENOSYS; }
int tcp_query_srq(struct ibv_srq *srq, struct ibv_srq_attr *a) { return ENOSYS; }
int tcp_get_srq_num(struct ibv_srq *srq, uint32_t *num) { return ENOSYS; }
int tcp_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad) { return ENOSYS; }
