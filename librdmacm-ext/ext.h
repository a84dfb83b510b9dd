/* SPDX-License-Identifier: MIT */
/*
 * librdmacm-ext internals: the objects behind the rdma_cm API for tcp
 * devices, and the functions the files of this library share.
 *
 * Locking: one process-wide mutex, cm_g.lock, guards every id, channel,
 * event queue and control connection. Application threads hold it inside
 * rdma_* calls, the background thread (cm_thread.c) while it handles a
 * batch of socket events. Nothing blocks while holding it except short
 * verbs calls (modify_qp, create_qp); waits for events happen outside it,
 * on the channel's fd (cm_channel.c) or on an id's condition variable.
 * Lock order: cm_g.lock before the device table's lock (cm_devices.c).
 */
#ifndef RDMACM_EXT_H
#define RDMACM_EXT_H

#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <infiniband/sa.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "cm_proto.h"

#define EXT_EXPORT __attribute__((visibility("default")))

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr)-offsetof(type, member)))
#endif

/* librdmacm's convention: -1 with errno */
static inline int ext_err(int e)
{
	errno = e;
	return -1;
}

/* RDMA_TCP_DEBUG=cm (or all, <rdma_tcp/debug.h>) or RDMACM_EXT_DEBUG=1
 * in the environment: one stderr line per CM message, connection outcome
 * and event (cm_thread.c). */
extern int cm_debug_level;
void cm_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define CM_DBG(...)                            \
	do {                                   \
		if (cm_debug_level)            \
			cm_debug(__VA_ARGS__); \
	} while (0)

/* ---- verbs_sym.c: the real libraries, resolved lazily ---------------- */

/* The libibverbs functions this library calls, looked up in the copy the
 * application has loaded (never linked: no DT_NEEDED). */
struct ext_verbs {
	struct ibv_device **(*get_device_list)(int *num);
	void (*free_device_list)(struct ibv_device **list);
	struct ibv_context *(*open_device)(struct ibv_device *dev);
	int (*query_device)(struct ibv_context *ctx,
			    struct ibv_device_attr *attr);
	int (*query_gid)(struct ibv_context *ctx, uint8_t port, int index,
			 union ibv_gid *gid);
	struct ibv_pd *(*alloc_pd)(struct ibv_context *ctx);
	struct ibv_cq *(*create_cq)(struct ibv_context *ctx, int cqe,
				    void *cq_ctx, struct ibv_comp_channel *ch,
				    int vec);
	int (*destroy_cq)(struct ibv_cq *cq);
	struct ibv_qp *(*create_qp)(struct ibv_pd *pd,
				    struct ibv_qp_init_attr *attr);
	int (*destroy_qp)(struct ibv_qp *qp);
	int (*modify_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask);
	struct ibv_srq *(*create_srq)(struct ibv_pd *pd,
				      struct ibv_srq_init_attr *attr);
	int (*destroy_srq)(struct ibv_srq *srq);
	int (*attach_mcast)(struct ibv_qp *qp, const union ibv_gid *gid,
			    uint16_t lid);
	int (*detach_mcast)(struct ibv_qp *qp, const union ibv_gid *gid,
			    uint16_t lid);
	/* libibverbs' own, under our interposers */
	struct ibv_comp_channel *(*create_comp_channel)(struct ibv_context *);
	int (*destroy_comp_channel)(struct ibv_comp_channel *ch);
};

/* NULL (errno ENOSYS) when the process has no libibverbs loaded */
const struct ext_verbs *ext_verbs(void);
/* The system librdmacm's definition of @name, or NULL */
void *ext_rdmacm_real(const char *name);

/* ---- comp_channel.c -------------------------------------------------- */

bool ext_is_tcp_context(struct ibv_context *ctx);
struct ibv_comp_channel *ext_comp_channel_create(struct ibv_context *ctx);
int ext_comp_channel_destroy(struct ibv_comp_channel *ch);

