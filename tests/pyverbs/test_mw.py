# SPDX-License-Identifier: MIT
"""Memory windows (issue 16 item 2), as rxe has them: type 1 bound with
ibv_bind_mw, type 2 bound with an IBV_WR_BIND_MW work request and
invalidated by IBV_WR_LOCAL_INV or the peer's IBV_WR_SEND_WITH_INV. A remote
access with a window's rkey lands only inside the window's range, with the
window's rights, while it is bound (type 2: only on the QP it was bound
through); anything else is REM_ACCESS_ERR at the requester with the target
memory untouched.

How to run them: qp_helpers.py."""

import ctypes
import errno
import os
import random
import struct
import sys
import unittest

import pyverbs.enums as e
from pyverbs.mr import MW, MWBind, MWBindInfo
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.wr import SendWR

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_helpers import (FULL_ACCESS, connect, poll_cq,  # noqa: E402
                        rand_bytes, recv_wr, send_wr, wait_for)
from qp_case import QPCase  # noqa: E402
from rtcp_verbs import raw_wire  # noqa: E402
from test_wire import RawPeer  # noqa: E402
import rtcp_wire as w  # noqa: E402

PAGE = 4096
MR_ACCESS = FULL_ACCESS | e.IBV_ACCESS_MW_BIND
RW = e.IBV_ACCESS_REMOTE_READ | e.IBV_ACCESS_REMOTE_WRITE
# the window: 1024 bytes at offset 512 of a 3-page target region
WOFF, WLEN = 512, 1024


class MWCase(QPCase):

    def setup_pair(self, mr_access=MR_ACCESS):
        """A connected pair; b's target region (3 pages, guarded, random
        contents) is what the windows show."""
        self.events.drain()
        a, b = self.pair()
        lbuf = a.buf(2 * PAGE, guard=PAGE)
        target = b.buf(3 * PAGE, access=mr_access, guard=PAGE)
        rnd = random.Random(mr_access)
        ctypes.memmove(target.base, rnd.randbytes(5 * PAGE), 5 * PAGE)
        return a, b, lbuf, target

    def mw(self, side, mw_type, pd=None):
        mw = MW(pd or side.pd, mw_type)
        self._keep.append(mw)
        return mw

    def bind1(self, side, mw, buf, off, length, access,
              status=e.IBV_WC_SUCCESS):
        """ibv_bind_mw of a type 1 window; its completion checked."""
        old = mw.rkey
        info = MWBindInfo(buf.mr, buf.addr + off, length, access)
        side.qp.bind_mw(mw, MWBind(info, e.IBV_SEND_SIGNALED))
        wc = poll_cq(side.scq, 1, what='bind')[0]
        self.assertWC(wc, status, msg='type 1 bind')
        if status == e.IBV_WC_SUCCESS:
            self.assertEqual(wc.opcode, e.IBV_WC_BIND_MW)
        # the next key, as ibv_inc_rkey makes it
        self.assertEqual(mw.rkey, (old & ~0xff) | ((old + 1) & 0xff))
        return mw.rkey

    def bind2(self, side, mw, buf, off, length, access,
              status=e.IBV_WC_SUCCESS, wr_id=0x2b):
        """IBV_WR_BIND_MW of a type 2 window; returns the key it binds."""
        wr = SendWR(wr_id=wr_id, opcode=e.IBV_WR_BIND_MW,
                    send_flags=e.IBV_SEND_SIGNALED)
        wr.set_bind_wr(mw, MWBindInfo(buf.mr, buf.addr + off, length,
                                      access))
        side.qp.post_send(wr)
        wc = poll_cq(side.scq, 1, what='bind')[0]
        self.assertWC(wc, status, wr_id=wr_id, msg='type 2 bind')
        if status == e.IBV_WC_SUCCESS:
            self.assertEqual(wc.opcode, e.IBV_WC_BIND_MW)
        return wr.rkey

    def local_inv(self, side, rkey, status=e.IBV_WC_SUCCESS):
        wr = send_wr(e.IBV_WR_LOCAL_INV, [], wr_id=0x1e, imm=rkey)
        side.qp.post_send(wr)
        wc = poll_cq(side.scq, 1, what='local invalidate')[0]
        self.assertWC(wc, status, wr_id=0x1e, msg='local invalidate')
        if status == e.IBV_WC_SUCCESS:
            self.assertEqual(wc.opcode, e.IBV_WC_LOCAL_INV)

    def access_ok(self, a, op, lbuf, rkey, target, off, n=64, seed=1):
        """op of n bytes at target offset off through rkey: succeeds and
        moves exactly those bytes."""
        data = rand_bytes(n, seed)
        before = target.whole()
        if op == e.IBV_WR_RDMA_WRITE:
            lbuf.write(0, data)
        else:
            target.write(off, data)
            before = target.whole()
            lbuf.fill()
        a.qp.post_send(send_wr(op, [lbuf.sge(0, n)], wr_id=7, rkey=rkey,
                               raddr=target.addr + off))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=7, msg='access')
        if op == e.IBV_WR_RDMA_WRITE:
            want = bytearray(before)
            g = target.guard
            want[g + off:g + off + n] = data
            self.assertEqual(target.whole(), bytes(want), 'target region')
        else:
            self.assertEqual(lbuf.read(0, n), data, 'READ result')
            self.assertEqual(target.whole(), before, 'target changed')

    def access_refused(self, a, b, op, lbuf, rkey, target, off, n=64):
        """op through rkey fails with REM_ACCESS_ERR, both QPs end in ERR,
        nothing written or read."""
        before, lbefore = target.whole(), lbuf.whole()
        a.qp.post_send(send_wr(op, [lbuf.sge(0, n)], wr_id=9, rkey=rkey,
                               raddr=target.addr + off))
        self.assertWC(poll_cq(a.scq, 1)[0], e.IBV_WC_REM_ACCESS_ERR,
                      wr_id=9, msg='refused access')
        wait_for(lambda: a.state() == b.state() == e.IBV_QPS_ERR)
        self.assertEqual(b.state(), e.IBV_QPS_ERR, 'responder state')
        self.assertEqual(target.whole(), before, 'target memory changed')
        self.assertEqual(lbuf.whole(), lbefore, 'requester buffer changed')


