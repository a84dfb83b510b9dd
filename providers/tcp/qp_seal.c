// SPDX-License-Identifier: MIT
/*
 * Transmit on a secured connection: frames cut into chunks with a tag
 * each (the layout is psp.h's), as many as fit in the batch. Caller holds
 * qp->lock.
 *
 * A chunk added to the batch records a seal job: the tag's IV (its
 * stream offset), its AAD (chunk 0: the encoded header) and the pieces it
 * covers. The jobs run once the batch is complete (tcp_tx_sec_seal, just
 * before its first sendmsg): the last request's header may still gain
 * RTCP_F_ACK_REQ when the batch ends, and a READ response's region is
 * read only while pin_batch holds it. Each job runs once: a batch is
 * sealed once, then sent until all of it is in the kernel, so no IV is
 * ever sealed twice. For the same reason a new SA (sec.tx_next) takes
 * over only when a batch starts between frames.
 *
 * Encrypt mode writes the ciphertext into sec.tx_cipher, never over the
 * application's memory, and the batch sends it from there. Auth mode
 * sends the payload from registered memory, except a READ response's: the
 * responder's application may write its region while a peer reads it (the
 * data is then undefined, as on a NIC, but must not break the
 * connection), so the tag is computed over a snapshot that is also what
 * is sent.
 */
#include <stdlib.h>
#include <string.h>

#include "transport.h"

/* tags a batch holds: every chunk takes at least two iovecs */
#define TCP_TX_TAGS (TCP_TX_IOV / 2)
/* ciphertext (or snapshots) of a batch: eight full chunks */
#define TCP_TX_CIPHER (8 * TCP_PSP_CHUNK)

/* One tag to compute: the chunk it covers and where its output goes. */
struct tcp_seal_job {
	uint64_t iv;
	const uint8_t *aad; /* chunk 0: the header; NULL otherwise */
	uint8_t *out;	    /* ciphertext or snapshot; NULL: sent in place */
	uint32_t len;
	uint16_t src, nsrc; /* the pieces, in seal.src */
	uint8_t mode;	    /* enum tcp_psp_mode */
	bool copy;
};

struct tcp_tx_seal {
	struct tcp_seal_job job[TCP_TX_TAGS];
	uint8_t tag[TCP_TX_TAGS][TCP_PSP_TAG_LEN];
	struct iovec src[TCP_TX_IOV];
	uint32_t njob, nsrc;
};

/*
 * The ciphertext buffer, when the batch may need it: in encrypt mode, or
 * for a response (a READ's snapshot, a REKEY); a connection in auth mode
 * that only sends requests never allocates it.
 */
static bool cipher_alloc(struct tcp_qp *qp)
{
	struct tcp_sec_state *s = &qp->sec;

	if (s->tx_cipher || (s->mode != TCP_PSP_ENCRYPT && !qp->resp.head))
		return true;
	s->tx_cipher = malloc(TCP_TX_CIPHER);
	if (!s->tx_cipher)
		return false;
	s->tx_cipher_cap = TCP_TX_CIPHER;
	return true;
}

bool tcp_tx_sec_prepare(struct tcp_qp *qp)
{
	struct tcp_sec_state *s = &qp->sec;

	if (!s->seal)
		s->seal = calloc(1, sizeof(*s->seal));
	if (!s->seal || !cipher_alloc(qp))
		return false;
	s->seal->njob = s->seal->nsrc = 0;
	s->tx_cipher_used = 0;
	/* no job of the old SA is pending, and no frame is half sent */
	if (s->tx_next.spi && !qp->tx.cur.active) {
		tcp_psp_sa_clear(&s->tx);
		s->tx = s->tx_next;
		memset(&s->tx_next, 0, sizeof(s->tx_next));
	}
	return true;
}

void tcp_tx_frame_init(const struct tcp_qp *qp, struct tcp_tx_frame *f,
		       const struct rtcp_hdr *h, const struct tcp_seg *seg,
		       uint32_t nseg, bool snapshot)
{
	memset(f, 0, sizeof(*f));
	if (nseg == 1)
		f->one = seg[0]; /* the caller's may be on its stack */
	else
		f->seg = seg;
	f->nseg = h->len ? nseg : 0;
	f->left = h->len;
	/* REKEY carries a key: confidential whatever the connection's mode */
	f->mode = h->opcode == RTCP_OP_REKEY ? TCP_PSP_ENCRYPT : qp->sec.mode;
	f->copy = snapshot && f->mode == TCP_PSP_AUTH;
	f->active = true;
}

/*
 * The pieces of f's next @c payload bytes: counted, written to @out if
 * not NULL, and passed by if @commit.
 */
static uint32_t chunk_walk(struct tcp_tx_frame *f, uint32_t c,
			   struct iovec *out, bool commit)
{
	uint32_t si = f->si, off = f->soff, n = 0;

	while (c && si < f->nseg) {
		const struct tcp_seg *sg = f->seg ? &f->seg[si] : &f->one;
		uint32_t k = sg->len - off < c ? sg->len - off : c;

		if (k) {
			if (out) {
				out[n].iov_base = sg->addr + off;
				out[n].iov_len = k;
			}
			n++;
		}
		c -= k;
		off += k;
		if (off == sg->len) {
			si++;
			off = 0;
		}
	}
	if (commit) {
		f->si = si;
		f->soff = off;
	}
	return n;
}

