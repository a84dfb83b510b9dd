#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""An attacker against a UD QP's datagrams (tests/integration/test_ud_sec.sh;
docs/design.md, "UD datagram security").

A victim UD QP R posts receives (canary-filled slots, wr_id 0, 1, ...); a
genuine UD QP S of the same device sends it messages. Before each genuine
message the attacker -- a plain UDP socket of its own, and an AF_PACKET
socket on lo that captured S's first datagram -- sends R one of:

  replay    S's captured datagram, byte for byte
  payload   the capture with a payload bit flipped
  header    the capture with the immediate-data field changed
  tag       the capture with its tag's last bit flipped
  forged    a well-formed datagram under a key from another PSK
  downgrade a datagram in mode off (no tag)
  flood     2,000 datagrams with random sids, seqs and tags
  old       the capture again, after newer genuine datagrams

In auth and encrypt nothing of them may be delivered: each genuine
message must land in the next receive in order (an attack delivered would
have consumed it), with its own bytes; at the end no completion is left
over, the unused receives' canaries are intact and R is still in RTS. In
`off` (the control: unauthenticated) the attacks that need no key --
replay, payload, header, downgrade -- are delivered, and the script
checks that they are, so it can tell delivery from dropping.
  usage: ud_attack.py DEVICE-MODE(auth|encrypt|off)
Device from RDMA_TCP_DEV (tcp0). Prints "ok"/"FAIL" lines and "N passed,
N failed". Needs root (AF_PACKET).
"""
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

import pyverbs.enums as e
from pyverbs.addr import AH
from pyverbs.qp import QPAttr, QPCap

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pyverbs'))
from qp_helpers import (PORT, Side, ah_for, open_context,  # noqa: E402
                        poll_cq, poll_quiet, recv_wr, send_wr)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

UD = e.IBV_QPT_UD
QKEY = 0x11111111
GRH = 40
SLOT = GRH + 256
NREC = 32
HDR, TAG = 48, 16
MAGIC = 0x52545544
MODES = {'off': 0, 'auth': 1, 'encrypt': 2}
passed = failed = 0


def check(what, cond, detail=''):
    global passed, failed
    if cond:
        passed += 1
        print('ok -', what)
    else:
        failed += 1
        print('FAIL -', what, detail)


def ud_up(qp):
    a = QPAttr(qp_state=e.IBV_QPS_INIT)
    a.pkey_index, a.port_num, a.qkey = 0, PORT, QKEY
    qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT |
              e.IBV_QP_QKEY)
    qp.modify(QPAttr(qp_state=e.IBV_QPS_RTR), e.IBV_QP_STATE)
    a = QPAttr(qp_state=e.IBV_QPS_RTS)
    a.sq_psn = 0
    qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_SQ_PSN)


def cap():
    return QPCap(max_send_wr=16, max_recv_wr=NREC, max_send_sge=1,
                 max_recv_sge=1, max_inline_data=0)


class Capture:
    """UDP datagrams to one port as lo carries them (root: AF_PACKET)."""

    def __init__(self, port):
        self.port = port
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                               socket.htons(3))  # ETH_P_ALL
        self.s.bind(('lo', 0))
        self.s.setblocking(False)

    def udp_payload(self, f):
        et = struct.unpack('>H', f[12:14])[0]
        if et == 0x0800 and f[23] == 17:
            u = 14 + (f[14] & 0xf) * 4
        elif et == 0x86dd and f[20] == 17:
            u = 14 + 40
        else:
            return None
        if struct.unpack('>H', f[u + 2:u + 4])[0] != self.port:
            return None
        return f[u + 8:]

    def first(self, timeout=10):
        """The first datagram to the port, waiting at most timeout s."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                f = self.s.recv(65536)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            d = self.udp_payload(f)
            if d and d[:4] == struct.pack('>I', MAGIC):
                return d
        return None


def hkdf(psk, info, n):
    prk = hmac.new(b'rdma-tcp ud v1', psk, hashlib.sha256).digest()
    return hmac.new(prk, info + b'\x01', hashlib.sha256).digest()[:n]


def header(mode, alg, dst, src, length, sid, seq, imm=0):
    return struct.pack('>IBBBBIIIIIIQQ', MAGIC, 1, 1, mode, alg, dst, src,
                       QKEY, imm, length, 0, sid, seq)


def forged(cap_hdr, dst, src):
    """Well formed in the capture's mode and alg, keyed from another PSK."""
    mode, alg = cap_hdr[6], cap_hdr[7]
    payload = b'forged by a stranger'
    sid, seq = struct.unpack('>QQ', os.urandom(16))
    sid |= 1
    seq = seq >> 1 | 1
    h = header(mode, alg, dst, src, len(payload), sid, seq)
    key = hkdf(os.urandom(32), bytes([mode, alg]) + struct.pack('>Q', sid),
               32 if alg else 16)
    nonce = struct.pack('>IQ', sid & 0xffffffff, seq)
    if mode == MODES['encrypt']:
        return h + AESGCM(key).encrypt(nonce, payload, h)
    return h + payload + AESGCM(key).encrypt(nonce, b'', h + payload)


def flip(d, i, bit=1):
    return d[:i] + bytes([d[i] ^ bit]) + d[i + 1:]


