// SPDX-License-Identifier: MIT
/*
 * The real libibverbs and librdmacm, found lazily in the process.
 *
 * The preload must cost nothing to programs that never touch RDMA, so it
 * links neither library: a symbol is looked up the first time it is
 * needed, in the copy the application already has loaded (RTLD_NOLOAD
 * finds it even when it was loaded into a local scope, as Python does for
 * extension modules). Lookups go through the library's own handle, so they
 * never land on this library's interposers.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>

#include "ext.h"

#define VERBS_SONAME  "libibverbs.so.1"
#define RDMACM_SONAME "librdmacm.so.1"

static void *loaded(const char *soname)
{
	void *h = dlopen(soname, RTLD_NOLOAD | RTLD_LAZY);

	/* not loaded yet: a caller of its API has it as a dependency, so
	 * this only happens for odd link setups; load it then */
	if (!h)
		h = dlopen(soname, RTLD_LAZY);
	return h;
}

static struct ext_verbs verbs;
static bool verbs_ok;
static pthread_once_t verbs_once = PTHREAD_ONCE_INIT;

#define SYM(field, name)                                 \
	do {                                             \
		*(void **)&verbs.field = dlsym(h, name); \
		if (!verbs.field)                        \
			return;                          \
	} while (0)

static void verbs_resolve(void)
{
	void *h = dlopen(VERBS_SONAME, RTLD_NOLOAD | RTLD_LAZY);

	if (!h)
		return;
	SYM(get_device_list, "ibv_get_device_list");
	SYM(free_device_list, "ibv_free_device_list");
	SYM(open_device, "ibv_open_device");
	SYM(query_device, "ibv_query_device");
	SYM(query_gid, "ibv_query_gid");
	SYM(alloc_pd, "ibv_alloc_pd");
	SYM(create_cq, "ibv_create_cq");
	SYM(destroy_cq, "ibv_destroy_cq");
	SYM(create_qp, "ibv_create_qp");
	SYM(destroy_qp, "ibv_destroy_qp");
	SYM(modify_qp, "ibv_modify_qp");
	SYM(create_srq, "ibv_create_srq");
	SYM(destroy_srq, "ibv_destroy_srq");
	SYM(attach_mcast, "ibv_attach_mcast");
	SYM(detach_mcast, "ibv_detach_mcast");
	SYM(create_comp_channel, "ibv_create_comp_channel");
	SYM(destroy_comp_channel, "ibv_destroy_comp_channel");
	verbs_ok = true;
}

const struct ext_verbs *ext_verbs(void)
{
	pthread_once(&verbs_once, verbs_resolve);
	if (!verbs_ok) {
		errno = ENOSYS;
		return NULL;
	}
	return &verbs;
}

void *ext_rdmacm_real(const char *name)
{
	static _Atomic(void *) handle;
	void *h = atomic_load(&handle);

	if (!h) {
		h = loaded(RDMACM_SONAME);
		if (!h)
			return NULL;
		atomic_store(&handle, h);
	}
	return dlsym(h, name);
}