/* ---- cm_devices.c ---------------------------------------------------- */

struct cm_cred;
struct tcp_hs;

struct cm_dev {
	struct ibv_device *device;
	char netdev[IF_NAMESIZE + 1];
	struct ibv_context *verbs; /* opened once per process, kept */
	struct ibv_pd *pd;	   /* the ids' default PD (librdmacm's) */
	uint8_t max_initiator_depth;
	uint8_t max_responder_resources;
	int max_qpsize;
	struct cm_cred *cred; /* its TLS credentials as last loaded
				 (cm_sec.c; cm_g.lock) */
	uint16_t cm_port;     /* its control listener's TCP port, host order */
};

/* true: serve rdma_* for tcp devices; false: forward all to librdmacm */
bool cm_tcp_mode(void);
/* The device whose netdev owns local address @sa, opened; NULL if none.
 * A loopback address with no device on its netdev gives the namespace's
 * first device, as the kernel's cma_bind_loopback does. */
struct cm_dev *cm_dev_by_addr(const struct sockaddr *sa);
/* The same without the loopback fallback: only a device on @sa's netdev */
struct cm_dev *cm_dev_on_netdev(const struct sockaddr *sa);
/* GID table index holding @sa's GID (0 when not found) */
uint8_t cm_dev_gid_index(struct cm_dev *dev, const union ibv_gid *gid);
enum ibv_mtu cm_dev_active_mtu(struct cm_dev *dev);
struct ibv_context **cm_get_devices(int *num);
/* The distinct control ports of the devices known (at most @max) */
int cm_dev_ports(uint16_t *out, int max);
void cm_free_devices(struct ibv_context **list);

/* ---- cm_addr.c: socket addresses ---------------------------------- */

socklen_t cm_addrlen(const struct sockaddr *sa);
uint16_t cm_addr_port(const struct sockaddr *sa); /* network order */
void cm_addr_set_port(struct sockaddr *sa, uint16_t port);
bool cm_addr_is_any(const struct sockaddr *sa);
bool cm_addr_is_loopback(const struct sockaddr *sa);
/* ::ffff:a.b.c.d -> a.b.c.d, in place in a sockaddr_storage */
void cm_addr_unmap(struct sockaddr_storage *ss);
/* IPv4 as ::ffff:a.b.c.d, IPv6 as is */
void cm_addr_to_gid(const struct sockaddr *sa, union ibv_gid *gid);

/* ---- ids, channels, events, control connections -------------------- */

enum cm_state {
	CM_IDLE,
	CM_BOUND, /* rdma_bind_addr */
	CM_ADDR_RESOLVED,
	CM_ROUTE_RESOLVED,
	CM_LISTEN,
	CM_CONNECT,  /* active: TCP connect / REQ sent, REP awaited */
	CM_REP_RCVD, /* active: REP in, RTU not sent yet */
	CM_REQ_RCVD, /* passive: REQ in, accept/reject awaited */
	CM_REP_SENT, /* passive: REP out, RTU awaited */
	CM_ESTABLISHED,
	CM_DREQ_SENT,
	CM_DISCONNECTED,
	CM_FAILED, /* rejected, unreachable, connect error */
};

struct cm_channel {
	struct rdma_event_channel ch; /* first: what the application holds;
					 ch.fd is an eventfd, readable
					 exactly while events are queued */
	struct cm_event *head, *tail;
	bool signaled; /* the eventfd's counter is non-zero */
	bool dead;     /* destroyed: kept, never reused (see cm_channel.c) */
	struct cm_channel *next_dead;
};

struct cm_mcast;

struct cm_event {
	struct rdma_cm_event ev; /* first */
	uint8_t pdata[256];	 /* librdmacm's RDMA_MAX_PRIVATE_DATA */
	struct cm_id *owner;	 /* whose ack count it bears (the listener for
				CONNECT_REQUEST, else the id) */
	struct cm_id *target;	 /* the id it reports on (ev.id) */
	bool rep;		 /* a REP to act on when the app reads it */
	struct cm_mcast *mc;	 /* MULTICAST_JOIN/ERROR: the join (its
				    QP is attached when the app reads it) */
	struct cm_event *next;
};

