// SPDX-License-Identifier: MIT
/*
 * The soak's requester: picks and posts work requests on a QP's send queue
 * (each side owns a window of WMAX per QP), and checks each completion
 * against the head of that QP's window: in order, exactly once, the right
 * opcode, and for READs and atomics the right bytes.
 *
 * Messages that consume a receive (SEND, SEND_WITH_IMM, WRITE_WITH_IMM)
 * follow a sequence both processes derive from the seed, so the receiver
 * knows the k-th message's opcode, length, immediate and bytes. The
 * receiver returns credit for each one it has checked and reposted (an
 * 8-byte inline WRITE to the requester's credit word), so no message ever
 * meets an empty receive queue. A plain WRITE is followed by a READ of the
 * whole written range and the canaries around it; the region is not
 * written again before that READ completed.
 */
#include <stdio.h>
#include <string.h>

#include "soak.h"

static uint64_t rnd(struct soak *s)
{
	s->rng = mix64(s->rng);
	return s->rng;
}

void msg_params(struct soak *s, int role, unsigned q, uint64_t k, struct msg *m)
{
	uint64_t r = h3(s->seed, ((uint64_t)role << 32) | q, k);
	unsigned t = r % 10;

	m->kind = t < 4 ? K_SEND : t < 7 ? K_SEND_IMM : K_WRITE_IMM;
	m->len = pick_len(h3(r, k, 1), s->max);
	m->off = h3(r, k, 2) % (s->L.plen - m->len + 1);
	m->imm = (uint32_t)(r >> 32);
}

uint64_t credit_word(struct soak *s, struct sqp *q)
{
	volatile uint64_t *w =
		(volatile uint64_t *)(s->buf + s->L.cred + q->idx * 64 + 16);
	uint64_t a, b;

	/* the peer's WRITE may be landing: take a value read twice alike */
	do {
		a = *w;
		b = *w;
	} while (a != b);
	return a;
}

static struct swr *ring_push(struct soak *s, struct sqp *q, int kind)
{
	struct swr *w = &q->ring[(q->head + q->n) % WMAX];

	memset(w, 0, sizeof(*w));
	w->seq = q->next_seq++;
	w->kind = kind;
	/*
	 * Selective signaling, as middleware does: some WRs unsignaled, never
	 * the one that fills the window (its completion frees the others).
	 */
	w->unsig = !s->all_signaled && kind <= K_CS && q->n + 1 < WMAX &&
		   (rnd(s) & 1);
	clock_gettime(CLOCK_MONOTONIC, &w->posted);
	q->n++;
	return w;
}

static int post(struct soak *s, struct sqp *q, struct ibv_send_wr *wr,
		unsigned nwr)
{
	struct ibv_send_wr *bad = NULL;
	int rc = ibv_post_send(q->qp, wr, &bad);

	if (rc) {
		violation(s, "qp %d: ibv_post_send failed: %s", q->idx,
			  strerror(rc));
		s->st.bad++;
		q->dead = true;
		return -1;
	}
	s->st.posted += nwr;
	return 0;
}

static void wr_init(struct ibv_send_wr *wr, struct sqp *q, struct swr *w,
		    enum ibv_wr_opcode op)
{
	memset(wr, 0, sizeof(*wr));
	wr->wr_id = ((uint64_t)q->idx << 32) | w->seq;
	wr->opcode = op;
	wr->send_flags = w->unsig ? 0 : IBV_SEND_SIGNALED;
	wr->sg_list = w->sge;
}

/* Up to MAXSGE pieces of n bytes starting at local offset off. */
static unsigned split(struct soak *s, struct ibv_sge *sge, size_t off,
		      uint32_t n, size_t gap)
{
	unsigned k = 1 + rnd(s) % MAXSGE, i;
	uint32_t left = n;

	if (!n)
		return 0;
	if (k > n)
		k = n;
	for (i = 0; i < k; i++) {
		uint32_t len =
			i == k - 1 ? left : 1 + rnd(s) % (left - (k - 1 - i));

		sge[i].addr = (uintptr_t)(s->buf + off);
		sge[i].length = len;
		sge[i].lkey = s->mr->lkey;
		off += len + gap;
		left -= len;
	}
	return k;
}

static void maybe_inline(struct soak *s, struct ibv_send_wr *wr, uint32_t n)
{
	if (n && n <= s->max_inline && (rnd(s) & 1))
		wr->send_flags |= IBV_SEND_INLINE;
}

static size_t region_off(struct soak *s, struct sqp *q)
{
	return s->L.reg + (size_t)q->idx * s->L.reg_sz;
}

