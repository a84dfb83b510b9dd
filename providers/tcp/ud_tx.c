// SPDX-License-Identifier: MIT
/*
 * UD sends (docs/design.md, "UD queue pairs"): each WR is one datagram,
 * sent by the posting thread with one sendmsg -- header, the WR's memory
 * (or ciphertext) and the tag -- and complete once the kernel has it, as a
 * NIC completes a UD send once it is on the wire. Caller holds qp->lock.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>

#include "debug.h"
#include "stat.h"
#include "transport.h"
#include "ud.h"

/* IB spec: a remote Q_Key with the high bit set means the QP's own */
#define UD_QKEY_PRIV 0x80000000u

int tcp_ud_check_send(struct tcp_qp *qp, const struct ibv_send_wr *wr)
{
	uint64_t total = 0;
	struct ibv_ah *ah = wr->wr.ud.ah;
	int i;

	if ((wr->opcode != IBV_WR_SEND && wr->opcode != IBV_WR_SEND_WITH_IMM) ||
	    wr->num_sge < 0 || (uint32_t)wr->num_sge > qp->cap.max_send_sge ||
	    (wr->num_sge && !wr->sg_list))
		return EINVAL;
	if (wr->send_flags & ~(IBV_SEND_FENCE | IBV_SEND_SIGNALED |
			       IBV_SEND_SOLICITED | IBV_SEND_INLINE))
		return EINVAL;
	for (i = 0; i < wr->num_sge; i++)
		total += wr->sg_list[i].length;
	if ((wr->send_flags & IBV_SEND_INLINE) &&
	    total > qp->cap.max_inline_data)
		return EINVAL;
	/* an AH of this context, alive (the kernel's handle lookup) */
	if (!ah || wr->wr.ud.remote_qpn > 0xffffff ||
	    !tcp_obj_ok(&to_tah(ah)->id, qp->vqp.qp.context, ah->handle))
		return EINVAL;
	return 0;
}

static void ud_send_wc(struct tcp_qp *qp, const struct ibv_send_wr *wr,
		       uint32_t len, enum ibv_wc_status st)
{
	struct ibv_wc wc = { .wr_id = wr->wr_id,
			     .status = st,
			     .opcode = IBV_WC_SEND,
			     .byte_len = len,
			     .qp_num = qp->vqp.qp.qp_num };

	tcp_stat_add(
		qp->stat,
		st == IBV_WC_SUCCESS ? RTCP_STAT_UD_SENT : RTCP_STAT_ERR_WC, 1);
	tcp_stat_add(qp->stat, RTCP_STAT_SEND_BYTES, len);
	if (st == IBV_WC_SUCCESS && !(wr->send_flags & IBV_SEND_SIGNALED) &&
	    !qp->sq_sig_all)
		return;
	tcp_cq_push(qp->scq, &wc, false);
}

/* The WR's payload as iovecs: the application's memory, lkeys checked. */
static enum ibv_wc_status ud_payload(struct tcp_qp *qp,
				     const struct ibv_send_wr *wr,
				     struct iovec *iov, int *niov,
				     uint32_t *len)
{
	struct tcp_seg seg[TCP_MAX_SGE];
	enum ibv_wc_status st = IBV_WC_SUCCESS;
	int i;

	*len = 0;
	*niov = 0;
	if (!(wr->send_flags & IBV_SEND_INLINE)) {
		st = tcp_resolve_sges(qp->ctx, qp->pd, wr->sg_list, wr->num_sge,
				      false, seg, len);
		for (i = 0; st == IBV_WC_SUCCESS && i < wr->num_sge; i++) {
			if (!seg[i].len)
				continue;
			iov[*niov].iov_base = seg[i].addr;
			iov[(*niov)++].iov_len = seg[i].len;
		}
		return st;
	}
	/* inline: sent before the post returns, so straight from the
	 * application's buffers (an empty SGE may name no memory) */
	for (i = 0; i < wr->num_sge; i++) {
		if (!wr->sg_list[i].length)
			continue;
		iov[*niov].iov_base = (void *)(uintptr_t)wr->sg_list[i].addr;
		iov[(*niov)++].iov_len = wr->sg_list[i].length;
		*len += wr->sg_list[i].length;
	}
	return st;
}

