// SPDX-License-Identifier: MIT
/*
 * Unit tests of the rdma-tcp tool's pure helpers (kernel-glue/glue_util.c):
 * device and netdev name checks, GID and GUID formatting, EUI-64 and the
 * hash GUID, uverbs index parsing, shell quoting.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glue_util.h"

#include "check.h"

#define CHECK_STR(got, want)                                                 \
	do {                                                                 \
		const char *g_ = (got), *w_ = (want);                        \
		if (g_ && !strcmp(g_, w_)) {                                 \
			passed++;                                            \
		} else {                                                     \
			failed++;                                            \
			fprintf(stderr,                                      \
				"%s:%d: FAILED: got \"%s\", want \"%s\"\n",  \
				__FILE__, __LINE__, g_ ? g_ : "(null)", w_); \
		}                                                            \
	} while (0)

static void test_dev_names(void)
{
	char name[80];

	CHECK(!rtcp_check_dev_name("tcp0"));
	CHECK(!rtcp_check_dev_name("tcp"));
	CHECK(!rtcp_check_dev_name("tcp_a-B9"));
	/* 63 characters is the limit, 64 is over it */
	memset(name, 'x', sizeof(name));
	memcpy(name, "tcp", 3);
	name[63] = '\0';
	CHECK(!rtcp_check_dev_name(name));
	name[63] = 'x';
	name[64] = '\0';
	CHECK(rtcp_check_dev_name(name));

	CHECK(rtcp_check_dev_name(NULL));
	CHECK(rtcp_check_dev_name(""));
	CHECK(rtcp_check_dev_name("rxe0"));
	CHECK(rtcp_check_dev_name("Tcp0"));
	CHECK(rtcp_check_dev_name("tc"));
	CHECK(rtcp_check_dev_name("xtcp0"));
	CHECK(rtcp_check_dev_name("tcp0/1"));
	CHECK(rtcp_check_dev_name("tcp 0"));
	CHECK(rtcp_check_dev_name("tcp0\n"));
	CHECK(rtcp_check_dev_name("tcp.0"));
	CHECK(rtcp_check_dev_name("tcp0:1"));
	CHECK(rtcp_check_dev_name("tcp\xc3\xa9"));
}

static void test_ifnames(void)
{
	CHECK(!rtcp_check_ifname("lo"));
	CHECK(!rtcp_check_ifname("eth0"));
	CHECK(!rtcp_check_ifname("veth-a.100"));
	CHECK(!rtcp_check_ifname("abcdefghijklmno")); /* 15 */
	CHECK(rtcp_check_ifname("abcdefghijklmnop")); /* 16 */
	CHECK(rtcp_check_ifname(NULL));
	CHECK(rtcp_check_ifname(""));
	CHECK(rtcp_check_ifname("."));
	CHECK(rtcp_check_ifname(".."));
	CHECK(rtcp_check_ifname("a/b"));
	CHECK(rtcp_check_ifname("a b"));
	CHECK(rtcp_check_ifname("eth0:1"));
	CHECK(rtcp_check_ifname("eth0\n"));
	CHECK(rtcp_check_ifname("\t"));
}

static const char *gid_str_v4(const char *dotted, char *buf)
{
	uint8_t v4[4], gid[16];

	if (inet_pton(AF_INET, dotted, v4) != 1)
		return NULL;
	rtcp_gid_from_ipv4(v4, gid);
	rtcp_gid_format(gid, buf);
	return buf;
}

static const char *gid_str_v6(const char *text, char *buf)
{
	uint8_t gid[16];

	if (inet_pton(AF_INET6, text, gid) != 1)
		return NULL;
	rtcp_gid_format(gid, buf);
	return buf;
}

