// SPDX-License-Identifier: MIT
/*
 * A device's security configuration (psp_conf.h): NAME/tcp_psp, the key
 * files it names and NAME/tcp_psp_rotation (layout in
 * <rdma_tcp/registry.h>). The rdma-tcp tool links this file too, so the
 * tool that accepts a key file and the provider that uses it apply one
 * permission rule and one format.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <rdma_tcp/registry.h>

#include "psp_conf.h"

#define CONF_MAX 8192 /* tcp_psp: six lines of a path each at most */
#define HEX_LEN	 (2 * TCP_PSP_PSK_LEN)
/* the registry directory of a device, below ROOT */
#define IB_CLASS "/sys/class/infiniband/"

static int say(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One line on stderr ("rdma-tcp: ..."); returns @err. */
static int say(int err, const char *fmt, ...)
{
	va_list ap;

	fputs("rdma-tcp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return err;
}

static ssize_t read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * Opens a secret file (@what names it in messages) and applies the rule
 * that makes the device's users the key's readers: its owner and at most
 * one group may read it, only its owner may change it.
 */
static int secret_open(const char *path, const char *what)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && (errno == EACCES || errno == EPERM))
		return -say(EACCES,
			    "cannot read %s %s: permission denied (only "
			    "users who may read it can use the device)",
			    what, path);
	if (fd < 0)
		return -say(errno, "cannot open %s %s: %s", what, path,
			    strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -say(EINVAL, "%s %s is not a regular file", what, path);
	}
	if (st.st_mode & 0027) {
		close(fd);
		return -say(EACCES,
			    "%s %s is %s (mode %04o): refused; "
			    "chmod 600 %s (or 640 for one group)",
			    what, path,
			    st.st_mode & 0007 ? "accessible to every user"
					      : "writable by its group",
			    (unsigned int)(st.st_mode & 07777), path);
	}
	return fd;
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 64 hex digits into 32 bytes; false on anything else. */
static bool hex_decode(const char *hex, size_t len,
		       uint8_t out[TCP_PSP_PSK_LEN])
{
	size_t i;
	int hi, lo;

	if (len != HEX_LEN)
		return false;
	for (i = 0; i < TCP_PSP_PSK_LEN; i++) {
		hi = hex_nibble(hex[2 * i]);
		lo = hex_nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

int tcp_psp_key_read(const char *path, uint8_t psk[TCP_PSP_PSK_LEN])
{
	char buf[HEX_LEN + 2];
	ssize_t n;
	int fd, err = 0;

	fd = secret_open(path, "key file");
	if (fd < 0)
		return -fd;
	n = read_all(fd, buf, sizeof(buf));
	if (n < 0)
		err = say(errno, "cannot read key file %s: %s", path,
			  strerror(errno));
	close(fd);
	if (!err && n > 0 && buf[n - 1] == '\n')
		n--;
	if (!err && (n < 0 || !hex_decode(buf, (size_t)n, psk)))
		err = say(EINVAL,
			  "key file %s: not 64 hex digits (32 bytes); make "
			  "one with: openssl rand -hex 32 > FILE",
			  path);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (err)
		OPENSSL_cleanse(psk, TCP_PSP_PSK_LEN);
	return err;
}

int tcp_psp_secret_check(const char *path)
{
	int fd = secret_open(path, "certificate key");

	if (fd < 0)
		return -fd;
	close(fd);
	return 0;
}

/* A certificate or CA file only has to be there and readable. */
static int public_check(const char *path, const char *what)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return say(errno == EPERM ? EACCES : errno,
			   "cannot open %s %s: %s", what, path,
			   strerror(errno));
	close(fd);
	return 0;
}

/* ROOT of a device whose registry directory is ROOT/sys/class/infiniband/NAME */
static int conf_root(const char *ibdev_path, char *root, size_t len)
{
	const char *name = strrchr(ibdev_path, '/');
	size_t tail = strlen(IB_CLASS) - 1, n;

	if (!name || !name[1])
		return say(EINVAL, "%s: not a device directory", ibdev_path);
	n = (size_t)(name - ibdev_path);
	if (n <= tail || memcmp(ibdev_path + n - tail, IB_CLASS, tail))
		return say(EINVAL, "%s: not in an rdma-tcp registry",
			   ibdev_path);
	n -= tail;
	if (n >= len)
		return say(ENAMETOOLONG, "%s: path too long", ibdev_path);
	memcpy(root, ibdev_path, n);
	root[n] = '\0';
	return 0;
}

static int set_mode(struct tcp_psp_conf *c, const char *v)
{
	if (!strcmp(v, "off"))
		c->mode = TCP_PSP_OFF;
	else if (!strcmp(v, "auth"))
		c->mode = TCP_PSP_AUTH;
	else if (!strcmp(v, "encrypt"))
		c->mode = TCP_PSP_ENCRYPT;
	else
		return EINVAL;
	return 0;
}

static int set_alg(struct tcp_psp_conf *c, const char *v)
{
	if (!strcmp(v, "aes128"))
		c->alg = TCP_PSP_AES128;
	else if (!strcmp(v, "aes256"))
		c->alg = TCP_PSP_AES256;
	else
		return EINVAL;
	return 0;
}

static int set_path(char *dst, const char *v)
{
	if (v[0] != '/' || strlen(v) >= PATH_MAX)
		return EINVAL;
	strcpy(dst, v);
	return 0;
}

/* One "WORD VALUE" line; a word given twice is malformed. */
static int conf_line(struct tcp_psp_conf *c, char *line, unsigned int *seen)
{
	static const char *const words[] = { "mode", "alg",	"key",
					     "cert", "certkey", "ca" };
	char *v = strchr(line, ' ');
	unsigned int i;

	if (!v)
		return EINVAL;
	*v++ = '\0';
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(line, words[i]))
			break;
	if (i == sizeof(words) / sizeof(words[0]) || (*seen & 1u << i))
		return EINVAL;
	*seen |= 1u << i;
	switch (i) {
	case 0:
		return set_mode(c, v);
	case 1:
		return set_alg(c, v);
	case 2:
		return set_path(c->key, v);
	case 3:
		return set_path(c->cert, v);
	case 4:
		return set_path(c->cert_key, v);
	default:
		return set_path(c->ca, v);
	}
}

/* The lines of tcp_psp; blank lines and '#' comments are skipped. */
static int conf_parse(struct tcp_psp_conf *c, char *text, const char *path)
{
	unsigned int seen = 0, lineno = 0;
	char *line, *next;
	bool certs;

	for (line = text; *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		else
			next = line + strlen(line);
		lineno++;
		if (!*line || *line == '#')
			continue;
		if (conf_line(c, line, &seen))
			return say(EINVAL, "%s: line %u is malformed", path,
				   lineno);
	}
	certs = c->cert[0] || c->cert_key[0] || c->ca[0];
	if (certs && !(c->cert[0] && c->cert_key[0] && c->ca[0]))
		return say(EINVAL, "%s: cert, certkey and ca go together",
			   path);
	if (certs && c->key[0])
		return say(EINVAL, "%s: key and cert exclude each other", path);
	return 0;
}

/* Reads tcp_psp into @text; a missing file is an empty one. */
static int conf_text(const char *ibdev_path, char *text, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/" RDMA_TCP_PSP_FILE, ibdev_path) >=
	    (int)sizeof(path))
		return say(ENAMETOOLONG, "%s: path too long", ibdev_path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		text[0] = '\0';
		return 0;
	}
	if (fd < 0)
		return say(errno, "cannot open %s: %s", path, strerror(errno));
	n = read_all(fd, text, len);
	close(fd);
	if (n < 0)
		return say(errno, "cannot read %s: %s", path, strerror(errno));
	if ((size_t)n == len)
		return say(EINVAL, "%s: too long", path);
	text[n] = '\0';
	if (strlen(text) != (size_t)n)
		return say(EINVAL, "%s: not text", path);
	return 0;
}

