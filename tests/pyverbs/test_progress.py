# SPDX-License-Identifier: MIT
"""Who reads a QP's socket, and when: the application inside ibv_poll_cq
(while it polls fast), or the engine thread. The modes that move the work
into the application hold acks back and keep the engine away from the
socket; these tests check that nothing is left waiting when the
application stops doing what the mode expects -- a held-back ack still
reaches the requester, a peer's WRITE still lands while the application
spins on memory or sleeps -- and that the bytes are right.

Bounds are loose (liveness, not speed: the machine is shared); the
benchmarks measure speed (tests/bench/run)."""

import os
import subprocess
import time
import unittest

import pyverbs.enums as e
from pyverbs.qp import QPCap

from pyverbs.cq import CQ

from qp_case import QPCase
from qp_helpers import connect, poll_cq, rand_bytes, recv_wr, send_wr

WRITE = e.IBV_WR_RDMA_WRITE


def write(src, dst, off, data, wr_id, flags=e.IBV_SEND_SIGNALED):
    """Posts an RDMA WRITE of data from src's buffer into dst's."""
    src.b.write(off, data)
    src.qp.post_send(send_wr(WRITE, [src.b.sge(off, len(data))],
                             wr_id=wr_id, flags=flags, rkey=dst.b.rkey,
                             raddr=dst.b.addr + off))


def wait_bytes(buf, off, data, timeout):
    """Spins on memory, as ib_write_lat does (no verb call), until the bytes
    are there; returns the time it took."""
    t0 = time.monotonic()
    while buf.read(off, len(data)) != data:
        if time.monotonic() - t0 > timeout:
            raise AssertionError('bytes not placed after %.1f s' % timeout)
    return time.monotonic() - t0


def engine_sleeps():
    """Voluntary context switches of this process's engine threads: one a
    sleep, so one a wake-up."""
    total = 0
    for tid in os.listdir('/proc/self/task'):
        try:
            with open('/proc/self/task/%s/comm' % tid) as f:
                if f.read().strip() != 'rdma-tcp-engine':
                    continue
            with open('/proc/self/task/%s/status' % tid) as f:
                for line in f:
                    if line.startswith('voluntary_ctxt_switches:'):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass  # a thread that ended meanwhile
    return total


def pin_process(cpus):
    """Sets the CPUs every thread of this process (engines included) may
    run on; returns the set the calling thread had."""
    before = os.sched_getaffinity(0)
    for tid in os.listdir('/proc/self/task'):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except (ProcessLookupError, FileNotFoundError):
            pass  # a thread that ended meanwhile
    return before


