# SPDX-License-Identifier: MIT
"""Parent domains with custom allocators (issue 16 item 3), completion
timestamps, ibv_query_qp_data_in_order, and EOPNOTSUPP for what a tcp
device does not offer (item 4): each unsupported verb through the public
API, so that suites skip cleanly.

How to run them: qp_helpers.py."""

import errno
import os
import sys
import time

import pyverbs.enums as e
import pyverbs.mem_alloc as mem
from pyverbs.cq import CQ, CQEX, CqInitAttrEx, PollCqAttr
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD, ParentDomain, ParentDomainContext
from pyverbs.pd import ParentDomainInitAttr
from pyverbs.qp import QP, QPCap, QPInitAttrEx
from pyverbs.srq import SRQ, SrqAttr, SrqInitAttr, SrqInitAttrEx
from pyverbs.xrcd import XRCD, XRCDInitAttr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_helpers import (TIMEOUT, Buf, connect, poll_cq,  # noqa: E402
                        recv_wr, send_wr)
from qp_case import QPCase  # noqa: E402

# tcpdv.h: TCPDV_RES_TYPE_*
RES_BASE = 0x7c70 << 32
RES_QP, RES_CQ, RES_SRQ = RES_BASE + 1, RES_BASE + 2, RES_BASE + 3
TS_FLAGS = (e.IBV_WC_EX_WITH_COMPLETION_TIMESTAMP |
            e.IBV_WC_EX_WITH_COMPLETION_TIMESTAMP_WALLCLOCK)


class Allocator:
    """Counts what a parent domain's allocator gives and takes back."""

    def __init__(self, default=False):
        self.default = default
        self.live = {}  # ptr -> resource type
        self.allocs = []
        self.frees = []

    def alloc(self, pd, ctx, size, alignment, rtype):
        self.allocs.append((size, alignment, rtype))
        if self.default:
            return e._IBV_ALLOCATOR_USE_DEFAULT
        p = mem.posix_memalign(size, alignment)
        self.live[p] = rtype
        return p

    def free(self, pd, ctx, ptr, rtype):
        self.frees.append(rtype)
        if self.default:
            raise AssertionError('free of a buffer the default gave')
        if self.live.pop(ptr, None) != rtype:
            raise AssertionError('free of %#x (%#x): not given' %
                                 (ptr, rtype))
        mem.free(ptr)


