// SPDX-License-Identifier: MIT
/*
 * test_tcpdv on a real device: the direct verbs through the provider's
 * library (linked with -ltcp, the object libibverbs loads as provider),
 * on a context and on two connected RC QPs of it.
 */
#include <infiniband/tcpdv.h>

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "tcpdv_dev.h"
#include "tdev.h"

#include "tqp.h"

#define ALL_CAPS                                                        \
	(TCPDV_CAP_RC | TCPDV_CAP_RDMA | TCPDV_CAP_UC | TCPDV_CAP_SRQ | \
	 TCPDV_CAP_MW | TCPDV_CAP_PSP_AUTH | TCPDV_CAP_PSP_ENCRYPT |    \
	 TCPDV_CAP_CC)

struct end {
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	char buf[64];
};

static int mode_of(const char *s)
{
	if (!s)
		return -1;
	if (!strcmp(s, "off"))
		return TCPDV_PSP_OFF;
	if (!strcmp(s, "auth"))
		return TCPDV_PSP_AUTH;
	return !strcmp(s, "encrypt") ? TCPDV_PSP_ENCRYPT : -2;
}

static bool fingerprint_ok(const char *f, int mode)
{
	size_t i;

	if (mode == TCPDV_PSP_OFF)
		return !*f;
	if (strncmp(f, "sha256:", 7) || strlen(f) != 7 + 64)
		return false;
	for (i = 7; f[i]; i++)
		if (!isxdigit((unsigned char)f[i]) ||
		    isupper((unsigned char)f[i]))
			return false;
	return true;
}

/* tcpdv_query_device: caps, comp_mask handling, the PSP part. */
static int check_device(struct ibv_context *ctx, int want_mode)
{
	struct tcpdv_device_attr a;

	memset(&a, 0xab, sizeof(a));
	a.comp_mask = 0;
	CHECKF(tcpdv_query_device(ctx, &a) == 0, "errno %d", errno);
	CHECKF(a.caps == ALL_CAPS, "caps %#llx", (unsigned long long)a.caps);
	CHECKF(!(a.caps & (1 << 3)), "reserved bit 3 (was ZEROCOPY_SEND)");
	CHECKF(a.comp_mask == 0, "%#llx", (unsigned long long)a.comp_mask);
	CHECKF(a.psp_mode == 0xabababab && a.fingerprint[0] == (char)0xab,
	       "PSP part written though not asked for");
	CHECKF(a.cc[0] == (char)0xab, "CC part written though not asked for");

	memset(&a, 0xab, sizeof(a));
	a.comp_mask = TCPDV_DEVICE_ATTR_CC;
	CHECKF(tcpdv_query_device(ctx, &a) == 0, "errno %d", errno);
	CHECKF(a.comp_mask == TCPDV_DEVICE_ATTR_CC, "%#llx",
	       (unsigned long long)a.comp_mask);
	CHECKF(memchr(a.cc, 0, sizeof(a.cc)) != NULL, "cc not terminated");
	CHECKF(a.psp_mode == 0xabababab, "PSP part written though not asked");

	memset(&a, 0, sizeof(a));
	a.comp_mask = TCPDV_DEVICE_ATTR_PSP | (1ull << 63);
	CHECKF(tcpdv_query_device(ctx, &a) == 0, "errno %d", errno);
	CHECKF(a.comp_mask == TCPDV_DEVICE_ATTR_PSP, "unknown bit kept: %#llx",
	       (unsigned long long)a.comp_mask);
	CHECKF(a.psp_mode <= TCPDV_PSP_ENCRYPT, "mode %u", a.psp_mode);
	if (want_mode >= 0)
		CHECKF(a.psp_mode == (uint32_t)want_mode, "mode %u, want %d",
		       a.psp_mode, want_mode);
	CHECKF((a.psp_mode == TCPDV_PSP_OFF) ==
		       (a.psp_alg == TCPDV_PSP_ALG_NONE),
	       "mode %u alg %u", a.psp_mode, a.psp_alg);
	CHECKF(memchr(a.fingerprint, 0, sizeof(a.fingerprint)) != NULL,
	       "fingerprint not terminated");
	CHECKF(fingerprint_ok(a.fingerprint, a.psp_mode), "mode %u: \"%.80s\"",
	       a.psp_mode, a.fingerprint);
	printf("fingerprint=%.80s\n", a.fingerprint);

	errno = 0;
	CHECKF(tcpdv_query_device(ctx, NULL) == EINVAL && errno == EINVAL,
	       "NULL attr: errno %d", errno);
	CHECKF(tcpdv_query_device(NULL, &a) == EINVAL, "NULL context");
	return a.psp_mode;
}

