// SPDX-License-Identifier: MIT
/* malformed: the memory regions and their shadow, the QP under test, its events */
#include "malformed.h"
#include "tqp.h"

/* ------------------------------------------------------------ memory */

uint8_t pattern(int r, size_t i)
{
	return (uint8_t)(i * 131 + (i >> 9) * 7 + 17 + r * 61);
}

int region_alloc(int r, const char *name, size_t len)
{
	size_t i, tot = PAD + len + PAD;

	reg[r].name = name;
	reg[r].len = len;
	if (posix_memalign((void **)&reg[r].mem, 4096, tot))
		return -1;
	reg[r].shadow = malloc(tot);
	if (!reg[r].shadow)
		return -1;
	for (i = 0; i < tot; i++)
		reg[r].mem[i] = reg[r].shadow[i] = pattern(r, i);
	return 0;
}

uint8_t *win(void)
{
	return reg[R_WIN].mem + PAD;
}

uint64_t win_addr(size_t off)
{
	return (uint64_t)(uintptr_t)(win() + off);
}

/* Every byte of every region as the shadow says. */
void check_memory(const struct alt_range *alt)
{
	int r;

	for (r = 0; r < NREG; r++) {
		size_t i, tot = PAD + reg[r].len + PAD, bad = 0, first = 0;

		if (!reg[r].mem)
			continue;
		for (i = 0; i < tot; i++) {
			uint8_t m = reg[r].mem[i];

			if (alt && alt->r == r && i >= PAD + alt->lo &&
			    i < PAD + alt->hi &&
			    m == alt->alt[i - PAD - alt->lo]) {
				reg[r].shadow[i] = m;
				continue;
			}
			if (m != reg[r].shadow[i]) {
				if (!bad++)
					first = i;
			}
		}
		if (!bad) {
			ok("%s: all %zu bytes as expected (canaries intact)",
			   reg[r].name, tot);
		} else {
			long off = (long)first - PAD;

			fail("%s: %zu bytes changed", reg[r].name, bad);
			note("first at registered offset %ld (%s), 0x%02x, "
			     "expected 0x%02x",
			     off,
			     off < 0			 ? "canary below"
			     : (size_t)off >= reg[r].len ? "canary above"
							 : "inside the region",
			     reg[r].mem[first], reg[r].shadow[first]);
			/* resync so the next case reports only its own */
			memcpy(reg[r].shadow, reg[r].mem, tot);
		}
	}
}

/* ------------------------------------------------------------ verbs */

const char *state_str(enum ibv_qp_state s)
{
	static const char *n[] = { "RESET", "INIT", "RTR", "RTS",
				   "SQD",   "SQE",  "ERR" };

	return (unsigned)s < 7 ? n[s] : "?";
}

struct ibv_qp *make_qp(void)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = cq,
		.recv_cq = cq,
		.cap = { .max_send_wr = 16,
			 .max_recv_wr = 16,
			 .max_send_sge = 1,
			 .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
	};
	struct tqp_path p = tqp_path(FAKE_QPN, &gid0);
	struct ibv_qp *qp = ibv_create_qp(pd, &ia);

	if (!qp) {
		fail("ibv_create_qp: %s", strerror(errno));
		return NULL;
	}
	p.hop_limit = 1;
	if ((errno = tqp_init(qp, IBV_ACCESS_LOCAL_WRITE |
					  IBV_ACCESS_REMOTE_WRITE |
					  IBV_ACCESS_REMOTE_READ |
					  IBV_ACCESS_REMOTE_ATOMIC))) {
		fail("modify to INIT: %s", strerror(errno));
		goto err;
	}
	if ((errno = tqp_rtr(qp, &p))) {
		fail("modify to RTR: %s", strerror(errno));
		goto err;
	}
	if ((errno = tqp_rts(qp, &p))) {
		fail("modify to RTS: %s", strerror(errno));
		goto err;
	}
	if (qp->qp_num <= FAKE_QPN) {
		fail("QPN 0x%x not above the fake peer's %u", qp->qp_num,
		     FAKE_QPN);
		goto err;
	}
	return qp;
err:
	ibv_destroy_qp(qp);
	return NULL;
}

enum ibv_qp_state qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr ia;

	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &ia))
		return (enum ibv_qp_state) - 1;
	return a.qp_state;
}

