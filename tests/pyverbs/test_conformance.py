# SPDX-License-Identifier: MIT
"""Where a conformance suite found the provider unlike rxe and NICs
(issue 16): zero-length memory regions, the errno of a refused destroy,
re-registration keeping its keys, and the inline capacity of a QP that
asked for none.

How to run them: qp_helpers.py."""

import ctypes
import errno
import os
import sys
import unittest

import pyverbs.enums as e
from pyverbs.pd import PD
from pyverbs.mr import MR
from pyverbs.qp import QPCap
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.wr import SGE

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtcp_verbs import (IbvQpCap, IbvQpInitAttr,  # noqa: E402
                        IbvSrqInitAttr, RawContext, libverbs)
from qp_case import QPCase  # noqa: E402
from qp_helpers import (FULL_ACCESS, poll_cq, rand_bytes,  # noqa: E402
                        recv_wr, send_wr)

WRITE, READ = e.IBV_WR_RDMA_WRITE, e.IBV_WR_RDMA_READ


class RawBuf:
    """Memory we own, to register or re-register by address."""

    def __init__(self, n, fill=0xA5):
        self.raw = ctypes.create_string_buffer(n)
        ctypes.memset(self.raw, fill, n)
        self.addr = ctypes.addressof(self.raw)
        self.n = n

    def read(self):
        return ctypes.string_at(self.addr, self.n)


class ConfCase(QPCase):
    def post_one(self, side, op, sges, rkey, raddr, wr_id=1,
                 flags=e.IBV_SEND_SIGNALED):
        side.qp.post_send(send_wr(op, sges, wr_id=wr_id, flags=flags,
                                  rkey=rkey, raddr=raddr))
        return poll_cq(side.scq, 1, what='requester')[0]


# ============================================== 1. zero-length memory regions

class TestZeroLengthMR(ConfCase):
    def test_register_and_deregister(self):
        """ibv_reg_mr with length 0 gives a region (rxe: ib_uverbs_reg_mr
        does not refuse it), with keys, that deregisters."""
        mem = RawBuf(64)
        pd = PD(self.ctx)
        for access in (e.IBV_ACCESS_LOCAL_WRITE, FULL_ACCESS,
                       e.IBV_ACCESS_REMOTE_READ):
            with self.subTest(access=access):
                mr = MR(pd, 0, access, address=mem.addr)
                self.assertEqual(mr.length, 0)
                self.assertNotEqual(mr.lkey, 0)
                mr.close()
        # length 0 still has its access rules checked
        self.assertRDMAError(errno.EINVAL, MR, pd, 0,
                             e.IBV_ACCESS_REMOTE_WRITE, address=mem.addr)
        pd.close()

    def test_zero_byte_write_and_read(self):
        """Zero-byte WRITE and READ naming a zero-length region (its rkey
        and address, and a zero-length SGE with its lkey) complete; one
        byte more is a remote access error and nothing is written."""
        a, b = self.pair()
        lmem, rmem = RawBuf(64), RawBuf(64)
        lmr = MR(a.pd, 0, FULL_ACCESS, address=lmem.addr + 32)
        rmr = MR(b.pd, 0, FULL_ACCESS, address=rmem.addr + 32)
        self._keep += [lmr, rmr, lmem, rmem]
        zsge = SGE(lmem.addr + 32, 0, lmr.lkey)
        for i, op in enumerate((WRITE, READ, WRITE, READ)):
            wc = self.post_one(a, op, [zsge], rmr.rkey, rmem.addr + 32,
                               wr_id=10 + i)
            self.assertWC(wc, wr_id=10 + i, msg='zero-byte op %d' % op)
            self.assertEqual(wc.byte_len, 0)
        self.assertEqual(lmem.read(), b'\xa5' * 64)
        self.assertEqual(rmem.read(), b'\xa5' * 64)
        # the region holds no byte: a 1-byte WRITE into it is refused
        src = a.buf(64)
        wc = self.post_one(a, WRITE, [src.sge(0, 1)], rmr.rkey,
                           rmem.addr + 32, wr_id=20)
        self.assertWC(wc, status=e.IBV_WC_REM_ACCESS_ERR, wr_id=20)
        self.assertEqual(rmem.read(), b'\xa5' * 64)


