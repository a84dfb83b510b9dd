# SPDX-License-Identifier: MIT
"""The authenticated rdma_cm control connection (librdmacm-ext/cm_sec.c)
of a device in mode auth or encrypt (the default): TLS 1.3 with the
device's credentials before any CM message.

Passive side: a listener hands out CONNECT_REQUEST only for peers that
complete the handshake. Plain CM messages (a peer in mode off) get a plain
REJ with reason RTCP_CM_REJ_AUTH and the connection closed; other bytes
and a TLS client without the credentials are dropped; in every case no
event, and the listener keeps serving real peers.

Active side: a peer that does not complete the handshake -- it answers
with something that is not TLS, or with a plain REJ saying it wants
authentication -- ends rdma_connect in REJECTED, status -EKEYREJECTED; a
peer that accepts the TCP connection and says nothing, in UNREACHABLE,
-ETIMEDOUT, after the handshake's deadline.

Mismatched keys and modes between two devices, with stock programs:
tests/integration/test_cm_auth.sh.

Run like test_cm.py (the environment of `rdma-tcp env` applied). Skipped
on a device in mode off (RDMA_TCP_TEST_PSP=off, as tests/run says it).
"""

import ctypes
import errno
import os
import socket
import ssl
import struct
import sys
import unittest

import pyverbs.cm_enums as ce

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtcp_verbs import (bounded, preloaded, readable,  # noqa: E402
                        timer_case)
from test_cm import (ADDR, CM_PORT, CONSUMER_REJECT, ROUTE,  # noqa: E402
                     ROUTE_MAGIC, ROUTE_NONE, CmEventC, CmEventFullC,
                     ConnParamC, cm_c, control_listener, free_port, pattern,
                     route_accept, routed, sockaddr_in)
from test_cm_hostile import (HDR, MAGIC, REJ, REJ_FIXED, REQ,  # noqa
                             REQ_FIXED, VERSION, msg)

_P = ctypes.c_void_p
# the device's mode as registered ('' = the default, auth)
PSP = os.environ.get('RDMA_TCP_TEST_PSP', '')
REJ_AUTH = 0x100  # cm_proto.h: RTCP_CM_REJ_AUTH
REQ_BODY = bytes(REQ_FIXED)  # a REQ's fixed part, no private data
# every expected event comes well within this (the handshake's deadline,
# CM_HS_TIMEOUT_MS, is 10 s)
DEADLINE = 20
# how long a listener is watched for an event that must not come: the
# dropped peer's bytes are all in by then (it is a window, not a wait
# for a state)
QUIET = 1.0


class Channel:
    """An event channel and its ids, through the C API."""

    def __init__(self, test):
        self.test = test
        self.ch = cm_c.rdma_create_event_channel()
        test.assertTrue(self.ch)
        self.ids = []

    def new_id(self):
        cid = _P()
        self.test.assertEqual(cm_c.rdma_create_id(
            self.ch, ctypes.byref(cid), None, ce.RDMA_PS_TCP), 0)
        self.ids.append(cid)
        return cid

    def quiet(self):
        return not readable(self.ch.contents.fd, QUIET)

    def event(self, etype):
        """The next event, which must be etype; returned unacked."""
        self.test.assertTrue(readable(self.ch.contents.fd, DEADLINE),
                             'no event within %d s' % DEADLINE)
        ev = ctypes.POINTER(CmEventFullC)()
        self.test.assertEqual(cm_c.rdma_get_cm_event(
            self.ch, ctypes.cast(ctypes.byref(ev),
                                 ctypes.POINTER(ctypes.POINTER(CmEventC)))),
            0)
        if ev.contents.event != etype:
            got, status = ev.contents.event, ev.contents.status
            self.ack(ev)
            self.test.fail('expected %s, got %s (status %d)' % (
                cm_c.rdma_event_str(etype).decode(),
                cm_c.rdma_event_str(got).decode(), status))
        return ev

    def ack(self, ev):
        self.test.assertEqual(cm_c.rdma_ack_cm_event(
            ctypes.cast(ev, ctypes.POINTER(CmEventC))), 0)

    def close(self):
        for cid in reversed(self.ids):
            cm_c.rdma_destroy_id(cid)
        cm_c.rdma_destroy_event_channel(self.ch)


