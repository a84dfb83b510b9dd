# SPDX-License-Identifier: MIT
"""Regressions for correctness under load and faults (docs/reliability.md):
receive placement that must stop at the message's end, UC's drop-on-no-
receive, requesters whose peer never comes up, bounded responder queues.

Every wait has a deadline; nothing here can hang."""

import os
import subprocess
import sys
import time
import unittest

import pyverbs.enums as e
from pyverbs.qp import QPCap

from pyverbs.cq import CQ, CQEX, CqInitAttrEx, PollCqAttr
from pyverbs.pd import PD
from pyverbs.srq import SRQ, SrqAttr, SrqInitAttr

from qp_case import QPCase
from rtcp_verbs import timer_case
from qp_helpers import (TIMEOUT, Buf, UC, connect, poll_cq, poll_quiet,
                        rand_bytes, recv_wr, send_wr, wait_for, wc_str)

KiB, MiB = 1024, 1 << 20
SEND, WRITE = e.IBV_WR_SEND, e.IBV_WR_RDMA_WRITE
WRITE_IMM = e.IBV_WR_RDMA_WRITE_WITH_IMM
READ, FADD = e.IBV_WR_RDMA_READ, e.IBV_WR_ATOMIC_FETCH_AND_ADD


class TestReceivePlacement(QPCase):

    def test_small_send_after_large_frame_stays_in_its_message(self):
        """A SEND shorter than its receive buffer, right behind a large
        frame (its payload is then read straight into the buffer), must
        place exactly its own bytes: the frames behind it stay out of the
        buffer, the receive completes with the message's length, and the
        stream carries on (a WRITE behind it lands)."""
        cap = QPCap(max_send_wr=16, max_recv_wr=16, max_send_sge=1,
                    max_recv_sge=1)
        for rnd in range(3):
            a, b = self.pair(cap=cap)
            src = a.buf(128 * KiB)
            rbuf = b.buf(2 * 64 * KiB, guard=64)
            wbuf = b.buf(4 * KiB)
            big = rand_bytes(64 * KiB, rnd)
            small = rand_bytes(100, rnd + 100)
            wdata = rand_bytes(1000, rnd + 200)
            src.write(0, big)
            src.write(64 * KiB, small)
            src.write(96 * KiB, wdata)
            b.qp.post_recv(recv_wr([rbuf.sge(0, 64 * KiB)], wr_id=1))
            b.qp.post_recv(recv_wr([rbuf.sge(64 * KiB, 64 * KiB)], wr_id=2))
            a.qp.post_send(send_wr(SEND, [src.sge(0, 64 * KiB)], wr_id=11))
            a.qp.post_send(send_wr(SEND, [src.sge(64 * KiB, 100)], wr_id=12))
            a.qp.post_send(send_wr(WRITE, [src.sge(96 * KiB, 1000)],
                                   wr_id=13, rkey=wbuf.rkey,
                                   raddr=wbuf.addr))
            for i, wc in enumerate(poll_cq(a.scq, 3, what='sender')):
                self.assertWC(wc, wr_id=11 + i)
            r1, r2 = poll_cq(b.rcq, 2, what='receiver')
            self.assertRecv(r1, a, b, 64 * KiB, wr_id=1)
            self.assertRecv(r2, a, b, 100, wr_id=2)
            self.assertEqual(rbuf.read(0, 64 * KiB), big)
            self.assertEqual(rbuf.read(64 * KiB, 100), small)
            rest = rbuf.read(64 * KiB + 100, 64 * KiB - 100)
            self.assertEqual(rest, b'\xa5' * len(rest),
                             'bytes beyond the message changed')
            whole = rbuf.whole()
            self.assertEqual(whole[:64] + whole[-64:], b'\xa5' * 128)
            self.assertEqual(wbuf.read(0, 1000), wdata)
            self.assertEqual(a.state(), e.IBV_QPS_RTS)
            self.assertEqual(b.state(), e.IBV_QPS_RTS)


