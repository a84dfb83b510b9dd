/* SPDX-License-Identifier: MIT */
/*
 * The CM wire protocol of librdmacm-ext: the messages exchanged on the CM
 * control connection of a connected rdma_cm_id (see cm_conn.c for why this
 * is a TCP connection of its own, separate from the QP's transport).
 *
 * The control connection runs from the active side's CM socket (bound at
 * rdma_resolve_addr / rdma_bind_addr) to the listener's CM port (the port
 * of the address given to rdma_bind_addr + rdma_listen) and lives as long
 * as the connection: it carries the handshake, then the disconnect.
 *
 * Every message is an 8-byte header followed by `len` bytes of body. All
 * integers are in network byte order; GIDs are 16 raw bytes.
 *
 *   magic    u32  RTCP_CM_MAGIC ("RTCM")
 *   version  u8   RTCP_CM_VERSION
 *   type     u8   enum rtcp_cm_type
 *   len      u16  body length, <= RTCP_CM_MAX_BODY and exactly what the type
 *                 needs (fixed part + pdata_len for REQ/REP/REJ and
 *                 SIDR_REQ/SIDR_REP, 0 else)
 *
 * A bad magic, version, type or length closes the connection.
 *
 *   active (rdma_connect)              passive (rdma_listen)
 *   TCP connect  --------------------> accept
 *   REQ  ----------------------------> CONNECT_REQUEST event
 *        <---------------------------- REP (rdma_accept) or REJ (rdma_reject)
 *   [QP INIT->RTR->RTS by the
 *    receiver of REP, on
 *    rdma_get_cm_event; REJ ->
 *    REJECTED, status 28]
 *   RTU (or rdma_establish) ---------> ESTABLISHED
 *   ESTABLISHED
 *   ...
 *   DREQ (rdma_disconnect) ----------> DISCONNECTED (+ TIMEWAIT_EXIT)
 *        <---------------------------- DREP
 *   DISCONNECTED (+ TIMEWAIT_EXIT)
 *
 * Either side may send DREQ; crossing DREQs are each answered. The peer's
 * connection closing (EOF, reset) stands for the answer that was due:
 * refused TCP connect -> REJECTED (-ECONNREFUSED), closed before REP ->
 * UNREACHABLE, closed after RTU -> DISCONNECTED.
 *
 * Authenticated devices (mode auth or encrypt, cm_sec.c): the control
 * connection is a TLS 1.3 session with the device's credentials, set up
 * right after the TCP connect and before any message; every message then
 * travels as one TLS record of exactly RTCP_CM_MAX_MSG bytes (header,
 * body, zeros to the end). A TLS listener answers a peer whose first byte
 * is not a TLS handshake record with a plain REJ, reason RTCP_CM_REJ_AUTH,
 * and closes; a failed handshake closes with no message at all.
 *
 * The QP numbers carried here are the provider's (listener port << 8 |
 * slot); after the handshake each side moves its own QP to RTR with the
 * peer's GID (the peer address of the control connection) and QPN, and the
 * provider makes the QP's own TCP connection. The REQ's traffic class is
 * the initiator's RDMA_OPTION_ID_TOS; the accepting id's path record and
 * QP (RTR) take it, not their listener's, as the kernel's rdma_cm builds
 * the passive side's path from the IB CM REQ.
 *
 * UD ids (RDMA_PS_UDP, or RDMA_PS_IB with a UD QP) resolve their peer as
 * the IB CM's SIDR does (Service ID Resolution, cm_sidr.c): one question,
 * one answer, no connection state left behind.
 *
 *   active (rdma_connect, UD id)       passive (rdma_listen, UD id)
 *   TCP connect [+ TLS] -------------> accept [+ TLS]
 *   SIDR_REQ ------------------------> CONNECT_REQUEST event (param.ud)
 *        <---------------------------- SIDR_REP (rdma_accept: status 0,
 *                                      QPN, Q_Key; rdma_reject: status 2)
 *   ESTABLISHED (param.ud: AH
 *   attributes, QPN, Q_Key) or
 *   UNREACHABLE (status: the REP's)
 *   close                              close
 *
 * The passive side gets no event after its answer; neither side has a
 * disconnect. A SIDR_REQ reaching a listener of another port space or QP
 * type is answered with status RTCP_SIDR_UNSUPPORTED, an RC REQ reaching
 * a UD listener with a REJ, reason RTCP_CM_REJ_INVALID_SERVICE_ID, as the
 * IB CM answers a service ID nobody listens on.
 *
 * Routing (cm_route.c). rdma_cm ports are virtual, as on an RDMA NIC: they
 * take no kernel TCP port. Every control connection goes to the device's
 * control port (registry file tcp_cm_port, default RTCP_CM_PORT_DEFAULT),
 * where every process with an rdma_cm listener listens (SO_REUSEPORT). The
 * active side first sends a plain routing prefix, before TLS or any
 * message:
 *
 *   magic    u32  RTCP_ROUTE_MAGIC ("RTCR")
 *   version  u8   RTCP_ROUTE_VERSION
 *   reserved u8   0
 *   ps       u16  enum rdma_port_space of the active id
 *   dport    u16  the rdma_cm port asked for (the listener's)
 *   sport    u16  the active id's own rdma_cm port
 *
 * and waits for one byte: RTCP_ROUTE_OK (the connection reached the
 * listener's process; TLS or REQ/SIDR_REQ follow as above) or
 * RTCP_ROUTE_NONE (nobody listens on that port: a refused connect), after
 * which the connection is closed. The prefix is not authenticated: it only
 * picks the process, the TLS session then authenticates the peer.
 */
