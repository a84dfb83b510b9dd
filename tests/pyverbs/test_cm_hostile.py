# SPDX-License-Identifier: MIT
"""A hostile rdma_cm peer: a plain TCP socket plays the passive side of
the CM control connection (librdmacm-ext/cm_proto.h) against a stock
rdma_connect through librdmacm-ext, reads its REQ and answers with
messages of its own making.

HostileSidrPeer does the same to a UD id's SIDR request.

A message the protocol does not allow (bad magic, version or length in
the header, an unknown type, a body of another length than its type
needs, private data beyond the body or over its limit) must end the
attempt at once with UNREACHABLE, status -EPROTO, and close the control
connection. A well-formed REJ (the control) gives REJECTED with its
reason as status and its private data.

Run like test_cm.py (the environment of `rdma-tcp env` applied):

    RDMA_TCP_DEV=tcp0 /usr/bin/python3 -m unittest -v \\
        tests/pyverbs/test_cm_hostile.py
"""

import ctypes
import errno
import os
import struct
import sys
import unittest

import pyverbs.cm_enums as ce

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtcp_verbs import bounded, preloaded, raw_wire, readable  # noqa: E402
from test_cm import (ADDR, CONSUMER_REJECT, RDMA_OPTION_ID_TOS,  # noqa
                     CmEventC, CmEventFullC, ConnParamC, cm_c,
                     control_listener, free_port, pattern, route_accept,
                     sockaddr_in)

_P = ctypes.c_void_p
MAGIC = 0x5254434d
VERSION = 2  # 2: the REQ carries the initiator's traffic class
HDR = struct.Struct('!IBBH')
REQ, REP, REJ, RTU, DREQ, DREP = range(1, 7)
REQ_FIXED, REP_FIXED, REJ_FIXED = 33, 32, 4
REQ_TOS = 31  # the traffic class's byte in a REQ body
# an ignored message would leave the attempt waiting for the connect
# timeout: every answer is due well before this
DEADLINE = 10


def msg(mtype, body=b'', length=None, magic=MAGIC, version=VERSION):
    return HDR.pack(magic, version, mtype,
                    len(body) if length is None else length) + body


def rej_body(pdata, pdata_len=None, reason=CONSUMER_REJECT):
    plen = len(pdata) if pdata_len is None else pdata_len
    return struct.pack('!HBB', reason, 0, plen) + pdata


def rep_body(pdata, pdata_len=None):
    plen = len(pdata) if pdata_len is None else pdata_len
    return (bytes(16) + struct.pack('!II', 0xc36002, 0x654321) +
            bytes([16, 16, 0, 7, 0, 0, 0, plen]) + pdata)


@raw_wire
@unittest.skipUnless(preloaded(), 'librdmacm-ext is not preloaded '
                     '(eval "$(rdma-tcp env)")')
class CmPeerBase(unittest.TestCase):
    """A listening socket and an id of port space PS resolved to it."""

    PS = ce.RDMA_PS_TCP

    def setUp(self):
        self.conn = None
        self.lsock = control_listener()
        self.lsock.settimeout(DEADLINE)
        self.port = free_port()  # the rdma_cm port asked for
        self.ch = cm_c.rdma_create_event_channel()
        self.assertTrue(self.ch)
        self.cid = _P()
        self.assertEqual(cm_c.rdma_create_id(self.ch, ctypes.byref(self.cid),
                                             None, self.PS), 0)
        dst = sockaddr_in(ADDR, self.port)
        self.assertEqual(cm_c.rdma_resolve_addr(self.cid, None,
                                                ctypes.byref(dst), 2000), 0)
        self.ack(self.event(ce.RDMA_CM_EVENT_ADDR_RESOLVED))
        self.assertEqual(cm_c.rdma_resolve_route(self.cid, 2000), 0)
        self.ack(self.event(ce.RDMA_CM_EVENT_ROUTE_RESOLVED))

    def tearDown(self):
        if self.conn:
            self.conn.close()
        self.lsock.close()
        cm_c.rdma_destroy_id(self.cid)
        cm_c.rdma_destroy_event_channel(self.ch)

    def ack(self, ev):
        self.assertEqual(cm_c.rdma_ack_cm_event(
            ctypes.cast(ev, ctypes.POINTER(CmEventC))), 0)

    def event(self, etype):
        """The next event, which must be etype and come within DEADLINE."""
        self.assertTrue(readable(self.ch.contents.fd, DEADLINE),
                        'no event within %d s' % DEADLINE)
        ev = ctypes.POINTER(CmEventFullC)()
        self.assertEqual(cm_c.rdma_get_cm_event(
            self.ch, ctypes.cast(ctypes.byref(ev),
                                 ctypes.POINTER(ctypes.POINTER(CmEventC)))),
            0)
        got = cm_c.rdma_event_str(ev.contents.event).decode()
        if ev.contents.event != etype:
            status = ev.contents.status
            self.ack(ev)  # rdma_destroy_id waits for every event's ack
            self.fail('expected %s, got %s (status %d)' %
                      (cm_c.rdma_event_str(etype).decode(), got, status))
        return ev

    def recv_exact(self, n):
        data = b''
        while len(data) < n:
            chunk = self.conn.recv(n - len(data))
            self.assertTrue(chunk, 'control connection closed early')
            data += chunk
        return data

    def closed(self):
        """The peer closes the control connection (EOF or reset)."""
        try:
            while self.conn.recv(4096):
                pass
        except ConnectionResetError:
            pass  # closed with our unread bytes in its buffer


