# SPDX-License-Identifier: MIT
"""The destroy rules (issue 3): EBUSY for a PD, CQ or SRQ still used by a
QP (checked through libibverbs directly: pyverbs closes dependants
first), and destroying a QP whose connection is still waiting.

How to run them: qp_helpers.py."""

import ctypes
import errno
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtcp_verbs import (IbvQpCap, IbvQpInitAttr,  # noqa: E402
                        IbvSrqInitAttr, RawContext, libverbs)
from qp_helpers import RC  # noqa: E402


# ========================================================= 6. destroy rules

WAITING_CONNECTION_SCRIPT = r"""
import sys, time
sys.path.insert(0, %r)
from qp_helpers import open_context, Side
ctx, _ = open_context()
for i in range(200):
    x, y = Side(ctx), Side(ctx)
    rtr, waiting = (x, y) if x.qpn < y.qpn else (y, x)
    rtr.to_init()
    waiting.to_init()
    rtr.to_rtr(waiting.qpn)   # connects; the hello waits for `waiting`
    time.sleep(0.01)
    rtr.qp.close()            # hang-up: the engine wakes for that record
    waiting.qp.close()        # ... which this frees under it
ctx.close()
print('clean')
""" % os.path.dirname(os.path.abspath(__file__))


class TestDestroyRules(unittest.TestCase):
    def test_destroy_with_waiting_connection(self):
        """Destroying a QP in INIT that another QP (at RTR) has connected
        to, right after that other QP was destroyed, 200 times (regression:
        the engine could still hold the waiting-connection record from an
        epoll event while destroy freed it -- ASan: heap-use-after-free in
        the pending hello's ready callback; plain build: glibc "double
        free"). Run in a
        child process so that a crash fails only this test."""
        r = subprocess.run([sys.executable, '-X', 'faulthandler', '-c',
                            WAITING_CONNECTION_SCRIPT],
                           capture_output=True, text=True, timeout=120)
        report = r.stderr[-3000:]
        self.assertNotIn('AddressSanitizer', r.stderr, report)
        self.assertNotIn('runtime error', r.stderr, report)
        self.assertEqual(r.returncode, 0, report)
        self.assertIn('clean', r.stdout)

    """pyverbs closes dependants first (PD.close() closes its QPs), so the
    EBUSY rules are checked through libibverbs directly."""

    def raw_qp(self, pd, cq, srq=None):
        ia = IbvQpInitAttr(send_cq=cq, recv_cq=cq, srq=srq,
                           cap=IbvQpCap(4, 4, 1, 1, 0), qp_type=RC)
        qp = libverbs.ibv_create_qp(pd, ctypes.byref(ia))
        self.assertTrue(qp, 'ibv_create_qp: errno %d' % ctypes.get_errno())
        return qp

    def test_pd_and_cq_busy_with_qp(self):
        with RawContext() as rc:
            pd = rc.alloc_pd()
            cq = libverbs.ibv_create_cq(rc.ctx, 16, None, None, 0)
            self.assertTrue(cq)
            cq2 = libverbs.ibv_create_cq(rc.ctx, 16, None, None, 0)
            self.assertTrue(cq2)
            qp = self.raw_qp(pd, cq)
            self.assertEqual(rc.dealloc_pd(pd), errno.EBUSY)
            self.assertEqual(libverbs.ibv_destroy_cq(cq), errno.EBUSY)
            self.assertEqual(libverbs.ibv_destroy_cq(cq2), 0)  # unused: fine
            self.assertEqual(libverbs.ibv_destroy_qp(qp), 0)
            self.assertEqual(libverbs.ibv_destroy_cq(cq), 0)
            self.assertEqual(rc.dealloc_pd(pd), 0)

    def test_srq_busy_with_qp(self):
        with RawContext() as rc:
            pd = rc.alloc_pd()
            cq = libverbs.ibv_create_cq(rc.ctx, 16, None, None, 0)
            sa = IbvSrqInitAttr(max_wr=8, max_sge=1)
            srq = libverbs.ibv_create_srq(pd, ctypes.byref(sa))
            self.assertTrue(srq)
            qp = self.raw_qp(pd, cq, srq)
            self.assertEqual(libverbs.ibv_destroy_srq(srq), errno.EBUSY)
            self.assertEqual(rc.dealloc_pd(pd), errno.EBUSY)
            self.assertEqual(libverbs.ibv_destroy_qp(qp), 0)
            self.assertEqual(rc.dealloc_pd(pd), errno.EBUSY)  # the SRQ
            self.assertEqual(libverbs.ibv_destroy_srq(srq), 0)
            self.assertEqual(libverbs.ibv_destroy_cq(cq), 0)
            self.assertEqual(rc.dealloc_pd(pd), 0)


if __name__ == '__main__':
    unittest.main()