static struct cmsghdr *ud_cmsg_int(struct cmsghdr *cm, int level, int type,
				   int v)
{
	cm->cmsg_level = level;
	cm->cmsg_type = type;
	cm->cmsg_len = CMSG_LEN(sizeof(v));
	memcpy(CMSG_DATA(cm), &v, sizeof(v));
	return (struct cmsghdr *)((char *)cm + CMSG_SPACE(sizeof(v)));
}

/*
 * The AH's traffic class and hop limit as the datagram's TOS and TTL (IPv4)
 * or traffic class and hop limit (IPv6), as rxe builds its IP header from
 * them. A hop limit of 0 (an AH the application left zeroed) keeps the
 * host's default, and multicast always leaves with TTL 1 (ud_mcast.c).
 * Returns the control bytes used after the PKTINFO.
 */
static size_t ud_ttl_tos(const struct tcp_ah *ah, struct cmsghdr *cm)
{
	bool v4 = tcp_gid_is_v4(&ah->attr.grh.dgid);
	struct cmsghdr *c = cm;

	if (ah->attr.grh.hop_limit && !tcp_ud_gid_mcast(&ah->attr.grh.dgid))
		c = ud_cmsg_int(c, v4 ? IPPROTO_IP : IPPROTO_IPV6,
				v4 ? IP_TTL : IPV6_HOPLIMIT,
				ah->attr.grh.hop_limit);
	c = ud_cmsg_int(c, v4 ? IPPROTO_IP : IPPROTO_IPV6,
			v4 ? IP_TOS : IPV6_TCLASS, ah->attr.grh.traffic_class);
	return (char *)c - (char *)cm;
}

/* Where the datagram goes (the AH's dgid, the QPN's port), and from. */
static socklen_t ud_dest(struct tcp_qp *qp, const struct ibv_send_wr *wr,
			 struct sockaddr_in6 *to, struct msghdr *m)
{
	struct cmsghdr *cm = m->msg_control;
	struct tcp_ah *ah = to_tah(wr->wr.ud.ah);
	struct in6_pktinfo pi = { .ipi6_ifindex = 0 };