class TestMWDevice(QPCase):

    def test_caps(self):
        self.assertTrue(self.attr.device_cap_flags & e.IBV_DEVICE_MEM_WINDOW)
        self.assertTrue(self.attr.device_cap_flags &
                        e.IBV_DEVICE_MEM_WINDOW_TYPE_2B)
        self.assertGreater(self.attr.max_mw, 0)

    def test_alloc_types(self):
        s = self.side()
        for t in (e.IBV_MW_TYPE_1, e.IBV_MW_TYPE_2):
            mw = MW(s.pd, t)
            self.assertEqual(mw.type, t)
            self.assertNotEqual(mw.rkey, 0)
            mw.close()
        with self.assertRaises(PyverbsRDMAError) as cm:
            MW(s.pd, 3)
        self.assertEqual(cm.exception.error_code, errno.EINVAL)

    def test_keys_distinct_from_regions(self):
        s = self.side()
        bufs = [s.buf(64, access=MR_ACCESS) for _ in range(8)]
        mws = [MW(s.pd, e.IBV_MW_TYPE_2) for _ in range(8)]
        keys = {b.rkey for b in bufs} | {m.rkey for m in mws}
        self.assertEqual(len(keys), 16)
        for m in mws:
            m.close()


class TestMWType1(MWCase):

    def test_write_read_inside(self):
        a, b, lbuf, target = self.setup_pair()
        mw = self.mw(b, e.IBV_MW_TYPE_1)
        rkey = self.bind1(b, mw, target, WOFF, WLEN, RW)
        for op in (e.IBV_WR_RDMA_WRITE, e.IBV_WR_RDMA_READ):
            self.access_ok(a, op, lbuf, rkey, target, WOFF, 64, seed=op)
            self.access_ok(a, op, lbuf, rkey, target, WOFF + WLEN - 100,
                           100, seed=op + 1)
            self.access_ok(a, op, lbuf, rkey, target, WOFF, WLEN,
                           seed=op + 2)

    def test_outside_range(self):
        cases = (('before start', WOFF - 8, 64),
                 ('past end', WOFF + WLEN - 32, 64),
                 ('after end', WOFF + WLEN, 8),
                 ('whole region', 0, 3 * PAGE))
        for op in (e.IBV_WR_RDMA_WRITE, e.IBV_WR_RDMA_READ):
            for what, off, n in cases:
                with self.subTest(op=op, what=what):
                    a, b, lbuf, target = self.setup_pair()
                    lbuf = a.buf(3 * PAGE)
                    mw = self.mw(b, e.IBV_MW_TYPE_1)
                    rkey = self.bind1(b, mw, target, WOFF, WLEN, RW)
                    self.access_refused(a, b, op, lbuf, rkey, target, off, n)

    def test_rights_narrower_than_region(self):
        """The region grants everything; the window only what it was
        bound with."""
        for right, ok_op, bad_op in (
                (e.IBV_ACCESS_REMOTE_READ, e.IBV_WR_RDMA_READ,
                 e.IBV_WR_RDMA_WRITE),
                (e.IBV_ACCESS_REMOTE_WRITE, e.IBV_WR_RDMA_WRITE,
                 e.IBV_WR_RDMA_READ),
                (e.IBV_ACCESS_REMOTE_READ, e.IBV_WR_RDMA_READ,
                 e.IBV_WR_ATOMIC_FETCH_AND_ADD)):
            with self.subTest(right=right, bad=bad_op):
                a, b, lbuf, target = self.setup_pair()
                mw = self.mw(b, e.IBV_MW_TYPE_1)
                rkey = self.bind1(b, mw, target, WOFF, WLEN, right)
                self.access_ok(a, ok_op, lbuf, rkey, target, WOFF + 8)
                self.access_refused(a, b, bad_op, lbuf, rkey, target,
                                    WOFF + 8, 8)

    def test_atomic_through_window(self):
        a, b, lbuf, target = self.setup_pair()
        mw = self.mw(b, e.IBV_MW_TYPE_1)
        rkey = self.bind1(b, mw, target, WOFF, WLEN,
                          e.IBV_ACCESS_REMOTE_ATOMIC)
        target.write(WOFF + 8, struct.pack('<Q', 40))
        a.qp.post_send(send_wr(e.IBV_WR_ATOMIC_FETCH_AND_ADD,
                               [lbuf.sge(0, 8)], wr_id=5, rkey=rkey,
                               raddr=target.addr + WOFF + 8, compare_add=2))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=5,
                      opcode=e.IBV_WC_FETCH_ADD)
        self.assertEqual(lbuf.read(0, 8), struct.pack('<Q', 40))
        self.assertEqual(target.read(WOFF + 8, 8), struct.pack('<Q', 42))
        # just past the window: refused
        self.access_refused(a, b, e.IBV_WR_ATOMIC_FETCH_AND_ADD, lbuf, rkey,
                            target, WOFF + WLEN, 8)

    def test_region_rights_not_needed(self):
        """As in rxe (and rdma-core's MWTest): a region registered with
        only local write and MW_BIND serves a window's remote writes."""
        a, b, lbuf, target = self.setup_pair(
            e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_MW_BIND)
        mw = self.mw(b, e.IBV_MW_TYPE_1)
        rkey = self.bind1(b, mw, target, WOFF, WLEN, RW)
        self.access_ok(a, e.IBV_WR_RDMA_WRITE, lbuf, rkey, target, WOFF)
        self.access_ok(a, e.IBV_WR_RDMA_READ, lbuf, rkey, target, WOFF)

    def test_rebind_and_unbind(self):
        a, b, lbuf, target = self.setup_pair()
        mw = self.mw(b, e.IBV_MW_TYPE_1)
        k1 = self.bind1(b, mw, target, WOFF, WLEN, RW)
        self.access_ok(a, e.IBV_WR_RDMA_WRITE, lbuf, k1, target, WOFF)
        # rebound elsewhere: the new key works there, not at the old range
        k2 = self.bind1(b, mw, target, 2 * PAGE, 256, RW)
        self.assertNotEqual(k1, k2)
        self.access_ok(a, e.IBV_WR_RDMA_WRITE, lbuf, k2, target, 2 * PAGE)
        # unbound (length 0): the key of the binding is no longer good
        k3 = self.bind1(b, mw, target, 0, 0, 0)
        self.access_refused(a, b, e.IBV_WR_RDMA_WRITE, lbuf, k3, target,
                            2 * PAGE)

    def test_old_key_after_rebind(self):
        a, b, lbuf, target = self.setup_pair()
        mw = self.mw(b, e.IBV_MW_TYPE_1)
        k1 = self.bind1(b, mw, target, WOFF, WLEN, RW)
        self.bind1(b, mw, target, WOFF, WLEN, RW)
        self.access_refused(a, b, e.IBV_WR_RDMA_WRITE, lbuf, k1, target,
                            WOFF)

    def test_bind_errors(self):
        """rxe's rules: MW_BIND_ERR at the binder, and its QP in ERR."""
        cases = (
            ('region without MW_BIND', FULL_ACCESS, WOFF, WLEN, RW),
            ('window past the region', MR_ACCESS, 2 * PAGE, PAGE + 1, RW),
            ('window before the region', MR_ACCESS, -8, 64, RW),
            ('writable window, region without local write',
             e.IBV_ACCESS_REMOTE_READ | e.IBV_ACCESS_MW_BIND, WOFF, WLEN,
             e.IBV_ACCESS_REMOTE_WRITE),
        )
        for what, mr_access, off, length, access in cases:
            with self.subTest(what=what):
                a, b, lbuf, target = self.setup_pair(mr_access)
                mw = self.mw(b, e.IBV_MW_TYPE_1)
                self.bind1(b, mw, target, off, length, access,
                           status=e.IBV_WC_MW_BIND_ERR)
                wait_for(lambda: b.state() == e.IBV_QPS_ERR)
                self.assertEqual(b.state(), e.IBV_QPS_ERR)

    def test_zero_based_refused(self):
        a, b, lbuf, target = self.setup_pair()
        mw = self.mw(b, e.IBV_MW_TYPE_1)
        info = MWBindInfo(target.mr, target.addr, 64,
                          RW | e.IBV_ACCESS_ZERO_BASED)
        with self.assertRaises(PyverbsRDMAError) as cm:
            b.qp.bind_mw(mw, MWBind(info, e.IBV_SEND_SIGNALED))
        self.assertEqual(cm.exception.error_code, errno.EINVAL)
        self.assertEqual(b.state(), e.IBV_QPS_RTS)

    def test_dealloc_bound(self):
        a, b, lbuf, target = self.setup_pair()
        mw = MW(b.pd, e.IBV_MW_TYPE_1)
        rkey = self.bind1(b, mw, target, WOFF, WLEN, RW)
        self.access_ok(a, e.IBV_WR_RDMA_WRITE, lbuf, rkey, target, WOFF)
        mw.close()  # dealloc of a bound window succeeds (rxe)
        self.access_refused(a, b, e.IBV_WR_RDMA_WRITE, lbuf, rkey, target,
                            WOFF)

    def test_dereg_region_with_bound_window(self):
        """rxe: EINVAL while a window is bound to the region."""
        a, b, lbuf, target = self.setup_pair()
        mw = self.mw(b, e.IBV_MW_TYPE_1)
        self.bind1(b, mw, target, WOFF, WLEN, RW)
        with self.assertRaises(PyverbsRDMAError) as cm:
            target.mr.close()
        self.assertEqual(cm.exception.error_code, errno.EINVAL)
        # still registered: its own key still works
        self.access_ok(a, e.IBV_WR_RDMA_WRITE, lbuf, target.rkey, target, 0)
        self.bind1(b, mw, target, 0, 0, 0)
        target.mr.close()


