# SPDX-License-Identifier: MIT
"""RC and UC queue pairs of a tcp device through Debian's stock pyverbs
(issue 3): lifecycle, every opcode with byte-exact data checks, placement
safety, flow control, SRQs and the destroy rules.

Most tests connect two QPs of ONE context to each other (GID index 0, the
other QP's number as dest_qp_num; the provider opens the TCP connection by
itself at RTR); some use two contexts of one process.

    eval "$(rdma-tcp env)"
    RDMA_TCP_DEV=tcp0 /usr/bin/python3 -m unittest -v tests/pyverbs/test_qp.py

Nothing here can hang: every completion or event wait has a deadline and
fails the test when it passes.

Environment: see rtcp_verbs.py (RDMA_TCP_DEV).
"""

import ctypes
import errno
import os
import random
import select
import socket
import struct
import subprocess
import sys
import time
import unittest

import pyverbs.enums as e
from pyverbs.addr import AHAttr, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import (QP, QPAttr, QPCap, QPEx, QPInitAttr, QPInitAttrEx,
                        DataBuffer)
from pyverbs.srq import SRQ, SrqAttr, SrqInitAttr
from pyverbs.wr import SGE, RecvWR, SendWR

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtcp_verbs import DEV, PORT, RawContext  # noqa: E402

# ----------------------------------------------------------------- constants

TIMEOUT = float(os.environ.get('RDMA_TCP_TEST_TIMEOUT', '10'))
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
SIZES = (0, 1, 63, 4095, 4096, 65537, 8 * MiB)
BIG = 8 * MiB
SLACK = 64 * KiB
MAX_INLINE = 1024  # the device's limit (DESIGN.md, tcp_limits.h)

FULL_ACCESS = (e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE |
               e.IBV_ACCESS_REMOTE_READ | e.IBV_ACCESS_REMOTE_ATOMIC)
RC, UC = e.IBV_QPT_RC, e.IBV_QPT_UC

MASK_INIT = (e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT |
             e.IBV_QP_ACCESS_FLAGS)
MASK_RTR_UC = (e.IBV_QP_STATE | e.IBV_QP_AV | e.IBV_QP_PATH_MTU |
               e.IBV_QP_DEST_QPN | e.IBV_QP_RQ_PSN)
MASK_RTR_RC = (MASK_RTR_UC | e.IBV_QP_MAX_DEST_RD_ATOMIC |
               e.IBV_QP_MIN_RNR_TIMER)
MASK_RTS_UC = e.IBV_QP_STATE | e.IBV_QP_SQ_PSN
MASK_RTS_RC = (MASK_RTS_UC | e.IBV_QP_TIMEOUT | e.IBV_QP_RETRY_CNT |
               e.IBV_QP_RNR_RETRY | e.IBV_QP_MAX_QP_RD_ATOMIC)

SEND_OPS_RC = (e.IBV_QP_EX_WITH_SEND | e.IBV_QP_EX_WITH_SEND_WITH_IMM |
               e.IBV_QP_EX_WITH_RDMA_WRITE |
               e.IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM |
               e.IBV_QP_EX_WITH_RDMA_READ |
               e.IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP |
               e.IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD)
SEND_OPS_UC = (e.IBV_QP_EX_WITH_SEND | e.IBV_QP_EX_WITH_SEND_WITH_IMM |
               e.IBV_QP_EX_WITH_RDMA_WRITE |
               e.IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM)

WC_STATUS = {getattr(e, n): n for n in (
    'IBV_WC_SUCCESS', 'IBV_WC_LOC_LEN_ERR', 'IBV_WC_LOC_QP_OP_ERR',
    'IBV_WC_LOC_EEC_OP_ERR', 'IBV_WC_LOC_PROT_ERR', 'IBV_WC_WR_FLUSH_ERR',
    'IBV_WC_MW_BIND_ERR', 'IBV_WC_BAD_RESP_ERR', 'IBV_WC_LOC_ACCESS_ERR',
    'IBV_WC_REM_INV_REQ_ERR', 'IBV_WC_REM_ACCESS_ERR', 'IBV_WC_REM_OP_ERR',
    'IBV_WC_RETRY_EXC_ERR', 'IBV_WC_RNR_RETRY_EXC_ERR',
    'IBV_WC_REM_ABORT_ERR', 'IBV_WC_GENERAL_ERR')}
EVENTS = {getattr(e, n): n for n in dir(e) if n.startswith('IBV_EVENT_')}

# WR opcode -> the requester's completion opcode
WC_OF = {
    e.IBV_WR_SEND: e.IBV_WC_SEND,
    e.IBV_WR_SEND_WITH_IMM: e.IBV_WC_SEND,
    e.IBV_WR_RDMA_WRITE: e.IBV_WC_RDMA_WRITE,
    e.IBV_WR_RDMA_WRITE_WITH_IMM: e.IBV_WC_RDMA_WRITE,
    e.IBV_WR_RDMA_READ: e.IBV_WC_RDMA_READ,
    e.IBV_WR_ATOMIC_CMP_AND_SWP: e.IBV_WC_COMP_SWAP,
    e.IBV_WR_ATOMIC_FETCH_AND_ADD: e.IBV_WC_FETCH_ADD,
}


def status_name(s):
    return WC_STATUS.get(s, str(s))


def wc_str(wc):
    return ('wc(wr_id=%#x status=%s opcode=%d byte_len=%d imm=%#x flags=%#x '
            'qp=%#x src=%#x)' % (wc.wr_id, status_name(wc.status), wc.opcode,
                                 wc.byte_len, wc.imm_data, wc.wc_flags,
                                 wc.qp_num, wc.src_qp))


# ------------------------------------------------------- completions, events

def poll_cq(cq, count, timeout=TIMEOUT, what='cq'):
    """Exactly `count` completions from cq, or an AssertionError once the
    deadline passes (never hangs)."""
    wcs = []
    deadline = time.monotonic() + timeout
    idle = 0
    while len(wcs) < count:
        n, got = cq.poll(count - len(wcs))
        if n:
            wcs.extend(got[:n])
            idle = 0
            continue
        if time.monotonic() > deadline:
            raise AssertionError(
                '%s: %d of %d completions after %.1f s: %s' %
                (what, len(wcs), count, timeout,
                 [wc_str(w) for w in wcs]))
        idle += 1
        if idle > 100:
            time.sleep(0.0005)
    return wcs


def poll_quiet(cq, duration):
    """Polls cq for `duration` seconds; returns what arrived (tests assert
    it is empty)."""
    wcs = []
    end = time.monotonic() + duration
    while time.monotonic() < end:
        n, got = cq.poll(16)
        if n:
            wcs.extend(got[:n])
        else:
            time.sleep(0.001)
    return wcs


def _fd_table():
    out = {}
    for fd in os.listdir('/proc/self/fd'):
        try:
            out[int(fd)] = os.readlink('/proc/self/fd/' + fd)
        except OSError:
            pass
    return out


def _fd_flags(fd):
    with open('/proc/self/fdinfo/%d' % fd) as f:
        for line in f:
            if line.startswith('flags:'):
                return int(line.split()[1], 8)
    return -1


def open_context():
    """(Context, async fd). pyverbs 44 does not expose ibv_context.async_fd
    (and reading Context.context crashes), so the fd is found as the one
    new pipe read end the device open created (this provider's async fd is
    a pipe, see providers/tcp/async.c)."""
    before = _fd_table()
    ctx = Context(name=DEV)
    after = _fd_table()
    new = [fd for fd, link in after.items()
           if before.get(fd) != link and fd != ctx.cmd_fd]
    cands = [fd for fd in new if after[fd].startswith('pipe:') and
             _fd_flags(fd) & os.O_ACCMODE == os.O_RDONLY]
    if not cands:
        # not a pipe any more? then the one new readable non-socket fd
        cands = [fd for fd in new if not after[fd].startswith('socket:')
                 and _fd_flags(fd) & os.O_ACCMODE != os.O_WRONLY]
    if len(cands) != 1:
        ctx.close()
        raise AssertionError('cannot tell the async fd: new pipe read ends %s'
                             % cands)
    return ctx, cands[0]


class Async:
    """The async events of one context, read with a deadline."""

    def __init__(self, ctx, fd):
        self.ctx, self.fd = ctx, fd
        self.seen = []

    def _read_one(self, timeout):
        r, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not r:
            return None
        ev = self.ctx.get_async_event()
        t = ev.event_type
        ev.ack()
        self.seen.append(t)
        return t

    def wait(self, wanted, timeout=TIMEOUT):
        """Reads events until one of `wanted` arrives; returns it. Fails
        after the deadline."""
        wanted = (wanted,) if isinstance(wanted, int) else tuple(wanted)
        deadline = time.monotonic() + timeout
        while True:
            t = self._read_one(deadline - time.monotonic())
            if t in wanted:
                return t
            if t is None and time.monotonic() >= deadline:
                raise AssertionError(
                    'no async event %s within %.1f s (seen: %s)' %
                    ([EVENTS.get(w, w) for w in wanted], timeout,
                     [EVENTS.get(s, s) for s in self.seen]))

    def drain(self, duration=0.0):
        """Every event arriving within `duration` seconds."""
        out = []
        deadline = time.monotonic() + duration
        while True:
            t = self._read_one(deadline - time.monotonic())
            if t is None:
                return out
            out.append(t)


# ------------------------------------------------------------------ buffers

class Buf:
    """A registered buffer in a raw ctypes allocation we own, so that bytes
    around the registered range (canaries) can be checked too."""

    def __init__(self, pd, length, access=FULL_ACCESS, guard=0, fill=0xA5):
        self.length, self.guard = length, guard
        self.raw = ctypes.create_string_buffer(length + 2 * guard)
        ctypes.memset(self.raw, fill, length + 2 * guard)
        self.base = ctypes.addressof(self.raw)
        self.addr = self.base + guard
        self.mr = MR(pd, length, access, address=self.addr)
        self.lkey, self.rkey = self.mr.lkey, self.mr.rkey

    def write(self, off, data):
        assert 0 <= off and off + len(data) <= self.length
        ctypes.memmove(self.addr + off, data, len(data))

    def read(self, off, n):
        assert 0 <= off and off + n <= self.length
        return ctypes.string_at(self.addr + off, n)

    def whole(self):
        """Guard bytes, region, guard bytes."""
        return ctypes.string_at(self.base, self.length + 2 * self.guard)

    def fill(self, byte=0xA5):
        ctypes.memset(self.base, byte, self.length + 2 * self.guard)

    def sge(self, off, n):
        return SGE(self.addr + off, n, self.lkey)

    def close(self):
        self.mr.close()


def rand_bytes(n, seed):
    return random.Random(seed).randbytes(n)


# ----------------------------------------------------------------- QP pairs

def gid0(ctx):
    return ctx.query_gid(PORT, 0)


def ah_for(ctx, is_global=1):
    gr = GlobalRoute(dgid=gid0(ctx), sgid_index=0) if is_global else None
    return AHAttr(port_num=PORT, is_global=is_global, gr=gr)


def init_attr(access=FULL_ACCESS):
    a = QPAttr(qp_state=e.IBV_QPS_INIT)
    a.pkey_index = 0
    a.port_num = PORT
    a.qp_access_flags = access
    return a


def rtr_attr(ctx, dest_qpn, mtu=e.IBV_MTU_1024, min_rnr_timer=12,
             max_dest_rd_atomic=8, rq_psn=0):
    a = QPAttr(qp_state=e.IBV_QPS_RTR, path_mtu=mtu)
    a.ah_attr = ah_for(ctx)
    a.dest_qp_num = dest_qpn
    a.rq_psn = rq_psn
    a.max_dest_rd_atomic = max_dest_rd_atomic
    a.min_rnr_timer = min_rnr_timer
    return a


def rts_attr(timeout=14, retry_cnt=7, rnr_retry=7, max_rd_atomic=8,
             sq_psn=0):
    a = QPAttr(qp_state=e.IBV_QPS_RTS)
    a.sq_psn = sq_psn
    a.timeout = timeout
    a.retry_cnt = retry_cnt
    a.rnr_retry = rnr_retry
    a.max_rd_atomic = max_rd_atomic
    return a


def qp_state(qp):
    return qp.query(e.IBV_QP_STATE)[0].qp_state



class Side:
    """One end: PD, a send CQ and a receive CQ, one QP (or QPEx)."""

    def __init__(self, ctx, qp_type=RC, cap=None, sq_sig_all=1, ex=False,
                 pd=None, srq=None, rcq=None, cqe=512, scq=None):
        self.ctx = ctx
        self.qp_type = qp_type
        self.pd = pd or PD(ctx)
        self.scq = scq or CQ(ctx, cqe)
        self.rcq = rcq or CQ(ctx, cqe)
        if cap is None:
            cap = QPCap(max_send_wr=64, max_recv_wr=64, max_send_sge=3,
                        max_recv_sge=3, max_inline_data=MAX_INLINE)
        if ex:
            self.ia = QPInitAttrEx(
                qp_type=qp_type, scq=self.scq, rcq=self.rcq, srq=srq,
                cap=cap, sq_sig_all=sq_sig_all, pd=self.pd,
                comp_mask=(e.IBV_QP_INIT_ATTR_PD |
                           e.IBV_QP_INIT_ATTR_SEND_OPS_FLAGS),
                send_ops_flags=SEND_OPS_RC if qp_type == RC else SEND_OPS_UC)
            self.qp = QPEx(ctx, self.ia)
        else:
            self.ia = QPInitAttr(qp_type=qp_type, scq=self.scq,
                                 rcq=self.rcq, srq=srq, cap=cap,
                                 sq_sig_all=sq_sig_all)
            self.qp = QP(self.pd, self.ia)
        self.qpn = self.qp.qp_num
        self.bufs = []

    def buf(self, length, access=FULL_ACCESS, guard=0, pd=None):
        b = Buf(pd or self.pd, length, access, guard)
        self.bufs.append(b)
        return b

    def to_init(self, access=FULL_ACCESS):
        self.qp.modify(init_attr(access), MASK_INIT)

    def to_rtr(self, dest_qpn, **kw):
        mask = MASK_RTR_RC if self.qp_type == RC else MASK_RTR_UC
        self.qp.modify(rtr_attr(self.ctx, dest_qpn, **kw), mask)

    def to_rts(self, **kw):
        mask = MASK_RTS_RC if self.qp_type == RC else MASK_RTS_UC
        self.qp.modify(rts_attr(**kw), mask)

    def state(self):
        return qp_state(self.qp)


def connect(a, b, access_a=FULL_ACCESS, access_b=FULL_ACCESS, rtr_kw=None,
            rts_kw=None, before_rtr=None):
    """RESET -> INIT -> RTR -> RTS on both QPs, each aimed at the other."""
    rtr_kw = rtr_kw or {}
    rts_kw = rts_kw or {}
    a.to_init(access_a)
    b.to_init(access_b)
    if before_rtr:
        before_rtr()
    a.to_rtr(b.qpn, **rtr_kw)
    b.to_rtr(a.qpn, **rtr_kw)
    a.to_rts(**rts_kw)
    b.to_rts(**rts_kw)