class HostileCmPeer(CmPeerBase):

    def request(self, tos=0):
        """rdma_connect; accepts the control connection, reads the REQ,
        which must carry the id's traffic class."""
        pdata = pattern(20, 3)
        buf = (ctypes.c_uint8 * len(pdata))(*pdata)
        param = ConnParamC(ctypes.cast(buf, _P), len(pdata), 1, 1, 0, 7, 7,
                           0, 0x123456)
        self.assertEqual(cm_c.rdma_connect(self.cid, ctypes.byref(param)), 0)
        self.conn = route_accept(self.lsock, self.port, self.PS, DEADLINE)
        magic, version, mtype, length = HDR.unpack(self.recv_exact(HDR.size))
        self.assertEqual((magic, version, mtype, length),
                         (MAGIC, VERSION, REQ, REQ_FIXED + len(pdata)))
        body = self.recv_exact(length)
        self.assertEqual(body[REQ_TOS], tos)
        self.assertEqual(body[REQ_FIXED - 1], len(pdata))
        self.assertEqual(body[REQ_FIXED:], pdata)

    def refused(self, data):
        self.request()
        self.conn.sendall(data)
        ev = self.event(ce.RDMA_CM_EVENT_UNREACHABLE)
        self.assertEqual(ev.contents.status, -errno.EPROTO)
        self.ack(ev)
        self.closed()

    @bounded()
    def test_well_formed_rej_is_rejected(self):
        pdata = pattern(196, 9)
        self.request()
        self.conn.sendall(msg(REJ, rej_body(pdata)))
        ev = self.event(ce.RDMA_CM_EVENT_REJECTED)
        self.assertEqual(ev.contents.status, CONSUMER_REJECT)
        self.assertEqual(ev.contents.conn.private_data_len, len(pdata))
        self.assertEqual(ctypes.string_at(ev.contents.conn.private_data,
                                          len(pdata)), pdata)
        self.ack(ev)
        self.closed()

    @bounded()
    def test_bad_magic(self):
        self.refused(msg(REJ, rej_body(b''), magic=MAGIC ^ 1))

    @bounded()
    def test_req_carries_tos(self):
        # RDMA_OPTION_ID_TOS travels in the REQ, as the IB CM REQ's path
        # carries the traffic class (the passive side's QP takes it)
        tos = ctypes.create_string_buffer(b'\xb9', 1)
        self.assertEqual(cm_c.rdma_set_option(
            self.cid, ce.RDMA_OPTION_ID, RDMA_OPTION_ID_TOS, tos, 1), 0)
        self.request(tos=0xb9)
        self.conn.sendall(msg(REJ, rej_body(b'')))
        self.ack(self.event(ce.RDMA_CM_EVENT_REJECTED))
        self.closed()

    @bounded()
    def test_bad_version(self):
        # version 1: a peer of the contract before the REQ had a TOS
        self.refused(msg(REJ, rej_body(b''), version=VERSION - 1))

    @bounded()
    def test_length_over_largest_body(self):
        self.refused(msg(REP, rep_body(bytes(196)) + b'x'))

    @bounded()
    def test_rep_private_data_beyond_body(self):
        self.refused(msg(REP, rep_body(bytes(20), pdata_len=21)))

    @bounded()
    def test_rej_private_data_beyond_body(self):
        self.refused(msg(REJ, rej_body(bytes(20), pdata_len=200)))

    @bounded()
    def test_rej_private_data_over_limit(self):
        self.refused(msg(REJ, rej_body(bytes(197))))

    @bounded()
    def test_rej_shorter_than_fixed_part(self):
        self.refused(msg(REJ, b'\x00\x1c'))

    @bounded()
    def test_unknown_type(self):
        self.refused(msg(9))

    @bounded()
    def test_type_zero(self):
        self.refused(msg(0))

    @bounded()
    def test_drep_with_body(self):
        self.refused(msg(DREP, b'\x00\x00\x00\x00'))


