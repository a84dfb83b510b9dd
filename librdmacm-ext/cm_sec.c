// SPDX-License-Identifier: MIT
/*
 * The control connection's protection (docs/design.md, "rdma_cm"): a
 * device whose mode is not `off` carries its CM messages in a TLS 1.3
 * session, mutual, with the device's credentials (its PSK, or its
 * certificate and CA), for the connection's whole life. It is control
 * traffic: plain TLS records, one per message, each RTCP_CM_MAX_MSG bytes
 * (the message, zeros after it), because the handshake module reads
 * messages of a fixed length (hs.h).
 *
 * Which device: the active side's id's (the device of its resolved source
 * address), the passive side's that of the address the peer reached
 * (getsockname of the accepted socket). The configuration is read again
 * for every connection, so `rdma-tcp link set` applies to the next one;
 * the TLS contexts are rebuilt only when it changed.
 *
 * Nothing of the peer counts before the handshake completes. A TLS
 * listener reads nothing but a handshake: a first byte that is not a TLS
 * handshake record gets a plain REJ (reason RTCP_CM_REJ_AUTH, so a peer
 * in mode off learns why) and the connection is closed, with no event.
 * A failed handshake closes it, also with no event; the active side's
 * rdma_connect ends in REJECTED, status -EKEYREJECTED (cm_conn.c).
 *
 * Everything is nonblocking and driven by the background thread's
 * epoll loop; the handshake has a deadline (CM_HS_TIMEOUT_MS on the
 * active side, CM_REQ_TIMEOUT_MS from accept on the passive side).
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "cm_tls.h"
#include "ext.h"

#define TLS_HANDSHAKE_RECORD 0x16 /* TLS ContentType handshake */

_Static_assert(RTCP_CM_MAX_MSG <= 512, "a CM record fits tcp_hs_send");

struct cm_cred {
	struct tcp_psp_conf conf; /* what it was built from */
	struct tcp_hs_cred hs;
	unsigned int refs;
};

static const struct rdmacm_ext_tls_ops *tls;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

/* librdmacm-ext-tls.so from the directory of this library. */
static void tls_load(void)
{
	const struct rdmacm_ext_tls_ops *o;
	char path[PATH_MAX], dir[PATH_MAX];
	Dl_info info;
	void *h;

	if (!dladdr((void *)tls_load, &info) || !info.dli_fname)
		return;
	snprintf(dir, sizeof(dir), "%s", info.dli_fname);
	snprintf(path, sizeof(path), "%s/%s", dirname(dir), RDMACM_EXT_TLS_LIB);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "librdmacm-ext: %s\n", dlerror());
		return;
	}
	o = dlsym(h, RDMACM_EXT_TLS_SYMBOL);
	if (!o || o->version != RDMACM_EXT_TLS_VERSION ||
	    o->size != sizeof(*o)) {
		fprintf(stderr, "librdmacm-ext: %s: not this version's\n",
			path);
		return;
	}
	tls = o;
}

static const struct rdmacm_ext_tls_ops *tls_ops(void)
{
	pthread_once(&tls_once, tls_load);
	return tls;
}

static void cred_put(struct cm_cred *c)
{
	if (!c || --c->refs)
		return;
	tls->cred_free(&c->hs);
	tls->conf_wipe(&c->conf);
	free(c);
}

/* The same TLS credentials (the mode matters only as off or not, and
 * off never gets here); certificates by their paths: a file replaced
 * under the same name takes effect when the process restarts. */
static bool same_cred(const struct tcp_psp_conf *a,
		      const struct tcp_psp_conf *b)
{
	if (a->have_psk != b->have_psk)
		return false;
	if (a->have_psk)
		return !memcmp(a->psk, b->psk, sizeof(a->psk));
	return !strcmp(a->cert, b->cert) && !strcmp(a->cert_key, b->cert_key) &&
	       !strcmp(a->ca, b->ca);
}