def send_wr(opcode, sges, wr_id=0, flags=e.IBV_SEND_SIGNALED, imm=0,
            rkey=0, raddr=0, compare_add=0, swap=0):
    """A SendWR; sges may be empty (num_sge 0)."""
    dummy = [SGE(0, 0, 0)]
    wr = SendWR(wr_id=wr_id, opcode=opcode, num_sge=len(sges) or 1,
                sg=sges or dummy, send_flags=flags, imm_data=imm)
    if not sges:
        wr.num_sge = 0
    if opcode in (e.IBV_WR_RDMA_WRITE, e.IBV_WR_RDMA_WRITE_WITH_IMM,
                  e.IBV_WR_RDMA_READ):
        wr.set_wr_rdma(rkey, raddr)
    elif opcode in (e.IBV_WR_ATOMIC_CMP_AND_SWP,
                    e.IBV_WR_ATOMIC_FETCH_AND_ADD):
        wr.set_wr_atomic(rkey, raddr, compare_add, swap)
    return wr


def recv_wr(sges, wr_id=0):
    dummy = [SGE(0, 0, 0)]
    wr = RecvWR(wr_id=wr_id, num_sge=len(sges) or 1, sg=sges or dummy)
    if not sges:
        wr.num_sge = 0
    return wr


def split3(n):
    """Three unequal pieces adding up to n (some may be empty)."""
    a = n // 4
    b = n // 2
    return [a, b, n - a - b]


class Segs:
    """A scatter/gather list over two buffers: pieces 0 and 2 in b1, piece 1
    in b2, at odd offsets with gaps, so misplacement shows up."""

    def __init__(self, b1, b2, lens):
        self.parts = []
        off1, off2 = 5, 11
        for i, n in enumerate(lens):
            if i % 2 == 0:
                self.parts.append((b1, off1, n))
                off1 += n + 4099
            else:
                self.parts.append((b2, off2, n))
                off2 += n + 4097

    def sges(self):
        return [b.sge(off, n) for b, off, n in self.parts]

    def write(self, data):
        pos = 0
        for b, off, n in self.parts:
            b.write(off, data[pos:pos + n])
            pos += n

    def read(self):
        return b''.join(b.read(off, n) for b, off, n in self.parts)

    def expected(self, bufs, data, canary=0xA5):
        """What each buffer in bufs must hold once `data` was scattered
        here (the rest: canary)."""
        exp = {id(b): bytearray([canary]) * (b.length + 2 * b.guard)
               for b in bufs}
        pos = 0
        for b, off, n in self.parts:
            chunk = data[pos:pos + n]
            exp[id(b)][b.guard + off:b.guard + off + len(chunk)] = chunk
            pos += n
        return exp


# ---------------------------------------------------------------- test base

class QPCase(unittest.TestCase):
    """Opens the device (with its async fd) per test; everything made
    through self.side()/self.pair() is closed with the context."""

    def setUp(self):
        self.ctx, afd = open_context()
        self.events = Async(self.ctx, afd)
        self.attr = self.ctx.query_device()
        self._ctxs = [self.ctx]
        self._keep = []

    def tearDown(self):
        for c in reversed(self._ctxs):
            c.close()
        self._keep = []

    def other_context(self):
        ctx, afd = open_context()
        self._ctxs.append(ctx)
        return ctx, Async(ctx, afd)

    def side(self, ctx=None, **kw):
        s = Side(ctx or self.ctx, **kw)
        self._keep.append(s)
        return s

    def pair(self, qp_type=RC, ctx_b=None, connect_kw=None, **kw):
        a = self.side(qp_type=qp_type, **kw)
        b = self.side(ctx=ctx_b, qp_type=qp_type, **kw)
        connect(a, b, **(connect_kw or {}))
        return a, b

    def assertRDMAError(self, errnos, func, *args, **kwargs):
        if isinstance(errnos, int):
            errnos = (errnos,)
        with self.assertRaises(PyverbsRDMAError) as cm:
            obj = func(*args, **kwargs)
            if hasattr(obj, 'close'):
                obj.close()
        self.assertIn(cm.exception.error_code, errnos,
                      '%s: errno %s, want one of %s' %
                      (getattr(func, '__name__', func),
                       cm.exception.error_code, errnos))
        return cm.exception

    def assertWC(self, wc, status=e.IBV_WC_SUCCESS, wr_id=None, opcode=None,
                 qp_num=None, msg=''):
        self.assertEqual(wc.status, status,
                         '%s: %s, want %s' % (msg or 'wc', wc_str(wc),
                                              status_name(status)))
        if wr_id is not None:
            self.assertEqual(wc.wr_id, wr_id, '%s: %s' % (msg, wc_str(wc)))
        if opcode is not None:
            self.assertEqual(wc.opcode, opcode, '%s: %s' % (msg, wc_str(wc)))
        if qp_num is not None:
            self.assertEqual(wc.qp_num, qp_num, '%s: %s' % (msg, wc_str(wc)))

    def assertRecv(self, wc, sender, receiver, length, wr_id=None, imm=None,
                   opcode=e.IBV_WC_RECV, msg=''):
        """The receive completion of a message from sender to receiver."""
        self.assertWC(wc, wr_id=wr_id, opcode=opcode, qp_num=receiver.qpn,
                      msg=msg)
        self.assertEqual(wc.byte_len, length, '%s: %s' % (msg, wc_str(wc)))
        self.assertEqual(wc.src_qp, sender.qpn, '%s: %s' % (msg, wc_str(wc)))
        if imm is None:
            self.assertFalse(wc.wc_flags & e.IBV_WC_WITH_IMM,
                             '%s: %s' % (msg, wc_str(wc)))
        else:
            self.assertTrue(wc.wc_flags & e.IBV_WC_WITH_IMM,
                            '%s: %s' % (msg, wc_str(wc)))
            self.assertEqual(wc.imm_data, imm, '%s: %s' % (msg, wc_str(wc)))

    def assertBufs(self, bufs, expected, msg=''):
        for b in bufs:
            got = b.whole()
            want = bytes(expected[id(b)])
            if got != want:
                first = next(i for i in range(len(got)) if got[i] != want[i])
                self.fail('%s: buffer differs at byte %d of %d (guard %d): '
                          'got %r want %r' % (msg, first, len(got), b.guard,
                                              got[first:first + 8],
                                              want[first:first + 8]))


# ======================================================== 1. QP lifecycle

