# SPDX-License-Identifier: MIT
"""Verbs called where the provider might still hold a lock: inside an
ibv_start_poll/ibv_end_poll window, and from a completion-channel handler
(after ibv_get_cq_event, before the events are acknowledged). None of them
may deadlock; the completions they cause must still be seen.

Each scenario runs in a child interpreter with a deadline: a thread stuck
on a mutex is not interrupted by a Python signal handler, so a hang must
kill the child and fail the test, not hang the suite. In a checked build
(ASan, Debug: lock checking on) a lock taken out of order aborts the child.

    eval "$(rdma-tcp env)"
    RDMA_TCP_DEV=tcp0 /usr/bin/python3 -m unittest -v \\
        tests/pyverbs/test_locks.py
"""

import errno
import os
import subprocess
import sys
import time
import unittest

import pyverbs.enums as e
from pyverbs.addr import AHAttr, GlobalRoute
from pyverbs.cq import CQ, CQEX, CompChannel, CqInitAttrEx, PollCqAttr
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.wr import RecvWR, SendWR, SGE

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtcp_verbs import DEV, PORT  # noqa: E402

CHILD_DEADLINE = 60  # seconds for a whole scenario
WAIT = 10  # seconds for one completion or event
MSG = 64
ACCESS = (e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE |
          e.IBV_ACCESS_REMOTE_READ)
FLUSH = e.IBV_WC_WR_FLUSH_ERR


def rc_qp(pd, scq, rcq):
    cap = QPCap(max_send_wr=32, max_recv_wr=32, max_send_sge=1,
                max_recv_sge=1)
    return QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=scq, rcq=rcq,
                             cap=cap, sq_sig_all=0))


def connect(ctx, a, b):
    """RESET -> RTS on two RC QPs of ctx, each aimed at the other."""
    gid = ctx.query_gid(PORT, 0)
    for q in (a, b):
        at = QPAttr(qp_state=e.IBV_QPS_INIT)
        at.pkey_index = 0
        at.port_num = PORT
        at.qp_access_flags = ACCESS
        q.modify(at, e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT |
                 e.IBV_QP_ACCESS_FLAGS)
    for q, peer in ((a, b), (b, a)):
        at = QPAttr(qp_state=e.IBV_QPS_RTR, path_mtu=e.IBV_MTU_1024)
        at.ah_attr = AHAttr(port_num=PORT, is_global=1,
                            gr=GlobalRoute(dgid=gid, sgid_index=0))
        at.dest_qp_num = peer.qp_num
        at.rq_psn = 0
        at.max_dest_rd_atomic = 1
        at.min_rnr_timer = 12
        q.modify(at, e.IBV_QP_STATE | e.IBV_QP_AV | e.IBV_QP_PATH_MTU |
                 e.IBV_QP_DEST_QPN | e.IBV_QP_RQ_PSN |
                 e.IBV_QP_MAX_DEST_RD_ATOMIC | e.IBV_QP_MIN_RNR_TIMER)
    for q in (a, b):
        at = QPAttr(qp_state=e.IBV_QPS_RTS)
        at.sq_psn = 0
        at.timeout = 14
        at.retry_cnt = 7
        at.rnr_retry = 7
        at.max_rd_atomic = 1
        q.modify(at, e.IBV_QP_STATE | e.IBV_QP_SQ_PSN | e.IBV_QP_TIMEOUT |
                 e.IBV_QP_RETRY_CNT | e.IBV_QP_RNR_RETRY |
                 e.IBV_QP_MAX_QP_RD_ATOMIC)


def send(qp, mr, wr_id):
    qp.post_send(SendWR(wr_id=wr_id, opcode=e.IBV_WR_SEND, num_sge=1,
                        sg=[SGE(mr.buf, MSG, mr.lkey)],
                        send_flags=e.IBV_SEND_SIGNALED))


def recv(qp, mr, wr_id):
    qp.post_recv(RecvWR(wr_id=wr_id, num_sge=1,
                        sg=[SGE(mr.buf, MSG, mr.lkey)]))


def to_state(qp, state):
    qp.modify(QPAttr(qp_state=state), e.IBV_QP_STATE)


def open_window(cq):
    """ibv_start_poll until it returns an entry (the window is then open)."""
    end = time.monotonic() + WAIT
    while True:
        rc = cq.start_poll(PollCqAttr())
        if rc == 0:
            return
        assert rc == errno.ENOENT, 'start_poll: %d' % rc
        assert time.monotonic() < end, 'no completion for start_poll'


def drain_window(cq, seen):
    """ibv_next_poll until the CQ is empty; (wr_id, status) into seen."""
    while cq.poll_next() == 0:
        seen.append((cq.wr_id, cq.status))


def poll_until(cq, want, seen):
    """ibv_poll_cq until the wr_ids in `want` are all in seen."""
    end = time.monotonic() + WAIT
    while not want <= {w for w, _ in seen}:
        n, wcs = cq.poll(8)
        seen.extend((wc.wr_id, wc.status) for wc in wcs[:n])
        assert n or time.monotonic() < end, \
            'missing %s, seen %s' % (want - {w for w, _ in seen}, seen)