int cm_sec_cred(struct cm_dev *dev, struct cm_cred **out)
{
	const struct rdmacm_ext_tls_ops *t = tls_ops();
	struct cm_cred *nc;
	int err;

	*out = NULL;
	if (!t)
		return ELIBACC;
	nc = calloc(1, sizeof(*nc));
	if (!nc)
		return ENOMEM;
	err = t->conf_load(dev->device->ibdev_path, &nc->conf);
	if (err)
		goto out;
	if (nc->conf.mode == TCP_PSP_OFF) {
		/* keys no longer configured are not kept */
		cred_put(dev->cred);
		dev->cred = NULL;
		goto out;
	}
	if (dev->cred && same_cred(&dev->cred->conf, &nc->conf)) {
		dev->cred->refs++;
		*out = dev->cred;
		goto out;
	}
	err = t->cred_init(&nc->hs, &nc->conf);
	if (err)
		goto out;
	CM_DBG("%s: TLS credentials (%s) loaded", dev->device->name,
	       nc->conf.have_psk ? "PSK" : "certificate");
	nc->refs = 2; /* the device's and the caller's */
	cred_put(dev->cred);
	dev->cred = nc;
	*out = nc;
	return 0;
out:
	t->conf_wipe(&nc->conf);
	free(nc);
	return err;
}

int cm_sec_connect(struct cm_conn *c, struct cm_dev *dev)
{
	struct cm_cred *cred;
	int err = cm_sec_cred(dev, &cred);

	if (err)
		return err;
	cred_put(c->cred);
	c->cred = cred;
	c->sec = cred ? CM_SEC_START : CM_SEC_PLAIN;
	return 0;
}

static int hs_start(struct cm_conn *c, enum tcp_hs_role role)
{
	c->hs = tls->hs_new(&c->cred->hs, role, c->fd);
	if (!c->hs)
		return -1;
	c->sec = CM_SEC_HS;
	return 0;
}

void cm_sec_connected(struct cm_conn *c)
{
	if (c->sec != CM_SEC_START)
		return;
	if (hs_start(c, TCP_HS_CLIENT)) {
		cm_on_hs_failed(c, ENOMEM);
		return;
	}
	c->deadline = cm_now_ms() + CM_HS_TIMEOUT_MS;
}

int cm_sec_accept(struct cm_conn *c)
{
	struct sockaddr_storage local;
	socklen_t ll = sizeof(local);
	struct cm_dev *dev;

	if (getsockname(c->fd, (struct sockaddr *)&local, &ll))
		return -1;
	cm_addr_unmap(&local);
	dev = cm_dev_by_addr((struct sockaddr *)&local);
	if (!dev || cm_sec_connect(c, dev))
		return -1;
	if (c->sec == CM_SEC_START)
		c->sec = CM_SEC_PEEK;
	return 0;
}

/* A TLS listener's connection: a handshake, or told off and dropped. */
static void peek(struct cm_conn *c)
{
	struct rtcp_cm_rej rej;
	uint8_t b;
	ssize_t n;

	n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 1 && b == TLS_HANDSHAKE_RECORD) {
		if (hs_start(c, TCP_HS_SERVER))
			cm_conn_close(c);
		return;
	}
	if (n <= 0) {
		cm_conn_close(c);
		return;
	}
	CM_DBG("fd %d: not TLS: rejected", c->fd);
	c->sec = CM_SEC_PLAIN;
	c->listen_id = NULL;
	memset(&rej, 0, sizeof(rej));
	rej.reason = htons(RTCP_CM_REJ_AUTH);
	if (cm_conn_send(c, RTCP_CM_REJ, &rej, RTCP_CM_REJ_FIXED))
		cm_conn_close(c);
	else
		cm_conn_finish(c);
}

/* Drives the handshake; true once it is complete. */
static bool step(struct cm_conn *c)
{
	enum tcp_hs_status st = tls->hs_step(c->hs);

	c->hs_write = st == TCP_HS_WANT_WRITE;
	if (st == TCP_HS_WANT_READ || st == TCP_HS_WANT_WRITE) {
		cm_conn_update(c);
		return false;
	}
	if (st != TCP_HS_OK) {
		CM_DBG("fd %d: TLS handshake failed: %s (%s)", c->fd,
		       tls->hs_strerror(tls->hs_reason(c->hs)),
		       tls->hs_detail(c->hs));
		cm_on_hs_failed(c, tls->hs_reason(c->hs) == TCP_HS_ERR_NOMEM
					   ? ENOMEM
					   : EKEYREJECTED);
		return false;
	}
	CM_DBG("fd %d: TLS handshake complete", c->fd);
	c->sec = CM_SEC_UP;
	/* the active side's deadline was the handshake's; the passive
	 * side's is for the REQ and stays */
	if (c->id)
		c->deadline = 0;
	return true;
}

