// SPDX-License-Identifier: MIT
/* malformed: the hostile peer: its socket, the frames it reads and writes */
#include "malformed.h"

/* ------------------------------------------------------------ the peer */

socklen_t gid_sockaddr(uint16_t port, struct sockaddr_storage *ss)
{
	static const uint8_t v4pfx[12] = { 0, 0, 0, 0, 0,    0,
					   0, 0, 0, 0, 0xff, 0xff };

	memset(ss, 0, sizeof(*ss));
	if (!memcmp(gid0.raw, v4pfx, 12)) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		memcpy(&s->sin_addr, gid0.raw + 12, 4);
		return sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		memcpy(&s->sin6_addr, gid0.raw, 16);
		return sizeof(*s);
	}
}

int send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/*
 * Connects to the QP's listener and sends a hello. src/dst: the QPNs the
 * hello names; magic_ok false spoils the magic.
 */
int peer_open_raw(struct peer *p, uint32_t qpn, uint32_t src, uint32_t dst,
		  bool magic_ok)
{
	struct sockaddr_storage ss;
	socklen_t sl = gid_sockaddr((uint16_t)(qpn >> 8), &ss);
	struct rtcp_hello h = { .src_qpn = src, .dst_qpn = dst };
	uint8_t hb[RTCP_HELLO_LEN];
	int one = 1;

	memset(p, 0, sizeof(*p));
	p->rbuf = malloc(RBUF_CAP);
	if (!p->rbuf)
		return -1;
	p->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return -1;
	setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(p->fd, (struct sockaddr *)&ss, sl))
		return -1; /* callers report it: sometimes it is expected */
	memcpy(h.src_gid, gid0.raw, 16);
	rtcp_hello_encode(&h, hb);
	if (!magic_ok)
		hb[RTCP_HELLO_OFF_MAGIC] ^= 0xff;
	return send_all(p->fd, hb, sizeof(hb)) ? -1 : 0;
}

void peer_close(struct peer *p)
{
	if (p->fd > 0)
		close(p->fd);
	p->fd = -1;
	free(p->rbuf);
	p->rbuf = NULL;
}

/*
 * Reads one frame the QP sent, checking it: the header must validate
 * against our count of its stream. Returns RECV_*.
 */
int peer_recv(struct peer *p, struct rtcp_hdr *h, int timeout_ms)
{
	uint64_t t0 = now_ms();
	size_t need = RTCP_HDR_LEN;
	bool have_hdr = false;

	if (p->bad)
		p->rlen = 0; /* out of sync: only the end matters now */
	for (;;) {
		if (p->bad)
			p->rlen = 0;
		else if (p->rlen >= RTCP_HDR_LEN && !have_hdr) {
			int r;

			rtcp_hdr_decode(p->rbuf, h);
			r = rtcp_hdr_validate(h, p->rx_seq + RTCP_HDR_LEN,
					      MAX_MSG);
			if (r || h->len > RBUF_CAP - RTCP_HDR_LEN) {
				fail("the QP sent a malformed frame "
				     "(validate %d, op %u, len %u, sseq "
				     "%" PRIu64 ", expected %" PRIu64 ")",
				     r, h->opcode, h->len, h->sseq,
				     p->rx_seq + RTCP_HDR_LEN);
				p->bad = true;
				return RECV_ERR;
			}
			have_hdr = true;
			need = RTCP_HDR_LEN + h->len;
		}
		if (have_hdr && p->rlen >= need) {
			p->rx_seq += need;
			if ((int32_t)(h->ack_msn - p->max_ack) > 0)
				p->max_ack = h->ack_msn;
			if (h->opcode == RTCP_OP_READ_RESP ||
			    h->opcode == RTCP_OP_ATOMIC_RESP)
				p->n_data_resp++;
			if (h->opcode == RTCP_OP_TERMINATE) {
				p->n_term++;
				p->term = *h;
			}
			/* the payload stays at rbuf + 64 until consumed */
			return RECV_FRAME;
		}
		{
			struct pollfd pf = { .fd = p->fd, .events = POLLIN };
			long left = timeout_ms - (long)(now_ms() - t0);
			ssize_t n;

			if (left <= 0)
				return RECV_TIMEOUT;
			n = poll(&pf, 1, (int)left);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return RECV_TIMEOUT;
			n = recv(p->fd, p->rbuf + p->rlen, RBUF_CAP - p->rlen,
				 0);
			if (n == 0) {
				p->eof = true;
				return RECV_EOF;
			}
			if (n < 0) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				p->eof = true; /* reset counts as closed */
				return RECV_EOF;
			}
			p->rlen += (size_t)n;
		}
	}
}

