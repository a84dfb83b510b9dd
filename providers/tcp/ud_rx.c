// SPDX-License-Identifier: MIT
/*
 * UD receives (docs/design.md, "UD queue pairs"): datagrams are read in
 * batches into the QP's staging buffer, checked -- addressed to one of
 * the device's GIDs, a well-formed header for this QP, verified by
 * ud_sec.h, the QP's Q_Key, a receive posted -- and only then copied into
 * the receive after its 40-byte GRH area, which is filled as RoCE v2 fills
 * it (rxe_resp.c: the IPv4 header in its last 20 bytes, or the IPv6
 * header). Whatever fails is dropped and counted: UD is unreliable. Caller
 * holds qp->lock.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "debug.h"
#include "stat.h"
#include "transport.h"
#include "ud.h"

/* cmsg room per datagram: PKTINFO of both families, TTL/TOS, hop/tclass */
#define UD_CTL 192

/* What the kernel said about one datagram's IP header. */
struct ud_ip {
	uint8_t src[16], dst[16]; /* GIDs: IPv4 mapped */
	bool v4, have_dst;
	unsigned int ifindex; /* where it came in */
	uint8_t ttl, tos;
	uint32_t dlen; /* UDP payload bytes */
};

static void ud_cmsgs(struct msghdr *m, struct ud_ip *ip)
{
	struct cmsghdr *c;
	int v;

	for (c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memcpy(ip->dst, &pi.ipi6_addr, 16);
			ip->ifindex = pi.ipi6_ifindex;
			ip->have_dst = true;
		} else if (c->cmsg_level == IPPROTO_IPV6 &&
			   (c->cmsg_type == IPV6_HOPLIMIT ||
			    c->cmsg_type == IPV6_TCLASS) &&
			   !ip->v4) {
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			if (c->cmsg_type == IPV6_HOPLIMIT)
				ip->ttl = v;
			else
				ip->tos = v;
		} else if (c->cmsg_level == IPPROTO_IP &&
			   c->cmsg_type == IP_PKTINFO && !ip->have_dst) {
			struct in_pktinfo pi;

			/* (an IPv4 socket's: a multicast group's) */
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memset(ip->dst, 0, 10);
			ip->dst[10] = ip->dst[11] = 0xff;
			memcpy(ip->dst + 12, &pi.ipi_addr, 4);
			ip->ifindex = pi.ipi_ifindex;
			ip->have_dst = true;
		} else if (c->cmsg_level == IPPROTO_IP &&
			   c->cmsg_type == IP_TTL) {
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			ip->ttl = v;
		} else if (c->cmsg_level == IPPROTO_IP &&
			   c->cmsg_type == IP_TOS) {
			ip->tos = *(uint8_t *)CMSG_DATA(c);
		}
	}
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

/*
 * The GRH area as a RoCE v2 device leaves it: for IPv4, 20 zero bytes and
 * the IPv4 header (with its checksum: libibverbs' ibv_init_ah_from_wc
 * tells the two apart by it); for IPv6, the IPv6 header. No options, no
 * fragment id: what the application reads are the addresses, TTL (hop
 * limit) and TOS (traffic class), all from the datagram's own header.
 */