class TestReadAtomicDepth(QPCase):
    """max_rd_atomic (the requester's ORD) and max_dest_rd_atomic (the
    responder's IRD), as a NIC enforces them."""

    def test_requester_never_exceeds_its_depth(self):
        """Twenty READs and atomics posted at once through an ORD and IRD
        of 1: the requester holds them back in order, every one completes,
        and the bytes and the counter are right."""
        cap = QPCap(max_send_wr=64, max_recv_wr=4, max_send_sge=1,
                    max_recv_sge=1)
        a, b = self.pair(cap=cap,
                         connect_kw={'rtr_kw': {'max_dest_rd_atomic': 1},
                                     'rts_kw': {'max_rd_atomic': 1}})
        local = a.buf(20 * MiB + 4096)
        remote = b.buf(20 * MiB + 4096)
        data = rand_bytes(20 * MiB, 7)
        remote.write(0, data)
        remote.write(20 * MiB, b'\0' * 8)
        for i in range(20):
            if i % 4 == 3:
                a.qp.post_send(send_wr(FADD, [local.sge(20 * MiB + 8, 8)],
                                       wr_id=i, rkey=remote.rkey,
                                       raddr=remote.addr + 20 * MiB,
                                       compare_add=1))
            else:
                a.qp.post_send(send_wr(READ, [local.sge(i * MiB, MiB)],
                                       wr_id=i, rkey=remote.rkey,
                                       raddr=remote.addr + i * MiB))
        for i, wc in enumerate(poll_cq(a.scq, 20, what='requester')):
            self.assertWC(wc, wr_id=i)
        for i in range(20):
            if i % 4 != 3:
                self.assertEqual(local.read(i * MiB, MiB),
                                 data[i * MiB:(i + 1) * MiB], 'READ %d' % i)
        self.assertEqual(remote.read(20 * MiB, 8),
                         (5).to_bytes(8, 'little'))
        self.assertEqual(b.state(), e.IBV_QPS_RTS)

    def test_responder_refuses_more_than_its_depth(self):
        """A requester allowed 8 outstanding READs against a responder
        that accepts 1: while the first response is still streaming, a
        request that would queue a second response is refused -- that
        READ completes with REM_INV_REQ_ERR, the ones before it succeed,
        the ones after it are flushed, the responder gets
        IBV_EVENT_QP_REQ_ERR: no response queues beyond its depth."""
        cap = QPCap(max_send_wr=8, max_recv_wr=4, max_send_sge=1,
                    max_recv_sge=1)
        a, b = self.pair(cap=cap,
                         connect_kw={'rtr_kw': {'max_dest_rd_atomic': 1},
                                     'rts_kw': {'max_rd_atomic': 8}})
        size = 32 * MiB
        local = a.buf(3 * size)
        remote = b.buf(size)
        for i in range(3):
            a.qp.post_send(send_wr(READ, [local.sge(i * size, size)],
                                   wr_id=i, rkey=remote.rkey,
                                   raddr=remote.addr))
        wcs = poll_cq(a.scq, 3, what='requester')
        status = [wc.status for wc in wcs]
        self.assertIn(e.IBV_WC_REM_INV_REQ_ERR, status,
                      [wc_str(w) for w in wcs])
        first_err = status.index(e.IBV_WC_REM_INV_REQ_ERR)
        self.assertTrue(all(s == e.IBV_WC_SUCCESS
                            for s in status[:first_err]))
        self.assertTrue(all(s == e.IBV_WC_WR_FLUSH_ERR
                            for s in status[first_err + 1:]))
        self.events.wait(e.IBV_EVENT_QP_REQ_ERR)


