# SPDX-License-Identifier: MIT
"""rdma_cm's UDP port space on a tcp device (librdmacm-ext/cm_sidr.c,
cm_mcast.c): SIDR through rdma_connect/rdma_accept/rdma_reject, the
events' param.ud, UD QPs made ready by rdma_create_qp, multicast joins.

As the kernel's rdma_cm with the IB CM's SIDR on RoCE:
- CONNECT_REQUEST carries the initiator's private data in param.ud (up
  to 180 bytes), nothing else; the listener gets no event after its
  answer;
- rdma_accept -> ESTABLISHED on the active side: param.ud.qp_num the
  listener's QPN, qkey RDMA_UDP_QKEY, ah_attr global with the peer's GID,
  the private data (up to 136 bytes);
- rdma_reject, or the request's id destroyed -> UNREACHABLE, status 2
  (IB_SIDR_REJECT), with the private data; a listener of the TCP port
  space -> UNREACHABLE, status 1; nobody listening -> UNREACHABLE
  -ECONNREFUSED; no answer -> UNREACHABLE -ETIMEDOUT after 10 s;
- RDMA_PS_IPOIB is InfiniBand's only: EINVAL / ADDR_ERROR -EINVAL;
- MULTICAST_JOIN: ah_attr.grh.dgid ::ffff:a.b.c.d, qp_num 0xFFFFFF,
  qkey RDMA_UDP_QKEY, private_data the join's context.

Run like test_cm.py (the environment of `rdma-tcp env` applied). The
tests that need a UD QP skip where the provider has none.
"""

import ctypes
import errno
import ipaddress
import os
import subprocess
import sys
import time
import unittest

import pyverbs.cm_enums as ce
import pyverbs.enums as e
from pyverbs.cmid import AddrInfo, CMID
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import QPCap, QPInitAttr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtcp_verbs import (IbvQpCap, IbvQpInitAttr, bounded,  # noqa: E402
                        libverbs, preloaded, readable, timer_case,
                        waiting_case)
from test_cm import (ADDR, CmEventC, ConnParamC, cm_c, free_port,  # noqa
                     pattern, sockaddr_in)

_P = ctypes.c_void_p
UDP_QKEY = 0x01234567  # RDMA_UDP_QKEY
SIDR_UNSUPPORTED, SIDR_REJECT = 1, 2
REJ_INVALID_SERVICE_ID = 8
IBV_QPT_UD = 4
IBV_QPS_RTS = 3
DEADLINE = 20  # every expected event comes well within this
QUIET = 0.5  # a window in which an event that must not come would show


class Gid(ctypes.Union):
    """union ibv_gid: 8-byte aligned (its subnet_prefix/interface_id)."""
    _fields_ = [('raw', ctypes.c_uint8 * 16),
                ('words', ctypes.c_uint64 * 2)]


class GlobalRoute(ctypes.Structure):
    _fields_ = [('dgid', Gid), ('flow_label', ctypes.c_uint32),
                ('sgid_index', ctypes.c_uint8),
                ('hop_limit', ctypes.c_uint8),
                ('traffic_class', ctypes.c_uint8)]


class AhAttr(ctypes.Structure):
    _fields_ = [('grh', GlobalRoute), ('dlid', ctypes.c_uint16),
                ('sl', ctypes.c_uint8), ('src_path_bits', ctypes.c_uint8),
                ('static_rate', ctypes.c_uint8),
                ('is_global', ctypes.c_uint8), ('port_num', ctypes.c_uint8)]


class UdParam(ctypes.Structure):
    _fields_ = [('private_data', _P), ('private_data_len', ctypes.c_uint8),
                ('ah_attr', AhAttr), ('qp_num', ctypes.c_uint32),
                ('qkey', ctypes.c_uint32)]


class CmEventUdC(ctypes.Structure):
    """struct rdma_cm_event with param.ud."""
    _fields_ = [('id', _P), ('listen_id', _P), ('event', ctypes.c_int),
                ('status', ctypes.c_int), ('ud', UdParam)]


class JoinAttrEx(ctypes.Structure):
    _fields_ = [('comp_mask', ctypes.c_uint32),
                ('join_flags', ctypes.c_uint32), ('addr', _P)]


# struct rdma_cm_id: verbs, channel, context, qp, ...
class CmIdHead(ctypes.Structure):
    _fields_ = [('verbs', _P), ('channel', _P), ('context', _P),
                ('qp', _P)]


