# SPDX-License-Identifier: MIT
"""Completion channels of a tcp device (made by librdmacm-ext), through
Debian's stock pyverbs and, for what pyverbs hides, ctypes.

Run with the system interpreter, the device registered and the environment
of `rdma-tcp env` applied (it preloads librdmacm-ext):

    eval "$(rdma-tcp env)"
    RDMA_TCP_DEV=tcp0 /usr/bin/python3 -m unittest -v \\
        tests/pyverbs/test_comp_channel.py

Completions come from RC QP pairs connected to each other inside one
context. The channel's fd (pyverbs does not show it) is found as the new
descriptor that becomes readable when the first event is due. Every test is
bounded by an alarm, so a lost event fails instead of hanging.

Also checked: without the preload, ibv_create_comp_channel on a tcp
device fails cleanly (NULL, errno set), in a child interpreter.
"""

import ctypes
import errno
import fcntl
import os
import select
import subprocess
import sys
import time
import unittest

import pyverbs.enums as e
from pyverbs.cq import CQ, CompChannel
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import QP, QPCap, QPInitAttr
from pyverbs.wr import RecvWR, SendWR, SGE

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtcp_verbs import (DEV, RawContext, bounded, libverbs,  # noqa: E402
                        open_fds, preloaded, readable)
from qp_helpers import (MASK_INIT, MASK_RTR_RC, MASK_RTS_RC,  # noqa: E402
                        init_attr, poll_cq, rtr_attr, rts_attr)

MSG = 64
ACCESS = (e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE |
          e.IBV_ACCESS_REMOTE_READ)


def ack_raw_event(record):
    """ibv_ack_cq_events(cq, 1) for an event record read from the channel
    fd directly (struct ib_uverbs_comp_event_desc: the CQ's address)."""
    libverbs.ibv_ack_cq_events.restype = None
    libverbs.ibv_ack_cq_events.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    libverbs.ibv_ack_cq_events(int.from_bytes(record[:8], sys.byteorder), 1)


class Pair:
    """Two RC QPs of one context connected to each other; `a` sends to
    `b`. Each QP gets the CQs given (the same CQ may serve several)."""

    def __init__(self, ctx, pd, a_cqs, b_cqs):
        self.ctx = ctx
        cap = QPCap(max_send_wr=64, max_recv_wr=64, max_send_sge=1,
                    max_recv_sge=1)
        self.a = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=a_cqs[0],
                                   rcq=a_cqs[1], cap=cap, sq_sig_all=0))
        self.b = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=b_cqs[0],
                                   rcq=b_cqs[1], cap=cap, sq_sig_all=0))
        self.smr = MR(pd, MSG, ACCESS)
        self.rmr = MR(pd, MSG * 64, ACCESS)
        for q in (self.a, self.b):
            q.modify(init_attr(ACCESS), MASK_INIT)
        for q, peer in ((self.a, self.b), (self.b, self.a)):
            q.modify(rtr_attr(ctx, peer.qp_num, max_dest_rd_atomic=1),
                     MASK_RTR_RC)
        for q in (self.a, self.b):
            q.modify(rts_attr(max_rd_atomic=1), MASK_RTS_RC)
        self.nrecv = 0

    def recv(self, n=1):
        for _ in range(n):
            sge = SGE(self.rmr.buf + (self.nrecv % 64) * MSG, MSG,
                      self.rmr.lkey)
            self.b.post_recv(RecvWR(wr_id=self.nrecv, num_sge=1, sg=[sge]))
            self.nrecv += 1

    def send(self, solicited=False, signaled=True):
        flags = (e.IBV_SEND_SIGNALED if signaled else 0) | \
            (e.IBV_SEND_SOLICITED if solicited else 0)
        sge = SGE(self.smr.buf, MSG, self.smr.lkey)
        self.a.post_send(SendWR(opcode=e.IBV_WR_SEND, num_sge=1, sg=[sge],
                                send_flags=flags))

    def close(self):
        self.b.close()
        self.a.close()
        self.smr.close()
        self.rmr.close()


def poll_n(cq, n, timeout=10):
    """n successful completions from cq (busy-polled)."""
    got = poll_cq(cq, n, timeout)
    for wc in got:
        if wc.status != e.IBV_WC_SUCCESS:
            raise AssertionError('completion status %d' % wc.status)
    return got


