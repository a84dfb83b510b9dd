/* SPDX-License-Identifier: MIT */
/*
 * Two ends of a TLS key exchange (providers/tcp/hs.c) over a real TCP
 * loopback connection, both driven from one thread by a poll loop, each
 * following a plan of steps as the QP rendezvous will: handshake, message,
 * raw frames behind the last record, answer. For tests/unit/test_hs.c.
 */
#ifndef RDMA_TCP_TEST_HS_PAIR_H
#define RDMA_TCP_TEST_HS_PAIR_H

#include <stdbool.h>
#include <stdint.h>

#include "hs.h"

#define MSG_LEN	    72
#define DEADLINE_MS 30000

/* the certificates of tests/lib/mkcerts.sh */
extern const char *certdir;
/* what each end writes raw behind its last TLS record */
extern const char frames_c[], frames_s[];

enum stage { ST_HS, ST_SEND, ST_FLUSH, ST_RAW, ST_RECV, ST_DONE };

/* client: handshake, message, raw frames, answer; server: handshake,
 * message, answer, raw frames. Each writes its raw frames right behind
 * its record, so they sit in the peer's socket with it. */
extern const enum stage plan_client[], plan_server[];
extern const enum stage plan_none[]; /* takes no part */
extern const enum stage plan_hs[];   /* the handshake only */

struct end {
	struct tcp_hs *hs;
	int fd;
	bool client;
	const enum stage *plan; /* what this end does, in order */
	int at;
	enum tcp_hs_status st; /* the last status: what it waits for */
	bool close_on_fail;    /* as a QP does: the socket goes at once */
	unsigned int want_writes;
	bool closed;
	uint8_t out[MSG_LEN], in[MSG_LEN];
};

struct pair {
	struct tcp_hs_cred cred[2];
	struct end e[2]; /* [0] client, [1] server */
	int fds[2];
};

uint64_t now_us(void);
void set_nonblock(int fd);
/* A connected TCP pair on 127.0.0.1, both ends nonblocking. @small:
 * the smallest buffers the kernel allows (client receive, server send). */
int tcp_pair(int fds[2], bool small);
/* A PSK of bytes fill, fill+1, ...; certificate @name.pem trusting @ca */
void conf_psk(struct tcp_psp_conf *c, uint8_t fill);
void conf_cert(struct tcp_psp_conf *c, const char *name, const char *ca);

/* Runs @e until it waits or ends. */
void end_advance(struct end *e);
bool end_over(const struct end *e);
const char *end_reason(const struct end *e);
/* Drives both ends until each is done or failed; false on the deadline. */
bool run_pair(struct end e[2]);
bool pair_open_buf(struct pair *p, const struct tcp_psp_conf *cc,
		   const struct tcp_psp_conf *sc, bool small);
bool pair_open(struct pair *p, const struct tcp_psp_conf *cc,
	       const struct tcp_psp_conf *sc);
void pair_close(struct pair *p);
/* Reads exactly @len bytes with plain recv, within the deadline. */
bool recv_exact(int fd, void *buf, size_t len);

#endif
