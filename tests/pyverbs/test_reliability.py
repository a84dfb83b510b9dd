# SPDX-License-Identifier: MIT
"""Regressions for correctness under load and faults (docs/reliability.md):
receive placement that must stop at the message's end, UC's drop-on-no-
receive, requesters whose peer never comes up, bounded responder queues.

Every wait has a deadline; nothing here can hang."""

import unittest

import pyverbs.enums as e
from pyverbs.qp import QPCap

from test_qp import (QPCase, RC, UC, poll_cq, rand_bytes, recv_wr, send_wr,
                     wc_str)

KiB = 1024
SEND, WRITE = e.IBV_WR_SEND, e.IBV_WR_RDMA_WRITE


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


if __name__ == '__main__':
    unittest.main()