@unittest.skipUnless(preloaded(), 'librdmacm-ext is not preloaded '
                     '(eval "$(rdma-tcp env)")')
class CompChannelCase(unittest.TestCase):

    def setUp(self):
        self.ctx = Context(name=DEV)
        self.pd = PD(self.ctx)
        self.objs = []

    def tearDown(self):
        for o in reversed(self.objs):
            o.close()
        self.pd.close()
        self.ctx.close()

    def keep(self, o):
        self.objs.append(o)
        return o

    def channel(self):
        """A CompChannel and the fds it added (ours: a socketpair)."""
        before = open_fds()
        ch = self.keep(CompChannel(self.ctx))
        return ch, sorted(open_fds() - before)

    def event_fd(self, new_fds, timeout=5):
        """The one of new_fds that turns readable: the channel's fd."""
        r = select.select(new_fds, [], [], timeout)[0]
        self.assertEqual(len(r), 1, 'exactly one fd readable, got %s' % r)
        return r[0]

    def quiet(self, fd, secs=0.2):
        """fd stays unreadable for secs."""
        self.assertFalse(readable(fd, secs), 'unexpected event')

    @bounded()
    def test_fd_is_pollable_and_events_wake_it(self):
        ch, new = self.channel()
        self.assertEqual(len(new), 2)
        cq = self.keep(CQ(self.ctx, 64, None, ch, 0))
        scq = self.keep(CQ(self.ctx, 64))
        p = self.keep(Pair(self.ctx, self.pd, (scq, scq), (scq, cq)))
        p.recv(3)
        cq.req_notify()
        for fd in new:
            self.assertFalse(readable(fd, 0.1))
        p.send()
        fd = self.event_fd(new)
        ep = select.epoll()
        try:
            ep.register(fd, select.EPOLLIN)
            self.assertEqual(len(ep.poll(1)), 1)
        finally:
            ep.close()
        ch.get_cq_event(cq)
        cq.ack_events(1)
        self.assertFalse(readable(fd))
        poll_n(cq, 1)
        # one event per arming: the next completion finds it disarmed
        p.send()
        poll_n(cq, 1)
        self.quiet(fd)
        # re-armed: the next completion raises one event
        cq.req_notify()
        p.send()
        self.assertTrue(readable(fd, 5))
        ch.get_cq_event(cq)
        cq.ack_events(1)
        poll_n(cq, 1)

    @bounded()
    def test_nonblocking_fd(self):
        ch, new = self.channel()
        cq = self.keep(CQ(self.ctx, 64, None, ch, 0))
        scq = self.keep(CQ(self.ctx, 64))
        p = self.keep(Pair(self.ctx, self.pd, (scq, scq), (scq, cq)))
        p.recv(1)
        cq.req_notify()
        p.send()
        fd = self.event_fd(new)
        ch.get_cq_event(cq)
        cq.ack_events(1)
        fl = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        with self.assertRaises(PyverbsRDMAError) as cm:
            ch.get_cq_event(cq)
        self.assertIn(cm.exception.error_code, (errno.EAGAIN, 0))
        poll_n(cq, 1)

    @bounded()
    def test_solicited_only(self):
        ch, new = self.channel()
        cq = self.keep(CQ(self.ctx, 64, None, ch, 0))
        scq = self.keep(CQ(self.ctx, 64))
        p = self.keep(Pair(self.ctx, self.pd, (scq, scq), (scq, cq)))
        p.recv(4)
        cq.req_notify(solicited_only=True)
        p.send(solicited=False)
        poll_n(scq, 1)
        poll_n(cq, 1)  # delivered, but no event for it
        for fd in new:
            self.assertFalse(readable(fd, 0.2))
        p.send(solicited=True)
        fd = self.event_fd(new)
        ch.get_cq_event(cq)
        cq.ack_events(1)
        poll_n(cq, 1)
        # "next completion" arming fires for unsolicited ones again
        cq.req_notify()
        p.send(solicited=False)
        self.assertTrue(readable(fd, 5))
        ch.get_cq_event(cq)
        cq.ack_events(1)
        poll_n(cq, 1)

    @bounded()
    def test_many_cqs_one_channel_in_order(self):
        n = 16
        ch, new = self.channel()
        scq = self.keep(CQ(self.ctx, 64))
        cqs = [self.keep(CQ(self.ctx, 16, None, ch, 0)) for _ in range(n)]
        pairs = [self.keep(Pair(self.ctx, self.pd, (scq, scq), (scq, c)))
                 for c in cqs]
        for p in pairs:
            p.recv(2)
        for c in cqs:
            c.req_notify()
        # one at a time: events come in completion order
        fd = None
        for i in (3, 0, 15, 7):
            pairs[i].send()
            poll_n(scq, 1)
            if fd is None:
                fd = self.event_fd(new)
            self.assertTrue(readable(fd, 5))
            ch.get_cq_event(cqs[i])  # raises if another CQ's event came
            cqs[i].ack_events(1)
            poll_n(cqs[i], 1)
        # all at once: one event per armed CQ, none lost, none doubled
        rest = [i for i in range(n) if i not in (3, 0, 15, 7)]
        for i in rest:
            pairs[i].send()
        poll_n(scq, len(rest))
        # (raw reads: pyverbs' get_cq_event must be told the CQ first)
        got = []
        end = time.monotonic() + 10
        while len(got) < len(rest) and time.monotonic() < end:
            if readable(fd, 0.1):
                got.append(os.read(fd, 64))  # one record per datagram
        self.assertEqual([len(r) for r in got], [8] * len(rest))
        self.assertEqual(len(set(got)), len(rest), 'a CQ signalled twice')
        self.quiet(fd)
        for i in rest:
            poll_n(cqs[i], 1)
        # events read must be acknowledged (ibv_destroy_cq waits for it);
        # a record is the CQ's address, pyverbs never saw these
        for r in got:
            ack_raw_event(r)

    @bounded()
    def test_ack_counting(self):
        ch, new = self.channel()
        cq = CQ(self.ctx, 64, None, ch, 0)
        scq = self.keep(CQ(self.ctx, 64))
        p = Pair(self.ctx, self.pd, (scq, scq), (scq, cq))
        p.recv(3)
        for _ in range(3):
            cq.req_notify()
            p.send()
            poll_n(scq, 1)
            ch.get_cq_event(cq)
            poll_n(cq, 1)
        # libibverbs counts the acks; pyverbs' CQ.close() would ack what
        # is left, so all three are acked here, in two calls
        cq.ack_events(2)
        cq.ack_events(1)
        p.close()
        cq.close()  # every event acked: the CQ goes

    @bounded()
    def test_unread_events_are_not_lost(self):
        """An application that re-arms and completes many times without
        reading the channel: more events than the channel's socket buffer
        holds. The kernel queues them all; so must we (late, but every
        one)."""
        ch, new = self.channel()
        cq = self.keep(CQ(self.ctx, 64, None, ch, 0))
        scq = self.keep(CQ(self.ctx, 64))
        p = self.keep(Pair(self.ctx, self.pd, (scq, scq), (scq, cq)))
        n = 12000
        for _ in range(n):
            p.recv(1)
            cq.req_notify()
            p.send()
            poll_n(scq, 1)
            poll_n(cq, 1)
        fd = self.event_fd(new)
        got = []
        end = time.monotonic() + 20
        while len(got) < n and time.monotonic() < end:
            if readable(fd, 0.1):
                got.append(os.read(fd, 64))
        for r in got:
            ack_raw_event(r)
        self.assertEqual(len(got), n, 'events lost')
        self.assertEqual(set(got), {got[0]}, 'events of another CQ')
        self.quiet(fd)

    @bounded()
    def test_destroy_drops_unread_events(self):
        """An event of a CQ destroyed before it was read is taken out of
        the channel (as the kernel does): reading it later would name a
        freed CQ. Other CQs' events stay, and destroy does not wait for
        events nobody read."""
        ch, new = self.channel()
        gone = CQ(self.ctx, 64, None, ch, 0)
        stays = self.keep(CQ(self.ctx, 64, None, ch, 0))
        scq = self.keep(CQ(self.ctx, 64))
        p1 = Pair(self.ctx, self.pd, (scq, scq), (scq, gone))
        p2 = self.keep(Pair(self.ctx, self.pd, (scq, scq), (scq, stays)))
        p1.recv(1)
        p2.recv(1)
        gone.req_notify()
        stays.req_notify()
        p1.send()
        poll_n(scq, 1)
        fd = self.event_fd(new)  # gone's event is waiting, unread
        poll_n(gone, 1)
        p1.close()
        gone.close()  # must not hang, must take its event out
        self.quiet(fd)
        p2.send()
        poll_n(scq, 1)
        self.assertTrue(readable(fd, 5))
        ch.get_cq_event(stays)  # raises if the freed CQ's event came
        stays.ack_events(1)
        poll_n(stays, 1)
        self.quiet(fd)