class TestQPLifecycle(QPCase):

    def test_create_rc_uc_reports_caps(self):
        for qp_type in (RC, UC):
            for ex in (False, True):
                with self.subTest(qp_type=qp_type, ex=ex):
                    cap = QPCap(max_send_wr=33, max_recv_wr=17,
                                max_send_sge=3, max_recv_sge=2,
                                max_inline_data=200)
                    s = self.side(qp_type=qp_type, cap=cap, ex=ex,
                                  sq_sig_all=0)
                    got = s.ia.cap
                    self.assertGreaterEqual(got.max_send_wr, 33)
                    self.assertGreaterEqual(got.max_recv_wr, 17)
                    self.assertGreaterEqual(got.max_send_sge, 3)
                    self.assertGreaterEqual(got.max_recv_sge, 2)
                    self.assertGreaterEqual(got.max_inline_data, 200)
                    self.assertNotEqual(s.qpn, 0)
                    self.assertEqual(s.qp.qp_type, qp_type)
                    qa, qia = s.qp.query(e.IBV_QP_STATE | e.IBV_QP_CAP)
                    self.assertEqual(qa.qp_state, e.IBV_QPS_RESET)
                    for f in ('max_send_wr', 'max_recv_wr', 'max_send_sge',
                              'max_recv_sge', 'max_inline_data'):
                        self.assertEqual(getattr(qa.cap, f), getattr(got, f),
                                         f)
                        self.assertEqual(getattr(qia.cap, f),
                                         getattr(got, f), f)
                    self.assertEqual(qia.qp_type, qp_type)
                    self.assertEqual(qia.sq_sig_all, 0)

    def test_create_ex_unsupported_send_ops(self):
        """send_ops_flags the QP cannot do are refused at create (the
        ibv_qp_ex function pointers for them would be NULL: the
        application's ibv_wr_local_inv() etc. would jump to address 0).
        mlx5 and rxe answer EOPNOTSUPP/EINVAL the same way."""
        pd = PD(self.ctx)
        cq = CQ(self.ctx, 16)
        cases = [(RC, 'IBV_QP_EX_WITH_LOCAL_INV'),
                 (RC, 'IBV_QP_EX_WITH_BIND_MW'),
                 (RC, 'IBV_QP_EX_WITH_SEND_WITH_INV'),
                 (RC, 'IBV_QP_EX_WITH_TSO'),
                 (UC, 'IBV_QP_EX_WITH_RDMA_READ'),
                 (UC, 'IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD')]
        for qp_type, flag in cases:
            with self.subTest(flag, qp_type=qp_type):
                ia = QPInitAttrEx(
                    qp_type=qp_type, scq=cq, rcq=cq, cap=QPCap(), pd=pd,
                    comp_mask=(e.IBV_QP_INIT_ATTR_PD |
                               e.IBV_QP_INIT_ATTR_SEND_OPS_FLAGS),
                    send_ops_flags=e.IBV_QP_EX_WITH_SEND | getattr(e, flag))
                self.assertRDMAError((errno.EOPNOTSUPP, errno.EINVAL), QPEx,
                                     self.ctx, ia)

    def test_many_qps_one_context(self):
        """More than 256 QPs in one context (the low 8 bits of a QPN pick
        one of 256 QPs behind a listener: more QPs, more listeners)."""
        pd = PD(self.ctx)
        npairs = 150
        cap = QPCap(max_send_wr=2, max_recv_wr=2, max_send_sge=1,
                    max_recv_sge=1)
        sides = [self.side(pd=pd, cap=cap, cqe=4) for _ in range(2 * npairs)]
        self.assertEqual(len({s.qpn for s in sides}), 2 * npairs)
        buf = Buf(pd, 8 * npairs)
        self._keep.append(buf)
        for i in range(npairs):
            a, b = sides[2 * i], sides[2 * i + 1]
            connect(a, b)
            buf.write(8 * i, struct.pack('<Q', i))
            b.qp.post_recv(recv_wr([buf.sge(8 * i, 8)], wr_id=i))
            a.qp.post_send(send_wr(e.IBV_WR_SEND, [buf.sge(8 * i, 8)],
                                   wr_id=i))
        for i in range(npairs):
            a, b = sides[2 * i], sides[2 * i + 1]
            self.assertWC(poll_cq(a.scq, 1)[0], wr_id=i)
            self.assertRecv(poll_cq(b.rcq, 1)[0], a, b, 8, wr_id=i)

    def test_reuse_after_reset(self):
        """ERR -> RESET, then a new connection to another QP."""
        a, b = self.pair()
        self._ping(a, b)
        a.qp.modify(QPAttr(qp_state=e.IBV_QPS_ERR), e.IBV_QP_STATE)
        a.qp.modify(QPAttr(qp_state=e.IBV_QPS_RESET), e.IBV_QP_STATE)
        self.assertEqual(a.state(), e.IBV_QPS_RESET)
        c = self.side()
        connect(a, c)
        self._ping(a, c, wr_id=0x78)
        self._ping(c, a, wr_id=0x79)
        self.assertEqual(poll_quiet(a.scq, 0.02), [])

    def test_destroy_during_transfer(self):
        """A QP destroyed (its memory deregistered and freed) while a 16 MiB
        READ and WRITE are in flight, on either end: no crash, no hang; the
        survivor ends in ERR, its WRs all complete, and a READ reported
        successful carries every byte."""
        n = 16 * MiB
        for it in range(4):
            requester_dies = it % 2 == 0
            with self.subTest(it=it, requester_dies=requester_dies):
                a, b = self.pair()
                # the WRITE uses other bytes than the READ on both ends
                # (unfenced, it may overtake the READ's response)
                loc, rem = a.buf(n + n // 2), b.buf(n + n // 2)
                data = rand_bytes(n, it)
                rem.write(0, data)
                a.qp.post_send(send_wr(e.IBV_WR_RDMA_READ, [loc.sge(0, n)],
                                       wr_id=1, rkey=rem.rkey,
                                       raddr=rem.addr))
                a.qp.post_send(send_wr(e.IBV_WR_RDMA_WRITE,
                                       [loc.sge(n, n // 2)], wr_id=2,
                                       rkey=rem.rkey, raddr=rem.addr + n))
                time.sleep(0.002 * it)
                dying, survivor = (a, b) if requester_dies else (b, a)
                dying.qp.close()
                for x in dying.bufs:
                    x.close()
                    x.raw = None  # the memory goes back to the allocator
                dying.bufs.clear()
                if not requester_dies:
                    wcs = poll_cq(a.scq, 2, what='survivor')
                    self.assertEqual([w.wr_id for w in wcs], [1, 2])
                    if wcs[0].status == e.IBV_WC_SUCCESS:
                        self.assertEqual(loc.read(0, n), data)
                    else:
                        self.assertEqual(wcs[1].status,
                                         e.IBV_WC_WR_FLUSH_ERR)
                deadline = time.monotonic() + TIMEOUT
                while survivor.state() != e.IBV_QPS_ERR and \
                        time.monotonic() < deadline:
                    time.sleep(0.005)
                self.assertEqual(survivor.state(), e.IBV_QPS_ERR)
                for x in survivor.bufs:
                    x.close()  # dereg does not wait on the dead peer

    def test_qp_numbers_unique(self):
        qpns = {self.side().qpn for _ in range(8)}
        self.assertEqual(len(qpns), 8)
        for q in qpns:
            self.assertLessEqual(q, 0xffffff)

    def test_create_limits(self):
        a = self.attr
        pd = PD(self.ctx)
        cq = CQ(self.ctx, 16)

        def make(**caps):
            c = dict(max_send_wr=4, max_recv_wr=4, max_send_sge=1,
                     max_recv_sge=1, max_inline_data=0)
            c.update(caps)
            return QP(pd, QPInitAttr(qp_type=RC, scq=cq, rcq=cq,
                                     cap=QPCap(**c)))

        # the limits themselves are accepted ...
        for caps in ({'max_send_wr': a.max_qp_wr},
                     {'max_recv_wr': a.max_qp_wr},
                     {'max_send_sge': a.max_sge},
                     {'max_recv_sge': a.max_sge},
                     {'max_inline_data': MAX_INLINE}):
            with self.subTest(ok=caps):
                make(**caps).close()
        # ... one more is refused
        for caps in ({'max_send_wr': a.max_qp_wr + 1},
                     {'max_recv_wr': a.max_qp_wr + 1},
                     {'max_send_sge': a.max_sge + 1},
                     {'max_recv_sge': a.max_sge + 1},
                     {'max_inline_data': MAX_INLINE + 1},
                     {'max_inline_data': 1 << 20}):
            with self.subTest(refused=caps):
                self.assertRDMAError(errno.EINVAL, make, **caps)

    def test_state_walk_standard_masks(self):
        for qp_type in (RC, UC):
            with self.subTest(qp_type=qp_type):
                a = self.side(qp_type=qp_type)
                b = self.side(qp_type=qp_type)
                self.assertEqual(a.state(), e.IBV_QPS_RESET)
                a.to_init()
                self.assertEqual(a.state(), e.IBV_QPS_INIT)
                self.assertEqual(a.qp.qp_state, e.IBV_QPS_INIT)
                b.to_init()
                a.to_rtr(b.qpn)
                self.assertEqual(a.state(), e.IBV_QPS_RTR)
                b.to_rtr(a.qpn)
                a.to_rts()
                b.to_rts()
                self.assertEqual(a.state(), e.IBV_QPS_RTS)
                self.assertEqual(b.state(), e.IBV_QPS_RTS)
                # INIT -> INIT is a legal transition as well
                c = self.side(qp_type=qp_type)
                c.to_init()
                c.qp.modify(init_attr(e.IBV_ACCESS_REMOTE_WRITE), MASK_INIT)
                self.assertEqual(c.state(), e.IBV_QPS_INIT)

    def test_invalid_transitions(self):
        for qp_type in (RC, UC):
            rtr_mask = MASK_RTR_RC if qp_type == RC else MASK_RTR_UC
            rts_mask = MASK_RTS_RC if qp_type == RC else MASK_RTS_UC
            with self.subTest(qp_type=qp_type, t='RESET->RTR'):
                s = self.side(qp_type=qp_type)
                peer = self.side(qp_type=qp_type)
                peer.to_init()
                self.assertRDMAError(errno.EINVAL, s.qp.modify,
                                     rtr_attr(self.ctx, s.qpn), rtr_mask)
                self.assertEqual(s.state(), e.IBV_QPS_RESET)
            with self.subTest(qp_type=qp_type, t='RESET->RTS'):
                self.assertRDMAError(errno.EINVAL, s.qp.modify, rts_attr(),
                                     rts_mask)
                self.assertEqual(s.state(), e.IBV_QPS_RESET)
            with self.subTest(qp_type=qp_type, t='INIT->RTS'):
                s.to_init()
                self.assertRDMAError(errno.EINVAL, s.qp.modify, rts_attr(),
                                     rts_mask)
                self.assertEqual(s.state(), e.IBV_QPS_INIT)
            with self.subTest(qp_type=qp_type, t='INIT->SQD'):
                a = QPAttr(qp_state=e.IBV_QPS_SQD)
                self.assertRDMAError(errno.EINVAL, s.qp.modify, a,
                                     e.IBV_QP_STATE)
                self.assertEqual(s.state(), e.IBV_QPS_INIT)
            with self.subTest(qp_type=qp_type, t='RTR->RTR'):
                s.to_rtr(peer.qpn)
                self.assertRDMAError(errno.EINVAL, s.qp.modify,
                                     rtr_attr(self.ctx, peer.qpn), rtr_mask)
                self.assertEqual(s.state(), e.IBV_QPS_RTR)
            with self.subTest(qp_type=qp_type, t='ERR->RTS'):
                s.qp.modify(QPAttr(qp_state=e.IBV_QPS_ERR), e.IBV_QP_STATE)
                self.assertEqual(s.state(), e.IBV_QPS_ERR)
                self.assertRDMAError(errno.EINVAL, s.qp.modify, rts_attr(),
                                     rts_mask)
                self.assertRDMAError(errno.EINVAL, s.qp.modify, init_attr(),
                                     MASK_INIT)
                self.assertEqual(s.state(), e.IBV_QPS_ERR)
                # ERR -> RESET -> INIT is the way back
                s.qp.modify(QPAttr(qp_state=e.IBV_QPS_RESET), e.IBV_QP_STATE)
                self.assertEqual(s.state(), e.IBV_QPS_RESET)
                s.to_init()
                self.assertEqual(s.state(), e.IBV_QPS_INIT)

    def test_bad_masks(self):
        S = e.IBV_QP_STATE
        cases = [
            # (type, what, from-state builder, attr builder, mask)
            (RC, 'INIT without ACCESS_FLAGS', None, init_attr,
             MASK_INIT & ~e.IBV_QP_ACCESS_FLAGS),
            (RC, 'INIT without PORT', None, init_attr,
             MASK_INIT & ~e.IBV_QP_PORT),
            (RC, 'INIT with QKEY (UD only)', None, init_attr,
             MASK_INIT | e.IBV_QP_QKEY),
            (UC, 'INIT without PKEY_INDEX', None, init_attr,
             MASK_INIT & ~e.IBV_QP_PKEY_INDEX),
            (RC, 'RTR without DEST_QPN', 'init', 'rtr',
             MASK_RTR_RC & ~e.IBV_QP_DEST_QPN),
            (RC, 'RTR without AV', 'init', 'rtr', MASK_RTR_RC & ~e.IBV_QP_AV),
            (RC, 'RTR without PATH_MTU', 'init', 'rtr',
             MASK_RTR_RC & ~e.IBV_QP_PATH_MTU),
            (RC, 'RTR without MAX_DEST_RD_ATOMIC', 'init', 'rtr',
             MASK_RTR_RC & ~e.IBV_QP_MAX_DEST_RD_ATOMIC),
            (RC, 'RTR without MIN_RNR_TIMER', 'init', 'rtr',
             MASK_RTR_RC & ~e.IBV_QP_MIN_RNR_TIMER),
            (RC, 'RTR with SQ_PSN', 'init', 'rtr',
             MASK_RTR_RC | e.IBV_QP_SQ_PSN),
            (UC, 'RTR without DEST_QPN', 'init', 'rtr',
             MASK_RTR_UC & ~e.IBV_QP_DEST_QPN),
            (UC, 'RTR with MAX_DEST_RD_ATOMIC (RC only)', 'init', 'rtr',
             MASK_RTR_UC | e.IBV_QP_MAX_DEST_RD_ATOMIC),
            (UC, 'RTR with MIN_RNR_TIMER (RC only)', 'init', 'rtr',
             MASK_RTR_UC | e.IBV_QP_MIN_RNR_TIMER),
            (RC, 'RTS without SQ_PSN', 'rtr', 'rts',
             MASK_RTS_RC & ~e.IBV_QP_SQ_PSN),
            (RC, 'RTS without TIMEOUT', 'rtr', 'rts',
             MASK_RTS_RC & ~e.IBV_QP_TIMEOUT),
            (RC, 'RTS without RETRY_CNT', 'rtr', 'rts',
             MASK_RTS_RC & ~e.IBV_QP_RETRY_CNT),
            (RC, 'RTS without RNR_RETRY', 'rtr', 'rts',
             MASK_RTS_RC & ~e.IBV_QP_RNR_RETRY),
            (RC, 'RTS without MAX_QP_RD_ATOMIC', 'rtr', 'rts',
             MASK_RTS_RC & ~e.IBV_QP_MAX_QP_RD_ATOMIC),
            (RC, 'RTS with DEST_QPN', 'rtr', 'rts',
             MASK_RTS_RC | e.IBV_QP_DEST_QPN),
            (UC, 'RTS with TIMEOUT (RC only)', 'rtr', 'rts',
             MASK_RTS_UC | e.IBV_QP_TIMEOUT),
            (UC, 'RTS with RETRY_CNT (RC only)', 'rtr', 'rts',
             MASK_RTS_UC | e.IBV_QP_RETRY_CNT),
            (UC, 'RTS with RNR_RETRY (RC only)', 'rtr', 'rts',
             MASK_RTS_UC | e.IBV_QP_RNR_RETRY),
            (UC, 'RTS with MAX_QP_RD_ATOMIC (RC only)', 'rtr', 'rts',
             MASK_RTS_UC | e.IBV_QP_MAX_QP_RD_ATOMIC),
        ]
        want_state = {None: e.IBV_QPS_RESET, 'init': e.IBV_QPS_INIT,
                      'rtr': e.IBV_QPS_RTR}
        for qp_type, what, start, attr, mask in cases:
            with self.subTest(what, qp_type=qp_type):
                s = self.side(qp_type=qp_type)
                peer = self.side(qp_type=qp_type)
                peer.to_init()
                if start in ('init', 'rtr'):
                    s.to_init()
                if start == 'rtr':
                    s.to_rtr(peer.qpn)
                if attr == 'rtr':
                    a = rtr_attr(self.ctx, peer.qpn)
                elif attr == 'rts':
                    a = rts_attr()
                else:
                    a = attr()
                a.qkey = 0x11111111
                a.sq_psn = 0
                self.assertRDMAError(errno.EINVAL, s.qp.modify, a, mask | S)
                self.assertEqual(s.state(), want_state[start])

    def test_rtr_requires_grh(self):
        for qp_type in (RC, UC):
            with self.subTest(qp_type=qp_type):
                s = self.side(qp_type=qp_type)
                peer = self.side(qp_type=qp_type)
                s.to_init()
                a = rtr_attr(self.ctx, peer.qpn)
                a.ah_attr = ah_for(self.ctx, is_global=0)
                mask = MASK_RTR_RC if qp_type == RC else MASK_RTR_UC
                self.assertRDMAError(errno.EINVAL, s.qp.modify, a, mask)
                self.assertEqual(s.state(), e.IBV_QPS_INIT)

    def test_query_returns_what_was_set(self):
        a, b = self.side(), self.side()
        acc = e.IBV_ACCESS_REMOTE_WRITE | e.IBV_ACCESS_REMOTE_READ
        a.to_init(acc)
        b.to_init()
        a.to_rtr(b.qpn, mtu=e.IBV_MTU_2048, min_rnr_timer=9,
                 max_dest_rd_atomic=5, rq_psn=0x456)
        a.to_rts(timeout=15, retry_cnt=5, rnr_retry=6, max_rd_atomic=3,
                 sq_psn=0x123)
        qa, qia = a.qp.query(0x1fffff)
        self.assertEqual(qa.qp_state, e.IBV_QPS_RTS)
        self.assertEqual(qa.dest_qp_num, b.qpn)
        self.assertEqual(qa.path_mtu, e.IBV_MTU_2048)
        self.assertEqual(qa.timeout, 15)
        self.assertEqual(qa.retry_cnt, 5)
        self.assertEqual(qa.rnr_retry, 6)
        self.assertEqual(qa.min_rnr_timer, 9)
        self.assertEqual(qa.max_rd_atomic, 3)
        self.assertEqual(qa.max_dest_rd_atomic, 5)
        self.assertEqual(qa.qp_access_flags, acc)
        self.assertEqual(qa.port_num, PORT)
        self.assertEqual(qa.pkey_index, 0)
        self.assertEqual(qa.sq_psn & 0xffffff, 0x123)
        self.assertEqual(qa.rq_psn & 0xffffff, 0x456)
        ah = qa.ah_attr
        self.assertEqual(ah.is_global, 1)
        self.assertEqual(str(ah.dgid), str(gid0(self.ctx)))
        self.assertEqual(ah.sgid_index, 0)
        self.assertEqual(qia.qp_type, RC)
        self.assertEqual(qia.max_send_sge, 3)

    def test_rts_to_rts(self):
        a, b = self.pair()
        legal = [(e.IBV_QP_MIN_RNR_TIMER, 'min_rnr_timer', 3),
                 (e.IBV_QP_TIMEOUT, 'timeout', 10),
                 (e.IBV_QP_RETRY_CNT, 'retry_cnt', 2),
                 (e.IBV_QP_TIMEOUT | e.IBV_QP_RETRY_CNT |
                  e.IBV_QP_MIN_RNR_TIMER, None, None)]
        for mask, field, val in legal:
            for with_state in (True, False):
                with self.subTest(mask=hex(mask), with_state=with_state):
                    at = QPAttr(qp_state=e.IBV_QPS_RTS)
                    at.min_rnr_timer, at.timeout, at.retry_cnt = 4, 11, 3
                    if field:
                        setattr(at, field, val)
                    m = mask | (e.IBV_QP_STATE if with_state else 0)
                    a.qp.modify(at, m)
                    qa = a.qp.query(0x1fffff)[0]
                    self.assertEqual(qa.qp_state, e.IBV_QPS_RTS)
                    if field:
                        self.assertEqual(getattr(qa, field), val)
                    else:
                        self.assertEqual((qa.min_rnr_timer, qa.timeout,
                                          qa.retry_cnt), (4, 11, 3))
        for mask, what in ((e.IBV_QP_PATH_MTU, 'PATH_MTU'),
                           (e.IBV_QP_DEST_QPN, 'DEST_QPN'),
                           (e.IBV_QP_AV, 'AV'),
                           (e.IBV_QP_MAX_DEST_RD_ATOMIC, 'MAX_DEST_RD_ATOMIC'),
                           (e.IBV_QP_RQ_PSN, 'RQ_PSN')):
            with self.subTest(illegal=what):
                at = rtr_attr(self.ctx, b.qpn)
                at.qp_state = e.IBV_QPS_RTS
                self.assertRDMAError(errno.EINVAL, a.qp.modify, at,
                                     e.IBV_QP_STATE | mask)
                self.assertEqual(a.state(), e.IBV_QPS_RTS)
        # still moves data after all this
        self._ping(a, b)

    def _ping(self, a, b, n=100, wr_id=0x77):
        src, dst = a.buf(4096), b.buf(4096)
        data = rand_bytes(n, wr_id)
        src.write(0, data)
        b.qp.post_recv(recv_wr([dst.sge(0, 4096)], wr_id=wr_id))
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, n)], wr_id=wr_id))
        self.assertWC(poll_cq(a.scq, 1, what='ping send')[0], wr_id=wr_id,
                      opcode=e.IBV_WC_SEND)
        self.assertRecv(poll_cq(b.rcq, 1, what='ping recv')[0], a, b, n,
                        wr_id=wr_id)
        self.assertEqual(dst.read(0, n), data)

    def test_work_posted_before_peer_is_ready(self):
        """Work posted while the peer QP is still in INIT is queued, not
        lost, and flows once the peer reaches RTR."""
        a, b = self.side(), self.side()
        src, dst = a.buf(4096), b.buf(4096)
        src.write(0, b'early bird')
        a.to_init()
        b.to_init()
        b.qp.post_recv(recv_wr([dst.sge(0, 64)], wr_id=0xb1))
        a.to_rtr(b.qpn)
        a.to_rts()
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_WRITE, [src.sge(0, 10)],
                               wr_id=1, rkey=dst.rkey, raddr=dst.addr + 100))
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 10)], wr_id=2))
        self.assertEqual(poll_quiet(a.scq, 0.1), [])
        self.assertEqual(a.state(), e.IBV_QPS_RTS)
        b.to_rtr(a.qpn)
        b.to_rts()
        wcs = poll_cq(a.scq, 2)
        self.assertWC(wcs[0], wr_id=1, opcode=e.IBV_WC_RDMA_WRITE)
        self.assertWC(wcs[1], wr_id=2, opcode=e.IBV_WC_SEND)
        self.assertRecv(poll_cq(b.rcq, 1)[0], a, b, 10, wr_id=0xb1)
        self.assertEqual(dst.read(0, 10), b'early bird')
        self.assertEqual(dst.read(100, 10), b'early bird')

    def test_sqd_and_back(self):
        a, b = self.pair()
        a.qp.modify(QPAttr(qp_state=e.IBV_QPS_SQD), e.IBV_QP_STATE)
        self.assertEqual(a.state(), e.IBV_QPS_SQD)
        # work posted in SQD waits for RTS
        src, dst = a.buf(4096), b.buf(4096)
        src.write(0, b'drained')
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_WRITE, [src.sge(0, 7)],
                               wr_id=1, rkey=dst.rkey, raddr=dst.addr))
        self.assertEqual(poll_quiet(a.scq, 0.1), [])
        self.assertEqual(dst.read(0, 7), b'\xa5' * 7)
        # SQD -> SQD with attributes, then back to RTS
        at = QPAttr(qp_state=e.IBV_QPS_SQD)
        at.timeout = 12
        a.qp.modify(at, e.IBV_QP_STATE | e.IBV_QP_TIMEOUT)
        at = QPAttr(qp_state=e.IBV_QPS_RTS)
        at.min_rnr_timer = 5
        a.qp.modify(at, e.IBV_QP_STATE | e.IBV_QP_MIN_RNR_TIMER)
        self.assertEqual(a.state(), e.IBV_QPS_RTS)
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=1,
                      opcode=e.IBV_WC_RDMA_WRITE)
        self.assertEqual(dst.read(0, 7), b'drained')
        self._ping(a, b)

    def test_sqd_async_notify(self):
        a, b = self.pair()
        at = QPAttr(qp_state=e.IBV_QPS_SQD)
        at.en_sqd_async_notify = 1
        a.qp.modify(at, e.IBV_QP_STATE | e.IBV_QP_EN_SQD_ASYNC_NOTIFY)
        self.events.wait(e.IBV_EVENT_SQ_DRAINED)

    def test_modify_to_err_flushes_both_queues(self):
        # rnr_retry 7: A's SENDs wait for receives B never posts
        a, b = self.pair()
        abuf = a.buf(4096)
        for i in range(3):
            a.qp.post_recv(recv_wr([abuf.sge(0, 4096)], wr_id=0x100 + i))
        for i in range(2):
            a.qp.post_send(send_wr(e.IBV_WR_SEND, [abuf.sge(0, 16)],
                                   wr_id=0x200 + i))
        self.assertEqual(poll_quiet(a.scq, 0.1), [])
        a.qp.modify(QPAttr(qp_state=e.IBV_QPS_ERR), e.IBV_QP_STATE)
        self.assertEqual(a.state(), e.IBV_QPS_ERR)
        rw = poll_cq(a.rcq, 3, what='flushed receives')
        for i, wc in enumerate(rw):
            self.assertWC(wc, e.IBV_WC_WR_FLUSH_ERR, wr_id=0x100 + i,
                          qp_num=a.qpn)
        sw = poll_cq(a.scq, 2, what='flushed sends')
        for i, wc in enumerate(sw):
            self.assertWC(wc, e.IBV_WC_WR_FLUSH_ERR, wr_id=0x200 + i,
                          qp_num=a.qpn)
        # posting to a QP in ERR completes with a flush at once
        a.qp.post_recv(recv_wr([abuf.sge(0, 64)], wr_id=0x300))
        self.assertWC(poll_cq(a.rcq, 1)[0], e.IBV_WC_WR_FLUSH_ERR,
                      wr_id=0x300)
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [abuf.sge(0, 16)], wr_id=0x301))
        self.assertWC(poll_cq(a.scq, 1)[0], e.IBV_WC_WR_FLUSH_ERR,
                      wr_id=0x301)
        self.assertEqual(poll_quiet(a.scq, 0.05) + poll_quiet(a.rcq, 0), [])

    def test_destroy_with_work_outstanding(self):
        a, b = self.pair()
        abuf, bbuf = a.buf(4096), b.buf(4096)
        for i in range(4):
            a.qp.post_recv(recv_wr([abuf.sge(0, 4096)], wr_id=i))
        # a: receives and SENDs that wait (b posts no receive); b: a READ
        for i in range(3):
            a.qp.post_send(send_wr(e.IBV_WR_SEND, [abuf.sge(0, 32)],
                                   wr_id=0x10 + i))
        b.qp.post_send(send_wr(e.IBV_WR_RDMA_READ, [bbuf.sge(0, 64)],
                               wr_id=0x20, rkey=abuf.rkey, raddr=abuf.addr))
        self.assertWC(poll_cq(b.scq, 1)[0], wr_id=0x20,
                      opcode=e.IBV_WC_RDMA_READ)
        a.qp.close()
        # B notices: its QP ends in ERR; a READ it posts fails, none hangs
        b.qp.post_send(send_wr(e.IBV_WR_RDMA_READ, [bbuf.sge(0, 64)],
                               wr_id=0x21, rkey=abuf.rkey, raddr=abuf.addr))
        wc = poll_cq(b.scq, 1, what='READ to a destroyed QP')[0]
        self.assertNotEqual(wc.status, e.IBV_WC_SUCCESS, wc_str(wc))
        self.assertEqual(wc.wr_id, 0x21)
        deadline = time.monotonic() + TIMEOUT
        while b.state() != e.IBV_QPS_ERR and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(b.state(), e.IBV_QPS_ERR)
        self.events.wait((e.IBV_EVENT_QP_FATAL,))
        # and everything can still be freed
        for s in (a, b):
            s.qp.close()
            s.scq.close()
            s.rcq.close()
            for buf in s.bufs:
                buf.close()
            s.pd.close()

    def test_peer_destroyed_outstanding_fail(self):
        """Outstanding WRs of a QP whose peer disappears: the oldest
        completes with its real error, the rest with WR_FLUSH_ERR."""
        a, b = self.pair()
        abuf, bbuf = a.buf(4096), b.buf(4096)
        for i in range(3):
            a.qp.post_send(send_wr(e.IBV_WR_SEND, [abuf.sge(0, 32)],
                                   wr_id=0x10 + i))
        self.assertEqual(poll_quiet(a.scq, 0.05), [])
        b.qp.close()
        wcs = poll_cq(a.scq, 3, what='sends to a destroyed QP')
        self.assertEqual([w.wr_id for w in wcs], [0x10, 0x11, 0x12])
        self.assertNotIn(wcs[0].status, (e.IBV_WC_SUCCESS,), wc_str(wcs[0]))
        for w in wcs[1:]:
            self.assertWC(w, e.IBV_WC_WR_FLUSH_ERR)
        self.assertEqual(a.state(), e.IBV_QPS_ERR)
        self.events.wait(e.IBV_EVENT_QP_FATAL)

    def test_post_beyond_capacity_enomem(self):
        cap = QPCap(max_send_wr=8, max_recv_wr=6, max_send_sge=1,
                    max_recv_sge=1)
        a, b = self.pair(cap=cap)
        buf = a.buf(4096)
        send_cap = a.ia.cap.max_send_wr
        recv_cap = a.ia.cap.max_recv_wr
        # receives: exactly the capacity fits, one more is ENOMEM
        for i in range(recv_cap):
            a.qp.post_recv(recv_wr([buf.sge(0, 64)], wr_id=i))
        bad = RecvWR(wr_id=0xbad, num_sge=1, sg=[buf.sge(0, 1)])
        with self.assertRaises(PyverbsRDMAError) as cm:
            a.qp.post_recv(recv_wr([buf.sge(0, 64)], wr_id=0x999), bad)
        self.assertEqual(cm.exception.error_code, errno.ENOMEM)
        self.assertEqual(bad.wr_id, 0x999)
        # sends (B posts no receive, rnr_retry 7: they stay outstanding);
        # one chain of capacity + 1: the last one is bad_wr
        wrs = [send_wr(e.IBV_WR_SEND, [buf.sge(0, 8)], wr_id=0x40 + i)
               for i in range(send_cap + 1)]
        for w, nxt in zip(wrs, wrs[1:]):
            w.next_wr = nxt
        bad = SendWR(wr_id=0xbad, num_sge=1, sg=[buf.sge(0, 1)])
        with self.assertRaises(PyverbsRDMAError) as cm:
            a.qp.post_send(wrs[0], bad)
        self.assertEqual(cm.exception.error_code, errno.ENOMEM)
        self.assertEqual(bad.wr_id, 0x40 + send_cap)
        self.assertEqual(poll_quiet(a.scq, 0.05), [])
        # once B posts receives, the accepted ones complete, in order
        bb = b.buf(4096)
        wcs = []
        while len(wcs) < send_cap:
            k = min(b.ia.cap.max_recv_wr, send_cap - len(wcs))
            for i in range(k):
                b.qp.post_recv(recv_wr([bb.sge(0, 64)], wr_id=i))
            wcs += poll_cq(a.scq, k)
            for w in poll_cq(b.rcq, k):
                self.assertRecv(w, a, b, 8)
        self.assertEqual([w.wr_id for w in wcs],
                         [0x40 + i for i in range(send_cap)])
        for w in wcs:
            self.assertWC(w)
        self.assertEqual(poll_quiet(a.scq, 0.05), [])
        # the queue is free again
        b.qp.post_recv(recv_wr([bb.sge(0, 64)], wr_id=0x55))
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [buf.sge(0, 8)], wr_id=0x56))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=0x56)

    def test_post_send_before_rts_einval(self):
        for qp_type in (RC, UC):
            with self.subTest(qp_type=qp_type):
                a, b = self.side(qp_type=qp_type), self.side(qp_type=qp_type)
                buf = a.buf(4096)

                def post():
                    a.qp.post_send(send_wr(e.IBV_WR_SEND, [buf.sge(0, 8)]))
                self.assertRDMAError(errno.EINVAL, post)  # RESET
                # receives: not in RESET, fine from INIT on
                self.assertRDMAError(errno.EINVAL, a.qp.post_recv,
                                     recv_wr([buf.sge(0, 8)]))
                a.to_init()
                self.assertRDMAError(errno.EINVAL, post)  # INIT
                a.qp.post_recv(recv_wr([buf.sge(0, 8)]))
                b.to_init()
                a.to_rtr(b.qpn)
                self.assertRDMAError(errno.EINVAL, post)  # RTR
                self.assertEqual(poll_quiet(a.scq, 0.02), [])

    def test_post_send_checks(self):
        cap = QPCap(max_send_wr=8, max_recv_wr=8, max_send_sge=2,
                    max_recv_sge=1, max_inline_data=64)
        a, b = self.pair(cap=cap)
        buf = a.buf(8192)
        inl = a.ia.cap.max_inline_data
        cases = [
            ('more SGEs than max_send_sge',
             send_wr(e.IBV_WR_SEND, [buf.sge(0, 1)] * 3)),
            ('inline beyond max_inline_data',
             send_wr(e.IBV_WR_SEND, [buf.sge(0, inl + 1)],
                     flags=e.IBV_SEND_SIGNALED | e.IBV_SEND_INLINE)),
            ('atomic with a 4-byte SGE',
             send_wr(e.IBV_WR_ATOMIC_FETCH_AND_ADD, [buf.sge(0, 4)],
                     rkey=buf.rkey, raddr=buf.addr, compare_add=1)),
            ('atomic with 2 SGEs',
             send_wr(e.IBV_WR_ATOMIC_CMP_AND_SWP,
                     [buf.sge(0, 8), buf.sge(8, 8)], rkey=buf.rkey,
                     raddr=buf.addr)),
            ('unknown opcode', send_wr(0x7e, [buf.sge(0, 8)])),
            ('RDMA_READ with IBV_SEND_INLINE',
             send_wr(e.IBV_WR_RDMA_READ, [buf.sge(0, 8)],
                     flags=e.IBV_SEND_SIGNALED | e.IBV_SEND_INLINE,
                     rkey=buf.rkey, raddr=buf.addr)),
        ]
        for what, wr in cases:
            with self.subTest(what):
                bad = SendWR(wr_id=0xbad, num_sge=1, sg=[buf.sge(0, 1)])
                wr.wr_id = 0x1234
                with self.assertRaises(PyverbsRDMAError) as cm:
                    a.qp.post_send(wr, bad)
                self.assertEqual(cm.exception.error_code, errno.EINVAL)
                self.assertEqual(bad.wr_id, 0x1234)
        self.assertEqual(poll_quiet(a.scq, 0.02), [])
        with self.subTest('more SGEs than max_recv_sge'):
            self.assertRDMAError(errno.EINVAL, b.qp.post_recv,
                                 recv_wr([buf.sge(0, 1)] * 2))
        self._ping(a, b, n=50)

    def test_uc_rejects_read_and_atomics(self):
        for ex in (False, True):
            a, b = self.pair(qp_type=UC, ex=ex)
            buf = a.buf(4096)
            for op in (e.IBV_WR_RDMA_READ, e.IBV_WR_ATOMIC_CMP_AND_SWP,
                       e.IBV_WR_ATOMIC_FETCH_AND_ADD):
                with self.subTest(op=op, ex=ex):
                    wr = send_wr(op, [buf.sge(0, 8)], rkey=buf.rkey,
                                 raddr=buf.addr)
                    self.assertRDMAError(errno.EINVAL, a.qp.post_send, wr)
            self.assertEqual(poll_quiet(a.scq, 0.02), [])
            self.assertEqual(a.state(), e.IBV_QPS_RTS)

    def test_uc_data(self):
        a, b = self.pair(qp_type=UC)
        src, dst = a.buf(SLACK), b.buf(SLACK)
        for i, (op, n) in enumerate(((e.IBV_WR_SEND, 3000),
                                     (e.IBV_WR_SEND_WITH_IMM, 17),
                                     (e.IBV_WR_RDMA_WRITE, 40000),
                                     (e.IBV_WR_RDMA_WRITE_WITH_IMM, 5))):
            with self.subTest(op=op):
                data = rand_bytes(n, i)
                src.write(0, data)
                dst.fill()
                imm = 0x01020304 + i if op in (
                    e.IBV_WR_SEND_WITH_IMM,
                    e.IBV_WR_RDMA_WRITE_WITH_IMM) else None
                if op != e.IBV_WR_RDMA_WRITE:
                    sg = [] if op == e.IBV_WR_RDMA_WRITE_WITH_IMM else \
                        [dst.sge(0, n + 10)]
                    b.qp.post_recv(recv_wr(sg, wr_id=i))
                a.qp.post_send(send_wr(op, [src.sge(0, n)], wr_id=i,
                                       imm=imm or 0, rkey=dst.rkey,
                                       raddr=dst.addr + 100))
                self.assertWC(poll_cq(a.scq, 1)[0], wr_id=i,
                              opcode=WC_OF[op], qp_num=a.qpn)
                off = 0 if op in (e.IBV_WR_SEND,
                                  e.IBV_WR_SEND_WITH_IMM) else 100
                if op != e.IBV_WR_RDMA_WRITE:
                    wc = poll_cq(b.rcq, 1)[0]
                    self.assertRecv(
                        wc, a, b, n, wr_id=i, imm=imm,
                        opcode=e.IBV_WC_RECV_RDMA_WITH_IMM
                        if op == e.IBV_WR_RDMA_WRITE_WITH_IMM
                        else e.IBV_WC_RECV)
                if op == e.IBV_WR_RDMA_WRITE:
                    # UC: the requester completes once the WRITE is sent;
                    # nothing tells when it is placed -- wait for it
                    deadline = time.monotonic() + TIMEOUT
                    while dst.read(off, n) != data and \
                            time.monotonic() < deadline:
                        time.sleep(0.001)
                self.assertEqual(dst.read(off, n), data)
                self.assertEqual(dst.read(off + n, 10), b'\xa5' * 10)
                self.assertEqual(dst.read(0, off), b'\xa5' * off)