#ifndef RDMACM_EXT_CM_PROTO_H
#define RDMACM_EXT_CM_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define RTCP_CM_MAGIC	0x5254434du /* "RTCM" */
#define RTCP_CM_VERSION 2	    /* 2: REQ with tos; 1 is refused */

/* Routing prefix and answer (see above) */
#define RTCP_ROUTE_MAGIC     0x52544352u /* "RTCR" */
#define RTCP_ROUTE_VERSION   1
#define RTCP_ROUTE_LEN	     12
#define RTCP_ROUTE_OK	     0x01
#define RTCP_ROUTE_NONE	     0x02
#define RTCP_CM_PORT_DEFAULT 4791 /* IANA's "roce" TCP port */

struct rtcp_route {
	uint16_t ps;	/* host order, once decoded */
	uint16_t dport; /* network order, as in a sockaddr */
	uint16_t sport; /* network order */
};

/* The prefix as RTCP_ROUTE_LEN bytes; decode: 0, or -1 (not a prefix). */
void rtcp_route_encode(uint8_t *out, const struct rtcp_route *r);
int rtcp_route_decode(const uint8_t *in, struct rtcp_route *r);

/* Private data limits: those of rdma_cm over IB/RoCE for REQ and REP (the
 * IB CM fields minus librdmacm's header); REJ gets REP's room. */
#define RTCP_CM_REQ_PDATA_MAX 56
#define RTCP_CM_REP_PDATA_MAX 196
#define RTCP_CM_REJ_PDATA_MAX 196
/* SIDR: the IB CM's SIDR REQ (216) minus rdma_cm's IP header (36), and
 * the SIDR REP's private data (136), as the kernel's rdma_cm allows. */
#define RTCP_CM_SIDR_REQ_PDATA_MAX 180
#define RTCP_CM_SIDR_REP_PDATA_MAX 136

/* IB CM reject reason "consumer defined", what rdma_reject() sends and
 * what librdmacm reports as the REJECTED event's status on RoCE. */
#define RTCP_CM_REJ_CONSUMER 28
/* Outside the IB CM's reasons: a TLS listener's answer to a peer that
 * spoke plain CM (cm_sec.c); reported as REJECTED, status -EKEYREJECTED. */
#define RTCP_CM_REJ_AUTH 0x100
/* IB CM reject reason: no listener for the REQ's service (here: a UD
 * listener asked for a connection). */
