// SPDX-License-Identifier: MIT
/*
 * ibv_fork_init() as rdma-core 52 and later do it (librdma-tcp-nl).
 *
 * libibverbs 44 (Debian 12) sets fork protection up whatever the kernel
 * says: every later ibv_reg_mr() marks its pages MADV_DONTFORK, and a
 * forked child that touches a page shared with an MR (malloc()ed buffers
 * share pages with the rest of the heap) dies of SIGSEGV, even on a kernel
 * whose copy-on-fork makes the marking useless. rdma-core 52 returns at
 * once when ibv_is_fork_initialized() says IBV_FORK_UNNEEDED (the kernel
 * reports copy-on-fork over RDMA netlink; without a kernel, nl_proxy.c
 * does, truthfully: the tcp provider pins nothing). This definition does
 * the same in front of libibverbs 44's, which runs only when fork
 * protection is needed. libibverbs' own call (RDMAV_FORK_SAFE) goes
 * through its PLT, so it lands here too.
 */
#include <dlfcn.h>
#include <errno.h>

#include <infiniband/verbs.h>

#define NLP_EXPORT __attribute__((visibility("default")))

NLP_EXPORT int ibv_fork_init(void)
{
	/* the application's copy: pyverbs loads it RTLD_LOCAL, so look it
	 * up by name, not through RTLD_NEXT */
	void *lib = dlopen("libibverbs.so.1", RTLD_LAZY | RTLD_NOLOAD);
	enum ibv_fork_status (*status)(void);
	int (*next)(void);
	int ret = ENOSYS;

	if (!lib)
		return ret;
	status = (__typeof__(status))dlvsym(lib, "ibv_is_fork_initialized",
					    "IBVERBS_1.13");
	next = (__typeof__(next))dlvsym(lib, "ibv_fork_init", "IBVERBS_1.1");
	if (status && status() == IBV_FORK_UNNEEDED)
		ret = 0;
	else if (next)
		ret = next();
	dlclose(lib);
	return ret;
}