static bool make_end(struct ibv_context *ctx, struct end *e)
{
	struct ibv_qp_init_attr qa = { 0 };
	struct ibv_qp_attr a = { 0 };

	e->pd = ibv_alloc_pd(ctx);
	e->cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	if (!e->pd || !e->cq)
		return false;
	e->mr = ibv_reg_mr(e->pd, e->buf, sizeof(e->buf),
			   IBV_ACCESS_LOCAL_WRITE);
	qa.send_cq = qa.recv_cq = e->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = qa.cap.max_recv_wr = 4;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	e->qp = ibv_create_qp(e->pd, &qa);
	if (!e->mr || !e->qp)
		return false;
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	return !ibv_modify_qp(e->qp, &a,
			      IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				      IBV_QP_ACCESS_FLAGS);
}

static bool to_rts(struct ibv_context *ctx, struct end *e, uint32_t qpn)
{
	union ibv_gid gid;
	struct tqp_path p;

	if (ibv_query_gid(ctx, 1, 0, &gid))
		return false;
	p = tqp_path(qpn, &gid);
	return !tqp_rtr(e->qp, &p) && !tqp_rts(e->qp, &p);
}

/* One completion from @cq within 10 s (a deadline, not a wait for state). */
static bool one_wc(struct ibv_cq *cq)
{
	time_t end = time(NULL) + 10;
	struct ibv_wc wc;
	int r;

	while (time(NULL) < end) {
		r = ibv_poll_cq(cq, 1, &wc);
		if (r)
			return r == 1 && wc.status == IBV_WC_SUCCESS;
		usleep(100);
	}
	return false;
}

/* A SEND from a to b: after it, both connections are up. */
static bool exchange(struct end *a, struct end *b)
{
	struct ibv_sge sa = { (uintptr_t)a->buf, 8, a->mr->lkey };
	struct ibv_sge sb = { (uintptr_t)b->buf, 8, b->mr->lkey };
	struct ibv_send_wr sw = { .sg_list = &sa, .num_sge = 1 }, *bs;
	struct ibv_recv_wr rw = { .sg_list = &sb, .num_sge = 1 }, *br;

	sw.opcode = IBV_WR_SEND;
	sw.send_flags = IBV_SEND_SIGNALED;
	return !ibv_post_recv(b->qp, &rw, &br) &&
	       !ibv_post_send(a->qp, &sw, &bs) && one_wc(a->cq) &&
	       one_wc(b->cq);
}

static void check_sec_idle(struct ibv_qp *qp, int mode)
{
	struct tcpdv_qp_security s;

	memset(&s, 0xab, sizeof(s));
	CHECKF(tcpdv_query_qp_security(qp, &s) == 0, "errno %d", errno);
	CHECKF(s.flags == 0, "not connected: flags %#x", s.flags);
	CHECKF(s.mode == (uint32_t)mode, "mode %u, device's %d", s.mode, mode);
	CHECKF(!s.tx_spi && !s.rx_spi && !s.rx_spi_prev,
	       "SPIs before the connection: %#x %#x %#x", s.tx_spi, s.rx_spi,
	       s.rx_spi_prev);
	CHECKF(s.rejected == 0 && s.comp_mask == 0 && s.reserved == 0,
	       "rejected %llu", (unsigned long long)s.rejected);
}

/* Both ends connected: each seals with the SA the other receives with. */
static void check_sec_pair(struct ibv_qp *qa, struct ibv_qp *qb, int mode)
{
	struct tcpdv_qp_security a, b;

	CHECKF(tcpdv_query_qp_security(qa, &a) == 0, "errno %d", errno);
	CHECKF(tcpdv_query_qp_security(qb, &b) == 0, "errno %d", errno);
	CHECKF(a.flags == TCPDV_QP_SEC_ESTABLISHED &&
		       b.flags == TCPDV_QP_SEC_ESTABLISHED,
	       "flags %#x %#x", a.flags, b.flags);
	CHECKF(a.mode == (uint32_t)mode && b.mode == (uint32_t)mode,
	       "modes %u %u, device's %d", a.mode, b.mode, mode);
	CHECKF(a.alg == b.alg, "algorithms %u %u", a.alg, b.alg);
	CHECKF(a.rejected == 0 && b.rejected == 0, "rejected %llu %llu",
	       (unsigned long long)a.rejected, (unsigned long long)b.rejected);
	CHECKF(!a.rx_spi_prev && !b.rx_spi_prev, "no rekey yet: %#x %#x",
	       a.rx_spi_prev, b.rx_spi_prev);
	if (mode == TCPDV_PSP_OFF) {
		CHECKF(a.alg == TCPDV_PSP_ALG_NONE, "alg %u", a.alg);
		CHECKF(!a.tx_spi && !a.rx_spi && !b.tx_spi && !b.rx_spi,
		       "SPIs in mode off: %#x %#x", a.tx_spi, a.rx_spi);
		return;
	}
	CHECKF(a.alg == TCPDV_PSP_ALG_AES128 || a.alg == TCPDV_PSP_ALG_AES256,
	       "alg %u", a.alg);
	CHECKF(a.rx_spi && b.rx_spi, "receive SPIs %#x %#x", a.rx_spi,
	       b.rx_spi);
	CHECKF(a.tx_spi == b.rx_spi && b.tx_spi == a.rx_spi,
	       "a tx %#x rx %#x, b tx %#x rx %#x", a.tx_spi, a.rx_spi, b.tx_spi,
	       b.rx_spi);
	/* PSP: the SPI's top bit names the device key it was derived from */
	CHECKF((a.rx_spi >> 31) == (a.key_gen & 1), "spi %#x generation %u",
	       a.rx_spi, a.key_gen);
}

