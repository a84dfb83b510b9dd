// SPDX-License-Identifier: MIT
/*
 * Receive on a secured connection: verify before place (docs/design.md,
 * "Secured frames"). Caller holds qp->lock.
 *
 * Nothing of a frame is trusted before its tag checks. The header is
 * peeked only for its SPI (which SA) and its length (how much chunk 0
 * is, at most TCP_PSP_CHUNK); header, chunk 0 and tag_0 are staged
 * contiguously and opened together before the header is decoded and its
 * handler decides anything. Each later chunk is staged with its tag and
 * opened in the staging buffer (decrypted there in encrypt mode); only
 * then are its bytes copied into the application's memory. Payloads that
 * are dropped are verified all the same: the stream behind them is only
 * trusted if they were.
 *
 * A group (psp.h) is opened as a frame; its frames are all checked for
 * form before the first of them is taken, then taken from the staging
 * buffer one by one as if each had come alone (qp_rx.c).
 *
 * A chunk that fails leaves nothing of itself placed: the frame is
 * counted (sec.rejected) and the QP goes to error with QP_FATAL, which
 * closes the connection, as a header that fails validation does.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "debug.h"
#include "stat.h"
#include "transport.h"

/*
 * The staging buffer of a secured connection: room for several chunks
 * and their tags a read, so that a chunk rarely has to be moved to the
 * front to be contiguous.
 */
#define TCP_PSP_RXBUF 65536

static uint32_t peek32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

/* Our receive SA with that SPI: the current one or the one before. */
static struct tcp_psp_sa *rx_sa(struct tcp_qp *qp, uint32_t spi)
{
	if (spi && spi == qp->sec.rx[0].spi)
		return &qp->sec.rx[0];
	if (spi && spi == qp->sec.rx[1].spi)
		return &qp->sec.rx[1];
	return NULL;
}

/* The frame failed verification: the stream cannot be trusted. */
static int reject(struct tcp_qp *qp)
{
	qp->sec.rejected++;
	tcp_stat_add(qp->stat, RTCP_STAT_REJECTED, 1);
	TCP_DBG_QP(RTCP_DBG_FRAME, qp, "frame failed verification: rejected");
	tcp_qp_to_error(qp, IBV_EVENT_QP_FATAL);
	return -3;
}

/*
 * Once per QP, at its first frame of several chunks: a staging buffer
 * that takes several chunks a read.
 */
static void rx_grow(struct tcp_qp *qp)
{
	uint8_t *b;

	if (qp->sec.rx_cap >= TCP_PSP_RXBUF)
		return;
	b = realloc(qp->rx.buf, TCP_PSP_RXBUF);
	if (!b)
		return; /* TCP_RXBUF holds a chunk too: more reads, that is all */
	qp->rx.buf = b;
	qp->sec.rx_cap = TCP_PSP_RXBUF;
}

/*
 * Makes @need bytes at rx.start contiguous in the staging buffer. Returns
 * 0 when they are, 1 to wait for more, -1 on a broken stream. Reads on
 * after a short read (*drained) until the socket says EAGAIN, as the
 * plain format's payload reads do: the rest of a frame begun is usually
 * arriving (one sendmsg of the peer comes as several segments), and a
 * frame left half read waits for another pass -- for an application that
 * polled once and spins on the WRITE's last byte, the engine's wake-up.
 */
static int stage(struct tcp_qp *qp, uint32_t need, bool *drained)
{
	uint32_t cap = tcp_rx_cap(qp);
	uint32_t avail = qp->rx.end - qp->rx.start;

	while (avail < need) {
		size_t want;
		ssize_t n;

		if (qp->rx.start + need > cap) {
			memmove(qp->rx.buf, qp->rx.buf + qp->rx.start, avail);
			qp->rx.start = 0;
			qp->rx.end = avail;
		}
		want = cap - qp->rx.end;
		n = recv(qp->conn.fd, qp->rx.buf + qp->rx.end, want,
			 MSG_DONTWAIT);
		if (n <= 0)
			return n < 0 && (errno == EAGAIN || errno == EINTR)
				       ? 1
				       : -1;
		*drained = (size_t)n < want;
		qp->rx.end += n;
		qp->prog.io_rx += n;
		avail += n;
	}
	return 0;
}

int tcp_rx_sec_header(struct tcp_qp *qp, bool *drained)
{
	uint32_t spi, len, c;
	struct tcp_psp_sa *sa;
	enum tcp_psp_mode mode;
	uint8_t *h;
	int r;

	h = qp->rx.buf + qp->rx.start;
	spi = peek32(h + RTCP_OFF_SPI);
	len = peek32(h + RTCP_OFF_LEN);
	if (len > TCP_PSP_CHUNK)
		rx_grow(qp); /* (may move the buffer) */
	c = len < TCP_PSP_CHUNK ? len : TCP_PSP_CHUNK;
	sa = rx_sa(qp, spi);
	if (!sa)
		return reject(qp);
	r = stage(qp, RTCP_HDR_LEN + c + TCP_PSP_TAG_LEN, drained);
	if (r)
		return r;
	h = qp->rx.buf + qp->rx.start;
	/* (a forged opcode picks the wrong mode: the tag fails all the same) */
	mode = h[RTCP_OFF_OPCODE] == RTCP_OP_REKEY ? TCP_PSP_ENCRYPT
						   : qp->sec.mode;
	if (tcp_psp_open(sa, mode, qp->rx.seq, h, RTCP_HDR_LEN,
			 h + RTCP_HDR_LEN, c, h + RTCP_HDR_LEN + c))
		return reject(qp);
	qp->sec.rx_spi = spi;
	qp->sec.rx_mode = mode;
	qp->rx.sec_avail = c;
	return 0;
}

