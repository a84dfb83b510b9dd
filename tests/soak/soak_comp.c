// SPDX-License-Identifier: MIT
/*
 * The soak's completions. A send completion must be the head of its QP's
 * window (in order, once, the posted wr_id and opcode); READ and atomic
 * results are checked against what the peer's memory must hold. A receive
 * completion must be for a posted buffer (the head of the QP's own receive
 * queue, or any buffer of the QP's SRQ), and be the next message of the
 * sequence both sides derive: opcode, byte_len, immediate, every byte, and
 * the canaries around and after it (the buffer is larger than any message).
 */
#include <stdio.h>
#include <string.h>

#include "soak.h"

const char *kind_name(int kind)
{
	static const char *const n[K_NKINDS] = {
		"SEND",
		"SEND_IMM",
		"WRITE_IMM",
		"WRITE",
		"READBACK",
		"READ",
		"FETCH_ADD",
		"CMP_SWAP",
		"CREDIT_WRITE",
		"FINAL_REGION_READ",
		"FINAL_COUNTER_READ",
		"TAIL_WRITE",
	};

	return kind >= 0 && kind < K_NKINDS ? n[kind] : "?";
}

int post_recv(struct soak *s, unsigned bi)
{
	struct rbuf *b = &s->rb[bi];
	struct ibv_recv_wr wr = { .wr_id = bi }, *bad;
	struct ibv_sge sge[MAXSGE];
	size_t at = b->off + CAN;
	unsigned i;
	int rc;

	for (i = 0; i < b->npieces; i++) {
		sge[i].addr = (uintptr_t)(s->buf + at);
		sge[i].length = b->cap[i];
		sge[i].lkey = s->mr->lkey;
		at += b->cap[i] + GAP;
	}
	wr.sg_list = sge;
	wr.num_sge = b->npieces;
	if (b->srq) {
		rc = ibv_post_srq_recv(s->srqs[b->owner], &wr, &bad);
	} else {
		struct sqp *q = &s->qps[b->owner];

		rc = ibv_post_recv(q->qp, &wr, &bad);
		if (!rc)
			q->rq_ring[(q->rq_head + q->rq_n++) % 64] = bi;
	}
	if (rc) {
		violation(s, "post receive buffer %u: %s", bi, strerror(rc));
		s->st.bad++;
		return -1;
	}
	b->posted = true;
	return 0;
}

/*
 * A receive buffer holding a len-byte message (slice of P at poff): the
 * message's bytes, the canary before, between the pieces, at the end and
 * in a window of the unused tail (all of it when full). Restores the
 * canary over what the message wrote.
 */
size_t rbuf_check(struct soak *s, struct rbuf *b, uint32_t len, uint64_t poff,
		  bool full)
{
	size_t at = b->off, bad, left = len;
	bool tail = false;
	unsigned i;

	bad = check_canary(s, s->buf + at, at, CAN);
	at += CAN;
	for (i = 0; i < b->npieces; i++) {
		size_t d = left < b->cap[i] ? left : b->cap[i], w;

		if (i) {
			bad += check_canary(s, s->buf + at, at, GAP);
			at += GAP;
		}
		bad += check_pattern(s, s->buf + at, poff, d);
		poff += d;
		left -= d;
		w = b->cap[i] - d;
		if (!full && w > TAILWIN)
			w = TAILWIN;
		if (full || !tail)
			bad += check_canary(s, s->buf + at + d, at + d, w);
		tail = tail || d < b->cap[i];
		fill_canary(s, at, d);
		at += b->cap[i];
	}
	bad += check_canary(s, s->buf + at, at, CAN);
	if (bad)
		fill_canary(s, b->off, s->L.rbuf_sz);
	return bad;
}

static struct sqp *qp_of(struct soak *s, uint32_t qpn)
{
	unsigned i;

	for (i = s->q0; i < s->q1; i++)
		if (s->qps[i].qp->qp_num == qpn)
			return &s->qps[i];
	return NULL;
}