class TestParentDomain(QPCase):

    def pdom(self, pd, allocator=None):
        attr = ParentDomainInitAttr(pd=pd)
        if allocator:
            # pyverbs keeps only a weak reference to the callbacks' holder
            allocator.holder = ParentDomainContext(
                pd, allocator.alloc, allocator.free, None)
            attr = ParentDomainInitAttr(pd=pd, pd_context=allocator.holder)
        return ParentDomain(self.ctx, attr=attr)

    def cq_ex(self, pdom, wc_flags=0):
        return CQEX(self.ctx, CqInitAttrEx(
            cqe=64, wc_flags=wc_flags, parent_domain=pdom,
            comp_mask=e.IBV_CQ_INIT_ATTR_MASK_PD))

    def test_queues_come_from_the_allocator(self):
        """A QP, CQ and SRQ made through the parent domain take their
        queue buffers from its allocator and give each back at destroy;
        traffic through them (an MR registered on the parent domain)
        lands byte for byte."""
        a = Allocator()
        pd = PD(self.ctx)
        pdom = self.pdom(pd, a)
        cq = self.cq_ex(pdom)
        srq = SRQ(pdom, SrqInitAttr(SrqAttr(max_wr=16, max_sge=1)))
        self.assertEqual(sorted(r for _, _, r in a.allocs),
                         [RES_CQ, RES_SRQ])
        for size, align, _ in a.allocs:
            self.assertGreater(size, 0)
            self.assertEqual(align & (align - 1), 0)
        rx = self.side(pd=pdom, scq=cq, rcq=cq, srq=srq)
        self.assertIn(RES_QP, [r for _, _, r in a.allocs])
        tx = self.side()
        connect(tx, rx)
        src, dst = tx.buf(4096), rx.buf(4096)
        data = os.urandom(4096)
        src.write(0, data)
        srq.post_recv(recv_wr([dst.sge(0, 4096)], wr_id=7))
        tx.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 4096)]))
        poll_cq(tx.scq, 1)
        wc = self.poll_ex(cq)
        self.assertEqual(wc, (e.IBV_WC_SUCCESS, 7))
        self.assertEqual(dst.read(0, 4096), data)
        # destroy: every buffer goes back through free, none leaks
        rx.qp.close()
        srq.close()
        cq.close()
        self.assertEqual(sorted(a.frees), sorted(r for _, _, r in a.allocs))
        self.assertEqual(a.live, {})
        for b in rx.bufs:
            b.close()
        pdom.close()
        pd.close()

    def poll_ex(self, cq):
        deadline = time.monotonic() + TIMEOUT
        while cq.start_poll(PollCqAttr()) == errno.ENOENT:
            if time.monotonic() > deadline:
                self.fail('no completion on the extended CQ')
        out = (cq.status, cq.wr_id)
        cq.end_poll()
        return out

    def test_use_default(self):
        """IBV_ALLOCATOR_USE_DEFAULT: the provider allocates, and never
        hands that buffer to the application's free."""
        a = Allocator(default=True)
        pd = PD(self.ctx)
        pdom = self.pdom(pd, a)
        cq = self.cq_ex(pdom)
        s = self.side(pd=pdom, scq=cq, rcq=cq)
        self.assertEqual(sorted(r for _, _, r in a.allocs), [RES_QP, RES_CQ])
        s.qp.close()
        cq.close()
        self.assertEqual(a.frees, [])
        pdom.close()
        pd.close()

    def test_protection_is_the_pds(self):
        """A QP made through a parent domain is protected by the PD it
        contains: an MR of that PD serves it, an MR of another PD fails
        the WR with a protection error."""
        pd = PD(self.ctx)
        pdom = self.pdom(pd)
        tx = self.side(pd=pdom)
        rx = self.side()
        connect(tx, rx)
        dst = rx.buf(64)
        own = Buf(pd, 64)
        other_pd = PD(self.ctx)
        other = Buf(other_pd, 64)
        self._keep += [own, other, other_pd]
        rx.qp.post_recv(recv_wr([dst.sge(0, 64)]))
        tx.qp.post_send(send_wr(e.IBV_WR_SEND, [own.sge(0, 64)], wr_id=1))
        self.assertWC(poll_cq(tx.scq, 1)[0], wr_id=1)
        tx.qp.post_send(send_wr(e.IBV_WR_SEND, [other.sge(0, 64)], wr_id=2))
        self.assertWC(poll_cq(tx.scq, 1)[0], e.IBV_WC_LOC_PROT_ERR, wr_id=2)

    def test_bad_parent_domain(self):
        """A parent domain contains a PD, not another parent domain.
        (Destroy order and thread domains: tools/verbs_domains.c.)"""
        pd = PD(self.ctx)
        self._keep.append(pd)
        pdom = self.pdom(pd)
        self._keep.append(pdom)
        self.assertRDMAError(errno.EINVAL, self.pdom, pdom)


class TestTimestamps(QPCase):

    def test_device_clock(self):
        ax = self.ctx.query_device_ex()
        self.assertEqual(ax.hca_core_clock, 1000000)  # kHz: ns ticks
        self.assertNotEqual(ax.completion_timestamp_mask, 0)
        v1 = self.ctx.query_rt_values_ex()
        v2 = self.ctx.query_rt_values_ex()
        self.assertEqual(v1[0], 0)
        self.assertGreater(v1[1], 0)
        self.assertGreaterEqual(v2[1], v1[1])

    def test_completion_timestamps(self):
        """Both clocks on every completion, taken when it was made:
        between the raw clock read before the post and after the poll,
        and near the wall clock."""
        cq = CQEX(self.ctx, CqInitAttrEx(cqe=64, wc_flags=TS_FLAGS |
                                         e.IBV_WC_EX_WITH_BYTE_LEN))
        self._keep.append(cq)
        tx = self.side(scq=cq, rcq=cq)
        rx = self.side(scq=cq, rcq=cq)
        connect(tx, rx)
        src, dst = tx.buf(256), rx.buf(256)
        rx.qp.post_recv(recv_wr([dst.sge(0, 256)], wr_id=2))
        raw0 = self.ctx.query_rt_values_ex()[1]
        wall0 = time.time_ns()
        tx.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 256)], wr_id=1))
        got = []
        deadline = time.monotonic() + TIMEOUT
        while len(got) < 2 and time.monotonic() < deadline:
            if cq.start_poll(PollCqAttr()) == errno.ENOENT:
                continue
            while True:
                self.assertEqual(cq.status, e.IBV_WC_SUCCESS)
                got.append((cq.wr_id, cq.read_timestamp(),
                            cq.read_completion_wallclock_ns()))
                if cq.poll_next() == errno.ENOENT:
                    break
            cq.end_poll()
        raw1 = self.ctx.query_rt_values_ex()[1]
        wall1 = time.time_ns()
        self.assertEqual(sorted(g[0] for g in got), [1, 2])
        for _, raw, wall in got:
            self.assertTrue(raw0 <= raw <= raw1, (raw0, raw, raw1))
            # the wall clock may be stepped: a second either side
            self.assertTrue(wall0 - 10**9 <= wall <= wall1 + 10**9)


