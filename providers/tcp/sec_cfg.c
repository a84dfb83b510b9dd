// SPDX-License-Identifier: MIT
/*
 * A context's security configuration, counted and replaceable (sec_cfg.h):
 * loaded at open, and again by the engine when `rdma-tcp link set` has
 * changed it, for the connections that start afterwards.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include <rdma_tcp/registry.h>

#include "sec_cfg.h"
#include "tcp.h"

/* Loads and checks the registry's configuration into a new one. */
static struct tcp_sec_cfg *cfg_load(const char *ibdev_path,
				    struct tcp_psp_conf *conf, int *err)
{
	struct tcp_sec_cfg *c = calloc(1, sizeof(*c));

	if (!c) {
		*err = ENOMEM;
		return NULL;
	}
	*err = tcp_psp_conf_load(ibdev_path, conf);
	if (!*err && conf->mode != TCP_PSP_OFF)
		*err = conf->have_psk
			       ? tcp_psp_fpr_psk(conf->psk, TCP_PSP_PSK_LEN,
						 c->fpr, sizeof(c->fpr))
			       : tcp_psp_fpr_cert(conf->cert, c->fpr,
						  sizeof(c->fpr));
	if (!*err && conf->mode != TCP_PSP_OFF)
		*err = tcp_hs_cred_init(&c->cred, conf);
	tcp_psp_conf_wipe(conf); /* the credential keeps its copy */
	if (*err) {
		free(c);
		return NULL;
	}
	c->mode = conf->mode;
	c->alg = conf->alg;
	atomic_init(&c->refs, 1);
	return c;
}

void tcp_sec_cfg_put(struct tcp_sec_cfg *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	if (c->cred.client || c->cred.server)
		tcp_hs_cred_free(&c->cred);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

struct tcp_sec_cfg *tcp_sec_cfg_get(struct tcp_context *ctx)
{
	struct tcp_sec_cfg *c;

	tcp_mutex_lock(&ctx->psp_lock);
	c = ctx->sec_cfg;
	atomic_fetch_add(&c->refs, 1);
	tcp_mutex_unlock(&ctx->psp_lock);
	return c;
}

static void stamp_one(const char *path, struct tcp_sec_stamp *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (!path[0])
		return;
	if (stat(path, &st)) {
		s->err = errno;
		return;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtim = st.st_mtim;
	s->ctim = st.st_ctim;
}

/* tcp_psp and the credential files @conf names. */
static void stamp_all(const char *ibdev_path, const struct tcp_psp_conf *conf,
		      struct tcp_sec_stamp s[TCP_SEC_STAMPS])
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/" RDMA_TCP_PSP_FILE, ibdev_path);
	stamp_one(path, &s[0]);
	if (conf->key[0]) {
		stamp_one(conf->key, &s[1]);
		stamp_one("", &s[2]);
		stamp_one("", &s[3]);
	} else {
		stamp_one(conf->cert, &s[1]);
		stamp_one(conf->cert_key, &s[2]);
		stamp_one(conf->ca, &s[3]);
	}
}

/*
 * Loads the configuration (@c: NULL and *@err if it fails, with one line
 * on stderr) and records what the look compares with: the files as they
 * were before they were read, so a change made meanwhile is seen at the
 * next look -- tcp_psp's stamp is taken first, and if it moved while the
 * rest was read, the record cannot match any look and the next one loads
 * again.
 */
static struct tcp_sec_cfg *load_watch(struct tcp_context *ctx,
				      struct tcp_psp_conf *conf, int *err)
{
	struct tcp_sec_watch *w = ctx->sec_watch;
	struct tcp_sec_stamp before;
	struct tcp_sec_cfg *c;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/" RDMA_TCP_PSP_FILE,
		 ctx->dev->ibdev_path);
	stamp_one(path, &before);
	c = cfg_load(ctx->dev->ibdev_path, conf, err);
	/* the paths it named, parsed or not (no secret: wiped by cfg_load) */
	w->conf = *conf;
	stamp_all(ctx->dev->ibdev_path, &w->conf, w->stamp);
	if (memcmp(&before, &w->stamp[0], sizeof(before)))
		w->stamp[0].err = -1; /* no stat gives that */
	return c;
}

int tcp_sec_cfg_open(struct tcp_context *ctx)
{
	struct tcp_psp_conf *conf = calloc(1, sizeof(*conf));
	int err = ENOMEM;

	ctx->sec_watch = calloc(1, sizeof(*ctx->sec_watch));
	if (conf && ctx->sec_watch)
		ctx->sec_cfg = load_watch(ctx, conf, &err);
	if (!err) {
		ctx->psp_conf = *conf;
	} else {
		free(ctx->sec_watch);
		ctx->sec_watch = NULL;
	}
	free(conf);
	return err;
}

void tcp_sec_cfg_close(struct tcp_context *ctx)
{
	tcp_sec_cfg_put(ctx->sec_cfg);
	ctx->sec_cfg = NULL;
	free(ctx->sec_watch);
	ctx->sec_watch = NULL;
}

/* The new configuration is current; the old one lives on in its users. */
static void cfg_swap(struct tcp_context *ctx, struct tcp_sec_cfg *c,
		     const struct tcp_psp_conf *conf)
{
	struct tcp_sec_cfg *old;
	uint32_t rotation;

	tcp_mutex_lock(&ctx->psp_lock);
	old = ctx->sec_cfg;
	ctx->sec_cfg = c;
	rotation = ctx->psp_conf.rotation; /* the engine's count, not the
					      file's: sec_rekey.c */
	ctx->psp_conf = *conf;
	ctx->psp_conf.rotation = rotation;
	tcp_mutex_unlock(&ctx->psp_lock);
	tcp_sec_cfg_put(old);
}

void tcp_sec_cfg_poll(struct tcp_context *ctx)
{
	struct tcp_sec_stamp now[TCP_SEC_STAMPS];
	struct tcp_sec_watch *w = ctx->sec_watch;
	struct tcp_psp_conf *conf;
	struct tcp_sec_cfg *c = NULL;
	int err = ENOMEM;

	stamp_all(ctx->dev->ibdev_path, &w->conf, now);
	if (!memcmp(now, w->stamp, sizeof(now)))
		return;
	/* a configuration that fails is not tried again until its files
	 * change again, so it is reported once */
	conf = calloc(1, sizeof(*conf));
	if (conf)
		c = load_watch(ctx, conf, &err);
	if (c)
		cfg_swap(ctx, c, conf);
	else
		fprintf(stderr,
			"rdma-tcp: %s: the changed security configuration "
			"is refused (%s); connections keep using the "
			"previous one\n",
			ctx->dev->vdev.device.name, strerror(err));
	free(conf);
}