# ================================================= 2. data integrity, opcodes

class DataCase(QPCase):
    """A connected RC pair with two 8 MiB (+ slack) buffers on each side."""

    def make(self, qp_type=RC, ex=False, sq_sig_all=1, ctx_b=None):
        self.a, self.b = self.pair(qp_type=qp_type, ex=ex,
                                   sq_sig_all=sq_sig_all, ctx_b=ctx_b)
        g = 4096
        self.l1 = self.a.buf(BIG + SLACK, guard=g)
        self.l2 = self.a.buf(BIG + SLACK, guard=g)
        self.r1 = self.b.buf(BIG + SLACK, guard=g)
        self.r2 = self.b.buf(BIG + SLACK, guard=g)

    def tearDown(self):
        super().tearDown()
        for k in ('a', 'b', 'l1', 'l2', 'r1', 'r2'):
            self.__dict__.pop(k, None)  # 32 MiB per test: let it go

    def reset_bufs(self):
        for b in (self.l1, self.l2, self.r1, self.r2):
            b.fill()

    def segs(self, bufs, n, nsge, recv_slack=0):
        if nsge == 1:
            return Segs(bufs[0], bufs[1], [n + recv_slack])
        parts = split3(n)
        parts[2] += recv_slack
        return Segs(bufs[0], bufs[1], parts)

    def transfer(self, op, n, nsge, inline=False, wr_id=1, seed=None,
                 imm=None, flags=e.IBV_SEND_SIGNALED, via_ex=False):
        """One op of n bytes from a to b with nsge SGEs on each side;
        checks completions and every byte of all four buffers."""
        a, b = self.a, self.b
        seed = wr_id if seed is None else seed
        data = rand_bytes(n, seed)
        self.reset_bufs()
        lbufs, rbufs = (self.l1, self.l2), (self.r1, self.r2)
        roff = 3  # unaligned remote offset
        has_imm = op in (e.IBV_WR_SEND_WITH_IMM, e.IBV_WR_RDMA_WRITE_WITH_IMM)
        if has_imm and imm is None:
            imm = 0x80000000 | (wr_id * 2654435761 & 0x7fffffff)
        if op == e.IBV_WR_RDMA_READ:
            local = self.segs(lbufs, n, nsge)
            self.r1.write(roff, data)
        else:
            local = self.segs(lbufs, n, nsge)
            local.write(data)
        remote = None
        if op in (e.IBV_WR_SEND, e.IBV_WR_SEND_WITH_IMM):
            # receive SGEs split differently, the last one with room to spare
            remote = Segs(self.r2, self.r1,
                          [n // 2, n // 4, n - n // 2 - n // 4 + 33]
                          if nsge == 3 else [n + 33])
            b.qp.post_recv(recv_wr(remote.sges(), wr_id=wr_id + 0x1000))
        elif op == e.IBV_WR_RDMA_WRITE_WITH_IMM:
            # consumes a receive; its buffer must stay untouched
            b.qp.post_recv(recv_wr([self.r2.sge(0, 64)],
                                   wr_id=wr_id + 0x1000))
        if inline:
            flags |= e.IBV_SEND_INLINE
        if via_ex:
            self.post_ex(op, local, wr_id, flags, imm, self.r1.addr + roff,
                         self.r1.rkey)
        else:
            a.qp.post_send(send_wr(op, local.sges(), wr_id=wr_id,
                                   flags=flags, imm=imm or 0,
                                   rkey=self.r1.rkey,
                                   raddr=self.r1.addr + roff))
        if inline:
            # inline data is copied at post: the buffers are free again
            local.write(bytes(len(data)))
        if flags & e.IBV_SEND_SIGNALED or a.ia.sq_sig_all:
            wc = poll_cq(a.scq, 1, what='requester')[0]
            self.assertWC(wc, wr_id=wr_id, opcode=WC_OF[op], qp_num=a.qpn,
                          msg='requester')
        if op in (e.IBV_WR_SEND, e.IBV_WR_SEND_WITH_IMM,
                  e.IBV_WR_RDMA_WRITE_WITH_IMM):
            wc = poll_cq(b.rcq, 1, what='responder')[0]
            self.assertRecv(wc, a, b, n, wr_id=wr_id + 0x1000, imm=imm,
                            opcode=e.IBV_WC_RECV_RDMA_WITH_IMM
                            if op == e.IBV_WR_RDMA_WRITE_WITH_IMM
                            else e.IBV_WC_RECV, msg='responder')
        return self.verify(op, n, data, local, remote, roff, inline)

    def verify(self, op, n, data, local, remote, roff, inline=False):
        canary = bytearray([0xA5])
        exp = {id(x): canary * (x.length + 2 * x.guard)
               for x in (self.l1, self.l2, self.r1, self.r2)}
        if op == e.IBV_WR_RDMA_READ:
            exp.update(local.expected((self.l1, self.l2), data))
            g = self.r1.guard
            exp[id(self.r1)][g + roff:g + roff + n] = data
        else:
            if inline:
                exp.update(local.expected((self.l1, self.l2), bytes(n)))
            else:
                exp.update(local.expected((self.l1, self.l2), data))
            if remote is not None:
                exp.update(remote.expected((self.r1, self.r2), data))
            else:
                g = self.r1.guard
                exp[id(self.r1)][g + roff:g + roff + n] = data
        self.assertBufs((self.l1, self.l2, self.r1, self.r2), exp,
                        'op %d n %d' % (op, n))

    def post_ex(self, op, local, wr_id, flags, imm, raddr, rkey):
        qp = self.a.qp
        qp.wr_start()
        qp.wr_id = wr_id
        qp.wr_flags = flags & ~e.IBV_SEND_INLINE
        if op == e.IBV_WR_SEND:
            qp.wr_send()
        elif op == e.IBV_WR_SEND_WITH_IMM:
            qp.wr_send_imm(imm)
        elif op == e.IBV_WR_RDMA_WRITE:
            qp.wr_rdma_write(rkey, raddr)
        elif op == e.IBV_WR_RDMA_WRITE_WITH_IMM:
            qp.wr_rdma_write_imm(rkey, raddr, imm)
        elif op == e.IBV_WR_RDMA_READ:
            qp.wr_rdma_read(rkey, raddr)
        else:
            raise AssertionError(op)
        if flags & e.IBV_SEND_INLINE:
            if len(local.parts) == 1:
                b, off, n = local.parts[0]
                qp.wr_set_inline_data(b.addr + off, n)
            else:
                qp.wr_set_inline_data_list(
                    len(local.parts),
                    [DataBuffer(b.addr + off, n) for b, off, n in local.parts])
        elif len(local.parts) == 1:
            qp.wr_set_sge(local.sges()[0])
        else:
            qp.wr_set_sge_list(len(local.parts), local.sges())
        qp.wr_complete()

    def grid(self, op, via_ex=False):
        wr_id = 1
        for n in SIZES + (MAX_INLINE,):
            for nsge in (1, 3):
                modes = [False]
                if n <= MAX_INLINE and op != e.IBV_WR_RDMA_READ:
                    modes.append(True)
                if n == MAX_INLINE:
                    # extra size: the inline limit itself
                    modes = [True] if op != e.IBV_WR_RDMA_READ else []
                for inline in modes:
                    with self.subTest(n=n, nsge=nsge, inline=inline):
                        if via_ex and op in (e.IBV_WR_SEND_WITH_IMM,
                                             e.IBV_WR_RDMA_WRITE_WITH_IMM):
                            self._ex_imm(op, n, nsge, inline, wr_id)
                        else:
                            self.transfer(op, n, nsge, inline, wr_id=wr_id,
                                          via_ex=via_ex)
                    wr_id += 1
        self.assertEqual(self.a.state(), e.IBV_QPS_RTS)
        self.assertEqual(self.b.state(), e.IBV_QPS_RTS)

    def _ex_imm(self, op, n, nsge, inline, wr_id):
        """ibv_wr_send_imm/ibv_wr_rdma_write_imm take the immediate in host
        order (pyverbs converts with htobe32); the completion carries it as
        the __be32 it is in struct ibv_wc."""
        host = 0x1234567 + wr_id
        orig = self.assertRecv

        def check(wc, s, r, length, wr_id=None, imm=None, **kw):
            return orig(wc, s, r, length, wr_id=wr_id,
                        imm=socket.htonl(host), **kw)
        self.assertRecv = check
        try:
            self.transfer(op, n, nsge, inline, wr_id=wr_id, imm=host,
                          via_ex=True)
        finally:
            self.assertRecv = orig


class TestOpcodes(DataCase):
    def setUp(self):
        super().setUp()
        self.make()

    def test_send(self):
        self.grid(e.IBV_WR_SEND)

    def test_send_with_imm(self):
        self.grid(e.IBV_WR_SEND_WITH_IMM)

    def test_rdma_write(self):
        self.grid(e.IBV_WR_RDMA_WRITE)

    def test_rdma_write_with_imm(self):
        self.grid(e.IBV_WR_RDMA_WRITE_WITH_IMM)

    def test_rdma_read(self):
        self.grid(e.IBV_WR_RDMA_READ)

    def test_read_completes_alone(self):
        """A large RDMA READ completes with no other traffic on the QP
        (regression: the response's payload read in a later receive pass
        than its header left the WQE done but unreported)."""
        a, b = self.pair()
        n = 16 * MiB
        loc, rem = a.buf(n), b.buf(n)
        rem.write(0, rand_bytes(n, 16))
        for i in range(3):
            a.qp.post_send(send_wr(e.IBV_WR_RDMA_READ, [loc.sge(0, n)],
                                   wr_id=i, rkey=rem.rkey, raddr=rem.addr))
            self.assertWC(poll_cq(a.scq, 1, timeout=3, what='READ')[0],
                          wr_id=i, opcode=e.IBV_WC_RDMA_READ)
        self.assertEqual(loc.read(0, n), rem.read(0, n))

    def test_fence_after_read(self):
        """A WRITE with IBV_SEND_FENCE waits for the RDMA READ before it.
        Here the READ fetches 16 MiB and the fenced WRITE, posted in the
        same call, sends the READ's last 4 KiB back to where they came
        from: fenced, both regions end up with the original bytes.
        Unfenced, the WRITE would leave at once with the local bytes from
        before the READ (canary) and land at the responder before the
        READ response's tail is sent from there."""
        a, b = self.a, self.b
        n, t = 16 * MiB, 4096
        loc, rem = a.buf(n), b.buf(n)
        data = rand_bytes(n, 99)
        rem.write(0, data)
        read = send_wr(e.IBV_WR_RDMA_READ, [loc.sge(0, n)], wr_id=1,
                       rkey=rem.rkey, raddr=rem.addr)
        write = send_wr(e.IBV_WR_RDMA_WRITE, [loc.sge(n - t, t)], wr_id=2,
                        rkey=rem.rkey, raddr=rem.addr + n - t,
                        flags=e.IBV_SEND_SIGNALED | e.IBV_SEND_FENCE)
        read.next_wr = write  # one post: the two leave together unfenced
        a.qp.post_send(read)
        wcs = poll_cq(a.scq, 2)
        self.assertEqual([(w.wr_id, w.status) for w in wcs],
                         [(1, e.IBV_WC_SUCCESS), (2, e.IBV_WC_SUCCESS)])
        self.assertTrue(rem.read(n - t, t) == data[n - t:],
                        'the fenced WRITE did not carry the READ data')
        self.assertTrue(loc.read(0, n) == data, 'READ result overwritten')

    def test_zero_sge_messages(self):
        """num_sge 0 on both sides: zero-length messages."""
        a, b = self.a, self.b
        for i, op in enumerate((e.IBV_WR_SEND, e.IBV_WR_SEND_WITH_IMM,
                                e.IBV_WR_RDMA_WRITE,
                                e.IBV_WR_RDMA_WRITE_WITH_IMM,
                                e.IBV_WR_RDMA_READ)):
            with self.subTest(op=op):
                recv = op in (e.IBV_WR_SEND, e.IBV_WR_SEND_WITH_IMM,
                              e.IBV_WR_RDMA_WRITE_WITH_IMM)
                if recv:
                    b.qp.post_recv(recv_wr([], wr_id=0x50 + i))
                a.qp.post_send(send_wr(op, [], wr_id=i, imm=0x0a0b0c0d,
                                       rkey=self.r1.rkey, raddr=self.r1.addr))
                self.assertWC(poll_cq(a.scq, 1)[0], wr_id=i,
                              opcode=WC_OF[op])
                if recv:
                    imm = 0x0a0b0c0d if op != e.IBV_WR_SEND else None
                    self.assertRecv(
                        poll_cq(b.rcq, 1)[0], a, b, 0, wr_id=0x50 + i,
                        imm=imm, opcode=e.IBV_WC_RECV_RDMA_WITH_IMM
                        if op == e.IBV_WR_RDMA_WRITE_WITH_IMM
                        else e.IBV_WC_RECV)

    def test_zero_length_rkey_zero(self):
        """A zero-length RDMA WRITE / READ checks no key (UCX flushes with
        rkey 0)."""
        a = self.a
        for i, op in enumerate((e.IBV_WR_RDMA_WRITE, e.IBV_WR_RDMA_READ)):
            for sges in ([], [self.l1.sge(0, 0)]):
                with self.subTest(op=op, nsge=len(sges)):
                    a.qp.post_send(send_wr(op, sges, wr_id=0x60 + i,
                                           rkey=0, raddr=0))
                    self.assertWC(poll_cq(a.scq, 1)[0], wr_id=0x60 + i,
                                  opcode=WC_OF[op])
        self.assertEqual(a.state(), e.IBV_QPS_RTS)
        self.assertEqual(self.b.state(), e.IBV_QPS_RTS)
        self.assertEqual(self.events.drain(), [])

    def test_solicited(self):
        a, b = self.a, self.b
        for i, op in enumerate((e.IBV_WR_SEND, e.IBV_WR_SEND_WITH_IMM,
                                e.IBV_WR_RDMA_WRITE_WITH_IMM)):
            with self.subTest(op=op):
                self.transfer(op, 100, 1, wr_id=0x70 + i,
                              flags=e.IBV_SEND_SIGNALED |
                              e.IBV_SEND_SOLICITED)

    def test_pipelined_mixed(self):
        """Many WRs of every opcode in flight at once, completing in order,
        every byte checked."""
        a, b = self.a, self.b
        n, k = 1000, 40
        ops = (e.IBV_WR_SEND, e.IBV_WR_RDMA_WRITE, e.IBV_WR_RDMA_READ,
               e.IBV_WR_SEND_WITH_IMM, e.IBV_WR_RDMA_WRITE_WITH_IMM)
        self.reset_bufs()
        want_l, want_r = {}, {}
        nrecv = 0
        for i in range(k):
            op = ops[i % len(ops)]
            data = rand_bytes(n, 1000 + i)
            off = i * 2 * n
            if op == e.IBV_WR_RDMA_READ:
                self.r1.write(off, data)
                want_r[off] = want_l[off] = data
                sg = [self.l1.sge(off, n)]
            else:
                self.l1.write(off, data)
                want_l[off] = data
                sg = [self.l1.sge(off, n)]
                if op in (e.IBV_WR_SEND, e.IBV_WR_SEND_WITH_IMM):
                    b.qp.post_recv(recv_wr([self.r1.sge(off, n)], wr_id=i))
                    nrecv += 1
                elif op == e.IBV_WR_RDMA_WRITE_WITH_IMM:
                    b.qp.post_recv(recv_wr([], wr_id=i))
                    nrecv += 1
                want_r[off] = data
            a.qp.post_send(send_wr(op, sg, wr_id=i, imm=i, rkey=self.r1.rkey,
                                   raddr=self.r1.addr + off))
        wcs = poll_cq(a.scq, k)
        self.assertEqual([w.wr_id for w in wcs], list(range(k)))
        for i, w in enumerate(wcs):
            self.assertWC(w, opcode=WC_OF[ops[i % len(ops)]])
        rws = poll_cq(b.rcq, nrecv)
        for w in rws:
            self.assertWC(w)
        for off, d in want_l.items():
            self.assertEqual(self.l1.read(off, n), d, off)
        for off, d in want_r.items():
            self.assertEqual(self.r1.read(off, n), d, off)

    def test_reverse_direction(self):
        """b -> a over the same pair while a -> b is in use."""
        self.a, self.b = self.b, self.a
        self.l1, self.l2, self.r1, self.r2 = self.r1, self.r2, self.l1, self.l2
        for i, op in enumerate((e.IBV_WR_SEND, e.IBV_WR_RDMA_WRITE,
                                e.IBV_WR_RDMA_READ)):
            with self.subTest(op=op):
                self.transfer(op, 65537, 3, wr_id=0x90 + i)


class TestUnsignaled(DataCase):
    def setUp(self):
        super().setUp()
        self.make(sq_sig_all=0)

    def test_unsignaled_then_signaled(self):
        a, b = self.a, self.b
        for op in (e.IBV_WR_SEND, e.IBV_WR_SEND_WITH_IMM, e.IBV_WR_RDMA_WRITE,
                   e.IBV_WR_RDMA_WRITE_WITH_IMM, e.IBV_WR_RDMA_READ,
                   e.IBV_WR_ATOMIC_FETCH_AND_ADD):
            with self.subTest(op=op):
                self.reset_bufs()
                sizes = (1, 4096, 65537, 0)
                datas = []
                pos = 0
                nrecv = 0
                for i, n in enumerate(sizes):
                    last = i == len(sizes) - 1
                    flags = e.IBV_SEND_SIGNALED if last else 0
                    if op == e.IBV_WR_ATOMIC_FETCH_AND_ADD:
                        n = 8
                    data = rand_bytes(n, i + 7 * op)
                    datas.append((pos, data))
                    if op == e.IBV_WR_RDMA_READ:
                        self.r1.write(pos, data)
                    elif op != e.IBV_WR_ATOMIC_FETCH_AND_ADD:
                        self.l1.write(pos, data)
                    if op in (e.IBV_WR_SEND, e.IBV_WR_SEND_WITH_IMM):
                        b.qp.post_recv(recv_wr([self.r1.sge(pos, n)],
                                               wr_id=i))
                        nrecv += 1
                    elif op == e.IBV_WR_RDMA_WRITE_WITH_IMM:
                        b.qp.post_recv(recv_wr([], wr_id=i))
                        nrecv += 1
                    if op == e.IBV_WR_ATOMIC_FETCH_AND_ADD:
                        self.r1.write(pos, struct.pack('<Q', 1000))
                        wr = send_wr(op, [self.l1.sge(pos, 8)], wr_id=i,
                                     flags=flags, rkey=self.r1.rkey,
                                     raddr=self.r1.addr + pos,
                                     compare_add=i + 1)
                    else:
                        wr = send_wr(op, [self.l1.sge(pos, n)], wr_id=i,
                                     flags=flags, imm=i, rkey=self.r1.rkey,
                                     raddr=self.r1.addr + pos)
                    a.qp.post_send(wr)
                    pos += max(n, 8) + 4096
                wcs = poll_cq(a.scq, 1)
                self.assertWC(wcs[0], wr_id=len(sizes) - 1, opcode=WC_OF[op])
                self.assertEqual(poll_quiet(a.scq, 0.05), [],
                                 'unsignaled WRs completed')
                for w in poll_cq(b.rcq, nrecv):
                    self.assertWC(w)
                for i, (p, d) in enumerate(datas):
                    if op == e.IBV_WR_ATOMIC_FETCH_AND_ADD:
                        self.assertEqual(self.l1.read(p, 8),
                                         struct.pack('<Q', 1000))
                        self.assertEqual(self.r1.read(p, 8),
                                         struct.pack('<Q', 1001 + i))
                    else:
                        self.assertEqual(self.l1.read(p, len(d)), d)
                        self.assertEqual(self.r1.read(p, len(d)), d)

    def test_error_on_unsignaled_wr_completes(self):
        """An unsignaled WR that fails still produces a completion."""
        a = self.a
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_WRITE, [self.l1.sge(0, 8)],
                               wr_id=0x31, flags=0, rkey=self.r1.rkey ^ 0x5a,
                               raddr=self.r1.addr))
        wc = poll_cq(a.scq, 1)[0]
        self.assertWC(wc, e.IBV_WC_REM_ACCESS_ERR, wr_id=0x31)


