/* SPDX-License-Identifier: MIT */
/*
 * The tcp provider's objects. Each wraps the libibverbs object it stands for
 * (first member, so libibverbs pointers convert back with container_of).
 */
#ifndef RDMA_TCP_PROVIDER_H
#define RDMA_TCP_PROVIDER_H

#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "verbs_abi.h"
#include <infiniband/tcpdv.h>
#include "keytab.h"
#include "lock.h"
#include "hs.h"
#include "psp_conf.h"
#include "sec_cfg.h"
#include "tcp_limits.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr)-offsetof(type, member)))

struct tcp_engine;
struct rtcp_stat_file;

struct tcp_device {
	struct verbs_device vdev;
	char netdev[IF_NAMESIZE]; /* the netdev the device is bound to */
	char ibdev_path[IBV_SYSFS_PATH_MAX];
	uint64_t node_guid; /* network byte order, as ibv_device_attr wants */
	uint64_t sys_image_guid;
	char fw_ver[64];
};

/*
 * Who an object is, kept where the application cannot write: the context
 * that made it and the handle it was given (in its public struct, which
 * the application can overwrite). A kernel provider passes the public
 * handle to the kernel, which looks it up in the file's own table and
 * answers ENOENT (destroy) or EINVAL (modify) when nothing matches;
 * tcp_obj_ok is that lookup.
 */
struct tcp_obj {
	struct tcp_context *ctx;
	uint32_t handle;
};

struct tcp_context {
	struct verbs_context vctx;
	atomic_uint next_handle; /* tcp_obj_init */
	struct tcp_device *dev;
	int async_wfd; /* write end of the async event pipe */
	tcp_mutex_t async_lock;
	struct keytab keys; /* memory keys (lkey == rkey) */
	atomic_int n_pd, n_cq, n_qp, n_srq, n_ah, n_mw; /* the max_* limits */
	tcp_mutex_t lock; /* QP table, engine start */
	struct tcp_engine *engine;
	struct tcp_rendezvous *rv; /* listeners, hellos (conn.h) */
	/* accepted connections whose hello or offer is not in yet (on
	 * rv->pending, not complete), read without ctx->lock by the unheard
	 * budget (qp_timers.c) */
	atomic_uint rv_greeting;
	/* CQs whose channel was full: the engine writes their events later */
	tcp_mutex_t ev_lock; /* after any cq->lock */
	struct tcp_cq *ev_pending;
	/* security (sec_conn.c, sec_cfg.c): the device's configuration as
	 * connections take it (sec_cfg: counted, replaced by the engine when
	 * `link set` changes it) and as a copy without secrets (psp_conf;
	 * its rotation count is the engine's); the device keys, rotated by
	 * the engine only */
	tcp_mutex_t psp_lock; /* psp_dev, sec_cfg, psp_conf: read under any
				 QP lock, replaced by the engine */
	struct tcp_sec_cfg *sec_cfg;
	struct tcp_psp_conf psp_conf;
	struct tcp_sec_watch *sec_watch; /* the engine's last look */
	struct tcp_psp_dev psp_dev;
	/* the statistics file (stat.c), NULL when it could not be made */
	struct rtcp_stat_file *stat;
	unsigned int stat_seq;
	/* the idle pass (qp_idle.c, engine thread): when it runs next, how
	 * many connections the last one saw, what happened since the last
	 * heap trim */
	uint64_t idle_at;
	unsigned int idle_conns, idle_events;
};

/*
 * A parent domain's allocator (ibv_parent_domain_init_attr): where the
 * queue buffers of the QPs, CQs and SRQs made through it come from.
 * Each such object keeps a copy, so that its buffers go back the way
 * they came whatever happens to the domain.
 */
struct tcp_alloc {
	struct ibv_pd
		*pd; /* the parent domain, as the callbacks are given it */
	void *(*alloc)(struct ibv_pd *pd, void *pd_context, size_t size,
		       size_t alignment, uint64_t resource_type);
	void (*free)(struct ibv_pd *pd, void *pd_context, void *ptr,
		     uint64_t resource_type);
	void *pd_context;
};

/* A thread domain: only counted (pdom.c); every object keeps its locks. */
struct tcp_td {
	struct ibv_td ibv_td;
	atomic_int users; /* parent domains: dealloc is EBUSY until 0 */
};

/*
 * A protection domain, or a parent domain: then `prot` is the protection
 * domain it contains (a plain PD's `prot` is itself), and the objects made
 * through it are protected by that one -- checks compare `prot`s.
 */
