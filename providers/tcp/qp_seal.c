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
#include <endian.h>
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
	/* group headers (psp.h), by the job of their group */
	uint8_t ghdr[TCP_TX_TAGS][RTCP_HDR_LEN];
	/*
	 * The batch's last frame, while small frames may still join it:
	 * its job (-1: none), its first iovec, the frames in it (1: a lone
	 * frame, its layout still the plain one; 2 or more: a group whose
	 * tag is not in the batch yet). joining: the frame being added goes
	 * into it.
	 */
	int32_t grp_job;
	uint32_t grp_iov, grp_n;
	bool joining;
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
	s->seal->grp_job = -1;
	s->seal->grp_n = 0;
	s->seal->joining = false;
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
	/* (+1: an open group's tag, pushed when it closes) */
	uint32_t iovs = (hdr ? 1 : 0) + (buffered(f) ? (c ? 1 : 0) : np) + 1 +
			(s->grp_n > 1);

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

/* May the frame go into a group: small, authenticated, sent in place? */
static bool groupable(const struct tcp_tx_frame *f)
{
	return f->mode == TCP_PSP_AUTH && !f->copy &&
	       f->left <= TCP_PSP_GROUP_FRAME;
}

/*
 * The group is complete: its tag goes into the batch, its header is
 * written. A lone frame is left as it is.
 */
void tcp_tx_sec_close(struct tcp_qp *qp)
{
	struct tcp_tx_seal *s = qp->sec.seal;
	struct rtcp_hdr g = { .opcode = RTCP_OP_GROUP, .hlen = RTCP_HDR_LEN };

	if (!s)
		return;
	if (s->grp_n > 1) {
		const struct tcp_seal_job *j = &s->job[s->grp_job];

		g.spi = qp->sec.tx.spi;
		g.sseq = j->iv + RTCP_HDR_LEN;
		g.len = j->len;
		rtcp_hdr_encode(&g, s->ghdr[s->grp_job]);
		push_iov(qp, s->tag[s->grp_job], TCP_PSP_TAG_LEN);
		qp->tx.seq += TCP_PSP_TAG_LEN;
	}
	s->grp_job = -1;
	s->grp_n = 0;
}

/*
 * The lone frame becomes a group of one: the group header goes in front
 * of it and covers it, its tag waits for the group's end. Its job's IV
 * (its header's offset) becomes the group header's; its header moves 64
 * bytes on.
 */
static void group_open(struct tcp_qp *qp)
{
	struct tcp_tx_seal *s = qp->sec.seal;
	struct tcp_seal_job *j = &s->job[s->grp_job];
	uint8_t *hb = (uint8_t *)j->aad;
	/* its header and payload, not its tag */
	uint32_t n = qp->tx.iov_n - 1 - s->grp_iov;
	uint64_t sseq = htobe64(j->iv + 2 * RTCP_HDR_LEN);

	memmove(&qp->tx.iov[s->grp_iov + 1], &qp->tx.iov[s->grp_iov],
		n * sizeof(struct iovec));
	qp->tx.iov[s->grp_iov].iov_base = s->ghdr[s->grp_job];
	qp->tx.iov[s->grp_iov].iov_len = RTCP_HDR_LEN;
	memmove(&s->src[j->src + 1], &s->src[j->src],
		j->nsrc * sizeof(struct iovec));
	s->src[j->src].iov_base = hb;
	s->src[j->src].iov_len = RTCP_HDR_LEN;
	s->nsrc++;
	j->nsrc++;
	j->len += RTCP_HDR_LEN;
	j->aad = s->ghdr[s->grp_job];
	memcpy(hb + RTCP_OFF_SSEQ, &sseq, sizeof(sseq));
	qp->tx.seq += RTCP_HDR_LEN - TCP_PSP_TAG_LEN;
}

bool tcp_tx_sec_join(struct tcp_qp *qp, const struct tcp_tx_frame *f)
{
	struct tcp_tx_seal *s = qp->sec.seal;
	uint32_t np;

	s->joining = false;
	if (!groupable(f) || s->grp_job < 0) {
		tcp_tx_sec_close(qp);
		return false;
	}
	np = chunk_walk((struct tcp_tx_frame *)f, f->left, NULL, false);
	/* its header and pieces, and the group's tag still to come */
	if (s->job[s->grp_job].len + RTCP_HDR_LEN * (s->grp_n == 1) +
			    RTCP_HDR_LEN + f->left >
		    TCP_PSP_GROUP_MAX ||
	    qp->tx.iov_n + np + 2 > TCP_TX_IOV ||
	    s->nsrc + np + 2 > TCP_TX_IOV) {
		tcp_tx_sec_close(qp);
		return false;
	}
	if (s->grp_n == 1)
		group_open(qp);
	s->joining = true;
	return true;
}

/* Adds tx.cur, header @hb and payload, to the open group. */
static void join_group(struct tcp_qp *qp, const uint8_t *hb)
{
	struct tcp_tx_frame *f = &qp->tx.cur;
	struct tcp_tx_seal *s = qp->sec.seal;
	struct tcp_seal_job *j = &s->job[s->grp_job];
	uint32_t c = f->left, np, i;

	push_iov(qp, hb, RTCP_HDR_LEN);
	s->src[s->nsrc].iov_base = (void *)hb;
	s->src[s->nsrc++].iov_len = RTCP_HDR_LEN;
	np = chunk_walk(f, c, &s->src[s->nsrc], true);
	for (i = 0; i < np; i++)
		push_iov(qp, s->src[s->nsrc + i].iov_base,
			 s->src[s->nsrc + i].iov_len);
	s->nsrc += np;
	j->nsrc += 1 + np;
	j->len += RTCP_HDR_LEN + c;
	qp->tx.seq += RTCP_HDR_LEN + c;
	f->left = 0;
	s->grp_n++;
	s->joining = false;
}

bool tcp_tx_sec_add(struct tcp_qp *qp, const uint8_t *hb)
{
	struct tcp_tx_frame *f = &qp->tx.cur;
	struct tcp_tx_seal *s = qp->sec.seal;
	bool lone = hb && groupable(f);
	uint32_t first = qp->tx.iov_n;

	if (hb && s->joining) {
		join_group(qp, hb);
		lone = false;
	} else if (hb) {
		add_chunk(qp, hb); /* the caller checked its room */
	}
	while (f->left && tcp_tx_chunk_fits(qp, f, false))
		add_chunk(qp, NULL);
	if (f->left)
		return false;
	if (lone) {
		/* the next small frame may join it */
		s->grp_job = (int32_t)s->njob - 1;
		s->grp_iov = first;
		s->grp_n = 1;
	}
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

	tcp_tx_sec_close(qp);
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
	qp->sec.in_grp = false;
	qp->sec.grp_left = 0;
}
