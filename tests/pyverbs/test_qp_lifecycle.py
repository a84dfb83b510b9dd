# SPDX-License-Identifier: MIT
"""RC and UC QPs (issue 3): creation and its limits, the state machine and
its masks, query, SQD, errors flushing both queues, destroy with work
outstanding, the post_send/post_recv checks, UC data.

How to run them: qp_helpers.py."""

import array
import errno
import fcntl
import os
import struct
import sys
import termios
import time
import unittest

import pyverbs.enums as e
from pyverbs.cq import CQ
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import QP, QPAttr, QPCap, QPEx, QPInitAttr, QPInitAttrEx
from pyverbs.wr import RecvWR, SendWR

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtcp_verbs import PORT, qp_socket  # noqa: E402
from qp_helpers import (Buf, MASK_INIT, MASK_RTR_RC, MASK_RTR_UC,  # noqa: E402
                        MASK_RTS_RC, MASK_RTS_UC, MAX_INLINE, MiB, RC, SLACK,
                        UC, WC_OF, ah_for, connect, gid0, init_attr, poll_cq,
                        poll_quiet, rand_bytes, recv_wr, rtr_attr, rts_attr,
                        send_wr, wait_for, wc_str)
from qp_case import QPCase  # noqa: E402


# ======================================================== 1. QP lifecycle

