/* SPDX-License-Identifier: MIT */
/*
 * tcpdv.h - provider-specific ("direct verbs") interface of the rdma-tcp
 * provider, in the spirit of efadv.h and mlx5dv.h. See tcpdv(3).
 *
 * The constants and tcpdv_is_tcp_device() are header-only. The query
 * functions are exported by the provider's library, libtcp.so.1 (link with
 * -ltcp, or `pkg-config --libs tcpdv`); libibverbs loads the same object as
 * its provider, so a program linked with it sees the devices it opens.
 * Symbols carry the version TCPDV_1.0.
 */
#ifndef INFINIBAND_TCPDV_H
#define INFINIBAND_TCPDV_H

#include <stdbool.h>
#include <stdint.h>
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
 * The resource_type a parent domain's allocator is called with
 * (ibv_alloc_parent_domain(3)), as mlx5dv's MLX5DV_RES_TYPE_*: what the
 * buffer asked for will hold. One block per object: a QP's send and
 * receive queues, a CQ's ring (and its completion timestamps), an SRQ's
 * ring. The allocator may answer IBV_ALLOCATOR_USE_DEFAULT.
 */
#define TCPDV_RES_TYPE_BASE ((uint64_t)0x7c70 << 32)
#define TCPDV_RES_TYPE_QP   (TCPDV_RES_TYPE_BASE + 1)
#define TCPDV_RES_TYPE_CQ   (TCPDV_RES_TYPE_BASE + 2)
#define TCPDV_RES_TYPE_SRQ  (TCPDV_RES_TYPE_BASE + 3)

/*
 * Capabilities of a tcp device, as tcpdv_query_device() reports them in
 * tcpdv_device_attr.caps. Every bit names something the provider does;
 * bit 3 is reserved: it was TCPDV_CAP_ZEROCOPY_SEND, a feature that was
 * never implemented, and is never reused.
 */
enum tcpdv_device_caps {
	/* RC queue pairs, one kernel TCP connection each */
	TCPDV_CAP_RC = 1 << 0,
	/* RDMA READ/WRITE and the 8-byte atomics, placed by the responder */
	TCPDV_CAP_RDMA = 1 << 1,
	/* PSP-style security associations per connection, authenticating
	 * every frame (AES-GMAC): `psp auth` */
	TCPDV_CAP_PSP_AUTH = 1 << 2,
	TCPDV_CAP_PSP = TCPDV_CAP_PSP_AUTH, /* its name before version 1.0 */
	/* UC queue pairs */
	TCPDV_CAP_UC = 1 << 4,
	/* shared receive queues */
	TCPDV_CAP_SRQ = 1 << 5,
	/* memory windows, type 1 and 2B */
	TCPDV_CAP_MW = 1 << 6,
	/* ...and encrypting payload (AES-GCM): `psp encrypt` */
	TCPDV_CAP_PSP_ENCRYPT = 1 << 7,
	/* congestion control per device (`rdma-tcp link ... cc NAME`) and
	 * per QP (tcpdv_modify_qp_cc); the address vector's traffic class
	 * as the connection's IP TOS / IPv6 traffic class */
	TCPDV_CAP_CC = 1 << 8,
};

/* A connection's (or a device's) security mode: `rdma-tcp link ... psp` */
enum tcpdv_psp_mode {
	TCPDV_PSP_OFF = 0,     /* unauthenticated */
	TCPDV_PSP_AUTH = 1,    /* AES-GMAC over header and payload */
	TCPDV_PSP_ENCRYPT = 2, /* AES-GCM: payload encrypted too */
};

/* The AES key size of the security associations (GCM or GMAC by mode) */
enum tcpdv_psp_alg {
	TCPDV_PSP_ALG_NONE = 0, /* mode off */
	TCPDV_PSP_ALG_AES128 = 1,
	TCPDV_PSP_ALG_AES256 = 2,
};

/* tcpdv_device_attr.comp_mask: the optional parts */
enum tcpdv_device_attr_mask {
	/* psp_mode, psp_alg and fingerprint */
	TCPDV_DEVICE_ATTR_PSP = 1 << 0,
	/* cc (version 1.1) */
	TCPDV_DEVICE_ATTR_CC = 1 << 1,
};