# ===================================== 2. refused destroys: return and errno

class TestDestroyErrno(unittest.TestCase):
    """libibverbs 44 returns the provider's value as is (verbs.c:
    ibv_dealloc_pd, ibv_destroy_cq/qp/srq, ibv_dereg_mr); a kernel
    provider's failed write() has set errno to the same value."""

    def check_busy(self, what, fn, obj):
        ctypes.set_errno(0)
        rc = fn(obj)
        err = ctypes.get_errno()
        self.assertEqual((rc, err), (errno.EBUSY, errno.EBUSY),
                         '%s in use: returned %d, errno %d' % (what, rc, err))

    def test_busy_destroys_set_errno(self):
        mem = RawBuf(4096)
        with RawContext() as rc:
            pd = rc.alloc_pd()
            cq = libverbs.ibv_create_cq(rc.ctx, 16, None, None, 0)
            self.assertTrue(cq)
            sa = IbvSrqInitAttr(max_wr=8, max_sge=1)
            srq = libverbs.ibv_create_srq(pd, ctypes.byref(sa))
            self.assertTrue(srq)
            ia = IbvQpInitAttr(send_cq=cq, recv_cq=cq, srq=srq,
                               cap=IbvQpCap(max_send_wr=4, max_send_sge=1),
                               qp_type=e.IBV_QPT_RC)
            qp = libverbs.ibv_create_qp(pd, ctypes.byref(ia))
            self.assertTrue(qp)
            mr, err = rc.reg_mr(pd, mem.addr, 4096, e.IBV_ACCESS_LOCAL_WRITE)
            self.assertTrue(mr, 'ibv_reg_mr: errno %d' % err)
            self.check_busy('PD', libverbs.ibv_dealloc_pd, pd)
            self.check_busy('CQ', libverbs.ibv_destroy_cq, cq)
            self.check_busy('SRQ', libverbs.ibv_destroy_srq, srq)
            self.assertEqual(libverbs.ibv_destroy_qp(qp), 0)
            self.check_busy('PD (MR, SRQ)', libverbs.ibv_dealloc_pd, pd)
            self.assertEqual(libverbs.ibv_destroy_srq(srq), 0)
            self.assertEqual(libverbs.ibv_destroy_cq(cq), 0)
            self.check_busy('PD (MR)', libverbs.ibv_dealloc_pd, pd)
            self.assertEqual(rc.dereg_mr(mr), 0)
            self.assertEqual(rc.dealloc_pd(pd), 0)


# ================================== 3. re-registration keeps lkey and rkey

