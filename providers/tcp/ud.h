/* SPDX-License-Identifier: MIT */
/*
 * UD queue pairs over UDP (docs/design.md, "UD queue pairs"). A UD QP owns
 * one UDP socket bound to the port its number names (qpn >> 8) on every
 * address; the same port is held on TCP (a listener entry with no
 * listening socket), so no RC QP of any process gets the number. One
 * datagram per message: struct rtcp_ud_hdr, payload, and the tag of
 * ud_sec.h when the device is secured. Everything here runs under
 * qp->lock except tcp_ud_port_alloc / tcp_ud_port_free (ctx->lock).
 */
#ifndef RDMA_TCP_UD_H
#define RDMA_TCP_UD_H

#include "qp.h"
#include "ud_sec.h"

/* the 40-byte GRH area at the start of every UD receive buffer */
#define TCP_UD_GRH 40
/* datagrams a receive pass takes with one recvmmsg */
#define TCP_UD_BATCH 16
/* recvmmsg calls a pass makes at most, so one QP cannot hold its lock
 * (and the engine) for ever while a flood arrives */
#define TCP_UD_PASSES 4
/* the largest datagram: header, the device's largest MTU, tag */
#define TCP_UD_DGRAM (RTCP_UD_HDR_LEN + 4096 + RTCP_UD_TAG_LEN)
/* where every member of a multicast group listens: RoCE v2's port */
#define TCP_UD_MCAST_PORT 4791
/* groups one QP may join (a socket each) */
#define TCP_UD_MCAST_PER_QP 16
/* how long a send waits for socket room before the datagram is dropped */
#define TCP_UD_SEND_WAIT_MS 1
/* how often a datagram to an address not in the cached GID table makes
 * the table be read again */
#define TCP_UD_ADDR_REFRESH_NS 100000000ull
/* ...and how old the cached table may be for a datagram it accepts */
#define TCP_UD_ADDR_FRESH_NS 1000000000ull

/* A QP's membership of a multicast group (ud_mcast.c). */
struct tcp_ud_mcast {
	struct tcp_watch p; /* the engine reads fd for the QP */
	struct tcp_qp *qp;
	int fd; /* bound to the group and TCP_UD_MCAST_PORT, joined */
	union ibv_gid mgid;
	struct tcp_ud_mcast *next;
};

struct tcp_ud {
	int fd;		      /* UDP, dual stack, bound to the QPN's port */
	uint32_t mtu;	      /* the port's active MTU in bytes, at create */
	unsigned int ifindex; /* the netdev: link-local IPv6 scope */
	struct tcp_ud_tx_sec tx;
	struct tcp_ud_rx_sec rx;
	uint8_t *buf;	 /* TCP_UD_BATCH datagrams of TCP_UD_DGRAM bytes */
	uint8_t *cipher; /* encrypt mode: one payload's ciphertext */
	/* the device's addresses (its GIDs), for the destination check */
	struct tcp_addr addrs[TCP_GID_TBL_LEN];
	int naddrs;
	uint64_t addrs_at;
	/* no receive posted: datagrams wait in the socket, unwatched, until
	 * one is (tcp_ud_recv_posted) */
	bool rx_wait;
	struct tcp_ud_mcast *mc; /* groups joined */
	int nmc;
	/* datagrams dropped, by reason (UD is unreliable: no error) */
	uint64_t drop_bad, drop_state, drop_qkey, drop_norecv, drop_len;
	uint64_t drop_tx;
};

/* ud_port.c: the QPN, its ports and the socket (caller holds ctx->lock) */
int tcp_ud_port_alloc(struct tcp_qp *qp);
void tcp_ud_port_free(struct tcp_qp *qp);
/* ud_qp.c: the QP's UD state from create to free */
int tcp_ud_create(struct tcp_qp *qp);
void tcp_ud_free(struct tcp_qp *qp);
/* ud_mcast.c: is the GID an IP multicast group (IPv4 mapped or IPv6)? */
bool tcp_ud_gid_mcast(const union ibv_gid *g);
/* leaves the group *pm names (caller holds ctx->lock and qp->lock) */
void tcp_ud_mcast_leave(struct tcp_qp *qp, struct tcp_ud_mcast **pm);
/* Is gid one of the device's addresses? (cached, re-read on a miss) */
bool tcp_ud_addr_ok(struct tcp_qp *qp, const uint8_t gid[16]);
/* ud_tx.c: ibv_post_send on a UD QP (caller holds qp->lock) */
/* A send WR's checks: 0 or the errno for bad_wr. */
int tcp_ud_check_send(struct tcp_qp *qp, const struct ibv_send_wr *wr);
int tcp_ud_post_send(struct tcp_qp *qp, struct ibv_send_wr *wr,
		     struct ibv_send_wr **bad);
/* ud_rx.c: reads and delivers what the socket holds */
void tcp_ud_rx(struct tcp_qp *qp);
/* ...or a multicast membership's socket (mgid: its group) */
void tcp_ud_rx_fd(struct tcp_qp *qp, int fd, const union ibv_gid *mgid);
/* receives were posted to the QP's own queue */
void tcp_ud_recv_posted(struct tcp_qp *qp);

#endif