struct cm_conn;

#define CM_CTL_MAX 8 /* distinct control ports a process listens on */

struct cm_id {
	struct rdma_cm_id id; /* first: what the application holds */
	enum cm_state state;
	struct cm_dev *dev;
	struct cm_conn *conn; /* its control connection */
	bool sync;	      /* private channel (rdma_create_id with NULL) */
	bool chan_dead;	      /* its channel was destroyed under it */
	bool cm_started;      /* connect/REQ: parameters below are set */
	bool remote_known;    /* remote QPN/PSN known (REQ or REP in) */
	bool connect_error;   /* QP transition failed at REP */
	bool disc_queued;     /* a DISCONNECTED event waits in the queue */
	unsigned int reported, acked; /* events handed out / acked */
	pthread_cond_t cond;	      /* acked changed */
	uint64_t timewait_at;	      /* ms, CLOCK_MONOTONIC; 0 = none */
	uint64_t sidr_at;	      /* ms: a UD id's SIDR answer is due */
	struct cm_mcast *mcs;	      /* rdma_join_multicast's joins */
	/* rdma_set_option; an accepted id's tos is its REQ's */
	uint8_t tos;
	bool tos_set;
	uint8_t timeout; /* QP ack timeout, 14 unless set */
	int reuseaddr, afonly;
	/* connection */
	uint8_t sgid_index;
	uint8_t initiator_depth, responder_resources;
	uint8_t retry_count, rnr_retry_count, flow_control, srq;
	uint32_t local_psn, remote_psn, remote_qpn;
	struct ibv_sa_path_rec path; /* route.path_rec points here */
	/* rdma_create_ep */
	void *connect_pdata;
	size_t connect_len;
	struct ibv_qp_init_attr *qp_init_attr;
	struct ibv_ece local_ece, remote_ece;
	/* its rdma_cm port (cm_port.c, cm_route.c) */
	int port_fd;		  /* the port's reservation; -1: none */
	struct cm_conn *mbox;	  /* a listener's mailbox */
	uint16_t ctl[CM_CTL_MAX]; /* control ports it listens on */
	uint8_t nctl;
	struct cm_id *next; /* cm_g.ids */
};

/* One rdma_join_multicast of an id (cm_mcast.c). */
struct cm_mcast {
	struct sockaddr_storage addr; /* the group, as joined */
	void *context;		      /* the join's, in its events */
	union ibv_gid mgid;	      /* the address as RoCE v2 maps it */
	uint8_t join_flags;	      /* enum rdma_cm_join_mc_attr_flags */
	bool attached;		      /* the id's QP is attached to mgid */
	unsigned int reported, acked; /* its events handed out / acked */
	struct cm_mcast *next;
};

/* A control connection's protection (cm_sec.c). */
enum cm_sec {
	CM_SEC_PLAIN, /* mode off: CM messages as they are */
	CM_SEC_START, /* TLS, client: the TCP connect is under way */
	CM_SEC_PEEK,  /* TLS, server: accepted, its first byte decides */
	CM_SEC_HS,    /* TLS handshake under way */
	CM_SEC_UP,    /* TLS: one record per CM message */
};

enum cm_conn_kind {
	CONN_CTL,  /* a shared control listener (cm_route.c) */
	CONN_MBOX, /* a listener's mailbox: routed connections arrive */
	CONN_STREAM,
};

