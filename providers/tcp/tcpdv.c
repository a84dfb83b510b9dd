// SPDX-License-Identifier: MIT
/*
 * The direct verbs of <infiniband/tcpdv.h>: the only functions the
 * provider's library exports (tcpdv.map). They copy the provider's state
 * out under its locks; no key ever leaves.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <infiniband/tcpdv.h>

#include "tcp.h"
#include "qp.h"
#include "cc_conf.h"
#include "psp_fpr.h"

#define TCPDV_EXPORT __attribute__((visibility("default")))

_Static_assert(TCPDV_CC_NAME_MAX == TCP_CC_NAME_MAX,
	       "the header's name length is the provider's");

/* What every tcp device does: no bit depends on the configuration. */
#define TCPDV_CAPS                                                      \
	(TCPDV_CAP_RC | TCPDV_CAP_RDMA | TCPDV_CAP_UC | TCPDV_CAP_SRQ | \
	 TCPDV_CAP_MW | TCPDV_CAP_PSP_AUTH | TCPDV_CAP_PSP_ENCRYPT |    \
	 TCPDV_CAP_CC)

/* context.c: the device operation by which we know our own contexts */
struct verbs_context *tcp_alloc_context(struct ibv_device *ibdev, int cmd_fd,
					void *private_data);

/*
 * Is @ctx a context of our provider? Decided by the device's operation
 * table, as mlx5dv and efadv decide, not by the name an application sees.
 */
static bool is_tcp_ctx(struct ibv_context *ctx)
{
	struct verbs_device *vd;

	if (!ctx->device)
		return false;
	vd = container_of(ctx->device, struct verbs_device, device);
	return vd->ops && vd->ops->alloc_context == tcp_alloc_context;
}

static uint32_t dv_mode(enum tcp_psp_mode m)
{
	switch (m) {
	case TCP_PSP_AUTH:
		return TCPDV_PSP_AUTH;
	case TCP_PSP_ENCRYPT:
		return TCPDV_PSP_ENCRYPT;
	default:
		return TCPDV_PSP_OFF;
	}
}

static uint32_t dv_alg(enum tcp_psp_mode m, enum tcp_psp_alg a)
{
	if (m == TCP_PSP_OFF)
		return TCPDV_PSP_ALG_NONE;
	return a == TCP_PSP_AES256 ? TCPDV_PSP_ALG_AES256
				   : TCPDV_PSP_ALG_AES128;
}

/*
 * The mode, algorithm and credential fingerprint that connections made
 * now use (the fingerprint was taken when the configuration was loaded).
 */
static int query_psp(struct tcp_context *ctx, struct tcpdv_device_attr *attr)
{
	struct tcp_sec_cfg *cfg = tcp_sec_cfg_get(ctx);

	attr->psp_mode = dv_mode(cfg->mode);
	attr->psp_alg = dv_alg(cfg->mode, cfg->alg);
	snprintf(attr->fingerprint, sizeof(attr->fingerprint), "%s", cfg->fpr);
	tcp_sec_cfg_put(cfg);
	return 0;
}

TCPDV_EXPORT int tcpdv_query_device(struct ibv_context *ibctx,
				    struct tcpdv_device_attr *attr)
{
	uint64_t want;
	int err;

	if (!ibctx || !attr)
		return tcp_fail(EINVAL);
	if (!is_tcp_ctx(ibctx))
		return tcp_fail(EOPNOTSUPP);
	/* only what was asked for is written: an older caller's struct may
	 * end before a newer part */
	want = attr->comp_mask;
	attr->comp_mask = 0;
	attr->caps = TCPDV_CAPS;
	if (want & TCPDV_DEVICE_ATTR_PSP) {
		err = query_psp(to_tctx(ibctx), attr);
		if (err)
			return tcp_fail(err);
		attr->comp_mask |= TCPDV_DEVICE_ATTR_PSP;
	}
	if (want & TCPDV_DEVICE_ATTR_CC) {
		err = tcp_cc_conf_read(to_tctx(ibctx)->dev->ibdev_path,
				       attr->cc);
		if (err)
			return tcp_fail(err);
		attr->comp_mask |= TCPDV_DEVICE_ATTR_CC;
	}
	return 0;
}

/* The QP's security state; caller holds qp->lock. */
static void copy_sec(const struct tcp_qp *qp, struct tcpdv_qp_security *out)
{
	const struct tcp_sec_state *s = &qp->sec;

	out->flags = TCPDV_QP_SEC_ESTABLISHED;
	out->mode = dv_mode(s->mode);
	/* both directions use the mode's and device's algorithm */
	out->alg = dv_alg(s->mode, s->rx[0].spi ? s->rx[0].alg : s->tx.alg);
	out->tx_spi = s->tx.spi;
	out->rx_spi = s->rx[0].spi;
	out->rx_spi_prev = s->rx[1].spi;
	out->key_gen = s->rx_gen;
}

TCPDV_EXPORT int tcpdv_query_qp_security(struct ibv_qp *ibqp,
					 struct tcpdv_qp_security *sec)
{
	struct tcp_sec_cfg *cfg;
	struct tcp_qp *qp;

	if (!ibqp || !sec)
		return tcp_fail(EINVAL);
	if (!ibqp->context || !is_tcp_ctx(ibqp->context))
		return tcp_fail(EOPNOTSUPP);
	qp = to_tqp(ibqp);
	if (!tcp_obj_ok(&qp->id, ibqp->context, ibqp->handle))
		return tcp_fail(EINVAL);
	memset(sec, 0, sizeof(*sec));
	tcp_mutex_lock(&qp->lock);
	/* what the connection being made uses, else what one made now would */
	cfg = qp->sec.cfg ? qp->sec.cfg : tcp_sec_cfg_get(qp->ctx);
	sec->mode = dv_mode(cfg->mode);
	sec->alg = dv_alg(cfg->mode, cfg->alg);
	if (cfg != qp->sec.cfg)
		tcp_sec_cfg_put(cfg);
	if (qp->conn.connected || qp->sec.tx.spi || qp->sec.rx[0].spi)
		copy_sec(qp, sec);
	sec->rejected = qp->sec.rejected;
	tcp_qp_unlock(qp);
	return 0;
}

/* A live RC or UC QP of ours, or the errno that says why not. */
static int cc_qp(struct ibv_qp *ibqp, struct tcp_qp **out)
{
	struct tcp_qp *qp;

	if (!ibqp)
		return EINVAL;
	if (!ibqp->context || !is_tcp_ctx(ibqp->context))
		return EOPNOTSUPP;
	qp = to_tqp(ibqp);
	if (!tcp_obj_ok(&qp->id, ibqp->context, ibqp->handle))
		return EINVAL;
	if (qp->type != IBV_QPT_RC && qp->type != IBV_QPT_UC)
		return EOPNOTSUPP; /* UD: datagrams, no congestion control */
	*out = qp;
	return 0;
}

TCPDV_EXPORT int tcpdv_modify_qp_cc(struct ibv_qp *ibqp, const char *name)
{
	struct tcp_qp *qp;
	int err = cc_qp(ibqp, &qp);

	if (!err)
		err = tcp_qp_set_cc(qp, name);
	return err ? tcp_fail(err) : 0;
}

TCPDV_EXPORT int tcpdv_query_qp_cc(struct ibv_qp *ibqp,
				   char name[TCPDV_CC_NAME_MAX])
{
	struct tcp_qp *qp;
	int err = name ? cc_qp(ibqp, &qp) : EINVAL;

	if (!err)
		err = tcp_qp_get_cc(qp, name);
	return err ? tcp_fail(err) : 0;
}
