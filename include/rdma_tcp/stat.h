/* SPDX-License-Identifier: MIT */
/*
 * The statistics channel between the provider, `rdma-tcp stat` and the
 * device's daemon (docs/design.md, "Statistics"): every open context maps
 * one file, ROOT/run/stat/PID-N (mode 0600), holding a header and
 * RTCP_STAT_SLOTS per-QP slots. The provider adds to the counters with
 * relaxed atomics; readers copy them without a lock. A destroyed QP's
 * counters are added to the header's `retired` first, and a closed
 * context's file stays, marked `closed`, until the device's daemon has
 * added its totals to the device's (ports/1/hw_counters) and removed it;
 * so does the file of a process that died without closing.
 */
#ifndef RDMA_TCP_STAT_H
#define RDMA_TCP_STAT_H

#include <stdint.h>

#define RTCP_STAT_DIR	  "run/stat"  /* below ROOT */
#define RTCP_STAT_MAGIC	  0x52544353u /* "RTCS" */
#define RTCP_STAT_VERSION 2
#define RTCP_STAT_SLOTS	  256 /* QPs past this many are not published */

enum rtcp_stat_ctr {
	RTCP_STAT_SEND_OPS, /* requester, every WR retired (signaled or not) */
	RTCP_STAT_SEND_BYTES,
	RTCP_STAT_WRITE_OPS,
	RTCP_STAT_WRITE_BYTES,
	RTCP_STAT_READ_OPS,
	RTCP_STAT_READ_BYTES,
	RTCP_STAT_ATOMIC_OPS,
	RTCP_STAT_RECV_OPS, /* receive completions (RECV, RECV_RDMA_WITH_IMM) */
	RTCP_STAT_RECV_BYTES,
	RTCP_STAT_ERR_WC, /* completions with a status other than success */
	RTCP_STAT_UD_SENT,
	RTCP_STAT_UD_RECV,
	RTCP_STAT_UD_DROPPED, /* datagrams dropped, in or out (ud.h reasons) */
	RTCP_STAT_RNR_WAITS, /* RNR NAKs taken, and waits for receive credits */
	RTCP_STAT_REJECTED,  /* frames that failed verification (psp) */
	/* target (responder) side: what peers did to this process's regions,
	 * counted when the data is placed or the request taken */
	RTCP_STAT_TGT_WRITE_OPS, /* RDMA WRITE (with immediate) placed */
	RTCP_STAT_TGT_WRITE_BYTES,
	RTCP_STAT_TGT_READ_OPS, /* RDMA READ requests served */
	RTCP_STAT_TGT_READ_BYTES,
	RTCP_STAT_TGT_ATOMIC_OPS, /* compare-and-swap, fetch-add, atomic write */
	RTCP_STAT_N
};

struct rtcp_stat_slot {
	uint32_t qpn;	  /* 0: free (QPN 0 is never handed out) */
	uint32_t qp_type; /* enum ibv_qp_type */
	char dev[16];	  /* the device's name */
	/* the RC/UC connection's socket (sockaddr_in6, zeros before it
	 * connects): rdma-tcp stat finds it with sock_diag by these */
	uint8_t laddr[28], raddr[28];
	uint64_t ctr[RTCP_STAT_N];
};

struct rtcp_stat_file {
	uint32_t magic, version;
	uint32_t pid, nslots;
	char dev[16];	 /* the context's device */
	uint32_t closed; /* 1: ibv_close_device ran, nothing changes any more */
	uint32_t pad;
	/*
	 * Each move of a destroyed QP's counters into retired[] is bracketed:
	 * fold_begin++ before, fold_end++ after. A copy of the file is whole
	 * (no QP counted twice or not at all) if fold_end read before the copy
	 * equals fold_begin read after it.
	 */
	uint64_t fold_begin, fold_end;
	uint64_t retired[RTCP_STAT_N]; /* the context's destroyed QPs' */
	struct rtcp_stat_slot slot[RTCP_STAT_SLOTS];
};

#endif
