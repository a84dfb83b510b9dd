# SPDX-License-Identifier: MIT
"""Control-path verbs of a tcp device through Debian's stock pyverbs.

Run with the system interpreter (python3-pyverbs exists only for it), with
the device registered and the environment of `rdma-tcp env` applied:

    eval "$(rdma-tcp env)"
    RDMA_TCP_DEV=tcp0 /usr/bin/python3 -m unittest -v tests/pyverbs/test_control.py

Environment: see rtcp_verbs.py (RDMA_TCP_DEV, RDMA_TCP_NETDEV, RDMA_TCP_GID0).
Later suites (queue pairs) build on rtcp_verbs.DeviceCase the same way.
"""

import ctypes
import errno
import ipaddress
import mmap
import os
import select
import socket
import stat
import sys
import unittest

PROT_NONE = 0  # <sys/mman.h>; Python's mmap module lacks the name

import pyverbs.enums as e
from pyverbs.cq import CQ, CQEX, CqInitAttrEx, PollCqAttr
from pyverbs.device import Context, get_device_list, guid_format
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsError, PyverbsRDMAError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtcp_verbs import (  # noqa: E402
    DEV, GID0, NETDEV, PAGE, PORT, UNSUPPORTED_WC_FLAGS, DeviceCase,
    IbvAsyncEvent, RawContext, access_combo, access_valid, gid_addr,
    ib_mtu_for, libc, libverbs, netdev_ipv6, netdev_mtu, open_fds,
    raw_mmap, registry_attr, threads)


class TestContext(unittest.TestCase):
    def test_device_listed(self):
        names = [d.name.decode() for d in get_device_list()]
        self.assertIn(DEV, names)

    def test_open_close(self):
        ctx = Context(name=DEV)
        self.assertEqual(ctx.name, DEV)
        ctx.close()
        ctx.close()  # a second close is a no-op in pyverbs

    def test_two_contexts_at_once(self):
        a = Context(name=DEV)
        b = Context(name=DEV)
        try:
            self.assertNotEqual(a.cmd_fd, b.cmd_fd)
            pa, pb = PD(a), PD(b)
            pa.close()
            pb.close()
        finally:
            a.close()
            b.close()

    def test_unknown_device(self):
        with self.assertRaises(PyverbsError):
            Context(name=DEV + '-no-such-device')

    def test_open_close_releases_fds_and_threads(self):
        # Warm up (libibverbs caches the device list on first use)
        Context(name=DEV).close()
        fds, nthr = open_fds(), threads()
        for _ in range(50):
            ctx = Context(name=DEV)
            pd = PD(ctx)
            mr = MR(pd, 4096, e.IBV_ACCESS_LOCAL_WRITE)
            cq = CQ(ctx, 16)
            cq.close()
            mr.close()
            pd.close()
            ctx.close()
        self.assertEqual(open_fds(), fds, 'file descriptors leaked')
        self.assertEqual(threads(), nthr, 'threads left running')

    def test_cmd_fd_is_device_node(self):
        ctx = Context(name=DEV)
        try:
            st = os.fstat(ctx.cmd_fd)
            self.assertTrue(stat.S_ISCHR(st.st_mode))
        finally:
            ctx.close()