/* Waits up to DEADLINE_MS for the QP to reach ERR; returns ms taken or -1. */
long wait_err(struct ibv_qp *qp)
{
	uint64_t t0 = now_ms();

	for (;;) {
		if (qp_state(qp) == IBV_QPS_ERR)
			return (long)(now_ms() - t0);
		if (now_ms() - t0 > DEADLINE_MS)
			return -1;
		sleep_ms(5);
	}
}

static const char *ev_name(enum ibv_event_type t)
{
	switch (t) {
	case IBV_EVENT_QP_FATAL:
		return "IBV_EVENT_QP_FATAL";
	case IBV_EVENT_QP_REQ_ERR:
		return "IBV_EVENT_QP_REQ_ERR";
	case IBV_EVENT_QP_ACCESS_ERR:
		return "IBV_EVENT_QP_ACCESS_ERR";
	case IBV_EVENT_COMM_EST:
		return "IBV_EVENT_COMM_EST";
	case IBV_EVENT_QP_LAST_WQE_REACHED:
		return "IBV_EVENT_QP_LAST_WQE_REACHED";
	default:
		return ibv_event_type_str(t);
	}
}

/*
 * One async event for qp within the deadline, of a type in `allowed`; any
 * further event for it within 200 ms is a duplicate. Events naming another
 * QP (one already destroyed) are reported and not acked: acking would
 * touch freed memory in libibverbs.
 */
void check_async(struct ibv_qp *qp, unsigned int allowed)
{
	struct pollfd p = { .fd = ctx->async_fd, .events = POLLIN };
	uint64_t t0 = now_ms();
	int got = 0;

	for (;;) {
		struct ibv_async_event ev;
		long left = got ? 200 : DEADLINE_MS - (long)(now_ms() - t0);
		int n;

		if (left < 0)
			left = 0;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (ibv_get_async_event(ctx, &ev)) {
			fail("ibv_get_async_event: %s", strerror(errno));
			return;
		}
		if (ev.event_type != IBV_EVENT_QP_FATAL &&
		    ev.event_type != IBV_EVENT_QP_REQ_ERR &&
		    ev.event_type != IBV_EVENT_QP_ACCESS_ERR &&
		    ev.event_type != IBV_EVENT_COMM_EST &&
		    ev.event_type != IBV_EVENT_QP_LAST_WQE_REACHED &&
		    ev.event_type != IBV_EVENT_SQ_DRAINED &&
		    ev.event_type != IBV_EVENT_PATH_MIG &&
		    ev.event_type != IBV_EVENT_PATH_MIG_ERR) {
			/* not a QP event: element is not a QP */
			note("unrelated async event %s",
			     ev_name(ev.event_type));
			ibv_ack_async_event(&ev);
			continue;
		}
		if (ev.element.qp != qp) {
			fail("async event %s for a QP that no longer exists "
			     "(not acked)",
			     ev_name(ev.event_type));
			continue;
		}
		if (ev.event_type == IBV_EVENT_COMM_EST) {
			ibv_ack_async_event(&ev);
			continue;
		}
		if (got++) {
			fail("second async event %s for the QP",
			     ev_name(ev.event_type));
		} else if (allowed & EV(ev.event_type)) {
			ok("async event %s delivered after %lu ms",
			   ev_name(ev.event_type),
			   (unsigned long)(now_ms() - t0));
		} else {
			fail("async event %s is not an expected one",
			     ev_name(ev.event_type));
		}
		ibv_ack_async_event(&ev);
	}
	if (!got)
		fail("async event delivered within %d ms", DEADLINE_MS);
}

/* No async event pending at all (for cases that must not fail). */
void check_no_async(void)
{
	struct pollfd p = { .fd = ctx->async_fd, .events = POLLIN };

	if (poll(&p, 1, 0) > 0) {
		struct ibv_async_event ev;

		if (!ibv_get_async_event(ctx, &ev)) {
			fail("unexpected async event %s",
			     ev_name(ev.event_type));
			/* only ack events that cannot name a dead QP */
		}
	} else {
		ok("no async event");
	}
}

int drain_cq(struct ibv_wc *out, int max)
{
	struct ibv_wc wc[16];
	int n, total = 0, i;

	while ((n = ibv_poll_cq(cq, 16, wc)) > 0)
		for (i = 0; i < n; i++, total++)
			if (out && total < max)
				out[total] = wc[i];
	return total;
}