static void test_gids(void)
{
	static const uint8_t zero[16];
	char buf[RTCP_GID_STR_LEN];
	uint8_t gid[16];

	rtcp_gid_format(zero, buf);
	CHECK_STR(buf, "0000:0000:0000:0000:0000:0000:0000:0000");
	CHECK(strlen(buf) == RTCP_GID_STR_LEN - 1);
	CHECK(rtcp_gid_is_zero(zero));

	CHECK_STR(gid_str_v4("127.0.0.1", buf),
		  "0000:0000:0000:0000:0000:ffff:7f00:0001");
	CHECK_STR(gid_str_v4("10.0.0.255", buf),
		  "0000:0000:0000:0000:0000:ffff:0a00:00ff");
	CHECK_STR(gid_str_v4("192.0.2.2", buf),
		  "0000:0000:0000:0000:0000:ffff:c000:0202");
	CHECK_STR(gid_str_v4("255.255.255.255", buf),
		  "0000:0000:0000:0000:0000:ffff:ffff:ffff");
	/* mapped form: bytes 10 and 11 are 0xff, the address at 12..15 */
	rtcp_gid_from_ipv4((const uint8_t[4]){ 1, 2, 3, 4 }, gid);
	CHECK(gid[10] == 0xff && gid[11] == 0xff && gid[12] == 1 &&
	      gid[15] == 4 && !gid[0] && !gid[9]);
	CHECK(!rtcp_gid_is_zero(gid));

	CHECK_STR(gid_str_v6("::1", buf),
		  "0000:0000:0000:0000:0000:0000:0000:0001");
	CHECK_STR(gid_str_v6("fe80::fc:ff:fe00:1", buf),
		  "fe80:0000:0000:0000:00fc:00ff:fe00:0001");
	CHECK_STR(gid_str_v6("2001:db8::abcd", buf),
		  "2001:0db8:0000:0000:0000:0000:0000:abcd");
	CHECK_STR(gid_str_v6("fd00:0:0:0:ABCD:EF01:2345:6789", buf),
		  "fd00:0000:0000:0000:abcd:ef01:2345:6789");
}