def unread(sock):
    """Bytes waiting in the socket, unread (FIONREAD)."""
    n = array.array('i', [0])
    fcntl.ioctl(sock, termios.FIONREAD, n)
    return n[0]


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
        application's ibv_wr_tso() etc. would jump to address 0).
        mlx5 and rxe answer EOPNOTSUPP/EINVAL the same way. (Memory
        window ops are supported: test_mw.)"""
        pd = PD(self.ctx)
        cq = CQ(self.ctx, 16)
        cases = [(RC, 'IBV_QP_EX_WITH_TSO'),
                 (UC, 'IBV_QP_EX_WITH_TSO'),
                 (UC, 'IBV_QP_EX_WITH_RDMA_READ'),
                 (UC, 'IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP'),
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

    def test_create_ex_create_flags(self):
        """IBV_QP_INIT_ATTR_CREATE_FLAGS with no flag set asks for nothing
        and is accepted (rdma-core's suite sets the mask at random, flags
        0 on a non-Mellanox device); any flag is EOPNOTSUPP."""
        pd = PD(self.ctx)
        cq = CQ(self.ctx, 16)
        mask = e.IBV_QP_INIT_ATTR_PD | e.IBV_QP_INIT_ATTR_CREATE_FLAGS
        for qp_type in (RC, UC):
            with self.subTest(qp_type=qp_type):
                ia = QPInitAttrEx(qp_type=qp_type, scq=cq, rcq=cq,
                                  cap=QPCap(), pd=pd, comp_mask=mask,
                                  create_flags=0)
                qp = QPEx(self.ctx, ia)
                self.assertEqual(qp.qp_state, e.IBV_QPS_RESET)
                qp.close()
                for flag in (e.IBV_QP_CREATE_BLOCK_SELF_MCAST_LB,
                             e.IBV_QP_CREATE_SCATTER_FCS):
                    ia = QPInitAttrEx(qp_type=qp_type, scq=cq, rcq=cq,
                                      cap=QPCap(), pd=pd, comp_mask=mask,
                                      create_flags=flag)
                    self.assertRDMAError((errno.EOPNOTSUPP,), QPEx,
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

    def _restate(self, s, peer):
        s.qp.modify(QPAttr(qp_state=e.IBV_QPS_RESET), e.IBV_QP_STATE)
        s.to_init()
        s.to_rtr(peer.qpn)
        s.to_rts()

    def test_restate_after_error_either_order(self):
        """Both QPs in error, then each reset and brought back to RTS
        aimed at the other (rdma-core's test_mr_rereg_{pd,addr} do this):
        the one restated first must not be turned away by its peer still
        in error (a NIC's QP in error only drops packets) -- whichever end
        connects. Three rounds per order, ping both ways each time.
        Before: the hello was refused, and the ping failed with
        RETRY_EXC_ERR after the retry budget."""
        a, b = self.pair()
        self._ping(a, b)
        for first, second in ((a, b), (b, a)):
            for rnd in range(3):
                with self.subTest(first=first.qpn, round=rnd):
                    for s in (first, second):
                        s.qp.modify(QPAttr(qp_state=e.IBV_QPS_ERR),
                                    e.IBV_QP_STATE)
                    self._restate(first, second)
                    # load shaping: the hello of whichever end connects
                    # reaches its peer while that one is still in error
                    self.assertEqual(poll_quiet(first.scq, 0.2), [])
                    self._restate(second, first)
                    self._ping(first, second, wr_id=0x80 + rnd)
                    self._ping(second, first, wr_id=0x90 + rnd)

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
                wait_for(lambda: survivor.state() == e.IBV_QPS_ERR)
                self.assertEqual(survivor.state(), e.IBV_QPS_ERR)
                for x in survivor.bufs:
                    x.close()  # dereg does not wait on the dead peer

    def test_qp_numbers_unique(self):
        qpns = {self.side().qpn for _ in range(8)}
        self.assertEqual(len(qpns), 8)
        for q in qpns:
            self.assertLessEqual(q, 0xffffff)

    def test_qp_numbers_not_reused_at_once(self):
        """A destroyed QP's number is not handed out again by the next
        creates (rxe allocates cyclically): a connection or a message
        meant for the old QP must not reach a new one."""
        old = self.side()
        qpn = old.qpn
        old.qp.close()
        fresh = [self.side().qpn for _ in range(16)]
        self.assertNotIn(qpn, fresh)
        self.assertEqual(len(set(fresh)), 16)

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
        wait_for(lambda: b.state() == e.IBV_QPS_ERR, interval=0.01)
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

    def _send_then_end_receiver(self, end):
        """A SEND reaches B's socket while B's application reads it itself
        (it polled its receive CQ: the engine does not watch the socket
        then), and B ends its QP before reading it: `end` moves it to ERR
        or destroys it. A NIC acked the SEND on arrival: A's completes
        with success, not with an error when B's connection closes
        (docs/design.md, "Ending a QP")."""
        a, b = self.pair()
        abuf, bbuf = a.buf(4096), b.buf(4096)
        # one message first: the connection is up
        b.qp.post_recv(recv_wr([bbuf.sge(0, 64)], wr_id=0x76))
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [abuf.sge(0, 1)], wr_id=0xf))
        poll_cq(a.scq, 1, what='the first SEND')
        poll_cq(b.rcq, 1, what='the first receive')
        sock = qp_socket(b.qp.qp_num, a.qp.qp_num)
        self.assertIsNotNone(sock, "B's socket")
        self.addCleanup(sock.close)
        abuf.write(0, b'last words')
        b.qp.post_recv(recv_wr([bbuf.sge(0, 64)], wr_id=0x77))
        # polls fast enough that B's application keeps its socket
        for _ in range(300):
            b.rcq.poll(1)
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [abuf.sge(0, 10)],
                               wr_id=0x10))
        a.scq.poll(1)  # a poll ends A's burst: the SEND goes
        if unread(sock) <= 0:
            self.skipTest("the SEND did not wait unread in B's socket")
        end(b)
        wc = poll_cq(a.scq, 1, what='the SEND B took')[0]
        self.assertWC(wc, e.IBV_WC_SUCCESS)
        return b

    def test_err_takes_what_arrived(self):
        """...and at B the receive completes with the message, before
        the move to ERR flushes what is left."""
        b = self._send_then_end_receiver(
            lambda b: b.qp.modify(QPAttr(qp_state=e.IBV_QPS_ERR),
                                  e.IBV_QP_STATE))
        wc = poll_cq(b.rcq, 1, what="B's receive")[0]
        self.assertWC(wc, e.IBV_WC_SUCCESS)
        self.assertEqual((wc.wr_id, wc.byte_len), (0x77, 10))

    def test_destroy_takes_what_arrived(self):
        self._send_then_end_receiver(lambda b: b.qp.close())

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
                    wait_for(lambda: dst.read(off, n) == data,
                             interval=0.001)
                self.assertEqual(dst.read(off, n), data)
                self.assertEqual(dst.read(off + n, 10), b'\xa5' * 10)
                self.assertEqual(dst.read(0, off), b'\xa5' * off)


if __name__ == '__main__':
    unittest.main()
