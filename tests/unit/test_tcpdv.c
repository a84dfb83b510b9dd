// SPDX-License-Identifier: MIT
/*
 * Unit test of the public header <infiniband/tcpdv.h> and the direct verbs
 * the provider's library exports: the header compiles on its own, agrees
 * with the provider's constants, tcpdv_is_tcp_device() tells tcp devices
 * from others, and the queries refuse what is not theirs (stand-in
 * contexts carrying only what they read: no device needed).
 *
 *   test_tcpdv                  the above (ctest)
 *   test_tcpdv DEVICE [MODE]    and the queries on a real device whose
 *                               configured psp MODE is off|auth|encrypt
 *                               (tests/integration/test_tcpdv.sh)
 *
 * Prints each failing check and "N passed, N failed"; exit status
 * non-zero on failure.
 */
#include <infiniband/tcpdv.h> /* first: the header must be self-contained */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "tcpdv_dev.h"

#include "tcp_limits.h" /* providers/tcp/tcp_limits.h: the provider's own values */
#include "verbs_abi.h" /* struct verbs_device, for another provider's */

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

static struct verbs_context *other_alloc(struct ibv_device *d, int fd,
					 void *priv)
{
	return NULL;
}

/* A context and a QP of another provider: EOPNOTSUPP, nothing written. */
static void check_foreign(void)
{
	static const struct verbs_device_ops ops = {
		.name = "other",
		.alloc_context = other_alloc,
	};
	struct verbs_device dev;
	struct ibv_context ctx;
	struct ibv_qp qp;
	struct tcpdv_device_attr a;
	struct tcpdv_qp_security s;
	char cc[TCPDV_CC_NAME_MAX];

	memset(&dev, 0, sizeof(dev));
	memset(&ctx, 0, sizeof(ctx));
	memset(&qp, 0, sizeof(qp));
	/* even a name with our prefix: the provider goes by its own ops */
	snprintf(dev.device.name, sizeof(dev.device.name), "tcp9");
	dev.ops = &ops;
	ctx.device = &dev.device;
	qp.context = &ctx;
	memset(&a, 0x5a, sizeof(a));
	memset(&s, 0x5a, sizeof(s));
	errno = 0;
	CHECKF(tcpdv_query_device(&ctx, &a) == EOPNOTSUPP &&
		       errno == EOPNOTSUPP,
	       "errno %d", errno);
	CHECKF(a.caps == 0x5a5a5a5a5a5a5a5aull, "attr written");
	CHECKF(tcpdv_query_qp_security(&qp, &s) == EOPNOTSUPP, "foreign QP");
	CHECKF(s.mode == 0x5a5a5a5a, "sec written");
	memset(cc, 0x5a, sizeof(cc));
	CHECKF(tcpdv_modify_qp_cc(&qp, "reno") == EOPNOTSUPP, "foreign QP cc");
	CHECKF(tcpdv_query_qp_cc(&qp, cc) == EOPNOTSUPP && cc[0] == 0x5a,
	       "foreign QP cc query");
	ctx.device = NULL;
	CHECKF(tcpdv_query_device(&ctx, &a) == EOPNOTSUPP, "no device");
	qp.context = NULL;
	CHECKF(tcpdv_query_qp_security(&qp, &s) == EOPNOTSUPP, "no context");
}

int main(int argc, char **argv)
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

	/* capability bits are distinct single bits; bit 3 stays unused */
	{
		static const unsigned int caps[] = {
			TCPDV_CAP_RC,	       TCPDV_CAP_RDMA,
			TCPDV_CAP_PSP_AUTH,    TCPDV_CAP_UC,
			TCPDV_CAP_SRQ,	       TCPDV_CAP_MW,
			TCPDV_CAP_PSP_ENCRYPT, TCPDV_CAP_CC,
		};
		unsigned int i, seen = 0;

		for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
			CHECKF(caps[i] && !(caps[i] & (caps[i] - 1)),
			       "cap %#x not one bit", caps[i]);
			CHECKF(!(seen & caps[i]), "cap %#x twice", caps[i]);
			seen |= caps[i];
		}
		CHECKF(!(seen & (1u << 3)), "bit 3 is reserved");
		CHECKF(TCPDV_CAP_PSP == TCPDV_CAP_PSP_AUTH, "old name");
	}
	check_foreign();

	if (argc > 1)
		tcpdv_dev_checks(argv[1], argc > 2 ? argv[2] : NULL, &passed,
				 &failed);
	else
		printf("no device given: device checks left to "
		       "tests/integration/test_tcpdv.sh\n");
	return check_report();
}