# struct ibv_qp: context, qp_context, pd, send_cq, recv_cq, srq, handle,
# qp_num
class QpHead(ctypes.Structure):
    _fields_ = [('ptrs', _P * 6), ('handle', ctypes.c_uint32),
                ('qp_num', ctypes.c_uint32)]


for _name, _res, _args in (
        ('rdma_join_multicast', ctypes.c_int, [_P, _P, _P]),
        ('rdma_join_multicast_ex', ctypes.c_int,
         [_P, ctypes.POINTER(JoinAttrEx), _P]),
        ('rdma_leave_multicast', ctypes.c_int, [_P, _P]),
        ('rdma_accept', ctypes.c_int, [_P, ctypes.POINTER(ConnParamC)]),
        ('rdma_disconnect', ctypes.c_int, [_P]),
        ('rdma_create_qp', ctypes.c_int,
         [_P, _P, ctypes.POINTER(IbvQpInitAttr)]),
        ('rdma_destroy_qp', None, [_P])):
    try:
        _f = getattr(cm_c, _name)
    except AttributeError:  # no preload: the suite skips
        continue
    _f.restype = _res
    _f.argtypes = _args
libverbs.ibv_query_qp.argtypes = [_P, _P, ctypes.c_int, _P]


def gid_of(addr):
    return ipaddress.IPv6Address(
        ipaddress.IPv6Address('::ffff:' + addr).packed)


def gid_bytes(gid):
    return ipaddress.IPv6Address(bytes(gid.raw))


@unittest.skipUnless(preloaded(), 'librdmacm-ext is not preloaded '
                     '(eval "$(rdma-tcp env)")')
class UdCase(unittest.TestCase):
    """One event channel for both ends; ids through the C API."""

    def setUp(self):
        self.ch = cm_c.rdma_create_event_channel()
        self.assertTrue(self.ch)
        self.ids = []
        self.unacked = {}
        # a cleanup, not tearDown: the QPs' cleanups, registered later,
        # run before it (an id is destroyed after its QP)
        self.addCleanup(self.close_all)

    def close_all(self):
        # a failed check leaves its event unacked: rdma_destroy_id would
        # wait for it forever
        for ev in list(self.unacked.values()):
            self.ack(ev)
        for cid in reversed(self.ids):
            cm_c.rdma_destroy_id(cid)
        cm_c.rdma_destroy_event_channel(self.ch)

    def new_id(self, ps=ce.RDMA_PS_UDP):
        cid = _P()
        self.assertEqual(cm_c.rdma_create_id(self.ch, ctypes.byref(cid),
                                             None, ps), 0)
        self.ids.append(cid)
        return cid

    def forget(self, cid):
        self.ids = [i for i in self.ids if i.value != cid]

    def event(self, etype, status=0):
        """The next event: etype with status; returned unacked."""
        self.assertTrue(readable(self.ch.contents.fd, DEADLINE),
                        'no event within %d s' % DEADLINE)
        ev = ctypes.POINTER(CmEventUdC)()
        self.assertEqual(cm_c.rdma_get_cm_event(
            self.ch, ctypes.cast(ctypes.byref(ev),
                                 ctypes.POINTER(ctypes.POINTER(CmEventC)))),
            0)
        got = (cm_c.rdma_event_str(ev.contents.event).decode(),
               ev.contents.status)
        self.unacked[ctypes.addressof(ev.contents)] = ev
        self.assertEqual(got, (cm_c.rdma_event_str(etype).decode(), status))
        return ev

    def ack(self, ev):
        self.unacked.pop(ctypes.addressof(ev.contents), None)
        self.assertEqual(cm_c.rdma_ack_cm_event(
            ctypes.cast(ev, ctypes.POINTER(CmEventC))), 0)

    def quiet(self):
        return not readable(self.ch.contents.fd, QUIET)

    def listener(self, ps=ce.RDMA_PS_UDP):
        port = free_port()
        lid = self.new_id(ps)
        src = sockaddr_in(ADDR, port)
        self.assertEqual(cm_c.rdma_bind_addr(lid, ctypes.byref(src)), 0)
        self.assertEqual(cm_c.rdma_listen(lid, 4), 0)
        return lid, port

    def resolved(self, port, ps=ce.RDMA_PS_UDP):
        cid = self.new_id(ps)
        dst = sockaddr_in(ADDR, port)
        self.assertEqual(cm_c.rdma_resolve_addr(cid, None, ctypes.byref(dst),
                                                2000), 0)
        self.ack(self.event(ce.RDMA_CM_EVENT_ADDR_RESOLVED))
        self.assertEqual(cm_c.rdma_resolve_route(cid, 2000), 0)
        self.ack(self.event(ce.RDMA_CM_EVENT_ROUTE_RESOLVED))
        return cid

    def connect(self, cid, pdata=b''):
        buf = (ctypes.c_uint8 * max(1, len(pdata)))(*pdata)
        param = ConnParamC(ctypes.cast(buf, _P), len(pdata), 0, 0, 0, 0, 0,
                           0, 0)
        ctypes.set_errno(0)
        if cm_c.rdma_connect(cid, ctypes.byref(param)):
            return ctypes.get_errno()
        return 0

    def request(self, cid, pdata=b''):
        """connect; the child id and the request's private data."""
        self.assertEqual(self.connect(cid, pdata), 0)
        ev = self.event(ce.RDMA_CM_EVENT_CONNECT_REQUEST)
        ud = ev.contents.ud
        got = ctypes.string_at(ud.private_data, ud.private_data_len)
        # the kernel's SIDR REQ event carries the private data only
        self.assertEqual((ud.qp_num, ud.qkey, ud.ah_attr.is_global),
                         (0, 0, 0))
        child = ev.contents.id
        self.ids.append(_P(child))
        self.ack(ev)
        return child, got

    def accept(self, child, qpn, pdata=b''):
        buf = (ctypes.c_uint8 * max(1, len(pdata)))(*pdata)
        param = ConnParamC(ctypes.cast(buf, _P), len(pdata), 0, 0, 0, 0, 0,
                           0, qpn)
        ctypes.set_errno(0)
        if cm_c.rdma_accept(child, ctypes.byref(param)):
            return ctypes.get_errno()
        return 0


