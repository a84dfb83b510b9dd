// SPDX-License-Identifier: MIT
/*
 * Unit test of the public header <infiniband/tcpdv.h>: it compiles on its
 * own, agrees with the provider's constants, and tcpdv_is_tcp_device()
 * tells tcp devices from others. No device is needed: the contexts are
 * stand-ins carrying only what the function reads. Prints each failing
 * check and "N passed, N failed"; exit status non-zero on failure.
 */
#include <infiniband/tcpdv.h> /* first: the header must be self-contained */

#include <stdio.h>
#include <string.h>

#include "check.h"

#include "tcp_limits.h" /* providers/tcp/tcp_limits.h: the provider's own values */

static bool is_tcp(const char *name)
{
	struct ibv_device dev;
	struct ibv_context ctx;

	memset(&dev, 0, sizeof(dev));
	memset(&ctx, 0, sizeof(ctx));
	snprintf(dev.name, sizeof(dev.name), "%s", name);
	ctx.device = &dev;
	return tcpdv_is_tcp_device(&ctx);
}

int main(void)
{
	struct ibv_context ctx;

	CHECKF(TCPDV_VENDOR_PART_ID == TCP_VENDOR_PART_ID,
	       "header %#x, provider %#x", TCPDV_VENDOR_PART_ID,
	       TCP_VENDOR_PART_ID);
	CHECKF(TCPDV_VENDOR_PART_ID == 0x7c70, "%#x", TCPDV_VENDOR_PART_ID);
	CHECKF(TCPDV_VENDOR_ID == TCP_VENDOR_ID, "header %#x, provider %#x",
	       TCPDV_VENDOR_ID, TCP_VENDOR_ID);
	CHECKF(TCPDV_VENDOR_ID != 0, "%#x", TCPDV_VENDOR_ID);
	CHECKF(!strcmp(TCPDV_DEVICE_PREFIX, "tcp"), "%s", TCPDV_DEVICE_PREFIX);

	CHECKF(is_tcp("tcp0"), "tcp0");
	CHECKF(is_tcp("tcp1"), "tcp1");
	CHECKF(is_tcp("tcp_lab-3"), "tcp_lab-3");
	CHECKF(!is_tcp("mlx5_0"), "mlx5_0");
	CHECKF(!is_tcp("rxe0"), "rxe0");
	CHECKF(!is_tcp("siw0"), "siw0");
	CHECKF(!is_tcp("tc"), "tc (prefix cut short)");
	CHECKF(!is_tcp(""), "empty name");
	CHECKF(!is_tcp("TCP0"), "TCP0 (names are case-sensitive)");
	CHECKF(!is_tcp("xtcp0"), "xtcp0");

	CHECKF(!tcpdv_is_tcp_device(NULL), "NULL context");
	memset(&ctx, 0, sizeof(ctx));
	CHECKF(!tcpdv_is_tcp_device(&ctx), "context without a device");

	/* capability bits are distinct single bits */
	CHECKF((TCPDV_CAP_RC & TCPDV_CAP_RDMA) == 0 &&
		       (TCPDV_CAP_PSP & TCPDV_CAP_ZEROCOPY_SEND) == 0 &&
		       ((TCPDV_CAP_RC | TCPDV_CAP_RDMA) &
			(TCPDV_CAP_PSP | TCPDV_CAP_ZEROCOPY_SEND)) == 0,
	       "overlapping capability bits");

	return check_report();
}