static void ud_grh(uint8_t g[TCP_UD_GRH], const struct ud_ip *ip)
{
	uint32_t sum = 0;
	uint8_t *h = g + 20;
	int i;

	memset(g, 0, TCP_UD_GRH);
	if (!ip->v4) {
		g[0] = 0x60 | ip->tos >> 4;
		g[1] = (uint8_t)(ip->tos << 4);
		put16(g + 4, 8 + ip->dlen);
		g[6] = IPPROTO_UDP;
		g[7] = ip->ttl;
		memcpy(g + 8, ip->src, 16);
		memcpy(g + 24, ip->dst, 16);
		return;
	}
	h[0] = 0x45;
	h[1] = ip->tos;
	put16(h + 2, 20 + 8 + ip->dlen);
	h[6] = 0x40; /* DF */
	h[8] = ip->ttl;
	h[9] = IPPROTO_UDP;
	memcpy(h + 12, ip->src + 12, 4);
	memcpy(h + 16, ip->dst + 12, 4);
	for (i = 0; i < 20; i += 2)
		sum += (uint32_t)h[i] << 8 | h[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(h + 10, ~sum & 0xffff);
}

/* Copies src into the receive's resolved buffers, from offset off. */
static void ud_scatter(struct tcp_qp *qp, uint32_t off, const uint8_t *src,
		       uint32_t len)
{
	const struct tcp_recv_wqe *w = &qp->rx.rwqe;
	uint32_t i, n;

	for (i = 0; i < w->nseg && len; i++) {
		if (off >= w->seg[i].len) {
			off -= w->seg[i].len;
			continue;
		}
		n = w->seg[i].len - off < len ? w->seg[i].len - off : len;
		memcpy(w->seg[i].addr + off, src, n);
		src += n;
		len -= n;
		off = 0;
	}
}

/*
 * RoCE v2 packet type in the completion's SL, as mlx5 reports it for a UD
 * receive (bit 3: UDP encapsulated; bits 2:0: L3 header, 1 IPv6, 2 IPv4).
 * UCX's ud_verbs reads it to find the destination address in the GRH
 * (last 4 bytes for IPv4, last 16 for IPv6) and drops what does not name
 * one of its GIDs (UCX_UD_VERBS_ETH_DGID_CHECK, on by default).
 */
#define UD_WC_SL_UDP  0x8
#define UD_WC_SL_IPV6 0x1
#define UD_WC_SL_IPV4 0x2

static void ud_recv_wc(struct tcp_qp *qp, const struct rtcp_ud_hdr *h,
		       const struct ud_ip *ip, enum ibv_wc_status st)
{
	struct ibv_wc wc = { .wr_id = qp->rx.rwqe.wr_id,
			     .status = st,
			     .opcode = IBV_WC_RECV,
			     .qp_num = qp->vqp.qp.qp_num };

	qp->rx.has_rwqe = false;
	if (st == IBV_WC_SUCCESS) {
		wc.byte_len = TCP_UD_GRH + h->len;
		wc.src_qp = h->src_qpn;
		wc.wc_flags = IBV_WC_GRH;
		wc.sl = UD_WC_SL_UDP | (ip->v4 ? UD_WC_SL_IPV4 : UD_WC_SL_IPV6);
		if (h->opcode == RTCP_UD_SEND_IMM) {
			wc.wc_flags |= IBV_WC_WITH_IMM;
			wc.imm_data = h->imm;
		}
	}
	tcp_stat_add(
		qp->stat,
		st == IBV_WC_SUCCESS ? RTCP_STAT_UD_RECV : RTCP_STAT_ERR_WC, 1);
	tcp_stat_add(qp->stat, RTCP_STAT_RECV_BYTES, h->len);
	tcp_cq_push(qp->rcq, &wc, h->flags & RTCP_UD_F_SOLICITED);
}

/* A datagram dropped: counted by reason (ud.h) and in the QP's stat. */
static void ud_drop(struct tcp_qp *qp, uint64_t *reason, const char *why)
{
	(*reason)++;
	tcp_stat_add(qp->stat, RTCP_STAT_UD_DROPPED, 1);
	TCP_DBG_QP(RTCP_DBG_FRAME, qp, "datagram dropped: %s", why);
}

/* The verified datagram into a receive, or dropped as rxe drops it. */
static void ud_place(struct tcp_qp *qp, const struct rtcp_ud_hdr *h,
		     const uint8_t *payload, const struct ud_ip *ip)
{
	struct ibv_sge sg[TCP_MAX_SGE];
	uint8_t grh[TCP_UD_GRH];
	enum ibv_wc_status st;
	uint32_t i, total;

	if (!tcp_rx_take_rwqe(qp)) {
		ud_drop(qp, &qp->ud->drop_norecv, "no receive posted");
		return;
	}
	for (i = 0; i < qp->rx.rwqe.nseg; i++) {
		sg[i].addr = (uintptr_t)qp->rx.rwqe.seg[i].addr;
		sg[i].length = qp->rx.rwqe.seg[i].len;
		sg[i].lkey = qp->rx.rwqe.seg[i].lkey;
	}
	/* an SRQ's receives belong to the SRQ's PD */
	st = tcp_resolve_sges(qp->ctx, qp->srq ? qp->srq->pd : qp->pd, sg,
			      qp->rx.rwqe.nseg, true, qp->rx.rwqe.seg, &total);
	if (st != IBV_WC_SUCCESS) {
		/* rxe: a malformed receive is a class A error */
		ud_recv_wc(qp, h, ip, st);
		tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
		return;
	}
	if (total < TCP_UD_GRH + h->len) {
		/*
		 * rxe (RESPST_ERR_LENGTH): an SRQ's receive completes with
		 * REM_INV_REQ_ERR (class E); the QP's own stays posted and
		 * the message is dropped (class D).
		 */
		ud_drop(qp, &qp->ud->drop_len, "longer than the receive");
		if (qp->srq) {
			ud_recv_wc(qp, h, ip, IBV_WC_REM_INV_REQ_ERR);
		} else {
			qp->rq.tail--;
			qp->rx.has_rwqe = false;
		}
		return;
	}
	ud_grh(grh, ip);
	ud_scatter(qp, 0, grh, TCP_UD_GRH);
	ud_scatter(qp, TCP_UD_GRH, payload, h->len);
	ud_recv_wc(qp, h, ip, IBV_WC_SUCCESS);
}

/* The sender's address as a GID (IPv4 mapped); false if none. */
static bool ud_source(const struct msghdr *m, struct ud_ip *ip)
{
	const struct sockaddr_in6 *s6 = m->msg_name;
	const struct sockaddr_in *s4 = m->msg_name;

	if (m->msg_namelen == sizeof(*s6) && s6->sin6_family == AF_INET6) {
		memcpy(ip->src, &s6->sin6_addr, 16);
		ip->v4 = IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr);
		return true;
	}
	if (m->msg_namelen == sizeof(*s4) && s4->sin_family == AF_INET) {
		memset(ip->src, 0, 10);
		ip->src[10] = ip->src[11] = 0xff;
		memcpy(ip->src + 12, &s4->sin_addr, 4);
		ip->v4 = true;
		return true;
	}
	return false;
}