class TestQuery(DeviceCase):
    def test_query_device(self):
        a = self.attr
        for field in ('max_qp', 'max_qp_wr', 'max_sge', 'max_cq', 'max_cqe',
                      'max_mr', 'max_pd', 'max_mr_size', 'max_qp_rd_atom',
                      'max_qp_init_rd_atom', 'max_res_rd_atom', 'max_srq',
                      'max_srq_wr', 'max_srq_sge', 'max_ah', 'max_pkeys',
                      'page_size_cap'):
            self.assertGreater(getattr(a, field), 0, field)
        self.assertGreaterEqual(a.max_qp_rd_atom, 8)
        self.assertGreaterEqual(a.max_qp_init_rd_atom, 8)
        self.assertEqual(a.atomic_caps, e.IBV_ATOMIC_HCA)
        self.assertEqual(a.phys_port_cnt, 1)
        self.assertEqual(a.vendor_part_id, 0x7c70)
        self.assertEqual(a.vendor_id, 0xffffff)
        self.assertGreaterEqual(a.max_sge_rd, 1)
        self.assertNotEqual(a.node_guid, 0, 'node GUID is zero')
        self.assertTrue(a.device_cap_flags & e.IBV_DEVICE_PORT_ACTIVE_EVENT)

    def test_node_guid_matches_registry(self):
        reg = registry_attr('node_guid')
        if reg is None:
            self.skipTest('SYSFS_PATH not set')
        # node_guid is big-endian in memory; guid_format swaps it
        self.assertEqual(guid_format(self.attr.node_guid), reg)

    def test_query_device_ex(self):
        ax = self.ctx.query_device_ex()
        self.assertEqual(ax.phys_port_cnt_ex, 1)
        o = ax.orig_attr
        for field in ('max_qp', 'max_qp_wr', 'max_sge', 'max_cqe',
                      'max_mr_size', 'max_qp_rd_atom', 'atomic_caps',
                      'vendor_part_id', 'max_pd', 'max_mr'):
            self.assertEqual(getattr(o, field), getattr(self.attr, field),
                             field)

    def test_query_port(self):
        p = self.port
        self.assertEqual(p.state, e.IBV_PORT_ACTIVE)
        self.assertEqual(p.phys_state, 5)  # LinkUp
        self.assertEqual(p.link_layer, e.IBV_LINK_LAYER_ETHERNET)
        self.assertEqual(p.active_mtu, ib_mtu_for(netdev_mtu(NETDEV)))
        self.assertGreaterEqual(p.max_mtu, p.active_mtu)
        self.assertGreater(p.gid_tbl_len, 0)
        self.assertGreaterEqual(p.pkey_tbl_len, 1)
        self.assertGreater(p.max_msg_sz, 0)
        self.assertIn(p.active_width, (1, 2, 4, 8, 16))
        self.assertNotEqual(p.active_speed, 0)

    def test_query_bad_port(self):
        for port in (0, 2, 255):
            self.assertRDMAError(errno.EINVAL, self.ctx.query_port, port)

    def test_query_gid_0(self):
        gid = gid_addr(self.ctx.query_gid(PORT, 0))
        self.assertNotEqual(gid, ipaddress.IPv6Address('::'))
        if GID0:
            self.assertEqual(gid, ipaddress.IPv6Address(GID0))

    def test_query_gid_every_index(self):
        n = self.port.gid_tbl_len
        gids = [gid_addr(self.ctx.query_gid(PORT, i)) for i in range(n)]
        zero = ipaddress.IPv6Address('::')
        valid = [g for g in gids if g != zero]
        self.assertEqual(len(valid), len(set(valid)), 'duplicate GIDs')
        # valid entries are packed at the front, as in a kernel GID table
        self.assertEqual(gids[:len(valid)], valid)
        self.assertIn(ipaddress.IPv6Address('::ffff:127.0.0.1') if
                      NETDEV == 'lo' else gids[0], valid)
        for v6 in netdev_ipv6(NETDEV):
            self.assertIn(v6, valid, 'IPv6 address %s has no GID' % v6)

    def test_query_gid_out_of_range(self):
        n = self.port.gid_tbl_len
        with self.assertRaises(PyverbsRDMAError):
            self.ctx.query_gid(PORT, n)

    def test_query_gid_type(self):
        self.assertEqual(self.ctx.query_gid_type(PORT, 0),
                         e.IBV_GID_TYPE_SYSFS_ROCE_V2)

    def test_query_gid_ex(self):
        ent = self.ctx.query_gid_ex(PORT, 0)
        self.assertEqual(ent.gid_type, e.IBV_GID_TYPE_ROCE_V2)
        self.assertEqual(ent.gid_index, 0)
        self.assertEqual(ent.port_num, PORT)
        self.assertEqual(ent.ndev_ifindex, socket.if_nametoindex(NETDEV))
        self.assertEqual(ipaddress.IPv6Address(ent.gid_str()),
                         gid_addr(self.ctx.query_gid(PORT, 0)))

    def test_query_gid_table(self):
        n = self.port.gid_tbl_len
        table = self.ctx.query_gid_table(n)
        self.assertGreater(len(table), 0)
        expect = {gid_addr(self.ctx.query_gid(PORT, i)) for i in range(n)}
        expect.discard(ipaddress.IPv6Address('::'))
        got = set()
        for ent in table:
            self.assertEqual(ent.port_num, PORT)
            self.assertEqual(ent.gid_type, e.IBV_GID_TYPE_ROCE_V2)
            got.add(ipaddress.IPv6Address(ent.gid_str()))
        self.assertEqual(got, expect)

    def test_query_pkey(self):
        self.assertEqual(self.ctx.query_pkey(PORT, 0), 0xffff)