class Run:

    def __init__(self, mode):
        self.mode = mode
        self.ctx, _ = open_context()
        self.r = Side(self.ctx, qp_type=UD, cap=cap())
        self.s = Side(self.ctx, qp_type=UD, cap=cap())
        ud_up(self.r.qp)
        ud_up(self.s.qp)
        self.ah = AH(self.s.pd, attr=ah_for(self.ctx))
        self.rbuf = self.r.buf(NREC * SLOT)
        for i in range(NREC):
            self.r.qp.post_recv(recv_wr([self.rbuf.sge(i * SLOT, SLOT)],
                                        wr_id=i))
        self.sbuf = self.s.buf(256)
        self.port = self.r.qpn >> 8
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.next = 0  # the receive the next message must land in
        self.sent = 0

    def genuine(self):
        """S sends R a message; the bytes it should land with."""
        data = b'genuine message %03d' % self.sent
        self.sent += 1
        self.sbuf.write(0, data)
        wr = send_wr(e.IBV_WR_SEND, [self.sbuf.sge(0, len(data))],
                     wr_id=self.sent)
        wr.set_wr_ud(self.ah, self.r.qpn, QKEY)
        self.s.qp.post_send(wr)
        poll_cq(self.s.scq, 1, what='send cq')
        return data

    def lands(self, what, data):
        """The next completion of R is data, in receive self.next."""
        try:
            wc = poll_cq(self.r.rcq, 1, what='recv cq')[0]
        except AssertionError as ex:
            check(what, False, str(ex))
            return
        got = self.rbuf.read(wc.wr_id * SLOT + GRH, len(data)) \
            if wc.wr_id < NREC else b''
        check(what, wc.status == e.IBV_WC_SUCCESS and
              wc.wr_id == self.next and got == data and
              wc.byte_len == GRH + len(data),
              'wc wr_id %d (want %d) status %d len %d, bytes %r (want %r)' %
              (wc.wr_id, self.next, wc.status, wc.byte_len, got, data))
        self.next = wc.wr_id + 1

    def attack(self, name, dgrams, delivered=None):
        """Sends dgrams from the attacker's socket, then a genuine message.
        delivered: the payload R must receive from the attack (off), or
        None: nothing may arrive."""
        for d in dgrams:
            self.udp.sendto(d, ('127.0.0.1', self.port))
        if delivered is not None:
            self.lands('%s %s: delivered (unauthenticated)' %
                       (self.mode, name), delivered)
        data = self.genuine()
        self.lands('%s %s: %s' % (self.mode, name,
                                  'the next genuine message lands next'
                                  if delivered is not None else
                                  'nothing delivered, the genuine message '
                                  'lands in the next receive'), data)

    def run(self):
        cap = Capture(self.port)
        first = self.genuine()
        self.lands('%s: the first genuine message' % self.mode, first)
        d = cap.first()
        check('%s: S\'s datagram captured on lo' % self.mode, d is not None)
        if d is None:
            return
        secured = self.mode != 'off'
        check('%s: payload %s on the wire' %
              (self.mode, 'hidden' if self.mode == 'encrypt' else 'in clear'),
              (first in d) == (self.mode != 'encrypt'))
        check('%s: header mode byte, tag' % self.mode,
              d[6] == MODES[self.mode] and
              len(d) == HDR + len(first) + (TAG if secured else 0))
        plain = None if secured else first
        self.attack('replay', [d], plain)
        # bump seq too, so that only the flipped bit can be the reason
        fresh = d[:40] + struct.pack('>Q', struct.unpack('>Q', d[40:48])[0]
                                     + 1000) + d[48:]
        self.attack('payload', [flip(fresh, HDR + 3)],
                    None if secured else bytes(flip(first, 3)))
        self.attack('header', [flip(fresh, 20, 0x40)], plain)
        if secured:
            self.attack('tag', [flip(fresh, len(fresh) - 1)])
        src, dst = self.s.qpn, self.r.qpn
        if secured:
            self.attack('forged', [forged(d, dst, src)])
        down = b'downgrade attempt'
        self.attack('downgrade', [header(0, 0, dst, src, len(down), 0, 0) +
                                  down], None if secured else down)
        if secured:
            flood = []
            for _ in range(2000):
                x = bytearray(fresh)
                x[32:48] = os.urandom(16)
                x[-TAG:] = os.urandom(TAG)
                flood.append(bytes(x))
            self.attack('flood of 2,000 random sids', flood)
            self.attack('old datagram after newer ones', [d])
        self.finish()

    def finish(self):
        left = poll_quiet(self.r.rcq, 0.3)
        check('%s: no completion left over' % self.mode, not left,
              str([(w.wr_id, w.byte_len) for w in left]))
        whole = self.rbuf.read(self.next * SLOT, (NREC - self.next) * SLOT)
        check('%s: unused receives untouched (%d canary bytes)' %
              (self.mode, len(whole)), whole == b'\xa5' * len(whole))
        attr, _ = self.r.qp.query(e.IBV_QP_STATE)
        check('%s: R still in RTS' % self.mode,
              attr.qp_state == e.IBV_QPS_RTS)


def main():
    Run(sys.argv[1]).run()
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
