// SPDX-License-Identifier: MIT
/*
 * Unit tests of a device's security configuration (providers/tcp/psp_conf.h)
 * on real files in a temporary registry: ROOT/sys/class/infiniband/tcp0
 * with tcp_psp and tcp_psp_rotation, key files of every mode, and the host
 * key ROOT/etc/host.key. The refusals are what keeps a key readable by
 * more users than the device's own from being used. Run as root, the
 * "unreadable" case reads as nobody in a child process.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "psp_conf.h"

#include "check.h"

#define KEY_HEX \
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static char root[64], dev[256];

static void put(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	CHECKF(f != NULL, "cannot create %s", path);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	CHECK(chmod(path, mode) == 0);
}

/* ROOT/P, written */
static const char *at(const char *rel)
{
	static char buf[4][512];
	static int n;
	char *p = buf[n++ & 3];

	snprintf(p, 512, "%s/%s", root, rel);
	return p;
}

static void conf(const char *text)
{
	put(at("sys/class/infiniband/tcp0/tcp_psp"), text, 0644);
}

static int load(struct tcp_psp_conf *c)
{
	memset(c, 0xa5, sizeof(*c));
	return tcp_psp_conf_load(dev, c);
}

static bool psk_is_ramp(const struct tcp_psp_conf *c)
{
	int i;

	for (i = 0; i < TCP_PSP_PSK_LEN; i++)
		if (c->psk[i] != i)
			return false;
	return true;
}

/*
 * A key this user may not read is EACCES. As root (CI), the load runs in a
 * child that became nobody, reading root's 0600 key.
 */
static bool unreadable_is_eacces(void)
{
	struct tcp_psp_conf c;
	int status;
	pid_t pid;

	if (geteuid() != 0) {
		bool ok = chmod(at("k1"), 0200) == 0 && load(&c) == EACCES;

		return chmod(at("k1"), 0600) == 0 && ok;
	}
	pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(2);
		_exit(load(&c) == EACCES ? 0 : 1);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid &&
	       WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void test_defaults(void)
{
	struct tcp_psp_conf c;
	char want[512];

	/* no tcp_psp and no host key: auth needs a key it does not have */
	unlink(at("sys/class/infiniband/tcp0/tcp_psp"));
	CHECK(load(&c) == ENOENT);
	put(at("etc/host.key"), KEY_HEX "\n", 0600);
	CHECK(load(&c) == 0);
	CHECK(c.mode == TCP_PSP_AUTH && c.alg == TCP_PSP_AES128);
	CHECK(c.have_psk && psk_is_ramp(&c));
	snprintf(want, sizeof(want), "%s/etc/host.key", root);
	CHECKF(!strcmp(c.key, want), "key %s", c.key);
	CHECK(c.rotation == 0);
	tcp_psp_conf_wipe(&c);
	CHECK(c.psk[0] == 0 && c.psk[31] == 0);
}

static void test_key_file(void)
{
	struct tcp_psp_conf c;
	char text[600];

	put(at("k1"), KEY_HEX, 0600); /* no newline: fine too */
	snprintf(text, sizeof(text), "mode encrypt\nalg aes256\nkey %s\n",
		 at("k1"));
	conf(text);
	CHECK(load(&c) == 0);
	CHECK(c.mode == TCP_PSP_ENCRYPT && c.alg == TCP_PSP_AES256);
	CHECK(c.have_psk && psk_is_ramp(&c) && !c.cert[0]);
	CHECK(tcp_psp_key_read(at("k1"), c.psk) == 0 && psk_is_ramp(&c));

	/* a group may read it (0640), nobody else, and only the owner write */
	CHECK(chmod(at("k1"), 0640) == 0 && load(&c) == 0);
	CHECK(chmod(at("k1"), 0644) == 0 && load(&c) == EACCES);
	CHECK(chmod(at("k1"), 0604) == 0 && load(&c) == EACCES);
	CHECK(chmod(at("k1"), 0602) == 0 && load(&c) == EACCES);
	CHECK(chmod(at("k1"), 0660) == 0 && load(&c) == EACCES);
	CHECK(chmod(at("k1"), 0620) == 0 && load(&c) == EACCES);
	CHECK(c.psk[0] == 0 && c.psk[31] == 0); /* wiped on refusal */
	CHECK(chmod(at("k1"), 0600) == 0);
	CHECK(unreadable_is_eacces());

	snprintf(text, sizeof(text), "mode auth\nkey %s/nokey\n", root);
	conf(text);
	CHECK(load(&c) == ENOENT);
}

static void test_bad_hex(void)
{
	static const char *const bad[] = {
		"",
		KEY_HEX "00\n",		/* 33 bytes */
		"000102030405060708\n", /* short */
		KEY_HEX "\n\n",		/* two newlines */
		" " KEY_HEX "\n",	/* leading space */
		"0g0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e"
		"1f",
	};
	struct tcp_psp_conf c;
	char text[600];
	unsigned int i;

	snprintf(text, sizeof(text), "key %s\n", at("k2"));
	conf(text);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(at("k2"), bad[i], 0600);
		CHECKF(load(&c) == EINVAL, "bad key %u", i);
	}
	put(at("k2"),
	    "000102030405060708090A0B0C0D0E0F101112131415161718191A1B"
	    "1C1D1E1F\n",
	    0600);
	CHECKF(load(&c) == 0 && psk_is_ramp(&c), "upper-case hex");
}