class TestPD(DeviceCase):
    def test_alloc_dealloc(self):
        pds = [PD(self.ctx) for _ in range(64)]
        for pd in pds:
            pd.close()

    def test_dealloc_with_mr_is_ebusy(self):
        # pyverbs' PD.close() closes the PD's MRs first, so the verbs are
        # called directly to see what an application sees.
        buf = raw_mmap(PAGE, mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            with RawContext() as raw:
                pd = raw.alloc_pd()
                mr, err = raw.reg_mr(pd, buf, PAGE, e.IBV_ACCESS_LOCAL_WRITE)
                self.assertTrue(mr, 'ibv_reg_mr: errno %d' % err)
                self.assertEqual(raw.dealloc_pd(pd), errno.EBUSY)
                self.assertEqual(raw.dealloc_pd(pd), errno.EBUSY)
                # the MR is intact and can go, then the PD
                self.assertEqual(raw.dereg_mr(mr), 0)
                self.assertEqual(raw.dealloc_pd(pd), 0)
        finally:
            libc.munmap(buf, PAGE)

    def test_dealloc_with_pyverbs_mr(self):
        # The pyverbs way: closing the PD takes its MRs with it.
        pd = PD(self.ctx)
        mr = MR(pd, 4096, e.IBV_ACCESS_LOCAL_WRITE)
        pd.close()
        mr.close()  # already closed through the PD: a no-op


class TestMR(DeviceCase):
    def setUp(self):
        super().setUp()
        self.pd = PD(self.ctx)

    def test_access_combinations(self):
        live, keys = [], set()
        valid = 0
        for bits in range(32):
            acc = access_combo(bits)
            if access_valid(acc):
                valid += 1
                mr = MR(self.pd, 4096, acc)
                self.assertEqual(mr.lkey, mr.rkey, 'access %#x' % acc)
                self.assertNotEqual(mr.lkey, 0, 'access %#x' % acc)
                self.assertNotIn(mr.lkey, keys, 'key reused')
                keys.add(mr.lkey)
                live.append(mr)
            else:
                self.assertRDMAError(errno.EINVAL, MR, self.pd, 4096, acc)
        self.assertEqual(valid, 20)
        for mr in live:
            mr.close()

    def test_on_demand_unsupported(self):
        self.assertRDMAError(errno.EOPNOTSUPP, MR, self.pd, 4096,
                             e.IBV_ACCESS_LOCAL_WRITE |
                             e.IBV_ACCESS_ON_DEMAND)

    def test_unknown_access_bit(self):
        self.assertRDMAError(errno.EINVAL, MR, self.pd, 4096,
                             e.IBV_ACCESS_LOCAL_WRITE | (1 << 12))

    def test_zero_length(self):
        # Valid, as on rxe (test_conformance: zero-byte access to one)
        buf = raw_mmap(PAGE, mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            with RawContext() as raw:
                pd = raw.alloc_pd()
                mr, err = raw.reg_mr(pd, buf, 0, e.IBV_ACCESS_LOCAL_WRITE)
                self.assertTrue(mr, 'ibv_reg_mr(len 0): errno %d' % err)
                self.assertEqual(raw.dereg_mr(mr), 0)
        finally:
            libc.munmap(buf, PAGE)

    def test_null_address(self):
        with RawContext() as raw:
            pd = raw.alloc_pd()
            for acc in (0, e.IBV_ACCESS_LOCAL_WRITE):
                mr, err = raw.reg_mr(pd, None, PAGE, acc)
                self.assertFalse(mr)
                self.assertEqual(err, errno.EFAULT)

    def test_unmapped_range(self):
        # Inaccessible pages (PROT_NONE) stand for "not mapped": a real
        # munmap'ed hole can be mapped again at once by another thread
        # (the provider's engine, the sanitizer's allocator), which made
        # this test racy. The provider treats both the same way: no
        # readable mapping covers the range -> EFAULT.
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                                  ctypes.c_int]
        buf = raw_mmap(4 * PAGE, PROT_NONE)
        try:
            self.assertRDMAError(errno.EFAULT, MR, self.pd, 4 * PAGE,
                                 e.IBV_ACCESS_LOCAL_WRITE, address=buf)
        finally:
            libc.munmap(buf, 4 * PAGE)
        # partly accessible: the last page is not
        buf = raw_mmap(4 * PAGE, mmap.PROT_READ | mmap.PROT_WRITE)
        self.assertEqual(libc.mprotect(buf + 3 * PAGE, PAGE,
                                       PROT_NONE), 0)
        try:
            self.assertRDMAError(errno.EFAULT, MR, self.pd, 4 * PAGE, 0,
                                 address=buf)
            mr = MR(self.pd, 3 * PAGE, e.IBV_ACCESS_LOCAL_WRITE, address=buf)
            mr.close()
        finally:
            libc.munmap(buf, 4 * PAGE)

    def test_read_only_memory(self):
        buf = raw_mmap(2 * PAGE, mmap.PROT_READ)
        try:
            for acc in (e.IBV_ACCESS_LOCAL_WRITE,
                        e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE,
                        e.IBV_ACCESS_LOCAL_WRITE |
                        e.IBV_ACCESS_REMOTE_ATOMIC):
                self.assertRDMAError(errno.EFAULT, MR, self.pd, 2 * PAGE,
                                     acc, address=buf)
            mr = MR(self.pd, 2 * PAGE, e.IBV_ACCESS_REMOTE_READ, address=buf)
            mr.close()
        finally:
            libc.munmap(buf, 2 * PAGE)

    def test_rereg_keeps_keys(self):
        if not hasattr(MR, 'rereg'):
            self.skipTest('pyverbs has no MR.rereg')
        # As rxe and mlx5: a rereg keeps lkey and rkey (test_conformance
        # checks what the kept key then reaches).
        mr = MR(self.pd, 8192, e.IBV_ACCESS_LOCAL_WRITE)
        key = mr.lkey
        for acc in (e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE,
                    e.IBV_ACCESS_REMOTE_READ,
                    e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_ATOMIC):
            mr.rereg(e.IBV_REREG_MR_CHANGE_ACCESS, self.pd, 0, 0, acc)
            self.assertEqual((mr.lkey, mr.rkey), (key, key))
        # moved to another PD: same key, and the old PD is free
        pd2 = PD(self.ctx)
        mr.rereg(e.IBV_REREG_MR_CHANGE_PD, pd2, 0, 0, 0)
        self.assertEqual((mr.lkey, mr.rkey), (key, key))
        mr.close()
        pd2.close()

    def test_rereg_invalid_access(self):
        if not hasattr(MR, 'rereg'):
            self.skipTest('pyverbs has no MR.rereg')
        mr = MR(self.pd, 4096, e.IBV_ACCESS_LOCAL_WRITE)
        key = mr.lkey
        # libibverbs reports a provider refusal as IBV_REREG_MR_ERR_CMD,
        # so there is no errno to check
        with self.assertRaises(PyverbsRDMAError):
            mr.rereg(e.IBV_REREG_MR_CHANGE_ACCESS, self.pd, 0, 0,
                     e.IBV_ACCESS_REMOTE_WRITE)
        self.assertEqual(mr.lkey, key, 'failed rereg changed the key')
        mr.close()

    def test_keys_unique_while_registered(self):
        mrs = [MR(self.pd, 64, e.IBV_ACCESS_LOCAL_WRITE |
                  e.IBV_ACCESS_REMOTE_READ) for _ in range(1000)]
        keys = [m.lkey for m in mrs]
        self.assertEqual(len(set(keys)), 1000, 'duplicate keys')
        self.assertNotIn(0, keys)
        self.assertEqual(keys, [m.rkey for m in mrs])
        # free every other one, register again: still no duplicate
        for m in mrs[::2]:
            m.close()
        live = mrs[1::2]
        live += [MR(self.pd, 64, e.IBV_ACCESS_LOCAL_WRITE)
                 for _ in range(500)]
        keys2 = [m.lkey for m in live]
        self.assertEqual(len(set(keys2)), 1000, 'duplicate keys after reuse')
        for m in live:
            m.close()

    def test_keys_change_on_reregistration(self):
        prev = None
        for _ in range(50):
            mr = MR(self.pd, 4096, e.IBV_ACCESS_LOCAL_WRITE)
            key = mr.lkey
            mr.close()
            self.assertNotEqual(key, prev, 'same key right after dereg')
            prev = key

    def tearDown(self):
        self.pd.close()
        super().tearDown()


class TestCQ(DeviceCase):
    def test_create_sizes(self):
        for cqe in (1, 2, 100, 4096):
            cq = CQ(self.ctx, cqe)
            self.assertGreaterEqual(cq.cqe, cqe)
            cq.close()

    def test_create_max_cqe(self):
        cq = CQ(self.ctx, self.attr.max_cqe)
        self.assertGreaterEqual(cq.cqe, self.attr.max_cqe)
        cq.close()

    def test_create_invalid_size(self):
        self.assertRDMAError(errno.EINVAL, CQ, self.ctx, 0)
        self.assertRDMAError(errno.EINVAL, CQ, self.ctx,
                             self.attr.max_cqe + 1)
        self.assertRDMAError(errno.EINVAL, CQ, self.ctx, -1)

    def test_create_invalid_comp_vector(self):
        n = self.ctx.num_comp_vectors
        self.assertGreater(n, 0)
        self.assertRDMAError(errno.EINVAL, CQ, self.ctx, 16, None, None, n)

    def test_poll_empty(self):
        cq = CQ(self.ctx, 16)
        npolled, wcs = cq.poll(4)
        self.assertEqual(npolled, 0)
        self.assertEqual(len(wcs), 0)
        cq.close()

    def test_resize(self):
        cq = CQ(self.ctx, 16)
        cq.resize(1000)
        self.assertGreaterEqual(cq.cqe, 1000)
        cq.resize(4)
        self.assertGreaterEqual(cq.cqe, 4)
        self.assertRDMAError(errno.EINVAL, cq.resize, 0)
        self.assertRDMAError(errno.EINVAL, cq.resize, self.attr.max_cqe + 1)
        self.assertEqual(cq.poll(1)[0], 0)
        cq.close()

    def test_many_cqs(self):
        cqs = [CQ(self.ctx, 8) for _ in range(256)]
        for cq in cqs:
            cq.close()

    def test_cq_ex(self):
        flags = (e.IBV_WC_EX_WITH_BYTE_LEN | e.IBV_WC_EX_WITH_IMM |
                 e.IBV_WC_EX_WITH_QP_NUM | e.IBV_WC_EX_WITH_SRC_QP)
        cq = CQEX(self.ctx, CqInitAttrEx(cqe=64, wc_flags=flags))
        # empty: start_poll reports ENOENT (and holds no lock: no end_poll)
        self.assertEqual(cq.start_poll(PollCqAttr()), errno.ENOENT)
        self.assertEqual(cq.start_poll(PollCqAttr()), errno.ENOENT)
        cq.close()

    def test_cq_ex_unsupported_wc_flags(self):
        for flag in UNSUPPORTED_WC_FLAGS:
            self.assertRDMAError((errno.EOPNOTSUPP, errno.EINVAL), CQEX,
                                 self.ctx,
                                 CqInitAttrEx(cqe=16, wc_flags=flag))

    def test_cq_ex_invalid_size(self):
        self.assertRDMAError(errno.EINVAL, CQEX, self.ctx,
                             CqInitAttrEx(cqe=0))
        self.assertRDMAError(errno.EINVAL, CQEX, self.ctx,
                             CqInitAttrEx(cqe=self.attr.max_cqe + 1))


class TestAsyncFd(unittest.TestCase):
    def test_async_fd_pollable_and_quiet(self):
        with RawContext() as raw:
            fd = raw.async_fd
            self.assertGreaterEqual(fd, 0)
            self.assertNotEqual(fd, raw.cmd_fd,
                                'async_fd is cmd_fd (the libibverbs default '
                                'for a kernel device)')
            st = os.fstat(fd)
            self.assertFalse(stat.S_ISCHR(st.st_mode) or stat.S_ISREG(
                st.st_mode), 'async_fd is not an event queue fd')
            r, _, x = select.select([fd], [], [fd], 0)
            self.assertEqual(r, [], 'async_fd readable with no event')
            self.assertEqual(x, [])
            p = select.poll()
            p.register(fd, select.POLLIN)
            self.assertEqual(p.poll(0), [])

    def test_get_async_event_nonblocking(self):
        # What epoll-driven middleware (UCX) does: make the fd
        # non-blocking, then ibv_get_async_event must report "nothing".
        with RawContext() as raw:
            os.set_blocking(raw.async_fd, False)
            ev = IbvAsyncEvent()
            ctypes.set_errno(0)
            rc = libverbs.ibv_get_async_event(raw.ctx, ctypes.byref(ev))
            self.assertEqual(rc, -1)
            self.assertEqual(ctypes.get_errno(), errno.EAGAIN)

    def test_async_fd_per_context(self):
        with RawContext() as a, RawContext() as b:
            self.assertNotEqual(a.async_fd, b.async_fd)

    def test_async_fd_closed_with_context(self):
        raw = RawContext()
        fd = raw.async_fd
        self.assertIn(fd, open_fds())
        raw.close()
        self.assertNotIn(fd, open_fds())


if __name__ == '__main__':
    unittest.main()