/* Drops the frame peer_recv returned (its header and payload). */
void peer_consume(struct peer *p, const struct rtcp_hdr *h)
{
	size_t n = RTCP_HDR_LEN + h->len;

	memmove(p->rbuf, p->rbuf + n, p->rlen - n);
	p->rlen -= n;
}

/* Reads frames until one with opcode op (ACK: ack_msn >= min_ack). */
int peer_wait_op(struct peer *p, uint8_t op, uint32_t min_ack,
		 struct rtcp_hdr *out, uint8_t *payload, size_t cap)
{
	uint64_t t0 = now_ms();
	char seen[256] = "";
	size_t sl = 0;

	for (;;) {
		struct rtcp_hdr h;
		long left = DEADLINE_MS - (long)(now_ms() - t0);
		int r = peer_recv(p, &h, left > 0 ? (int)left : 0);

		if (r != RECV_FRAME) {
			note("waiting for opcode %u (ack_msn >= %u): %s after "
			     "%lu ms; frames seen (op/msn/ack_msn):%s",
			     op, min_ack,
			     r == RECV_EOF   ? "EOF"
			     : r == RECV_ERR ? "bad frame"
					     : "timeout",
			     (unsigned long)(now_ms() - t0),
			     sl ? seen : " none");
			return r;
		}
		if (sl < sizeof(seen) - 40)
			sl += (size_t)snprintf(seen + sl, sizeof(seen) - sl,
					       " %u/%u/%u", h.opcode, h.msn,
					       h.ack_msn);
		if (h.opcode == op && (op != RTCP_OP_ACK ||
				       (int32_t)(h.ack_msn - min_ack) >= 0)) {
			if (out)
				*out = h;
			if (payload)
				memcpy(payload, p->rbuf + RTCP_HDR_LEN,
				       h.len < cap ? h.len : cap);
			peer_consume(p, &h);
			return RECV_FRAME;
		}
		peer_consume(p, &h);
	}
}

/* Reads (and checks) frames until EOF; true if EOF came in time. */
bool peer_until_eof(struct peer *p, int timeout_ms)
{
	uint64_t t0 = now_ms();

	while (!p->eof) {
		struct rtcp_hdr h;
		long left = timeout_ms - (long)(now_ms() - t0);
		int r = peer_recv(p, &h, left > 0 ? (int)left : 0);

		if (r == RECV_FRAME) {
			peer_consume(p, &h);
			continue;
		}
		if (r == RECV_ERR)
			continue; /* out of sync: peer_recv now only drains */
		break;
	}
	return p->eof;
}

/* Frame with our stream position, hlen override (0: RTCP_HDR_LEN). */

int peer_frame(struct peer *p, struct rtcp_hdr *h, const void *payload,
	       size_t plen, int flags, uint16_t hlen)
{
	uint8_t hb[RTCP_HDR_LEN];
	int r;

	if (!(flags & F_KEEP_SSEQ))
		h->sseq = p->tx_seq + RTCP_HDR_LEN;
	rtcp_hdr_encode(h, hb);
	if (hlen) {
		hb[RTCP_OFF_HLEN] = (uint8_t)(hlen >> 8);
		hb[RTCP_OFF_HLEN + 1] = (uint8_t)hlen;
	}
	r = send_all(p->fd, hb, sizeof(hb));
	if (!r)
		p->tx_seq += RTCP_HDR_LEN;
	if (!r && plen) {
		r = send_all(p->fd, payload, plen);
		if (!r)
			p->tx_seq += plen;
	}
	return r;
}

void hdr_init(struct rtcp_hdr *h, uint8_t op, uint32_t msn)
{
	memset(h, 0, sizeof(*h));
	h->opcode = op;
	h->hlen = RTCP_HDR_LEN;
	h->msn = msn;
}

/* A payload whose bytes differ from every region's pattern. */
uint8_t *payload_of(size_t n, uint8_t salt)
{
	static uint8_t *buf;
	static size_t cap;
	size_t i;

	if (n > cap) {
		free(buf);
		buf = malloc(n);
		cap = buf ? n : 0;
		if (!buf)
			abort();
	}
	for (i = 0; i < n; i++)
		buf[i] = (uint8_t)(0xa0 ^ salt ^ (i * 7));
	return buf;
}

/* Applies an accepted write to the shadow. */
void shadow_write(int r, size_t off, const uint8_t *src, size_t n)
{
	memcpy(reg[r].shadow + PAD + off, src, n);
}

/* Waits until region bytes match src (a write landing); true if in time. */
bool wait_landed(size_t off, const uint8_t *src, size_t n)
{
	uint64_t t0 = now_ms();

	while (memcmp(win() + off, src, n)) {
		if (now_ms() - t0 > DEADLINE_MS)
			return false;
		sleep_ms(2);
	}
	return true;
}
