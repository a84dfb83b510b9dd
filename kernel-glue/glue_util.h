/* SPDX-License-Identifier: MIT */
/*
 * Pure helpers of the rdma-tcp tool: no I/O, no global state, so the unit
 * tests can link them (static library rdma_tcp_glue) without a netlink
 * socket or root.
 */
#ifndef RDMA_TCP_GLUE_UTIL_H
#define RDMA_TCP_GLUE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx" and its NUL */
#define RTCP_GID_STR_LEN 40
/* "xxxx:xxxx:xxxx:xxxx" and its NUL */
#define RTCP_GUID_STR_LEN 20
/* The kernel's IB_DEVICE_NAME_MAX is 64 bytes including the NUL. */
#define RTCP_DEV_NAME_MAX 63

/*
 * Device names: "tcp" prefix (the provider claims devices by it), at most
 * RTCP_DEV_NAME_MAX characters of [A-Za-z0-9_-]. Returns NULL when @name is
 * acceptable, else a phrase saying what is wrong with it.
 */
const char *rtcp_check_dev_name(const char *name);

/*
 * Netdev names as the kernel accepts them (dev_valid_name()): 1..15 bytes,
 * not "." or "..", no '/', ':' or whitespace. Ours also refuses control
 * characters, since the name is written into one-line sysfs-style files.
 */
const char *rtcp_check_ifname(const char *ifname);

/* ::ffff:a.b.c.d, the RoCE v2 GID of an IPv4 address (RFC 4291 2.5.5.2) */
void rtcp_gid_from_ipv4(const uint8_t v4[4], uint8_t gid[16]);
bool rtcp_gid_is_zero(const uint8_t gid[16]);
/* The kernel's sysfs form (%pI6): 8 groups of 4 lowercase hex digits. */
void rtcp_gid_format(const uint8_t gid[16], char out[RTCP_GID_STR_LEN]);

/*
 * Modified EUI-64 from a 6-byte MAC: flip the universal/local bit, insert
 * ff:fe in the middle (RFC 4291 appendix A), as RoCE NICs do for their node
 * GUID. Returns 0, or -1 when the MAC cannot identify a port (not 6 bytes,
 * all zero as on lo, or a group address).
 */
int rtcp_guid_from_mac(const uint8_t *mac, size_t len, uint8_t guid[8]);

/*
 * A stable GUID for a netdev with no usable MAC: a hash of a per-host seed
 * (/etc/machine-id) and the device name, so it survives re-creation and
 * differs between devices and hosts. Never all zero.
 */
void rtcp_guid_from_seed(const void *seed, size_t seed_len, const char *name,
			 uint8_t guid[8]);
void rtcp_guid_format(const uint8_t guid[8], char out[RTCP_GUID_STR_LEN]);

/* "uverbsN" -> N; rejects signs, leading zeros, junk and overflow. */
int rtcp_parse_uverbs(const char *s, unsigned int *idx);

/* Strict decimal parse of a whole string; 0 or -1. */
int rtcp_parse_ulong(const char *s, unsigned long max, unsigned long *out);

/*
 * @s quoted for a POSIX shell (eval "$(rdma-tcp env)"): returned as is when
 * it holds only characters no shell treats specially, else in single
 * quotes. The result is malloc()ed; NULL on allocation failure.
 */
char *rtcp_shell_quote(const char *s);

/* Whether @list, split at any of @seps, holds the exact element @item. */
bool rtcp_list_has(const char *list, const char *seps, const char *item);

#endif