struct tcp_pd {
	struct ibv_pd ibv_pd;
	struct tcp_obj id;
	/* MRs, QPs, SRQs, AHs, parent domains (of a parent domain: its QPs,
	 * CQs and SRQs): dealloc is EBUSY until 0 */
	atomic_int users;
	struct tcp_pd *prot;
	struct tcp_td *td;	/* parent domain: its thread domain, or NULL */
	struct tcp_alloc alloc; /* parent domain: alloc.alloc NULL if none */
};

/* A queue buffer, and whether the parent domain's allocator gave it. */
struct tcp_qbuf {
	void *p;
	size_t len;
	bool custom;
	bool mapped; /* anonymous pages of its own (tcp_qbuf_alloc) */
};

struct tcp_mr {
	struct verbs_mr vmr;
	struct tcp_pd *pd;
	uint64_t iova; /* the address remote peers name (== addr unless iova) */
	char *addr;
	size_t length;
	int access;
	uint32_t key;
	uint64_t serial; /* new at every (re)registration: see tcp_mr_repin */
	atomic_int busy; /* placements in flight; dereg waits for 0 */
	atomic_int mws;	 /* windows bound to it: dereg/rereg are EINVAL */
};

/* polls in a row that may skip reading while the CQ holds enough */
#define TCP_CQ_FED_SKIPS 64

struct tcp_cq {
	struct verbs_cq vcq;
	struct tcp_obj id;
	tcp_mutex_t lock;
	struct ibv_wc *ring;
	uint32_t size; /* ring slots (power of two, >= cqe + 1) */
	uint32_t cqe;  /* what the application asked for (reported back) */
	uint32_t head, tail; /* consumer / producer indexes */
	bool overflow;
	atomic_int users; /* QPs using this CQ: destroy is EBUSY until 0 */
	/*
	 * The QPs feeding this CQ, so that ibv_poll_cq can drive their
	 * sockets itself: a polling application then needs no hand-off to
	 * the engine thread, which on a busy 2-core host may wait a whole
	 * scheduler slice for a CPU.
	 */
	tcp_mutex_t qps_lock;
	struct tcp_qp **qps;
	uint32_t nqps, qps_cap;
	/*
	 * Above TCP_CQ_WALK_QPS QPs, a poll reads only the sockets this
	 * epoll set finds readable (cq_progress.c): one system call, not one
	 * per QP. -1 until the CQ first has that many; each connected QP's
	 * socket is in it from then on (tcp_cq_ready_add/del).
	 */
	atomic_int ready_ep;
	/* polls left before another try at the ready set after epoll_create1
	 * failed (under qps_lock) */
	uint32_t ready_retry;
	/* the QPs of this CQ that must be served whatever their sockets say,
	 * newest first: each pushes itself as its lock goes (tcp_qp_unlock),
	 * the next poll takes them all (cq_progress.c) */
	_Atomic(struct tcp_qp *) due;
	/* ibv_poll_cq calls: a poll ends a QP's posting burst (post.c) */
	atomic_uint polls;
	/* polls in a row that skipped reading because enough was queued
	 * (at most TCP_CQ_FED_SKIPS, see poll_progress) */
	atomic_uint fed_skips;
	/* polls left that skip reading the QPs' sockets, and the back-off
	 * they grow by (tcp_progress_cq; rx_backoff under qps_lock) */
	atomic_uint rx_skip;
	unsigned int rx_backoff;
	/* completion channel arming (ibv_req_notify_cq), under cq->lock;
	 * read without it by progress.c: an armed CQ's QPs stay with the
	 * engine */
	atomic_int armed; /* 0, 1 = next completion, 2 = solicited only */
	uint32_t events_written; /* event records written to the channel */
	uint32_t events_unsent;	 /* channel was full: written later, in order */
	bool ev_queued;		 /* on ctx->ev_pending */
	struct tcp_cq *ev_next;
	/* ibv_cq_ex polling state */
	struct ibv_wc cur;
	uint64_t wc_flags_ex;
	/* completion timestamps, one per ring slot, taken at push; NULL
	 * unless the CQ was created with the wc_flag (cq_ts.c) */
	uint64_t *ts_raw, *ts_wall;
	uint64_t cur_ts_raw, cur_ts_wall;
	struct tcp_qbuf buf;	/* ring and timestamps: one block */
	struct tcp_pd *pdom;	/* parent domain (ibv_create_cq_ex), or NULL */
	struct tcp_alloc alloc; /* its allocator, or none */
};

