/* SPDX-License-Identifier: MIT */
/* Argument checks for memory registration, kept apart for unit tests. */
#ifndef RDMA_TCP_MR_CHECK_H
#define RDMA_TCP_MR_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <infiniband/verbs.h>

#define TCP_ACCESS_NEEDS_WRITE                              \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
	 IBV_ACCESS_REMOTE_ATOMIC)

/* 0, or the errno ibv_reg_mr reports for these access flags. */
int tcp_mr_check_access(int access);
/* 0, or EINVAL/EFAULT when the range is empty, wraps, or is not mapped. */
int tcp_check_mapped(const void *addr, size_t length, bool need_write);

#endif