static void test_eui64(void)
{
	char buf[RTCP_GUID_STR_LEN];
	uint8_t guid[8];

	CHECK(!rtcp_guid_from_mac(
		(const uint8_t[6]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, 6,
		guid));
	rtcp_guid_format(guid, buf);
	CHECK_STR(buf, "5054:00ff:fe12:3456");

	/* a universally administered MAC gets the bit set */
	CHECK(!rtcp_guid_from_mac(
		(const uint8_t[6]){ 0x00, 0x11, 0x22, 0x33, 0x44, 0x55 }, 6,
		guid));
	rtcp_guid_format(guid, buf);
	CHECK_STR(buf, "0211:22ff:fe33:4455");
	CHECK(strlen(buf) == RTCP_GUID_STR_LEN - 1);

	/* lo, group addresses, other lengths: no EUI-64 */
	CHECK(rtcp_guid_from_mac((const uint8_t[6]){ 0 }, 6, guid) == -1);
	CHECK(rtcp_guid_from_mac(
		      (const uint8_t[6]){ 0x01, 0x00, 0x5e, 0, 0, 1 }, 6,
		      guid) == -1);
	CHECK(rtcp_guid_from_mac(
		      (const uint8_t[6]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		      6, guid) == -1);
	CHECK(rtcp_guid_from_mac((const uint8_t[8]){ 2, 1, 2, 3, 4, 5, 6, 7 },
				 8, guid) == -1);
	CHECK(rtcp_guid_from_mac(NULL, 6, guid) == -1);
}

static void test_seed_guid(void)
{
	static const char seed[] = "3d1219c7c4c5404aaa1f6d2a48adfda4";
	uint8_t a[8], b[8], c[8], d[8], e[8];
	char buf[RTCP_GUID_STR_LEN];

	rtcp_guid_from_seed(seed, strlen(seed), "tcp0", a);
	rtcp_guid_from_seed(seed, strlen(seed), "tcp0", b);
	rtcp_guid_from_seed(seed, strlen(seed), "tcp1", c);
	rtcp_guid_from_seed("other-host", 10, "tcp0", d);
	rtcp_guid_from_seed(NULL, 0, "tcp0", e);
	CHECK(!memcmp(a, b, 8));
	CHECK(memcmp(a, c, 8));
	CHECK(memcmp(a, d, 8));
	CHECK(memcmp(a, e, 8));
	/* locally administered, not a group id, never zero */
	CHECK(!(a[0] & 0x03) && !(c[0] & 0x03) && !(e[0] & 0x03));
	CHECK(!rtcp_gid_is_zero((const uint8_t[16]){ a[0], a[1], a[2], a[3],
						     a[4], a[5], a[6], a[7] }));
	/* the separator keeps ("ab", "c") and ("a", "bc") apart */
	rtcp_guid_from_seed("ab", 2, "tcpc", a);
	rtcp_guid_from_seed("abt", 3, "cpc", b);
	CHECK(memcmp(a, b, 8));
	rtcp_guid_format(c, buf);
	CHECK(strlen(buf) == 19 && buf[4] == ':' && buf[9] == ':' &&
	      buf[14] == ':');
}

static void test_parse(void)
{
	unsigned long v = 0;
	unsigned int idx = 99;

	CHECK(!rtcp_parse_uverbs("uverbs0", &idx) && idx == 0);
	CHECK(!rtcp_parse_uverbs("uverbs12", &idx) && idx == 12);
	CHECK(rtcp_parse_uverbs("uverbs", &idx));
	CHECK(rtcp_parse_uverbs("uverbs01", &idx));
	CHECK(rtcp_parse_uverbs("uverbs-1", &idx));
	CHECK(rtcp_parse_uverbs("uverbs+1", &idx));
	CHECK(rtcp_parse_uverbs("uverbs1x", &idx));
	CHECK(rtcp_parse_uverbs("uverbs 1", &idx));
	CHECK(rtcp_parse_uverbs("verbs1", &idx));
	CHECK(rtcp_parse_uverbs("uverbs99999999999999999999", &idx));
	CHECK(rtcp_parse_uverbs(NULL, &idx));

	CHECK(!rtcp_parse_ulong("0", 10, &v) && v == 0);
	CHECK(!rtcp_parse_ulong("4194304", 0x7fffffff, &v) && v == 4194304);
	CHECK(!rtcp_parse_ulong("2147483647", 0x7fffffff, &v));
	CHECK(rtcp_parse_ulong("2147483648", 0x7fffffff, &v));
	CHECK(rtcp_parse_ulong("", 10, &v));
	CHECK(rtcp_parse_ulong("12\n", 100, &v));
	CHECK(rtcp_parse_ulong("-1", 100, &v));
}

static void check_quote(const char *in, const char *want)
{
	char *q = rtcp_shell_quote(in);

	CHECK_STR(q, want);
	free(q);
}

static void test_quote(void)
{
	check_quote("/run/rdma-tcp/sys", "/run/rdma-tcp/sys");
	check_quote("/a/libtcp:/b/libx", "/a/libtcp:/b/libx");
	check_quote("", "''");
	check_quote("a b", "'a b'");
	check_quote("$HOME", "'$HOME'");
	check_quote("`id`", "'`id`'");
	check_quote("it's", "'it'\\''s'");
	check_quote("a\nb", "'a\nb'");
	check_quote("x;y", "'x;y'");
}

static void test_list(void)
{
	CHECK(rtcp_list_has("/a:/b", ":", "/b"));
	CHECK(rtcp_list_has("/a:/b", ":", "/a"));
	CHECK(rtcp_list_has("/a /b", ": ", "/b"));
	CHECK(rtcp_list_has("/a;/b", ":;", "/b"));
	CHECK(!rtcp_list_has("/a:/bc", ":", "/b"));
	CHECK(!rtcp_list_has("/ab", ":", "/a"));
	CHECK(!rtcp_list_has("", ":", "/a"));
	CHECK(!rtcp_list_has(NULL, ":", "/a"));
	CHECK(!rtcp_list_has("/a", ":", ""));
}

int main(void)
{
	test_dev_names();
	test_ifnames();
	test_gids();
	test_eui64();
	test_seed_guid();
	test_parse();
	test_quote();
	test_list();
	return check_report();
}