/*
 * cq->head and cq->tail change under cq->lock only, but a poll reads them
 * without it first (ring_holds_hint, cq.c): every store is atomic.
 */
static inline void tcp_cq_set_head(struct tcp_cq *cq, uint32_t head)
{
	__atomic_store_n(&cq->head, head, __ATOMIC_RELAXED);
}

static inline void tcp_cq_set_tail(struct tcp_cq *cq, uint32_t tail)
{
	__atomic_store_n(&cq->tail, tail, __ATOMIC_RELEASE);
}

/* cq_buf.c: a CQ's ring block (ring, then the timestamps asked for) */
struct tcp_cq_ring {
	struct tcp_qbuf buf;
	struct ibv_wc *ring;
	uint64_t *ts_raw, *ts_wall;
};
int tcp_cq_ring_alloc(struct tcp_cq *cq, uint32_t size, struct tcp_cq_ring *r);
void tcp_cq_ring_free(struct tcp_cq *cq);
/* ring slots for cqe entries: a power of two, >= cqe + 1 */
static inline uint32_t tcp_cq_ring_size_for(uint32_t cqe)
{
	uint32_t n = 1;

	while (n < cqe + 1)
		n <<= 1;
	return n;
}
/* the completion clocks, in ns: raw (hca_core_clock) and wall */
uint64_t tcp_clock_raw(void);
uint64_t tcp_clock_wall(void);
#define TCP_CQ_TS_FLAGS                        \
	(IBV_WC_EX_WITH_COMPLETION_TIMESTAMP | \
	 IBV_WC_EX_WITH_COMPLETION_TIMESTAMP_WALLCLOCK)

/* engine timer: writes events that found the channel full (cq_ring.c) */
void tcp_cq_retry_events(struct tcp_context *ctx);

/*
 * The failure return of an int verb: libibverbs documents these verbs as
 * returning "the value of errno", and with a kernel provider the failed
 * system call has set errno as well; applications read either.
 */
/* Gives an object its handle, in its identity and in its public struct. */
static inline void tcp_obj_init(struct tcp_obj *id, struct tcp_context *ctx,
				uint32_t *pub_handle)
{
	id->ctx = ctx;
	id->handle = atomic_fetch_add(&ctx->next_handle, 1) + 1;
	*pub_handle = id->handle;
}

/* Is the object (still) the one of this context with this handle? */
static inline bool tcp_obj_ok(const struct tcp_obj *id,
			      struct ibv_context *ibctx, uint32_t pub_handle)
{
	return ibctx && id->ctx && &id->ctx->vctx.context == ibctx &&
	       id->handle == pub_handle;
}

static inline int tcp_fail(int err)
{
	if (err)
		errno = err;
	return err;
}

static inline struct tcp_context *to_tctx(struct ibv_context *ctx)
{
	return container_of(ctx, struct tcp_context, vctx.context);
}

static inline struct tcp_device *to_tdev(struct ibv_device *dev)
{
	return container_of(dev, struct tcp_device, vdev.device);
}

static inline struct tcp_pd *to_tpd(struct ibv_pd *pd)
{
	return container_of(pd, struct tcp_pd, ibv_pd);
}

/* The protection domain that guards what is made through pd. */
static inline struct tcp_pd *tcp_pd_prot(struct ibv_pd *pd)
{
	return to_tpd(pd)->prot;
}

static inline struct tcp_mr *to_tmr(struct ibv_mr *mr)
{
	return container_of(mr, struct tcp_mr, vmr.ibv_mr);
}

static inline struct tcp_cq *to_tcq(struct ibv_cq *cq)
{
	return container_of(cq, struct tcp_cq, vcq.cq);
}

/* netdev.c */
int tcp_netdev_state(const char *netdev, int *up, int *mtu, int *speed_mbps);
/* One address of the netdev, as its GID (IPv4 mapped) and IPv6 scope. */
struct tcp_addr {
	uint8_t gid[16];
	uint32_t scope; /* ifindex for a link-local IPv6 address, else 0 */
};
/*
 * The netdev's usable addresses (those the GID table is made of): up to
 * max into out. Returns how many, or a negative errno.
 */
int tcp_netdev_addrs(const char *netdev, struct tcp_addr *out, int max);
/* A GID's socket address (scope: for a link-local IPv6 GID). */
struct sockaddr_storage;
socklen_t tcp_gid_sockaddr(const union ibv_gid *g, uint16_t port,
			   uint32_t scope, struct sockaddr_storage *ss);
