#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A man in the middle of one QP connection, for test_psp.sh: it relays
the connection between two network namespaces, lets the rendezvous (the
TLS 1.3 handshake with the SA offer and answer, or the plain hello) pass
untouched, then applies one fault to the frames of the connecting side's
direction (A -> B) and relays the rest.

    tamper_proxy.py --listen IP --connect IP --src IP --peer-file F
                    --out-file F --psp off|auth|encrypt --fault KIND
                    [--at K] [--min-len N] [--deadline S]

The QPN routes the connection (docs/design.md, "Connection rendezvous"):
the proxy waits for B's info file (psp_peer's "QPN RKEY ADDR GID"),
listens on IP:(QPN >> 8) (A's QP has the proxy's A-side address as its
destination GID, and connects), copies the file to --out-file for A only
then, and connects to B from --src (B's QP has that address as its
destination GID, so B accepts).

Frames are found from their headers (include/rdma_tcp/wire.h: opcode at
0, len at 40; 64 bytes) and, when secured, the layout of
providers/tcp/psp.h (a 16-byte tag after every 8 KiB chunk of payload,
at least one). The fault hits the K-th (--at, from 0) WRITE frame with
at least --min-len payload bytes:

    hdr      flip a bit of its header (raddr's low byte)
    pay0     flip a bit in its payload's first chunk
    payN     flip a bit in a later chunk (chunk 5)
    tag      flip a bit of its last tag (secured modes only)
    trunc    forward half of it, then close both connections
    drop     leave it out
    replay   send it twice
    reorder  send the frame after it first
    inject   put 64 random bytes before it
    none     nothing (the control)

Prints "fault KIND applied to frame #n (opcode, len) at stream offset X"
when it did, "fault KIND not applied" if the connection ended before the
frame came, and exits when both sides have closed or at the deadline.
"""

import argparse
import os
import select
import socket
import struct
import sys
import time

HDR = 64
TLS_TYPES = (20, 21, 22, 23)
HELLO_MAGIC = b'RTCP'
HELLO_LEN = 32
OP_WRITE = 3
CHUNK = 8192
TAG = 16


def frame_bytes(length, secured):
    if not secured:
        return HDR + length
    chunks = max(1, (length + CHUNK - 1) // CHUNK)
    return HDR + length + chunks * TAG


def payload_pos(off, secured):
    """Position in the frame of payload byte off."""
    return HDR + off + (off // CHUNK) * TAG if secured else HDR + off


class Stream:
    """The A -> B direction: rendezvous bytes pass, then whole frames,
    one of which gets the fault."""

    def __init__(self, args):
        self.a = args
        self.secured = args.psp != 'off'
        self.buf = b''
        self.phase = 'start'
        self.offset = 0        # bytes of frames seen (stream offset)
        self.writes = 0        # matching WRITE frames seen
        self.nframe = 0
        self.held = None       # reorder: the frame held back
        self.applied = False
        self.close = False

    def feed(self, data):
        """Bytes to forward to B for data arriving from A."""
        self.buf += data
        out = b''
        while True:
            piece = self.step()
            if piece is None:
                return out
            out += piece

    def step(self):
        if self.phase == 'start':
            if len(self.buf) < 4:
                return None
            if self.buf[:4] == HELLO_MAGIC:
                self.phase = 'hello'
            else:
                self.phase = 'tls'
        if self.phase == 'hello':
            if len(self.buf) < HELLO_LEN:
                return None
            self.phase = 'frames'
            return self.take(HELLO_LEN)
        if self.phase == 'tls':
            return self.tls_record()
        return self.frame()

    def take(self, n):
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def tls_record(self):
        if len(self.buf) < 3:
            return None
        if self.buf[0] not in TLS_TYPES or self.buf[1] != 3:
            self.phase = 'frames'  # the first frame's opcode is not TLS
            return b''
        if len(self.buf) < 5:
            return None
        n = 5 + struct.unpack('>H', self.buf[3:5])[0]
        return self.take(n) if len(self.buf) >= n else None

    def frame(self):
        if self.close or len(self.buf) < HDR:
            return None
        op = self.buf[0]
        length = struct.unpack('>I', self.buf[40:44])[0]
        size = frame_bytes(length, self.secured)
        if len(self.buf) < size:
            return None
        f = bytearray(self.take(size))
        at, self.offset = self.offset, self.offset + size
        self.nframe += 1
        if self.held is not None:   # reorder: this one first
            held, self.held = self.held, None
            return bytes(f) + held
        if self.applied or op != OP_WRITE or length < self.a.min_len:
            return bytes(f)
        self.writes += 1
        if self.writes - 1 != self.a.at:
            return bytes(f)
        self.applied = True
        print('fault %s applied to frame #%d (opcode %d, len %d) at stream '
              'offset %d' % (self.a.fault, self.nframe - 1, op, length, at),
              flush=True)
        return self.fault(f, length)

    def fault(self, f, length):
        k = self.a.fault
        if k == 'hdr':
            f[31] ^= 0x01
        elif k == 'pay0':
            f[payload_pos(min(100, length - 1), self.secured)] ^= 0x04
        elif k == 'payN':
            f[payload_pos(min(5 * CHUNK + 100, length - 1),
                          self.secured)] ^= 0x04
        elif k == 'tag':
            f[len(f) - 1] ^= 0x80
        elif k == 'trunc':
            self.close = True
            return bytes(f[:HDR + length // 2])
        elif k == 'drop':
            return b''
        elif k == 'replay':
            return bytes(f) + bytes(f)
        elif k == 'reorder':
            self.held = bytes(f)
            return b''
        elif k == 'inject':
            return os.urandom(64) + bytes(f)
        return bytes(f)


def wait_file(path, deadline):
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            sys.exit('tamper_proxy: no %s' % path)
        time.sleep(0.02)
    with open(path) as f:
        return f.read()


def rendezvous(a, deadline):
    """(socket from A, socket to B)."""
    info = wait_file(a.peer_file, deadline)
    port = (int(info.split()[0]) >> 8) & 0xffff
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.listen, port))
    ls.listen(4)
    tmp = a.out_file + '.tmp'
    with open(tmp, 'w') as f:
        f.write(info)
    os.rename(tmp, a.out_file)
    print('listening on %s:%d' % (a.listen, port), flush=True)
    ls.settimeout(max(1, deadline - time.monotonic()))
    sa, peer = ls.accept()
    ls.close()
    print('accepted %s:%d' % peer, flush=True)
    sb = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sb.bind((a.src, 0))
    sb.settimeout(10)
    sb.connect((a.connect, port))
    return sa, sb


def relay(a, sa, sb, deadline):
    st = Stream(a)
    open_ = {sa: True, sb: True}
    while any(open_.values()) and time.monotonic() < deadline:
        r, _, _ = select.select([s for s in open_ if open_[s]], [], [], 0.2)
        for s in r:
            try:
                data = s.recv(1 << 16)
            except OSError:
                data = b''
            dst = sb if s is sa else sa
            if not data:
                open_[s] = False
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                continue
            out = st.feed(data) if s is sa else data
            try:
                dst.sendall(out)
            except OSError:
                open_[s] = False
            if st.close:
                for x in (sa, sb):
                    x.close()
                return st
    return st


def main():
    p = argparse.ArgumentParser()
    for opt in ('--listen', '--connect', '--src', '--peer-file',
                '--out-file'):
        p.add_argument(opt, required=True)
    p.add_argument('--psp', choices=('off', 'auth', 'encrypt'),
                   required=True)
    p.add_argument('--fault', required=True,
                   choices=('hdr', 'pay0', 'payN', 'tag', 'trunc', 'drop',
                            'replay', 'reorder', 'inject', 'none'))
    p.add_argument('--at', type=int, default=2)
    p.add_argument('--min-len', type=int, default=1)
    p.add_argument('--deadline', type=float, default=60)
    a = p.parse_args()
    deadline = time.monotonic() + a.deadline
    sa, sb = rendezvous(a, deadline)
    st = relay(a, sa, sb, deadline)
    if not st.applied:
        print('fault %s not applied (%d frames, %d matching WRITEs)' %
              (a.fault, st.nframe, st.writes), flush=True)
    print('proxy done: %d frames A->B, %d bytes' % (st.nframe, st.offset),
          flush=True)


if __name__ == '__main__':
    main()