class TestProgress(QPCase):

    def two(self, **kw):
        """Two RC QPs in two contexts (two engines), a 64 KiB buffer each,
        with no receives posted: one-sided requesters."""
        ctx_b, _ = self.other_context()
        a, b = self.pair(ctx_b=ctx_b, **kw)
        a.b, b.b = a.buf(65536), b.buf(65536)
        return a, b

    def test_write_ping_pong(self):
        """ib_write_lat's loop from one thread: A writes and polls its
        completion, then B does. Each side's engine holds the ack of the
        WRITE it placed for the side's own next WRITE to carry; here the
        answer comes only after the other side's completion, so every
        ack goes by the engine once the lease runs out instead. Every byte lands, every
        WRITE completes."""
        a, b = self.two()
        t0 = time.monotonic()
        for i in range(300):
            data = rand_bytes(64, i)
            off = (i * 64) % 65536
            src, dst = (a, b) if i % 2 == 0 else (b, a)
            write(src, dst, off, data, wr_id=i)
            wc = poll_cq(src.scq, 1, timeout=5)[0]
            self.assertWC(wc, wr_id=i, opcode=e.IBV_WC_RDMA_WRITE)
            wait_bytes(dst.b, off, data, timeout=5)
        self.assertLess(time.monotonic() - t0, 30)

    def test_held_ack_reaches_a_silent_requester(self):
        """B becomes a one-sided requester in a latency loop (its engine
        then holds acks for B's next WRITE), then falls silent: A's WRITE
        into B must still complete, sent by B's engine once B's lease runs
        out."""
        a, b = self.two()
        for i in range(50):
            write(b, a, 0, rand_bytes(8, i), wr_id=i)
            poll_cq(b.scq, 1, timeout=5)
        data = rand_bytes(4096, 99)
        t0 = time.monotonic()
        write(a, b, 4096, data, wr_id=0xa)
        wc = poll_cq(a.scq, 1, timeout=5)[0]
        self.assertWC(wc, wr_id=0xa, opcode=e.IBV_WC_RDMA_WRITE)
        self.assertEqual(b.b.read(4096, 4096), data)
        # a lease (1 ms), far from the 5 s a lost ack costs
        self.assertLess(time.monotonic() - t0, 1.0)

    def wakes_while_b_polls(self, b, spin_ms):
        """B posts a receive and polls its receive CQ in a spin for spin_ms
        (nothing comes); returns how often the engines woke meanwhile."""
        b.qp.post_recv(recv_wr([b.b.sge(0, 64)], wr_id=1))
        b.rcq.poll(1)  # the first poll starts the mode
        before = engine_sleeps()
        end = time.monotonic() + spin_ms / 1000
        while time.monotonic() < end:
            self.assertEqual(b.rcq.poll(1)[0], 0)
        return engine_sleeps() - before

    def send_to_silent_b(self, a, b, seed):
        """B has stopped polling: A's SEND into B's receive of
        wakes_while_b_polls is still received and acked, within a second,
        with no call of B's."""
        data = rand_bytes(64, seed)
        a.b.write(0, data)
        t0 = time.monotonic()
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [a.b.sge(0, 64)], wr_id=2))
        self.assertWC(poll_cq(a.scq, 1, timeout=5)[0], wr_id=2,
                      opcode=e.IBV_WC_SEND)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual(b.b.read(0, 64), data)
        self.assertWC(poll_cq(b.rcq, 1, timeout=5)[0], wr_id=1,
                      opcode=e.IBV_WC_RECV)

    def test_a_spinning_receiver_lets_the_engine_sleep(self):
        """B polls its receive CQ in a spin, so it reads its socket itself
        and its engine only has to notice when it stops (the lease). The
        engines sleep meanwhile: a tick of 1 ms woke B's onto the CPU B
        spins on once a millisecond (~300 wake-ups here); the coarse tick
        wakes it every 8 ms. Then B stops polling: its engine takes the
        socket back, and A's SEND is received and acked with no call of
        B's."""
        a, b = self.two()
        spin_ms = 300
        woke = self.wakes_while_b_polls(b, spin_ms)
        self.assertLess(woke, spin_ms / 2,
                        'the engines woke %d times in %d ms of B\'s polls'
                        % (woke, spin_ms))
        self.send_to_silent_b(a, b, 3)

    def test_a_receiver_sharing_its_cpu_keeps_the_engine_ticking(self):
        """B polls its receive CQ in a spin as above, but a busy process
        shares the one CPU this process (engines included) may use, and
        takes it from B for time slices of several milliseconds. B was not
        silent, only kept from its CPU: its QP takes the engine's 1 ms
        tick meanwhile, a wake-up on that CPU that lets the scheduler give
        it back to B a tick later (without it the busy process keeps it
        for a whole slice). The engines wake far more often than beside
        an idle CPU; then B stops polling, and A's SEND is still received
        and acked."""
        a, b = self.two()
        cpu = min(os.sched_getaffinity(0))
        saved = pin_process({cpu})
        self.addCleanup(pin_process, saved)
        hog = subprocess.Popen(['sh', '-c', 'while :; do :; done'],
                               preexec_fn=lambda: os.sched_setaffinity(
                                   0, {cpu}))
        self.addCleanup(hog.wait)
        self.addCleanup(hog.kill)
        spin_ms = 300
        woke = self.wakes_while_b_polls(b, spin_ms)
        self.assertGreater(woke, spin_ms * 2 / 3,
                           'the engines woke %d times in %d ms of B\'s '
                           'polls beside a busy process' % (woke, spin_ms))
        hog.kill()
        self.send_to_silent_b(a, b, 4)

    def test_a_receiver_polling_another_cq_lets_go_of_this_one(self):
        """B's QPs 1 and 2 feed CQs of their own, and B polls both in a
        spin (it reads both sockets itself), then QP 1's only: QP 2's
        socket must go back to its engine within about a lease (QP 1's
        looks do not renew the lease while QP 2 does not look), so that
        A's SEND into QP 2 is received and acked. Ten rounds: the median
        wait stays far under the 8 ms of the coarse tick, which took such
        a socket back before."""
        ctx_b, _ = self.other_context()
        a1, b1 = self.pair(ctx_b=ctx_b)
        a2, b2 = self.pair(ctx_b=ctx_b)
        b1.b, a2.b, b2.b = b1.buf(4096), a2.buf(4096), b2.buf(4096)
        b1.qp.post_recv(recv_wr([b1.b.sge(0, 64)], wr_id=1))
        waits = []
        for i in range(10):
            b2.qp.post_recv(recv_wr([b2.b.sge(0, 64)], wr_id=100 + i))
            end = time.monotonic() + 0.02
            while time.monotonic() < end:  # both QPs in the mode
                self.assertEqual(b1.rcq.poll(1)[0], 0)
                self.assertEqual(b2.rcq.poll(1)[0], 0)
            data = rand_bytes(64, i)
            a2.b.write(0, data)
            t0 = time.monotonic()
            a2.qp.post_send(send_wr(e.IBV_WR_SEND, [a2.b.sge(0, 64)],
                                    wr_id=i))
            while True:  # B polls QP 1's CQ only
                self.assertEqual(b1.rcq.poll(1)[0], 0)
                n, wcs = a2.scq.poll(1)
                if n:
                    break
                self.assertLess(time.monotonic() - t0, 5, 'no ack')
            waits.append(time.monotonic() - t0)
            self.assertWC(wcs[0], wr_id=i, opcode=e.IBV_WC_SEND)
            self.assertWC(poll_cq(b2.rcq, 1, timeout=5)[0], wr_id=100 + i,
                          opcode=e.IBV_WC_RECV)
            self.assertEqual(b2.b.read(0, 64), data)
        waits.sort()
        self.assertLess(waits[len(waits) // 2], 0.005,
                        'waits (ms): %s' % [round(w * 1000, 2) for w in waits])

    def test_peer_write_lands_while_the_app_spins_on_memory(self):
        """A requester that polled its send CQ to completion and then
        spins on memory (no verb call) still gets the peer's WRITE placed:
        the engine serves its socket again."""
        a, b = self.two()
        for i in range(20):
            write(a, b, 0, rand_bytes(8, i), wr_id=i)
            poll_cq(a.scq, 1, timeout=5)
        data = rand_bytes(1000, 7)
        write(b, a, 8192, data, wr_id=0xb)
        took = wait_bytes(a.b, 8192, data, timeout=5)
        self.assertLess(took, 1.0)
        self.assertWC(poll_cq(b.scq, 1, timeout=5)[0], wr_id=0xb)

    def test_bandwidth_requester_bytes(self):
        """A bandwidth loop (many WRITEs in flight, polled in batches: the
        poller reads its own acks and backs off empty reads) moves every
        byte to the right place."""
        a, b = self.two()
        total, done, posted = 2000, 0, 0
        while done < total:
            while posted < total and posted - done < 64:
                write(a, b, posted * 32, rand_bytes(32, posted),
                      wr_id=posted)
                posted += 1
            n, wcs = a.scq.poll(16)
            for wc in wcs[:n]:
                self.assertWC(wc, wr_id=done)
                done += 1
        # 2000 x 32 B: each WRITE has its own place in the 64 KiB
        for i in range(total):
            self.assertEqual(b.b.read(i * 32, 32), rand_bytes(32, i),
                             'WRITE %d' % i)

    def test_large_writes_outrun_the_socket_then_the_poller_stops(self):
        """24 MiB of WRITEs outrun the socket while the requester polls
        fast (its passes send what waits for room; the engine does not
        watch for room then), then the requester stops polling and spins
        on the peer's memory: the rest must still go -- from the engine,
        driven by the acks it reads once it has the socket back, or by
        room -- and every byte lands in place."""
        ctx_b, _ = self.other_context()
        cap = QPCap(max_send_wr=32, max_recv_wr=1, max_send_sge=1,
                    max_recv_sge=1)
        a, b = self.pair(ctx_b=ctx_b, cap=cap, sq_sig_all=0)
        n, size = 24, 1 << 20
        a.b, b.b = a.buf(size), b.buf(n * size)
        a.b.write(0, rand_bytes(size, 7))
        for i in range(n):
            a.qp.post_send(send_wr(WRITE, [a.b.sge(0, size)], wr_id=i,
                                   flags=0, rkey=b.b.rkey,
                                   raddr=b.b.addr + i * size))
        # poll fast for a while (the QP enters the application-driven
        # mode), then stop polling altogether
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.002:
            a.scq.poll(1)
        last = rand_bytes(size, 7)[-64:]
        took = wait_bytes(b.b, n * size - 64, last, timeout=10)
        self.assertLess(took, 5.0)
        for i in range(n):
            self.assertEqual(b.b.read(i * size, size), rand_bytes(size, 7),
                             'WRITE %d' % i)

    def test_moderated_window_then_a_silent_burst(self):
        """perftest's bandwidth loop: a 128-WR window, one WRITE in 100
        signaled (the provider holds a window's small WRs for one sendmsg
        and sends at once at the signaled one). Then, after that stream of
        bursts, a burst with no signaled WR and no poll after it: the
        application spins on the peer's memory, and the held-back WRs must
        still go (the engine's kick), not wait for a poll that never
        comes."""
        cap = QPCap(max_send_wr=128, max_recv_wr=1, max_send_sge=1,
                    max_recv_sge=1)
        a, b = self.two(cap=cap, sq_sig_all=0)
        total, window, mod = 3000, 128, 100
        posted = acked = 0
        t0 = time.monotonic()
        while acked < total:
            while posted < total and posted + 1 - acked <= window:
                last = posted % mod == mod - 1 or posted == total - 1
                write(a, b, (posted * 16) % 65536,
                      rand_bytes(16, posted), wr_id=posted,
                      flags=e.IBV_SEND_SIGNALED if last else 0)
                posted += 1
            n, wcs = a.scq.poll(4)
            for wc in wcs[:n]:
                self.assertWC(wc, opcode=e.IBV_WC_RDMA_WRITE)
                acked = wc.wr_id + 1
            self.assertLess(time.monotonic() - t0, 30, 'window stalled')
        # the last 4096 WRITEs' worth of the 64 KiB holds the newest bytes
        for i in range(total - 4096 if total > 4096 else 0, total):
            self.assertEqual(b.b.read((i * 16) % 65536, 16),
                             rand_bytes(16, i), 'WRITE %d' % i)
        for i in range(20):
            write(a, b, 65536 - 320 + 16 * i, rand_bytes(16, 10000 + i),
                  wr_id=10000 + i, flags=0)
        took = wait_bytes(b.b, 65536 - 16, rand_bytes(16, 10019), timeout=5)
        self.assertLess(took, 1.0)
        for i in range(20):
            self.assertEqual(b.b.read(65536 - 320 + 16 * i, 16),
                             rand_bytes(16, 10000 + i))

    def test_many_send_qps_into_one_receive_cq(self):
        """ib_send_bw -q 8's shape: 8 SEND requesters, their receivers on
        one receive CQ, a receiver that takes a few completions a poll and
        reposts each receive. The CQ falls behind the wire (the provider
        then stops reading until it drains) and credits come back as the
        receives are reposted: every message arrives once, in order per
        QP, with the right bytes, and no requester stalls."""
        ctx_b, _ = self.other_context()
        nqp, depth, total, size = 8, 32, 600, 16
        rcq = CQ(ctx_b, nqp * depth)
        self._keep.append(rcq)
        cap = QPCap(max_send_wr=64, max_recv_wr=depth, max_send_sge=1,
                    max_recv_sge=1)
        pairs = []
        for q in range(nqp):
            a = self.side(cap=cap, sq_sig_all=0)
            b = self.side(ctx=ctx_b, cap=cap, rcq=rcq)
            connect(a, b)
            a.b, b.b = a.buf(total * size), b.buf(depth * size)
            for i in range(total):
                a.b.write(i * size, rand_bytes(size, q * 100000 + i))
            for j in range(depth):
                b.qp.post_recv(recv_wr([b.b.sge(j * size, size)],
                                       wr_id=q * 1000 + j))
            pairs.append((a, b))
        by_qpn = {b.qpn: q for q, (a, b) in enumerate(pairs)}
        posted = [0] * nqp
        acked = [0] * nqp
        got = [0] * nqp
        t0 = time.monotonic()
        while min(got) < total:
            self.assertLess(time.monotonic() - t0, 60, 'stalled: %s' % got)
            for q, (a, b) in enumerate(pairs):
                while posted[q] < total and posted[q] - acked[q] < 48:
                    i = posted[q]
                    sig = i % 16 == 15 or i == total - 1
                    a.qp.post_send(send_wr(
                        e.IBV_WR_SEND, [a.b.sge(i * size, size)],
                        wr_id=i, flags=e.IBV_SEND_SIGNALED if sig else 0))
                    posted[q] += 1
                n, wcs = a.scq.poll(4)
                for wc in wcs[:n]:
                    self.assertWC(wc, opcode=e.IBV_WC_SEND)
                    acked[q] = wc.wr_id + 1
            n, wcs = rcq.poll(3)
            for wc in wcs[:n]:
                self.assertWC(wc, opcode=e.IBV_WC_RECV)
                q = by_qpn[wc.qp_num]
                b = pairs[q][1]
                j = wc.wr_id - q * 1000
                self.assertEqual(b.b.read(j * size, size),
                                 rand_bytes(size, q * 100000 + got[q]),
                                 'QP %d message %d' % (q, got[q]))
                got[q] += 1
                b.qp.post_recv(recv_wr([b.b.sge(j * size, size)],
                                       wr_id=wc.wr_id))
        self.assertEqual(got, [total] * nqp)


if __name__ == '__main__':
    unittest.main()