class TestReregKeepsKeys(ConfCase):
    """rxe_rereg_user_mr changes PD and access in place and hands back no
    new MR, so the keys stay; mlx5 keeps them too. Checks go by the
    region as it is now."""

    def setUp(self):
        super().setUp()
        self.a, self.b = self.pair()
        self.src = self.a.buf(4096)
        self.src.write(0, rand_bytes(4096, 7))
        self.old = RawBuf(8192)
        self.mr = MR(self.b.pd, 8192, FULL_ACCESS, address=self.old.addr)
        self._keep += [self.mr, self.old]
        self.keys = (self.mr.lkey, self.mr.rkey)

    def assertKeysKept(self, what):
        self.assertEqual((self.mr.lkey, self.mr.rkey), self.keys,
                         '%s changed the keys' % what)

    def write(self, raddr, n=64, wr_id=1):
        return self.post_one(self.a, WRITE, [self.src.sge(0, n)],
                             self.keys[1], raddr, wr_id=wr_id)

    def test_access(self):
        self.mr.rereg(e.IBV_REREG_MR_CHANGE_ACCESS, self.b.pd, 0, 0,
                      e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_READ)
        self.assertKeysKept('rereg(access)')
        # the kept key carries the new rights: READ yes, WRITE no
        wc = self.post_one(self.a, READ, [self.src.sge(0, 16)],
                           self.keys[1], self.old.addr, wr_id=2)
        self.assertWC(wc, wr_id=2)
        wc = self.write(self.old.addr, wr_id=3)
        self.assertWC(wc, status=e.IBV_WC_REM_ACCESS_ERR, wr_id=3)
        self.assertEqual(self.old.read(), b'\xa5' * 8192)

    def test_access_back_and_forth(self):
        for acc in (e.IBV_ACCESS_LOCAL_WRITE, FULL_ACCESS):
            self.mr.rereg(e.IBV_REREG_MR_CHANGE_ACCESS, self.b.pd, 0, 0, acc)
            self.assertKeysKept('rereg(access %#x)' % acc)
        self.assertWC(self.write(self.old.addr + 100, wr_id=4), wr_id=4)
        self.assertEqual(self.old.read()[100:164], self.src.read(0, 64))

    def test_translation(self):
        new = RawBuf(4096)
        self._keep.append(new)
        self.mr.rereg(e.IBV_REREG_MR_CHANGE_TRANSLATION, self.b.pd,
                      new.addr, 4096, 0)
        self.assertKeysKept('rereg(translation)')
        # the kept key names the new range ...
        self.assertWC(self.write(new.addr + 8, wr_id=5), wr_id=5)
        self.assertEqual(new.read()[8:72], self.src.read(0, 64))
        self.assertEqual(self.old.read(), b'\xa5' * 8192)
        # ... and no longer the old one
        self.assertWC(self.write(self.old.addr, wr_id=6),
                      status=e.IBV_WC_REM_ACCESS_ERR, wr_id=6)
        self.assertEqual(self.old.read(), b'\xa5' * 8192)

    def test_pd(self):
        pd2 = PD(self.ctx)
        self._keep.append(pd2)
        self.mr.rereg(e.IBV_REREG_MR_CHANGE_PD, pd2, 0, 0, 0)
        self.assertKeysKept('rereg(PD)')
        # the responder QP is in the old PD: the key no longer serves it
        self.assertWC(self.write(self.old.addr, wr_id=7),
                      status=e.IBV_WC_REM_ACCESS_ERR, wr_id=7)
        self.assertEqual(self.old.read(), b'\xa5' * 8192)
        self.mr.close()


# ======================= 4. inline capacity rounded up to the SGE area (rxe)

class TestInlineFromSGEArea(ConfCase):
    """rxe_init_sq: max_inline = max(max_send_sge * sizeof(ib_sge),
    max_inline_data), reported in the caps."""

    def caps(self, sge, inline):
        return QPCap(max_send_wr=8, max_recv_wr=8, max_send_sge=sge,
                     max_recv_sge=1, max_inline_data=inline)

    def test_reported_caps(self):
        for sge, inline, want in ((1, 0, 16), (3, 0, 48), (2, 20, 32),
                                  (1, 100, 100), (0, 0, 0)):
            with self.subTest(sge=sge, inline=inline):
                s = self.side(cap=self.caps(sge, inline))
                self.assertEqual(s.ia.cap.max_inline_data, want)
                self.assertEqual(s.ia.cap.max_send_sge, sge)
                qa, _ = s.qp.query(e.IBV_QP_CAP)
                self.assertEqual(qa.cap.max_inline_data, want)

    def test_inline_send_with_max_inline_0(self):
        a, b = self.pair(cap=self.caps(1, 0))
        src, dst = a.buf(64), b.buf(64)
        data = rand_bytes(16, 3)
        src.write(0, data)
        b.qp.post_recv(recv_wr([dst.sge(0, 64)], wr_id=9))
        wc = self.post_one(a, e.IBV_WR_SEND, [src.sge(0, 16)], 0, 0,
                           wr_id=8,
                           flags=e.IBV_SEND_SIGNALED | e.IBV_SEND_INLINE)
        self.assertWC(wc, wr_id=8)
        wc = poll_cq(b.rcq, 1, what='responder')[0]
        self.assertRecv(wc, a, b, 16, wr_id=9)
        self.assertEqual(dst.read(0, 16), data)
        # beyond the reported capacity: refused at post
        with self.assertRaises(PyverbsRDMAError) as cm:
            a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 17)],
                                   flags=e.IBV_SEND_SIGNALED |
                                   e.IBV_SEND_INLINE))
        self.assertEqual(cm.exception.error_code, errno.EINVAL)


if __name__ == '__main__':
    unittest.main()