class Sidr(UdCase):

    @bounded()
    def test_accept_gives_qpn_qkey_and_path(self):
        lid, port = self.listener()
        cid = self.resolved(port)
        self.assertEqual(self.connect(cid, bytes(181)), errno.EINVAL)
        child, req = self.request(cid, pattern(180, 1))
        self.assertEqual(req, pattern(180, 1))
        self.assertEqual(self.accept(child, 0x123456, bytes(137)),
                         errno.EINVAL)
        self.assertEqual(self.accept(child, 0x123456, pattern(136, 2)), 0)
        ev = self.event(ce.RDMA_CM_EVENT_ESTABLISHED)
        ud = ev.contents.ud
        self.assertEqual(ev.contents.id, cid.value)
        self.assertEqual((ud.qp_num, ud.qkey), (0x123456, UDP_QKEY))
        self.assertEqual(ctypes.string_at(ud.private_data,
                                          ud.private_data_len),
                         pattern(136, 2))
        ah = ud.ah_attr
        self.assertEqual((ah.is_global, ah.port_num, ah.dlid), (1, 1, 0))
        self.assertEqual(gid_bytes(ah.grh.dgid), gid_of(ADDR))
        self.assertEqual(ah.grh.hop_limit, 64)
        self.ack(ev)
        # SIDR leaves no connection: no event for the listener, none at
        # a disconnect
        self.assertTrue(self.quiet())
        self.assertEqual(cm_c.rdma_disconnect(cid), 0)
        self.assertTrue(self.quiet())
        self.assertEqual(cm_c.rdma_accept(child, None), -1)

    @bounded()
    def test_reject_is_unreachable_with_private_data(self):
        _, port = self.listener()
        cid = self.resolved(port)
        child, _ = self.request(cid, b'hello')
        self.assertEqual(cm_c.rdma_reject(child, bytes(137), 137), -1)
        self.assertEqual(ctypes.get_errno(), errno.EINVAL)
        rej = (ctypes.c_uint8 * 136)(*pattern(136, 3))
        self.assertEqual(cm_c.rdma_reject(child, rej, 136), 0)
        ev = self.event(ce.RDMA_CM_EVENT_UNREACHABLE, SIDR_REJECT)
        ud = ev.contents.ud
        self.assertEqual(ctypes.string_at(ud.private_data,
                                          ud.private_data_len),
                         pattern(136, 3))
        self.ack(ev)

    @bounded()
    def test_request_destroyed_is_reject(self):
        _, port = self.listener()
        cid = self.resolved(port)
        child, _ = self.request(cid)
        self.forget(child)
        self.assertEqual(cm_c.rdma_destroy_id(child), 0)
        self.ack(self.event(ce.RDMA_CM_EVENT_UNREACHABLE, SIDR_REJECT))

    @waiting_case  # the refused request is retried for 2 s
    @bounded()
    def test_no_listener_is_unreachable(self):
        cid = self.resolved(free_port())
        t0 = time.monotonic()
        self.assertEqual(self.connect(cid), 0)
        self.ack(self.event(ce.RDMA_CM_EVENT_UNREACHABLE,
                            -errno.ECONNREFUSED))
        self.assertLess(time.monotonic() - t0, 10)

    @bounded()
    def test_port_spaces_do_not_mix(self):
        # a UD id asking a TCP listener: no such service
        _, port = self.listener(ce.RDMA_PS_TCP)
        cid = self.resolved(port)
        self.assertEqual(self.connect(cid), 0)
        self.ack(self.event(ce.RDMA_CM_EVENT_UNREACHABLE, SIDR_UNSUPPORTED))
        # a connection asked of a UD listener: rejected, as the IB CM
        # rejects a REQ for a service nobody listens on
        _, port = self.listener()
        cid = self.resolved(port, ce.RDMA_PS_TCP)
        buf = (ctypes.c_uint8 * 1)()
        param = ConnParamC(ctypes.cast(buf, _P), 0, 1, 1, 0, 7, 7, 0, 0x42)
        self.assertEqual(cm_c.rdma_connect(cid, ctypes.byref(param)), 0)
        self.ack(self.event(ce.RDMA_CM_EVENT_REJECTED,
                            REJ_INVALID_SERVICE_ID))

    @timer_case
    @bounded()
    def test_unanswered_request_times_out(self):
        _, port = self.listener()
        cid = self.resolved(port)
        t0 = time.monotonic()
        self.request(cid)  # never answered
        self.ack(self.event(ce.RDMA_CM_EVENT_UNREACHABLE, -errno.ETIMEDOUT))
        self.assertGreater(time.monotonic() - t0, 9)

    def test_ipoib_port_space_is_infiniband_only(self):
        cid = self.new_id(ce.RDMA_PS_IPOIB)
        src = sockaddr_in(ADDR, 0)
        ctypes.set_errno(0)
        self.assertEqual(cm_c.rdma_bind_addr(cid, ctypes.byref(src)), -1)
        self.assertEqual(ctypes.get_errno(), errno.EINVAL)
        dst = sockaddr_in(ADDR, free_port())
        self.assertEqual(cm_c.rdma_resolve_addr(cid, None, ctypes.byref(dst),
                                                2000), 0)
        self.ack(self.event(ce.RDMA_CM_EVENT_ADDR_ERROR, -errno.EINVAL))