/*
 * The frames of the group at rx.start: well-formed headers (none a group
 * or a REKEY) whose payloads fill the group exactly, at least two.
 */
static bool group_ok(const struct tcp_qp *qp, const struct rtcp_hdr *g)
{
	const uint8_t *p = qp->rx.buf + qp->rx.start + RTCP_HDR_LEN;
	uint64_t seq = qp->rx.seq + RTCP_HDR_LEN;
	uint32_t off = 0, n = 0;

	if (g->hlen != RTCP_HDR_LEN || g->flags || g->sseq != seq ||
	    g->len > TCP_PSP_GROUP_MAX || qp->sec.rx_mode != TCP_PSP_AUTH)
		return false;
	while (off < g->len) {
		struct rtcp_hdr h;

		if (g->len - off < RTCP_HDR_LEN)
			return false;
		rtcp_hdr_decode(p + off, &h);
		if (rtcp_hdr_validate(&h, seq + off + RTCP_HDR_LEN,
				      TCP_MAX_MSG_SZ) ||
		    h.opcode == RTCP_OP_REKEY ||
		    h.len > g->len - off - RTCP_HDR_LEN)
			return false;
		off += RTCP_HDR_LEN + h.len;
		n++;
	}
	return n >= 2;
}

int tcp_rx_sec_group(struct tcp_qp *qp)
{
	if (!group_ok(qp, &qp->rx.hdr))
		return reject(qp);
	qp->rx.start += RTCP_HDR_LEN;
	qp->rx.seq += RTCP_HDR_LEN;
	qp->rx.sec_avail = 0;
	qp->sec.grp_left = qp->rx.hdr.len;
	qp->sec.in_grp = true;
	return 0;
}

/* Stages and opens the frame's next chunk; returns as the header's. */
static int open_chunk(struct tcp_qp *qp, bool *drained)
{
	uint32_t c = qp->rx.left < TCP_PSP_CHUNK ? qp->rx.left : TCP_PSP_CHUNK;
	uint32_t k = (qp->rx.total - qp->rx.left) / TCP_PSP_CHUNK;
	/* rx.seq is the payload's offset: chunks before are full, tagged */
	uint64_t iv =
		qp->rx.seq + (uint64_t)k * (TCP_PSP_CHUNK + TCP_PSP_TAG_LEN);
	struct tcp_psp_sa *sa = rx_sa(qp, qp->sec.rx_spi);
	uint8_t *p;
	int r = stage(qp, c + TCP_PSP_TAG_LEN, drained);

	if (r)
		return r;
	p = qp->rx.buf + qp->rx.start;
	if (!sa || tcp_psp_open(sa, qp->sec.rx_mode, iv, NULL, 0, p, c, p + c))
		return reject(qp);
	qp->rx.sec_avail = c;
	return 0;
}

/*
 * Copies @n verified bytes from the staging buffer into the payload's
 * destination (a WRITE's region pinned meanwhile). Returns as
 * rx_payload: 0, -1 (the destination is too small), -2 (the region went).
 */
static int place(struct tcp_qp *qp, uint32_t n)
{
	const uint8_t *from = qp->rx.buf + qp->rx.start;
	struct tcp_mr *pin = NULL;
	int r = 0;

	if (qp->rx.mr) {
		if (!tcp_mr_repin(qp->ctx, qp->rx.key, qp->rx.mr,
				  qp->rx.serial))
			return -2;
		pin = qp->rx.mr;
	}
	while (n) {
		struct iovec *v;
		size_t k;

		if (qp->rx.iov_i >= qp->rx.iov_n) {
			r = -1;
			break;
		}
		v = &qp->rx.iov[qp->rx.iov_i];
		k = v->iov_len < n ? v->iov_len : n;
		memcpy(v->iov_base, from, k);
		from += k;
		n -= k;
		if (k == v->iov_len) {
			qp->rx.iov_i++;
		} else {
			v->iov_base = (char *)v->iov_base + k;
			v->iov_len -= k;
		}
	}
	tcp_mr_unpin(pin);
	return r;
}

int tcp_rx_sec_payload(struct tcp_qp *qp, bool *drained)
{
	while (qp->rx.left) {
		uint32_t n;
		int r;

		if (!qp->rx.sec_avail) {
			r = open_chunk(qp, drained);
			if (r)
				return r;
		}
		n = qp->rx.sec_avail;
		/* a dropped payload is verified all the same */
		if (!qp->rx.discard) {
			r = place(qp, n);
			if (r)
				return r;
		}
		qp->rx.left -= n;
		qp->rx.sec_avail = 0;
		qp->rx.start += n + TCP_PSP_TAG_LEN; /* the chunk, its tag */
	}
	return 0;
}

uint64_t tcp_rx_sec_owed(const struct tcp_qp *qp)
{
	uint64_t rest = qp->rx.left - qp->rx.sec_avail;
	uint64_t owed = rest + TCP_PSP_TAG_LEN * ((rest + TCP_PSP_CHUNK - 1) /
						  TCP_PSP_CHUNK);
	uint32_t staged = qp->rx.end - qp->rx.start;

	if (qp->rx.sec_avail)
		owed += qp->rx.sec_avail + TCP_PSP_TAG_LEN;
	return owed > staged ? owed - staged : 0;
}
