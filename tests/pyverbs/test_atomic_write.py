# SPDX-License-Identifier: MIT
"""IBV_WR_ATOMIC_WRITE (RC): 8 bytes stored at the responder in one atomic
store, through ibv_wr_atomic_write and ibv_post_send; its checks
(alignment, remote write access, one 8-byte SGE, RC only).

How to run them: qp_helpers.py."""

import errno
import os
import sys

import pyverbs.enums as e
from pyverbs.qp import QPCap
from pyverbs.wr import SendWR

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_helpers import (FULL_ACCESS, SEND_OPS_RC, SEND_OPS_UC,  # noqa: E402
                        UC, Side, connect, poll_cq)
from qp_case import QPCase  # noqa: E402

OPS = SEND_OPS_RC | e.IBV_QP_EX_WITH_ATOMIC_WRITE


class TestAtomicWrite(QPCase):

    def ex_pair(self, access_b=FULL_ACCESS):
        a = self.side(ex=True, send_ops=OPS)
        b = self.side(ex=True, send_ops=OPS)
        connect(a, b, access_b=access_b)
        return a, b

    def atomic_write(self, a, rkey, raddr, data, wr_id=1):
        a.qp.wr_start()
        a.qp.wr_id = wr_id
        a.qp.wr_flags = e.IBV_SEND_SIGNALED
        a.qp.wr_atomic_write(rkey, raddr, data)
        a.qp.wr_complete()
        return poll_cq(a.scq, 1)[0]

    def test_ex_writes_the_bytes(self):
        a, b = self.ex_pair()
        dst = b.buf(64, guard=16)
        wc = self.atomic_write(a, dst.rkey, dst.addr + 8, b'ABCDEFGH')
        self.assertWC(wc, wr_id=1, opcode=e.IBV_WC_ATOMIC_WRITE)
        self.assertEqual(dst.read(8, 8), b'ABCDEFGH')
        whole = dst.whole()
        self.assertEqual(whole[:16 + 8] + whole[16 + 16:],
                         b'\xa5' * (len(whole) - 8), 'bytes around it')

    def test_post_send(self):
        """ibv_post_send: the bytes named by one 8-byte SGE, copied at
        post (the buffer may change right after)."""
        a, b = self.ex_pair()
        src, dst = a.buf(8), b.buf(16)
        src.write(0, b'12345678')
        wr = SendWR(wr_id=5, opcode=e.IBV_WR_ATOMIC_WRITE, num_sge=1,
                    sg=[src.sge(0, 8)], send_flags=e.IBV_SEND_SIGNALED)
        wr.set_wr_rdma(dst.rkey, dst.addr + 8)
        a.qp.post_send(wr)
        src.write(0, b'xxxxxxxx')
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=5,
                      opcode=e.IBV_WC_ATOMIC_WRITE)
        self.assertEqual(dst.read(8, 8), b'12345678')
        wr = SendWR(opcode=e.IBV_WR_ATOMIC_WRITE, num_sge=1,
                    sg=[src.sge(0, 4)])
        wr.set_wr_rdma(dst.rkey, dst.addr)
        self.assertRDMAError(errno.EINVAL, a.qp.post_send, wr)

    def test_misaligned(self):
        a, b = self.ex_pair()
        dst = b.buf(16)
        wc = self.atomic_write(a, dst.rkey, dst.addr + 4, b'ABCDEFGH')
        self.assertWC(wc, e.IBV_WC_REM_INV_REQ_ERR, wr_id=1)
        self.assertEqual(dst.read(0, 16), b'\xa5' * 16)

    def test_needs_remote_write(self):
        a, b = self.ex_pair()
        dst = b.buf(16, access=e.IBV_ACCESS_LOCAL_WRITE |
                    e.IBV_ACCESS_REMOTE_READ | e.IBV_ACCESS_REMOTE_ATOMIC)
        wc = self.atomic_write(a, dst.rkey, dst.addr, b'ABCDEFGH')
        self.assertWC(wc, e.IBV_WC_REM_ACCESS_ERR, wr_id=1)
        self.assertEqual(dst.read(0, 16), b'\xa5' * 16)

    def test_rc_only(self):
        self.assertRDMAError(errno.EOPNOTSUPP, Side, self.ctx, qp_type=UC,
                             ex=True,
                             send_ops=SEND_OPS_UC |
                             e.IBV_QP_EX_WITH_ATOMIC_WRITE,
                             cap=QPCap(max_send_wr=4, max_recv_wr=4))
        a = self.side(qp_type=UC)
        src = a.buf(8)
        wr = SendWR(opcode=e.IBV_WR_ATOMIC_WRITE, num_sge=1,
                    sg=[src.sge(0, 8)])
        wr.set_wr_rdma(src.rkey, src.addr)
        self.assertRDMAError(errno.EINVAL, a.qp.post_send, wr)