def connect_param(pdata):
    buf = (ctypes.c_uint8 * len(pdata))(*pdata)
    # no QP: the QPN travels in the parameters (no QP connects here)
    return buf, ConnParamC(ctypes.cast(buf, _P), len(pdata), 1, 1, 0, 7, 7,
                           0, 0x123456)


def read_to_eof(sock):
    """What the peer sends until it closes (EOF or reset)."""
    data = b''
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data


@unittest.skipUnless(preloaded(), 'librdmacm-ext is not preloaded '
                     '(eval "$(rdma-tcp env)")')
@unittest.skipIf(PSP == 'off', 'the device is in mode off')
class AuthListener(unittest.TestCase):
    """What a listener of an authenticated device does with strangers."""

    def setUp(self):
        self.srv = Channel(self)
        self.cli = Channel(self)
        self.listener = self.srv.new_id()
        addr = sockaddr_in(ADDR, 0)
        self.assertEqual(cm_c.rdma_bind_addr(self.listener,
                                             ctypes.byref(addr)), 0)
        self.assertEqual(cm_c.rdma_listen(self.listener, 4), 0)
        self.port = socket.ntohs(cm_c.rdma_get_src_port(self.listener))

    def tearDown(self):
        self.cli.close()
        self.srv.close()

    def stranger(self):
        """A plain connection routed to the listener (its process holds
        it once the router answered)."""
        s = routed(self.port, DEADLINE)
        self.addCleanup(s.close)
        return s

    def served(self):
        """A real peer still gets through: its request arrives with its
        private data (and is rejected: no QP is needed for that)."""
        cid = self.cli.new_id()
        dst = sockaddr_in(ADDR, self.port)
        self.assertEqual(cm_c.rdma_resolve_addr(cid, None,
                                                ctypes.byref(dst), 2000), 0)
        self.cli.ack(self.cli.event(ce.RDMA_CM_EVENT_ADDR_RESOLVED))
        self.assertEqual(cm_c.rdma_resolve_route(cid, 2000), 0)
        self.cli.ack(self.cli.event(ce.RDMA_CM_EVENT_ROUTE_RESOLVED))
        pdata = pattern(24, 5)
        _buf, param = connect_param(pdata)
        self.assertEqual(cm_c.rdma_connect(cid, ctypes.byref(param)), 0)
        ev = self.srv.event(ce.RDMA_CM_EVENT_CONNECT_REQUEST)
        self.assertEqual(ctypes.string_at(ev.contents.conn.private_data,
                                          len(pdata)), pdata)
        child = ev.contents.id
        self.srv.ack(ev)
        self.srv.ids.append(child)
        self.assertEqual(cm_c.rdma_reject(child, None, 0), 0)
        ev = self.cli.event(ce.RDMA_CM_EVENT_REJECTED)
        self.assertEqual(ev.contents.status, CONSUMER_REJECT)
        self.cli.ack(ev)

    @bounded()
    def test_plain_request_gets_auth_reject(self):
        s = self.stranger()
        s.sendall(msg(REQ, REQ_BODY))
        answer = read_to_eof(s)
        self.assertEqual(len(answer), HDR.size + REJ_FIXED, answer)
        self.assertEqual(HDR.unpack(answer[:HDR.size]),
                         (MAGIC, VERSION, REJ, REJ_FIXED))
        self.assertEqual(struct.unpack('!H', answer[HDR.size:][:2])[0],
                         REJ_AUTH)
        self.assertTrue(self.srv.quiet(), 'an event for a plain peer')
        self.served()

    @bounded()
    def test_garbage_is_dropped(self):
        for junk in (b'GET / HTTP/1.0\r\n\r\n', bytes(300),
                     b'\x16\x03\x01\x00\x05hello', b'\x16'):
            s = self.stranger()
            try:
                s.sendall(junk)
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # dropped already (and reset)
            read_to_eof(s)
        self.assertTrue(self.srv.quiet(), 'an event for garbage')
        self.served()

    @bounded()
    def test_garbage_routing_prefix_is_dropped(self):
        # the control port itself: what is not a routing prefix is closed
        # unanswered, and nothing reaches the listener
        for junk in (b'GET / HTTP/1.0\r\n\r\n', bytes(12),
                     ROUTE.pack(ROUTE_MAGIC, 9, 0, ce.RDMA_PS_TCP,
                                self.port, 0)):
            s = socket.create_connection((ADDR, CM_PORT), timeout=DEADLINE)
            self.addCleanup(s.close)
            s.sendall(junk)
            self.assertEqual(read_to_eof(s), b'')
        # a port nobody listens on: the router says so
        s = socket.create_connection((ADDR, CM_PORT), timeout=DEADLINE)
        self.addCleanup(s.close)
        s.sendall(ROUTE.pack(ROUTE_MAGIC, 1, 0, ce.RDMA_PS_TCP,
                             free_port(), 0))
        self.assertEqual(read_to_eof(s), bytes([ROUTE_NONE]))
        self.assertTrue(self.srv.quiet(), 'an event for garbage')
        self.served()

    @bounded()
    def test_destroyed_listener_drops_every_stranger(self):
        # strangers in the handshake (or before it) when the listener
        # goes: every one is closed at once, none outlives it
        socks = [self.stranger() for _ in range(4)]
        for s in socks[:2]:
            s.sendall(b'\x16\x03\x01')  # a TLS record header, cut short
        # routed: each is in the listener's process (its mailbox, or
        # accepted) before stranger() returns
        self.assertEqual(cm_c.rdma_destroy_id(self.listener), 0)
        self.srv.ids.remove(self.listener)
        for i, s in enumerate(socks):
            # closed well before the REQ deadline (CM_REQ_TIMEOUT_MS, 10 s)
            self.assertTrue(readable(s.fileno(), 5),
                            'stranger %d still open' % i)
            self.assertEqual(read_to_eof(s), b'')

    @bounded()
    def test_tls_client_without_credentials(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        tls = ctx.wrap_socket(self.stranger(), do_handshake_on_connect=False)
        self.addCleanup(tls.close)
        try:
            tls.do_handshake()
            # should the handshake pass, the listener must not: it closes
            refused = tls.recv(1) == b''
        except (ssl.SSLError, OSError):
            refused = True
        self.assertTrue(refused, 'a TLS client without credentials served')
        self.assertTrue(self.srv.quiet(), 'an event for a TLS stranger')
        self.served()


@unittest.skipUnless(preloaded(), 'librdmacm-ext is not preloaded '
                     '(eval "$(rdma-tcp env)")')
@unittest.skipIf(PSP == 'off', 'the device is in mode off')
class AuthConnect(unittest.TestCase):
    """rdma_connect from an authenticated device to a peer that is not."""

    def setUp(self):
        self.lsock = control_listener()
        self.addCleanup(self.lsock.close)
        self.lsock.settimeout(DEADLINE)
        self.port = free_port()  # the rdma_cm port asked for
        self.cli = Channel(self)
        self.addCleanup(self.cli.close)

    def connect(self):
        """rdma_connect to our socket; returns the accepted connection."""
        cid = self.cli.new_id()
        dst = sockaddr_in(ADDR, self.port)
        self.assertEqual(cm_c.rdma_resolve_addr(cid, None,
                                                ctypes.byref(dst), 2000), 0)
        self.cli.ack(self.cli.event(ce.RDMA_CM_EVENT_ADDR_RESOLVED))
        self.assertEqual(cm_c.rdma_resolve_route(cid, 2000), 0)
        self.cli.ack(self.cli.event(ce.RDMA_CM_EVENT_ROUTE_RESOLVED))
        self.buf, param = connect_param(b'')
        self.assertEqual(cm_c.rdma_connect(cid, ctypes.byref(param)), 0)
        conn = route_accept(self.lsock, self.port, ce.RDMA_PS_TCP, DEADLINE)
        self.addCleanup(conn.close)
        # a TLS ClientHello first, never a CM message
        self.assertEqual(conn.recv(1), b'\x16')
        return conn

    def ends(self, etype, status):
        ev = self.cli.event(etype)
        self.assertEqual(ev.contents.status, status)
        self.cli.ack(ev)

    @bounded()
    def test_plain_peer_is_rejected(self):
        conn = self.connect()
        conn.sendall(msg(REJ, struct.pack('!HBB', CONSUMER_REJECT, 0, 0)))
        self.ends(ce.RDMA_CM_EVENT_REJECTED, -errno.EKEYREJECTED)

    @bounded()
    def test_peer_closing_in_handshake_is_rejected(self):
        self.connect().close()
        self.ends(ce.RDMA_CM_EVENT_REJECTED, -errno.EKEYREJECTED)

    @timer_case
    @bounded()
    def test_silent_peer_times_out(self):
        self.connect()
        self.ends(ce.RDMA_CM_EVENT_UNREACHABLE, -errno.ETIMEDOUT)