@unittest.skipUnless(preloaded(), 'librdmacm-ext is not preloaded')
class DestroyRules(unittest.TestCase):
    """ibv_destroy_comp_channel: EBUSY while a CQ uses the channel, and
    both can be freed afterwards (pyverbs closes CQs first, so raw calls:
    the global scope finds the preload's ibv_*_comp_channel)."""

    def test_ebusy_then_destroy(self):
        g = ctypes.CDLL(None, use_errno=True)
        g.ibv_create_comp_channel.restype = ctypes.c_void_p
        g.ibv_create_comp_channel.argtypes = [ctypes.c_void_p]
        g.ibv_destroy_comp_channel.restype = ctypes.c_int
        g.ibv_destroy_comp_channel.argtypes = [ctypes.c_void_p]
        libverbs.ibv_create_cq.restype = ctypes.c_void_p
        libverbs.ibv_create_cq.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                           ctypes.c_void_p, ctypes.c_void_p,
                                           ctypes.c_int]
        libverbs.ibv_destroy_cq.restype = ctypes.c_int
        libverbs.ibv_destroy_cq.argtypes = [ctypes.c_void_p]
        with RawContext() as rc:
            before = open_fds()
            ch = g.ibv_create_comp_channel(rc.ctx)
            self.assertTrue(ch)
            # struct ibv_comp_channel: context pointer, then fd
            fd = ctypes.c_int.from_address(ch + ctypes.sizeof(
                ctypes.c_void_p)).value
            self.assertIn(fd, open_fds() - before)
            cq1 = libverbs.ibv_create_cq(rc.ctx, 16, None, ch, 0)
            cq2 = libverbs.ibv_create_cq(rc.ctx, 16, None, ch, 0)
            self.assertTrue(cq1 and cq2)
            self.assertEqual(g.ibv_destroy_comp_channel(ch), errno.EBUSY)
            self.assertEqual(libverbs.ibv_destroy_cq(cq1), 0)
            self.assertEqual(g.ibv_destroy_comp_channel(ch), errno.EBUSY)
            self.assertEqual(libverbs.ibv_destroy_cq(cq2), 0)
            self.assertEqual(g.ibv_destroy_comp_channel(ch), 0)
            self.assertEqual(open_fds(), before, 'channel fds left open')

    def test_many_channels_no_fd_leak(self):
        before = open_fds()
        with Context(name=DEV) as ctx:
            for _ in range(50):
                ch = CompChannel(ctx)
                cq = CQ(ctx, 8, None, ch, 0)
                cq.close()
                ch.close()
        self.assertEqual(open_fds(), before)


class WithoutPreload(unittest.TestCase):
    """No librdmacm-ext: a tcp device's channel fails cleanly."""

    def test_create_fails_cleanly(self):
        env = dict(os.environ)
        keep = [p for p in env.get('LD_PRELOAD', '').replace(' ', ':')
                .split(':') if p and 'librdmacm-ext' not in p]
        env['LD_PRELOAD'] = ':'.join(keep)
        code = ('import sys\n'
                'from pyverbs.device import Context\n'
                'from pyverbs.cq import CompChannel\n'
                'from pyverbs.pyverbs_error import PyverbsRDMAError\n'
                'ctx = Context(name=%r)\n'
                'try:\n'
                '    CompChannel(ctx)\n'
                'except PyverbsRDMAError as ex:\n'
                '    print("errno", ex.error_code)\n'
                '    sys.exit(0)\n'
                'print("created")\n'
                'sys.exit(1)\n') % DEV
        out = subprocess.run([sys.executable, '-c', code], env=env,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        err = int(out.stdout.split()[-1])
        self.assertNotEqual(err, 0, 'failed without errno')


if __name__ == '__main__':
    unittest.main()