/* Bad arguments: EINVAL; an object of another provider: EOPNOTSUPP. */
static void check_qp_args(struct ibv_qp *qp)
{
	struct tcpdv_qp_security s;
	uint32_t h = qp->handle;

	errno = 0;
	CHECKF(tcpdv_query_qp_security(qp, NULL) == EINVAL && errno == EINVAL,
	       "NULL sec: errno %d", errno);
	CHECKF(tcpdv_query_qp_security(NULL, &s) == EINVAL, "NULL QP");
	/* the public struct is the application's to scribble on */
	qp->handle = h + 0x1000;
	CHECKF(tcpdv_query_qp_security(qp, &s) == EINVAL, "QP with a foreign "
							  "handle");
	qp->handle = h;
}

/*
 * The name libibverbs loads the provider by (RDMAV_DRIVERS + -rdmav34.so)
 * is the object -ltcp loaded: dlopen() of it would find that one (same
 * file), not map a second copy with a second driver registration. Here
 * libibverbs had no need to load it (the -ltcp copy's constructor had
 * registered the driver before the device list was read), so RTLD_NOLOAD
 * asks what it would have got. tcpdv_dlopen checks the other order.
 */
static void check_provider_name(void)
{
	const char *drv = getenv("RDMAV_DRIVERS");
	void *mine, *prov;
	char path[4096];

	if (!drv || drv[0] != '/') {
		printf("RDMAV_DRIVERS names no provider path: not checked\n");
		return;
	}
	snprintf(path, sizeof(path), "%.*s-rdmav34.so", (int)strcspn(drv, ":;"),
		 drv);
	mine = dlopen("libtcp.so.1", RTLD_NOW | RTLD_NOLOAD);
	prov = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	CHECKF(mine && prov == mine, "%s: %p, libtcp.so.1 %p", path, prov,
	       mine);
	if (prov)
		dlclose(prov);
	if (mine)
		dlclose(mine);
}

/* The provider's library is mapped from one file. */
static void check_one_copy(void)
{
	char line[4096], first[4096] = "", *path;
	int other = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	CHECKF(f != NULL, "/proc/self/maps: errno %d", errno);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		path = strchr(line, '/');
		if (!path || !strstr(path, "/libtcp"))
			continue;
		path[strcspn(path, "\n")] = '\0';
		if (!first[0])
			snprintf(first, sizeof(first), "%s", path);
		else if (strcmp(first, path))
			other++;
	}
	fclose(f);
	CHECKF(first[0] && !other, "libtcp mapped from %d more files than %s",
	       other, first);
}

static void free_end(struct end *e)
{
	if (e->qp)
		ibv_destroy_qp(e->qp);
	if (e->mr)
		ibv_dereg_mr(e->mr);
	if (e->cq)
		ibv_destroy_cq(e->cq);
	if (e->pd)
		ibv_dealloc_pd(e->pd);
}

static void dev_checks(const char *name, const char *mode_name)
{
	struct end a = { 0 }, b = { 0 };
	struct ibv_context *ctx;
	int want = mode_of(mode_name), mode;

	CHECKF(want != -2, "unknown mode %s", mode_name);
	ctx = open_dev(name);
	CHECKF(ctx != NULL, "cannot open %s", name);
	if (!ctx)
		return;
	CHECKF(tcpdv_is_tcp_device(ctx), "%s", name);
	mode = check_device(ctx, want);
	check_one_copy();
	check_provider_name();
	if (!make_end(ctx, &a) || !make_end(ctx, &b)) {
		CHECKF(0, "cannot make two RC QPs on %s: errno %d", name,
		       errno);
		goto out;
	}
	check_sec_idle(a.qp, mode);
	check_qp_args(a.qp);
	if (!to_rts(ctx, &a, b.qp->qp_num) || !to_rts(ctx, &b, a.qp->qp_num) ||
	    !exchange(&a, &b)) {
		CHECKF(0, "the QPs did not connect and exchange a SEND");
		goto out;
	}
	check_sec_pair(a.qp, b.qp, mode);
out:
	free_end(&a);
	free_end(&b);
	ibv_close_device(ctx);
}

void tcpdv_dev_checks(const char *name, const char *mode, unsigned int *pass,
		      unsigned int *fail)
{
	dev_checks(name, mode);
	*pass += passed;
	*fail += failed;
}
