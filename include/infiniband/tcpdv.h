/* SPDX-License-Identifier: MIT */
/*
 * tcpdv.h - provider-specific ("direct verbs") interface of the rdma-tcp
 * provider, in the spirit of efadv.h and mlx5dv.h. See tcpdv(3).
 *
 * This version is header-only: it lets an application recognise a tcp
 * device. It declares no functions exported by the provider, so including
 * it adds no link dependency beyond libibverbs. Direct verbs proper (device
 * query, per-QP transport options, security associations) come in later
 * versions; the capability bits below are the names they will report.
 */
#ifndef INFINIBAND_TCPDV_H
#define INFINIBAND_TCPDV_H

#include <stdbool.h>
#include <string.h>

#include <infiniband/verbs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ibv_device_attr.vendor_part_id of every tcp device ("tcp" -> 0x7c70). */
#define TCPDV_VENDOR_PART_ID 0x7c70

/* ibv_device_attr.vendor_id: no IEEE OUI (the provider is not a NIC
 * vendor's), so 0xffffff as rxe reports; 0 reads as "no device" to tools
 * and to rdma-core's own tests. */
#define TCPDV_VENDOR_ID 0xffffff

/* Device names start with this prefix (tcp0, tcp1, ...). */
#define TCPDV_DEVICE_PREFIX "tcp"

/*
 * Capabilities of a tcp device, as a bit mask. No query returns them yet
 * (tcpdv_query_device() is future work); they are fixed here so that code
 * written against them keeps its meaning.
 */
enum tcpdv_device_caps {
	/* RC queue pairs, one kernel TCP connection each */
	TCPDV_CAP_RC = 1 << 0,
	/* RDMA READ/WRITE and atomics placed by the responder's provider */
	TCPDV_CAP_RDMA = 1 << 1,
	/* PSP-style per-connection security associations (AES-GCM) */
	TCPDV_CAP_PSP = 1 << 2,
	/* MSG_ZEROCOPY / io_uring zero-copy send for large messages */
	TCPDV_CAP_ZEROCOPY_SEND = 1 << 3,
};

/*
 * true when @ctx is a context of a tcp device. Decided by the device name,
 * the same test the provider uses to claim devices; NULL is not one.
 */
static inline bool tcpdv_is_tcp_device(struct ibv_context *ctx)
{
	const char *name;

	if (!ctx || !ctx->device)
		return false;
	name = ibv_get_device_name(ctx->device);
	return name && !strncmp(name, TCPDV_DEVICE_PREFIX,
				sizeof(TCPDV_DEVICE_PREFIX) - 1);
}

#ifdef __cplusplus
}
#endif

#endif /* INFINIBAND_TCPDV_H */
