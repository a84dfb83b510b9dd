# SPDX-License-Identifier: MIT
"""UD queue pairs over UDP (issue 16 item 1; docs/design.md, "UD queue
pairs"): send/receive with and without immediate data, the GRH area as
RoCE v2 fills it, src_qp and wc_flags, Q_Key checks and the privileged
Q_Key bit, a receive too small, a send above the MTU, SRQ, the reply path
through ibv_create_ah_from_wc, the ibv_wr_* API, loss tolerance, destroy
with traffic, bad address handles, the modify table, the QPN's ports.

It runs in every psp mode (tests/run: the default, auth, and off); a
device with certificates has no shared key for datagram security and
refuses UD QPs (EOPNOTSUPP): the suite then skips. How to run:
qp_helpers.py."""

import errno
import ipaddress
import os
import socket
import struct
import sys
import time
import unittest

import pyverbs.enums as e
from pyverbs.addr import AH, GID, AHAttr, GlobalRoute
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import QPAttr, QPCap
from pyverbs.srq import SRQ, SrqAttr, SrqInitAttr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_helpers import (PORT, gid0, poll_cq, poll_quiet,  # noqa: E402
                        rand_bytes, recv_wr, send_wr)
from qp_case import QPCase  # noqa: E402
import rtcp_wire  # noqa: E402

UD = e.IBV_QPT_UD
QKEY = 0x11111111
GRH = 40
HDR = 48  # struct rtcp_ud_hdr
# the datagram's tag (ud_sec.h): in every mode but off
TAG = 0 if os.environ.get('RDMA_TCP_TEST_PSP') == 'off' else 16
QUIET = 0.3  # how long "nothing arrives" is watched (a bound, not a sync)


def ud_cap(**kw):
    c = dict(max_send_wr=64, max_recv_wr=64, max_send_sge=2,
             max_recv_sge=2, max_inline_data=64)
    c.update(kw)
    return QPCap(**c)


def ud_up(qp, qkey=QKEY):
    """RESET -> INIT -> RTR -> RTS with the masks the IB spec wants."""
    a = QPAttr(qp_state=e.IBV_QPS_INIT)
    a.pkey_index = 0
    a.port_num = PORT
    a.qkey = qkey
    qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT |
              e.IBV_QP_QKEY)
    qp.modify(QPAttr(qp_state=e.IBV_QPS_RTR), e.IBV_QP_STATE)
    a = QPAttr(qp_state=e.IBV_QPS_RTS)
    a.sq_psn = 0
    qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_SQ_PSN)


def gid_index(ctx, want_v6):
    """Index of a GID of the wanted family (IPv6 proper or IPv4 mapped),
    or None."""
    for i in range(ctx.query_port(PORT).gid_tbl_len):
        try:
            g = ipaddress.IPv6Address(str(ctx.query_gid(PORT, i)))
        except (PyverbsRDMAError, ValueError):
            continue
        if g == ipaddress.IPv6Address('::'):
            continue
        if (g.ipv4_mapped is None) == want_v6:
            return i
    return None


