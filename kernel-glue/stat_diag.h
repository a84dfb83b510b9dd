/* SPDX-License-Identifier: MIT */
/* A TCP socket's state from NETLINK_SOCK_DIAG, by its two addresses. */
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
};

/* 0, or an errno (ENOENT: no such socket) */
int diag_lookup(const struct sockaddr *local, const struct sockaddr *peer,
		struct diag_info *out);
const char *diag_state_name(int state);

#endif
