# SPDX-License-Identifier: MIT
"""Shared receive queues (issue 3): create/query/modify/resize, limits,
capacity, two QPs on one SRQ, the limit event, LAST_WQE_REACHED.

How to run them: qp_helpers.py."""

import errno
import os
import sys
import unittest

import pyverbs.enums as e
from pyverbs.cq import CQ
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import QPAttr
from pyverbs.srq import SRQ, SrqAttr, SrqInitAttr
from pyverbs.wr import RecvWR

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_helpers import (Buf, connect, poll_cq, poll_quiet,  # noqa: E402
                        rand_bytes, recv_wr, send_wr)
from qp_case import QPCase  # noqa: E402


# =================================================================== 5. SRQ

class TestSRQ(QPCase):

    def srq(self, pd, max_wr=16, max_sge=2, limit=0):
        s = SRQ(pd, SrqInitAttr(SrqAttr(max_wr=max_wr, max_sge=max_sge,
                                        srq_limit=limit)))
        self._keep.append(s)
        return s

    def test_create_query_modify_destroy(self):
        pd = PD(self.ctx)
        s = self.srq(pd, max_wr=16, max_sge=2)
        q = s.query()
        self.assertGreaterEqual(q.max_wr, 16)
        self.assertGreaterEqual(q.max_sge, 2)
        self.assertEqual(q.srq_limit, 0)
        s.modify(SrqAttr(srq_limit=4), e.IBV_SRQ_LIMIT)
        self.assertEqual(s.query().srq_limit, 4)
        # shrinking is fine
        s.modify(SrqAttr(max_wr=8), e.IBV_SRQ_MAX_WR)
        self.assertGreaterEqual(s.query().max_wr, 8)
        # a limit above max_wr is refused
        self.assertRDMAError(errno.EINVAL, s.modify,
                             SrqAttr(srq_limit=q.max_wr + 100),
                             e.IBV_SRQ_LIMIT)
        s.close()
        pd.close()

    def test_resize_grow(self):
        """The device reports IBV_DEVICE_SRQ_RESIZE: growing max_wr works,
        and the grown capacity can be filled."""
        self.assertTrue(self.attr.device_cap_flags &
                        e.IBV_DEVICE_SRQ_RESIZE)
        pd = PD(self.ctx)
        s = self.srq(pd, max_wr=16)
        s.modify(SrqAttr(max_wr=256), e.IBV_SRQ_MAX_WR)
        self.assertGreaterEqual(s.query().max_wr, 256)
        buf = Buf(pd, 4096)
        self._keep.append(buf)
        for i in range(256):
            s.post_recv(recv_wr([buf.sge(0, 16)], wr_id=i))

    def test_limits(self):
        pd = PD(self.ctx)
        a = self.attr
        self.srq(pd, max_wr=a.max_srq_wr, max_sge=1).close()
        self.srq(pd, max_wr=4, max_sge=a.max_srq_sge).close()
        for kw in ({'max_wr': a.max_srq_wr + 1},
                   {'max_sge': a.max_srq_sge + 1}, {'max_wr': 0}):
            with self.subTest(**kw):
                args = dict(max_wr=4, max_sge=1)
                args.update(kw)
                self.assertRDMAError(
                    (errno.EINVAL,), SRQ, pd,
                    SrqInitAttr(SrqAttr(**args)))

    def test_post_beyond_capacity(self):
        pd = PD(self.ctx)
        s = self.srq(pd, max_wr=4, max_sge=1)
        cap = s.query().max_wr
        buf = Buf(pd, 4096)
        self._keep.append(buf)
        for i in range(cap):
            s.post_recv(recv_wr([buf.sge(0, 16)], wr_id=i))
        bad = RecvWR(wr_id=0xbad, num_sge=1, sg=[buf.sge(0, 1)])
        with self.assertRaises(PyverbsRDMAError) as cm:
            s.post_recv(recv_wr([buf.sge(0, 16)], wr_id=0x77), bad)
        self.assertEqual(cm.exception.error_code, errno.ENOMEM)
        self.assertEqual(bad.wr_id, 0x77)
        self.assertRDMAError(errno.EINVAL, s.post_recv,
                             recv_wr([buf.sge(0, 1)] * 2))

    def _srq_pairs(self, npairs=2, srq_wr=32, limit=0):
        pd_b = PD(self.ctx)
        srq = self.srq(pd_b, max_wr=srq_wr, max_sge=1, limit=limit)
        rcq = CQ(self.ctx, 256)
        self._keep.append(rcq)
        pairs = []
        for _ in range(npairs):
            a = self.side()
            b = self.side(pd=pd_b, srq=srq, rcq=rcq)
            connect(a, b)
            pairs.append((a, b))
        return pd_b, srq, rcq, pairs

    def test_two_qps_share_srq(self):
        pd_b, srq, rcq, pairs = self._srq_pairs()
        dst = Buf(pd_b, 16 * 256)
        self._keep.append(dst)
        for i in range(16):
            srq.post_recv(recv_wr([dst.sge(256 * i, 256)], wr_id=i))
        sent = {}
        for k in range(8):
            a, b = pairs[k % 2]
            src = a.buf(256)
            msg = rand_bytes(100 + k, k)
            src.write(0, msg)
            a.qp.post_send(send_wr(e.IBV_WR_SEND_WITH_IMM,
                                   [src.sge(0, len(msg))], wr_id=k, imm=k))
            self.assertWC(poll_cq(a.scq, 1)[0], wr_id=k)
            sent[k] = (a, b, msg)
        wcs = poll_cq(rcq, 8)
        seen = set()
        for wc in wcs:
            a, b, msg = sent[wc.imm_data]
            self.assertRecv(wc, a, b, len(msg), imm=wc.imm_data)
            self.assertNotIn(wc.wr_id, seen)
            seen.add(wc.wr_id)
            self.assertEqual(dst.read(256 * wc.wr_id, len(msg)), msg)
        # both QPs took receives from the SRQ
        self.assertEqual({w.qp_num for w in wcs},
                         {b.qpn for _, b in pairs})
        # posting to a QP's own RQ is refused when it has an SRQ
        with self.assertRaises(PyverbsRDMAError):
            pairs[0][1].qp.post_recv(recv_wr([dst.sge(0, 16)]))

    def test_send_waits_for_srq_receive(self):
        pd_b, srq, rcq, pairs = self._srq_pairs(npairs=1)
        a, b = pairs[0]
        src = a.buf(64)
        src.write(0, b'srq later')
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 9)], wr_id=1))
        self.assertEqual(poll_quiet(a.scq, 0.2), [])
        dst = Buf(pd_b, 64)
        self._keep.append(dst)
        srq.post_recv(recv_wr([dst.sge(0, 64)], wr_id=7))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=1)
        self.assertRecv(poll_cq(rcq, 1)[0], a, b, 9, wr_id=7)
        self.assertEqual(dst.read(0, 9), b'srq later')

    def test_srq_limit_event(self):
        pd_b, srq, rcq, pairs = self._srq_pairs(npairs=1)
        a, b = pairs[0]
        dst = Buf(pd_b, 4096)
        self._keep.append(dst)
        for i in range(8):
            srq.post_recv(recv_wr([dst.sge(0, 64)], wr_id=i))
        srq.modify(SrqAttr(srq_limit=6), e.IBV_SRQ_LIMIT)
        src = a.buf(64)

        def send(i):
            a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 8)], wr_id=i))
            self.assertWC(poll_cq(a.scq, 1)[0], wr_id=i)
            poll_cq(rcq, 1)
        send(1)
        send(2)  # 6 left: not below the limit yet
        self.assertNotIn(e.IBV_EVENT_SRQ_LIMIT_REACHED,
                         self.events.drain(0.05))
        send(3)  # 5 < 6
        self.events.wait(e.IBV_EVENT_SRQ_LIMIT_REACHED)
        # the event disarms the limit
        self.assertEqual(srq.query().srq_limit, 0)
        send(4)
        self.assertNotIn(e.IBV_EVENT_SRQ_LIMIT_REACHED,
                         self.events.drain(0.05))

    def test_qp_to_err_last_wqe_reached(self):
        pd_b, srq, rcq, pairs = self._srq_pairs(npairs=2)
        a, b = pairs[0]
        b.qp.modify(QPAttr(qp_state=e.IBV_QPS_ERR), e.IBV_QP_STATE)
        self.events.wait(e.IBV_EVENT_QP_LAST_WQE_REACHED)
        # the other QP on the SRQ keeps working
        a2, b2 = pairs[1]
        dst = Buf(pd_b, 64)
        self._keep.append(dst)
        srq.post_recv(recv_wr([dst.sge(0, 64)], wr_id=3))
        src = a2.buf(64)
        src.write(0, b'still here')
        a2.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 10)], wr_id=4))
        self.assertWC(poll_cq(a2.scq, 1)[0], wr_id=4)
        self.assertRecv(poll_cq(rcq, 1)[0], a2, b2, 10, wr_id=3)
        self.assertEqual(dst.read(0, 10), b'still here')


if __name__ == '__main__':
    unittest.main()