/* Gathers a READ's landing pieces into scratch; checks the canaries. */
static size_t landing_take(struct soak *s, struct sqp *q, struct swr *w)
{
	size_t lo = s->L.land + (size_t)q->idx * s->L.land_sz, at = lo + CAN;
	size_t bad = check_canary(s, s->buf + lo, lo, CAN), got = 0;
	unsigned i;

	for (i = 0; i < w->nsge; i++) {
		memcpy(s->scratch + got, s->buf + at, w->sge[i].length);
		fill_canary(s, at, w->sge[i].length);
		got += w->sge[i].length;
		at += w->sge[i].length;
		bad += check_canary(s, s->buf + at, at, GAP);
		at += GAP;
	}
	q->landing_busy = false;
	return bad;
}

static size_t check_atom_area(struct soak *s, struct sqp *q)
{
	size_t peer = s->L.atom + (size_t)q->idx * 64, bad;
	uint64_t fa, cs;

	bad = check_canary(s, s->scratch, peer, 16) +
	      check_canary(s, s->scratch + 32, peer + 32, 32);
	memcpy(&fa, s->scratch + 16, 8);
	memcpy(&cs, s->scratch + 24, 8);
	if (fa != q->fa_val || cs != q->cs_val) {
		violation(s,
			  "qp %d: counters in the peer fetch-add %#llx (want "
			  "%#llx) cmp-swap %#llx (want %#llx)",
			  q->idx, (unsigned long long)fa,
			  (unsigned long long)q->fa_val, (unsigned long long)cs,
			  (unsigned long long)q->cs_val);
		bad += 8;
	}
	return bad;
}

static size_t check_atomic(struct soak *s, struct sqp *q, struct swr *w)
{
	size_t at = s->L.res + ((size_t)q->idx * WMAX + w->slot) * 24;
	uint64_t got;
	size_t bad;

	memcpy(&got, s->buf + at + 8, 8);
	bad = check_canary(s, s->buf + at, at, 8) +
	      check_canary(s, s->buf + at + 16, at + 16, 8);
	if (got != w->expect) {
		violation(s, "qp %d seq %u %s returned %#llx, want %#llx",
			  q->idx, w->seq, kind_name(w->kind),
			  (unsigned long long)got,
			  (unsigned long long)w->expect);
		bad += 8;
	}
	fill_canary(s, at + 8, 8);
	return bad;
}

/* The bytes a successful WR brought back; returns the corrupt count. */
static size_t verify_send(struct soak *s, struct sqp *q, struct swr *w)
{
	size_t bad = 0;

	switch (w->kind) {
	case K_READBACK:
	case K_FINAL_REGION:
		bad = landing_take(s, q, w);
		bad += check_region(s, q, s->scratch, 0, w->len);
		q->region_busy = 0;
		break;
	case K_READ:
		bad = landing_take(s, q, w);
		bad += check_pattern(s, s->scratch, w->off, w->len);
		break;
	case K_FINAL_ATOM:
		bad = landing_take(s, q, w);
		bad += check_atom_area(s, q);
		q->final_stage = 3;
		break;
	case K_FA:
	case K_CS:
		bad = check_atomic(s, q, w);
		break;
	case K_CREDIT:
		q->credit_sent = w->expect;
		break;
	}
	return bad;
}

static const enum ibv_wc_opcode wc_op[K_NKINDS] = {
	[K_SEND] = IBV_WC_SEND,
	[K_SEND_IMM] = IBV_WC_SEND,
	[K_WRITE_IMM] = IBV_WC_RDMA_WRITE,
	[K_WRITE] = IBV_WC_RDMA_WRITE,
	[K_READBACK] = IBV_WC_RDMA_READ,
	[K_READ] = IBV_WC_RDMA_READ,
	[K_FA] = IBV_WC_FETCH_ADD,
	[K_CS] = IBV_WC_COMP_SWAP,
	[K_CREDIT] = IBV_WC_RDMA_WRITE,
	[K_FINAL_REGION] = IBV_WC_RDMA_READ,
	[K_FINAL_ATOM] = IBV_WC_RDMA_READ,
	[K_TAIL] = IBV_WC_RDMA_WRITE,
};

