# SPDX-License-Identifier: MIT
"""rdma_cm on a tcp device through librdmacm-ext, with Debian's stock
pyverbs.cmid (CMID, CMEventChannel, CMEvent, AddrInfo, ConnParam).

Run with the system interpreter, the device registered and the environment
of `rdma-tcp env` applied (it preloads librdmacm-ext):

    eval "$(rdma-tcp env)"
    RDMA_TCP_DEV=tcp0 /usr/bin/python3 -m unittest -v tests/pyverbs/test_cm.py

Both ends run in this process for the asynchronous style (one event channel
each, driven in turn); the synchronous style (NULL channel: every call
blocks until its outcome) needs two processes: this file also runs as the
server (--sync-server). Every test is bounded by an alarm: a
missing event fails the test instead of hanging the suite.

Environment: see rtcp_verbs.py; RDMA_TCP_CM_ADDR overrides the IPv4 address
used (default 127.0.0.1 on lo, else the netdev's first IPv4 address).
"""

import ctypes
import errno
import fcntl
import os
import socket
import struct
import subprocess
import sys
import time
import unittest

import pyverbs.cm_enums as ce
import pyverbs.enums as e
from pyverbs.cmid import AddrInfo, CMEvent, CMEventChannel, CMID, ConnParam
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import QPCap, QPInitAttr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtcp_verbs import (DEV, NETDEV, bounded, libverbs,  # noqa: E402
                        preloaded, qp_socket, readable, registry_attr,
                        waiting_case)

CONSUMER_REJECT = 28  # IB CM reject reason, as librdmacm reports it
MSG = 1024
RDMA_OPTION_ID_TOS = 0  # librdmacm's value; pyverbs has no name for it
DEADLINE = 20  # seconds: what must happen comes well within this


def netdev_ipv4(ifname):
    """First IPv4 address of ifname (SIOCGIFADDR)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        req = struct.pack('256s', ifname.encode()[:15])
        res = fcntl.ioctl(s.fileno(), 0x8915, req)  # SIOCGIFADDR
        return socket.inet_ntoa(res[20:24])
    finally:
        s.close()


ADDR = os.environ.get('RDMA_TCP_CM_ADDR') or (
    '127.0.0.1' if NETDEV == 'lo' else netdev_ipv4(NETDEV))


def cm_ports_taken():
    """rdma_cm ports reserved in this network namespace: they are virtual
    (abstract unix names "rdma-tcp-cm/PS/PORT[/listen]", cm_port.c), so
    the kernel's TCP ports say nothing of them."""
    taken = set()
    with open('/proc/net/unix') as f:
        for line in f:
            name = line.split()[-1]
            if name.startswith('@rdma-tcp-cm/'):
                taken.add(int(name.split('/')[2]))
    return taken