def ud_qp_attr():
    return IbvQpInitAttr(cap=IbvQpCap(4, 4, 1, 1, 0), qp_type=IBV_QPT_UD)


class UdQp(UdCase):
    """Needs UD QPs from the provider."""

    def create_qp(self, cid):
        attr = ud_qp_attr()
        ctypes.set_errno(0)
        if cm_c.rdma_create_qp(cid, None, ctypes.byref(attr)):
            err = ctypes.get_errno()
            if err in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                self.skipTest('no UD QPs on this device (errno %d)' % err)
            self.fail('rdma_create_qp: errno %d' % err)
        self.addCleanup(cm_c.rdma_destroy_qp, cid)
        return ctypes.cast(cid, ctypes.POINTER(CmIdHead)).contents.qp

    def qp_num(self, qp):
        return ctypes.cast(qp, ctypes.POINTER(QpHead)).contents.qp_num

    @bounded()
    def test_created_ready_with_udp_qkey(self):
        _, port = self.listener()
        cid = self.resolved(port)
        qp = self.create_qp(cid)
        attr = ctypes.create_string_buffer(512)
        init = ctypes.create_string_buffer(256)
        # IBV_QP_STATE | IBV_QP_QKEY
        self.assertEqual(libverbs.ibv_query_qp(qp, attr, 1 | 64, init), 0)
        state, qkey = (int.from_bytes(attr.raw[0:4], 'little'),
                       int.from_bytes(attr.raw[16:20], 'little'))
        self.assertEqual((state, qkey), (IBV_QPS_RTS, UDP_QKEY))

    @bounded()
    def test_accept_sends_the_qps_number(self):
        _, port = self.listener()
        cid = self.resolved(port)
        self.create_qp(cid)
        child, _ = self.request(cid)
        qp = self.create_qp(_P(child))
        self.assertEqual(self.accept(child, 0), 0)
        ev = self.event(ce.RDMA_CM_EVENT_ESTABLISHED)
        self.assertEqual(ev.contents.ud.qp_num, self.qp_num(qp))
        self.ack(ev)