class TestMWType2(MWCase):

    def test_bind_write_read(self):
        a, b, lbuf, target = self.setup_pair()
        mw = self.mw(b, e.IBV_MW_TYPE_2)
        rkey = self.bind2(b, mw, target, WOFF, WLEN, RW)
        self.assertEqual(rkey >> 8, mw.rkey >> 8)
        self.access_ok(a, e.IBV_WR_RDMA_WRITE, lbuf, rkey, target, WOFF)
        self.access_ok(a, e.IBV_WR_RDMA_READ, lbuf, rkey, target,
                       WOFF + WLEN - 64)

    def test_outside_range(self):
        a, b, lbuf, target = self.setup_pair()
        mw = self.mw(b, e.IBV_MW_TYPE_2)
        rkey = self.bind2(b, mw, target, WOFF, WLEN, RW)
        self.access_refused(a, b, e.IBV_WR_RDMA_WRITE, lbuf, rkey, target,
                            WOFF + WLEN - 8, 16)

    def test_zero_based(self):
        """A type 2 window may be zero based: offsets count from 0."""
        a, b, lbuf, target = self.setup_pair()
        mw = self.mw(b, e.IBV_MW_TYPE_2)
        rkey = self.bind2(b, mw, target, WOFF, WLEN,
                          RW | e.IBV_ACCESS_ZERO_BASED)
        data = rand_bytes(32, 5)
        lbuf.write(0, data)
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_WRITE, [lbuf.sge(0, 32)],
                               wr_id=3, rkey=rkey, raddr=100))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=3)
        self.assertEqual(target.read(WOFF + 100, 32), data)
        self.access_refused(a, b, e.IBV_WR_RDMA_WRITE, lbuf, rkey, target,
                            -target.addr + WLEN - 8, 16)

    def test_only_on_its_qp(self):
        """The window's key is refused on another QP of the same PD."""
        a, b, lbuf, target = self.setup_pair()
        c = self.side()
        d = self.side(pd=b.pd)
        connect(c, d)
        mw = self.mw(b, e.IBV_MW_TYPE_2)
        rkey = self.bind2(b, mw, target, WOFF, WLEN, RW)
        self.access_ok(a, e.IBV_WR_RDMA_WRITE, lbuf, rkey, target, WOFF)
        cbuf = c.buf(PAGE)
        self.access_refused(c, d, e.IBV_WR_RDMA_WRITE, cbuf, rkey, target,
                            WOFF)

    def test_bind_twice_refused(self):
        a, b, lbuf, target = self.setup_pair()
        mw = self.mw(b, e.IBV_MW_TYPE_2)
        self.bind2(b, mw, target, WOFF, WLEN, RW)
        self.bind2(b, mw, target, WOFF, WLEN, RW,
                   status=e.IBV_WC_MW_BIND_ERR)

    def test_bind_errors(self):
        cases = (('zero length', MR_ACCESS, WOFF, 0, None),
                 ('region without MW_BIND', FULL_ACCESS, WOFF, WLEN, None),
                 ('window past the region', MR_ACCESS, PAGE, 2 * PAGE + 1,
                  None),
                 ('window of another PD', MR_ACCESS, WOFF, WLEN, 'pd'))
        for what, mr_access, off, length, other in cases:
            with self.subTest(what=what):
                a, b, lbuf, target = self.setup_pair(mr_access)
                mw = self.mw(b, e.IBV_MW_TYPE_2,
                             pd=a.pd if other == 'pd' else None)
                self.bind2(b, mw, target, off, length, RW,
                           status=e.IBV_WC_MW_BIND_ERR)
                wait_for(lambda: b.state() == e.IBV_QPS_ERR)
                self.assertEqual(b.state(), e.IBV_QPS_ERR)

    def test_local_invalidate(self):
        a, b, lbuf, target = self.setup_pair()
        mw = self.mw(b, e.IBV_MW_TYPE_2)
        rkey = self.bind2(b, mw, target, WOFF, WLEN, RW)
        self.access_ok(a, e.IBV_WR_RDMA_WRITE, lbuf, rkey, target, WOFF)
        self.local_inv(b, rkey)
        self.access_refused(a, b, e.IBV_WR_RDMA_WRITE, lbuf, rkey, target,
                            WOFF)

    def test_rebind_after_invalidate(self):
        a, b, lbuf, target = self.setup_pair()
        mw = self.mw(b, e.IBV_MW_TYPE_2)
        k1 = self.bind2(b, mw, target, WOFF, WLEN, RW)
        self.local_inv(b, k1)
        k2 = self.bind2(b, mw, target, 2 * PAGE, 128, RW)
        self.access_ok(a, e.IBV_WR_RDMA_WRITE, lbuf, k2, target, 2 * PAGE)
        if k1 != k2:
            self.access_refused(a, b, e.IBV_WR_RDMA_WRITE, lbuf, k1,
                                target, 2 * PAGE)

    def test_local_invalidate_errors(self):
        """Not a type 2 window (a region's key, a type 1 window, a stale
        key): LOC_QP_OP_ERR, as rxe."""
        for what in ('region', 'type 1', 'stale'):
            with self.subTest(what=what):
                a, b, lbuf, target = self.setup_pair()
                if what == 'region':
                    key = target.rkey
                elif what == 'type 1':
                    key = self.mw(b, e.IBV_MW_TYPE_1).rkey
                else:
                    mw = MW(b.pd, e.IBV_MW_TYPE_2)
                    key = mw.rkey
                    mw.close()
                self.local_inv(b, key, status=e.IBV_WC_LOC_QP_OP_ERR)

    def test_send_with_invalidate(self):
        a, b, lbuf, target = self.setup_pair()
        mw = self.mw(b, e.IBV_MW_TYPE_2)
        rkey = self.bind2(b, mw, target, WOFF, WLEN, RW)
        self.access_ok(a, e.IBV_WR_RDMA_WRITE, lbuf, rkey, target, WOFF)
        rbuf = b.buf(PAGE)
        b.qp.post_recv(recv_wr([rbuf.sge(0, 256)], wr_id=0xb1))
        data = rand_bytes(100, 9)
        lbuf.write(0, data)
        a.qp.post_send(send_wr(e.IBV_WR_SEND_WITH_INV, [lbuf.sge(0, 100)],
                               wr_id=0x51, imm=rkey))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=0x51, opcode=e.IBV_WC_SEND)
        wc = poll_cq(b.rcq, 1)[0]
        self.assertWC(wc, wr_id=0xb1, opcode=e.IBV_WC_RECV, qp_num=b.qpn)
        self.assertEqual(wc.byte_len, 100)
        self.assertTrue(wc.wc_flags & e.IBV_WC_WITH_INV, 'IBV_WC_WITH_INV')
        self.assertFalse(wc.wc_flags & e.IBV_WC_WITH_IMM)
        self.assertEqual(wc.imm_data, rkey, 'invalidated_rkey')
        self.assertEqual(rbuf.read(0, 100), data)
        self.access_refused(a, b, e.IBV_WR_RDMA_WRITE, lbuf, rkey, target,
                            WOFF)

    def test_send_with_invalidate_then_rebind(self):
        a, b, lbuf, target = self.setup_pair()
        mw = self.mw(b, e.IBV_MW_TYPE_2)
        k1 = self.bind2(b, mw, target, WOFF, WLEN, RW)
        rbuf = b.buf(PAGE)
        b.qp.post_recv(recv_wr([rbuf.sge(0, 64)], wr_id=0xb1))
        a.qp.post_send(send_wr(e.IBV_WR_SEND_WITH_INV, [], wr_id=0x51,
                               imm=k1))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=0x51)
        self.assertWC(poll_cq(b.rcq, 1)[0], wr_id=0xb1)
        k2 = self.bind2(b, mw, target, WOFF, WLEN, RW)
        self.access_ok(a, e.IBV_WR_RDMA_READ, lbuf, k2, target, WOFF)

    def test_send_with_invalidate_bad_key(self):
        """A key that names no type 2 window of the receiving QP's PD bound
        through that QP: the receive and the send both fail with
        REM_INV_REQ_ERR, nothing is invalidated."""
        for what in ('region', 'type 1', 'other qp', 'other pd'):
            with self.subTest(what=what):
                a, b, lbuf, target = self.setup_pair()
                if what == 'region':
                    key = target.rkey
                elif what == 'other pd':  # a free window of a's PD
                    key = self.mw(a, e.IBV_MW_TYPE_2).rkey
                elif what == 'type 1':
                    key = self.bind1(b, self.mw(b, e.IBV_MW_TYPE_1), target,
                                     WOFF, WLEN, RW)
                else:
                    c = self.side()
                    d = self.side(pd=b.pd)
                    connect(c, d)
                    key = self.bind2(d, self.mw(b, e.IBV_MW_TYPE_2), target,
                                     WOFF, WLEN, RW)
                rbuf = b.buf(PAGE)
                b.qp.post_recv(recv_wr([rbuf.sge(0, 64)], wr_id=0xb1))
                a.qp.post_send(send_wr(e.IBV_WR_SEND_WITH_INV,
                                       [lbuf.sge(0, 16)], wr_id=0x51,
                                       imm=key))
                self.assertWC(poll_cq(a.scq, 1)[0], e.IBV_WC_REM_INV_REQ_ERR,
                              wr_id=0x51, msg='sender')
                self.assertWC(poll_cq(b.rcq, 1)[0], e.IBV_WC_REM_INV_REQ_ERR,
                              wr_id=0xb1, msg='receiver')
                if what == 'other qp':
                    # still bound on d's QP: c can write through it
                    self.access_ok(c, e.IBV_WR_RDMA_WRITE, c.buf(PAGE), key,
                                   target, WOFF)

    def test_dealloc_bound(self):
        a, b, lbuf, target = self.setup_pair()
        mw = MW(b.pd, e.IBV_MW_TYPE_2)
        rkey = self.bind2(b, mw, target, WOFF, WLEN, RW)
        mw.close()
        self.access_refused(a, b, e.IBV_WR_RDMA_WRITE, lbuf, rkey, target,
                            WOFF)
        # the region is free to go
        target.mr.close()

    def test_bind_in_order_with_sends(self):
        """A bind takes effect in send-queue order: a SEND posted after it
        carries a key that works when the peer uses it."""
        a, b, lbuf, target = self.setup_pair()
        mw = self.mw(b, e.IBV_MW_TYPE_2)
        abuf = a.buf(PAGE)
        a.qp.post_recv(recv_wr([abuf.sge(0, 64)], wr_id=0xa1))
        info = MWBindInfo(target.mr, target.addr + WOFF, WLEN, RW)
        bind = SendWR(wr_id=0x2b, opcode=e.IBV_WR_BIND_MW,
                      send_flags=e.IBV_SEND_SIGNALED)
        bind.set_bind_wr(mw, info)
        sbuf = b.buf(64)
        sbuf.write(0, bind.rkey.to_bytes(4, 'little'))
        bind.next_wr = send_wr(e.IBV_WR_SEND, [sbuf.sge(0, 4)], wr_id=0x5e)
        b.qp.post_send(bind)
        wcs = poll_cq(b.scq, 2)
        self.assertEqual([(w.wr_id, w.status, w.opcode) for w in wcs],
                         [(0x2b, e.IBV_WC_SUCCESS, e.IBV_WC_BIND_MW),
                          (0x5e, e.IBV_WC_SUCCESS, e.IBV_WC_SEND)])
        self.assertWC(poll_cq(a.rcq, 1)[0], wr_id=0xa1)
        key = int.from_bytes(abuf.read(0, 4), 'little')
        self.access_ok(a, e.IBV_WR_RDMA_WRITE, lbuf, key, target, WOFF)