struct cm_conn {
	int fd;
	enum cm_conn_kind kind;
	struct cm_id *id;	 /* owner; NULL once orphaned */
	struct cm_id *listen_id; /* accepted, REQ not in yet */
	bool watched, connecting, closing, shut, dead;
	bool drain;    /* input is read and dropped until EOF (cm_conn_drain) */
	bool in_ep;    /* in the epoll set */
	bool retry;    /* refused: connect again at the deadline */
	bool route_in; /* accepted: its routing prefix is being read */
	bool route_wait;    /* connected: the routing answer is awaited */
	uint16_t peer_port; /* the peer's rdma_cm port (network order) */
	uint64_t give_up;   /* ms: a refused connect is final after this;
			       routing a connection stops (cm_route.c) */
	uint32_t ev_mask;
	uint64_t deadline; /* ms; 0 = none */
	size_t in_len;
	uint8_t in[RTCP_CM_MAX_MSG];
	uint8_t *out;
	size_t out_len, out_cap;
	/* TLS (cm_sec.c): out holds whole records of RTCP_CM_MAX_MSG bytes */
	enum cm_sec sec;
	struct cm_cred *cred; /* its device's credentials, referenced */
	struct tcp_hs *hs;
	bool hs_write;	      /* TLS waits for the socket to be writable */
	bool rec_pending;     /* a record sits in TLS's output (hs_flush) */
	struct cm_conn *next; /* cm_g.conns, then the graveyard */
};

struct cm_globals {
	pthread_mutex_t lock;
	struct cm_id *ids;
	struct cm_conn *conns;
	struct cm_conn *grave; /* closed, freed by the thread */
	int epfd;
	bool thread_running;
};
extern struct cm_globals cm_g;

uint64_t cm_now_ms(void);
uint32_t cm_random_psn(void);

/* cm_channel.c */
struct cm_channel *cm_channel_new(void);
void cm_channel_free(struct cm_channel *ch);
struct cm_event *cm_event_new(struct cm_id *id, enum rdma_cm_event_type type,
			      int status);
void cm_event_post(struct cm_event *e);
/* Drops queued events of @id; children @id announced are destroyed. */
void cm_channel_purge(struct cm_id *id);
/* Drops the queued events of one multicast join of @id. */
void cm_channel_drop_mc(struct cm_id *id, struct cm_mcast *mc);
/* Moves @id's queued events to @to. */
void cm_channel_move(struct cm_id *id, struct cm_channel *to);
void cm_event_ack_locked(struct rdma_cm_event *ev);
/* librdmacm's ucma_complete: a sync id waits for its next event */
int cm_complete(struct cm_id *id);
int ext_rdma_get_cm_event(struct rdma_event_channel *ch,
			  struct rdma_cm_event **ev);
int ext_rdma_ack_cm_event(struct rdma_cm_event *ev);
struct rdma_event_channel *ext_rdma_create_event_channel(void);
void ext_rdma_destroy_event_channel(struct rdma_event_channel *ch);

/* cm_id.c */
static inline struct cm_id *cm_id_of(struct rdma_cm_id *id)
{
	return container_of(id, struct cm_id, id);
}
struct cm_id *cm_id_alloc(struct cm_channel *ch, void *context,
			  enum rdma_port_space ps, enum ibv_qp_type qp_type);
void cm_id_free(struct cm_id *id);
/* Tears down and frees an id the application never saw (locked). */
void cm_id_discard(struct cm_id *id);
void cm_id_set_dev(struct cm_id *id, struct cm_dev *dev,
		   const struct sockaddr *local);
void cm_id_fill_path(struct cm_id *id);
/* The id's tos on its control connection's socket, if it has one. */
void cm_id_apply_tos(struct cm_id *id);
struct cm_channel *cm_id_channel(struct cm_id *id);
int ext_rdma_create_id(struct rdma_event_channel *ch, struct rdma_cm_id **id,
		       void *context, enum rdma_port_space ps);
int ext_rdma_create_id2(struct rdma_event_channel *ch, struct rdma_cm_id **id,
			void *context, enum rdma_port_space ps,
			enum ibv_qp_type qp_type);