/* tcp_psp_conf_read(); *@host says whether the key is the host key. */
static int conf_read(const char *ibdev_path, struct tcp_psp_conf *c, bool *host)
{
	char text[CONF_MAX], root[PATH_MAX], path[PATH_MAX];
	int err;

	memset(c, 0, sizeof(*c));
	c->mode = TCP_PSP_AUTH;
	c->alg = TCP_PSP_AES128;
	err = conf_root(ibdev_path, root, sizeof(root));
	if (!err)
		err = conf_text(ibdev_path, text, sizeof(text));
	if (!err) {
		snprintf(path, sizeof(path), "%s/" RDMA_TCP_PSP_FILE,
			 ibdev_path);
		err = conf_parse(c, text, path);
	}
	if (!err)
		err = tcp_psp_conf_rotation(ibdev_path, &c->rotation);
	if (err)
		return err;
	/* no credential named: the host key of the registry */
	*host = c->mode != TCP_PSP_OFF && !c->key[0] && !c->cert[0];
	if (*host && snprintf(c->key, sizeof(c->key), "%s/" RDMA_TCP_HOST_KEY,
			      root) >= (int)sizeof(c->key))
		return say(ENAMETOOLONG, "%s: path too long", root);
	c->have_psk = c->key[0] != '\0';
	return 0;
}