class TestUCDrop(QPCase):
    """UC has no RNR: a message that finds no receive is dropped by the
    receiver, and the sender completes successfully, as on a NIC."""

    def run_drop(self, srq=None, pd=None):
        cap = QPCap(max_send_wr=64, max_recv_wr=8, max_send_sge=1,
                    max_recv_sge=1)
        a = self.side(qp_type=UC, cap=cap)
        b = self.side(qp_type=UC, cap=cap, srq=srq, pd=pd)
        connect(a, b)
        src = a.buf(2 * MiB)
        dst = b.buf(2 * MiB, guard=64)
        src.write(0, rand_bytes(2 * MiB, 3))
        sizes = [0, 1, 100, 4 * KiB, 64 * KiB, MiB, 17, 2 * MiB]
        n = 0
        for rnd in range(4):
            for sz in sizes:
                op = WRITE_IMM if n % 3 == 2 else SEND
                a.qp.post_send(send_wr(op, [src.sge(0, sz)] if sz else [],
                                       wr_id=n, imm=n, rkey=dst.rkey,
                                       raddr=dst.addr))
                n += 1
            for wc in poll_cq(a.scq, len(sizes), what='sender'):
                self.assertWC(wc)
        # a WRITE behind them all: once it is placed, the receiver has
        # passed every message before it (one stream, in order)
        marker = b'UC-MARK!'
        src.write(2 * MiB - 8, marker)
        a.qp.post_send(send_wr(WRITE, [src.sge(2 * MiB - 8, 8)], wr_id=900,
                               rkey=dst.rkey, raddr=dst.addr + MiB))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=900)
        self.assertTrue(wait_for(lambda: dst.read(MiB, 8) == marker,
                                 interval=0.001), 'marker not placed')
        self.assertEqual(poll_quiet(b.rcq, 0.05), [])
        # no dropped WRITE_IMM placed anything (the marker aside)
        whole = bytearray(dst.whole())
        whole[64 + MiB:64 + MiB + 8] = b'\xa5' * 8
        self.assertEqual(bytes(whole), b'\xa5' * len(whole))
        # and the next message with a receive waiting lands whole
        if srq:
            srq.post_recv(recv_wr([dst.sge(0, 64 * KiB)], wr_id=7))
        else:
            b.qp.post_recv(recv_wr([dst.sge(0, 64 * KiB)], wr_id=7))
        a.qp.post_send(send_wr(SEND, [src.sge(0, 1000)], wr_id=901))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=901)
        self.assertRecv(poll_cq(b.rcq, 1)[0], a, b, 1000, wr_id=7)
        self.assertEqual(dst.read(0, 1000), src.read(0, 1000))
        self.assertEqual(a.state(), e.IBV_QPS_RTS)
        self.assertEqual(b.state(), e.IBV_QPS_RTS)

    def test_uc_send_without_receive_is_dropped(self):
        self.run_drop()

    def test_uc_send_to_empty_srq_is_dropped(self):
        pd = PD(self.ctx)
        srq = SRQ(pd, SrqInitAttr(SrqAttr(max_wr=16, max_sge=1)))
        self._keep.append((pd, srq))
        self.run_drop(srq=srq, pd=pd)


class TestSrqRnr(QPCase):
    """A SEND to an RC QP whose SRQ is empty: the responder NAKs it as
    receiver-not-ready; the requester retries for rnr_retry x the
    responder's min_rnr_timer, then fails it with RNR_RETRY_EXC_ERR."""

    def srq_pair(self, min_rnr_timer, rnr_retry):
        pd_b = PD(self.ctx)
        srq = SRQ(pd_b, SrqInitAttr(SrqAttr(max_wr=16, max_sge=1)))
        rcq = CQ(self.ctx, 64)
        self._keep.extend((pd_b, srq, rcq))
        a = self.side()
        b = self.side(pd=pd_b, srq=srq, rcq=rcq)
        connect(a, b, rtr_kw={'min_rnr_timer': min_rnr_timer},
                rts_kw={'rnr_retry': rnr_retry})
        return a, b, srq, pd_b

    def test_empty_srq_fails_after_rnr_budget(self):
        """rnr_retry 2 x 0.96 ms: the SEND fails with RNR_RETRY_EXC_ERR
        (well within the test's deadline: it does not hang), the WR
        behind it is flushed and the requester's QP is in error."""
        a, b, srq, _ = self.srq_pair(min_rnr_timer=14, rnr_retry=2)
        src = a.buf(64)
        a.qp.post_send(send_wr(SEND, [src.sge(0, 9)], wr_id=1))
        a.qp.post_send(send_wr(WRITE, [src.sge(0, 9)], wr_id=2,
                               rkey=src.rkey, raddr=src.addr))
        w1, w2 = poll_cq(a.scq, 2, what='requester')
        self.assertWC(w1, status=e.IBV_WC_RNR_RETRY_EXC_ERR, wr_id=1)
        self.assertWC(w2, status=e.IBV_WC_WR_FLUSH_ERR, wr_id=2)
        self.assertEqual(a.state(), e.IBV_QPS_ERR)

    def test_receive_within_rnr_budget_delivers(self):
        """rnr_retry 3 x 491 ms: a receive posted 100 ms after the SEND
        arrives in time, and the message lands."""
        a, b, srq, pd_b = self.srq_pair(min_rnr_timer=31, rnr_retry=3)
        src = a.buf(64)
        src.write(0, b'rnr later')
        a.qp.post_send(send_wr(SEND, [src.sge(0, 9)], wr_id=1))
        self.assertEqual(poll_quiet(a.scq, 0.1), [])
        dst = Buf(pd_b, 64)
        self._keep.append(dst)
        srq.post_recv(recv_wr([dst.sge(0, 64)], wr_id=7))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=1)
        self.assertRecv(poll_cq(b.rcq, 1)[0], a, b, 9, wr_id=7)
        self.assertEqual(dst.read(0, 9), b'rnr later')
        self.assertEqual(a.state(), e.IBV_QPS_RTS)