int ext_rdma_destroy_id(struct rdma_cm_id *id);
int ext_rdma_migrate_id(struct rdma_cm_id *id, struct rdma_event_channel *ch);
int ext_rdma_set_option(struct rdma_cm_id *id, int level, int optname,
			void *optval, size_t optlen);
int ext_rdma_set_local_ece(struct rdma_cm_id *id, struct ibv_ece *ece);
int ext_rdma_get_remote_ece(struct rdma_cm_id *id, struct ibv_ece *ece);

/* cm_addr.c */
int ext_rdma_bind_addr(struct rdma_cm_id *id, struct sockaddr *addr);
int cm_bind_locked(struct cm_id *id, const struct sockaddr *addr);
int ext_rdma_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src,
			  struct sockaddr *dst, int timeout_ms);
int ext_rdma_resolve_route(struct rdma_cm_id *id, int timeout_ms);
int ext_rdma_getaddrinfo(const char *node, const char *service,
			 const struct rdma_addrinfo *hints,
			 struct rdma_addrinfo **res);
void ext_rdma_freeaddrinfo(struct rdma_addrinfo *res);

/* A TCP socket of @family with the id's options, non-blocking */
int cm_socket(struct cm_id *id, int family);

/* cm_port.c: rdma_cm ports, virtual (docs/design.md, rdma_cm) */
/* Reserves @port (network order; 0: any, chosen here) for @id. */
int cm_port_reserve(struct cm_id *id, uint16_t *port);
/* A listener's mailbox for (@ps, @port): an fd, or -1 */
int cm_port_mbox(unsigned int ps, uint16_t port);
/* Passes @fd and its routing prefix to the mailbox of (@ps, @port):
 * 0, or -1 (errno ECONNREFUSED: nobody listens there) */
int cm_port_forward(int fd, const uint8_t *prefix, unsigned int ps,
		    uint16_t port);
/* One routed connection from mailbox @mfd into *fd, its prefix into
 * @prefix: 1, 0 (none waiting), -1 (a bad one, dropped: call again) */
int cm_port_receive(int mfd, uint8_t *prefix, int *fd);

/* cm_route.c: the shared control listeners and routing */
int cm_route_listen(struct cm_id *id);
void cm_route_unlisten(struct cm_id *id);
void cm_route_accept(struct cm_conn *ctl);
void cm_route_read(struct cm_conn *c);
/* a routed connection's deadline: routed again, or closed */
void cm_route_timeout(struct cm_conn *c);
void cm_route_mbox_ready(struct cm_conn *mb);
/* active side: connected, the prefix goes out; its answer came in */
void cm_route_send(struct cm_conn *c);
void cm_route_answer(struct cm_conn *c);
/* rebinds control listeners another user held; ms to the next try */
int cm_route_timer(uint64_t now);

/* cm_qp.c */
int cm_qp_attr(struct cm_id *id, struct ibv_qp_attr *attr, int *mask);
int cm_qp_rtr_rts(struct cm_id *id);
void cm_qp_to_err(struct cm_id *id);
int ext_rdma_create_qp_ex(struct rdma_cm_id *id,
			  struct ibv_qp_init_attr_ex *attr);
int ext_rdma_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd,
		       struct ibv_qp_init_attr *attr);
void ext_rdma_destroy_qp(struct rdma_cm_id *id);
int ext_rdma_init_qp_attr(struct rdma_cm_id *id, struct ibv_qp_attr *attr,
			  int *mask);
int ext_rdma_create_srq_ex(struct rdma_cm_id *id,
			   struct ibv_srq_init_attr_ex *attr);
int ext_rdma_create_srq(struct rdma_cm_id *id, struct ibv_pd *pd,
			struct ibv_srq_init_attr *attr);
void ext_rdma_destroy_srq(struct rdma_cm_id *id);