class TestAtomics(DataCase):
    def setUp(self):
        super().setUp()
        self.make()

    def atomic(self, op, off, compare_add, swap=0, wr_id=1, local_off=0):
        a = self.a
        self.l1.write(local_off, b'\xee' * 8)
        a.qp.post_send(send_wr(op, [self.l1.sge(local_off, 8)], wr_id=wr_id,
                               rkey=self.r1.rkey, raddr=self.r1.addr + off,
                               compare_add=compare_add, swap=swap))
        wc = poll_cq(a.scq, 1)[0]
        self.assertWC(wc, wr_id=wr_id, opcode=WC_OF[op], qp_num=a.qpn)
        return struct.unpack('<Q', self.l1.read(local_off, 8))[0]

    def mem(self, off):
        return struct.unpack('<Q', self.r1.read(off, 8))[0]

    def test_fetch_and_add(self):
        rnd = random.Random(5)
        for k in range(16):
            off = 8 * rnd.randrange(0, 512)
            v, add = rnd.getrandbits(64), rnd.getrandbits(64)
            self.r1.fill()
            self.r1.write(off, struct.pack('<Q', v))
            old = self.atomic(e.IBV_WR_ATOMIC_FETCH_AND_ADD, off, add,
                              wr_id=k)
            self.assertEqual(old, v)
            self.assertEqual(self.mem(off), (v + add) & (2 ** 64 - 1))
            # neighbours untouched
            exp = bytearray(b'\xa5' * (BIG + SLACK + 8192))
            exp[4096 + off:4096 + off + 8] = struct.pack('<Q', (v + add) %
                                                         2 ** 64)
            self.assertEqual(self.r1.whole(), bytes(exp))

    def test_compare_and_swap(self):
        rnd = random.Random(6)
        for k in range(8):
            off = 8 * rnd.randrange(0, 512)
            v, s = rnd.getrandbits(64), rnd.getrandbits(64)
            self.r1.write(off, struct.pack('<Q', v))
            # mismatch: nothing swapped, original returned
            old = self.atomic(e.IBV_WR_ATOMIC_CMP_AND_SWP, off, v ^ 1, s,
                              wr_id=2 * k)
            self.assertEqual(old, v)
            self.assertEqual(self.mem(off), v)
            # match: swapped
            old = self.atomic(e.IBV_WR_ATOMIC_CMP_AND_SWP, off, v, s,
                              wr_id=2 * k + 1)
            self.assertEqual(old, v)
            self.assertEqual(self.mem(off), s)

    def test_pipelined_fetch_add(self):
        a = self.a
        self.r1.write(64, struct.pack('<Q', 10))
        k = 32
        for i in range(k):
            a.qp.post_send(send_wr(e.IBV_WR_ATOMIC_FETCH_AND_ADD,
                                   [self.l1.sge(8 * i, 8)], wr_id=i,
                                   rkey=self.r1.rkey,
                                   raddr=self.r1.addr + 64, compare_add=3))
        wcs = poll_cq(a.scq, k)
        self.assertEqual([w.wr_id for w in wcs], list(range(k)))
        for i in range(k):
            self.assertEqual(struct.unpack('<Q', self.l1.read(8 * i, 8))[0],
                             10 + 3 * i)
        self.assertEqual(self.mem(64), 10 + 3 * k)

    def test_unaligned_atomic_fails(self):
        a = self.a
        self.r1.write(8, struct.pack('<Q', 77))
        before = self.r1.whole()
        a.qp.post_send(send_wr(e.IBV_WR_ATOMIC_FETCH_AND_ADD,
                               [self.l1.sge(0, 8)], wr_id=9,
                               rkey=self.r1.rkey, raddr=self.r1.addr + 12,
                               compare_add=1))
        wc = poll_cq(a.scq, 1)[0]
        self.assertIn(wc.status, (e.IBV_WC_REM_INV_REQ_ERR,
                                  e.IBV_WC_REM_ACCESS_ERR), wc_str(wc))
        self.assertEqual(self.r1.whole(), before)