int tcp_psp_conf_read(const char *ibdev_path, struct tcp_psp_conf *c)
{
	bool host;

	return conf_read(ibdev_path, c, &host);
}

/* The certificate triple: there, readable, its private key guarded. */
static int certs_check(const struct tcp_psp_conf *c)
{
	int err = public_check(c->cert, "certificate");

	if (!err)
		err = public_check(c->ca, "CA certificate");
	if (!err)
		err = tcp_psp_secret_check(c->cert_key);
	return err;
}

int tcp_psp_conf_load(const char *ibdev_path, struct tcp_psp_conf *c)
{
	struct stat st;
	bool host;
	int err = conf_read(ibdev_path, c, &host);

	if (err || c->mode == TCP_PSP_OFF)
		return err;
	/* a device registered before host keys existed */
	if (host && stat(c->key, &st) && errno == ENOENT)
		return say(ENOENT,
			   "%s: no host key %s; `rdma-tcp link set %s psp "
			   "auth` makes one",
			   ibdev_path, c->key, strrchr(ibdev_path, '/') + 1);
	if (c->have_psk)
		err = tcp_psp_key_read(c->key, c->psk);
	else
		err = certs_check(c);
	return err;
}

int tcp_psp_conf_rotation(const char *ibdev_path, uint32_t *rotation)
{
	char path[PATH_MAX], buf[16], *end;
	unsigned long v;
	ssize_t n;
	int fd;

	*rotation = 0;
	if (snprintf(path, sizeof(path), "%s/" RDMA_TCP_PSP_ROTATION,
		     ibdev_path) >= (int)sizeof(path))
		return say(ENAMETOOLONG, "%s: path too long", ibdev_path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0; /* never rotated (or made before rotation existed) */
	if (fd < 0)
		return say(errno, "cannot open %s: %s", path, strerror(errno));
	n = read_all(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return say(errno, "cannot read %s: %s", path, strerror(errno));
	buf[n] = '\0';
	errno = 0;
	v = strtoul(buf, &end, 10);
	if (buf[0] < '0' || buf[0] > '9' || errno || v > UINT32_MAX ||
	    (*end && strcmp(end, "\n")))
		return say(EINVAL, "%s: not a count", path);
	*rotation = (uint32_t)v;
	return 0;
}

void tcp_psp_conf_wipe(struct tcp_psp_conf *c)
{
	/* have_psk still says which credential the device has */
	OPENSSL_cleanse(c->psk, sizeof(c->psk));
}