@timer_case
class TestPeerNotReady(QPCase):
    """Work posted to a QP whose peer QP never reaches RTR: a NIC's
    requester retries for timeout x (retry_cnt + 1) and fails the oldest
    WR with RETRY_EXC_ERR; timeout 0 waits for ever."""

    def half_pair(self, peer_first, timeout):
        if peer_first:
            b = self.side()
            a = self.side()
        else:
            a = self.side()
            b = self.side()
        a.to_init()
        b.to_init()  # and there b stays
        a.to_rtr(b.qpn)
        a.to_rts(timeout=timeout, retry_cnt=7)
        return a, b

    def test_peer_in_init_fails_with_retry_exceeded(self):
        # with the peer's QPN above and below ours: we connect, or we wait
        for peer_first in (False, True):
            with self.subTest(peer_first=peer_first):
                a, b = self.half_pair(peer_first, timeout=14)
                src = a.buf(4096)
                a.qp.post_send(send_wr(WRITE, [src.sge(0, 64)], wr_id=1,
                                       rkey=src.rkey, raddr=src.addr))
                a.qp.post_send(send_wr(SEND, [src.sge(0, 64)], wr_id=2))
                t0 = time.monotonic()
                w1, w2 = poll_cq(a.scq, 2, what='requester')
                took = time.monotonic() - t0
                self.assertWC(w1, status=e.IBV_WC_RETRY_EXC_ERR, wr_id=1)
                self.assertWC(w2, status=e.IBV_WC_WR_FLUSH_ERR, wr_id=2)
                self.assertEqual(a.state(), e.IBV_QPS_ERR)
                # budget 67 ms x 8, floored at 1 s; the deadline of
                # poll_cq bounds it from above
                self.assertGreater(took, 0.5)

    def test_timeout_zero_waits_for_the_peer(self):
        a, b = self.half_pair(False, timeout=0)
        src = a.buf(4096)
        dst = b.buf(4096)
        src.write(0, b'late peer')
        a.qp.post_send(send_wr(WRITE, [src.sge(0, 9)], wr_id=1,
                               rkey=dst.rkey, raddr=dst.addr))
        self.assertEqual(poll_quiet(a.scq, 1.5), [])
        b.to_rtr(a.qpn)
        b.to_rts()
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=1)
        self.assertEqual(dst.read(0, 9), b'late peer')


class TestResponderErrors(QPCase):

    def test_uc_write_bad_rkey_is_dropped(self):
        """UC WRITE and WRITE_WITH_IMM to a bad rkey: dropped, nothing
        placed, no receive consumed; the QPs stay in RTS and the next
        message lands."""
        a, b = self.pair(qp_type=UC)
        src, dst = a.buf(4096), b.buf(4096, guard=64)
        src.write(0, rand_bytes(4096, 9))
        b.qp.post_recv(recv_wr([dst.sge(0, 256)], wr_id=0xb1))
        for i, op in enumerate((WRITE, WRITE_IMM)):
            a.qp.post_send(send_wr(op, [src.sge(0, 64)], wr_id=i,
                                   rkey=dst.rkey ^ 0x00a5a500,
                                   raddr=dst.addr + 1024))
        a.qp.post_send(send_wr(SEND, [src.sge(0, 100)], wr_id=9))
        for wc in poll_cq(a.scq, 3, what='sender'):
            self.assertWC(wc)
        self.assertRecv(poll_cq(b.rcq, 1)[0], a, b, 100, wr_id=0xb1)
        self.assertEqual(dst.read(0, 100), src.read(0, 100))
        self.assertEqual(dst.read(1024, 64), b'\xa5' * 64)
        self.assertEqual(b.state(), e.IBV_QPS_RTS)

    def test_srq_receive_checked_against_the_srq_pd(self):
        """A receive taken from an SRQ is the SRQ's: its buffer is checked
        against the SRQ's PD, not the QP's."""
        pd_srq = PD(self.ctx)
        srq = SRQ(pd_srq, SrqInitAttr(SrqAttr(max_wr=4, max_sge=1)))
        self._keep.extend((pd_srq, srq))
        a = self.side()
        b = self.side(srq=srq)  # the QP in a PD of its own
        connect(a, b)
        dst = Buf(pd_srq, 4096)
        self._keep.append(dst)
        src = a.buf(4096)
        src.write(0, b'srq pd')
        srq.post_recv(recv_wr([dst.sge(0, 64)], wr_id=3))
        a.qp.post_send(send_wr(SEND, [src.sge(0, 6)], wr_id=1))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=1)
        self.assertRecv(poll_cq(b.rcq, 1)[0], a, b, 6, wr_id=3)
        self.assertEqual(dst.read(0, 6), b'srq pd')