class TestMWUC(MWCase):
    """Windows on UC QPs: bind, WRITE through it, SEND_WITH_INV; a WRITE
    through an invalidated window is dropped, as UC drops what it cannot
    place, and the QP carries on."""

    def test_uc(self):
        a, b = self.pair(qp_type=e.IBV_QPT_UC)
        lbuf = a.buf(PAGE)
        target = b.buf(3 * PAGE, access=MR_ACCESS, guard=PAGE)
        mw = self.mw(b, e.IBV_MW_TYPE_2)
        rkey = self.bind2(b, mw, target, WOFF, WLEN,
                          e.IBV_ACCESS_REMOTE_WRITE)
        rbuf = b.buf(PAGE)
        for i in range(2):
            b.qp.post_recv(recv_wr([rbuf.sge(64 * i, 64)], wr_id=0xb1 + i))
        lbuf.write(0, b'through the window')
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_WRITE, [lbuf.sge(0, 18)],
                               wr_id=1, rkey=rkey, raddr=target.addr + WOFF))
        a.qp.post_send(send_wr(e.IBV_WR_SEND_WITH_INV, [lbuf.sge(0, 4)],
                               wr_id=2, imm=rkey))
        self.assertEqual([w.status for w in poll_cq(a.scq, 2)],
                         [e.IBV_WC_SUCCESS] * 2)
        wc = poll_cq(b.rcq, 1)[0]
        self.assertWC(wc, wr_id=0xb1)
        self.assertTrue(wc.wc_flags & e.IBV_WC_WITH_INV)
        self.assertEqual(wc.imm_data, rkey)
        self.assertEqual(target.read(WOFF, 18), b'through the window')
        # dropped: nothing lands; a later SEND still arrives
        before = target.whole()
        lbuf.write(0, b'X' * 18)
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_WRITE, [lbuf.sge(0, 18)],
                               wr_id=3, rkey=rkey, raddr=target.addr + WOFF))
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [lbuf.sge(0, 4)], wr_id=4))
        poll_cq(a.scq, 2)
        self.assertWC(poll_cq(b.rcq, 1)[0], wr_id=0xb2)
        self.assertEqual(target.whole(), before)
        self.assertEqual(b.state(), e.IBV_QPS_RTS)


