# SPDX-License-Identifier: MIT
"""RC and UC queue pairs of a tcp device through Debian's stock pyverbs:
what the QP suites (test_qp_lifecycle, test_data, test_placement,
test_flow, test_srq, test_wire, test_destroy_rules, test_progress,
test_reliability, test_comp_channel, test_mw) share -- constants,
completion and async-event waits with deadlines, registered buffers with
canaries, the QP attributes of each transition, Side (one end of a pair)
and connect().

Most tests connect two QPs of ONE context to each other (GID index 0, the
other QP's number as dest_qp_num; the provider opens the TCP connection by
itself at RTR); some use two contexts of one process. Run one suite with
the device registered and its environment applied:

    eval "$(rdma-tcp env)"
    RDMA_TCP_DEV=tcp0 /usr/bin/python3 -m unittest -v \\
        tests/pyverbs/test_data.py

Nothing in these suites can hang: every completion or event wait has a
deadline and fails the test when it passes. Environment: see
rtcp_verbs.py.
"""

import ctypes
import os
import random
import select
import sys
import time

import pyverbs.enums as e
from pyverbs.addr import AHAttr, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.qp import QP, QPAttr, QPCap, QPEx, QPInitAttr, QPInitAttrEx
from pyverbs.wr import SGE, RecvWR, SendWR

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtcp_verbs import DEV, PORT  # noqa: E402


# ----------------------------------------------------------------- constants

TIMEOUT = float(os.environ.get('RDMA_TCP_TEST_TIMEOUT', '10'))
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
SIZES = (0, 1, 63, 4095, 4096, 65537, 8 * MiB)
BIG = 8 * MiB
SLACK = 64 * KiB
MAX_INLINE = 1024  # the device's limit (tcp_limits.h)

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


def wait_for(cond, timeout=TIMEOUT, interval=0.005):
    """Probes cond() until it is true or `timeout` seconds have passed;
    returns its last value (the caller asserts on the state)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


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

_memcmp = ctypes.CDLL(None).memcmp
_memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_memcmp.restype = ctypes.c_int
_canaries = {}


def _canary_buf(byte, n):
    """A buffer of at least n bytes of value `byte`, kept for reuse."""
    buf = _canaries.get(byte)
    if buf is None or len(buf) < n:
        buf = ctypes.create_string_buffer(n)
        ctypes.memset(buf, byte, n)
        _canaries[byte] = buf
    return buf


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

    def holds(self, patches, canary=0xA5):
        """True if whole() is `canary` bytes except for patches, a list of
        (position, bytes) that do not overlap; False if not; None if they
        overlap (the caller then builds the whole buffer to compare).
        Compared in place with memcmp: building 8 MiB expected copies per
        check made the data suites' run time mostly page faults."""
        total = self.length + 2 * self.guard
        fill = _canary_buf(canary, total)
        pos = 0
        for at, chunk in sorted(patches, key=lambda p: p[0]):
            if at < pos:
                return None
            if (_memcmp(self.base + pos, fill, at - pos) or
                    _memcmp(self.base + at, chunk, len(chunk))):
                return False
            pos = at + len(chunk)
        return _memcmp(self.base + pos, fill, total - pos) == 0

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
                 pd=None, srq=None, rcq=None, cqe=512, scq=None,
                 send_ops=None):
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
                send_ops_flags=send_ops or (SEND_OPS_RC if qp_type == RC
                                            else SEND_OPS_UC))
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

    def patches(self, data):
        """Where `data` lands once scattered here: (buffer, position in
        its whole(), bytes) for each piece."""
        out, pos = [], 0
        for b, off, n in self.parts:
            out.append((b, b.guard + off, bytes(data[pos:pos + n])))
            pos += n
        return out
