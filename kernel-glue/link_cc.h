/* SPDX-License-Identifier: MIT */
/* The `cc NAME` word of link add/set and what link show says (link_cc.c). */
#ifndef RDMA_TCP_LINK_CC_H
#define RDMA_TCP_LINK_CC_H

#include <stddef.h>

/* 0 when @name is "default" or one the kernel has; else a negative
 * errno, reported with the kernel's list. */
int cc_opt_check(const char *name);
/* The text of NAME/tcp_cc for @name (NULL or "default": empty). */
const char *cc_opt_text(const char *name);
/* Writes @dir/tcp_cc for @name under the registry lock; 0 or -errno. */
int cc_set_locked(const char *dir, const char *name);
/* " cc NAME" for link show, or "" when none is set. */
void cc_describe(const char *dir, char *buf, size_t len);

#endif