class Multicast(UdCase):

    def bound(self, ps=ce.RDMA_PS_UDP):
        cid = self.new_id(ps)
        src = sockaddr_in(ADDR, 0)
        self.assertEqual(cm_c.rdma_bind_addr(cid, ctypes.byref(src)), 0)
        return cid

    def join(self, cid, group, ctx):
        ctypes.set_errno(0)
        if cm_c.rdma_join_multicast(cid, ctypes.byref(group), ctx):
            return ctypes.get_errno()
        return 0

    @bounded()
    def test_join_event_and_leave(self):
        cid = self.bound()
        group = sockaddr_in('239.1.2.3', 0)
        self.assertEqual(self.join(cid, group, 0x5150), 0)
        ev = self.event(ce.RDMA_CM_EVENT_MULTICAST_JOIN)
        ud = ev.contents.ud
        self.assertEqual(ud.private_data, 0x5150)
        self.assertEqual((ud.qp_num, ud.qkey), (0xffffff, UDP_QKEY))
        self.assertEqual((ud.ah_attr.is_global, ud.ah_attr.port_num), (1, 1))
        self.assertEqual(gid_bytes(ud.ah_attr.grh.dgid),
                         gid_of('239.1.2.3'))
        self.ack(ev)
        self.assertEqual(cm_c.rdma_leave_multicast(cid, ctypes.byref(group)),
                         0)
        self.assertEqual(cm_c.rdma_leave_multicast(cid, ctypes.byref(group)),
                         -1)
        self.assertEqual(ctypes.get_errno(), errno.EADDRNOTAVAIL)

    @bounded()
    def test_leave_drops_unread_join(self):
        cid = self.bound()
        group = sockaddr_in('239.1.2.4', 0)
        self.assertEqual(self.join(cid, group, None), 0)
        self.assertEqual(cm_c.rdma_leave_multicast(cid, ctypes.byref(group)),
                         0)
        self.assertTrue(self.quiet())

    def test_join_refused_as_the_kernel_does(self):
        group = sockaddr_in('239.1.2.5', 0)
        # a TCP id, an id with no address, the wildcard group
        self.assertEqual(self.join(self.bound(ce.RDMA_PS_TCP), group, None),
                         errno.EINVAL)
        self.assertEqual(self.join(self.new_id(), group, None), errno.EINVAL)
        self.assertEqual(self.join(self.bound(), sockaddr_in('0.0.0.0', 0),
                                   None), errno.EINVAL)
        attr = JoinAttrEx(1 | 2, 2, ctypes.cast(ctypes.byref(group), _P))
        ctypes.set_errno(0)
        self.assertEqual(cm_c.rdma_join_multicast_ex(self.bound(),
                                                     ctypes.byref(attr),
                                                     None), -1)
        self.assertEqual(ctypes.get_errno(), errno.EINVAL)

    @bounded()
    def test_join_attaches_the_qp(self):
        cid = self.bound()
        qp = UdQp.create_qp(self, cid)
        group = sockaddr_in('239.1.2.6', 0)
        # what the provider says of the group, on a QP of its own
        mgid = Gid(raw=(ctypes.c_uint8 * 16)(*gid_of('239.1.2.6').packed))
        probe = self.bound()
        pqp = UdQp.create_qp(self, probe)
        libverbs.ibv_attach_mcast.argtypes = [_P, _P, ctypes.c_uint16]
        libverbs.ibv_detach_mcast.argtypes = [_P, _P, ctypes.c_uint16]
        want = libverbs.ibv_attach_mcast(pqp, ctypes.byref(mgid), 0)
        if not want:
            libverbs.ibv_detach_mcast(pqp, ctypes.byref(mgid), 0)
        self.assertEqual(self.join(cid, group, None), 0)
        if want:
            # the provider refuses: the join's event says so
            self.ack(self.event(ce.RDMA_CM_EVENT_MULTICAST_ERROR, -want))
        else:
            self.ack(self.event(ce.RDMA_CM_EVENT_MULTICAST_JOIN))
            # reading the event attached the QP: it can be detached (and
            # is attached again for the leave)
            self.assertEqual(libverbs.ibv_detach_mcast(qp, ctypes.byref(mgid),
                                                       0), 0)
            self.assertEqual(libverbs.ibv_attach_mcast(qp, ctypes.byref(mgid),
                                                       0), 0)
        self.assertEqual(cm_c.rdma_leave_multicast(cid, ctypes.byref(group)),
                         0)
        if not want:
            # the leave detached it: nothing left to detach
            self.assertNotEqual(libverbs.ibv_detach_mcast(
                qp, ctypes.byref(mgid), 0), 0)

    @bounded()
    def test_refused_attach_is_multicast_error(self):
        cid = self.bound()
        qp = UdQp.create_qp(self, cid)
        libverbs.ibv_attach_mcast.argtypes = [_P, _P, ctypes.c_uint16]
        # the QP takes groups until the provider says no (its limit)
        for i in range(1, 256):
            g = Gid(raw=(ctypes.c_uint8 * 16)(
                *gid_of('239.3.0.%d' % i).packed))
            err = libverbs.ibv_attach_mcast(qp, ctypes.byref(g), 0)
            if err:
                break
        else:
            self.skipTest('the provider attached 255 groups to one QP')
        group = sockaddr_in('239.3.1.1', 0)
        self.assertEqual(self.join(cid, group, None), 0)
        self.ack(self.event(ce.RDMA_CM_EVENT_MULTICAST_ERROR, -err))
        # the join stays until left, as librdmacm's
        self.assertEqual(cm_c.rdma_leave_multicast(cid, ctypes.byref(group)),
                         0)