def scenario_window():
    """Verbs inside the window of the CQ they complete into: a live post
    (its completion pushed by the post or the engine), query_qp, a poll of
    another CQ, modify to ERR (flushes into the CQ), posts on the QP in
    error; next_poll sees every flush. Then, in a new window, modify to
    RESET (purges the CQ being polled) and destroy the QP."""
    ctx = Context(name=DEV)
    pd = PD(ctx)
    cq = CQEX(ctx, CqInitAttrEx(cqe=64))
    other = CQ(ctx, 64)
    a = rc_qp(pd, cq, cq)
    b = rc_qp(pd, other, other)
    mr = MR(pd, MSG, ACCESS)
    connect(ctx, a, b)
    for i in range(4):
        recv(b, mr, 0x100 + i)
    recv(a, mr, 0xa0)
    send(a, mr, 1)
    open_window(cq)
    seen = [(cq.wr_id, cq.status)]
    send(a, mr, 2)
    a.query(e.IBV_QP_STATE)
    other.poll(4)
    to_state(a, e.IBV_QPS_ERR)
    send(a, mr, 3)
    recv(a, mr, 4)
    drain_window(cq, seen)
    cq.end_poll()
    ids = {w: s for w, s in seen}
    assert ids.get(1) == e.IBV_WC_SUCCESS, seen
    assert ids.get(0xa0) == FLUSH, seen  # flushed by the modify
    assert ids.get(3) == FLUSH and ids.get(4) == FLUSH, seen
    # the live SEND: done before the modify, or flushed by it
    assert ids.get(2) in (e.IBV_WC_SUCCESS, FLUSH), seen
    print('window: post, query, poll, modify ERR, flushes seen', flush=True)

    send(a, mr, 5)
    open_window(cq)
    assert cq.wr_id == 5 and cq.status == FLUSH
    send(a, mr, 6)
    to_state(a, e.IBV_QPS_RESET)  # purges 6 from the CQ being polled
    a.close()
    rest = []
    drain_window(cq, rest)
    cq.end_poll()
    assert rest == [], rest
    print('window: modify RESET, destroy', flush=True)
    b.close()
    mr.close()
    other.close()
    cq.close()
    pd.close()
    ctx.close()


def scenario_channel():
    """A completion-channel handler that calls verbs before it acks: it
    re-arms, polls, posts, fails the QP (a flush that raises the next
    event while the handler runs), waits for that event, acks both,
    destroys the QPs, then the CQ."""
    ctx = Context(name=DEV)
    pd = PD(ctx)
    ch = CompChannel(ctx)
    cq = CQ(ctx, 64, None, ch, 0)
    a = rc_qp(pd, cq, cq)
    b = rc_qp(pd, cq, cq)
    mr = MR(pd, MSG, ACCESS)
    connect(ctx, a, b)
    for i in range(4):
        recv(b, mr, 0x100 + i)
    cq.req_notify()
    send(a, mr, 1)
    ch.get_cq_event(cq)
    # the handler, before ibv_ack_cq_events
    cq.req_notify()
    seen = []
    poll_until(cq, {1, 0x100}, seen)
    send(a, mr, 2)
    poll_until(cq, {2, 0x101}, seen)
    cq.req_notify()
    to_state(a, e.IBV_QPS_ERR)
    send(a, mr, 3)  # flushed: an error completion raises the event
    ch.get_cq_event(cq)
    poll_until(cq, {3}, seen)
    assert (3, FLUSH) in seen, seen
    cq.ack_events(2)
    a.close()
    b.close()
    cq.close()
    ch.close()
    mr.close()
    pd.close()
    ctx.close()
    print('channel: handler verbs, second event, destroy', flush=True)


SCENARIOS = {
    'window': scenario_window,
    'channel': scenario_channel,
}


def preloaded():
    return 'librdmacm-ext' in os.environ.get('LD_PRELOAD', '')


class LockWindows(unittest.TestCase):

    def run_child(self, name):
        try:
            r = subprocess.run([sys.executable, os.path.abspath(__file__),
                                name], capture_output=True, text=True,
                               timeout=CHILD_DEADLINE)
        except subprocess.TimeoutExpired as x:
            self.fail('%s: hung for %d s (killed): %s' %
                      (name, CHILD_DEADLINE, x.stderr))
        self.assertEqual(r.returncode, 0, '%s: exit %d\n%s%s' %
                         (name, r.returncode, r.stdout, r.stderr))
        return r.stdout

    def test_verbs_inside_poll_window(self):
        out = self.run_child('window')
        self.assertIn('window: modify RESET, destroy', out)

    @unittest.skipUnless(preloaded(), 'librdmacm-ext is not preloaded '
                         '(eval "$(rdma-tcp env)")')
    def test_verbs_in_channel_handler(self):
        out = self.run_child('channel')
        self.assertIn('channel: handler verbs, second event, destroy', out)


if __name__ == '__main__':
    if len(sys.argv) == 2 and sys.argv[1] in SCENARIOS:
        SCENARIOS[sys.argv[1]]()
        sys.exit(0)
    unittest.main()
