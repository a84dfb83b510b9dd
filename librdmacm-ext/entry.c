// SPDX-License-Identifier: MIT
/*
 * The preload's entry: which implementation serves the calls, and the
 * completion-channel interposers (the rdma_* ones are in cm_forward.c).
 *
 * Normally the implementation linked into this library. A sanitizer build
 * (-DRDMA_TCP_SANITIZE=ON) builds this entry layer without
 * instrumentation and the implementation twice: linked in, plain, for
 * programs without the ASan runtime (`ss`, `ip`, the shell's tools: `rdma-tcp
 * env` puts the preload in LD_PRELOAD for everything), and as
 * librdmacm-ext-asan.so beside this library, instrumented, for programs
 * that run with the ASan runtime loaded first (stock programs started
 * through tests/lib/sanitize.sh). The choice is made once per process, at
 * the first call.
 */
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ext.h"
#include "ext_ops.h"

static const struct rdmacm_ext_ops *ops;
static pthread_once_t ops_once = PTHREAD_ONCE_INIT;

#ifdef RDMACM_EXT_ASAN_LIB
/* The instrumented copy, beside this library, if ASan runs here. */
static const struct rdmacm_ext_ops *asan_ops(void)
{
	const struct rdmacm_ext_ops *o;
	char path[PATH_MAX], dir[PATH_MAX];
	Dl_info info;
	void *h;

	if (!dlsym(RTLD_DEFAULT, "__asan_init"))
		return NULL;
	if (!dladdr((void *)asan_ops, &info) || !info.dli_fname)
		return NULL;
	snprintf(dir, sizeof(dir), "%s", info.dli_fname);
	snprintf(path, sizeof(path), "%s/%s", dirname(dir),
		 RDMACM_EXT_ASAN_LIB);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "librdmacm-ext: %s; using the plain copy\n",
			dlerror());
		return NULL;
	}
	o = dlsym(h, RDMACM_EXT_OPS_SYMBOL);
	if (!o || o->version != RDMACM_EXT_OPS_VERSION || o->size != sizeof(*o))
		return NULL;
	return o;
}
#endif

static void ops_pick(void)
{
#ifdef RDMACM_EXT_ASAN_LIB
	ops = asan_ops();
#endif
	if (!ops)
		ops = &rdmacm_ext_ops_impl;
}

const struct rdmacm_ext_ops *ext_ops(void)
{
	pthread_once(&ops_once, ops_pick);
	return ops;
}

EXT_EXPORT struct ibv_comp_channel *
ibv_create_comp_channel(struct ibv_context *ctx)
{
	const struct rdmacm_ext_ops *o = ext_ops();

	if (o->is_tcp_context(ctx))
		return o->comp_channel_create(ctx);
	return o->verbs_create_comp_channel(ctx);
}

EXT_EXPORT int ibv_destroy_comp_channel(struct ibv_comp_channel *ch)
{
	const struct rdmacm_ext_ops *o = ext_ops();

	/* a tcp context's channels are all ours (libibverbs cannot make
	 * one), so the context tells: no peeking past a foreign record */
	if (ch && o->is_tcp_context(ch->context))
		return o->comp_channel_destroy(ch);
	return o->verbs_destroy_comp_channel(ch);
}