SIDR_REQ, SIDR_REP = 7, 8
SIDR_REQ_FIXED = 20
UDP_QKEY = 0x01234567


def sidr_rep_body(pdata, pdata_len=None, status=0, qkey=UDP_QKEY):
    plen = len(pdata) if pdata_len is None else pdata_len
    return (struct.pack('!II', 0xc37003, qkey) + bytes(16) +
            bytes([status, 0, 0, plen]) + pdata)


class HostileSidrPeer(CmPeerBase):
    """The same against a UD id's SIDR request (librdmacm-ext/cm_sidr.c):
    a broken SIDR_REP is UNREACHABLE -EPROTO, a foreign Q_Key ADDR_ERROR
    -EINVAL (the kernel's cma_set_qkey)."""

    PS = ce.RDMA_PS_UDP

    def request(self):
        """rdma_connect; accepts the connection, reads the SIDR_REQ."""
        pdata = pattern(40, 5)
        buf = (ctypes.c_uint8 * len(pdata))(*pdata)
        param = ConnParamC(ctypes.cast(buf, _P), len(pdata), 0, 0, 0, 0, 0,
                           0, 0)
        self.assertEqual(cm_c.rdma_connect(self.cid, ctypes.byref(param)), 0)
        self.conn = route_accept(self.lsock, self.port, self.PS, DEADLINE)
        magic, version, mtype, length = HDR.unpack(self.recv_exact(HDR.size))
        self.assertEqual((magic, version, mtype, length),
                         (MAGIC, VERSION, SIDR_REQ,
                          SIDR_REQ_FIXED + len(pdata)))
        body = self.recv_exact(length)
        # the port space, then the private data
        self.assertEqual(struct.unpack('!H', body[16:18])[0], self.PS)
        self.assertEqual(body[SIDR_REQ_FIXED:], pdata)

    def answered(self, data, etype, status):
        self.request()
        self.conn.sendall(data)
        ev = self.event(etype)
        self.assertEqual(ev.contents.status, status)
        self.ack(ev)
        self.closed()

    @bounded()
    def test_well_formed_answer_is_established(self):
        self.answered(msg(SIDR_REP, sidr_rep_body(pattern(136, 1))),
                      ce.RDMA_CM_EVENT_ESTABLISHED, 0)

    @bounded()
    def test_private_data_over_limit(self):
        self.answered(msg(SIDR_REP, sidr_rep_body(bytes(137))),
                      ce.RDMA_CM_EVENT_UNREACHABLE, -errno.EPROTO)

    @bounded()
    def test_private_data_beyond_body(self):
        self.answered(msg(SIDR_REP, sidr_rep_body(bytes(8), pdata_len=9)),
                      ce.RDMA_CM_EVENT_UNREACHABLE, -errno.EPROTO)

    @bounded()
    def test_foreign_qkey(self):
        self.answered(msg(SIDR_REP, sidr_rep_body(b'', qkey=0x80010000)),
                      ce.RDMA_CM_EVENT_ADDR_ERROR, -errno.EINVAL)

    @bounded()
    def test_unknown_status_is_unreachable(self):
        self.answered(msg(SIDR_REP, sidr_rep_body(b'', status=0xff)),
                      ce.RDMA_CM_EVENT_UNREACHABLE, 0xff)


if __name__ == '__main__':
    unittest.main()
