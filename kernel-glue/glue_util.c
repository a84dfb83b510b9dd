// SPDX-License-Identifier: MIT
/* Pure helpers of the rdma-tcp tool; see glue_util.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rdma_tcp/registry.h>

#include "glue_util.h"

static const char hex_digits[] = "0123456789abcdef";

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

const char *rtcp_check_dev_name(const char *name)
{
	static const char prefix[] = RDMA_TCP_NAME_PREFIX;
	size_t len, i;

	if (!name || !*name)
		return "is empty";
	len = strlen(name);
	if (len > RTCP_DEV_NAME_MAX)
		return "is longer than 63 characters";
	if (strncmp(name, prefix, sizeof(prefix) - 1) != 0)
		return "must start with \"" RDMA_TCP_NAME_PREFIX
		       "\" (the provider claims devices by that prefix)";
	for (i = 0; i < len; i++)
		if (!is_name_char(name[i]))
			return "may contain only letters, digits, '_' and '-'";
	return NULL;
}

const char *rtcp_check_ifname(const char *ifname)
{
	size_t len, i;

	if (!ifname || !*ifname)
		return "is empty";
	len = strlen(ifname);
	/* IFNAMSIZ is 16 including the NUL */
	if (len > 15)
		return "is longer than 15 characters";
	if (!strcmp(ifname, ".") || !strcmp(ifname, ".."))
		return "is not a netdev name";
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)ifname[i];

		if (c == '/' || c == ':' || c <= ' ' || c == 0x7f)
			return "contains a character netdev names cannot have";
	}
	return NULL;
}

void rtcp_gid_from_ipv4(const uint8_t v4[4], uint8_t gid[16])
{
	memset(gid, 0, 10);
	gid[10] = 0xff;
	gid[11] = 0xff;
	memcpy(gid + 12, v4, 4);
}

bool rtcp_gid_is_zero(const uint8_t gid[16])
{
	unsigned int i;

	for (i = 0; i < 16; i++)
		if (gid[i])
			return false;
	return true;
}

/* Groups of two bytes as "hhhh" joined by ':'; the GUID and GID forms. */
static void format_groups(const uint8_t *bytes, unsigned int ngroups, char *out)
{
	unsigned int g, b;
	char *p = out;

	for (g = 0; g < ngroups; g++) {
		if (g)
			*p++ = ':';
		for (b = 0; b < 2; b++) {
			*p++ = hex_digits[bytes[2 * g + b] >> 4];
			*p++ = hex_digits[bytes[2 * g + b] & 0xf];
		}
	}
	*p = '\0';
}

void rtcp_gid_format(const uint8_t gid[16], char out[RTCP_GID_STR_LEN])
{
	format_groups(gid, 8, out);
}

void rtcp_guid_format(const uint8_t guid[8], char out[RTCP_GUID_STR_LEN])
{
	format_groups(guid, 4, out);
}

int rtcp_guid_from_mac(const uint8_t *mac, size_t len, uint8_t guid[8])
{
	size_t i;
	bool zero = true;

	if (!mac || len != 6)
		return -1;
	for (i = 0; i < len; i++)
		if (mac[i])
			zero = false;
	/* lo's 00:00:00:00:00:00 and group addresses name no port */
	if (zero || (mac[0] & 0x01))
		return -1;
	guid[0] = mac[0] ^ 0x02;
	guid[1] = mac[1];
	guid[2] = mac[2];
	guid[3] = 0xff;
	guid[4] = 0xfe;
	guid[5] = mac[3];
	guid[6] = mac[4];
	guid[7] = mac[5];
	return 0;
}

/* FNV-1a, 64 bit: simple, well known and stable across versions. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * FNV-1a only carries a change in the last byte upwards; the SplitMix64
 * finalizer spreads it over all bits so "tcp0" and "tcp1" look unrelated.
 */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

void rtcp_guid_from_seed(const void *seed, size_t seed_len, const char *name,
			 uint8_t guid[8])
{
	static const uint8_t sep;
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned int i;

	if (seed && seed_len)
		h = fnv1a(h, seed, seed_len);
	/* the separator keeps ("ab", "c") and ("a", "bc") apart */
	h = fnv1a(h, &sep, 1);
	if (name)
		h = fnv1a(h, name, strlen(name));
	h = mix64(h);
	for (i = 0; i < 8; i++)
		guid[i] = (uint8_t)(h >> (56 - 8 * i));
	/*
	 * In modified EUI-64 form a clear 0x02 bit means "locally
	 * administered", which a made-up identifier is; 0x01 (group) is never
	 * set in a port identifier. Neither can make it all zero: then bit 0
	 * of the last byte is forced.
	 */
	guid[0] &= (uint8_t)~0x03;
	for (i = 0; i < 8; i++)
		if (guid[i])
			return;
	guid[7] = 1;
}

int rtcp_parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	const char *p;

	if (!s || !*s)
		return -1;
	/* no sign, no spaces, no leading zeros: one spelling per number */
	if (s[0] == '0' && s[1])
		return -1;
	for (p = s; *p; p++) {
		unsigned int d;

		if (*p < '0' || *p > '9')
			return -1;
		d = (unsigned int)(*p - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int rtcp_parse_uverbs(const char *s, unsigned int *idx)
{
	static const char prefix[] = "uverbs";
	unsigned long v;

	if (!s || strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return -EINVAL;
	if (rtcp_parse_ulong(s + sizeof(prefix) - 1, 1UL << 20, &v))
		return -EINVAL;
	*idx = (unsigned int)v;
	return 0;
}

static bool is_shell_safe(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("_-./:,+=@%^", c);
}

char *rtcp_shell_quote(const char *s)
{
	size_t len = 2, i;
	bool safe = *s != '\0';
	char *out, *p;

	for (i = 0; s[i]; i++) {
		if (!is_shell_safe(s[i]))
			safe = false;
		/* a ' becomes '\'' : close, escaped quote, reopen */
		len += s[i] == '\'' ? 4 : 1;
	}
	if (safe)
		return strdup(s);
	out = malloc(len + 1);
	if (!out)
		return NULL;
	p = out;
	*p++ = '\'';
	for (i = 0; s[i]; i++) {
		if (s[i] == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = s[i];
		}
	}
	*p++ = '\'';
	*p = '\0';
	return out;
}

bool rtcp_list_has(const char *list, const char *seps, const char *item)
{
	size_t ilen = strlen(item);
	const char *p = list;

	if (!list || !ilen)
		return false;
	while (*p) {
		size_t n = strcspn(p, seps);

		if (n == ilen && !memcmp(p, item, n))
			return true;
		p += n;
		if (*p)
			p++;
	}
	return false;
}