#define RTCP_CM_REJ_INVALID_SERVICE_ID 8

/* SIDR REP status, the IB CM's values (what UNREACHABLE reports). */
enum rtcp_sidr_status {
	RTCP_SIDR_SUCCESS = 0,
	RTCP_SIDR_UNSUPPORTED = 1, /* no listener of that port space */
	RTCP_SIDR_REJECT = 2,	   /* rdma_reject, or the id destroyed */
};

enum rtcp_cm_type {
	RTCP_CM_REQ = 1,      /* connection request, active -> passive */
	RTCP_CM_REP = 2,      /* accept, passive -> active */
	RTCP_CM_REJ = 3,      /* reject, either way before RTU */
	RTCP_CM_RTU = 4,      /* ready to use, active -> passive */
	RTCP_CM_DREQ = 5,     /* disconnect request, either way */
	RTCP_CM_DREP = 6,     /* disconnect reply */
	RTCP_CM_SIDR_REQ = 7, /* UD: service ID resolution request */
	RTCP_CM_SIDR_REP = 8, /* UD: its answer, passive -> active */
};

struct rtcp_cm_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t type;
	uint16_t len;
} __attribute__((packed));

/* REQ: what the initiator offers. */
struct rtcp_cm_req {
	uint8_t gid[16]; /* initiator's source GID (informational: the
			    receiver uses the connection's peer address) */
	uint32_t qpn;	 /* initiator's QPN (QP, or conn_param->qp_num) */
	uint32_t psn;	 /* initiator's first send PSN */
	uint8_t responder_resources; /* initiator's, as in rdma_conn_param */
	uint8_t initiator_depth;
	uint8_t flow_control;
	uint8_t retry_count;
	uint8_t rnr_retry_count;
	uint8_t srq;
	uint8_t qp_type; /* enum ibv_qp_type of the initiator's id */
	uint8_t tos;	 /* initiator's traffic class (RDMA_OPTION_ID_TOS),
			    as the IB CM REQ's primary path carries it: the
			    accepting id's path and QP take it; any value.
			    New in version 2 (fixed part 32 -> 33 bytes) */
	uint8_t pdata_len;
	uint8_t pdata[RTCP_CM_REQ_PDATA_MAX];
} __attribute__((packed));

/* REP: the responder's answer. */
struct rtcp_cm_rep {
	uint8_t gid[16]; /* responder's GID (informational) */
	uint32_t qpn;
	uint32_t psn;
	uint8_t responder_resources; /* responder's, after clamping */
	uint8_t initiator_depth;
	uint8_t flow_control;
	uint8_t rnr_retry_count;
	uint8_t srq;
	uint8_t reserved[2];
	uint8_t pdata_len;
	uint8_t pdata[RTCP_CM_REP_PDATA_MAX];
} __attribute__((packed));

/* REJ: a refusal, with the consumer's private data. */
struct rtcp_cm_rej {
	uint16_t reason; /* IB CM reject reason, RTCP_CM_REJ_CONSUMER */
	uint8_t reserved;
	uint8_t pdata_len;
	uint8_t pdata[RTCP_CM_REJ_PDATA_MAX];
} __attribute__((packed));

/* SIDR_REQ: a UD id asks for the listener's QPN and Q_Key. */
struct rtcp_cm_sidr_req {
	uint8_t gid[16]; /* initiator's source GID (informational) */
	uint16_t ps;	 /* enum rdma_port_space of the initiator's id */
	uint8_t reserved;
	uint8_t pdata_len;
	uint8_t pdata[RTCP_CM_SIDR_REQ_PDATA_MAX];
} __attribute__((packed));

/* SIDR_REP: the listener's answer. */
struct rtcp_cm_sidr_rep {
	uint32_t qpn;	 /* the responder's UD QP (0 unless status 0) */
	uint32_t qkey;	 /* its Q_Key, RDMA_UDP_QKEY */
	uint8_t gid[16]; /* responder's GID (informational) */
	uint8_t status;	 /* enum rtcp_sidr_status */
	uint8_t reserved[2];
	uint8_t pdata_len;
	uint8_t pdata[RTCP_CM_SIDR_REP_PDATA_MAX];
} __attribute__((packed));