class TestMWQPEx(MWCase):
    """The same through the ibv_wr_* API: wr_bind_mw, wr_local_inv,
    wr_send_inv."""

    OPS = (e.IBV_QP_EX_WITH_SEND | e.IBV_QP_EX_WITH_RDMA_WRITE |
           e.IBV_QP_EX_WITH_RDMA_READ | e.IBV_QP_EX_WITH_SEND_WITH_INV |
           e.IBV_QP_EX_WITH_LOCAL_INV | e.IBV_QP_EX_WITH_BIND_MW)

    def post_ex(self, side, wr_id, build):
        qp = side.qp
        qp.wr_start()
        qp.wr_id = wr_id
        qp.wr_flags = e.IBV_SEND_SIGNALED
        build(qp)
        qp.wr_complete()
        return poll_cq(side.scq, 1)[0]

    def test_bind_invalidate(self):
        self.events.drain()
        a, b = self.pair(ex=True, send_ops=self.OPS)
        lbuf = a.buf(2 * PAGE, guard=PAGE)
        target = b.buf(3 * PAGE, access=MR_ACCESS, guard=PAGE)
        mw = self.mw(b, e.IBV_MW_TYPE_2)
        rkey = (mw.rkey & ~0xff) | ((mw.rkey + 7) & 0xff)
        info = MWBindInfo(target.mr, target.addr + WOFF, WLEN, RW)
        wc = self.post_ex(b, 0x2b, lambda qp: qp.wr_bind_mw(mw, rkey, info))
        self.assertWC(wc, wr_id=0x2b, opcode=e.IBV_WC_BIND_MW)
        self.access_ok(a, e.IBV_WR_RDMA_WRITE, lbuf, rkey, target, WOFF)
        wc = self.post_ex(b, 0x1e, lambda qp: qp.wr_local_inv(rkey))
        self.assertWC(wc, wr_id=0x1e, opcode=e.IBV_WC_LOCAL_INV)
        # bound again, then invalidated by the peer's wr_send_inv
        wc = self.post_ex(b, 0x2c, lambda qp: qp.wr_bind_mw(mw, rkey, info))
        self.assertWC(wc, wr_id=0x2c, opcode=e.IBV_WC_BIND_MW)
        rbuf = b.buf(PAGE)
        b.qp.post_recv(recv_wr([rbuf.sge(0, 64)], wr_id=0xb1))

        def send_inv(qp):
            qp.wr_send_inv(rkey)
            qp.wr_set_sge(lbuf.sge(0, 8))
        wc = self.post_ex(a, 0x51, send_inv)
        self.assertWC(wc, wr_id=0x51, opcode=e.IBV_WC_SEND)
        wc = poll_cq(b.rcq, 1)[0]
        self.assertWC(wc, wr_id=0xb1, opcode=e.IBV_WC_RECV)
        self.assertTrue(wc.wc_flags & e.IBV_WC_WITH_INV)
        self.assertEqual(wc.imm_data, rkey)
        self.access_refused(a, b, e.IBV_WR_RDMA_WRITE, lbuf, rkey, target,
                            WOFF)