#define TCPDV_FINGERPRINT_MAX 80
/* a congestion control's name, terminator included (the kernel's
 * TCP_CA_NAME_MAX) */
#define TCPDV_CC_NAME_MAX 16

/*
 * What tcpdv_query_device() reports. The caller sets comp_mask to the
 * optional parts it wants; the provider fills caps always, fills the
 * parts it knows and clears the bits of those it does not, so a program
 * built against a newer header runs on an older provider.
 */
struct tcpdv_device_attr {
	uint64_t comp_mask;
	uint64_t caps; /* enum tcpdv_device_caps */
	/* TCPDV_DEVICE_ATTR_PSP: the device's configured security (what
	 * the context's connections use), and the fingerprint of its
	 * credential, as `rdma-tcp link show` prints it ("" if none):
	 * "sha256:" and 64 hex digits. Never key material. */
	uint32_t psp_mode; /* enum tcpdv_psp_mode */
	uint32_t psp_alg;  /* enum tcpdv_psp_alg */
	char fingerprint[TCPDV_FINGERPRINT_MAX];
	/* TCPDV_DEVICE_ATTR_CC: the congestion control the device's
	 * connections made from now on use (`rdma-tcp link ... cc`), "" for
	 * the network namespace's default */
	char cc[TCPDV_CC_NAME_MAX];
};

/* tcpdv_qp_security.flags */
enum tcpdv_qp_security_flags {
	/* the connection is up: mode and alg are what it negotiated, the
	 * SPIs its security associations'. Otherwise they are what the
	 * connection will use and the SPIs are 0. */
	TCPDV_QP_SEC_ESTABLISHED = 1 << 0,
};

/*
 * A QP's security state, from tcpdv_query_qp_security(). No key is ever
 * reported. comp_mask: as in tcpdv_device_attr (no optional part yet: 0
 * on return).
 */
struct tcpdv_qp_security {
	uint64_t comp_mask;
	uint32_t flags;	 /* enum tcpdv_qp_security_flags */
	uint32_t mode;	 /* enum tcpdv_psp_mode */
	uint32_t alg;	 /* enum tcpdv_psp_alg */
	uint32_t tx_spi; /* the peer's receive SA, which we seal with */
	uint32_t rx_spi; /* our receive SA */
	/* the receive SA before the last rekey, still accepted until the
	 * next one (PSP: one rotation); 0 if none */
	uint32_t rx_spi_prev;
	/* the device key generation rx_spi was derived from (rotations) */
	uint32_t key_gen;
	uint32_t reserved;
	uint64_t rejected; /* frames that failed verification */
};

/*
 * The capabilities and security configuration of @ctx's device. 0, or an
 * errno value (also in errno): EOPNOTSUPP if @ctx is not a tcp device's
 * context, EINVAL if an argument is NULL.
 */
int tcpdv_query_device(struct ibv_context *ctx, struct tcpdv_device_attr *attr);

/*
 * The security state of @qp. 0, or an errno value (also in errno):
 * EOPNOTSUPP if @qp is not a tcp QP, EINVAL if an argument is NULL or
 * @qp is not a live QP of its context.
 */
int tcpdv_query_qp_security(struct ibv_qp *qp, struct tcpdv_qp_security *sec);

/*
 * The congestion control of @qp's TCP connection (RC, UC): @name, one of
 * the kernel's tcp_available_congestion_control, or NULL or "" for the
 * device's again. A connection that is up switches at once; later ones
 * start with it. 0, or an errno value (also in errno): EINVAL for a name
 * the kernel does not have, or if @qp is not a live QP; EPERM for one this
 * process may not use (tcp_allowed_congestion_control, CAP_NET_ADMIN);
 * EOPNOTSUPP if @qp is not a tcp QP or is a UD QP. Version TCPDV_1.1.
 */
int tcpdv_modify_qp_cc(struct ibv_qp *qp, const char *name);

/*
 * The congestion control @qp's connection uses (its socket's, as the kernel
 * reports it), or before it has one, the one it will start with; never "".
 * 0, or an errno value as tcpdv_modify_qp_cc(). Version TCPDV_1.1.
 */
int tcpdv_query_qp_cc(struct ibv_qp *qp, char name[TCPDV_CC_NAME_MAX]);

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