bool tcp_gid_is_v4(const union ibv_gid *g); /* IPv4-mapped */

/* query.c */
int tcp_query_device_ex(struct ibv_context *ctx,
			const struct ibv_query_device_ex_input *input,
			struct ibv_device_attr_ex *attr, size_t attr_size);
int tcp_query_port(struct ibv_context *ctx, uint8_t port,
		   struct ibv_port_attr *attr);
int tcp_query_rt_values(struct ibv_context *ctx, struct ibv_values_ex *v);

/* async.c */
int tcp_async_open(struct tcp_context *ctx);
void tcp_async_post(struct tcp_context *ctx, enum ibv_event_type type,
		    uint64_t element);
void tcp_async_event(struct ibv_context *ctx, struct ibv_async_event *ev);

/* pd.c */
struct ibv_pd *tcp_alloc_pd(struct ibv_context *ctx);
int tcp_dealloc_pd(struct ibv_pd *pd);

/* pdom.c: thread and parent domains, and the buffers of their allocators */
struct ibv_td *tcp_alloc_td(struct ibv_context *ctx,
			    struct ibv_td_init_attr *attr);
int tcp_dealloc_td(struct ibv_td *td);
struct ibv_pd *
tcp_alloc_parent_domain(struct ibv_context *ctx,
			struct ibv_parent_domain_init_attr *attr);
int tcp_dealloc_parent_domain(struct tcp_pd *pdom);
/*
 * The allocator of what is made through pd: a parent domain's, else
 * none (a zeroed struct). Takes a reference on the parent domain, which
 * tcp_pdom_put gives back.
 */
struct tcp_pd *tcp_pdom_get(struct ibv_pd *pd, struct tcp_alloc *a);
void tcp_pdom_put(struct tcp_pd *pdom);
/* TCPDV_RES_TYPE_*: what the allocator is asked for */
#define TCP_RES_TYPE_QP	 TCPDV_RES_TYPE_QP
#define TCP_RES_TYPE_CQ	 TCPDV_RES_TYPE_CQ
#define TCP_RES_TYPE_SRQ TCPDV_RES_TYPE_SRQ
/*
 * size bytes, zeroed, from a's allocator, else of anonymous pages from
 * TCP_QBUF_MAP_MIN bytes (backed as they are first written: a ring's
 * unused slots cost no memory), else calloc; 0 or ENOMEM
 */
#define TCP_QBUF_MAP_MIN 12288
int tcp_qbuf_alloc(const struct tcp_alloc *a, struct tcp_qbuf *b, size_t size,
		   uint64_t type);
void tcp_qbuf_free(const struct tcp_alloc *a, struct tcp_qbuf *b,
		   uint64_t type);

/* mr.c */
struct ibv_mr *tcp_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			  uint64_t iova, int access);
int tcp_rereg_mr(struct verbs_mr *vmr, int flags, struct ibv_pd *pd, void *addr,
		 size_t length, int access);
int tcp_dereg_mr(struct verbs_mr *vmr);

/* cq.c */
struct ibv_cq *tcp_create_cq(struct ibv_context *ctx, int cqe,
			     struct ibv_comp_channel *ch, int vec);
struct ibv_cq_ex *tcp_create_cq_ex(struct ibv_context *ctx,
				   struct ibv_cq_init_attr_ex *attr);
int tcp_destroy_cq(struct ibv_cq *cq);
int tcp_resize_cq(struct ibv_cq *cq, int cqe);
int tcp_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc);
int tcp_req_notify_cq(struct ibv_cq *cq, int solicited_only);
void tcp_cq_event(struct ibv_cq *cq);
/* Producer side, used by the QP engine: false when the CQ overflowed. */
struct tcp_qp;
int tcp_cq_attach(struct tcp_cq *cq, struct tcp_qp *qp);
void tcp_cq_detach(struct tcp_cq *cq, struct tcp_qp *qp);
bool tcp_cq_push(struct tcp_cq *cq, const struct ibv_wc *wc, bool solicited);
/* cq_ring.c: the producer side */
/* Drops the entries of QP qpn not polled yet (a QP moved to RESET). */
void tcp_cq_purge_qp(struct tcp_cq *cq, uint32_t qpn);
/* Takes cq off the list of CQs with unsent events; caller holds cq->lock. */
void tcp_cq_unqueue_locked(struct tcp_context *ctx, struct tcp_cq *cq);

#endif