@raw_wire
class TestMWWire(MWCase):
    """SEND_INV frames from a raw peer (the wire format spoken by hand)."""

    def responder(self):
        self.events.drain()
        b = self.side()
        b.to_init()
        target = b.buf(3 * PAGE, access=MR_ACCESS, guard=PAGE)
        rbuf = b.buf(PAGE)
        b.qp.post_recv(recv_wr([rbuf.sge(0, 256)], wr_id=0xb1))
        peer = RawPeer(b)
        self.addCleanup(peer.close)
        mw = self.mw(b, e.IBV_MW_TYPE_2)
        rkey = self.bind2(b, mw, target, WOFF, WLEN, RW)
        return b, target, rbuf, peer, rkey

    def test_send_inv_frame(self):
        b, target, rbuf, peer, rkey = self.responder()
        peer.frame(w.RTCP_OP_WRITE, b'w1', rkey=rkey,
                   raddr=target.addr + WOFF)
        peer.frame(w.RTCP_OP_SEND_INV, b'bye', rkey=rkey)
        wc = poll_cq(b.rcq, 1)[0]
        self.assertWC(wc, wr_id=0xb1, opcode=e.IBV_WC_RECV)
        self.assertTrue(wc.wc_flags & e.IBV_WC_WITH_INV)
        self.assertEqual(wc.imm_data, rkey)
        self.assertEqual(rbuf.read(0, 3), b'bye')
        self.assertEqual(target.read(WOFF, 2), b'w1')
        # the window is gone: a WRITE through it is refused
        before = target.whole()
        peer.frame(w.RTCP_OP_WRITE, b'w2', rkey=rkey,
                   raddr=target.addr + WOFF)
        hdr, _ = peer.read_until(w.RTCP_OP_TERMINATE)
        self.assertEqual(hdr[4], 2)  # msn of the refused WRITE
        self.assertIn(hdr[11], (struct.pack('>I', w.RTCP_SYN_REM_ACCESS),
                                struct.pack('=I', w.RTCP_SYN_REM_ACCESS)))
        self.assertEqual(target.whole(), before)

    def test_send_inv_bad_key_frame(self):
        """SEND_INV naming a region's key: TERMINATE with the invalid
        request syndrome, the receive fails, the QP ends in ERR."""
        b, target, rbuf, peer, rkey = self.responder()
        peer.frame(w.RTCP_OP_SEND_INV, b'x' * 16, rkey=target.rkey)
        hdr, _ = peer.read_until(w.RTCP_OP_TERMINATE)
        self.assertEqual(hdr[4], 0)
        self.assertIn(hdr[11], (struct.pack('>I', w.RTCP_SYN_REM_INV_REQ),
                                struct.pack('=I', w.RTCP_SYN_REM_INV_REQ)))
        self.assertWC(poll_cq(b.rcq, 1)[0], e.IBV_WC_REM_INV_REQ_ERR,
                      wr_id=0xb1)
        self.events.wait(e.IBV_EVENT_QP_REQ_ERR)
        peer.wait_eof()
        self.assertEqual(b.state(), e.IBV_QPS_ERR)
        self.assertEqual(rbuf.read(0, 16), b'\xa5' * 16)


if __name__ == '__main__':
    unittest.main()