static void pop(struct sqp *q)
{
	struct swr *w = &q->ring[q->head];

	if (w->kind == K_CREDIT)
		q->credit_out = false;
	q->head = (q->head + 1) % WMAX;
	q->n--;
}

static void account(struct soak *s, struct sqp *q, struct swr *w)
{
	size_t bad = verify_send(s, q, w);

	if (bad) {
		violation(s,
			  "qp %d seq %u %s len %u: %zu bytes wrong, first at "
			  "%td of the landing data (%#x, want %#x)",
			  q->idx, w->seq, kind_name(w->kind), w->len, bad,
			  diff_ptr - s->scratch, diff_got, diff_want);
		s->st.corrupt += bad;
	}
	s->st.ops++;
	s->st.bytes += w->len;
}

/* An unsignaled WR is done when a later one on its QP completes. */
static void implicit_done(struct soak *s, struct sqp *q, struct swr *w)
{
	if (!q->dead)
		account(s, q, w);
}

/*
 * Finds the completed WR in the window; earlier unsignaled ones completed
 * with it, earlier signaled ones are lost.
 */
static struct swr *match_head(struct soak *s, struct sqp *q, uint32_t seq)
{
	unsigned i;

	for (i = 0; i < q->n; i++)
		if (q->ring[(q->head + i) % WMAX].seq == seq)
			break;
	if (i == q->n) {
		violation(s,
			  "qp %d: completion for seq %u, not outstanding "
			  "(duplicate or unknown)",
			  q->idx, seq);
		s->st.dup++;
		return NULL;
	}
	while (i--) {
		struct swr *w = &q->ring[q->head];

		if (w->unsig) {
			implicit_done(s, q, w);
		} else {
			violation(s,
				  "qp %d: seq %u (%s) skipped: seq %u "
				  "completed before it",
				  q->idx, w->seq, kind_name(w->kind), seq);
			s->st.lost++;
		}
		pop(q);
	}
	return &q->ring[q->head];
}

void on_send_wc(struct soak *s, struct ibv_wc *wc)
{
	unsigned qi = wc->wr_id >> 32;
	struct sqp *q = qi >= s->q0 && qi < s->q1 ? &s->qps[qi] : NULL;
	struct swr *w;

	s->st.scomp++;
	if (!q || wc->qp_num != q->qp->qp_num) {
		violation(s,
			  "send completion wr_id %#llx qp_num %u: no such WR",
			  (unsigned long long)wc->wr_id, wc->qp_num);
		s->st.bad++;
		return;
	}
	w = match_head(s, q, (uint32_t)wc->wr_id);
	if (!w)
		return;
	if (wc->status != IBV_WC_SUCCESS) {
		if (s->st.errors++ < 10 || wc->status != IBV_WC_WR_FLUSH_ERR)
			violation(s, "qp %d seq %u %s len %u: %s (vendor %u)",
				  q->idx, w->seq, kind_name(w->kind), w->len,
				  ibv_wc_status_str(wc->status),
				  wc->vendor_err);
		q->dead = true;
		pop(q);
		return;
	}
	if (wc->opcode != wc_op[w->kind] ||
	    (wc_op[w->kind] >= IBV_WC_RDMA_READ && wc->byte_len != w->len)) {
		violation(s,
			  "qp %d seq %u %s: opcode %d byte_len %u, want %d %u",
			  q->idx, w->seq, kind_name(w->kind), wc->opcode,
			  wc->byte_len, wc_op[w->kind], w->len);
		s->st.bad++;
	}
	if (w->unsig) {
		violation(s, "qp %d seq %u %s: completion of an unsignaled WR",
			  q->idx, w->seq, kind_name(w->kind));
		s->st.bad++;
	}
	account(s, q, w);
	pop(q);
}