void cm_sec_flush(struct cm_conn *c)
{
	enum tcp_hs_status st;

	while (c->sec == CM_SEC_UP) {
		if (c->rec_pending) {
			st = tls->hs_flush(c->hs);
			c->hs_write = st == TCP_HS_WANT_WRITE;
			if (st == TCP_HS_WANT_WRITE)
				return;
			c->rec_pending = false;
		} else if (c->out_len) {
			st = tls->hs_send(c->hs, c->out, RTCP_CM_MAX_MSG);
			c->out_len -= RTCP_CM_MAX_MSG;
			memmove(c->out, c->out + RTCP_CM_MAX_MSG, c->out_len);
			c->rec_pending = st == TCP_HS_WANT_WRITE;
		} else {
			return;
		}
		if (st == TCP_HS_FAIL) {
			/* the read side sees it: reports the loss */
			c->out_len = 0;
			c->rec_pending = false;
			shutdown(c->fd, SHUT_RDWR);
			return;
		}
	}
}

/*
 * Why a TLS connection ended: 0 for the peer's close (EOF, as on a plain
 * connection); EKEYREJECTED when the peer refused our credentials after
 * our side of the handshake was done (TLS 1.3: a server checks the
 * client's certificate after the client finished, and says so in an
 * alert that arrives after the REQ went out); EPROTO for anything else.
 */
static int record_err(struct cm_conn *c, enum tcp_hs_status st)
{
	enum tcp_hs_err why;

	if (st != TCP_HS_FAIL) {
		CM_DBG("fd %d: bad CM message", c->fd);
		return EPROTO;
	}
	why = tls->hs_reason(c->hs);
	/* (past the key exchange: its own words for a close would mislead) */
	if (why == TCP_HS_ERR_CLOSED) {
		CM_DBG("fd %d: the peer closed the connection", c->fd);
		return 0;
	}
	CM_DBG("fd %d: %s (%s)", c->fd, tls->hs_strerror(why),
	       tls->hs_detail(c->hs));
	return why == TCP_HS_ERR_CRED ? EKEYREJECTED : EPROTO;
}

/* Reads whole records and dispatches their messages until the socket is
 * dry. */
static void read_records(struct cm_conn *c)
{
	enum tcp_hs_status st;
	size_t body;
	uint8_t type;
	int err;

	while (!c->dead && c->sec == CM_SEC_UP) {
		st = tls->hs_recv(c->hs, c->in, RTCP_CM_MAX_MSG);
		/* (reading never waits for room: it only reads records) */
		if (st == TCP_HS_WANT_READ || st == TCP_HS_WANT_WRITE)
			return;
		if (st != TCP_HS_OK ||
		    rtcp_cm_parse(c->in, RTCP_CM_MAX_MSG, &type, &body) !=
			    RTCP_CM_WHOLE) {
			err = record_err(c, st);
			if (c->closing)
				cm_conn_close(c);
			else if (err == EKEYREJECTED)
				cm_on_hs_failed(c, err);
			else
				cm_on_lost(c, err);
			return;
		}
		CM_DBG("fd %d: message %u (%zu bytes)%s", c->fd, type, body,
		       c->closing ? ", ignored: closing" : "");
		if (!c->closing)
			cm_on_message(c, type, c->in + RTCP_CM_HDR_LEN, body);
	}
}

void cm_sec_handle(struct cm_conn *c, uint32_t events)
{
	(void)events; /* TLS says what it waits for; trying is harmless */
	if (c->sec == CM_SEC_PEEK)
		peek(c);
	if (c->dead || c->sec != CM_SEC_HS)
		goto up;
	if (!step(c) || c->dead)
		return;
up:
	if (c->dead || c->sec != CM_SEC_UP)
		return;
	cm_conn_flush(c);
	if (!c->dead)
		read_records(c);
}

void cm_sec_release(struct cm_conn *c)
{
	if (c->hs)
		tls->hs_free(c->hs);
	c->hs = NULL;
	cred_put(c->cred);
	c->cred = NULL;
}