class TestWrApi(DataCase):
    """The ibv_wr_* API (QPEx from ibv_create_qp_ex with send_ops_flags)."""

    def setUp(self):
        super().setUp()
        self.make(ex=True)

    def test_wr_send(self):
        self.grid(e.IBV_WR_SEND, via_ex=True)

    def test_wr_send_imm(self):
        self.grid(e.IBV_WR_SEND_WITH_IMM, via_ex=True)

    def test_wr_rdma_write(self):
        self.grid(e.IBV_WR_RDMA_WRITE, via_ex=True)

    def test_wr_rdma_write_imm(self):
        self.grid(e.IBV_WR_RDMA_WRITE_WITH_IMM, via_ex=True)

    def test_wr_rdma_read(self):
        self.grid(e.IBV_WR_RDMA_READ, via_ex=True)

    def test_wr_atomics(self):
        qp = self.a.qp
        self.r1.write(16, struct.pack('<Q', 500))
        qp.wr_start()
        qp.wr_id, qp.wr_flags = 1, e.IBV_SEND_SIGNALED
        qp.wr_atomic_fetch_add(self.r1.rkey, self.r1.addr + 16, 25)
        qp.wr_set_sge(self.l1.sge(0, 8))
        qp.wr_id = 2
        qp.wr_atomic_cmp_swp(self.r1.rkey, self.r1.addr + 16, 525, 9)
        qp.wr_set_sge(self.l1.sge(8, 8))
        qp.wr_id = 3
        qp.wr_atomic_cmp_swp(self.r1.rkey, self.r1.addr + 16, 525, 11)
        qp.wr_set_sge_list(1, [self.l1.sge(16, 8)])
        qp.wr_complete()
        wcs = poll_cq(self.a.scq, 3)
        self.assertEqual([(w.wr_id, w.opcode) for w in wcs],
                         [(1, e.IBV_WC_FETCH_ADD), (2, e.IBV_WC_COMP_SWAP),
                          (3, e.IBV_WC_COMP_SWAP)])
        for w in wcs:
            self.assertWC(w, qp_num=self.a.qpn)
        self.assertEqual(struct.unpack('<3Q', self.l1.read(0, 24)),
                         (500, 525, 9))
        self.assertEqual(struct.unpack('<Q', self.r1.read(16, 8))[0], 9)

    def test_wr_batch_and_abort(self):
        a, b = self.pair(ex=True, sq_sig_all=0)
        self.l1, self.r1 = a.buf(4096), b.buf(4096)
        qp = a.qp
        self.l1.write(0, b'abcdefgh')
        b.qp.post_recv(recv_wr([self.r1.sge(0, 64)], wr_id=0x10))
        # an aborted batch posts nothing
        qp.wr_start()
        qp.wr_id, qp.wr_flags = 0xdead, e.IBV_SEND_SIGNALED
        qp.wr_send()
        qp.wr_set_sge(self.l1.sge(0, 8))
        qp.wr_abort()
        self.assertEqual(poll_quiet(a.scq, 0.05), [])
        # a batch of three, one unsignaled
        qp.wr_start()
        qp.wr_id, qp.wr_flags = 1, e.IBV_SEND_SIGNALED
        qp.wr_rdma_write(self.r1.rkey, self.r1.addr + 100)
        qp.wr_set_sge(self.l1.sge(0, 8))
        qp.wr_id, qp.wr_flags = 2, 0
        qp.wr_rdma_write(self.r1.rkey, self.r1.addr + 200)
        qp.wr_set_sge(self.l1.sge(0, 4))
        qp.wr_id, qp.wr_flags = 3, e.IBV_SEND_SIGNALED
        qp.wr_send()
        qp.wr_set_sge(self.l1.sge(0, 8))
        qp.wr_complete()
        wcs = poll_cq(a.scq, 2)
        self.assertEqual([w.wr_id for w in wcs], [1, 3])
        self.assertEqual(poll_quiet(a.scq, 0.05), [])
        wc = poll_cq(b.rcq, 1)[0]
        self.assertRecv(wc, a, b, 8, wr_id=0x10)
        self.assertEqual(self.r1.read(0, 8), b'abcdefgh')
        self.assertEqual(self.r1.read(100, 8), b'abcdefgh')
        self.assertEqual(self.r1.read(200, 8), b'abcd\xa5\xa5\xa5\xa5')

    def test_wr_complete_errors(self):
        """Inline data beyond max_inline_data fails wr_complete."""
        qp = self.a.qp
        big = ctypes.create_string_buffer(MAX_INLINE + 1)
        qp.wr_start()
        qp.wr_id, qp.wr_flags = 5, e.IBV_SEND_SIGNALED
        qp.wr_rdma_write(self.r1.rkey, self.r1.addr)
        qp.wr_set_inline_data(ctypes.addressof(big), MAX_INLINE + 1)
        with self.assertRaises(PyverbsRDMAError):
            qp.wr_complete()
        self.assertEqual(poll_quiet(self.a.scq, 0.05), [])
        self.assertEqual(self.a.state(), e.IBV_QPS_RTS)