/* The receive-queue side of a completion: the buffer must be posted. */
static bool recv_buffer_ok(struct soak *s, struct sqp *q, struct rbuf *b,
			   unsigned bi)
{
	if (!b->posted) {
		violation(s,
			  "qp %d: receive completion for buffer %u, not "
			  "posted (duplicate)",
			  q->idx, bi);
		s->st.dup++;
		return false;
	}
	b->posted = false;
	if (b->srq) {
		if (b->owner != q->srq) {
			violation(s, "qp %d (srq %d): buffer %u of srq %d",
				  q->idx, q->srq, bi, b->owner);
			s->st.bad++;
		}
		return true;
	}
	if (b->owner != q->idx || !q->rq_n || q->rq_ring[q->rq_head] != bi) {
		violation(s, "qp %d: receive buffer %u completed, want %d",
			  q->idx, bi,
			  q->rq_n ? (int)q->rq_ring[q->rq_head] : -1);
		s->st.bad++;
		return true;
	}
	q->rq_head = (q->rq_head + 1) % 64;
	q->rq_n--;
	return true;
}

static size_t check_message(struct soak *s, struct sqp *q, struct rbuf *b,
			    struct ibv_wc *wc, struct msg *m)
{
	size_t reg = s->L.reg + (size_t)q->idx * s->L.reg_sz, bad;
	bool imm = m->kind != K_SEND;
	enum ibv_wc_opcode op = m->kind == K_WRITE_IMM
					? IBV_WC_RECV_RDMA_WITH_IMM
					: IBV_WC_RECV;

	if (wc->opcode != op || wc->byte_len != m->len ||
	    !!(wc->wc_flags & IBV_WC_WITH_IMM) != imm ||
	    (imm && wc->imm_data != m->imm)) {
		violation(s,
			  "qp %d message %llu (%s len %u imm %#x): opcode %d "
			  "byte_len %u flags %#x imm %#x",
			  q->idx, (unsigned long long)q->k_recv,
			  kind_name(m->kind), m->len, m->imm, wc->opcode,
			  wc->byte_len, wc->wc_flags, wc->imm_data);
		s->st.bad++;
	}
	if (m->kind != K_WRITE_IMM)
		return rbuf_check(s, b, m->len, m->off, false);
	/* a WRITE_WITH_IMM leaves the receive buffer as it was */
	bad = rbuf_check(s, b, 0, 0, false);
	bad += check_canary(s, s->buf + reg, reg, CAN);
	bad += check_pattern(s, s->buf + reg + CAN, m->off, m->len);
	return bad;
}

void on_recv_wc(struct soak *s, struct ibv_wc *wc)
{
	struct sqp *q = qp_of(s, wc->qp_num);
	unsigned bi = (unsigned)wc->wr_id;
	struct rbuf *b;
	struct msg m;
	size_t bad;

	s->st.rcomp++;
	if (!q || wc->wr_id >= s->nrb) {
		violation(s,
			  "receive completion wr_id %#llx qp_num %u: unknown",
			  (unsigned long long)wc->wr_id, wc->qp_num);
		s->st.bad++;
		return;
	}
	b = &s->rb[bi];
	if (!recv_buffer_ok(s, q, b, bi))
		return;
	if (wc->status != IBV_WC_SUCCESS) {
		if (s->st.errors++ < 10 || wc->status != IBV_WC_WR_FLUSH_ERR)
			violation(s, "qp %d receive buffer %u: %s (vendor %u)",
				  q->idx, bi, ibv_wc_status_str(wc->status),
				  wc->vendor_err);
		q->dead = true;
		return;
	}
	msg_params(s, !s->role, q->idx, q->k_recv, &m);
	bad = check_message(s, q, b, wc, &m);
	if (bad) {
		violation(s,
			  "qp %d message %llu %s len %u: %zu bytes wrong, "
			  "first at %td of receive buffer %u (pieces %u %u %u) "
			  "or %td of the region (%#x, want %#x)",
			  q->idx, (unsigned long long)q->k_recv,
			  kind_name(m.kind), m.len, bad,
			  diff_ptr - (s->buf + b->off), bi, b->cap[0],
			  b->cap[1], b->cap[2],
			  diff_ptr - (s->buf + s->L.reg +
				      (size_t)q->idx * s->L.reg_sz),
			  diff_got, diff_want);
		s->st.corrupt += bad;
	}
	q->k_recv++;
	if (!post_recv(s, bi))
		q->credit_given++;
}