def free_port(family=socket.AF_INET):
    """A port free as a TCP port and as an rdma_cm port: bind(0) may hand
    out the number an rdma_cm listener of this process holds."""
    taken = cm_ports_taken()
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind(('', 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port


# rdma_cm ports are virtual: rdma_connect goes to the device's control
# port and sends a routing prefix first (librdmacm-ext/cm_proto.h).
ROUTE = struct.Struct('!IBBHHH')  # magic, version, 0, ps, dport, sport
ROUTE_MAGIC = 0x52544352  # "RTCR"
ROUTE_OK, ROUTE_NONE = 1, 2
CM_PORT = int(registry_attr('tcp_cm_port') or 4791)


def control_listener():
    """A raw peer's listener on the control port, bound to ADDR itself:
    connections to ADDR come here before any wildcard control listener of
    the preload (SO_REUSEPORT, the same user)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((ADDR, CM_PORT))
    s.listen(4)
    return s


def recv_n(conn, n):
    data = b''
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError('closed after %d of %d bytes' %
                                  (len(data), n))
        data += chunk
    return data


def route_accept(lsock, port, ps, timeout):
    """Accepts a control connection on a control_listener(), checks its
    routing prefix asks for rdma_cm port PORT of port space PS, and
    answers OK, as the preload's router does."""
    conn, _ = lsock.accept()
    conn.settimeout(timeout)
    magic, version, zero, cps, dport, _ = ROUTE.unpack(recv_n(conn,
                                                              ROUTE.size))
    if (magic, version, zero, cps, dport) != (ROUTE_MAGIC, 1, 0, ps, port):
        conn.close()
        raise AssertionError('routing prefix %r' %
                             ((magic, version, zero, cps, dport),))
    conn.sendall(bytes([ROUTE_OK]))
    return conn


def routed(port, timeout, ps=ce.RDMA_PS_TCP):
    """A plain TCP connection the preload's router has routed to the
    rdma_cm listener of PORT (what a stranger reaches)."""
    s = socket.create_connection((ADDR, CM_PORT), timeout=timeout)
    s.sendall(ROUTE.pack(ROUTE_MAGIC, 1, 0, ps, port, 0))
    if recv_n(s, 1) != bytes([ROUTE_OK]):
        s.close()
        raise AssertionError('not routed to port %d' % port)
    return s


def qp_init(max_wr=16):
    return QPInitAttr(qp_type=e.IBV_QPT_RC,
                      cap=QPCap(max_send_wr=max_wr, max_recv_wr=max_wr,
                                max_send_sge=1, max_recv_sge=1))


def pattern(n, seed):
    return bytes((seed + i * 7) & 0xff for i in range(n))


def qp_socket_tos(qpn, peer_qpn, want, deadline=DEADLINE):
    """The DSCP bits of the TOS of QP `qpn`'s own TCP socket, polled
    until they are `want` or the deadline passes (then what they are).
    A QPN is its listener's port << 8 | slot; the smaller QPN connects
    to the larger's port, the larger accepts on it. The connection is
    made in the background after RTR, and an accepted socket gets its
    QP's TOS only when the peer's hello has named the QP."""
    end = time.monotonic() + deadline
    seen = None
    while time.monotonic() < end:
        s = qp_socket(qpn, peer_qpn)
        if s:
            with s:
                tos = (s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS)
                       if s.family == socket.AF_INET6 else
                       s.getsockopt(socket.IPPROTO_IP, socket.IP_TOS))
            seen = tos & ~3  # the kernel owns TCP's ECN bits
        if seen == want:
            break
        time.sleep(0.05)
    if seen is None:
        raise AssertionError('no socket of QP %#x' % qpn)
    return seen


def conn_param(pdata=b'', **kw):
    p = ConnParam(data_len=len(pdata), **kw)
    if pdata:
        p.set_private_data(pdata)
    return p


# --- the C view, for what pyverbs does not expose (the channel's fd,
# rdma_get_devices): dlsym in the global scope finds the preload first ---
cm_c = ctypes.CDLL(None, use_errno=True)
_P = ctypes.c_void_p


class EventChannelC(ctypes.Structure):
    _fields_ = [('fd', ctypes.c_int)]


class CmEventC(ctypes.Structure):
    """struct rdma_cm_event up to its status."""
    _fields_ = [('id', _P), ('listen_id', _P), ('event', ctypes.c_int),
                ('status', ctypes.c_int)]


class SockaddrIn(ctypes.Structure):
    _fields_ = [('family', ctypes.c_ushort), ('port', ctypes.c_ushort),
                ('addr', ctypes.c_uint8 * 4), ('zero', ctypes.c_uint8 * 8)]


class ConnParamC(ctypes.Structure):
    _fields_ = [('private_data', _P), ('private_data_len', ctypes.c_uint8),
                ('responder_resources', ctypes.c_uint8),
                ('initiator_depth', ctypes.c_uint8),
                ('flow_control', ctypes.c_uint8),
                ('retry_count', ctypes.c_uint8),
                ('rnr_retry_count', ctypes.c_uint8),
                ('srq', ctypes.c_uint8), ('qp_num', ctypes.c_uint32)]


class CmEventFullC(ctypes.Structure):
    """struct rdma_cm_event with param.conn."""
    _fields_ = [('id', _P), ('listen_id', _P), ('event', ctypes.c_int),
                ('status', ctypes.c_int), ('conn', ConnParamC)]


class QpInitAttrC(ctypes.Structure):
    """struct ibv_qp_init_attr"""
    _fields_ = [('qp_context', _P), ('send_cq', _P), ('recv_cq', _P),
                ('srq', _P), ('max_send_wr', ctypes.c_uint32),
                ('max_recv_wr', ctypes.c_uint32),
                ('max_send_sge', ctypes.c_uint32),
                ('max_recv_sge', ctypes.c_uint32),
                ('max_inline_data', ctypes.c_uint32),
                ('qp_type', ctypes.c_int), ('sq_sig_all', ctypes.c_int)]


class QpAttrC(ctypes.Structure):
    """struct ibv_qp_attr: qp_state, eight more u32 and the cap (5 u32),
    then the address vector at byte 56, 8-aligned, whose grh is dgid (16
    bytes), flow_label, sgid_index, hop_limit, traffic_class (byte 22)."""
    _fields_ = [('qp_state', ctypes.c_int), ('u32s', ctypes.c_uint32 * 13),
                ('grh', ctypes.c_uint8 * 24), ('rest', ctypes.c_uint8 * 64)]

    @property
    def traffic_class(self):
        return self.grh[22]


assert ctypes.sizeof(QpAttrC) == 144
IBV_QPS_RTR = 2
IBV_QP_AV = 1 << 7


def c_qp(cid):
    """rdma_cm_id.qp (its 4th pointer)."""
    return _P(ctypes.cast(cid, ctypes.POINTER(_P))[3])


def c_qpn(cid):
    """rdma_cm_id.qp->qp_num (ibv_qp's 14th u32)."""
    return ctypes.cast(c_qp(cid), ctypes.POINTER(ctypes.c_uint32))[13]


def c_qp_tclass(cid):
    """The traffic class of the id's QP, as ibv_query_qp says."""
    attr, init = QpAttrC(), QpInitAttrC()
    assert libverbs.ibv_query_qp(c_qp(cid), ctypes.byref(attr), IBV_QP_AV,
                                 ctypes.byref(init)) == 0
    return attr.traffic_class


def sockaddr_in(addr, port):
    return SockaddrIn(socket.AF_INET, socket.htons(port),
                      (ctypes.c_uint8 * 4)(*socket.inet_aton(addr)))


for _name, _res, _args in (
        ('rdma_create_event_channel', ctypes.POINTER(EventChannelC), []),
        ('rdma_destroy_event_channel', None, [ctypes.POINTER(EventChannelC)]),
        ('rdma_create_id', ctypes.c_int,
         [ctypes.POINTER(EventChannelC), ctypes.POINTER(_P), _P,
          ctypes.c_int]),
        ('rdma_destroy_id', ctypes.c_int, [_P]),
        ('rdma_resolve_addr', ctypes.c_int, [_P, _P, _P, ctypes.c_int]),
        ('rdma_resolve_route', ctypes.c_int, [_P, ctypes.c_int]),
        ('rdma_bind_addr', ctypes.c_int, [_P, _P]),
        ('rdma_listen', ctypes.c_int, [_P, ctypes.c_int]),
        ('rdma_connect', ctypes.c_int, [_P, ctypes.POINTER(ConnParamC)]),
        ('rdma_reject', ctypes.c_int, [_P, _P, ctypes.c_uint8]),
        ('rdma_accept', ctypes.c_int, [_P, ctypes.POINTER(ConnParamC)]),
        ('rdma_create_qp', ctypes.c_int,
         [_P, _P, ctypes.POINTER(QpInitAttrC)]),
        ('rdma_destroy_qp', None, [_P]),
        ('rdma_get_src_port', ctypes.c_uint16, [_P]),
        ('rdma_init_qp_attr', ctypes.c_int, [_P, _P, _P]),
        ('rdma_set_option', ctypes.c_int,
         [_P, ctypes.c_int, ctypes.c_int, _P, ctypes.c_size_t]),
        ('rdma_get_dst_port', ctypes.c_uint16, [_P]),
        ('rdma_get_cm_event', ctypes.c_int,
         [ctypes.POINTER(EventChannelC),
          ctypes.POINTER(ctypes.POINTER(CmEventC))]),
        ('rdma_ack_cm_event', ctypes.c_int, [ctypes.POINTER(CmEventC)]),
        ('rdma_get_devices', ctypes.POINTER(_P), [ctypes.POINTER(ctypes.c_int)]),
        ('rdma_free_devices', None, [ctypes.POINTER(_P)]),
        ('rdma_event_str', ctypes.c_char_p, [ctypes.c_int])):
    try:
        _f = getattr(cm_c, _name)
    except AttributeError:  # no preload: the suite skips
        continue
    _f.restype = _res
    _f.argtypes = _args


class Peer:
    """One end of an asynchronous connection: its event channel and ids."""

    def __init__(self):
        self.channel = CMEventChannel()
        self.ids = []

    def new_id(self):
        cmid = CMID(creator=self.channel)
        self.ids.append(cmid)
        return cmid

    def expect(self, etype):
        """The next event, which must be `etype`; returned unacked."""
        ev = CMEvent(self.channel)
        if ev.event_type != etype:
            got = ev.event_str()
            ev.close()
            raise AssertionError('expected %s, got %s' %
                                 (cm_c.rdma_event_str(etype).decode(), got))
        return ev

    def close(self):
        for cmid in reversed(self.ids):
            cmid.close()
        self.ids = []
        self.channel.close()


@unittest.skipUnless(preloaded(), 'librdmacm-ext is not preloaded '
                     '(eval "$(rdma-tcp env)")')
class AsyncConnection(unittest.TestCase):
    """Both ends in this process, each with its own event channel."""

    addr = ADDR
    family = socket.AF_INET

    def setUp(self):
        self.port = str(free_port(self.family))
        self.srv = Peer()
        self.cli = Peer()
        self.listener = self.srv.new_id()
        self.listener.bind_addr(AddrInfo(src=self.addr,
                                         src_service=self.port,
                                         port_space=ce.RDMA_PS_TCP,
                                         flags=ce.RAI_PASSIVE))
        self.listener.listen(backlog=4)

    def tearDown(self):
        self.cli.close()
        self.srv.close()

    def resolve(self, port=None):
        """A client id with address and route resolved, QP created."""
        cmid = self.cli.new_id()
        cmid.resolve_addr(AddrInfo(dst=self.addr,
                                   dst_service=port or self.port,
                                   port_space=ce.RDMA_PS_TCP))
        self.cli.expect(ce.RDMA_CM_EVENT_ADDR_RESOLVED).close()
        cmid.resolve_route()
        self.cli.expect(ce.RDMA_CM_EVENT_ROUTE_RESOLVED).close()
        cmid.create_qp(qp_init())
        return cmid

    def request(self, cmid, pdata=b'', **kw):
        """connect(); returns (server-side child id, its request's data)."""
        cmid.connect(conn_param(pdata, **kw))
        ev = self.srv.expect(ce.RDMA_CM_EVENT_CONNECT_REQUEST)
        data = ev.private_data
        child = CMID(creator=ev, listen_id=self.listener)
        self.srv.ids.append(child)
        ev.close()
        return child, data

    def connect(self, req_data=b'', rep_data=b''):
        cmid = self.resolve()
        child, got_req = self.request(cmid, req_data)
        child.create_qp(qp_init())
        child.accept(conn_param(rep_data))
        ev = self.cli.expect(ce.RDMA_CM_EVENT_ESTABLISHED)
        got_rep = ev.private_data
        ev.close()
        self.srv.expect(ce.RDMA_CM_EVENT_ESTABLISHED).close()
        return cmid, child, got_req, got_rep

    @bounded()
    def test_private_data_delivered_intact(self):
        req = pattern(56, 1)
        rep = pattern(196, 2)
        _, _, got_req, got_rep = self.connect(req, rep)
        self.assertEqual(got_req, req)
        self.assertEqual(got_rep, rep)

    @bounded()
    def test_private_data_limits(self):
        cmid = self.resolve()
        with self.assertRaises(PyverbsRDMAError) as cm:
            cmid.connect(conn_param(pattern(57, 3)))
        self.assertEqual(cm.exception.error_code, errno.EINVAL)
        child, _ = self.request(cmid, b'')
        child.create_qp(qp_init())
        with self.assertRaises(PyverbsRDMAError) as cm:
            child.accept(conn_param(pattern(197, 4)))
        self.assertEqual(cm.exception.error_code, errno.EINVAL)

    @bounded()
    def test_send_recv_both_ways(self):
        cmid, child, _, _ = self.connect()
        smr, cmr = child.reg_msgs(MSG), cmid.reg_msgs(MSG)
        for i in range(10):
            child.post_recv(smr)
            cmr.write(pattern(MSG, i), MSG)
            cmid.post_send(cmr)
            cmid.get_send_comp()
            wc = child.get_recv_comp()
            self.assertEqual(wc.byte_len, MSG)
            self.assertEqual(smr.read(MSG, 0), pattern(MSG, i))
            cmid.post_recv(cmr)
            smr.write(pattern(MSG, 100 + i), MSG)
            child.post_send(smr)
            child.get_send_comp()
            cmid.get_recv_comp()
            self.assertEqual(cmr.read(MSG, 0), pattern(MSG, 100 + i))

    @bounded()
    def test_rdma_write_and_read(self):
        cmid, child, _, _ = self.connect()
        target = child.reg_write(MSG)
        source = child.reg_read(MSG)
        source.write(pattern(MSG, 9), MSG)
        local = cmid.reg_msgs(MSG)
        local.write(pattern(MSG, 5), MSG)
        cmid.post_write(local, MSG, target.buf, target.rkey)
        cmid.get_send_comp()
        self.assertEqual(target.read(MSG, 0), pattern(MSG, 5))
        cmid.post_read(local, MSG, source.buf, source.rkey)
        cmid.get_send_comp()
        self.assertEqual(local.read(MSG, 0), pattern(MSG, 9))

    @bounded()
    def test_qp_attributes_negotiated(self):
        cmid = self.resolve()
        cmid.set_option(ce.RDMA_OPTION_ID, ce.RDMA_OPTION_ID_ACK_TIMEOUT,
                        17, 1)
        # 0xFF: as much as the device allows, as librdmacm clamps
        child, _ = self.request(cmid, resources=0xff, depth=0xff,
                                retry=6, rnr_retry=7)
        child.create_qp(qp_init())
        child.accept(conn_param(resources=0xff, depth=0xff, rnr_retry=5))
        self.cli.expect(ce.RDMA_CM_EVENT_ESTABLISHED).close()
        self.srv.expect(ce.RDMA_CM_EVENT_ESTABLISHED).close()
        dev_max = cmid.context.query_device().max_qp_rd_atom
        mask = (e.IBV_QP_STATE | e.IBV_QP_TIMEOUT | e.IBV_QP_RETRY_CNT |
                e.IBV_QP_RNR_RETRY | e.IBV_QP_MAX_QP_RD_ATOMIC |
                e.IBV_QP_MAX_DEST_RD_ATOMIC | e.IBV_QP_DEST_QPN |
                e.IBV_QP_PATH_MTU | e.IBV_QP_MIN_RNR_TIMER)
        a, _ = cmid.query_qp(mask)
        b, _ = child.query_qp(mask)
        self.assertEqual(a.qp_state, e.IBV_QPS_RTS)
        self.assertEqual(b.qp_state, e.IBV_QPS_RTS)
        self.assertEqual(a.dest_qp_num, child.qpn)
        self.assertEqual(b.dest_qp_num, cmid.qpn)
        self.assertEqual(a.timeout, 17)
        self.assertEqual(b.timeout, 14)
        self.assertEqual(a.retry_cnt, 6)
        self.assertEqual(b.retry_cnt, 6)  # the initiator's, from REQ
        self.assertEqual(a.rnr_retry, 5)  # each side: the peer's offer
        self.assertEqual(b.rnr_retry, 7)
        self.assertEqual(a.min_rnr_timer, 12)
        for qa in (a, b):
            self.assertEqual(qa.max_rd_atomic, dev_max)
            self.assertEqual(qa.max_dest_rd_atomic, dev_max)
        self.assertEqual(a.path_mtu, cmid.context.query_port(1).active_mtu)

    @bounded()
    def test_reject_with_private_data(self):
        cmid = self.resolve()
        child, _ = self.request(cmid, b'hello')
        rej = pattern(196, 7)
        child.reject(rej)
        ev = self.cli.expect(ce.RDMA_CM_EVENT_REJECTED)
        self.assertEqual(ev.private_data, rej)
        ev.close()  # its status is checked in CApi.test_reject_status
        # the rejected request's id is destroyed by the application
        self.srv.ids.remove(child)
        child.close()

    @bounded()
    def test_client_disconnect(self):
        cmid, child, _, _ = self.connect()
        cmid.disconnect()
        self.srv.expect(ce.RDMA_CM_EVENT_DISCONNECTED).close()
        self.cli.expect(ce.RDMA_CM_EVENT_DISCONNECTED).close()
        child.disconnect()  # answering a disconnect: no second event
        # the local QP went to the error state, as librdmacm does
        a, _ = cmid.query_qp(e.IBV_QP_STATE)
        self.assertEqual(a.qp_state, e.IBV_QPS_ERR)
        self.cli.expect(ce.RDMA_CM_EVENT_TIMEWAIT_EXIT).close()
        self.srv.expect(ce.RDMA_CM_EVENT_TIMEWAIT_EXIT).close()

    @bounded()
    def test_server_disconnect(self):
        cmid, child, _, _ = self.connect()
        child.disconnect()
        self.cli.expect(ce.RDMA_CM_EVENT_DISCONNECTED).close()
        self.srv.expect(ce.RDMA_CM_EVENT_DISCONNECTED).close()

    @bounded()
    def test_peer_destroyed_is_disconnect(self):
        cmid, child, _, _ = self.connect()
        self.srv.ids.remove(child)
        child.close()
        self.cli.expect(ce.RDMA_CM_EVENT_DISCONNECTED).close()

    @bounded()
    def test_many_connections_one_listener(self):
        pairs = [self.connect(pattern(8, i)) for i in range(8)]
        for i, (cmid, child, req, _) in enumerate(pairs):
            self.assertEqual(req, pattern(8, i))
            self.assertNotEqual(cmid.qpn, child.qpn)

    @waiting_case  # the refused connect is retried for 2 s
    @bounded()
    def test_no_listener_is_rejected(self):
        cmid = self.resolve(port=str(free_port(self.family)))
        t0 = time.monotonic()
        cmid.connect(conn_param())
        ev = self.cli.expect(ce.RDMA_CM_EVENT_REJECTED)
        ev.close()
        self.assertLess(time.monotonic() - t0, 10)

    @bounded()
    def test_unroutable_is_addr_error(self):
        cmid = self.cli.new_id()
        # TEST-NET-1: never a tcp device's address
        cmid.resolve_addr(AddrInfo(dst='192.0.2.1', dst_service='1',
                                   port_space=ce.RDMA_PS_TCP))
        self.cli.expect(ce.RDMA_CM_EVENT_ADDR_ERROR).close()

@unittest.skipUnless(preloaded() and NETDEV == 'lo',
                     'IPv6 loopback: needs the device on lo and the preload')
class AsyncConnectionIPv6(AsyncConnection):
    addr = '::1'
    family = socket.AF_INET6

    @unittest.skip('IPv4 only')
    def test_unroutable_is_addr_error(self):
        pass


# --- synchronous ids: two processes -------------------------------------
# The server runs as `python3 test_cm.py --sync-server ADDR PORT` (a fresh
# interpreter: multiprocessing would re-run unittest's __main__ in it) and
# reports on stdout, one line per step.

def sync_server(addr, port):
    try:
        ai = AddrInfo(src=addr, src_service=port, port_space=ce.RDMA_PS_TCP,
                      flags=ce.RAI_PASSIVE)
        listener = CMID(creator=ai, qp_init_attr=qp_init())
        listener.listen()
        print('listening', flush=True)
        child = listener.get_request()
        mr = child.reg_msgs(MSG)
        child.post_recv(mr)
        child.accept()
        child.get_recv_comp()
        data = mr.read(MSG, 0)
        mr.write(bytes(reversed(data)), MSG)
        child.post_send(mr)
        child.get_send_comp()
        child.disconnect()  # the client's DREQ or ours: one event
        child.close()
        listener.close()
        print('ok' if data == pattern(MSG, 42) else 'bad data', flush=True)
    except Exception as ex:  # noqa: BLE001 - reported to the parent
        print('server: %r' % ex, flush=True)
        return 1
    return 0


@unittest.skipUnless(preloaded(), 'librdmacm-ext is not preloaded')
class SyncConnection(unittest.TestCase):
    """rdma_create_ep / rdma_get_request / blocking connect and accept."""

    @bounded()
    def test_sync_connect_accept_traffic_disconnect(self):
        port = str(free_port())
        srv = subprocess.Popen([sys.executable, os.path.abspath(__file__),
                                '--sync-server', ADDR, port],
                               stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(srv.stdout.readline().strip(), 'listening')
            ai = AddrInfo(src=ADDR, dst=ADDR, dst_service=port,
                          port_space=ce.RDMA_PS_TCP)
            cmid = CMID(creator=ai, qp_init_attr=qp_init())
            mr = cmid.reg_msgs(MSG)
            cmid.post_recv(mr)
            cmid.connect()
            mr.write(pattern(MSG, 42), MSG)
            cmid.post_send(mr)
            cmid.get_send_comp()
            cmid.get_recv_comp()
            self.assertEqual(mr.read(MSG, 0),
                             bytes(reversed(pattern(MSG, 42))))
            cmid.disconnect()
            cmid.close()
            self.assertEqual(srv.stdout.readline().strip(), 'ok')
            self.assertEqual(srv.wait(30), 0)
        finally:
            if srv.poll() is None:
                srv.kill()
                srv.wait()
            srv.stdout.close()

    @waiting_case  # the refused connect is retried for 2 s
    @bounded()
    def test_sync_connect_refused(self):
        port = str(free_port())
        ai = AddrInfo(src=ADDR, dst=ADDR, dst_service=port,
                      port_space=ce.RDMA_PS_TCP)
        cmid = CMID(creator=ai, qp_init_attr=qp_init())
        try:
            with self.assertRaises(PyverbsRDMAError) as cm:
                cmid.connect()
            self.assertEqual(cm.exception.error_code, errno.ECONNREFUSED)
        finally:
            cmid.close()


# --- the C-level API pyverbs does not reach ------------------------------

@unittest.skipUnless(preloaded(), 'librdmacm-ext is not preloaded')
class CApi(unittest.TestCase):
    """The channel's fd, REJECTED's status, ports, rdma_get_devices."""

    def get_event(self, ch, etype):
        ev = ctypes.POINTER(CmEventFullC)()
        self.assertEqual(cm_c.rdma_get_cm_event(
            ch, ctypes.cast(ctypes.byref(ev),
                            ctypes.POINTER(ctypes.POINTER(CmEventC)))), 0)
        self.assertEqual(cm_c.rdma_event_str(ev.contents.event).decode(),
                         cm_c.rdma_event_str(etype).decode())
        return ev

    def ack(self, ev):
        self.assertEqual(cm_c.rdma_ack_cm_event(
            ctypes.cast(ev, ctypes.POINTER(CmEventC))), 0)

    @bounded()
    def test_reject_status_and_ports(self):
        port = free_port()
        ch = cm_c.rdma_create_event_channel()
        lid, cid = _P(), _P()
        self.assertEqual(cm_c.rdma_create_id(ch, ctypes.byref(lid), None,
                                             ce.RDMA_PS_TCP), 0)
        self.assertEqual(cm_c.rdma_create_id(ch, ctypes.byref(cid), None,
                                             ce.RDMA_PS_TCP), 0)
        try:
            src = sockaddr_in(ADDR, port)
            self.assertEqual(cm_c.rdma_bind_addr(lid, ctypes.byref(src)), 0)
            self.assertEqual(socket.ntohs(cm_c.rdma_get_src_port(lid)), port)
            self.assertEqual(cm_c.rdma_listen(lid, 1), 0)
            self.assertEqual(cm_c.rdma_resolve_addr(
                cid, None, ctypes.byref(src), 2000), 0)
            self.ack(self.get_event(ch, ce.RDMA_CM_EVENT_ADDR_RESOLVED))
            self.assertEqual(socket.ntohs(cm_c.rdma_get_dst_port(cid)), port)
            self.assertNotEqual(cm_c.rdma_get_src_port(cid), 0)
            self.assertEqual(cm_c.rdma_resolve_route(cid, 2000), 0)
            self.ack(self.get_event(ch, ce.RDMA_CM_EVENT_ROUTE_RESOLVED))
            # no QP on the id: the QPN travels in the parameters
            req = (ctypes.c_uint8 * 56)(*pattern(56, 11))
            param = ConnParamC(ctypes.cast(req, _P), 56, 1, 1, 0, 7, 7, 0,
                               0x123456)
            self.assertEqual(cm_c.rdma_connect(cid, ctypes.byref(param)), 0)
            ev = self.get_event(ch, ce.RDMA_CM_EVENT_CONNECT_REQUEST)
            self.assertEqual(ev.contents.listen_id, lid.value)
            self.assertEqual(ev.contents.conn.qp_num, 0x123456)
            self.assertEqual(ctypes.string_at(ev.contents.conn.private_data,
                                              56), pattern(56, 11))
            child = ev.contents.id
            rej = (ctypes.c_uint8 * 196)(*pattern(196, 12))
            self.assertEqual(cm_c.rdma_reject(child, rej, 196), 0)
            self.ack(ev)
            ev = self.get_event(ch, ce.RDMA_CM_EVENT_REJECTED)
            self.assertEqual(ev.contents.status, CONSUMER_REJECT)
            self.assertEqual(ev.contents.conn.private_data_len, 196)
            self.assertEqual(ctypes.string_at(ev.contents.conn.private_data,
                                              196), pattern(196, 12))
            self.ack(ev)
            self.assertEqual(cm_c.rdma_destroy_id(child), 0)
        finally:
            cm_c.rdma_destroy_id(cid)
            cm_c.rdma_destroy_id(lid)
            cm_c.rdma_destroy_event_channel(ch)

    def rc_qp(self, cid):
        attr = QpInitAttrC(max_send_wr=4, max_recv_wr=4, max_send_sge=1,
                           max_recv_sge=1, qp_type=e.IBV_QPT_RC)
        # test_cm_ud declares the same function with its own (same-layout)
        # struct when both modules run in one process: cast to what is
        # declared now
        arg = ctypes.cast(ctypes.pointer(attr),
                          cm_c.rdma_create_qp.argtypes[2])
        self.assertEqual(cm_c.rdma_create_qp(cid, None, arg), 0)

    def tos_connection(self, active_tos=None, listen_tos=None):
        """Connects an RC id to a listener, each with its
        RDMA_OPTION_ID_TOS if given (before resolving: the kernel's
        rdma_cm puts it in the route). Returns the traffic class of the
        accepted id's rdma_init_qp_attr for RTR, then for the active and
        the accepted side each the traffic class of its QP and the DSCP
        bits of its QP's TCP socket."""
        port = free_port()
        ch = cm_c.rdma_create_event_channel()
        lid, cid, child = _P(), _P(), None
        self.assertEqual(cm_c.rdma_create_id(ch, ctypes.byref(lid), None,
                                             ce.RDMA_PS_TCP), 0)
        self.assertEqual(cm_c.rdma_create_id(ch, ctypes.byref(cid), None,
                                             ce.RDMA_PS_TCP), 0)
        try:
            for i, tos in ((cid, active_tos), (lid, listen_tos)):
                if tos is not None:
                    self.assertEqual(self.set_option(
                        i, ce.RDMA_OPTION_ID, RDMA_OPTION_ID_TOS,
                        bytes([tos])), 0)
            src = sockaddr_in(ADDR, port)
            self.assertEqual(cm_c.rdma_bind_addr(lid, ctypes.byref(src)), 0)
            self.assertEqual(cm_c.rdma_listen(lid, 1), 0)
            self.assertEqual(cm_c.rdma_resolve_addr(
                cid, None, ctypes.byref(src), 2000), 0)
            self.ack(self.get_event(ch, ce.RDMA_CM_EVENT_ADDR_RESOLVED))
            self.assertEqual(cm_c.rdma_resolve_route(cid, 2000), 0)
            self.ack(self.get_event(ch, ce.RDMA_CM_EVENT_ROUTE_RESOLVED))
            self.rc_qp(cid)
            param = ConnParamC(None, 0, 1, 1, 0, 7, 7, 0, 0)
            self.assertEqual(cm_c.rdma_connect(cid, ctypes.byref(param)), 0)
            ev = self.get_event(ch, ce.RDMA_CM_EVENT_CONNECT_REQUEST)
            child = _P(ev.contents.id)
            self.ack(ev)
            attr, mask = QpAttrC(qp_state=IBV_QPS_RTR), ctypes.c_int()
            self.assertEqual(cm_c.rdma_init_qp_attr(
                child, ctypes.byref(attr), ctypes.byref(mask)), 0)
            self.assertTrue(mask.value & IBV_QP_AV)
            out = [attr.traffic_class]
            self.rc_qp(child)
            self.assertEqual(cm_c.rdma_accept(child, ctypes.byref(param)), 0)
            for _ in range(2):  # the two ends', in either order
                self.ack(self.get_event(ch, ce.RDMA_CM_EVENT_ESTABLISHED))
            for a, b in ((cid, child), (child, cid)):
                tclass = c_qp_tclass(a)
                out += [tclass, qp_socket_tos(c_qpn(a), c_qpn(b),
                                              tclass & ~3)]
            return tuple(out)
        finally:
            for i in (child, cid):
                if i:
                    cm_c.rdma_destroy_qp(i)
                    cm_c.rdma_destroy_id(i)
            cm_c.rdma_destroy_id(lid)
            cm_c.rdma_destroy_event_channel(ch)

    @bounded()
    def test_tos_is_the_qp_traffic_class(self):
        # RDMA_OPTION_ID_TOS: the QP's traffic class at RTR, and so its
        # TCP socket's TOS / traffic class, as RoCE's IP header carries
        # it. The REQ carries it to the accepting side, whose QP takes
        # it: the kernel's rdma_cm builds that id's path from the REQ.
        self.assertEqual(self.tos_connection(active_tos=0x60),
                         (0x60, 0x60, 0x60, 0x60, 0x60))
        # any byte; the socket shows the DSCP bits (ECN is TCP's)
        self.assertEqual(self.tos_connection(active_tos=0xff),
                         (0xff, 0xff, 0xfc, 0xff, 0xfc))

    @bounded()
    def test_listener_tos_does_not_pass_on(self):
        # the kernel's rdma_cm gives an accepted id no TOS of its
        # listener's: the REQ's wins, and with none set it is 0
        self.assertEqual(self.tos_connection(active_tos=0x60,
                                             listen_tos=0xb8),
                         (0x60, 0x60, 0x60, 0x60, 0x60))
        self.assertEqual(self.tos_connection(listen_tos=0xb8),
                         (0, 0, 0, 0, 0))

    @bounded()
    def test_fd_pollable_and_nonblocking(self):
        ch = cm_c.rdma_create_event_channel()
        self.assertTrue(ch)
        fd = ch.contents.fd
        cid = _P()
        self.assertEqual(cm_c.rdma_create_id(ch, ctypes.byref(cid), None,
                                             ce.RDMA_PS_TCP), 0)
        try:
            self.assertFalse(readable(fd))
            dst = sockaddr_in(ADDR, free_port())
            self.assertEqual(cm_c.rdma_resolve_addr(
                cid, None, ctypes.byref(dst), 2000), 0)
            self.assertTrue(readable(fd, 5))
            self.assertTrue(readable(fd), 'readable until read')
            ev = ctypes.POINTER(CmEventC)()
            self.assertEqual(cm_c.rdma_get_cm_event(ch, ctypes.byref(ev)), 0)
            self.assertEqual(ev.contents.event,
                             ce.RDMA_CM_EVENT_ADDR_RESOLVED)
            self.assertEqual(ev.contents.status, 0)
            self.assertEqual(ev.contents.id, cid.value)
            self.assertFalse(readable(fd), 'queue empty, fd still readable')
            self.assertEqual(cm_c.rdma_ack_cm_event(ev), 0)
            fl = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)
            ctypes.set_errno(0)
            self.assertEqual(cm_c.rdma_get_cm_event(ch, ctypes.byref(ev)), -1)
            self.assertEqual(ctypes.get_errno(), errno.EAGAIN)
        finally:
            self.assertEqual(cm_c.rdma_destroy_id(cid), 0)
            cm_c.rdma_destroy_event_channel(ch)

    def test_bind_port_zero(self):
        ch = cm_c.rdma_create_event_channel()
        lid = _P()
        self.assertEqual(cm_c.rdma_create_id(ch, ctypes.byref(lid), None,
                                             ce.RDMA_PS_TCP), 0)
        try:
            src = sockaddr_in(ADDR, 0)
            self.assertEqual(cm_c.rdma_bind_addr(lid, ctypes.byref(src)), 0)
            port = socket.ntohs(cm_c.rdma_get_src_port(lid))
            self.assertNotEqual(port, 0)
            self.assertEqual(cm_c.rdma_listen(lid, 0), 0)
            # the CM port is virtual: the control port's router reaches
            # the listener by it
            routed(port, 5).close()
        finally:
            cm_c.rdma_destroy_id(lid)
            cm_c.rdma_destroy_event_channel(ch)

    def test_port_of_a_tcp_listener(self):
        # an rdma_cm listener on the number of this process's TCP
        # listener, as UCX's rdmacm and tcp connection managers listen
        ch = cm_c.rdma_create_event_channel()
        lid = _P()
        self.assertEqual(cm_c.rdma_create_id(ch, ctypes.byref(lid), None,
                                             ce.RDMA_PS_TCP), 0)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((ADDR, 0))
                s.listen(1)
                port = s.getsockname()[1]
                src = sockaddr_in(ADDR, port)
                self.assertEqual(cm_c.rdma_bind_addr(lid, ctypes.byref(src)),
                                 0)
                self.assertEqual(cm_c.rdma_listen(lid, 0), 0)
                routed(port, 5).close()
                with socket.create_connection((ADDR, port), timeout=5):
                    s.settimeout(5)
                    s.accept()[0].close()
        finally:
            cm_c.rdma_destroy_id(lid)
            cm_c.rdma_destroy_event_channel(ch)

    def test_port_in_use(self):
        # as the kernel's rdma_cm: one id per port and port space, the
        # port free again when the id goes
        ch = cm_c.rdma_create_event_channel()
        ids = []
        try:
            def bind(ps, port):
                cid = _P()
                self.assertEqual(cm_c.rdma_create_id(ch, ctypes.byref(cid),
                                                     None, ps), 0)
                ids.append(cid)
                src = sockaddr_in(ADDR, port)
                ctypes.set_errno(0)
                rc = cm_c.rdma_bind_addr(cid, ctypes.byref(src))
                return cid, 0 if rc == 0 else ctypes.get_errno()

            first, err = bind(ce.RDMA_PS_TCP, 0)
            self.assertEqual(err, 0)
            port = socket.ntohs(cm_c.rdma_get_src_port(first))
            self.assertEqual(bind(ce.RDMA_PS_TCP, port)[1], errno.EADDRINUSE)
            self.assertEqual(bind(ce.RDMA_PS_UDP, port)[1], 0)
            self.assertEqual(cm_c.rdma_destroy_id(first), 0)
            ids.remove(first)
            self.assertEqual(bind(ce.RDMA_PS_TCP, port)[1], 0)
        finally:
            for cid in ids:
                cm_c.rdma_destroy_id(cid)
            cm_c.rdma_destroy_event_channel(ch)

    def set_option(self, cid, level, name, value):
        buf = ctypes.create_string_buffer(value)
        ctypes.set_errno(0)
        rc = cm_c.rdma_set_option(cid, level, name, buf, len(value))
        return 0 if rc == 0 else ctypes.get_errno()

    def test_options(self):
        ch = cm_c.rdma_create_event_channel()
        cid = _P()
        self.assertEqual(cm_c.rdma_create_id(ch, ctypes.byref(cid), None,
                                             ce.RDMA_PS_TCP), 0)
        one = struct.pack('i', 1)
        try:
            # accepted: ToS, address reuse (before binding), ack timeout
            self.assertEqual(self.set_option(cid, ce.RDMA_OPTION_ID, 0,
                                             b'\x20'), 0)
            self.assertEqual(self.set_option(cid, ce.RDMA_OPTION_ID, 1, one),
                             0)
            self.assertEqual(self.set_option(
                cid, ce.RDMA_OPTION_ID, ce.RDMA_OPTION_ID_ACK_TIMEOUT,
                b'\x10'), 0)
            # wrong sizes, unknown options, the IB path option
            self.assertEqual(self.set_option(cid, ce.RDMA_OPTION_ID, 0, one),
                             errno.EINVAL)
            self.assertEqual(self.set_option(cid, ce.RDMA_OPTION_ID, 99,
                                             one), errno.ENOSYS)
            self.assertEqual(self.set_option(cid, 1, 1, bytes(64)),
                             errno.ENOSYS)
        finally:
            cm_c.rdma_destroy_id(cid)
            cm_c.rdma_destroy_event_channel(ch)

    def test_event_str(self):
        names = {getattr(ce, n): n for n in dir(ce)
                 if n.startswith('RDMA_CM_EVENT_')}
        self.assertEqual(len(names), 16)
        for val, name in names.items():
            self.assertEqual(cm_c.rdma_event_str(val).decode(), name)
        self.assertEqual(cm_c.rdma_event_str(99).decode(), 'UNKNOWN EVENT')

    def test_get_devices(self):
        n = ctypes.c_int(-1)
        lst = cm_c.rdma_get_devices(ctypes.byref(n))
        self.assertTrue(lst)
        try:
            self.assertGreaterEqual(n.value, 1)
            names = []
            for i in range(n.value):
                dev = ctypes.cast(lst[i], ctypes.POINTER(_P))[0]
                names.append(libverbs.ibv_get_device_name(dev).decode())
            self.assertIn(DEV, names)
            self.assertIsNone(lst[n.value])
            # opened once per process: a second call gives the same contexts
            n2 = ctypes.c_int(-1)
            lst2 = cm_c.rdma_get_devices(ctypes.byref(n2))
            self.assertEqual([lst[i] for i in range(n.value)],
                             [lst2[i] for i in range(n2.value)])
            cm_c.rdma_free_devices(lst2)
        finally:
            cm_c.rdma_free_devices(lst)


if __name__ == '__main__':
    if len(sys.argv) == 4 and sys.argv[1] == '--sync-server':
        sys.exit(sync_server(sys.argv[2], sys.argv[3]))
    unittest.main()