	memset(to, 0, sizeof(*to));
	to->sin6_family = AF_INET6;
	/* a group's members all listen on one port (ud_mcast.c) */
	to->sin6_port = htons(tcp_ud_gid_mcast(&ah->attr.grh.dgid)
				      ? TCP_UD_MCAST_PORT
				      : wr->wr.ud.remote_qpn >> 8);
	memcpy(&to->sin6_addr, ah->attr.grh.dgid.raw, 16);
	if (IN6_IS_ADDR_LINKLOCAL(&to->sin6_addr))
		to->sin6_scope_id = qp->ud->ifindex;
	/* the source is the AH's sgid (IPv4 mapped on the dual-stack
	 * socket: the kernel takes it for the IPv4 source address) */
	memcpy(&pi.ipi6_addr, ah->sgid.raw, 16);
	if (IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
		pi.ipi6_ifindex = qp->ud->ifindex;
	cm->cmsg_level = IPPROTO_IPV6;
	cm->cmsg_type = IPV6_PKTINFO;
	cm->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	m->msg_controllen =
		CMSG_SPACE(sizeof(pi)) +
		ud_ttl_tos(ah, (struct cmsghdr *)((char *)cm +
						  CMSG_SPACE(sizeof(pi))));
	return sizeof(*to);
}

/*
 * One sendmsg. A full socket buffer (EAGAIN, ENOBUFS) gets one bounded
 * wait for room, then the datagram is dropped, as a NIC's port drops what
 * it cannot queue: the application is never blocked for longer, and UD
 * promises no delivery. Any other failure (no route, the source address
 * gone) drops it too. The send still completes successfully.
 */
static void ud_sendmsg(struct tcp_qp *qp, struct msghdr *m)
{
	struct pollfd pfd = { .fd = qp->ud->fd, .events = POLLOUT };

	if (sendmsg(qp->ud->fd, m, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		return;
	if ((errno == EAGAIN || errno == ENOBUFS) &&
	    poll(&pfd, 1, TCP_UD_SEND_WAIT_MS) > 0 &&
	    sendmsg(qp->ud->fd, m, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		return;
	qp->ud->drop_tx++;
	tcp_stat_add(qp->stat, RTCP_STAT_UD_DROPPED, 1);
	TCP_DBG_QP(RTCP_DBG_FRAME, qp, "datagram not sent: %s",
		   strerror(errno));
}

static void ud_send_one(struct tcp_qp *qp, const struct ibv_send_wr *wr)
{
	struct tcp_ud *ud = qp->ud;
	struct iovec pl[TCP_MAX_SGE], iov[TCP_MAX_SGE + 2];
	uint8_t hw[RTCP_UD_HDR_LEN], tag[RTCP_UD_TAG_LEN];
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
			 2 * CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct sockaddr_in6 to;
	struct rtcp_ud_hdr h = { 0 };
	struct msghdr m = { 0 };
	enum ibv_wc_status st;
	uint32_t len;
	int np, n = 0;

	st = ud_payload(qp, wr, pl, &np, &len);
	if (st != IBV_WC_SUCCESS) {
		ud_send_wc(qp, wr, 0, st);
		tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
		return;
	}
	/* IB C10-93.1.1: above the port's MTU, no packet and no error */
	if (len > ud->mtu) {
		ud_send_wc(qp, wr, len, IBV_WC_SUCCESS);
		return;
	}
	h.opcode = wr->opcode == IBV_WR_SEND_WITH_IMM ? RTCP_UD_SEND_IMM
						      : RTCP_UD_SEND;
	h.dst_qpn = wr->wr.ud.remote_qpn;
	h.src_qpn = qp->vqp.qp.qp_num;
	h.qkey = wr->wr.ud.remote_qkey & UD_QKEY_PRIV ? qp->attr.qkey
						      : wr->wr.ud.remote_qkey;
	if (h.opcode == RTCP_UD_SEND_IMM)
		memcpy(&h.imm, &wr->imm_data, 4);
	h.len = len;
	h.flags = wr->send_flags & IBV_SEND_SOLICITED ? RTCP_UD_F_SOLICITED : 0;
	if (tcp_ud_seal(&ud->tx, &h, hw, pl, np, len, ud->cipher, tag)) {
		ud_send_wc(qp, wr, len, IBV_WC_GENERAL_ERR);
		return;
	}
	iov[n].iov_base = hw;
	iov[n++].iov_len = sizeof(hw);
	if (h.mode == TCP_PSP_ENCRYPT && len) {
		iov[n].iov_base = ud->cipher;
		iov[n++].iov_len = len;
	} else {
		memcpy(&iov[n], pl, np * sizeof(*pl));
		n += np;
	}
	if (h.mode != TCP_PSP_OFF) {
		iov[n].iov_base = tag;
		iov[n++].iov_len = sizeof(tag);
	}
	m.msg_name = &to;
	memset(&ctl, 0, sizeof(ctl));
	m.msg_control = ctl.buf;
	m.msg_namelen = ud_dest(qp, wr, &to, &m);
	m.msg_iov = iov;
	m.msg_iovlen = n;
	ud_sendmsg(qp, &m);
	ud_send_wc(qp, wr, len, IBV_WC_SUCCESS);
}

int tcp_ud_post_send(struct tcp_qp *qp, struct ibv_send_wr *wr,
		     struct ibv_send_wr **bad)
{
	int err = 0;

	tcp_assert_held(&qp->lock);
	for (; wr; wr = wr->next) {
		if (!tcp_qp_takes_sends(qp)) {
			err = EINVAL;
			break;
		}
		err = tcp_ud_check_send(qp, wr);
		if (err)
			break;
		if (qp->state == IBV_QPS_ERR) {
			tcp_flush_wc(qp->scq, qp, wr->wr_id, IBV_WC_SEND,
				     IBV_WC_WR_FLUSH_ERR);
			continue;
		}
		ud_send_one(qp, wr);
	}
	if (err)
		*bad = wr;
	return err;
}