class UDCase(QPCase):

    def setUp(self):
        super().setUp()
        self.mtu = 128 << self.ctx.query_port(PORT).active_mtu

    def ud(self, ctx=None, qkey=QKEY, up=True, **kw):
        kw.setdefault('cap', ud_cap())
        try:
            s = self.side(ctx=ctx, qp_type=UD, **kw)
        except PyverbsRDMAError as ex:
            # a device without datagram security (certificates) has no
            # UD at all; a refused qp_ex op is the test's to judge
            if (ex.error_code == errno.EOPNOTSUPP and not kw.get('ex') and
                    os.environ.get('RDMA_TCP_TEST_PSP') != 'off'):
                self.skipTest('no UD on this device (certificates)')
            raise
        if up:
            ud_up(s.qp, qkey)
        return s

    def ah(self, side, sgid_index=0, dgid=None, hop_limit=64, tclass=0):
        gr = GlobalRoute(dgid=dgid or gid0(side.ctx), sgid_index=sgid_index,
                         hop_limit=hop_limit, traffic_class=tclass)
        a = AH(side.pd, attr=AHAttr(port_num=PORT, is_global=1, gr=gr))
        self._keep.append(a)
        return a

    def send(self, a, ah, dqpn, data, qkey=QKEY, imm=None, wr_id=1,
             flags=e.IBV_SEND_SIGNALED):
        b = a.buf(max(len(data), 1))
        b.write(0, data)
        op = e.IBV_WR_SEND if imm is None else e.IBV_WR_SEND_WITH_IMM
        wr = send_wr(op, [b.sge(0, len(data))] if data else [],
                     wr_id=wr_id, flags=flags, imm=imm or 0)
        wr.set_wr_ud(ah, dqpn, qkey)
        a.qp.post_send(wr)

    def pair_up(self, rlen=None, sig_all=1, **kw):
        a, b = self.ud(sq_sig_all=sig_all), self.ud(**kw)
        b.rbuf = b.buf(rlen or GRH + self.mtu)
        return a, b, self.ah(a)

    def roundtrip(self, a, b, ah, data, **kw):
        b.qp.post_recv(recv_wr([b.rbuf.sge(0, b.rbuf.length)], wr_id=7))
        self.send(a, ah, b.qpn, data, **kw)
        swc = poll_cq(a.scq, 1, what='send cq')[0]
        self.assertWC(swc, opcode=e.IBV_WC_SEND, wr_id=1)
        return poll_cq(b.rcq, 1, what='recv cq')[0]

    # ------------------------------------------------------------ basics

    def test_send_recv(self):
        a, b, ah = self.pair_up()
        data = rand_bytes(100, 1)
        wc = self.roundtrip(a, b, ah, data)
        self.assertWC(wc, opcode=e.IBV_WC_RECV, wr_id=7, qp_num=b.qpn)
        self.assertEqual(wc.byte_len, GRH + 100)
        self.assertEqual(wc.src_qp, a.qpn)
        self.assertTrue(wc.wc_flags & e.IBV_WC_GRH)
        self.assertFalse(wc.wc_flags & e.IBV_WC_WITH_IMM)
        self.assertEqual(wc.pkey_index, 0)
        self.assertEqual(b.rbuf.read(GRH, 100), data)

    def test_send_imm_and_empty(self):
        a, b, ah = self.pair_up()
        wc = self.roundtrip(a, b, ah, b'hello', imm=0x12345678)
        self.assertEqual(wc.wc_flags & (e.IBV_WC_GRH | e.IBV_WC_WITH_IMM),
                         e.IBV_WC_GRH | e.IBV_WC_WITH_IMM)
        self.assertEqual(wc.imm_data, 0x12345678)
        wc = self.roundtrip(a, b, ah, b'')
        self.assertWC(wc, opcode=e.IBV_WC_RECV)
        self.assertEqual(wc.byte_len, GRH)

    def test_grh_ipv4(self):
        a, b, _ = self.pair_up()
        # the AH's hop limit and traffic class are the datagram's TTL and
        # TOS, and come back in the GRH
        wc = self.roundtrip(a, b, self.ah(a, hop_limit=7, tclass=0x20),
                            b'x' * 33)
        # sl: the RoCE v2 packet type, as mlx5 gives it (UDP | IPv4); UCX's
        # ud_verbs finds the destination address in the GRH by it
        self.assertEqual(wc.sl, 0x8 | 0x2)
        g = b.rbuf.read(0, GRH)
        self.assertEqual(g[:20], bytes(20))
        ip = g[20:]
        self.assertEqual((ip[0], ip[1], ip[8]), (0x45, 0x20, 7))
        self.assertEqual(ip[9], socket.IPPROTO_UDP)
        # total length covers IP, UDP, our header, the payload, the tag
        self.assertEqual(struct.unpack('>H', ip[2:4])[0],
                         20 + 8 + HDR + 33 + TAG)
        s = sum(struct.unpack('>10H', ip)) % 0xffff
        self.assertEqual(s, 0, 'IPv4 header checksum')
        mine = ipaddress.IPv6Address(str(gid0(a.ctx))).ipv4_mapped
        self.assertEqual(ipaddress.IPv4Address(ip[12:16]), mine)
        self.assertEqual(ipaddress.IPv4Address(ip[16:20]), mine)

    def test_tclass_on_the_wire(self):
        # the AH's traffic class is the datagram's TOS / IPv6 traffic
        # class byte, ECN bits included, as a plain UDP socket (not ours)
        # reads it from the IP header: the port it is bound to is the one
        # a QPN of port << 8 sends to
        v4 = ipaddress.IPv6Address(str(gid0(self.ctx))).ipv4_mapped
        cases = [(0, socket.AF_INET, str(v4), socket.IPPROTO_IP,
                  socket.IP_RECVTOS, socket.IP_TOS, 0x62)]
        i = gid_index(self.ctx, want_v6=True)
        v6 = i is not None and ipaddress.IPv6Address(
            str(self.ctx.query_gid(PORT, i)))
        if v6 and not v6.is_link_local:
            cases.append((i, socket.AF_INET6, str(v6), socket.IPPROTO_IPV6,
                          socket.IPV6_RECVTCLASS, socket.IPV6_TCLASS, 0xb9))
        a = self.ud()
        for sgid, family, addr, level, recv_opt, cmsg_type, tc in cases:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.bind((addr, 0))
                s.setsockopt(level, recv_opt, 1)
                s.settimeout(20)
                port = s.getsockname()[1]
                ah = self.ah(a, sgid_index=sgid,
                             dgid=self.ctx.query_gid(PORT, sgid), tclass=tc)
                self.send(a, ah, port << 8 | 1, b'tos')
                poll_cq(a.scq, 1)
                _, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(4))
                got = [d[0] for lv, t, d in anc if (lv, t) == (level,
                                                               cmsg_type)]
                self.assertEqual(got, [tc], addr)

    def test_grh_ipv6(self):
        i = gid_index(self.ctx, want_v6=True)
        if i is None:
            self.skipTest('no IPv6 GID on this device')
        g6 = self.ctx.query_gid(PORT, i)
        a, b = self.ud(), self.ud()
        b.rbuf = b.buf(GRH + 64)
        ah = self.ah(a, sgid_index=i, dgid=g6, hop_limit=9, tclass=0x40)
        wc = self.roundtrip(a, b, ah, b'y' * 17)
        self.assertEqual(wc.byte_len, GRH + 17)
        self.assertEqual(wc.sl, 0x8 | 0x1)  # UDP | IPv6
        g = b.rbuf.read(0, GRH)
        self.assertEqual(g[0] >> 4, 6)
        tclass = (g[0] & 0xf) << 4 | g[1] >> 4
        self.assertEqual((tclass, g[7]), (0x40, 9))
        self.assertEqual(g[6], socket.IPPROTO_UDP)
        self.assertEqual(struct.unpack('>H', g[4:6])[0], 8 + HDR + 17 + TAG)
        addr = ipaddress.IPv6Address(str(g6)).packed
        self.assertEqual(g[8:24], addr)
        self.assertEqual(g[24:40], addr)
        # libibverbs reads it as IPv6 and finds the GID: the reply works
        back = AH(b.pd, wc=wc, grh=b.rbuf.addr, port_num=PORT)
        self._keep.append(back)
        a.rbuf = a.buf(GRH + 64)
        a.qp.post_recv(recv_wr([a.rbuf.sge(0, GRH + 64)], wr_id=5))
        self.send(b, back, wc.src_qp, b'v6 reply')
        poll_cq(b.scq, 1)
        self.assertWC(poll_cq(a.rcq, 1)[0], wr_id=5)
        self.assertEqual(a.rbuf.read(0, GRH)[8:24], addr)

    # ------------------------------------------------------------- Q_Key

    def test_qkey_mismatch_dropped(self):
        a, b, ah = self.pair_up()
        b.qp.post_recv(recv_wr([b.rbuf.sge(0, b.rbuf.length)], wr_id=7))
        self.send(a, ah, b.qpn, b'wrong', qkey=QKEY + 1)
        self.assertWC(poll_cq(a.scq, 1)[0], opcode=e.IBV_WC_SEND)
        self.assertEqual(poll_quiet(b.rcq, QUIET), [])
        # the receive is still there for the right Q_Key
        self.send(a, ah, b.qpn, b'right', wr_id=2)
        poll_cq(a.scq, 1)
        wc = poll_cq(b.rcq, 1)[0]
        self.assertWC(wc, wr_id=7)
        self.assertEqual(b.rbuf.read(GRH, 5), b'right')

    def test_privileged_qkey_bit(self):
        a, b, ah = self.pair_up()
        # high bit set: the sender's own Q_Key goes out (IB spec)
        wc = self.roundtrip(a, b, ah, b'priv', qkey=0x80000000)
        self.assertWC(wc, opcode=e.IBV_WC_RECV)
        c = self.ud(qkey=QKEY ^ 0x55)
        b.qp.post_recv(recv_wr([b.rbuf.sge(0, b.rbuf.length)], wr_id=8))
        self.send(c, self.ah(c), b.qpn, b'other', qkey=0x80000000)
        poll_cq(c.scq, 1)
        self.assertEqual(poll_quiet(b.rcq, QUIET), [])

    def test_query_qkey_and_masks(self):
        s = self.ud(up=False)
        a = QPAttr(qp_state=e.IBV_QPS_INIT)
        a.pkey_index, a.port_num, a.qkey = 0, PORT, 0x1234
        # RESET -> INIT without the Q_Key is refused
        self.assertRDMAError(errno.EINVAL, s.qp.modify, a,
                             e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX |
                             e.IBV_QP_PORT)
        s.qp.modify(a, e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT |
                    e.IBV_QP_QKEY)
        attr, _ = s.qp.query(e.IBV_QP_QKEY)
        self.assertEqual(attr.qkey, 0x1234)
        # INIT -> RTR takes no connection attributes
        r = QPAttr(qp_state=e.IBV_QPS_RTR)
        r.dest_qp_num = 5
        self.assertRDMAError(errno.EINVAL, s.qp.modify, r,
                             e.IBV_QP_STATE | e.IBV_QP_DEST_QPN)
        s.qp.modify(r, e.IBV_QP_STATE)
        t = QPAttr(qp_state=e.IBV_QPS_RTS)
        self.assertRDMAError(errno.EINVAL, s.qp.modify, t, e.IBV_QP_STATE)
        t.sq_psn, t.qkey = 0, 0x4321
        s.qp.modify(t, e.IBV_QP_STATE | e.IBV_QP_SQ_PSN | e.IBV_QP_QKEY)
        attr, _ = s.qp.query(e.IBV_QP_QKEY | e.IBV_QP_STATE)
        self.assertEqual((attr.qp_state, attr.qkey), (e.IBV_QPS_RTS, 0x4321))

    # ------------------------------------------------------------ lengths

    def test_receive_too_small(self):
        a, b, ah = self.pair_up()
        # rxe: a receive of the QP's own queue stays posted, the message
        # is dropped (class D)
        b.qp.post_recv(recv_wr([b.rbuf.sge(0, GRH + 10)], wr_id=7))
        self.send(a, ah, b.qpn, b'z' * 11)
        poll_cq(a.scq, 1)
        self.assertEqual(poll_quiet(b.rcq, QUIET), [])
        self.send(a, ah, b.qpn, b'z' * 10, wr_id=2)
        poll_cq(a.scq, 1)
        wc = poll_cq(b.rcq, 1)[0]
        self.assertWC(wc, wr_id=7)
        self.assertEqual(wc.byte_len, GRH + 10)

    def test_receive_too_small_srq(self):
        a = self.ud()
        srq = SRQ(a.pd, SrqInitAttr(SrqAttr(max_wr=8, max_sge=1)))
        self._keep.append(srq)
        b = self.ud(pd=a.pd, srq=srq)
        rb = a.buf(GRH + 64)
        srq.post_recv(recv_wr([rb.sge(0, GRH + 4)], wr_id=9))
        self.send(a, self.ah(a), b.qpn, b'q' * 5)
        poll_cq(a.scq, 1)
        # rxe: an SRQ's receive completes in error (class E)
        wc = poll_cq(b.rcq, 1)[0]
        self.assertWC(wc, status=e.IBV_WC_REM_INV_REQ_ERR, wr_id=9)
        self.assertEqual(b.state(), e.IBV_QPS_RTS)

    def test_send_above_mtu(self):
        a, b, ah = self.pair_up()
        b.qp.post_recv(recv_wr([b.rbuf.sge(0, b.rbuf.length)], wr_id=7))
        # IB C10-93.1.1: no packet, no error
        self.send(a, ah, b.qpn, b'm' * (self.mtu + 1))
        self.assertWC(poll_cq(a.scq, 1)[0], opcode=e.IBV_WC_SEND)
        self.assertEqual(poll_quiet(b.rcq, QUIET), [])
        data = rand_bytes(self.mtu, 3)
        self.send(a, ah, b.qpn, data, wr_id=2)
        poll_cq(a.scq, 1)
        wc = poll_cq(b.rcq, 1)[0]
        self.assertEqual(wc.byte_len, GRH + self.mtu)
        self.assertEqual(b.rbuf.read(GRH, self.mtu), data)

    def test_inline(self):
        a, b, ah = self.pair_up()
        self.assertGreaterEqual(a.ia.cap.max_inline_data, 64)
        wc = self.roundtrip(a, b, ah, b'i' * 64,
                            flags=e.IBV_SEND_SIGNALED | e.IBV_SEND_INLINE)
        self.assertEqual(b.rbuf.read(GRH, 64), b'i' * 64)
        self.assertEqual(wc.byte_len, GRH + 64)
        self.assertRDMAError(errno.EINVAL, self.send, a, ah, b.qpn,
                             b'i' * 1025,
                             flags=e.IBV_SEND_SIGNALED | e.IBV_SEND_INLINE)

    # -------------------------------------------------------- SRQ, reply

    def test_srq_two_qps(self):
        a = self.ud()
        srq = SRQ(a.pd, SrqInitAttr(SrqAttr(max_wr=16, max_sge=1)))
        self._keep.append(srq)
        b1 = self.ud(pd=a.pd, srq=srq)
        b2 = self.ud(pd=a.pd, srq=srq, rcq=b1.rcq)
        rb = a.buf(2 * (GRH + 32))
        for i in range(2):
            srq.post_recv(recv_wr([rb.sge(i * (GRH + 32), GRH + 32)],
                                  wr_id=20 + i))
        ah = self.ah(a)
        self.send(a, ah, b1.qpn, b'one', wr_id=1)
        self.send(a, ah, b2.qpn, b'two', wr_id=2)
        poll_cq(a.scq, 2)
        wcs = poll_cq(b1.rcq, 2)
        self.assertEqual(sorted(w.qp_num for w in wcs),
                         sorted((b1.qpn, b2.qpn)))
        for w in wcs:
            self.assertEqual(w.src_qp, a.qpn)
            off = (w.wr_id - 20) * (GRH + 32)
            want = b'one' if w.qp_num == b1.qpn else b'two'
            self.assertEqual(rb.read(off + GRH, 3), want)

    def test_reply_via_create_ah_from_wc(self):
        a, b, ah = self.pair_up()
        a.rbuf = a.buf(GRH + 64)
        wc = self.roundtrip(a, b, ah, b'ping')
        back = AH(b.pd, wc=wc, grh=b.rbuf.addr, port_num=PORT)
        self._keep.append(back)
        a.qp.post_recv(recv_wr([a.rbuf.sge(0, GRH + 64)], wr_id=5))
        self.send(b, back, wc.src_qp, b'pong')
        poll_cq(b.scq, 1)
        w = poll_cq(a.rcq, 1)[0]
        self.assertWC(w, wr_id=5)
        self.assertEqual(w.src_qp, b.qpn)
        self.assertEqual(a.rbuf.read(GRH, 4), b'pong')

    def test_qp_ex(self):
        ops = e.IBV_QP_EX_WITH_SEND | e.IBV_QP_EX_WITH_SEND_WITH_IMM
        a = self.ud(ex=True, send_ops=ops)
        b = self.ud()
        b.rbuf = b.buf(GRH + 64)
        ah = self.ah(a)
        src = a.buf(16)
        src.write(0, b'qp_ex-ud-payload')
        for i in range(2):
            b.qp.post_recv(recv_wr([b.rbuf.sge(0, GRH + 64)], wr_id=30 + i))
        qp = a.qp
        qp.wr_start()
        qp.wr_id, qp.wr_flags = 11, e.IBV_SEND_SIGNALED
        qp.wr_send()
        qp.wr_set_ud_addr(ah, b.qpn, QKEY)
        qp.wr_set_sge(src.sge(0, 16))
        qp.wr_id, qp.wr_flags = 12, e.IBV_SEND_SIGNALED
        qp.wr_send_imm(0x0badcafe)
        qp.wr_set_ud_addr(ah, b.qpn, QKEY)
        qp.wr_set_sge(src.sge(0, 4))
        qp.wr_complete()
        self.assertEqual([w.wr_id for w in poll_cq(a.scq, 2)], [11, 12])
        wcs = poll_cq(b.rcq, 2)
        self.assertEqual([w.byte_len for w in wcs], [GRH + 16, GRH + 4])
        # (ibv_wr_send_imm takes it in host order, as rdma-core's tests use it)
        self.assertEqual(socket.ntohl(wcs[1].imm_data), 0x0badcafe)

    def test_qp_ex_ops_refused(self):
        ops = e.IBV_QP_EX_WITH_SEND | e.IBV_QP_EX_WITH_RDMA_WRITE
        self.assertRDMAError(errno.EOPNOTSUPP, self.side, qp_type=UD,
                             cap=ud_cap(), ex=True, send_ops=ops)

    # ------------------------------------------------ loss, destroy, AHs

    def test_flood_without_receives_then_recover(self):
        a, b, ah = self.pair_up(sig_all=0)
        n = 3000
        src = a.buf(256)
        wr = send_wr(e.IBV_WR_SEND, [src.sge(0, 256)], flags=0)
        wr.set_wr_ud(ah, b.qpn, QKEY)
        for _ in range(n):
            a.qp.post_send(wr)
        # then a marker, and receives: the marker must arrive (whatever
        # of the flood is lost), and nothing fails
        src2 = a.buf(8)
        src2.write(0, b'MARKER!!')
        rlen = GRH + 256
        b.rbuf = b.buf(64 * rlen)
        for i in range(64):
            b.qp.post_recv(recv_wr([b.rbuf.sge(i * rlen, rlen)], wr_id=i))
        self.send(a, ah, b.qpn, b'MARKER!!', wr_id=99)
        poll_cq(a.scq, 1)
        got, deadline = 0, time.monotonic() + 10
        while time.monotonic() < deadline:
            n_, wcs = b.rcq.poll(16)
            for w in wcs[:n_]:
                self.assertWC(w, opcode=e.IBV_WC_RECV)
                got += 1
                off = w.wr_id * rlen
                if b.rbuf.read(off + GRH, 8) == b'MARKER!!':
                    self.assertLessEqual(got, n + 1)
                    self.assertEqual(b.state(), e.IBV_QPS_RTS)
                    return
                b.qp.post_recv(recv_wr([b.rbuf.sge(off, rlen)],
                                       wr_id=w.wr_id))
        self.fail('marker not received after %d messages' % got)

    def test_destroy_with_traffic(self):
        a, b, ah = self.pair_up(sig_all=0)
        for i in range(32):
            b.qp.post_recv(recv_wr([b.rbuf.sge(0, GRH + 64)], wr_id=i))
        src = a.buf(64)
        wr = send_wr(e.IBV_WR_SEND, [src.sge(0, 64)], flags=0)
        wr.set_wr_ud(ah, b.qpn, QKEY)
        for _ in range(500):
            a.qp.post_send(wr)
        qpn = b.qpn
        b.qp.close()
        # the sender carries on: its sends complete, to nobody
        for _ in range(200):
            a.qp.post_send(wr)
        self.send(a, ah, qpn, b'late', wr_id=5)
        self.assertWC(poll_cq(a.scq, 1)[0], wr_id=5)
        self.assertEqual(a.state(), e.IBV_QPS_RTS)

    def test_bad_ah(self):
        s = self.ud()
        gr = GlobalRoute(dgid=gid0(self.ctx), sgid_index=0)
        # no GRH: RoCE needs one
        self.assertRDMAError(errno.EINVAL, AH, s.pd,
                             attr=AHAttr(port_num=PORT, is_global=0))
        # an empty GID table entry names no source address
        n = self.ctx.query_port(PORT).gid_tbl_len
        empty = [i for i in range(n)
                 if str(self.ctx.query_gid(PORT, i)) in ('::', '0000:0000:'
                                                         '0000:0000:0000:'
                                                         '0000:0000:0000')]
        if empty:
            gr2 = GlobalRoute(dgid=gid0(self.ctx), sgid_index=empty[0])
            self.assertRDMAError(errno.EINVAL, AH, s.pd,
                                 attr=AHAttr(port_num=PORT, is_global=1,
                                             gr=gr2))
        # an AH of another context is refused at post (bad_wr)
        ctx2, _ = self.other_context()
        o = self.ud(ctx=ctx2)
        other = AH(o.pd, attr=AHAttr(port_num=PORT, is_global=1, gr=gr))
        self._keep.append(other)
        b = s.buf(8)
        wr = send_wr(e.IBV_WR_SEND, [b.sge(0, 8)])
        wr.set_wr_ud(other, o.qpn, QKEY)
        self.assertRDMAError(errno.EINVAL, s.qp.post_send, wr)
        # a remote QPN beyond 24 bits
        wr.set_wr_ud(self.ah(s), 1 << 24, QKEY)
        self.assertRDMAError(errno.EINVAL, s.qp.post_send, wr)

    def test_hostile_datagrams_dropped(self):
        """Anything but a well-formed datagram for this QP, in the
        device's mode, under its Q_Key, is dropped without a trace; the QP
        carries on. (A plain datagram is the control in psp off, and
        dropped in the secured modes: it has no tag.)"""
        a, b, ah = self.pair_up()
        b.qp.post_recv(recv_wr([b.rbuf.sge(0, b.rbuf.length)], wr_id=7))
        good = dict(dst_qpn=b.qpn, src_qpn=0x4200, qkey=QKEY, len=4)
        bad = [
            b'', b'RTUD', rtcp_wire.pack_ud_hdr(**good),       # short
            rtcp_wire.pack_ud_hdr(**good) + b'abcde',           # long
            rtcp_wire.pack_ud_hdr(**dict(good, magic=1)) + b'abcd',
            rtcp_wire.pack_ud_hdr(**dict(good, version=9)) + b'abcd',
            rtcp_wire.pack_ud_hdr(**dict(good, opcode=7)) + b'abcd',
            rtcp_wire.pack_ud_hdr(**dict(good, flags=2)) + b'abcd',
            rtcp_wire.pack_ud_hdr(**dict(good, dst_qpn=b.qpn + 1)) + b'abcd',
            rtcp_wire.pack_ud_hdr(**dict(good, qkey=QKEY + 1)) + b'abcd',
            rtcp_wire.pack_ud_hdr(**dict(good, len=self.mtu + 1)) +
            bytes(self.mtu + 1),
            rtcp_wire.pack_ud_hdr(**dict(good, mode=1)) + b'abcd',
            rtcp_wire.pack_ud_hdr(**dict(good, mode=1)) + b'abcd' + bytes(16),
        ]
        plain = rtcp_wire.pack_ud_hdr(**good) + b'abcd'
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            for d in bad + ([plain] if TAG else []):
                u.sendto(d, ('127.0.0.1', b.qpn >> 8))
            self.assertEqual(poll_quiet(b.rcq, QUIET), [])
            if not TAG:
                u.sendto(plain, ('127.0.0.1', b.qpn >> 8))
                wc = poll_cq(b.rcq, 1)[0]
                self.assertWC(wc, wr_id=7)
                self.assertEqual((wc.src_qp, wc.byte_len), (0x4200, GRH + 4))
                self.assertEqual(b.rbuf.read(GRH, 4), b'abcd')
                b.qp.post_recv(recv_wr([b.rbuf.sge(0, b.rbuf.length)],
                                       wr_id=8))
        wc = self.roundtrip(a, b, ah, b'still here') if TAG else None
        if not TAG:
            self.send(a, ah, b.qpn, b'still here')
            poll_cq(a.scq, 1)
            wc = poll_cq(b.rcq, 1)[0]
        self.assertWC(wc, opcode=e.IBV_WC_RECV)
        self.assertEqual(b.state(), e.IBV_QPS_RTS)

    def test_only_to_the_device_gids(self):
        """A datagram sent to an address of the host that is not one of
        the device's GIDs (127.0.0.2 on lo) is not taken."""
        if (ipaddress.IPv6Address(str(gid0(self.ctx))) !=
                ipaddress.IPv6Address('::ffff:127.0.0.1')):
            self.skipTest('needs the device on lo')
        a, b, _ = self.pair_up()
        b.qp.post_recv(recv_wr([b.rbuf.sge(0, b.rbuf.length)], wr_id=7))
        other = self.ah(a, dgid=GID(
            ipaddress.IPv6Address('::ffff:127.0.0.2').exploded))
        self.send(a, other, b.qpn, b'elsewhere')
        poll_cq(a.scq, 1)
        self.assertEqual(poll_quiet(b.rcq, QUIET), [])
        wc = self.roundtrip(a, b, self.ah(a), b'here')
        self.assertEqual(b.rbuf.read(GRH, 4), b'here')
        self.assertWC(wc, wr_id=7)

    def test_across_contexts(self):
        ctx2, _ = self.other_context()
        a = self.ud()
        b = self.ud(ctx=ctx2)
        b.rbuf = b.buf(GRH + 64)
        wc = self.roundtrip(a, b, self.ah(a), b'ctx')
        self.assertEqual(wc.src_qp, a.qpn)

    # ------------------------------------------------------ the QPN, ports

    def test_qpn_names_held_ports(self):
        s = self.ud()
        port = s.qpn >> 8
        self.assertEqual(s.qpn & 0xff, 0)
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as t:
                with self.assertRaises(OSError) as cm:
                    t.bind(('127.0.0.1', port))
                self.assertEqual(cm.exception.errno, errno.EADDRINUSE)
        # an RC QP of the same context never gets the number
        rc = self.side()
        self.assertNotEqual(rc.qpn >> 8, port)


if __name__ == '__main__':
    unittest.main()