class TestUnsupported(QPCase):
    """EOPNOTSUPP, never another errno, for what the device lacks."""

    def test_data_in_order(self):
        s = self.side()
        for op in (e.IBV_WR_RDMA_WRITE, e.IBV_WR_SEND, e.IBV_WR_RDMA_READ):
            self.assertEqual(s.qp.query_data_in_order(op), 0)

    def test_device_memory(self):
        """No device memory to offer (pyverbs stops at the cap before
        ibv_alloc_dm; its EOPNOTSUPP: tools/verbs_domains.c)."""
        self.assertEqual(self.ctx.query_device_ex().max_dm_size, 0)

    def test_xrcd(self):
        fd = os.open('/dev/null', os.O_RDONLY)
        try:
            self.assertRDMAError(errno.EOPNOTSUPP, XRCD, self.ctx,
                                 XRCDInitAttr(e.IBV_XRCD_INIT_ATTR_FD |
                                              e.IBV_XRCD_INIT_ATTR_OFLAGS,
                                              os.O_CREAT, fd))
        finally:
            os.close(fd)

    def test_qp_types(self):
        pd = PD(self.ctx)
        cq = CQ(self.ctx, 8)
        self._keep += [cq, pd]
        for t in (e.IBV_QPT_XRC_SEND, e.IBV_QPT_XRC_RECV,
                  e.IBV_QPT_RAW_PACKET):
            ia = QPInitAttrEx(qp_type=t, scq=cq, rcq=cq, pd=pd,
                              cap=QPCap(max_send_wr=4, max_recv_wr=4),
                              comp_mask=e.IBV_QP_INIT_ATTR_PD)
            self.assertRDMAError(errno.EOPNOTSUPP, QP, self.ctx, ia)

    def test_srq_types(self):
        pd = PD(self.ctx)
        cq = CQ(self.ctx, 8)
        self._keep += [cq, pd]
        for t in (e.IBV_SRQT_XRC, e.IBV_SRQT_TM):
            ia = SrqInitAttrEx(max_wr=8, max_sge=1)
            ia.srq_type = t
            ia.pd = pd
            ia.cq = cq
            ia.comp_mask = (e.IBV_SRQ_INIT_ATTR_TYPE |
                            e.IBV_SRQ_INIT_ATTR_PD | e.IBV_SRQ_INIT_ATTR_CQ)
            self.assertRDMAError(errno.EOPNOTSUPP, SRQ, self.ctx, ia)

    def test_odp(self):
        pd = PD(self.ctx)
        self._keep.append(pd)
        self.assertRDMAError(errno.EOPNOTSUPP, MR, pd, 4096,
                             e.IBV_ACCESS_LOCAL_WRITE |
                             e.IBV_ACCESS_ON_DEMAND)

    def test_import(self):
        fd = os.dup(self.ctx.cmd_fd)
        try:
            self.assertRDMAError(errno.EOPNOTSUPP, Context, cmd_fd=fd)
        finally:
            os.close(fd)
        pd = PD(self.ctx)
        self._keep.append(pd)
        self.assertRDMAError(errno.EOPNOTSUPP, PD, self.ctx,
                             handle=pd.handle)
