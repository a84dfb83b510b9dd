# SPDX-License-Identifier: MIT
"""Data integrity (issue 3): every opcode with byte-exact checks over
sizes and SGE counts (post_send and the ibv_wr_* API), unsignaled work,
atomics, large messages, a QP connected to itself, two contexts.

How to run them: qp_helpers.py."""

import ctypes
import os
import random
import struct
import sys
import unittest

import pyverbs.enums as e
from pyverbs.pyverbs_error import PyverbsRDMAError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtcp_verbs import PORT  # noqa: E402
from qp_helpers import (BIG, GiB, MAX_INLINE, MiB, SLACK, WC_OF,  # noqa: E402
                        poll_cq, poll_quiet, rand_bytes, recv_wr, send_wr,
                        wc_str)
from qp_case import DataCase, QPCase  # noqa: E402


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


if __name__ == '__main__':
    unittest.main()
