// SPDX-License-Identifier: MIT
/*
 * Thread domains and parent domains (ibv_alloc_td, ibv_alloc_parent_domain),
 * and the queue buffers a parent domain's allocator provides, as mlx5 does:
 * a parent domain stands wherever a PD does (the objects made through it
 * are protected by the PD it contains), and the QPs, CQs and SRQs made
 * through it take their queue buffers from its allocator, which may answer
 * IBV_ALLOCATOR_USE_DEFAULT.
 *
 * A thread domain promises that one thread at a time uses what is made
 * through it; a NIC provider saves a doorbell lock with it. The transport
 * here shares every QP with the engine thread, so its locks stay: the
 * thread domain is accepted and counted, and changes nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tcp.h"

/* AddressSanitizer guards heap blocks, not pages of their own: under it a
 * ring overrun must still be caught, so rings stay calloc's */
#if defined(__SANITIZE_ADDRESS__)
#define TCP_QBUF_HEAP_ONLY 1
#else
#define TCP_QBUF_HEAP_ONLY 0
#endif

/* Queue buffers hold WQEs and completions: cache-line aligned. */
#define TCP_QBUF_ALIGN 64

struct ibv_td *tcp_alloc_td(struct ibv_context *ibctx,
			    struct ibv_td_init_attr *attr)
{
	struct tcp_td *td;

	if (attr->comp_mask) {
		errno = EINVAL;
		return NULL;
	}
	td = calloc(1, sizeof(*td));
	if (!td) {
		errno = ENOMEM;
		return NULL;
	}
	td->ibv_td.context = ibctx;
	return &td->ibv_td;
}

int tcp_dealloc_td(struct ibv_td *ibtd)
{
	struct tcp_td *td = container_of(ibtd, struct tcp_td, ibv_td);

	if (atomic_load(&td->users))
		return tcp_fail(EBUSY);
	free(td);
	return 0;
}

static int check_parent_attr(struct ibv_context *ibctx,
			     struct ibv_parent_domain_init_attr *a)
{
	if (!a->pd || a->pd->context != ibctx)
		return EINVAL;
	if (a->comp_mask & ~(IBV_PARENT_DOMAIN_INIT_ATTR_ALLOCATORS |
			     IBV_PARENT_DOMAIN_INIT_ATTR_PD_CONTEXT))
		return EINVAL;
	if (!tcp_obj_ok(&to_tpd(a->pd)->id, ibctx, a->pd->handle) ||
	    tcp_pd_prot(a->pd) != to_tpd(a->pd))
		return EINVAL; /* a parent domain contains a PD, not another */
	if (a->td && a->td->context != ibctx)
		return EINVAL;
	return 0;
}

struct ibv_pd *tcp_alloc_parent_domain(struct ibv_context *ibctx,
				       struct ibv_parent_domain_init_attr *a)
{
	struct tcp_pd *pdom, *prot;
	int err = check_parent_attr(ibctx, a);

	if (err) {
		errno = err;
		return NULL;
	}
	pdom = calloc(1, sizeof(*pdom));
	if (!pdom) {
		errno = ENOMEM;
		return NULL;
	}
	prot = to_tpd(a->pd);
	pdom->prot = prot;
	atomic_fetch_add(&prot->users, 1);
	if (a->td) {
		pdom->td = container_of(a->td, struct tcp_td, ibv_td);
		atomic_fetch_add(&pdom->td->users, 1);
	}
	/* as libibverbs' ibv_initialize_parent_domain: the PD's handle */
	pdom->ibv_pd.context = ibctx;
	pdom->ibv_pd.handle = a->pd->handle;
	pdom->id = prot->id;
	pdom->alloc.pd = &pdom->ibv_pd;
	/* both callbacks or neither: a buffer must go back the way it came */
	if ((a->comp_mask & IBV_PARENT_DOMAIN_INIT_ATTR_ALLOCATORS) &&
	    a->alloc && a->free) {
		pdom->alloc.alloc = a->alloc;
		pdom->alloc.free = a->free;
	}
	if (a->comp_mask & IBV_PARENT_DOMAIN_INIT_ATTR_PD_CONTEXT)
		pdom->alloc.pd_context = a->pd_context;
	return &pdom->ibv_pd;
}

/* ibv_dealloc_pd of a parent domain (pd.c) */
int tcp_dealloc_parent_domain(struct tcp_pd *pdom)
{
	if (atomic_load(&pdom->users))
		return tcp_fail(EBUSY);
	atomic_fetch_sub(&pdom->prot->users, 1);
	if (pdom->td)
		atomic_fetch_sub(&pdom->td->users, 1);
	free(pdom);
	return 0;
}

struct tcp_pd *tcp_pdom_get(struct ibv_pd *ibpd, struct tcp_alloc *a)
{
	struct tcp_pd *pd = ibpd ? to_tpd(ibpd) : NULL;

	memset(a, 0, sizeof(*a));
	if (!pd || pd->prot == pd)
		return NULL;
	*a = pd->alloc;
	atomic_fetch_add(&pd->users, 1);
	return pd;
}

void tcp_pdom_put(struct tcp_pd *pdom)
{
	if (pdom)
		atomic_fetch_sub(&pdom->users, 1);
}

int tcp_qbuf_alloc(const struct tcp_alloc *a, struct tcp_qbuf *b, size_t size,
		   uint64_t type)
{
	void *p;

	b->custom = b->mapped = false;
	b->p = NULL;
	b->len = size;
	if (a && a->alloc) {
		p = a->alloc(a->pd, a->pd_context, size, TCP_QBUF_ALIGN, type);
		if (p != IBV_ALLOCATOR_USE_DEFAULT) {
			if (!p)
				return ENOMEM;
			/* the application's memory: zeroed as calloc's is */
			memset(p, 0, size);
			b->p = p;
			b->custom = true;
			return 0;
		}
	}
	/*
	 * A QP's rings (128 send and 512 receive WQEs are ~40 KiB) were
	 * calloc's: zeroed, so every page touched at creation. Pages of
	 * their own are zero until written, and only the slots a QP uses
	 * ever are (docs/performance.md, "Idle QP memory").
	 */
	if (size >= TCP_QBUF_MAP_MIN && !TCP_QBUF_HEAP_ONLY) {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED) {
			b->p = p;
			b->mapped = true;
			return 0;
		}
		/* (out of mappings: the heap's calloc instead) */
	}
	b->p = calloc(1, size ? size : 1);
	return b->p ? 0 : ENOMEM;
}

void tcp_qbuf_free(const struct tcp_alloc *a, struct tcp_qbuf *b, uint64_t type)
{
	if (b->custom)
		a->free(a->pd, a->pd_context, b->p, type);
	else if (b->mapped)
		munmap(b->p, b->len);
	else
		free(b->p);
	b->p = NULL;
	b->custom = b->mapped = false;
}
