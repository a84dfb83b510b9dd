/* SPDX-License-Identifier: MIT */
/*
 * What the files of malformed share (malformed_main.c says what the
 * program checks): its sizes, the memory regions, the QP's objects, the
 * hostile peer, the cases, and the functions one file offers another.
 */
#ifndef RDMA_TCP_MALFORMED_H
#define RDMA_TCP_MALFORMED_H

#include <arpa/inet.h>
#include <endian.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma_tcp/wire.h>

#define TC_EXTERN
#include "tcheck.h"

#define WIN	    (64 * 1024)	  /* the registered window */
#define PAD	    4096	  /* canary bytes on each side */
#define SMALL	    4096	  /* the extra regions */
#define BIG	    (1024 * 1024) /* for a WRITE that arrives in pieces */
#define FAKE_QPN    1u /* the hostile peer's QPN: smaller than any real one */
#define DEADLINE_MS 3000
#define MAX_MSG	    (1u << 31) /* the provider's max_msg_sz */
#define WATCHDOG_S  240

/* A connection's two addresses, as the test's end of it sees them. */
struct conn_ends {
	struct sockaddr_storage self, peer;
	socklen_t self_len, peer_len;
};

struct region {
	const char *name;
	uint8_t *mem;	 /* whole allocation: PAD + len + PAD */
	uint8_t *shadow; /* what each byte must hold */
	size_t len;	 /* registered part, at mem + PAD */
	struct ibv_mr *mr;
};

enum { R_WIN, R_RO, R_STALE, R_FOREIGN, R_BIG, NREG };
extern struct region reg[NREG];
extern uint32_t stale_rkey;

/*
 * Bytes of region r at [lo, hi) (offsets from the registered start) may
 * hold either their old value or alt[] (a write that was accepted and then
 * cut short); the shadow takes whatever is there.
 */
struct alt_range {
	int r;
	size_t lo, hi;
	const uint8_t *alt;
};

extern struct ibv_context *ctx;
extern struct ibv_pd *pd, *pd2;
extern struct ibv_cq *cq;
extern union ibv_gid gid0;

#define EV(t) (1u << (t))

/* the RDMA READ into the window the requester-side cases post */
#define RD_OFF 40000
#define RD_LEN 64

struct peer {
	int fd;
	uint64_t tx_seq; /* bytes sent after the hello */
	uint64_t rx_seq; /* bytes of frames received */
	uint8_t *rbuf;
	size_t rlen;
	uint32_t max_ack; /* highest ack_msn seen */
	int n_data_resp;  /* READ_RESP / ATOMIC_RESP seen */
	int n_term;
	struct rtcp_hdr term; /* the last TERMINATE */
	bool bad;	      /* the QP sent a malformed frame */
	bool eof;
};

#define RBUF_CAP (WIN + 2 * RTCP_HDR_LEN)

enum { RECV_FRAME = 1, RECV_EOF = 0, RECV_TIMEOUT = -1, RECV_ERR = -2 };

/* peer_frame: keep the stream position */
enum { F_KEEP_SSEQ = 1 };

struct kase {
	const char *name;
	/* sends the hostile input; may adjust the expectations */
	void (*send)(struct peer *p, struct ibv_qp *qp, struct kase *k);
	int term_syn; /* TERMINATE expected with this syndrome; 0 none */
	uint32_t term_msn;
	unsigned int events;  /* allowed async event types */
	bool reconnect;	      /* after ERR, a new connection must be refused */
	struct alt_range alt; /* bytes that may legitimately change */
	bool has_alt;
	uint64_t want_wc_id; /* a WR that must complete in error; 0 none */
};

extern struct kase cases[];
extern const size_t n_cases;

/* malformed_sock.c */
bool conn_ends_of(int fd, struct conn_ends *e);
bool wait_provider_read(int fd, int left);
bool wait_provider_closed(const struct conn_ends *e);

/* malformed_verbs.c */
uint8_t pattern(int r, size_t i);
int region_alloc(int r, const char *name, size_t len);
uint8_t *win(void);
uint64_t win_addr(size_t off);
void check_memory(const struct alt_range *alt);
const char *state_str(enum ibv_qp_state s);
struct ibv_qp *make_qp(void);
enum ibv_qp_state qp_state(struct ibv_qp *qp);
long wait_err(struct ibv_qp *qp);
void check_async(struct ibv_qp *qp, unsigned int allowed);
void check_no_async(void);
int drain_cq(struct ibv_wc *out, int max);

/* malformed_peer.c */
socklen_t gid_sockaddr(uint16_t port, struct sockaddr_storage *ss);
int send_all(int fd, const void *p, size_t n);
int peer_open_raw(struct peer *p, uint32_t qpn, uint32_t src, uint32_t dst,
		  bool magic_ok);
void peer_close(struct peer *p);
int peer_recv(struct peer *p, struct rtcp_hdr *h, int timeout_ms);
void peer_consume(struct peer *p, const struct rtcp_hdr *h);
int peer_wait_op(struct peer *p, uint8_t op, uint32_t min_ack,
		 struct rtcp_hdr *out, uint8_t *payload, size_t cap);
bool peer_until_eof(struct peer *p, int timeout_ms);
int peer_frame(struct peer *p, struct rtcp_hdr *h, const void *payload,
	       size_t plen, int flags, uint16_t hlen);
void hdr_init(struct rtcp_hdr *h, uint8_t op, uint32_t msn);
uint8_t *payload_of(size_t n, uint8_t salt);
void shadow_write(int r, size_t off, const uint8_t *src, size_t n);
bool wait_landed(size_t off, const uint8_t *src, size_t n);

/* malformed_frames.c */
uint32_t win_rkey(void);
void write_to_f(struct peer *p, uint32_t rkey, uint64_t raddr, uint32_t len,
		uint32_t msn, uint8_t salt, uint8_t flags);
void write_to(struct peer *p, uint32_t rkey, uint64_t raddr, uint32_t len,
	      uint32_t msn, uint8_t salt);
void send_send_too_big(struct peer *p, struct ibv_qp *qp, struct kase *k);

/* malformed_run.c */
bool peer_open(struct peer *p, struct ibv_qp *qp);
/* A case's start: its section printed, a fresh QP and the hostile peer
 * connected to it; NULL (and nothing left open) if either fails. */
struct ibv_qp *case_start(const char *section, struct peer *p);
void turned_away(uint32_t qpn, uint32_t src, uint32_t dst, bool magic_ok,
		 const char *what);
void run_case(struct kase *k);

/* malformed_control.c */
void control(void);
void ack_then_close(void);
void trickled_write(void);

/* malformed_hello.c */
void hello_cases(void);
void hijack_case(void);

#endif
