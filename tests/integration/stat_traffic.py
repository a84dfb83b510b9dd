# SPDX-License-Identifier: MIT
"""Traffic with known totals for test_stat.sh: an RC pair of one context
sends N messages of S bytes, does W RDMA writes and R RDMA reads of S
bytes and A fetch-and-adds, all from A's side into B's region, then prints
"ready QPN_A QPN_B" and holds the QPs until stdin closes (so that
`rdma-tcp stat` sees them alive). Usage: stat_traffic.py N W S [R A]"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'pyverbs'))

import pyverbs.enums as e  # noqa: E402
from qp_helpers import (Side, connect, open_context, poll_cq,  # noqa: E402
                        recv_wr, send_wr)


def main():
    n, w, size = (int(x) for x in sys.argv[1:4])
    r, atomics = (int(x) for x in (sys.argv[4:6] or (0, 0)))
    ctx, _ = open_context()
    a, b = Side(ctx), Side(ctx)
    connect(a, b)
    src, dst = a.buf(size), b.buf(size)
    for i in range(n):
        b.qp.post_recv(recv_wr([dst.sge(0, size)], wr_id=i))
        a.qp.post_send(send_wr(e.IBV_WR_SEND, [src.sge(0, size)], wr_id=i))
        poll_cq(a.scq, 1)
        poll_cq(b.rcq, 1)
    for i in range(w):
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_WRITE, [src.sge(0, size)],
                               rkey=dst.rkey, raddr=dst.addr))
        poll_cq(a.scq, 1)
    for i in range(r):
        a.qp.post_send(send_wr(e.IBV_WR_RDMA_READ, [src.sge(0, size)],
                               rkey=dst.rkey, raddr=dst.addr))
        poll_cq(a.scq, 1)
    for i in range(atomics):
        a.qp.post_send(send_wr(e.IBV_WR_ATOMIC_FETCH_AND_ADD,
                               [src.sge(0, 8)], rkey=dst.rkey,
                               raddr=dst.addr, compare_add=1))
        poll_cq(a.scq, 1)
    print('ready %d %d' % (a.qpn, b.qpn), flush=True)
    sys.stdin.read()


if __name__ == '__main__':
    main()