/*
 * Was the datagram for this QP: sent to one of the device's GIDs and
 * naming the QP, or (mgid) sent to a group the QP joined, to every member,
 * on the device's netdev (the group's socket would also get what another
 * program's membership on another interface lets in).
 */
static bool ud_for_us(struct tcp_qp *qp, const struct ud_ip *ip,
		      const struct rtcp_ud_hdr *h, const union ibv_gid *mgid)
{
	if (mgid)
		return !memcmp(ip->dst, mgid->raw, 16) &&
		       ip->ifindex == qp->ud->ifindex &&
		       h->dst_qpn == RTCP_UD_MCAST_QPN;
	return tcp_ud_addr_ok(qp, ip->dst) && h->dst_qpn == qp->vqp.qp.qp_num;
}

/* One datagram of len bytes at d: every check, then ud_place. */
static void ud_datagram(struct tcp_qp *qp, uint8_t *d, uint32_t len,
			struct msghdr *m, const union ibv_gid *mgid)
{
	struct tcp_ud *ud = qp->ud;
	struct rtcp_ud_hdr h;
	struct ud_ip ip = { .ttl = 64 };

	if (qp->state != IBV_QPS_RTR && qp->state != IBV_QPS_RTS &&
	    qp->state != IBV_QPS_SQD && qp->state != IBV_QPS_SQE) {
		ud_drop(qp, &ud->drop_state, "QP not ready to receive");
		return;
	}
	ip.dlen = len;
	if ((m->msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || !ud_source(m, &ip)) {
		ud_drop(qp, &ud->drop_bad, "truncated, or no source");
		return;
	}
	ud_cmsgs(m, &ip);
	/* a QPN has 24 bits: a completion never names a larger one */
	if (!ip.have_dst || rtcp_ud_decode(d, len, ud->mtu, &h) != RTCP_OK ||
	    h.src_qpn > 0xffffff || !ud_for_us(qp, &ip, &h, mgid) ||
	    tcp_ud_open(&ud->rx, &h, d, d + RTCP_UD_HDR_LEN, h.len,
			d + RTCP_UD_HDR_LEN + h.len)) {
		ud_drop(qp, &ud->drop_bad,
			"malformed, not for this QP, or failed verification");
		return;
	}
	if (h.qkey != qp->attr.qkey) {
		ud_drop(qp, &ud->drop_qkey, "Q_Key mismatch");
		return;
	}
	ud_place(qp, &h, d + RTCP_UD_HDR_LEN, &ip);
}

/*
 * How many datagrams a recvmmsg may take. A QP with its own receive queue
 * takes no more than it has receives for: the rest wait in the socket
 * (SO_RCVBUF bounds them, the kernel drops beyond), where a receive posted
 * a moment later still finds them -- on a 2-core host a polling receiver
 * is often descheduled while its sender runs, and a NIC's line-rate
 * receive path has no such gaps. An SRQ is shared: its datagrams are
 * read, and dropped when it is empty, as rxe drops them. A QP that cannot
 * receive reads everything and drops it.
 */
static int ud_room(struct tcp_qp *qp, bool mcast)
{
	uint32_t n = qp->rq.head - qp->rq.tail;

	if (qp->srq || mcast ||
	    (qp->state != IBV_QPS_RTR && qp->state != IBV_QPS_RTS &&
	     qp->state != IBV_QPS_SQD && qp->state != IBV_QPS_SQE))
		return TCP_UD_BATCH;
	return n < TCP_UD_BATCH ? (int)n : TCP_UD_BATCH;
}

/* The engine stops (or starts again) watching the socket. */
static void ud_rx_wait(struct tcp_qp *qp, bool on)
{
	if (qp->ud->rx_wait == on || qp->ud->fd < 0)
		return;
	qp->ud->rx_wait = on;
	tcp_engine_rewatch(qp->ctx, qp->ud->fd, &qp->conn.poll.p,
			   tcp_qp_events(qp));
}

void tcp_ud_recv_posted(struct tcp_qp *qp)
{
	tcp_assert_held(&qp->lock);
	if (!qp->ud->rx_wait)
		return;
	ud_rx_wait(qp, false);
	tcp_ud_rx(qp); /* what waited in the socket, now */
}

void tcp_ud_rx(struct tcp_qp *qp)
{
	tcp_ud_rx_fd(qp, qp->ud->fd, NULL);
}

void tcp_ud_rx_fd(struct tcp_qp *qp, int fd, const union ibv_gid *mgid)
{
	struct tcp_ud *ud = qp->ud;
	struct mmsghdr mm[TCP_UD_BATCH];
	struct iovec iov[TCP_UD_BATCH];
	struct sockaddr_storage from[TCP_UD_BATCH];
	union {
		char buf[UD_CTL];
		struct cmsghdr align;
	} ctl[TCP_UD_BATCH];
	int pass, i, n, room;

	tcp_assert_held(&qp->lock);
	for (pass = 0; fd >= 0 && pass < TCP_UD_PASSES; pass++) {
		/* (a group's socket is read and dropped from as an SRQ's) */
		room = ud_room(qp, mgid);
		if (!room) {
			ud_rx_wait(qp, true);
			break;
		}
		memset(mm, 0, sizeof(mm));
		for (i = 0; i < TCP_UD_BATCH; i++) {
			iov[i].iov_base = ud->buf + (size_t)i * TCP_UD_DGRAM;
			iov[i].iov_len = TCP_UD_DGRAM;
			mm[i].msg_hdr.msg_name = &from[i];
			mm[i].msg_hdr.msg_namelen = sizeof(from[i]);
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
			mm[i].msg_hdr.msg_control = ctl[i].buf;
			mm[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
		}
		n = recvmmsg(fd, mm, room, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		for (i = 0; i < n; i++) {
			qp->prog.io_rx += mm[i].msg_len;
			ud_datagram(qp, iov[i].iov_base, mm[i].msg_len,
				    &mm[i].msg_hdr, mgid);
		}
		if (n < room)
			break;
	}
}