class TestLargeMessages(QPCase):
    def test_max_msg_sz_at_least_1gib(self):
        self.assertGreaterEqual(self.ctx.query_port(PORT).max_msg_sz, GiB)

    def test_64mib_write_and_send(self):
        n = 64 * MiB
        a, b = self.pair()
        src = a.buf(n + 4096)
        dst = b.buf(n + 4096, guard=4096)
        data = rand_bytes(n, 64)
        src.write(0, data)
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_WRITE,
                               [src.sge(0, n // 2 + 1),
                                src.sge(n // 2 + 1, n // 2 - 1)],
                               wr_id=1, rkey=dst.rkey, raddr=dst.addr + 1))
        self.assertWC(poll_cq(a.scq, 1, timeout=60)[0], wr_id=1,
                      opcode=e.IBV_WC_RDMA_WRITE)
        self.assertEqual(dst.read(1, n), data)
        self.assertEqual(dst.read(0, 1), b'\xa5')
        self.assertEqual(dst.read(n + 1, 4095), b'\xa5' * 4095)
        whole = dst.whole()
        self.assertEqual(whole[:4096], b'\xa5' * 4096)
        self.assertEqual(whole[-4096:], b'\xa5' * 4096)
        del whole
        # and the same bytes back as one SEND into a fresh receive
        dst.fill()
        b.qp.post_recv(recv_wr([dst.sge(0, n + 4096)], wr_id=2))
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, n)], wr_id=3))
        self.assertWC(poll_cq(a.scq, 1, timeout=60)[0], wr_id=3)
        self.assertRecv(poll_cq(b.rcq, 1, timeout=60)[0], a, b, n, wr_id=2)
        self.assertEqual(dst.read(0, n), data)


class TestLoopbackQP(QPCase):
    """A QP whose destination is itself (dest_qp_num = its own number, dgid
    = its own GID), as RDMA NICs allow: every opcode works, SEND lands in
    its own receive queue, and the work completions name the QP as both
    qp_num and src_qp."""

    def test_qp_connected_to_itself(self):
        a = self.side()
        a.to_init()
        a.to_rtr(a.qpn)
        a.to_rts()
        self.assertEqual(a.state(), e.IBV_QPS_RTS)
        src, dst = a.buf(65536), a.buf(65536, guard=64)
        data = rand_bytes(65536, 99)
        src.write(0, data)
        # WRITE, then READ it back elsewhere, then SEND into a receive
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_WRITE, [src.sge(0, 40000)],
                               wr_id=1, rkey=dst.rkey, raddr=dst.addr))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=1,
                      opcode=e.IBV_WC_RDMA_WRITE)
        self.assertEqual(dst.read(0, 40000), data[:40000])
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_READ, [src.sge(50000, 100)],
                               wr_id=2, rkey=dst.rkey, raddr=dst.addr + 7))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=2,
                      opcode=e.IBV_WC_RDMA_READ)
        self.assertEqual(src.read(50000, 100), data[7:107])
        a.qp.post_recv(recv_wr([dst.sge(60000, 5000)], wr_id=3))
        a.qp.post_send(send_wr(e.IBV_WR_SEND_WITH_IMM, [src.sge(0, 4096)],
                               wr_id=4, imm=0x1234))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=4, opcode=e.IBV_WC_SEND)
        self.assertRecv(poll_cq(a.rcq, 1)[0], a, a, 4096, wr_id=3,
                        imm=0x1234)
        self.assertEqual(dst.read(60000, 4096), data[:4096])
        # an atomic on its own memory
        dst.write(0, struct.pack('<Q', 41))
        a.qp.post_send(send_wr(e.IBV_WR_ATOMIC_FETCH_AND_ADD,
                               [src.sge(0, 8)], wr_id=5, rkey=dst.rkey,
                               raddr=dst.addr, compare_add=1))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=5,
                      opcode=e.IBV_WC_FETCH_ADD)
        self.assertEqual(src.read(0, 8), struct.pack('<Q', 41))
        self.assertEqual(dst.read(0, 8), struct.pack('<Q', 42))
        self.assertEqual(a.state(), e.IBV_QPS_RTS)


class TestTwoContexts(DataCase):
    """Two QPs in two contexts of one process."""

    def setUp(self):
        super().setUp()
        self.ctx_b, self.events_b = self.other_context()
        self.make(ctx_b=self.ctx_b)

    def test_opcodes_across_contexts(self):
        for i, op in enumerate((e.IBV_WR_SEND, e.IBV_WR_SEND_WITH_IMM,
                                e.IBV_WR_RDMA_WRITE,
                                e.IBV_WR_RDMA_WRITE_WITH_IMM,
                                e.IBV_WR_RDMA_READ)):
            for n in (0, 4096, 65537):
                with self.subTest(op=op, n=n):
                    self.transfer(op, n, 3, wr_id=i * 10 + n % 7)
        self.r1.write(8, struct.pack('<Q', 41))
        self.a.qp.post_send(send_wr(e.IBV_WR_ATOMIC_FETCH_AND_ADD,
                                    [self.l1.sge(0, 8)], wr_id=99,
                                    rkey=self.r1.rkey,
                                    raddr=self.r1.addr + 8, compare_add=1))
        self.assertWC(poll_cq(self.a.scq, 1)[0], wr_id=99,
                      opcode=e.IBV_WC_FETCH_ADD)
        self.assertEqual(self.l1.read(0, 8), struct.pack('<Q', 41))
        self.assertEqual(self.r1.read(8, 8), struct.pack('<Q', 42))

    def test_access_error_event_on_responder_context(self):
        a = self.a
        before = self.r1.whole()
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_WRITE, [self.l1.sge(0, 64)],
                               wr_id=1, rkey=self.r1.rkey ^ 0x100,
                               raddr=self.r1.addr))
        self.assertWC(poll_cq(a.scq, 1)[0], e.IBV_WC_REM_ACCESS_ERR,
                      wr_id=1)
        self.events_b.wait((e.IBV_EVENT_QP_ACCESS_ERR, e.IBV_EVENT_QP_FATAL))
        self.assertEqual(self.b.state(), e.IBV_QPS_ERR)
        self.assertEqual(a.state(), e.IBV_QPS_ERR)
        self.assertEqual(self.r1.whole(), before)

    def test_key_of_other_context_refused(self):
        """An rkey valid in the requester's context means nothing at the
        responder."""
        a = self.a
        # a key registered in a's context, with a's address
        before = self.l2.whole()
        r_before = self.r1.whole()
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_WRITE, [self.l1.sge(0, 64)],
                               wr_id=1, rkey=self.l2.rkey,
                               raddr=self.l2.addr))
        wc = poll_cq(a.scq, 1)[0]
        if self.l2.rkey == self.r1.rkey or self.l2.rkey == self.r2.rkey:
            self.skipTest('keys of the two contexts collide')
        self.assertWC(wc, e.IBV_WC_REM_ACCESS_ERR, wr_id=1)
        self.assertEqual(self.l2.whole(), before)
        self.assertEqual(self.r1.whole(), r_before)


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
        deadline = time.monotonic() + TIMEOUT
        while (b.state() != e.IBV_QPS_ERR or a.state() != e.IBV_QPS_ERR) \
                and time.monotonic() < deadline:
            time.sleep(0.005)
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
        time.sleep(0.2)  # connection up, credits exchanged: all quiet
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


# =================================================================== 4. flow

class TestFlow(QPCase):

    def test_send_waits_for_receive_while_read_flows(self):
        a, b = self.pair()  # rnr_retry 7
        src, dst = a.buf(4096), b.buf(4096)
        src.write(0, b'waiting for a receive')
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 21)], wr_id=1))
        self.assertEqual(poll_quiet(a.scq, 0.2), [],
                         'SEND completed with no receive posted')
        # the reverse direction: b reads from a, the response flows a -> b
        # past a's held SEND
        src.write(100, b'read me')
        b.qp.post_send(send_wr(e.IBV_WR_RDMA_READ, [dst.sge(200, 7)],
                               wr_id=2, rkey=src.rkey, raddr=src.addr + 100))
        self.assertWC(poll_cq(b.scq, 1)[0], wr_id=2,
                      opcode=e.IBV_WC_RDMA_READ)
        self.assertEqual(dst.read(200, 7), b'read me')
        # and b -> a SENDs (a has credits) flow as well
        abuf = a.buf(4096)
        a.qp.post_recv(recv_wr([abuf.sge(0, 64)], wr_id=3))
        b.qp.post_send(send_wr(e.IBV_WR_SEND, [dst.sge(200, 7)], wr_id=4))
        self.assertWC(poll_cq(b.scq, 1)[0], wr_id=4)
        self.assertRecv(poll_cq(a.rcq, 1)[0], b, a, 7, wr_id=3)
        self.assertEqual(poll_quiet(a.scq, 0.05), [])
        # the receive arrives: the SEND completes
        b.qp.post_recv(recv_wr([dst.sge(0, 64)], wr_id=5))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=1, opcode=e.IBV_WC_SEND)
        self.assertRecv(poll_cq(b.rcq, 1)[0], a, b, 21, wr_id=5)
        self.assertEqual(dst.read(0, 21), b'waiting for a receive')

    def test_rnr_retry_exhausted(self):
        """rnr_retry 1, min_rnr_timer 1, no receive: the SEND ends in
        IBV_WC_RNR_RETRY_EXC_ERR within a few seconds, later WRs flush.
        Both right after connecting and with the QPs idle first
        (regression: a credit stall that began in the posting thread
        while the engine slept in epoll_wait(-1) never timed out)."""
        for idle in (0.3, 0.0):
            with self.subTest(idle=idle):
                a, b = self.pair(connect_kw=dict(
                    rtr_kw=dict(min_rnr_timer=1), rts_kw=dict(rnr_retry=1)))
                src = a.buf(4096)
                time.sleep(idle)
                t0 = time.monotonic()
                a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 8)],
                                       wr_id=1))
                a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 8)],
                                       wr_id=2))
                wcs = poll_cq(a.scq, 2, timeout=3)
                self.assertWC(wcs[0], e.IBV_WC_RNR_RETRY_EXC_ERR, wr_id=1)
                self.assertWC(wcs[1], e.IBV_WC_WR_FLUSH_ERR, wr_id=2)
                self.assertLess(time.monotonic() - t0, 3)
                self.assertEqual(a.state(), e.IBV_QPS_ERR)

    def test_small_rnr_budget_with_receives_posted(self):
        """Receives posted before the connection is up: a SEND right after
        RTS with a tiny RNR budget (rnr_retry 0, min_rnr_timer 1: 10 us)
        must not fail with RNR while the peer's credits are on their way
        (regression: the budget ran from before the first credit frame)."""
        for attempt in range(20):
            with self.subTest(attempt=attempt):
                a = self.side()
                b = self.side()
                bb = b.buf(4096)
                src = a.buf(4096)

                def post_recvs():
                    for i in range(4):
                        b.qp.post_recv(recv_wr([bb.sge(0, 64)], wr_id=i))
                connect(a, b, rtr_kw=dict(min_rnr_timer=1),
                        rts_kw=dict(rnr_retry=0), before_rtr=post_recvs)
                for i in range(4):
                    a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, 8)],
                                           wr_id=i))
                for w in poll_cq(a.scq, 4):
                    self.assertWC(w)
                self.assertEqual(len(poll_cq(b.rcq, 4)), 4)

    def test_rnr_retry_7_waits(self):
        a, b = self.pair(connect_kw=dict(
            rtr_kw=dict(min_rnr_timer=1), rts_kw=dict(rnr_retry=7)))
        src, dst = a.buf(4096), b.buf(4096)
        src.write(0, b'patience')
        a.qp.post_send(send_wr(e.IBV_WR_SEND_WITH_IMM, [src.sge(0, 8)],
                               wr_id=1, imm=0x11223344))
        self.assertEqual(poll_quiet(a.scq, 0.5), [])
        self.assertEqual(a.state(), e.IBV_QPS_RTS)
        b.qp.post_recv(recv_wr([dst.sge(0, 8)], wr_id=2))
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=1)
        self.assertRecv(poll_cq(b.rcq, 1)[0], a, b, 8, wr_id=2,
                        imm=0x11223344)
        self.assertEqual(dst.read(0, 8), b'patience')

    def test_credits_many_small_sends(self):
        """More SENDs than receives ever posted at once: credits refill."""
        cap = QPCap(max_send_wr=128, max_recv_wr=8, max_send_sge=1,
                    max_recv_sge=1)
        a, b = self.pair(cap=cap)
        src, dst = a.buf(4096), b.buf(8 * 64)
        total = 100
        for i in range(total):
            src.write(4 * i, struct.pack('<I', i))
            a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(4 * i, 4)],
                                   wr_id=i))
        got = []
        posted = 0
        for i in range(8):
            b.qp.post_recv(recv_wr([dst.sge(64 * i, 64)], wr_id=i))
            posted += 1
        deadline = time.monotonic() + TIMEOUT
        while len(got) < total and time.monotonic() < deadline:
            n, wcs = b.rcq.poll(8)
            for w in wcs[:n]:
                self.assertRecv(w, a, b, 4)
                got.append(struct.unpack('<I', dst.read(64 * w.wr_id, 4))[0])
                if posted < total:
                    b.qp.post_recv(recv_wr([dst.sge(64 * w.wr_id, 64)],
                                           wr_id=w.wr_id))
                    posted += 1
        self.assertEqual(got, list(range(total)))
        wcs = poll_cq(a.scq, total)
        self.assertEqual([w.wr_id for w in wcs], list(range(total)))


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


# ================================================ 3b. the wire, from outside

RTCP_HDR = struct.Struct('>BBHIIIIIQQI4sQQ')  # include/rdma_tcp/wire.h
assert RTCP_HDR.size == 64
OP_SEND, OP_SEND_IMM, OP_WRITE, OP_WRITE_IMM, OP_READ_REQ, OP_READ_RESP, \
    OP_CMP_SWP, OP_FADD, OP_ATOMIC_RESP, OP_ACK, OP_TERMINATE = range(1, 12)
MAX_MSG = 1 << 31  # the device's max_msg_sz


class RawPeer:
    """A requester speaking the wire format itself over a plain socket, to
    a provider QP (`side`, in INIT) it moves to RTS. Its QPN (1) is below
    any real one, so it is the end that connects and sends the hello."""

    QPN = 1

    def __init__(self, side):
        side.to_rtr(self.QPN)
        side.to_rts()
        port = side.qpn >> 8  # DESIGN.md: the QPN routes the connection
        self.sock = socket.create_connection(('127.0.0.1', port),
                                             timeout=TIMEOUT)
        gid = socket.inet_pton(socket.AF_INET6, '::ffff:127.0.0.1')
        self.sock.sendall(struct.pack('>IHHII16s', 0x52544350, 1, 0,
                                      self.QPN, side.qpn, gid))
        self.seq = 0
        self.msn = 0
        self.rx = b''

    def frame(self, opcode, payload=b'', flags=0, msn=None, rkey=0,
              raddr=0, imm=b'\0\0\0\0', aux0=0, aux1=0, hlen=64,
              sseq=None, length=None, credits=0, send=True, cut=None):
        if msn is None:
            msn = self.msn
            if opcode not in (OP_ACK, OP_READ_RESP, OP_ATOMIC_RESP,
                              OP_TERMINATE):
                self.msn += 1
        length = len(payload) if length is None else length
        sseq = self.seq + 64 if sseq is None else sseq
        hdr = RTCP_HDR.pack(opcode, flags, hlen, 0, msn, 0, credits, rkey,
                            raddr, sseq, length, imm, aux0, aux1)
        self.seq += 64 + len(payload)
        data = hdr + payload
        if send:
            self.sock.sendall(data if cut is None else data[:cut])
        return data

    def read_frame(self, timeout=TIMEOUT):
        """(header tuple, payload) of the next frame, None at EOF."""
        deadline = time.monotonic() + timeout
        need = 64
        hdr = None
        while True:
            if len(self.rx) >= need:
                if hdr is None:
                    hdr = RTCP_HDR.unpack(self.rx[:64])
                    need = 64 + hdr[10]
                    continue
                payload = self.rx[64:need]
                self.rx = self.rx[need:]
                return hdr, payload
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError('no frame from the provider in time')
            self.sock.settimeout(left)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return None
            self.rx += chunk

    def read_until(self, opcode, timeout=TIMEOUT):
        while True:
            f = self.read_frame(timeout)
            if f is None or f[0][0] == opcode:
                return f

    def wait_eof(self, timeout=TIMEOUT):
        """Reads (and drops) frames until the provider closes its side."""
        frames = []
        while True:
            f = self.read_frame(timeout)
            if f is None:
                return frames
            frames.append(f[0])

    def close(self):
        self.sock.close()