static uint32_t chunk_len(const struct tcp_tx_frame *f)
{
	return f->left < TCP_PSP_CHUNK ? f->left : TCP_PSP_CHUNK;
}

static bool buffered(const struct tcp_tx_frame *f)
{
	return f->mode == TCP_PSP_ENCRYPT || f->copy;
}

bool tcp_tx_chunk_fits(const struct tcp_qp *qp, const struct tcp_tx_frame *f,
		       bool hdr)
{
	const struct tcp_tx_seal *s = qp->sec.seal;
	uint32_t c = chunk_len(f);
	uint32_t np = chunk_walk((struct tcp_tx_frame *)f, c, NULL, false);
	uint32_t iovs = (hdr ? 1 : 0) + (buffered(f) ? (c ? 1 : 0) : np) + 1;

	if (qp->tx.iov_n + iovs > TCP_TX_IOV || s->njob >= TCP_TX_TAGS ||
	    s->nsrc + np > TCP_TX_IOV)
		return false;
	return !buffered(f) ||
	       qp->sec.tx_cipher_used + c <= qp->sec.tx_cipher_cap;
}

static void push_iov(struct tcp_qp *qp, const void *base, size_t len)
{
	qp->tx.iov[qp->tx.iov_n].iov_base = (void *)base;
	qp->tx.iov[qp->tx.iov_n++].iov_len = len;
}

/* Adds tx.cur's next chunk (after the header @hb, if any) to the batch. */
static void add_chunk(struct tcp_qp *qp, const uint8_t *hb)
{
	struct tcp_tx_frame *f = &qp->tx.cur;
	struct tcp_tx_seal *s = qp->sec.seal;
	struct tcp_seal_job *j = &s->job[s->njob];
	uint8_t *tag = s->tag[s->njob++];
	uint32_t c = chunk_len(f), i;

	/* tag_0's IV is the header's offset, tag_k's its chunk's */
	j->iv = qp->tx.seq;
	j->aad = hb;
	j->len = c;
	j->mode = f->mode;
	j->copy = f->copy;
	j->src = s->nsrc;
	j->nsrc = chunk_walk(f, c, &s->src[s->nsrc], true);
	s->nsrc += j->nsrc;
	if (hb) {
		push_iov(qp, hb, RTCP_HDR_LEN);
		qp->tx.seq += RTCP_HDR_LEN;
	}
	j->out = NULL;
	if (buffered(f)) {
		j->out = qp->sec.tx_cipher + qp->sec.tx_cipher_used;
		qp->sec.tx_cipher_used += c;
		if (c)
			push_iov(qp, j->out, c);
	} else {
		for (i = 0; i < j->nsrc; i++)
			push_iov(qp, s->src[j->src + i].iov_base,
				 s->src[j->src + i].iov_len);
	}
	push_iov(qp, tag, TCP_PSP_TAG_LEN);
	qp->tx.seq += c + TCP_PSP_TAG_LEN;
	f->left -= c;
}

bool tcp_tx_sec_add(struct tcp_qp *qp, const uint8_t *hb)
{
	struct tcp_tx_frame *f = &qp->tx.cur;

	if (hb)
		add_chunk(qp, hb); /* the caller checked its room */
	while (f->left && tcp_tx_chunk_fits(qp, f, false))
		add_chunk(qp, NULL);
	if (f->left)
		return false;
	/* all in this batch: a response goes once the batch has left */
	if (f->resp) {
		f->resp->next = qp->tx.batch_resps;
		qp->tx.batch_resps = f->resp;
	}
	memset(f, 0, sizeof(*f));
	return true;
}

/* Copies a job's pieces into its snapshot. */
static void take_snapshot(const struct tcp_seal_job *j, const struct iovec *src)
{
	uint8_t *o = j->out;
	uint32_t i;

	for (i = 0; i < j->nsrc; i++) {
		memcpy(o, src[i].iov_base, src[i].iov_len);
		o += src[i].iov_len;
	}
}

int tcp_tx_sec_seal(struct tcp_qp *qp)
{
	struct tcp_tx_seal *s = qp->sec.seal;
	uint32_t i;

	for (i = 0; s && i < s->njob; i++) {
		const struct tcp_seal_job *j = &s->job[i];
		const struct iovec *in = &s->src[j->src];
		struct iovec snap = { .iov_base = j->out, .iov_len = j->len };
		int n = j->nsrc;

		if (j->copy) {
			take_snapshot(j, in);
			in = &snap;
			n = 1;
		}
		if (tcp_psp_seal(&qp->sec.tx, j->mode, j->iv, j->aad,
				 j->aad ? RTCP_HDR_LEN : 0, in, n, j->len,
				 j->out, s->tag[i]))
			return -1;
	}
	if (s)
		s->njob = s->nsrc = 0;
	return 0;
}

void tcp_tx_sec_reset(struct tcp_qp *qp)
{
	free(qp->tx.cur.resp);
	memset(&qp->tx.cur, 0, sizeof(qp->tx.cur));
	free(qp->sec.seal);
	free(qp->sec.tx_cipher);
	qp->sec.seal = NULL;
	qp->sec.tx_cipher = NULL;
	qp->sec.tx_cipher_cap = qp->sec.tx_cipher_used = 0;
	tcp_psp_sa_clear(&qp->sec.tx_next);
	qp->rx.sec_avail = 0;
}