/* cm_conn.c, cm_conn_rx.c: the connection protocol */
int ext_rdma_listen(struct rdma_cm_id *id, int backlog);
int ext_rdma_connect(struct rdma_cm_id *id, struct rdma_conn_param *param);
int ext_rdma_accept(struct rdma_cm_id *id, struct rdma_conn_param *param);
int ext_rdma_reject(struct rdma_cm_id *id, const void *pdata, uint8_t len);
int ext_rdma_disconnect(struct rdma_cm_id *id);
int ext_rdma_establish(struct rdma_cm_id *id);
int ext_rdma_notify(struct rdma_cm_id *id, enum ibv_event_type event);
/* Ends @id's control connection as rdma_destroy_id does (locked). */
void cm_conn_teardown(struct cm_id *id);
/* Shared with cm_sidr.c, locked: an event for @id; the control
 * connection detached (finish: what is queued goes out first); the TCP
 * connect of an id started; a new id for a request on accepted @c with
 * its CONNECT_REQUEST event, not posted (NULL: @c is closed). */
void cm_post(struct cm_id *id, enum rdma_cm_event_type type, int status);
/* Shared with cm_conn_rx.c, locked: DISCONNECTED (then TIMEWAIT_EXIT);
 * an empty message on the id's control connection; an event's
 * param.conn private data. */
void cm_disconnected(struct cm_id *id);
void cm_send_empty(struct cm_id *id, uint8_t type);
void cm_event_pdata(struct cm_event *e, const uint8_t *p, uint8_t len);
void cm_conn_drop(struct cm_id *id, bool finish);
void cm_conn_start(struct cm_id *id);
/* A control connection for @id (no socket yet), or -1 */
int cm_conn_open(struct cm_id *id);
struct cm_id *cm_conn_child(struct cm_conn *c, struct cm_event **ev);
/* The event that ends a failed connect: REJECTED, UNREACHABLE for UD. */
enum rdma_cm_event_type cm_refusal(struct cm_id *id, int err);
/* Concatenates rdma_create_ep's private data and @p's into @out (room
 * for @max bytes): the length, or -1 (EINVAL) when it does not fit. */
int cm_pdata_join(struct cm_id *id, const struct rdma_conn_param *p,
		  uint8_t *out, size_t max);
/* rdma_get_cm_event hands @e out: act on it; false = swallow it */
bool cm_conn_event_out(struct cm_event *e);
/* Called by the thread, locked */
void cm_on_connected(struct cm_conn *c, int err);
void cm_on_message(struct cm_conn *c, uint8_t type, const uint8_t *body,
		   size_t len);
void cm_on_lost(struct cm_conn *c, int err);
void cm_on_timeout(struct cm_conn *c);
void cm_on_timewait(struct cm_id *id);
/* The TLS handshake of @c failed: EKEYREJECTED (the peer's credentials
 * or mode are not ours, or it broke the exchange off), else an errno */
void cm_on_hs_failed(struct cm_conn *c, int err);

/* cm_sidr.c: UD ids, SIDR over the control connection (cm_proto.h) */
static inline bool cm_is_ud(const struct cm_id *id)
{
	return id->id.qp_type == IBV_QPT_UD;
}
int cm_sidr_connect(struct cm_id *id, struct rdma_conn_param *p);
int cm_sidr_accept(struct cm_id *id, struct rdma_conn_param *p);
int cm_sidr_reject(struct cm_id *id, const void *pdata, uint8_t len);
/* rdma_destroy_id of a UD id asked and not answered: a SIDR reject */
void cm_sidr_teardown(struct cm_id *id);
void cm_sidr_on_req(struct cm_conn *c, const struct rtcp_cm_sidr_req *req);
void cm_sidr_on_rep(struct cm_id *id, const struct rtcp_cm_sidr_rep *rep);
/* a listener that is not UD (or of another port space) asked: refused */
void cm_sidr_unsupported(struct cm_conn *c);
void cm_on_sidr_timeout(struct cm_id *id);

/* cm_mcast.c: rdma_join_multicast / rdma_leave_multicast */
int ext_rdma_join_multicast(struct rdma_cm_id *id, struct sockaddr *addr,
			    void *context);
