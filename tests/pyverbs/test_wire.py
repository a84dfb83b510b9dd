# SPDX-License-Identifier: MIT
"""The responder side of the wire contract, driven from a raw socket
(RawPeer speaks the frame format itself): placement from the header
alone, malformed frames ending in QP error, MR deregistration while a
peer stalls.

How to run them: qp_helpers.py."""

import ctypes
import fcntl
import os
import socket
import struct
import subprocess
import sys
import termios
import time
import unittest

import pyverbs.enums as e

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_helpers import (MiB, TIMEOUT, poll_cq, rand_bytes,  # noqa: E402
                        recv_wr, wait_for)
from qp_case import QPCase  # noqa: E402
from rtcp_verbs import raw_wire  # noqa: E402


# ================================================ 3b. the wire, from outside

# the layout and opcodes, read from include/rdma_tcp/wire.h
from rtcp_wire import RTCP_HDR, pack_hello  # noqa: E402
import rtcp_wire as w  # noqa: E402
OP_SEND, OP_SEND_IMM, OP_WRITE, OP_WRITE_IMM = (
    w.RTCP_OP_SEND, w.RTCP_OP_SEND_IMM, w.RTCP_OP_WRITE, w.RTCP_OP_WRITE_IMM)
OP_READ_REQ, OP_READ_RESP, OP_ACK, OP_TERMINATE = (
    w.RTCP_OP_READ_REQ, w.RTCP_OP_READ_RESP, w.RTCP_OP_ACK,
    w.RTCP_OP_TERMINATE)
OP_CMP_SWP, OP_FADD, OP_ATOMIC_RESP = (
    w.RTCP_OP_ATOMIC_CMP_SWP, w.RTCP_OP_ATOMIC_FADD, w.RTCP_OP_ATOMIC_RESP)
MAX_MSG = 1 << 31  # the device's max_msg_sz


def queued(sock):
    """Bytes in sock's receive queue (FIONREAD)."""
    return struct.unpack('i', fcntl.ioctl(sock.fileno(), termios.FIONREAD,
                                          b'\0' * 4))[0]


class RawPeer:
    """A requester speaking the wire format itself over a plain socket, to
    a provider QP (`side`, in INIT) it moves to RTS. Its QPN (1) is below
    any real one, so it is the end that connects and sends the hello."""

    QPN = 1

    def __init__(self, side, **rtr_kw):
        side.to_rtr(self.QPN, **rtr_kw)
        side.to_rts()
        port = side.qpn >> 8  # docs/design.md: the QPN routes the connection
        self.sock = socket.create_connection(('127.0.0.1', port),
                                             timeout=TIMEOUT)
        gid = socket.inet_pton(socket.AF_INET6, '::ffff:127.0.0.1')
        self.sock.sendall(pack_hello(src_qpn=self.QPN, dst_qpn=side.qpn,
                                     src_gid=gid))
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
        """The next message of this opcode: a message cut into frames
        (RTCP_F_MORE, docs/design.md) is put together, each frame checked
        to continue it; other frames in between are passed by."""
        while True:
            f = self.read_frame(timeout)
            if f is None or f[0][0] == opcode:
                break
        if f is None or not f[0][1] & w.RTCP_F_MORE:
            return f
        hdr, parts, got = f[0], [f[1]], len(f[1])
        while True:
            n = self.read_frame(timeout)
            if n is None:
                return None
            if n[0][0] != opcode:
                continue
            if (n[0][4], n[0][12], n[0][13]) != (hdr[4], got, hdr[13]):
                raise AssertionError('frame %r does not continue %r' %
                                     (n[0], hdr))
            parts.append(n[1])
            got += len(n[1])
            if not n[0][1] & w.RTCP_F_MORE:
                return hdr, b''.join(parts)

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


@raw_wire
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

    def test_terminate_waits_for_a_slow_requester(self):
        """A READ refused past max_dest_rd_atomic (1) while the response
        before it is still going out: the TERMINATE follows the whole
        response even though the requester stops reading for a while --
        a NIC's NAK is not lost because its requester is slow."""
        b = self.side()
        b.to_init()
        n = 16 * MiB
        src = b.buf(n)
        data = os.urandom(n)
        src.write(0, data)
        peer = RawPeer(b, max_dest_rd_atomic=1)
        self.addCleanup(peer.close)
        # both requests in one segment: read in one pass, the second
        # finds the first's response still queued
        reqs = [peer.frame(OP_READ_REQ, rkey=src.rkey, raddr=src.addr,
                           aux0=n, send=False) for _ in range(2)]
        peer.sock.sendall(b''.join(reqs))
        # the response stalls in our receive queue ...
        deadline = time.monotonic() + TIMEOUT
        last = -1
        while not 0 < last == queued(peer.sock):
            self.assertLess(time.monotonic(), deadline,
                            'no READ response stalled in the socket')
            last = queued(peer.sock)
            time.sleep(0.05)
        # ... and the requester stays away for a while (a slow reader,
        # not a wait for a state: the responder must keep the TERMINATE)
        time.sleep(1.0)
        hdr, payload = peer.read_until(OP_READ_RESP)
        self.assertEqual(hdr[4], 0)
        self.assertTrue(payload == data, 'READ response bytes differ')
        hdr, _ = peer.read_frame()
        self.assertEqual((hdr[0], hdr[4]), (OP_TERMINATE, 1))
        self.assertIn(hdr[11], (struct.pack('>I', w.RTCP_SYN_REM_INV_REQ),
                                struct.pack('=I', w.RTCP_SYN_REM_INV_REQ)))
        self.assertEqual(peer.wait_eof(), [])
        self.events.wait(e.IBV_EVENT_QP_REQ_ERR)
        self.assertEqual(b.state(), e.IBV_QPS_ERR)

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
        # the response is under way and stalled: its first bytes are in
        # our receive queue, which stops growing once the buffers are full
        deadline = time.monotonic() + TIMEOUT
        last = -1
        while not 0 < last == queued(peer.sock):
            self.assertLess(time.monotonic(), deadline,
                            'no READ response stalled in the socket')
            last = queued(peer.sock)
            time.sleep(0.05)
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
        # the header is in: the region is being written
        self.assertTrue(wait_for(lambda: target.read(0, 100) == b'w' * 100),
                        'the first 100 bytes of the WRITE not placed')
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


if __name__ == '__main__':
    unittest.main()
