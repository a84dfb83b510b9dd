# SPDX-License-Identifier: MIT
"""Flow control (issue 3): receiver-not-ready retries and their budget,
SENDs waiting for receives while READs flow, credits over many small
SENDs.

How to run them: qp_helpers.py."""

import os
import struct
import sys
import time
import unittest

import pyverbs.enums as e
from pyverbs.qp import QPCap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_helpers import (TIMEOUT, connect, poll_cq, poll_quiet,  # noqa: E402
                        recv_wr, send_wr)
from qp_case import QPCase  # noqa: E402


# =================================================================== 4. flow

class TestFlow(QPCase):

    def test_send_waits_for_receive_while_read_flows(self):
        a, b = self.pair()  # rnr_retry 7
        src, dst = a.buf(4096), b.buf(4096)
        src.write(0, b'waiting for a receive')
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 21)], wr_id=1))
        self.assertEqual(poll_quiet(a.scq, 0.2), [],
                         'SEND completed with no receive posted')
        # the reverse direction: b reads from a, the response flows a -> b
        # past a's held SEND
        src.write(100, b'read me')
        b.qp.post_send(send_wr(e.IBV_WR_RDMA_READ, [dst.sge(200, 7)],
                               wr_id=2, rkey=src.rkey, raddr=src.addr + 100))
        self.assertWC(poll_cq(b.scq, 1)[0], wr_id=2,
                      opcode=e.IBV_WC_RDMA_READ)
        self.assertEqual(dst.read(200, 7), b'read me')
        # and b -> a SENDs (a has credits) flow as well
        abuf = a.buf(4096)
        a.qp.post_recv(recv_wr([abuf.sge(0, 64)], wr_id=3))
        b.qp.post_send(send_wr(e.IBV_WR_SEND, [dst.sge(200, 7)], wr_id=4))
        self.assertWC(poll_cq(b.scq, 1)[0], wr_id=4)
        self.assertRecv(poll_cq(a.rcq, 1)[0], b, a, 7, wr_id=3)
        self.assertEqual(poll_quiet(a.scq, 0.05), [])
        # the receive arrives: the SEND completes
        b.qp.post_recv(recv_wr([dst.sge(0, 64)], wr_id=5))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=1, opcode=e.IBV_WC_SEND)
        self.assertRecv(poll_cq(b.rcq, 1)[0], a, b, 21, wr_id=5)
        self.assertEqual(dst.read(0, 21), b'waiting for a receive')

    def test_rnr_retry_exhausted(self):
        """rnr_retry 1, min_rnr_timer 1, no receive: the SEND ends in
        IBV_WC_RNR_RETRY_EXC_ERR within a few seconds, later WRs flush.
        Both right after connecting and with the QPs idle first
        (regression: a credit stall that began in the posting thread
        while the engine slept in epoll_wait(-1) never timed out)."""
        for idle in (0.3, 0.0):
            with self.subTest(idle=idle):
                a, b = self.pair(connect_kw=dict(
                    rtr_kw=dict(min_rnr_timer=1), rts_kw=dict(rnr_retry=1)))
                src = a.buf(4096)
                time.sleep(idle)
                t0 = time.monotonic()
                a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 8)],
                                       wr_id=1))
                a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 8)],
                                       wr_id=2))
                wcs = poll_cq(a.scq, 2, timeout=3)
                self.assertWC(wcs[0], e.IBV_WC_RNR_RETRY_EXC_ERR, wr_id=1)
                self.assertWC(wcs[1], e.IBV_WC_WR_FLUSH_ERR, wr_id=2)
                self.assertLess(time.monotonic() - t0, 3)
                self.assertEqual(a.state(), e.IBV_QPS_ERR)

    def test_small_rnr_budget_with_receives_posted(self):
        """Receives posted before the connection is up: a SEND right after
        RTS with a tiny RNR budget (rnr_retry 0, min_rnr_timer 1: 10 us)
        must not fail with RNR while the peer's credits are on their way
        (regression: the budget ran from before the first credit frame)."""
        for attempt in range(20):
            with self.subTest(attempt=attempt):
                a = self.side()
                b = self.side()
                bb = b.buf(4096)
                src = a.buf(4096)

                def post_recvs():
                    for i in range(4):
                        b.qp.post_recv(recv_wr([bb.sge(0, 64)], wr_id=i))
                connect(a, b, rtr_kw=dict(min_rnr_timer=1),
                        rts_kw=dict(rnr_retry=0), before_rtr=post_recvs)
                for i in range(4):
                    a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 8)],
                                           wr_id=i))
                for w in poll_cq(a.scq, 4):
                    self.assertWC(w)
                self.assertEqual(len(poll_cq(b.rcq, 4)), 4)

    def test_rnr_retry_7_waits(self):
        a, b = self.pair(connect_kw=dict(
            rtr_kw=dict(min_rnr_timer=1), rts_kw=dict(rnr_retry=7)))
        src, dst = a.buf(4096), b.buf(4096)
        src.write(0, b'patience')
        a.qp.post_send(send_wr(e.IBV_WR_SEND_WITH_IMM, [src.sge(0, 8)],
                               wr_id=1, imm=0x11223344))
        self.assertEqual(poll_quiet(a.scq, 0.5), [])
        self.assertEqual(a.state(), e.IBV_QPS_RTS)
        b.qp.post_recv(recv_wr([dst.sge(0, 8)], wr_id=2))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=1)
        self.assertRecv(poll_cq(b.rcq, 1)[0], a, b, 8, wr_id=2,
                        imm=0x11223344)
        self.assertEqual(dst.read(0, 8), b'patience')

    def test_credits_many_small_sends(self):
        """More SENDs than receives ever posted at once: credits refill."""
        cap = QPCap(max_send_wr=128, max_recv_wr=8, max_send_sge=1,
                    max_recv_sge=1)
        a, b = self.pair(cap=cap)
        src, dst = a.buf(4096), b.buf(8 * 64)
        total = 100
        for i in range(total):
            src.write(4 * i, struct.pack('<I', i))
            a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(4 * i, 4)],
                                   wr_id=i))
        got = []
        posted = 0
        for i in range(8):
            b.qp.post_recv(recv_wr([dst.sge(64 * i, 64)], wr_id=i))
            posted += 1
        deadline = time.monotonic() + TIMEOUT
        while len(got) < total and time.monotonic() < deadline:
            n, wcs = b.rcq.poll(8)
            for w in wcs[:n]:
                self.assertRecv(w, a, b, 4)
                got.append(struct.unpack('<I', dst.read(64 * w.wr_id, 4))[0])
                if posted < total:
                    b.qp.post_recv(recv_wr([dst.sge(64 * w.wr_id, 64)],
                                           wr_id=w.wr_id))
                    posted += 1
        self.assertEqual(got, list(range(total)))
        wcs = poll_cq(a.scq, total)
        self.assertEqual([w.wr_id for w in wcs], list(range(total)))


if __name__ == '__main__':
    unittest.main()
