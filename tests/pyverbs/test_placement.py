# SPDX-License-Identifier: MIT
"""Placement safety (issue 3): every bad remote or local access ends with
nothing written or read, the right error completion, later WRs flushed,
the QPs in ERR, an async event, canaries intact.

How to run them: qp_helpers.py."""

import ctypes
import os
import random
import sys
import unittest

import pyverbs.enums as e
from pyverbs.pd import PD
from pyverbs.wr import SGE

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_helpers import (Buf, FULL_ACCESS, connect, poll_cq,  # noqa: E402
                        rand_bytes, recv_wr, send_wr, wait_for, wc_str)
from qp_case import QPCase  # noqa: E402


# ========================================================= 3. placement safety

class TestPlacementSafety(QPCase):
    """Every bad remote access: nothing written or read, REM_ACCESS_ERR at
    the requester, later WRs flushed, both QPs in ERR, an async event at the
    responder, canaries intact."""

    OPS = (e.IBV_WR_RDMA_WRITE, e.IBV_WR_RDMA_READ,
           e.IBV_WR_ATOMIC_FETCH_AND_ADD, e.IBV_WR_ATOMIC_CMP_AND_SWP)
    NEED = {e.IBV_WR_RDMA_WRITE: e.IBV_ACCESS_REMOTE_WRITE,
            e.IBV_WR_RDMA_READ: e.IBV_ACCESS_REMOTE_READ,
            e.IBV_WR_ATOMIC_FETCH_AND_ADD: e.IBV_ACCESS_REMOTE_ATOMIC,
            e.IBV_WR_ATOMIC_CMP_AND_SWP: e.IBV_ACCESS_REMOTE_ATOMIC}

    def run_case(self, op, how):
        qp_access_b = FULL_ACCESS
        if how == 'qp_no_remote_access':
            qp_access_b = e.IBV_ACCESS_LOCAL_WRITE
        elif how == 'qp_without_needed_right':
            qp_access_b = FULL_ACCESS & ~self.NEED[op]
        self.events.drain()
        a = self.side()
        b = self.side()
        connect(a, b, access_b=qp_access_b)
        lbuf = a.buf(4096, guard=4096)
        # the target region: one page with a page of canary either side
        access = FULL_ACCESS
        if how == 'mr_without_right':
            access = FULL_ACCESS & ~self.NEED[op]
        pd = None
        if how == 'other_pd':
            pd = PD(self.ctx)
            self._keep.append(pd)
        target = b.buf(4096, access=access, guard=4096, pd=pd)
        rnd = random.Random(hash((op, how)) & 0xffff)
        ctypes.memmove(target.base, rnd.randbytes(3 * 4096), 3 * 4096)
        rkey, raddr, n = target.rkey, target.addr + 64, 64
        if op != e.IBV_WR_RDMA_WRITE and op != e.IBV_WR_RDMA_READ:
            n = 8
        if how == 'bad_key':
            rkey ^= 0x00a5a500
        elif how == 'stale_key':
            stale = b.buf(4096, guard=4096)
            ctypes.memmove(stale.base, rnd.randbytes(3 * 4096), 3 * 4096)
            rkey, raddr = stale.rkey, stale.addr
            stale.close()
            target = stale  # its memory (still ours) must stay untouched
        elif how == 'past_end':
            raddr = target.addr + 4096 - 32 if n == 64 else \
                target.addr + 4096
        elif how == 'before_start':
            raddr = target.addr - 8
        elif how == 'length_overflow':
            raddr = target.addr + 8
            if n == 64:
                n = 4096  # 8 + 4096 > 4096
        before = target.whole()
        lbefore = lbuf.whole()
        # a receive on each side, then the bad WR and a good one after it
        abuf, bbuf = a.buf(4096), b.buf(4096)
        a.qp.post_recv(recv_wr([abuf.sge(0, 64)], wr_id=0xa1))
        b.qp.post_recv(recv_wr([bbuf.sge(0, 64)], wr_id=0xb1))
        bad = send_wr(op, [lbuf.sge(0, n)], wr_id=1, rkey=rkey, raddr=raddr,
                      compare_add=5, swap=6)
        good = send_wr(e.IBV_WR_RDMA_WRITE, [lbuf.sge(0, 16)], wr_id=2,
                       rkey=bbuf.rkey, raddr=bbuf.addr + 1024)
        bad.next_wr = good
        a.qp.post_send(bad)
        wcs = poll_cq(a.scq, 2, what='requester')
        self.assertWC(wcs[0], e.IBV_WC_REM_ACCESS_ERR, wr_id=1,
                      msg='bad WR')
        self.assertWC(wcs[1], e.IBV_WC_WR_FLUSH_ERR, wr_id=2,
                      msg='WR after it')
        self.events.wait((e.IBV_EVENT_QP_ACCESS_ERR, e.IBV_EVENT_QP_FATAL))
        wait_for(lambda: a.state() == b.state() == e.IBV_QPS_ERR)
        self.assertEqual(a.state(), e.IBV_QPS_ERR, 'requester state')
        self.assertEqual(b.state(), e.IBV_QPS_ERR, 'responder state')
        # both receive queues flushed
        self.assertWC(poll_cq(a.rcq, 1)[0], e.IBV_WC_WR_FLUSH_ERR,
                      wr_id=0xa1)
        self.assertWC(poll_cq(b.rcq, 1)[0], e.IBV_WC_WR_FLUSH_ERR,
                      wr_id=0xb1)
        # nothing written at the target or around it, nothing read back
        self.assertEqual(target.whole(), before, 'target memory changed')
        self.assertEqual(lbuf.whole(), lbefore, 'requester buffer changed')
        self.assertEqual(bbuf.read(1024, 16), b'\xa5' * 16,
                         'WR after the failed one was executed')

    def _all(self, how, ops=None):
        for op in ops or self.OPS:
            with self.subTest(op=op, how=how):
                self.run_case(op, how)

    def test_bad_rkey(self):
        self._all('bad_key')

    def test_stale_rkey(self):
        self._all('stale_key')

    def test_key_of_other_pd(self):
        self._all('other_pd')

    def test_mr_without_access_right(self):
        self._all('mr_without_right')

    def test_range_past_end(self):
        self._all('past_end')

    def test_range_before_start(self):
        self._all('before_start')

    def test_range_length_overflow(self):
        self._all('length_overflow', (e.IBV_WR_RDMA_WRITE,
                                      e.IBV_WR_RDMA_READ))

    def test_qp_without_remote_access(self):
        self._all('qp_no_remote_access')

    def test_qp_without_needed_right(self):
        self._all('qp_without_needed_right')

    def test_write_with_imm_bad_key(self):
        a, b = self.pair()
        lbuf = a.buf(4096)
        target = b.buf(4096, guard=4096)
        before = target.whole()
        b.qp.post_recv(recv_wr([], wr_id=0xb1))
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_WRITE_WITH_IMM,
                               [lbuf.sge(0, 100)], wr_id=1, imm=5,
                               rkey=target.rkey + 1, raddr=target.addr))
        self.assertWC(poll_cq(a.scq, 1)[0], e.IBV_WC_REM_ACCESS_ERR,
                      wr_id=1)
        # the receive it consumed completes with the error, as rxe's
        self.assertWC(poll_cq(b.rcq, 1)[0], e.IBV_WC_REM_ACCESS_ERR,
                      wr_id=0xb1, opcode=e.IBV_WC_RECV_RDMA_WITH_IMM)
        self.assertEqual(target.whole(), before)

    def test_send_larger_than_receive(self):
        a, b = self.pair()
        src = a.buf(4096)
        dst = b.buf(4096, guard=4096)
        src.write(0, rand_bytes(128, 1))
        b.qp.post_recv(recv_wr([dst.sge(0, 64)], wr_id=0xb1))
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 128)], wr_id=1))
        self.assertWC(poll_cq(a.scq, 1)[0], e.IBV_WC_REM_INV_REQ_ERR,
                      wr_id=1)
        wc = poll_cq(b.rcq, 1)[0]
        self.assertWC(wc, e.IBV_WC_LOC_LEN_ERR, wr_id=0xb1)
        # nothing beyond the receive buffer was written
        self.assertEqual(dst.whole()[4096 + 64:], b'\xa5' * (4096 - 64 + 4096))
        self.assertEqual(dst.whole()[:4096], b'\xa5' * 4096)

    def test_send_larger_than_receive_sges(self):
        a, b = self.pair()
        src = a.buf(4096)
        dst = b.buf(4096, guard=4096)
        src.write(0, rand_bytes(300, 1))
        b.qp.post_recv(recv_wr([dst.sge(0, 100), dst.sge(1000, 100),
                                dst.sge(2000, 99)], wr_id=0xb1))
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 300)], wr_id=1))
        self.assertWC(poll_cq(a.scq, 1)[0], e.IBV_WC_REM_INV_REQ_ERR)
        self.assertWC(poll_cq(b.rcq, 1)[0], e.IBV_WC_LOC_LEN_ERR)
        w = dst.whole()
        self.assertEqual(w[4096 + 2099:], b'\xa5' * (len(w) - 4096 - 2099))

    def test_bad_lkey_local_protection(self):
        for op in (e.IBV_WR_SEND, e.IBV_WR_RDMA_WRITE, e.IBV_WR_RDMA_READ,
                   e.IBV_WR_ATOMIC_FETCH_AND_ADD):
            with self.subTest(op=op):
                a, b = self.pair()
                src = a.buf(4096)
                tgt = b.buf(4096)
                bb = b.buf(4096)
                b.qp.post_recv(recv_wr([bb.sge(0, 4096)], wr_id=0xb1))
                n = 8 if op == e.IBV_WR_ATOMIC_FETCH_AND_ADD else 64
                sg = SGE(src.addr, n, src.lkey ^ 0x00333300)
                bad = send_wr(op, [sg], wr_id=1, rkey=tgt.rkey,
                              raddr=tgt.addr)
                # a good WR behind it (see test_local_error_completes_alone
                # for the bad WR on its own)
                good = send_wr(e.IBV_WR_RDMA_WRITE, [src.sge(0, 8)],
                               wr_id=2, rkey=tgt.rkey, raddr=tgt.addr + 512)
                bad.next_wr = good
                a.qp.post_send(bad)
                wcs = poll_cq(a.scq, 2)
                self.assertWC(wcs[0], e.IBV_WC_LOC_PROT_ERR, wr_id=1)
                self.assertWC(wcs[1], e.IBV_WC_WR_FLUSH_ERR, wr_id=2)
                self.assertEqual(a.state(), e.IBV_QPS_ERR)
                self.assertEqual(bb.read(0, 64), b'\xa5' * 64)
                self.assertEqual(tgt.read(0, 1024), b'\xa5' * 1024)

    def test_local_error_completes_alone(self):
        """A WR failing its local checks (bad lkey -> LOC_PROT_ERR) completes
        by itself, with nothing else happening on the QP (regression: it
        used to wait, QP in RTS, until other work moved the send queue)."""
        a, b = self.pair()
        src, tgt = a.buf(4096), b.buf(4096)
        # a WRITE there and back: the connection is up and what the peer
        # sent before its ack (credits) is in; then nothing is outstanding
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_WRITE, [src.sge(0, 8)],
                               wr_id=0, rkey=tgt.rkey, raddr=tgt.addr + 64))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=0)
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_WRITE,
                               [SGE(src.addr, 8, src.lkey ^ 0x00333300)],
                               wr_id=1, rkey=tgt.rkey, raddr=tgt.addr))
        wc = poll_cq(a.scq, 1, timeout=3)[0]
        self.assertWC(wc, e.IBV_WC_LOC_PROT_ERR, wr_id=1)
        self.assertEqual(a.state(), e.IBV_QPS_ERR)

    def test_lkey_of_other_pd_local_protection(self):
        a, b = self.pair()
        pd2 = PD(self.ctx)
        self._keep.append(pd2)
        foreign = Buf(pd2, 4096)
        self._keep.append(foreign)
        bb = b.buf(4096)
        b.qp.post_recv(recv_wr([bb.sge(0, 4096)], wr_id=0xb1))
        bad = send_wr(e.IBV_WR_SEND, [foreign.sge(0, 64)], wr_id=1)
        # a good WR behind it (see test_local_error_completes_alone)
        good = send_wr(e.IBV_WR_RDMA_WRITE, [], wr_id=2)
        bad.next_wr = good  # (pyverbs keeps no reference: we do)
        a.qp.post_send(bad)
        wcs = poll_cq(a.scq, 2)
        self.assertWC(wcs[0], e.IBV_WC_LOC_PROT_ERR, wr_id=1)
        self.assertWC(wcs[1], e.IBV_WC_WR_FLUSH_ERR, wr_id=2)
        self.assertEqual(bb.read(0, 64), b'\xa5' * 64)

    def test_read_into_readonly_local_mr(self):
        """The READ destination needs LOCAL_WRITE."""
        a, b = self.pair()
        ro = a.buf(4096, access=e.IBV_ACCESS_REMOTE_READ)
        src = b.buf(4096)
        before = ro.whole()
        bad = send_wr(e.IBV_WR_RDMA_READ, [ro.sge(0, 64)], wr_id=1,
                      rkey=src.rkey, raddr=src.addr)
        # a good WR behind it (see test_local_error_completes_alone)
        good = send_wr(e.IBV_WR_RDMA_WRITE, [], wr_id=2)
        bad.next_wr = good  # (pyverbs keeps no reference: we do)
        a.qp.post_send(bad)
        wcs = poll_cq(a.scq, 2)
        self.assertIn(wcs[0].status, (e.IBV_WC_LOC_PROT_ERR,
                                      e.IBV_WC_LOC_ACCESS_ERR),
                      wc_str(wcs[0]))
        self.assertWC(wcs[1], e.IBV_WC_WR_FLUSH_ERR, wr_id=2)
        self.assertEqual(ro.whole(), before)

    def test_receive_into_readonly_mr(self):
        a, b = self.pair()
        src = a.buf(4096)
        ro = b.buf(4096, access=e.IBV_ACCESS_REMOTE_READ)
        before = ro.whole()
        b.qp.post_recv(recv_wr([ro.sge(0, 4096)], wr_id=0xb1))
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 64)], wr_id=1))
        wa = poll_cq(a.scq, 1)[0]
        wb = poll_cq(b.rcq, 1)[0]
        self.assertNotEqual(wa.status, e.IBV_WC_SUCCESS, wc_str(wa))
        self.assertIn(wb.status, (e.IBV_WC_LOC_PROT_ERR,
                                  e.IBV_WC_LOC_ACCESS_ERR), wc_str(wb))
        self.assertEqual(ro.whole(), before)


if __name__ == '__main__':
    unittest.main()
