# SPDX-License-Identifier: MIT
"""Idle QPs (issue 18): a QP that moved nothing for a second or two gives
back its transmit batch, receive staging and seal buffers (the engine's
idle pass, providers/tcp/qp_idle.c). Traffic after such an idle spell
must find them again, and a QP that waits in the middle of something
(a SEND without a receive to land in) must keep what it holds.

IDLE is load shaping, not synchronisation: the provider's idle period,
and then some, without a byte on the QP pair; nothing is waited for by
sleeping. How to run them: qp_helpers.py."""

import os
import sys
import time
import unittest

import pyverbs.enums as e

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_helpers import (poll_cq, poll_quiet, rand_bytes, recv_wr,  # noqa: E402
                        send_wr)
from qp_case import DataCase  # noqa: E402
from rtcp_verbs import timer_case  # noqa: E402

# the idle pass runs once a second and takes a QP idle for a whole period
IDLE = 2.5

OPS = (e.IBV_WR_SEND, e.IBV_WR_RDMA_WRITE, e.IBV_WR_RDMA_WRITE_WITH_IMM,
       e.IBV_WR_RDMA_READ)


@timer_case
class TestIdle(DataCase):
    def setUp(self):
        super().setUp()
        self.make()

    def round(self, wr_id):
        """Every opcode, small and multi-chunk (several 8 KiB chunks on a
        secured connection), 1 and 3 SGEs, checked byte by byte."""
        for op in OPS:
            for n, nsge in ((8, 1), (100000, 3)):
                with self.subTest(op=op, n=n, nsge=nsge, wr_id=wr_id):
                    self.transfer(op, n, nsge, wr_id=wr_id)
                wr_id += 1
        return wr_id

    def test_traffic_after_idle(self):
        wr_id = self.round(1)
        time.sleep(IDLE)
        self.round(wr_id)
        self.assertEqual(self.a.state(), e.IBV_QPS_RTS)
        self.assertEqual(self.b.state(), e.IBV_QPS_RTS)

    def test_send_waiting_for_a_receive_survives_idle(self):
        """A SEND posted before its receive waits through idle passes (the
        requester holds it for want of credit); posted then, the receive
        gets every byte."""
        self.round(1)  # both sides have had their buffers once
        n = 70000
        data = rand_bytes(n, 77)
        self.reset_bufs()
        self.l1.write(0, data)
        self.a.qp.post_send(send_wr(e.IBV_WR_SEND, [self.l1.sge(0, n)],
                                    wr_id=500))
        self.assertEqual(poll_quiet(self.a.scq, IDLE), [],
                         'the SEND completed without a receive')
        self.b.qp.post_recv(recv_wr([self.r1.sge(0, n + 64)], wr_id=501))
        wc = poll_cq(self.a.scq, 1, what='requester')[0]
        self.assertWC(wc, wr_id=500, opcode=e.IBV_WC_SEND, msg='requester')
        wc = poll_cq(self.b.rcq, 1, what='responder')[0]
        self.assertRecv(wc, self.a, self.b, n, wr_id=501, msg='responder')
        self.assertEqual(self.r1.read(0, n), data)


if __name__ == '__main__':
    unittest.main()