# --- synchronous ids (rdma_create_ep, rdma_get_request): two processes.
# The server runs as `python3 test_cm_ud.py --sync-server ADDR PORT
# accept|reject` and reports on stdout, one line per step.

def ud_init():
    return QPInitAttr(qp_type=e.IBV_QPT_UD,
                      cap=QPCap(max_send_wr=4, max_recv_wr=4,
                                max_send_sge=1, max_recv_sge=1))


def sync_server(addr, port, answer):
    try:
        ai = AddrInfo(src=addr, src_service=port, port_space=ce.RDMA_PS_UDP,
                      flags=ce.RAI_PASSIVE)
        listener = CMID(creator=ai, qp_init_attr=ud_init())
        listener.listen()
        print('listening', flush=True)
        child = listener.get_request()  # its UD QP made by the request
        if answer == 'accept':
            child.accept()  # returns at once: SIDR has nothing to wait for
        else:
            child.reject()
        print('answered %d' % child.qpn, flush=True)
        child.close()
        listener.close()
    except Exception as ex:  # noqa: BLE001 - reported to the parent
        print('server: %r' % ex, flush=True)
        return 1
    return 0


@unittest.skipUnless(preloaded(), 'librdmacm-ext is not preloaded')
class SyncUd(unittest.TestCase):

    def run_pair(self, answer):
        port = str(free_port())
        srv = subprocess.Popen([sys.executable, os.path.abspath(__file__),
                                '--sync-server', ADDR, port, answer],
                               stdout=subprocess.PIPE, text=True)
        self.addCleanup(srv.stdout.close)
        self.addCleanup(lambda: srv.poll() is None and srv.kill())
        self.assertEqual(srv.stdout.readline().strip(), 'listening')
        ai = AddrInfo(src=ADDR, dst=ADDR, dst_service=port,
                      port_space=ce.RDMA_PS_UDP)
        try:
            cmid = CMID(creator=ai, qp_init_attr=ud_init())
        except PyverbsRDMAError as ex:
            srv.kill()
            self.skipTest('no UD QPs on this device (%s)' % ex)
        self.addCleanup(cmid.close)
        err = 0
        try:
            cmid.connect()
        except PyverbsRDMAError as ex:
            err = ex.error_code
        line = srv.stdout.readline().strip()
        self.assertEqual(srv.wait(30), 0, line)
        return err, line

    @bounded()
    def test_sync_accept(self):
        err, line = self.run_pair('accept')
        self.assertEqual(err, 0)
        self.assertRegex(line, r'^answered \d+$')

    @bounded()
    def test_sync_reject_is_enoent(self):
        # UNREACHABLE with status 2: librdmacm's ucma_complete makes it
        # errno 2
        err, _ = self.run_pair('reject')
        self.assertEqual(err, errno.ENOENT)


if __name__ == '__main__':
    if len(sys.argv) == 5 and sys.argv[1] == '--sync-server':
        sys.exit(sync_server(sys.argv[2], sys.argv[3], sys.argv[4]))
    unittest.main()