int ext_rdma_join_multicast_ex(struct rdma_cm_id *id,
			       struct rdma_cm_join_mc_attr_ex *attr,
			       void *context);
int ext_rdma_leave_multicast(struct rdma_cm_id *id, struct sockaddr *addr);
/* rdma_get_cm_event hands a multicast event out: attach the QP */
void cm_mcast_event_out(struct cm_event *e);
void cm_mcast_event_acked(struct cm_event *e);
/* rdma_destroy_id, after every event was acked: the joins go */
void cm_mcast_free_all(struct cm_id *id);

/* cm_sec.c: the control connection's TLS (docs/design.md, rdma_cm) */
/* The credentials @dev is configured with now, referenced (NULL: mode
 * off). 0 or an errno (the configuration is unusable). Locked. */
int cm_sec_cred(struct cm_dev *dev, struct cm_cred **out);
/* Marks @c (bound, not connected) as a TLS client if its id's device
 * wants it. 0 or an errno. Locked. */
int cm_sec_connect(struct cm_conn *c, struct cm_dev *dev);
/* The TCP connect of a TLS client completed: the handshake starts. */
void cm_sec_connected(struct cm_conn *c);
/* An accepted connection: TLS server if the device of the address it
 * reached wants it. 0 or -1 (drop it: no device, unusable credentials). */
int cm_sec_accept(struct cm_conn *c);
/* Drives a TLS connection on socket events (handshake, records). */
void cm_sec_handle(struct cm_conn *c, uint32_t events);
/* Sends queued records as far as the socket allows. */
void cm_sec_flush(struct cm_conn *c);
/* Frees the TLS state of a closing connection. */
void cm_sec_release(struct cm_conn *c);

/* cm_thread.c: sockets driven by the background thread */
struct cm_conn *cm_conn_new(int fd, enum cm_conn_kind kind);
/* Starts watching @c (and the thread, once per process). */
int cm_conn_watch(struct cm_conn *c, enum cm_conn_kind kind);
int cm_conn_send(struct cm_conn *c, uint8_t type, const void *body, size_t len);
/* Flush what is queued, shut the write side, close at EOF or timeout;
 * detached from its id. */
void cm_conn_finish(struct cm_conn *c);
/* Ends a connection the peer's bytes broke without resetting it: the
 * last output (a TLS alert) is followed by our FIN, the peer's input read
 * and dropped until its EOF or CM_LINGER_MS; detached from everything. */
void cm_conn_drain(struct cm_conn *c);
void cm_conn_close(struct cm_conn *c);
/* Re-arms the epoll mask after connecting/retry/out_len changed. */
void cm_conn_update(struct cm_conn *c);
/* Sends what is queued as far as the socket allows; shuts the write side
 * of a finished connection once all is out. */
void cm_conn_flush(struct cm_conn *c);

/* cm_ep.c */
int ext_rdma_create_ep(struct rdma_cm_id **id, struct rdma_addrinfo *res,
		       struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
void ext_rdma_destroy_ep(struct rdma_cm_id *id);
int ext_rdma_get_request(struct rdma_cm_id *listen, struct rdma_cm_id **id);

/* Timeouts, ms */
#define CM_CONNECT_TIMEOUT_MS 20000 /* TCP connect of rdma_connect */
#define CM_REFUSED_RETRY_MS   2000  /* refused connects retried this long */
#define CM_RETRY_EVERY_MS     50
#define CM_REQ_TIMEOUT_MS     10000 /* accepted socket waiting for its REQ */
#define CM_LINGER_MS	      5000 /* a finished conn waiting for the peer's EOF */
#define CM_TIMEWAIT_MS	      1000  /* DISCONNECTED -> TIMEWAIT_EXIT */
#define CM_HS_TIMEOUT_MS      10000 /* active side's TLS handshake */
#define CM_SIDR_TIMEOUT_MS    10000 /* a UD id's rdma_connect, answered */

#endif
