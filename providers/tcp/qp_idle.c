// SPDX-License-Identifier: MIT
/*
 * The memory of an idle QP (docs/design.md, "Memory of an idle QP").
 *
 * A connected QP needs its transmit batch (iovecs and headers), its
 * receive staging buffer and, on a secured connection, its seal jobs and
 * ciphertext buffer only while frames move. They are taken at the first
 * transmit or read (qp_tx.c, qp_rx.c) and kept while traffic flows, so
 * the fast path never allocates; the engine's idle pass, once a second,
 * gives them back from every QP that moved no byte since its last look
 * and holds nothing half sent or half read. A QP that wakes up again pays
 * one allocation per buffer.
 *
 * The pass also hands the freed memory back to the system (malloc_trim)
 * once enough QPs gave back buffers or connections came or went (see
 * TCP_IDLE_TRIM_EVENTS): a burst of TLS handshakes leaves most of their
 * memory free but resident, scattered between the long-lived allocations
 * made meanwhile.
 */
#include <malloc.h>
#include <stdlib.h>

#include "conn.h"
#include "transport.h"

/* how often the pass looks; a QP idle for one whole period gives back */
#define TCP_IDLE_PERIOD_NS 1000000000ull
/*
 * QPs that gave back buffers and connections that came or went, counted
 * over passes, before the heap is trimmed: malloc_trim walks every arena
 * under its lock (tens of milliseconds for a heap of a few thousand QPs),
 * a pause worth taking after a burst, not for each connection of a slow
 * trickle.
 */
#define TCP_IDLE_TRIM_EVENTS 32

bool tcp_qp_tx_bufs(struct tcp_qp *qp)
{
	size_t iov = TCP_TX_IOV * sizeof(struct iovec);
	char *b = malloc(iov + TCP_TX_IOV / 2 * RTCP_HDR_LEN);

	if (!b)
		return false;
	qp->tx.iov = (struct iovec *)b;
	qp->tx.hdrs = (uint8_t(*)[RTCP_HDR_LEN])(b + iov);
	return true;
}

bool tcp_qp_rx_buf(struct tcp_qp *qp)
{
	qp->sec.rx_cap = 0; /* TCP_RXBUF; a secured stream grows it */
	qp->rx.start = qp->rx.end = 0;
	qp->rx.buf = malloc(TCP_RXBUF);
	return qp->rx.buf != NULL;
}

static void tx_bufs_free(struct tcp_qp *qp)
{
	free(qp->tx.iov);
	qp->tx.iov = NULL;
	qp->tx.hdrs = NULL;
	/* the seal jobs and ciphertext of a batch that is all sent */
	free(qp->sec.seal);
	free(qp->sec.tx_cipher);
	qp->sec.seal = NULL;
	qp->sec.tx_cipher = NULL;
	qp->sec.tx_cipher_cap = qp->sec.tx_cipher_used = 0;
}

static void rx_buf_free(struct tcp_qp *qp)
{
	free(qp->rx.buf);
	qp->rx.buf = NULL;
	qp->rx.start = qp->rx.end = 0;
	qp->sec.rx_cap = 0;
}

void tcp_qp_bufs_free(struct tcp_qp *qp)
{
	tx_bufs_free(qp);
	rx_buf_free(qp);
}

/* The batch is all in the kernel and no frame is half in a batch. */
static bool tx_idle(const struct tcp_qp *qp)
{
	return qp->tx.iov_i == qp->tx.iov_n && !qp->tx.cur.active;
}

/* Between frames, with nothing read ahead. */
static bool rx_idle(const struct tcp_qp *qp)
{
	return qp->rx.phase == RX_HDR && qp->rx.start == qp->rx.end &&
	       !qp->rx.sec_avail;
}

/* Counts through now: freed buffers and connections. */
struct idle_count {
	unsigned int freed, conns;
};

static void idle_one(struct tcp_qp *qp, struct idle_count *c)
{
	/* requests taken and sent, acks sent, bytes read and sealed */
	uint64_t mark = (uint64_t)qp->sq.head + qp->sq.tx + qp->resp.ack_sent +
			qp->prog.io_rx + qp->tx.seq;

	c->conns += qp->conn.connected;
	if (mark != qp->idle_mark) { /* busy since the last look */
		qp->idle_mark = mark;
		return;
	}
	if ((qp->tx.iov || qp->sec.seal || qp->sec.tx_cipher) && tx_idle(qp)) {
		tx_bufs_free(qp);
		c->freed++;
	}
	if (qp->rx.buf && rx_idle(qp)) {
		rx_buf_free(qp);
		c->freed++;
	}
}

/*
 * Every QP of the context whose lock is free (a QP whose lock is taken
 * is in use); the whole pass waits for the next if ctx->lock is taken.
 */
static bool idle_walk(struct tcp_context *ctx, struct idle_count *c)
{
	struct tcp_rendezvous *rv = ctx->rv;
	int i, j;

	if (tcp_mutex_trylock(&ctx->lock))
		return false;
	for (i = 0; rv && i < rv->nlis; i++)
		for (j = 0; j < TCP_QPS_PER_LISTENER; j++) {
			struct tcp_qp *qp = rv->lis[i]->slots[j];

			if (!qp || tcp_mutex_trylock(&qp->lock))
				continue;
			if (!qp->dead && qp->type != IBV_QPT_UD)
				idle_one(qp, c);
			tcp_qp_unlock(qp);
		}
	tcp_mutex_unlock(&ctx->lock);
	return true;
}

/* The engine's deadline hook: runs the pass once a period. */
static uint64_t idle_pass(struct tcp_context *ctx, uint64_t now)
{
	struct idle_count c = { 0 };

	if (now < ctx->idle_at)
		return ctx->idle_at;
	ctx->idle_at = now + TCP_IDLE_PERIOD_NS;
	if (!idle_walk(ctx, &c))
		return ctx->idle_at;
	ctx->idle_events += c.freed + (c.conns > ctx->idle_conns
					       ? c.conns - ctx->idle_conns
					       : ctx->idle_conns - c.conns);
	ctx->idle_conns = c.conns;
	if (ctx->idle_events >= TCP_IDLE_TRIM_EVENTS) {
		malloc_trim(0);
		ctx->idle_events = 0;
	}
	return ctx->idle_at;
}

/* Before the engine thread starts: its first deadline. */
static int idle_start(struct tcp_context *ctx)
{
	ctx->idle_at = tcp_now_ns() + TCP_IDLE_PERIOD_NS;
	tcp_engine_deadline(ctx, ctx->idle_at);
	return 0;
}

const struct tcp_engine_hooks tcp_idle_hooks = {
	.start = idle_start,
	.deadlines = idle_pass,
};
