/* SPDX-License-Identifier: MIT */
/* A QP's socket's state from NETLINK_SOCK_DIAG: TCP by its two addresses,
 * a UD QP's UDP socket by its local one. */
#ifndef RTCP_STAT_DIAG_H
#define RTCP_STAT_DIAG_H

#include <stdint.h>
#include <sys/socket.h>

struct diag_info {
	int state; /* TCP_ESTABLISHED, ... */
	uint32_t rtt_us, rttvar_us, snd_cwnd, total_retrans;
	uint64_t delivery_rate; /* bytes per second */
	uint64_t bytes_acked, bytes_received;
	char cc[16];
	uint8_t tos; /* IPv4 TOS, or the IPv6 socket's traffic class */
	/* both: the receive queue (bytes) and SK_MEMINFO (UDP's drops are
	 * datagrams the socket had no room for) */
	uint32_t rqueue, rcvbuf, drops;
};

/* 0, or an errno (ENOENT: no such socket) */
int diag_lookup(const struct sockaddr *local, const struct sockaddr *peer,
		struct diag_info *out);
/* the unconnected UDP socket bound to local (a UD QP's) */
int diag_lookup_udp(const struct sockaddr *local, struct diag_info *out);
const char *diag_state_name(int state);

#endif
