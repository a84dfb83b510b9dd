# SPDX-License-Identifier: MIT
"""The TestCase bases of the QP suites: QPCase (the device and its async
fd open per test, pairs made through it closed with it) and DataCase (a
connected pair with guarded 8 MiB buffers, one transfer checked byte by
byte in all four buffers).
"""

import os
import socket
import sys

import pyverbs.enums as e
from pyverbs.qp import DataBuffer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtcp_verbs import VerbsCase  # noqa: E402
from qp_helpers import (Async, BIG, MAX_INLINE, RC, SIZES, SLACK,  # noqa: E402
                        Segs, Side, WC_OF, connect, open_context, poll_cq,
                        rand_bytes, recv_wr, send_wr, split3, status_name,
                        wc_str)


# ---------------------------------------------------------------- test base

class QPCase(VerbsCase):
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

    def assertBufs(self, bufs, patches, msg='', canary=0xA5):
        """Each buffer's whole() (guards included) is canary bytes except
        for its patches: {id(buffer): [(position, bytes)]}."""
        for b in bufs:
            mine = patches.get(id(b), [])
            if b.holds(mine, canary):
                continue
            got = b.whole()
            want = bytearray([canary]) * len(got)
            for at, chunk in mine:
                want[at:at + len(chunk)] = chunk
            if got != want:
                first = next(i for i in range(len(got)) if got[i] != want[i])
                self.fail('%s: buffer differs at byte %d of %d (guard %d): '
                          'got %r want %r' % (msg, first, len(got), b.guard,
                                              got[first:first + 8],
                                              want[first:first + 8]))


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
        bufs = (self.l1, self.l2, self.r1, self.r2)
        patches = {id(x): [] for x in bufs}

        def add(where):
            for buf, at, chunk in where:
                patches[id(buf)].append((at, chunk))
        g = self.r1.guard
        if op == e.IBV_WR_RDMA_READ:
            add(local.patches(data))
            add([(self.r1, g + roff, data)])
        else:
            add(local.patches(bytes(n) if inline else data))
            if remote is not None:
                add(remote.patches(data))
            else:
                add([(self.r1, g + roff, data)])
        self.assertBufs(bufs, patches, 'op %d n %d' % (op, n))

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