class TestResetCleansCQ(QPCase):

    def test_reset_drops_the_qps_unpolled_completions(self):
        """A QP moved to ERR flushes its work into its CQs; moving it on to
        RESET removes those entries (as hardware providers clean a reset
        QP's CQEs), while another QP's completions in the same CQs stay,
        in order."""
        from pyverbs.qp import QPAttr
        scq, rcq = CQ(self.ctx, 64), CQ(self.ctx, 64)
        self._keep.extend((scq, rcq))
        cap = QPCap(max_send_wr=8, max_recv_wr=8, max_send_sge=1,
                    max_recv_sge=1)
        a = self.side(cap=cap, scq=scq, rcq=rcq)
        c = self.side(cap=cap, scq=scq, rcq=rcq)
        b, d = self.side(cap=cap), self.side(cap=cap)
        connect(a, b)
        connect(c, d)
        buf = a.buf(64)
        cbuf = c.buf(64)
        for i in range(3):
            a.qp.post_recv(recv_wr([buf.sge(0, 64)], wr_id=0xa0 + i))
            c.qp.post_recv(recv_wr([cbuf.sge(0, 64)], wr_id=0xc0 + i))
        a.qp.modify(QPAttr(qp_state=e.IBV_QPS_ERR), e.IBV_QP_STATE)
        c.qp.modify(QPAttr(qp_state=e.IBV_QPS_ERR), e.IBV_QP_STATE)
        for i in range(2):
            a.qp.post_send(send_wr(SEND, [buf.sge(0, 8)], wr_id=0xa8 + i))
            c.qp.post_send(send_wr(SEND, [cbuf.sge(0, 8)], wr_id=0xc8 + i))
        a.qp.modify(QPAttr(qp_state=e.IBV_QPS_RESET), e.IBV_QP_STATE)
        got_s = poll_cq(scq, 2, what='send cq')
        got_r = poll_cq(rcq, 3, what='recv cq')
        self.assertEqual([w.wr_id for w in got_s], [0xc8, 0xc9])
        self.assertEqual([w.wr_id for w in got_r], [0xc0, 0xc1, 0xc2])
        self.assertEqual(poll_quiet(scq, 0.02) + poll_quiet(rcq, 0.02), [])


def poll_window_scenario():
    """In a child process (a deadlock must not take the suite with it):
    a QP in error whose CQ is polled with start_poll/end_poll; a post in
    the window flushes into that CQ, and next_poll sees it."""
    from qp_helpers import Side, connect as conn
    from pyverbs.device import Context
    from rtcp_verbs import DEV
    ctx = Context(name=DEV)
    cq = CQEX(ctx, CqInitAttrEx(cqe=16))
    a = Side(ctx, scq=cq, rcq=cq)
    b = Side(ctx)
    conn(a, b)
    buf = a.buf(64)
    from pyverbs.qp import QPAttr
    a.qp.modify(QPAttr(qp_state=e.IBV_QPS_ERR), e.IBV_QP_STATE)
    a.qp.post_send(send_wr(SEND, [buf.sge(0, 8)], wr_id=1))
    deadline = time.monotonic() + TIMEOUT
    while cq.start_poll(PollCqAttr()) != 0:
        assert time.monotonic() < deadline, 'no flush completion'
    assert cq.wr_id == 1 and cq.status == e.IBV_WC_WR_FLUSH_ERR
    # inside the window: the flush pushes into the CQ being polled
    a.qp.post_send(send_wr(SEND, [buf.sge(0, 8)], wr_id=2))
    assert cq.poll_next() == 0, 'next_poll missed a completion'
    assert cq.wr_id == 2 and cq.status == e.IBV_WC_WR_FLUSH_ERR
    assert cq.poll_next() != 0
    cq.end_poll()
    ctx.close()


class TestPollWindow(unittest.TestCase):

    def test_post_between_start_and_end_poll(self):
        """ibv_post_send between ibv_start_poll and ibv_end_poll on a QP in
        error must not hang, and ibv_next_poll sees its flush."""
        r = subprocess.run([sys.executable, os.path.abspath(__file__),
                            'poll-window'], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == '__main__':
    if sys.argv[1:] == ['poll-window']:
        poll_window_scenario()
        sys.exit(0)
    unittest.main()