class TestWire(QPCase):
    """The responder side of the wire contract, driven by a raw socket:
    placement from the header alone, and malformed frames ending in QP
    error (never a crash, never a byte placed)."""

    def responder(self):
        b = self.side()
        b.to_init()
        target = b.buf(4096, guard=4096)
        ctypes.memmove(target.base, rand_bytes(3 * 4096, 3), 3 * 4096)
        rbuf = b.buf(4096)
        b.qp.post_recv(recv_wr([rbuf.sge(0, 4096)], wr_id=0xb1))
        peer = RawPeer(b)
        self.addCleanup(peer.close)
        return b, target, rbuf, peer

    def test_raw_requests_placed(self):
        b, target, rbuf, peer = self.responder()
        # a WRITE in three pieces with pauses: placed as it arrives
        data = rand_bytes(3000, 7)
        f = peer.frame(OP_WRITE, data, rkey=target.rkey,
                       raddr=target.addr + 100, send=False)
        for piece in (f[:40], f[40:1000], f[1000:]):
            peer.sock.sendall(piece)
            time.sleep(0.02)
        # a SEND_IMM into the posted receive
        peer.frame(OP_SEND_IMM, b'hello', imm=b'\x12\x34\x56\x78')
        wc = poll_cq(b.rcq, 1)[0]
        self.assertWC(wc, wr_id=0xb1, opcode=e.IBV_WC_RECV, qp_num=b.qpn)
        self.assertEqual(wc.byte_len, 5)
        self.assertEqual(wc.src_qp, RawPeer.QPN)
        self.assertTrue(wc.wc_flags & e.IBV_WC_WITH_IMM)
        self.assertEqual(wc.imm_data,
                         struct.unpack('=I', b'\x12\x34\x56\x78')[0])
        self.assertEqual(rbuf.read(0, 5), b'hello')
        self.assertEqual(target.read(100, 3000), data)
        # a READ and an atomic answered with nobody on b calling a verb
        peer.frame(OP_READ_REQ, rkey=target.rkey, raddr=target.addr + 100,
                   aux0=3000)
        hdr, payload = peer.read_until(OP_READ_RESP)
        self.assertEqual(hdr[4], 2)  # msn of the READ
        self.assertEqual(payload, data)
        target.write(8, struct.pack('<Q', 1000))
        peer.frame(OP_FADD, rkey=target.rkey, raddr=target.addr + 8, aux0=5)
        hdr, _ = peer.read_until(OP_ATOMIC_RESP)
        self.assertEqual((hdr[4], hdr[12]), (3, 1000))
        self.assertEqual(target.read(8, 8), struct.pack('<Q', 1005))
        self.assertEqual(b.state(), e.IBV_QPS_RTS)

    MALFORMED = [
        ('unknown opcode', dict(opcode=0x7f)),
        ('opcode 0', dict(opcode=0)),
        ('header length 65', dict(opcode=OP_WRITE, hlen=65)),
        ('unknown flag', dict(opcode=OP_WRITE, flags=0x80)),
        ('stream sequence off by one', dict(opcode=OP_WRITE, sseq=65)),
        ('stream sequence far ahead', dict(opcode=OP_WRITE, sseq=1 << 40)),
        ('WRITE longer than max_msg_sz', dict(opcode=OP_WRITE,
                                              length=MAX_MSG + 1)),
        ('READ_REQ longer than max_msg_sz', dict(opcode=OP_READ_REQ,
                                                 aux0=MAX_MSG + 1)),
        ('READ_REQ with a payload', dict(opcode=OP_READ_REQ,
                                         payload=b'x' * 8, aux0=8)),
        ('atomic with a payload', dict(opcode=OP_FADD, payload=b'x' * 8)),
        ('ACK with a payload', dict(opcode=OP_ACK, payload=b'x' * 8)),
        ('request out of order (msn 5 first)', dict(opcode=OP_WRITE,
                                                    msn=5)),
        ('READ_RESP nobody asked for', dict(opcode=OP_READ_RESP,
                                            payload=b'y' * 16, msn=0)),
        ('ATOMIC_RESP nobody asked for', dict(opcode=OP_ATOMIC_RESP,
                                              msn=0)),
        ('WRITE with an address that wraps', dict(
            opcode=OP_WRITE, raddr=(1 << 64) - 8, payload=b'z' * 64)),
        ('unaligned atomic', dict(opcode=OP_CMP_SWP, raddr_off=4)),
        ('SEND beyond the receive buffer', dict(opcode=OP_SEND,
                                                payload=b's' * 5000)),
        ('SEND with no receive left (credits ignored)',
         dict(opcode=OP_SEND, payload=b's' * 8, twice=True)),
    ]

    def test_malformed_frames(self):
        for what, kw in self.MALFORMED:
            with self.subTest(what):
                self.events.drain()
                b, target, rbuf, peer = self.responder()
                kw = dict(kw)
                before = target.whole()
                rbefore = rbuf.read(0, 4096)
                twice = kw.pop('twice', False)
                if 'raddr' not in kw:
                    kw['raddr'] = target.addr + 64 + kw.pop('raddr_off', 0)
                kw.setdefault('rkey', target.rkey)
                if twice:
                    peer.frame(**kw)  # takes the only receive
                    poll_cq(b.rcq, 1)
                    rbefore = rbuf.read(0, 4096)
                peer.frame(**kw)
                self.events.wait((e.IBV_EVENT_QP_FATAL,
                                  e.IBV_EVENT_QP_REQ_ERR,
                                  e.IBV_EVENT_QP_ACCESS_ERR))
                self.assertEqual(b.state(), e.IBV_QPS_ERR)
                peer.wait_eof()
                self.assertEqual(target.whole(), before)
                if not twice and kw['opcode'] != OP_SEND:
                    self.assertEqual(rbuf.read(0, 4096), rbefore)
                    self.assertWC(poll_cq(b.rcq, 1)[0], e.IBV_WC_WR_FLUSH_ERR,
                                  wr_id=0xb1)

    def test_placement_errors_terminate(self):
        """Bad keys from the wire: TERMINATE with the access syndrome for
        the request's msn, nothing placed."""
        b, target, rbuf, peer = self.responder()
        before = target.whole()
        peer.frame(OP_WRITE, b'ok', rkey=target.rkey, raddr=target.addr)
        peer.frame(OP_WRITE, b'x' * 32, rkey=target.rkey ^ 0x4400,
                   raddr=target.addr + 64)
        hdr, _ = peer.read_until(OP_TERMINATE)
        self.assertEqual(hdr[4], 1)  # msn of the bad WRITE
        # RTCP_SYN_REM_ACCESS; the provider copies the syndrome into the
        # opaque imm bytes in host order (wire.h: header in network order)
        self.assertIn(hdr[11], (struct.pack('>I', 1), struct.pack('=I', 1)))
        peer.wait_eof()
        exp = bytearray(before)
        exp[4096:4098] = b'ok'
        self.assertEqual(target.whole(), bytes(exp))
        self.assertEqual(b.state(), e.IBV_QPS_ERR)
        self.events.wait(e.IBV_EVENT_QP_ACCESS_ERR)

    def test_dereg_while_a_read_response_is_stalled(self):
        """ibv_dereg_mr must not wait for a requester that stops reading
        a READ response either (the source region is pinned only around
        each sendmsg). When the requester reads on, the responder QP
        fails (IBV_EVENT_QP_ACCESS_ERR) rather than send from a region
        that is gone, and closes the stream."""
        b = self.side()
        b.to_init()
        n = 64 * MiB
        src = b.buf(n)
        peer = RawPeer(b)
        self.addCleanup(peer.close)
        peer.frame(OP_READ_REQ, rkey=src.rkey, raddr=src.addr, aux0=n)
        time.sleep(0.3)  # socket buffers full, the rest of the response waits
        # the Python thread blocks in dereg holding the GIL, so the reading
        # is another process's: it starts after 2 s and reads to EOF
        fd = peer.sock.fileno()
        reader = subprocess.Popen(
            [sys.executable, '-c',
             'import socket, sys, time\n'
             'time.sleep(2)\n'
             's = socket.socket(fileno=int(sys.argv[1]))\n'
             's.settimeout(%d)\n'
             'n = 0\n'
             'try:\n'
             '    while True:\n'
             '        c = s.recv(1 << 20)\n'
             '        if not c:\n'
             '            break\n'
             '        n += len(c)\n'
             'except OSError:\n'
             '    pass\n'
             'print(n)\n' % int(TIMEOUT), str(fd)],
            pass_fds=[fd], stdout=subprocess.PIPE)
        self.addCleanup(reader.kill)
        peer.sock.close()
        t0 = time.monotonic()
        src.mr.close()
        took = time.monotonic() - t0
        out, _ = reader.communicate(timeout=TIMEOUT + 10)
        self.assertLess(took, 1.0, 'ibv_dereg_mr blocked %.1f s on a '
                        'requester that does not read' % took)
        self.assertLess(int(out), 64 + n, 'the whole response was sent')
        self.events.wait(e.IBV_EVENT_QP_ACCESS_ERR)
        self.assertEqual(b.state(), e.IBV_QPS_ERR)

    def test_dereg_with_a_stalled_incoming_write(self):
        """ibv_dereg_mr must not wait for a remote peer: a peer that stops
        in the middle of a WRITE's payload must not block the
        application's dereg (the region is pinned only for each copy, not
        across waits for the network)."""
        b, target, rbuf, peer = self.responder()
        peer.frame(OP_WRITE, b'w' * 4000, rkey=target.rkey,
                   raddr=target.addr, cut=64 + 100)
        time.sleep(0.2)  # the header is in: the region is being written
        # the Python thread blocks in dereg holding the GIL, so the stall
        # is ended by another process: it holds the socket for 2 s and
        # exits, which closes the connection (our own copy is closed now)
        holder = subprocess.Popen(['sleep', '2'],
                                  pass_fds=[peer.sock.fileno()])
        self.addCleanup(holder.wait)
        peer.sock.close()
        t0 = time.monotonic()
        target.mr.close()
        took = time.monotonic() - t0
        self.assertLess(took, 1.0, 'ibv_dereg_mr blocked %.1f s on a '
                        'stalled peer' % took)


# ========================================================= 6. destroy rules

_v = ctypes.CDLL('libibverbs.so.1', use_errno=True)
_P = ctypes.c_void_p


class IbvQpCap(ctypes.Structure):
    _fields_ = [('max_send_wr', ctypes.c_uint32),
                ('max_recv_wr', ctypes.c_uint32),
                ('max_send_sge', ctypes.c_uint32),
                ('max_recv_sge', ctypes.c_uint32),
                ('max_inline_data', ctypes.c_uint32)]


class IbvQpInitAttr(ctypes.Structure):
    _fields_ = [('qp_context', _P), ('send_cq', _P), ('recv_cq', _P),
                ('srq', _P), ('cap', IbvQpCap), ('qp_type', ctypes.c_int),
                ('sq_sig_all', ctypes.c_int)]


class IbvSrqInitAttr(ctypes.Structure):
    _fields_ = [('srq_context', _P), ('max_wr', ctypes.c_uint32),
                ('max_sge', ctypes.c_uint32), ('srq_limit', ctypes.c_uint32)]


for _name, _res, _args in (
        ('ibv_create_cq', _P, [_P, ctypes.c_int, _P, _P, ctypes.c_int]),
        ('ibv_destroy_cq', ctypes.c_int, [_P]),
        ('ibv_create_qp', _P, [_P, ctypes.POINTER(IbvQpInitAttr)]),
        ('ibv_destroy_qp', ctypes.c_int, [_P]),
        ('ibv_create_srq', _P, [_P, ctypes.POINTER(IbvSrqInitAttr)]),
        ('ibv_destroy_srq', ctypes.c_int, [_P])):
    _f = getattr(_v, _name)
    _f.restype = _res
    _f.argtypes = _args


WAITING_CONNECTION_SCRIPT = r"""
import sys, time
sys.path.insert(0, %r)
from test_qp import open_context, Side
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
        tcp_conn_pending_rx; plain build: glibc "double free"). Run in a
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
        qp = _v.ibv_create_qp(pd, ctypes.byref(ia))
        self.assertTrue(qp, 'ibv_create_qp: errno %d' % ctypes.get_errno())
        return qp

    def test_pd_and_cq_busy_with_qp(self):
        with RawContext() as rc:
            pd = rc.alloc_pd()
            cq = _v.ibv_create_cq(rc.ctx, 16, None, None, 0)
            self.assertTrue(cq)
            cq2 = _v.ibv_create_cq(rc.ctx, 16, None, None, 0)
            self.assertTrue(cq2)
            qp = self.raw_qp(pd, cq)
            self.assertEqual(rc.dealloc_pd(pd), errno.EBUSY)
            self.assertEqual(_v.ibv_destroy_cq(cq), errno.EBUSY)
            self.assertEqual(_v.ibv_destroy_cq(cq2), 0)  # unused: fine
            self.assertEqual(_v.ibv_destroy_qp(qp), 0)
            self.assertEqual(_v.ibv_destroy_cq(cq), 0)
            self.assertEqual(rc.dealloc_pd(pd), 0)

    def test_srq_busy_with_qp(self):
        with RawContext() as rc:
            pd = rc.alloc_pd()
            cq = _v.ibv_create_cq(rc.ctx, 16, None, None, 0)
            sa = IbvSrqInitAttr(max_wr=8, max_sge=1)
            srq = _v.ibv_create_srq(pd, ctypes.byref(sa))
            self.assertTrue(srq)
            qp = self.raw_qp(pd, cq, srq)
            self.assertEqual(_v.ibv_destroy_srq(srq), errno.EBUSY)
            self.assertEqual(rc.dealloc_pd(pd), errno.EBUSY)
            self.assertEqual(_v.ibv_destroy_qp(qp), 0)
            self.assertEqual(rc.dealloc_pd(pd), errno.EBUSY)  # the SRQ
            self.assertEqual(_v.ibv_destroy_srq(srq), 0)
            self.assertEqual(_v.ibv_destroy_cq(cq), 0)
            self.assertEqual(rc.dealloc_pd(pd), 0)


if __name__ == '__main__':
    unittest.main()