static size_t land_off(struct soak *s, struct sqp *q)
{
	return s->L.land + (size_t)q->idx * s->L.land_sz;
}

/* A READ of n bytes at the peer's offset roff into this QP's landing. */
static void read_wr(struct soak *s, struct sqp *q, struct swr *w,
		    struct ibv_send_wr *wr, size_t roff, uint32_t n)
{
	w->len = n;
	w->nsge = split(s, w->sge, land_off(s, q) + CAN, n, GAP);
	wr_init(wr, q, w, IBV_WR_RDMA_READ);
	wr->num_sge = w->nsge;
	wr->wr.rdma.remote_addr = s->peer_base + roff;
	wr->wr.rdma.rkey = s->peer_rkey;
	q->landing_busy = true;
}

/* The next receive-consuming message, if credit (and its region) allow. */
static bool try_message(struct soak *s, struct sqp *q)
{
	struct ibv_send_wr wr;
	struct msg m;
	struct swr *w;
	static const enum ibv_wr_opcode op[] = {
		[K_SEND] = IBV_WR_SEND,
		[K_SEND_IMM] = IBV_WR_SEND_WITH_IMM,
		[K_WRITE_IMM] = IBV_WR_RDMA_WRITE_WITH_IMM,
	};

	if (q->k_sent >= q->share + s->over + credit_word(s, q))
		return false;
	msg_params(s, s->role, q->idx, q->k_sent, &m);
	if (m.kind == K_WRITE_IMM && q->region_busy)
		return false;
	w = ring_push(s, q, m.kind);
	w->len = m.len;
	w->off = m.off;
	w->nsge = split(s, w->sge, s->L.p + m.off, m.len, 0);
	wr_init(&wr, q, w, op[m.kind]);
	wr.num_sge = w->nsge;
	wr.imm_data = m.imm;
	maybe_inline(s, &wr, m.len);
	if (m.kind == K_WRITE_IMM) {
		wr.wr.rdma.remote_addr = s->peer_base + region_off(s, q) + CAN;
		wr.wr.rdma.rkey = s->peer_rkey;
		hist_push(q, m.len, m.off);
		q->region_busy = K_WRITE_IMM;
		q->region_k = q->k_sent;
	}
	q->k_sent++;
	return !post(s, q, &wr, 1);
}

/* A WRITE into the peer's region, chained with the READ that checks it. */
static bool try_write(struct soak *s, struct sqp *q)
{
	struct ibv_send_wr wr[2];
	uint32_t len = pick_len(rnd(s), s->max);
	uint64_t off = rnd(s) % (s->L.plen - len + 1);
	struct swr *w;

	if (q->region_busy || q->landing_busy || q->n + 2 > WMAX)
		return false;
	w = ring_push(s, q, K_WRITE);
	w->len = len;
	w->nsge = split(s, w->sge, s->L.p + off, len, 0);
	wr_init(&wr[0], q, w, IBV_WR_RDMA_WRITE);
	wr[0].num_sge = w->nsge;
	wr[0].wr.rdma.remote_addr = s->peer_base + region_off(s, q) + CAN;
	wr[0].wr.rdma.rkey = s->peer_rkey;
	maybe_inline(s, &wr[0], len);
	hist_push(q, len, off);
	q->region_busy = K_WRITE;
	w = ring_push(s, q, K_READBACK);
	read_wr(s, q, w, &wr[1], region_off(s, q), CAN + len + CAN);
	wr[0].next = &wr[1];
	return !post(s, q, wr, 2);
}

/* A READ of a random slice of the peer's copy of the pattern. */
static bool try_read(struct soak *s, struct sqp *q)
{
	struct ibv_send_wr wr;
	uint32_t len = pick_len(rnd(s), s->max);
	struct swr *w;

	if (q->landing_busy)
		return false;
	w = ring_push(s, q, K_READ);
	w->off = rnd(s) % (s->L.plen - len + 1);
	read_wr(s, q, w, &wr, s->L.p + w->off, len);
	return !post(s, q, &wr, 1);
}

/*
 * Fetch-add or compare-swap on this side's counters in the peer: only this
 * QP's requester changes them and the responder executes in order, so the
 * value each returns is known when it is posted.
 */