#define RTCP_CM_REQ_FIXED      offsetof(struct rtcp_cm_req, pdata)
#define RTCP_CM_REP_FIXED      offsetof(struct rtcp_cm_rep, pdata)
#define RTCP_CM_REJ_FIXED      offsetof(struct rtcp_cm_rej, pdata)
#define RTCP_CM_SIDR_REQ_FIXED offsetof(struct rtcp_cm_sidr_req, pdata)
#define RTCP_CM_SIDR_REP_FIXED offsetof(struct rtcp_cm_sidr_rep, pdata)
#define RTCP_CM_MAX_BODY       sizeof(struct rtcp_cm_rep)
#define RTCP_CM_MAX_MSG	       (sizeof(struct rtcp_cm_hdr) + RTCP_CM_MAX_BODY)

_Static_assert(sizeof(struct rtcp_cm_hdr) == 8, "CM header is 8 bytes");
_Static_assert(RTCP_CM_REQ_FIXED == 33, "REQ fixed part is 33 bytes");
_Static_assert(RTCP_CM_REP_FIXED == 32, "REP fixed part is 32 bytes");
_Static_assert(RTCP_CM_REJ_FIXED == 4, "REJ fixed part is 4 bytes");
_Static_assert(RTCP_CM_SIDR_REQ_FIXED == 20, "SIDR_REQ fixed part: 20 bytes");
_Static_assert(RTCP_CM_SIDR_REP_FIXED == 28, "SIDR_REP fixed part: 28 bytes");
_Static_assert(sizeof(struct rtcp_cm_rej) <= RTCP_CM_MAX_BODY &&
		       sizeof(struct rtcp_cm_req) <= RTCP_CM_MAX_BODY &&
		       sizeof(struct rtcp_cm_sidr_req) <= RTCP_CM_MAX_BODY &&
		       sizeof(struct rtcp_cm_sidr_rep) <= RTCP_CM_MAX_BODY,
	       "REP is the largest body");

/*
 * The codec (cm_msg.c), apart from sockets so that the fuzz target
 * (tests/fuzz/fuzz_cm.c) runs the very code the background thread runs.
 */
#define RTCP_CM_HDR_LEN sizeof(struct rtcp_cm_hdr)

/* Writes header and body of a message to out (RTCP_CM_HDR_LEN + len
 * bytes); len <= RTCP_CM_MAX_BODY. */
void rtcp_cm_encode(uint8_t *out, uint8_t type, const void *body, size_t len);

/*
 * Reading messages from a stream into a buffer of RTCP_CM_MAX_MSG bytes,
 * one message at a time; in[0, have) holds the one being read.
 */
enum rtcp_cm_parse_res {
	RTCP_CM_MORE,  /* incomplete: read rtcp_cm_want() more bytes */
	RTCP_CM_BAD,   /* bad magic, version or length: close */
	RTCP_CM_WHOLE, /* a whole message: *type, body at in + HDR_LEN */
};
enum rtcp_cm_parse_res rtcp_cm_parse(const uint8_t *in, size_t have,
				     uint8_t *type, size_t *body_len);
/* How many bytes to read next for RTCP_CM_MORE: > 0, never past the
 * message nor past the buffer. */
size_t rtcp_cm_want(const uint8_t *in, size_t have);

union rtcp_cm_body {
	struct rtcp_cm_req req;
	struct rtcp_cm_rep rep;
	struct rtcp_cm_rej rej;
	struct rtcp_cm_sidr_req sidr_req;
	struct rtcp_cm_sidr_rep sidr_rep;
};

/*
 * A message body checked against its type: 0 when its length is what the
 * type needs, -1 when not (or the type is unknown). *out gets the body's
 * bytes, zeros past them, whatever the result.
 */
int rtcp_cm_body_decode(uint8_t type, const uint8_t *body, size_t len,
			union rtcp_cm_body *out);

#endif
