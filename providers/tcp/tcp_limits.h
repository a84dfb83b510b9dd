/* SPDX-License-Identifier: MIT */
/*
 * Device limits reported by query_device and enforced by every verb.
 * Values follow soft-RoCE's orders of magnitude; what a QP costs here is a
 * socket and its rings, so the QP count is bounded by file descriptors.
 */
#ifndef RDMA_TCP_LIMITS_H
#define RDMA_TCP_LIMITS_H

#define TCP_MAX_QP	    16384
#define TCP_MAX_QP_WR	    16384
#define TCP_MAX_SGE	    32
#define TCP_MAX_SGE_RD	    32
#define TCP_MAX_INLINE	    1024
#define TCP_MAX_CQ	    16384
#define TCP_MAX_CQE	    ((1 << 20) - 1)
#define TCP_MAX_MR	    524288
#define TCP_MAX_MW	    65536
#define TCP_MAX_PD	    65536
#define TCP_MAX_QP_RD_ATOM  128
#define TCP_MAX_RES_RD_ATOM (TCP_MAX_QP_RD_ATOM * TCP_MAX_QP)
#define TCP_MAX_SRQ	    8192
#define TCP_MAX_SRQ_WR	    16384
#define TCP_MAX_SRQ_SGE	    32
#define TCP_MAX_AH	    65536
#define TCP_MAX_MSG_SZ	    (1u << 31) /* 2 GiB per message */
/* a longer message travels as frames of at most this many bytes (seg.c) */
#define TCP_TX_SEG (256u * 1024)
/* ...and its requests as frames of this many while the peer waits for
 * READ or atomic responses: for TCP_TX_SHORT_BATCHES batches after one
 * was queued (qp_tx.c, tx_seg) */
#define TCP_TX_SEG_SHORT     (64u * 1024)
#define TCP_TX_SHORT_BATCHES 64
#define TCP_GID_TBL_LEN	     16
/* UD multicast (ud_mcast.c): a socket per QP and group; the kernel, not
 * the provider, bounds groups and members -- these are what is promised
 * (rxe's max_mcast_qp_attach is 56, total 0x70000) */
#define TCP_MAX_MCAST_GRP	      8192
#define TCP_MAX_MCAST_QP_ATTACH	      56
#define TCP_MAX_TOTAL_MCAST_QP_ATTACH 65536
#define TCP_VENDOR_ID		      0xffffff /* no IEEE OUI: rxe's "none" */
#define TCP_VENDOR_PART_ID	      0x7c70   /* "tcp" */
#define TCP_PAGE_SIZE_CAP	      0xfffff000u

#endif
