#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A hostile sender of UDP datagrams against a live UD QP (run by
tests/integration/test_ud_hostile.sh).

The victim is a UD QP of the device (RDMA_TCP_DEV, default tcp0, on lo,
registered with `psp off`: the only mode whose datagrams are plaintext an
attacker can forge). The attacker is a plain UDP socket in this process
that sends to the QP's port (qpn >> 8, include/rdma_tcp/wire.h) headers
packed with tests/pyverbs/rtcp_wire.py, which reads the layout from
wire.h.

Every case mutates one thing of a datagram the QP accepts (checked first:
a forgery that is otherwise right, delivered with its content, immediate
and src_qp), sends the mutation(s), then a genuine datagram, with exactly
one receive posted: the receive must be consumed by the genuine one
(checked by content). Loopback delivers one socket's datagrams in order,
so a hostile datagram the QP accepted would take the receive first -- no
sleep, no timing. Then the QP must still be in RTS with no async event,
a verbs sender's messages must still arrive, and a flood while no
receive is posted must leave memory, descriptors and threads as they were
and never deliver garbage.

Prints "ok - ..." / "FAIL - ..." per check and "N passed, N failed";
exit 1 on any failure. Needs Debian's python (pyverbs) and the device's
environment (`rdma-tcp env`); UD_HOSTILE_RSS_CHECK=0 prints the flood's
memory growth instead of checking it. UD_HOSTILE_SECURED_DEV=DEV (a
device in psp auth or encrypt) adds a phase there: forged datagrams,
plaintext and sealed-looking with random tags, are dropped and the verbs
sender's sealed datagram behind them is delivered.
"""

import os
import random
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'pyverbs'))

import pyverbs.enums as e  # noqa: E402
from pyverbs.addr import AH  # noqa: E402
from pyverbs.cq import CQ  # noqa: E402
from pyverbs.device import Context  # noqa: E402
from pyverbs.pd import PD  # noqa: E402
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr  # noqa: E402
from pyverbs.wr import RecvWR, SendWR  # noqa: E402

import rtcp_wire as w  # noqa: E402
from qp_helpers import (Buf, ah_for, open_context, qp_state,  # noqa: E402
                        wc_str)
from rtcp_verbs import PORT, open_fds, readable, threads  # noqa: E402

GRH = 40
QKEY = 0x1ee7c0de
FAKE_SRC = 0xc0ffee  # the src_qpn of forged datagrams
MAX_UDP = 65507  # the largest UDP payload over IPv4
RECV_SLOTS = 64
FLOOD = 20000
TIMEOUT = 10.0
# 0: the flood's memory growth is printed, not checked (an ASan build's
# quarantine keeps every freed block, Python's too)
RSS_CHECK = os.environ.get('UD_HOSTILE_RSS_CHECK', '1') != '0'

passed = failed = 0


def ok(what):
    global passed
    passed += 1
    print('ok - ' + what, flush=True)


def fail(what, detail=''):
    global failed
    failed += 1
    print('FAIL - ' + what, flush=True)
    for line in str(detail).splitlines():
        print('    | ' + line)


def check(cond, what, detail=''):
    (ok if cond else fail)(what, *((detail,) if not cond else ()))
    return cond


def mtu_bytes(active_mtu):
    return 128 << int(active_mtu)  # IBV_MTU_256 = 1 ... IBV_MTU_4096 = 5


class Victim:
    """The UD QP under attack, its receive slots, and a verbs sender."""

    def __init__(self, dev=None):
        if dev:
            self.ctx, self.async_fd = Context(name=dev), None
        else:
            self.ctx, self.async_fd = open_context()
        self.mtu = mtu_bytes(self.ctx.query_port(PORT).active_mtu)
        self.slot = GRH + self.mtu
        self.pd = PD(self.ctx)
        self.cq = CQ(self.ctx, 2 * RECV_SLOTS)
        self.scq = CQ(self.ctx, 64)
        self.qp = self.ud_qp(self.cq)
        self.sender = self.ud_qp(self.scq)
        self.buf = Buf(self.pd, RECV_SLOTS * self.slot, fill=0)
        self.sbuf = Buf(self.pd, self.mtu, fill=0)
        self.ah = AH(self.pd, attr=ah_for(self.ctx))
        self.next_slot = 0
        self.posted = 0  # receives outstanding

    def ud_qp(self, cq):
        cap = QPCap(max_send_wr=32, max_recv_wr=RECV_SLOTS, max_send_sge=1,
                    max_recv_sge=1)
        qp = QP(self.pd, QPInitAttr(qp_type=e.IBV_QPT_UD, scq=cq, rcq=cq,
                                    cap=cap))
        a = QPAttr(qp_state=e.IBV_QPS_INIT)
        a.pkey_index, a.port_num, a.qkey = 0, PORT, QKEY
        qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT |
                  e.IBV_QP_QKEY)
        qp.modify(QPAttr(qp_state=e.IBV_QPS_RTR), e.IBV_QP_STATE)
        a = QPAttr(qp_state=e.IBV_QPS_RTS)
        a.sq_psn = 0
        qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_SQ_PSN)
        return qp

    def post_recv(self, n=1):
        """Posts n receives (wr_id = slot number); slots are reused in
        turn (receives complete in order), so at most RECV_SLOTS may be
        outstanding."""
        assert self.posted + n <= RECV_SLOTS
        self.posted += n
        for _ in range(n):
            s = self.next_slot
            self.next_slot = (s + 1) % RECV_SLOTS
            self.buf.write(s * self.slot, bytes(self.slot))
            self.qp.post_recv(RecvWR(wr_id=s, num_sge=1,
                                     sg=[self.buf.sge(s * self.slot,
                                                      self.slot)]))

    def one_recv(self):
        """Exactly one receive outstanding (a case's precondition)."""
        if self.posted > 1:
            raise AssertionError('%d receives outstanding, want 1'
                                 % self.posted)
        self.post_recv(1 - self.posted)

    def poll(self, timeout=TIMEOUT):
        """The next receive completion, or None after timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            n, wcs = self.cq.poll(1)
            if n:
                self.posted -= 1
                return wcs[0]
            time.sleep(0.0002)
        return None

    def payload(self, wc):
        """What a completed receive holds after its GRH area."""
        return self.buf.read(wc.wr_id * self.slot + GRH,
                             max(wc.byte_len - GRH, 0))

    def verbs_send(self, data, wr_qkey=QKEY, imm=None):
        self.sbuf.write(0, data)
        op = e.IBV_WR_SEND if imm is None else e.IBV_WR_SEND_WITH_IMM
        wr = SendWR(wr_id=1, opcode=op, num_sge=1,
                    sg=[self.sbuf.sge(0, len(data))])
        if imm is not None:
            wr.imm_data = imm
        wr.set_wr_ud(self.ah, self.qp.qp_num, wr_qkey)
        self.sender.post_send(wr)
        end = time.monotonic() + TIMEOUT
        while time.monotonic() < end:
            n, wcs = self.scq.poll(1)
            if n:
                return wcs[0]
        return None


class Attacker:
    """A UDP socket on loopback aimed at the victim QP's port."""

    def __init__(self, victim):
        self.v = victim
        self.dst = ('127.0.0.1', victim.qp.qp_num >> 8)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
        self.serial = 0

    def dgram(self, payload, **over):
        """A datagram the victim accepts, with the fields in `over`
        changed (len follows the payload unless given)."""
        f = dict(opcode=w.RTCP_UD_SEND_IMM, dst_qpn=self.v.qp.qp_num,
                 src_qpn=FAKE_SRC, qkey=QKEY, imm=b'IMM!', len=len(payload))
        f.update(over)
        return w.pack_ud(**f) + payload

    def send(self, data):
        self.sock.sendto(data, self.dst)

    def genuine(self, size=None, **over):
        """Sends a fresh genuine datagram; returns (payload, imm)."""
        self.serial += 1
        tag = b'GENUINE %06d ' % self.serial
        n = size if size is not None else 64 + self.serial % 200
        body = (tag * (n // len(tag) + 1))[:n]
        imm = struct.pack('>I', 0x6e000000 | self.serial)
        self.send(self.dgram(body, imm=imm, **over))
        return body, imm


def hostile(n):
    return (b'HOSTILE!' * (n // 8 + 1))[:n]


def wc_problems(v, wc, body, imm, src=FAKE_SRC):
    """Why wc is not the delivery of (body, imm) from src: a list."""
    if wc is None:
        return ['no receive completion within %.0f s' % TIMEOUT]
    out = []
    if wc.status != e.IBV_WC_SUCCESS:
        return ['completion in error: ' + wc_str(wc)]
    got = v.payload(wc)
    if got != body:
        what = 'a HOSTILE datagram was delivered' \
            if got.startswith(b'HOSTILE') else 'wrong content'
        out.append('%s: %d bytes %r..., want %d bytes %r...' %
                   (what, len(got), got[:32], len(body), body[:24]))
    if wc.byte_len != GRH + len(body):
        out.append('byte_len %d, want %d (GRH + payload)' %
                   (wc.byte_len, GRH + len(body)))
    has_imm = bool(wc.wc_flags & e.IBV_WC_WITH_IMM)
    if has_imm != (imm is not None) or \
            (imm is not None and struct.pack('=I', wc.imm_data) != imm):
        out.append('immediate %s %#x, want %r' %
                   (has_imm, wc.imm_data, imm))
    if wc.src_qp != src:
        out.append('src_qp %#x, want %#x' % (wc.src_qp, src))
    if not wc.wc_flags & e.IBV_WC_GRH:
        out.append('no IBV_WC_GRH in wc_flags')
    if wc.qp_num != v.qp.qp_num:
        out.append('qp_num %#x, want %#x' % (wc.qp_num, v.qp.qp_num))
    return out


def resync(v, a):
    """After a failed case: what the failure left in the socket (a
    genuine datagram that found its receive taken waits there until a
    receive is posted) is consumed, up to a fresh genuine datagram."""
    v.one_recv()
    body, imm = a.genuine()
    for _ in range(RECV_SLOTS):
        wc = v.poll(2.0)
        if wc is None:
            break
        if not wc_problems(v, wc, body, imm):
            return
        v.one_recv()
    fail('resynchronising with the victim after a failed case')


def accepts(v, a, what, size, opcode=w.RTCP_UD_SEND_IMM, **over):
    """A well-formed forged datagram of `size` payload bytes is
    delivered: the forgery is right but for what a case changes."""
    v.one_recv()
    if opcode == w.RTCP_UD_SEND:
        a.serial += 1
        body = (b'NOIMM %06d ' % a.serial * (size // 13 + 1))[:size]
        a.send(a.dgram(body, opcode=opcode, **over))
        imm = None
    else:
        body, imm = a.genuine(size, **over)
    p = wc_problems(v, v.poll(), body, imm)
    check(not p, 'delivered: ' + what, '\n'.join(p))
    if p:
        resync(v, a)


def refuses(v, a, what, datagrams, dst=None, sender=None):
    """None of `datagrams` (nor what `sender()` sends) is delivered: the
    one posted receive takes the genuine datagram sent after them."""
    v.one_recv()
    for d in datagrams:
        a.sock.sendto(d, dst or a.dst)
    if sender:
        sender()
    body, imm = a.genuine()
    p = wc_problems(v, v.poll(), body, imm)
    check(not p, 'dropped: %s (%d datagrams)' % (what, len(datagrams)),
          '\n'.join(p))
    if p:
        resync(v, a)


def garbage(rng, n, prefix=b''):
    out = []
    for _ in range(n):
        size = rng.choice((0, 1, 47, 48, 49, 100, 1000, 1500, 4200))
        out.append((prefix + rng.randbytes(size))[:max(size, 0)])
    return out


def header_cases(v, a):
    """(what, datagrams): one field of a valid datagram made wrong."""
    p = hostile(100)
    return [
        ('bad magic', [a.dgram(p, magic=w.RTCP_UD_MAGIC ^ 1),
                       a.dgram(p, magic=0), a.dgram(p, magic=0xffffffff)]),
        ('bad version', [a.dgram(p, version=x)
                         for x in (0, w.RTCP_VERSION + 1, 0xff)]),
        ('bad opcode', [a.dgram(p, opcode=x) for x in (0, 3, 0x7f, 0xff)]),
        ('unknown flag bits', [a.dgram(p, flags=x) for x in
                               (2, 1 << 8, 1 << 31, 0xffffffff)]),
        ('alg set with mode off (ud_sec.h: mode and alg the receiver\'s)',
         [a.dgram(p, alg=x) for x in (1, 2, 0xff)]),
        ('secured mode (auth, encrypt) at a psp off QP',
         [a.dgram(p + bytes(w.RTCP_UD_TAG_LEN), len=len(p), mode=m, alg=1,
                  sid=0x1122334455667788, seq=1) for m in (1, 2)] +
         [a.dgram(p, mode=1), a.dgram(p, mode=0xff)]),
    ]


def length_cases(v, a):
    p, mtu = hostile(100), v.mtu
    return [
        ('len larger than the datagram',
         [a.dgram(p, len=101), a.dgram(p, len=1000), a.dgram(b'', len=1)]),
        ('len smaller than the datagram',
         [a.dgram(p, len=99), a.dgram(p, len=0), a.dgram(p, len=84)]),
        ('len over the MTU (datagram of that size)',
         [a.dgram(hostile(mtu + 1)), a.dgram(hostile(2 * mtu))]),
        ('len 2^32-1', [a.dgram(p, len=0xffffffff)]),
        ('len = MTU, datagram longer than a receive buffer',
         [a.dgram(hostile(mtu + w.RTCP_UD_TAG_LEN + 100), len=mtu)]),
        ('truncated header',
         [a.dgram(p)[:n] for n in (1, 4, 8, 24, w.RTCP_UD_HDR_LEN - 1)]),
        ('zero-length datagram', [b'']),
        ('max-size datagram (%d bytes)' % MAX_UDP,
         [a.dgram(hostile(MAX_UDP - w.RTCP_UD_HDR_LEN)),
          a.dgram(hostile(MAX_UDP - w.RTCP_UD_HDR_LEN), len=100),
          hostile(MAX_UDP)]),
    ]


def address_cases(v, a):
    p, qpn = hostile(100), v.qp.qp_num
    return [
        ('wrong dst_qpn',
         [a.dgram(p, dst_qpn=x) for x in
          (qpn ^ 1, qpn ^ 0x100, 0, 1, v.sender.qp_num,
           w.RTCP_UD_MCAST_QPN)]),
        ('dst_qpn with bits above 24', [a.dgram(p, dst_qpn=x) for x in
                                        (qpn | 1 << 24, qpn | 0xff000000)]),
        ('wrong qkey', [a.dgram(p, qkey=x)
                        for x in (QKEY ^ 1, 0, 0xffffffff)]),
        ('privileged qkey (bit 31)',
         [a.dgram(p, qkey=x) for x in
          (QKEY | 0x80000000, 0x80000000, 0x80000001)]),
        ('src_qpn with bits above 24',
         [a.dgram(p, src_qpn=x) for x in (FAKE_SRC | 1 << 24, 0xffffffff)]),
    ]


def run_hostile(v, a):
    rng = random.Random(0x0d)
    for what, dgrams in header_cases(v, a) + length_cases(v, a) + \
            address_cases(v, a):
        refuses(v, a, what, dgrams)
    refuses(v, a, 'sent to 127.0.0.2, not the device\'s address',
            [a.dgram(hostile(100))], dst=('127.0.0.2', a.dst[1]))
    refuses(v, a, 'random garbage burst', garbage(rng, 500))
    refuses(v, a, 'garbage behind a valid header',
            garbage(rng, 300, a.dgram(hostile(200))[:w.RTCP_UD_HDR_LEN]))
    # every byte but those a sender may choose freely: the immediate,
    # src_qpn's 24 bits, and sid and seq (not used when off)
    free = set(range(w.RTCP_UD_OFF_IMM, w.RTCP_UD_OFF_LEN)) | \
        set(range(w.RTCP_UD_OFF_SRC_QPN + 1, w.RTCP_UD_OFF_QKEY)) | \
        set(range(w.RTCP_UD_OFF_SID, w.RTCP_UD_HDR_LEN))
    flips = []
    for j in range(w.RTCP_UD_HDR_LEN):
        if j not in free:
            d = a.dgram(b'HOSTILE! byte %02d flipped' % j + hostile(200))
            flips.append(d[:j] + bytes([d[j] ^ 0xff]) + d[j + 1:])
    refuses(v, a, 'a valid header with one byte flipped, for each byte',
            flips)


def rss_kib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def socket_backlog(port):
    """Bytes waiting in the receive queue of the UDP socket bound to
    `port` (/proc/net/udp, udp6), or None if there is none."""
    for name in ('/proc/net/udp6', '/proc/net/udp'):
        with open(name) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(':', 1)[1], 16) == port:
                    return int(fields[4].split(':')[1], 16)
    return None


def drain(v, a, end):
    """With receives posted, consumes what the victim's socket kept
    until it is empty and no completion is left: (stale, bad) counts of
    valid flood messages and of anything else."""
    stale = bad = 0
    while time.monotonic() < end:
        empty = socket_backlog(a.dst[1]) == 0
        wc = v.poll(0.05)
        if wc is None:
            if empty:
                break
            continue
        if wc.status == e.IBV_WC_SUCCESS and \
                v.payload(wc).startswith(b'FLOOD '):
            stale += 1
        else:
            bad += 1
        v.post_recv()
    return stale, bad


def run_flood(v, a):
    """FLOOD datagrams while no receive is posted, half of them valid:
    nothing may grow, and nothing but valid ones may ever be delivered.
    (A UD QP may hold messages that found no receive in its socket, as
    this provider does, or drop them, as a NIC does: the socket's bound
    holds either way.) Then the QP takes a genuine datagram as before."""
    rng = random.Random(0xf1)
    valid = [a.dgram(b'FLOOD %06d ' % i + hostile(900)) for i in range(64)]
    junk = garbage(rng, 64) + [a.dgram(hostile(900), qkey=QKEY ^ 1)]
    fds, thr, rss = open_fds(), threads(), rss_kib()
    t0 = time.monotonic()
    for i in range(FLOOD):
        a.send(valid[i % 64] if i % 2 == 0 else junk[i % len(junk)])
    secs = time.monotonic() - t0
    v.post_recv(RECV_SLOTS - v.posted)
    end = time.monotonic() + TIMEOUT
    stale, bad = drain(v, a, end)
    check(time.monotonic() < end, 'flood of %d datagrams (%.1f s) with no '
          'receive posted: once receives are posted the socket empties' %
          (FLOOD, secs), 'backlog %s bytes after %.0f s' %
          (socket_backlog(a.dst[1]), TIMEOUT))
    check(bad == 0, 'flood: no garbage and no error completion delivered',
          '%d bad completions' % bad)
    check(stale < FLOOD // 2, 'flood: %d of %d valid datagrams that arrived '
          'with no receive posted were delivered later (the rest dropped)'
          % (stale, FLOOD // 2))
    body, imm = a.genuine()
    p = wc_problems(v, v.poll(), body, imm)
    check(not p, 'flood: a genuine datagram after it is delivered',
          '\n'.join(p))
    grow = rss_kib() - rss
    if RSS_CHECK:
        # the flood's valid half alone is ~9.5 MB: a QP that kept it
        # would show
        check(grow < 4096, 'flood: memory grew by %d KiB (< 4 MiB)' % grow)
    else:
        print('# flood: memory grew by %d KiB (not checked: '
              'UD_HOSTILE_RSS_CHECK=0)' % grow)
    check(open_fds() == fds, 'flood: descriptors unchanged',
          'before %s, after %s' % (sorted(fds), sorted(open_fds())))
    check(threads() == thr, 'flood: threads unchanged (%d)' % thr,
          'now %d' % threads())


def run_health(v, a):
    """After all that: the QP serves verbs senders and forged valid
    datagrams as before, and nothing was reported."""
    check(qp_state(v.qp) == e.IBV_QPS_RTS, 'victim QP still in RTS',
          'state %d' % qp_state(v.qp))
    check(not readable(v.async_fd), 'no async event on the context')
    # use up the flood's leftover receives with genuine datagrams
    while v.posted:
        body, imm = a.genuine()
        p = wc_problems(v, v.poll(), body, imm)
        if p:
            fail('a leftover receive takes a genuine datagram', '\n'.join(p))
            return
    src = v.sender.qp_num
    for what, wr_qkey in (('the QP\'s Q_Key', QKEY),
                          ('a privileged WR Q_Key: the sender QP\'s is used',
                           0x80000000)):
        v.post_recv()
        data = b'VERBS ' + os.urandom(200)
        swc = v.verbs_send(data, wr_qkey, imm=0x01020304)
        check(swc is not None and swc.status == e.IBV_WC_SUCCESS,
              'verbs sender completes (%s)' % what,
              swc and wc_str(swc) or 'no completion')
        p = wc_problems(v, v.poll(), data,
                        struct.pack('=I', 0x01020304), src)
        check(not p, 'verbs sender\'s message delivered (%s)' % what,
              '\n'.join(p))
    refuses(v, a, 'a verbs sender\'s datagram with another Q_Key', [],
            sender=lambda: v.verbs_send(b'WRONG QKEY', QKEY ^ 2))


def forged_secured(a):
    """Datagrams of a party without the device's key: plaintext ones, and
    sealed-looking ones (each mode and algorithm, random sid and tag)."""
    rng = random.Random(0x5ec)
    p = hostile(100)
    out = [a.dgram(p), a.dgram(p, opcode=w.RTCP_UD_SEND), a.dgram(b''),
           a.dgram(p, flags=w.RTCP_UD_F_SOLICITED)]
    for mode in (1, 2):
        for alg in (0, 1):
            for seq in (1, 2, 1 << 40):
                out.append(a.dgram(p + rng.randbytes(w.RTCP_UD_TAG_LEN),
                                   len=len(p), mode=mode, alg=alg,
                                   sid=rng.getrandbits(64) | 1, seq=seq))
    return out + garbage(rng, 200)


def run_secured(dev):
    """A device in psp auth (the default): nothing forged without the key
    is delivered; a verbs sender's sealed datagrams are."""
    print('# secured device %s' % dev)
    try:
        v = Victim(dev)
        a = Attacker(v)
    except Exception as ex:
        fail('a UD QP pair on %s in RTS' % dev, ex)
        return
    forged = forged_secured(a)
    v.one_recv()
    for d in forged:
        a.send(d)
    # read (and dropped) by the QP, which has a receive to read for
    end = time.monotonic() + TIMEOUT
    while socket_backlog(a.dst[1]) and time.monotonic() < end:
        time.sleep(0.01)
    data = b'SEALED ' + os.urandom(100)
    swc = v.verbs_send(data, imm=0x0a0b0c0d)
    check(swc is not None and swc.status == e.IBV_WC_SUCCESS,
          '%s: verbs sender completes' % dev, swc and wc_str(swc))
    p = wc_problems(v, v.poll(), data, struct.pack('=I', 0x0a0b0c0d),
                    v.sender.qp_num)
    check(not p, '%s: %d forged datagrams (plaintext, sealed-looking with '
          'each mode and alg, garbage) dropped, the sealed one behind them '
          'delivered' % (dev, len(forged)), '\n'.join(p))
    check(qp_state(v.qp) == e.IBV_QPS_RTS, '%s: victim QP still in RTS' % dev)


def main():
    try:
        v = Victim()
        a = Attacker(v)
    except Exception as ex:  # pyverbs errors carry the errno
        fail('a UD QP pair on %s in RTS' % os.environ.get('RDMA_TCP_DEV',
                                                          'tcp0'), ex)
        print('%d passed, %d failed' % (passed, failed))
        return 1
    print('# victim qpn %#x (UDP port %d), sender qpn %#x, MTU %d' %
          (v.qp.qp_num, a.dst[1], v.sender.qp_num, v.mtu), flush=True)
    # the forgery itself is right: controls the cases depend on
    accepts(v, a, 'a forged SEND_IMM (the control for every case)', 100)
    accepts(v, a, 'a forged SEND without immediate', 100,
            opcode=w.RTCP_UD_SEND)
    accepts(v, a, 'a forged solicited SEND_IMM', 10,
            flags=w.RTCP_UD_F_SOLICITED)
    accepts(v, a, 'a zero-byte payload', 0)
    accepts(v, a, 'a payload of the MTU (%d bytes)' % v.mtu, v.mtu)
    t0 = time.monotonic()
    run_hostile(v, a)
    print('# hostile cases: %.1f s' % (time.monotonic() - t0))
    t0 = time.monotonic()
    run_flood(v, a)
    print('# flood: %.1f s' % (time.monotonic() - t0))
    run_health(v, a)
    if os.environ.get('UD_HOSTILE_SECURED_DEV'):
        run_secured(os.environ['UD_HOSTILE_SECURED_DEV'])
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