static void test_certs(void)
{
	struct tcp_psp_conf c;
	char text[1200];

	put(at("c.pem"), "cert\n", 0644);
	put(at("ca.pem"), "ca\n", 0644);
	put(at("c.key"), "private\n", 0600);
	snprintf(text, sizeof(text), "mode auth\ncert %s\ncertkey %s\nca %s\n",
		 at("c.pem"), at("c.key"), at("ca.pem"));
	conf(text);
	CHECK(load(&c) == 0);
	CHECK(!c.have_psk && !c.key[0]);
	CHECK(!strcmp(c.cert, at("c.pem")) &&
	      !strcmp(c.cert_key, at("c.key")) && !strcmp(c.ca, at("ca.pem")));
	CHECK(chmod(at("c.key"), 0644) == 0 && load(&c) == EACCES);
	CHECK(chmod(at("c.key"), 0640) == 0 && load(&c) == 0);
	CHECK(tcp_psp_secret_check(at("c.key")) == 0);
	CHECK(unlink(at("ca.pem")) == 0 && load(&c) == ENOENT);

	/* half a triple, or a triple and a key, is malformed */
	snprintf(text, sizeof(text), "cert %s\nca %s\n", at("c.pem"),
		 at("ca.pem"));
	conf(text);
	CHECK(load(&c) == EINVAL);
	snprintf(text, sizeof(text), "cert %s\ncertkey %s\nca %s\nkey %s\n",
		 at("c.pem"), at("c.key"), at("ca.pem"), at("k1"));
	conf(text);
	CHECK(load(&c) == EINVAL);
}

static void test_malformed(void)
{
	static const char *const bad[] = {
		"mode none\n",	    "alg aes192\n",	"mode auth\nmode off\n",
		"key relative/k\n", "frobnicate yes\n", "mode\n",
		"mode  auth\n",
	};
	struct tcp_psp_conf c;
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		conf(bad[i]);
		CHECKF(load(&c) == EINVAL, "tcp_psp \"%s\"", bad[i]);
	}
	/* off needs no key at all, even with none there */
	conf("# made by hand\n\nmode off\n");
	CHECK(load(&c) == 0 && c.mode == TCP_PSP_OFF && !c.have_psk);
	/* the parse alone opens nothing: a missing key file is fine */
	conf("mode auth\nkey /nonexistent/key\n");
	CHECK(tcp_psp_conf_read(dev, &c) == 0 && c.have_psk &&
	      !strcmp(c.key, "/nonexistent/key"));
}

static void test_rotation(void)
{
	struct tcp_psp_conf c;
	uint32_t r = 7;

	unlink(at("sys/class/infiniband/tcp0/tcp_psp_rotation"));
	CHECK(tcp_psp_conf_rotation(dev, &r) == 0 && r == 0);
	put(at("sys/class/infiniband/tcp0/tcp_psp_rotation"), "3\n", 0644);
	CHECK(tcp_psp_conf_rotation(dev, &r) == 0 && r == 3);
	conf("mode off\n");
	CHECK(load(&c) == 0 && c.rotation == 3);
	put(at("sys/class/infiniband/tcp0/tcp_psp_rotation"), "4294967295\n",
	    0644);
	CHECK(tcp_psp_conf_rotation(dev, &r) == 0 && r == 4294967295u);
	put(at("sys/class/infiniband/tcp0/tcp_psp_rotation"), "4294967296\n",
	    0644);
	CHECK(tcp_psp_conf_rotation(dev, &r) == EINVAL);
	put(at("sys/class/infiniband/tcp0/tcp_psp_rotation"), "-1\n", 0644);
	CHECK(tcp_psp_conf_rotation(dev, &r) == EINVAL);
	put(at("sys/class/infiniband/tcp0/tcp_psp_rotation"), "x\n", 0644);
	CHECK(tcp_psp_conf_rotation(dev, &r) == EINVAL);
	put(at("sys/class/infiniband/tcp0/tcp_psp_rotation"), "0\n", 0644);
}

static void test_not_a_registry(void)
{
	struct tcp_psp_conf c;

	/* the host key's place is only known below a registry */
	CHECK(tcp_psp_conf_load("/tmp", &c) == EINVAL);
	CHECK(tcp_psp_conf_load("/sys/class/infiniband/tcp0", &c) == EINVAL);
}

int main(void)
{
	char cmd[600];

	snprintf(root, sizeof(root), "/tmp/rtcp-psp-conf.XXXXXX");
	if (!mkdtemp(root) || chmod(root, 0755)) /* nobody must reach it */
		return 2;
	snprintf(dev, sizeof(dev), "%s/sys/class/infiniband/tcp0", root);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s %s/etc", dev, root);
	if (system(cmd))
		return 2;
	test_defaults();
	test_key_file();
	test_bad_hex();
	test_certs();
	test_malformed();
	test_rotation();
	test_not_a_registry();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd))
		return 2;
	return check_report();
}