static bool try_atomic(struct soak *s, struct sqp *q, bool fa)
{
	struct ibv_send_wr wr;
	struct swr *w = ring_push(s, q, fa ? K_FA : K_CS);
	size_t res;

	w->slot = q->atom_slot++ % WMAX;
	res = s->L.res + ((size_t)q->idx * WMAX + w->slot) * 24 + 8;
	w->len = 8;
	w->sge[0].addr = (uintptr_t)(s->buf + res);
	w->sge[0].length = 8;
	w->sge[0].lkey = s->mr->lkey;
	w->nsge = 1;
	wr_init(&wr, q, w,
		fa ? IBV_WR_ATOMIC_FETCH_AND_ADD : IBV_WR_ATOMIC_CMP_AND_SWP);
	wr.num_sge = 1;
	wr.wr.atomic.remote_addr =
		s->peer_base + s->L.atom + (size_t)q->idx * 64 + (fa ? 16 : 24);
	wr.wr.atomic.rkey = s->peer_rkey;
	if (fa) {
		wr.wr.atomic.compare_add = 1 + rnd(s) % (1u << 20);
		w->expect = q->fa_val;
		q->fa_val += wr.wr.atomic.compare_add;
	} else {
		/* one in eight compares with a wrong value: no swap */
		bool miss = (rnd(s) & 7) == 0;

		wr.wr.atomic.compare_add = miss ? ~q->cs_val : q->cs_val;
		wr.wr.atomic.swap = rnd(s);
		w->expect = q->cs_val;
		if (!miss)
			q->cs_val = wr.wr.atomic.swap;
	}
	return !post(s, q, &wr, 1);
}

/* Returns the credit for checked receives (at most one WRITE in flight). */
void post_credit(struct soak *s, struct sqp *q)
{
	uint64_t *src = (uint64_t *)(s->buf + s->L.cred_src + q->idx * 8);
	struct ibv_send_wr wr;
	struct swr *w;

	if (q->dead || q->credit_out || q->credit_sent == q->credit_given ||
	    q->n >= WMAX)
		return;
	w = ring_push(s, q, K_CREDIT);
	*src = q->credit_given;
	w->expect = q->credit_given;
	w->len = 8;
	w->sge[0].addr = (uintptr_t)src;
	w->sge[0].length = 8;
	w->sge[0].lkey = s->mr->lkey;
	w->nsge = 1;
	wr_init(&wr, q, w, IBV_WR_RDMA_WRITE);
	wr.num_sge = 1;
	wr.wr.rdma.remote_addr = s->peer_base + s->L.cred + q->idx * 64 + 16;
	wr.wr.rdma.rkey = s->peer_rkey;
	maybe_inline(s, &wr, 8);
	q->credit_out = true;
	post(s, q, &wr, 1);
}

/* The end: READ the whole region, then the counters, and check both. */
void post_final(struct soak *s, struct sqp *q)
{
	struct ibv_send_wr wr;
	struct swr *w;

	if (q->dead || q->landing_busy || q->n >= WMAX)
		return;
	if (q->final_stage == 0) {
		w = ring_push(s, q, K_FINAL_REGION);
		read_wr(s, q, w, &wr, region_off(s, q), s->L.reg_sz);
	} else if (q->final_stage == 1) {
		w = ring_push(s, q, K_FINAL_ATOM);
		read_wr(s, q, w, &wr, s->L.atom + (size_t)q->idx * 64, 64);
	} else {
		return;
	}
	q->final_stage++;
	post(s, q, &wr, 1);
}

/* After the run: an unsignaled WR at the end of the window needs a
 * signaled one behind it to complete. */
void post_tail(struct soak *s, struct sqp *q)
{
	struct ibv_send_wr wr;
	struct swr *w;

	if (q->dead || !q->n || q->n >= WMAX ||
	    !q->ring[(q->head + q->n - 1) % WMAX].unsig)
		return;
	w = ring_push(s, q, K_TAIL);
	wr_init(&wr, q, w, IBV_WR_RDMA_WRITE);
	wr.num_sge = 0;
	wr.wr.rdma.remote_addr = s->peer_base + region_off(s, q) + CAN;
	wr.wr.rdma.rkey = s->peer_rkey;
	post(s, q, &wr, 1);
}

/* Fills this QP's send window with a random mix. */
void issue(struct soak *s, struct sqp *q)
{
	unsigned tries = 0;

	if (q->region_busy == K_WRITE_IMM && credit_word(s, q) > q->region_k)
		q->region_busy = 0;
	while (!q->dead && q->n < WMAX && tries < 6) {
		unsigned r = rnd(s) % 100;
		bool ok;

		if (r < 40)
			ok = try_message(s, q);
		else if (r < 60)
			ok = try_write(s, q);
		else if (r < 75)
			ok = try_read(s, q);
		else
			ok = try_atomic(s, q, r < 88);
		tries += !ok;
	}
}
