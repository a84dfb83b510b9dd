/* SPDX-License-Identifier: MIT */
/*
 * Completion channels of tcp devices.
 *
 * libibverbs creates a completion channel through the kernel (a command
 * written to cmd_fd), which a tcp device does not have; librdmacm-ext
 * interposes ibv_create_comp_channel() for tcp contexts and allocates this
 * larger record instead. `ch.fd` (what the application polls and what
 * ibv_get_cq_event() reads) is one end of a datagram socketpair; the
 * provider writes one struct ib_uverbs_comp_event_desc per event to `wfd`,
 * the other end. libibverbs' own ibv_destroy_comp_channel() can free the
 * record (it starts with the public struct), but librdmacm-ext interposes it
 * as well to close `wfd`.
 */
#ifndef RDMA_TCP_CHAN_H
#define RDMA_TCP_CHAN_H

#include <stdint.h>
#include <infiniband/verbs.h>

#define RTCP_CHAN_MAGIC 0x52544343u /* "RTCC" */

struct rtcp_comp_channel {
	struct ibv_comp_channel ch; /* first: libibverbs frees this pointer */
	uint32_t magic;
	int wfd; /* the provider's end */
};

#endif
