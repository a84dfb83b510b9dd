# SPDX-License-Identifier: MIT
"""What the pyverbs suites share: the device under test, expectations
derived from its netdev, libibverbs and libc through ctypes for what pyverbs
does not expose, DeviceCase (a TestCase with the device open), and the
small tools of every suite: bounded() (a deadline for a whole test),
readable(), preloaded(), descriptor and thread counts. The QP suites share
more in qp_helpers.py and qp_case.py.

Environment:
    RDMA_TCP_DEV      device name (default tcp0)
    RDMA_TCP_NETDEV   its netdev (default: read from the registry, else lo)
    RDMA_TCP_GID0     expected GID at index 0 (default ::ffff:127.0.0.1 when
                      the netdev is lo, else not checked)
    RDMA_TCP_TEST_PSP the device's psp mode as it was registered ('' = the
                      default, auth); the suites that play a peer
                      themselves (raw_wire) run only with 'off'
    RDMA_TCP_TEST_SANITIZER  1 in a sanitizer build's pass: the cases
                      that only wait out a timer skip (timer_case)
    RDMA_TCP_TEST_BESIDE     1 when the cases that mostly wait (timer_case,
                      waiting_case) run in a second process beside this
                      one (tests/pyverbs/beside.py, started by tests/run):
                      they skip here
"""

import ctypes
import ctypes.util
import errno
import functools
import ipaddress
import mmap
import os
import select
import signal
import socket
import unittest

import pyverbs.enums as e
from pyverbs.device import Context
from pyverbs.pyverbs_error import PyverbsRDMAError

DEV = os.environ.get('RDMA_TCP_DEV', 'tcp0')
PORT = 1

ACCESS_FLAGS = (
    e.IBV_ACCESS_LOCAL_WRITE,
    e.IBV_ACCESS_REMOTE_WRITE,
    e.IBV_ACCESS_REMOTE_READ,
    e.IBV_ACCESS_REMOTE_ATOMIC,
    e.IBV_ACCESS_MW_BIND,
)

# ibv_wc_flags_ex this provider cannot fill
# what a tcp completion never carries (timestamps it does: test_domains)
UNSUPPORTED_WC_FLAGS = (
    e.IBV_WC_EX_WITH_CVLAN,
    e.IBV_WC_EX_WITH_FLOW_TAG,
    e.IBV_WC_EX_WITH_TM_INFO,
)


def registry_attr(name):
    """A file of the device's sysfs-shaped directory, or None."""
    root = os.environ.get('SYSFS_PATH')
    if not root:
        return None
    try:
        with open(os.path.join(root, 'class/infiniband', DEV, name)) as f:
            return f.read().strip()
    except OSError:
        return None


NETDEV = os.environ.get('RDMA_TCP_NETDEV') or registry_attr('parent') or 'lo'
GID0 = os.environ.get('RDMA_TCP_GID0',
                      '::ffff:127.0.0.1' if NETDEV == 'lo' else '')


def access_combo(bits):
    acc = 0
    for i, flag in enumerate(ACCESS_FLAGS):
        if bits & (1 << i):
            acc |= flag
    return acc


def access_valid(acc):
    """The IB rule (and the kernel's ib_check_mr_access): remote writers
    need LOCAL_WRITE."""
    remote_w = e.IBV_ACCESS_REMOTE_WRITE | e.IBV_ACCESS_REMOTE_ATOMIC
    return not (acc & remote_w) or bool(acc & e.IBV_ACCESS_LOCAL_WRITE)


def gid_addr(gid):
    """pyverbs GID -> ipaddress.IPv6Address"""
    return ipaddress.IPv6Address(str(gid.gid if hasattr(gid, 'gid') else gid))


def netdev_mtu(ifname):
    with open('/sys/class/net/%s/mtu' % ifname) as f:
        return int(f.read())


def ib_mtu_for(mtu):
    for ib, size in ((e.IBV_MTU_4096, 4096), (e.IBV_MTU_2048, 2048),
                     (e.IBV_MTU_1024, 1024), (e.IBV_MTU_512, 512)):
        if mtu >= size:
            return ib
    return e.IBV_MTU_256


def netdev_ipv6(ifname):
    """IPv6 addresses of ifname, from /proc/net/if_inet6."""
    out = set()
    try:
        with open('/proc/net/if_inet6') as f:
            for line in f:
                fields = line.split()
                if fields[-1] == ifname:
                    out.add(ipaddress.IPv6Address(int(fields[0], 16)))
    except OSError:
        pass
    return out


def open_fds():
    """Open descriptors (not the one the listing itself used)."""
    out = set()
    for f in os.listdir('/proc/self/fd'):
        try:
            os.fstat(int(f))
            out.add(int(f))
        except OSError:
            pass
    return out


def threads():
    return len(os.listdir('/proc/self/task'))


def readable(fd, timeout=0.0):
    return bool(select.select([fd], [], [], timeout)[0])


PSP = os.environ.get('RDMA_TCP_TEST_PSP', '')

# A test that speaks the wire itself (hand-made hellos, frames or CM
# messages, no TLS handshake) tests the unauthenticated mode: a secured
# device drops its peer before the first frame. tests/run runs these a
# second time on a device registered with `psp off`.
raw_wire = unittest.skipUnless(
    PSP == 'off', 'plays a peer without the handshake: needs a device '
    'registered with `psp off` and RDMA_TCP_TEST_PSP=off')


def preloaded():
    """True if librdmacm-ext (rdma_cm, completion channels) is preloaded,
    as `rdma-tcp env` sets it up."""
    return 'librdmacm-ext' in os.environ.get('LD_PRELOAD', '')


def qp_socket(qpn, peer_qpn):
    """A duplicate of QP `qpn`'s own TCP socket (the caller closes it),
    or None. A QPN is its listener's port << 8 | slot: the larger of the
    two accepts on its port, the smaller connects to it."""
    port = max(qpn, peer_qpn) >> 8
    for name in os.listdir('/proc/self/fd'):
        try:
            s = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue  # not a socket, or already closed
        try:
            if s.type == socket.SOCK_STREAM:
                lport, rport = s.getsockname()[1], s.getpeername()[1]
                if (rport == port if qpn < peer_qpn else
                        lport == port and rport != port):
                    return s
        except OSError:
            pass  # not connected
        s.close()
    return None


# Cases that spend seconds waiting for a timer of the provider or of
# rdma_cm, and little CPU, carry BESIDE_MARK: tests/run runs them in a
# second process (beside.py) at the same time as the rest, which then skip
# them (RDMA_TCP_TEST_BESIDE=1). The suite has a time budget.
BESIDE_MARK = 'rtcp_runs_beside'


def waiting_case(obj):
    """A test (method or class) that mostly waits: see BESIDE_MARK."""
    setattr(obj, BESIDE_MARK, True)
    return unittest.skipIf(
        os.environ.get('RDMA_TCP_TEST_BESIDE') == '1',
        'mostly waits: runs in the process beside this one (beside.py)')(obj)


def timer_case(obj):
    """A waiting_case that only waits out a timer: a sanitizer build's
    pass (tests/run sets RDMA_TCP_TEST_SANITIZER) skips it too -- it
    exercises no memory the other cases do not."""
    obj = unittest.skipIf(
        os.environ.get('RDMA_TCP_TEST_SANITIZER') == '1',
        'waits out a timer: the plain build runs it (tests/run)')(obj)
    return waiting_case(obj)

TEST_TIMEOUT = 60


def bounded(seconds=TEST_TIMEOUT):
    """Fail with TimeoutError after `seconds`: Python's SIGALRM handler
    interrupts a call blocked in the kernel (a read() of ibv_get_cq_event
    or rdma_get_cm_event returns EINTR), so a lost event fails the test
    instead of hanging the suite."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            def expire(signum, frame):
                raise TimeoutError('%s: no progress in %d s' %
                                   (fn.__name__, seconds))
            old = signal.signal(signal.SIGALRM, expire)
            signal.alarm(seconds)
            try:
                return fn(*args, **kwargs)
            finally:
                signal.alarm(0)
                signal.signal(signal.SIGALRM, old)
        return wrapper
    return deco


# --- libibverbs and libc through ctypes, for what pyverbs does not expose ---
# pyverbs 44 gives no usable raw pointers (Context.context and PD.pd crash
# the interpreter when read), so tests that need the C view -- the async
# fd, a PD freed under its MR, a NULL address -- open the device through
# libibverbs directly.

libverbs = ctypes.CDLL('libibverbs.so.1', use_errno=True)
_P = ctypes.c_void_p


class IbvQpCap(ctypes.Structure):
    _fields_ = [('max_send_wr', ctypes.c_uint32),
                ('max_recv_wr', ctypes.c_uint32),
                ('max_send_sge', ctypes.c_uint32),
                ('max_recv_sge', ctypes.c_uint32),
                ('max_inline_data', ctypes.c_uint32)]


class IbvQpInitAttr(ctypes.Structure):
    _fields_ = [('qp_context', _P), ('send_cq', _P), ('recv_cq', _P),
                ('srq', _P), ('cap', IbvQpCap), ('qp_type', ctypes.c_int),
                ('sq_sig_all', ctypes.c_int)]


class IbvSrqInitAttr(ctypes.Structure):
    _fields_ = [('srq_context', _P), ('max_wr', ctypes.c_uint32),
                ('max_sge', ctypes.c_uint32), ('srq_limit', ctypes.c_uint32)]


for _name, _res, _args in (
        ('ibv_get_device_list', ctypes.POINTER(_P), [ctypes.c_void_p]),
        ('ibv_free_device_list', None, [ctypes.POINTER(_P)]),
        ('ibv_get_device_name', ctypes.c_char_p, [_P]),
        ('ibv_open_device', _P, [_P]),
        ('ibv_close_device', ctypes.c_int, [_P]),
        ('ibv_alloc_pd', _P, [_P]),
        ('ibv_dealloc_pd', ctypes.c_int, [_P]),
        ('ibv_reg_mr', _P, [_P, _P, ctypes.c_size_t, ctypes.c_int]),
        ('ibv_dereg_mr', ctypes.c_int, [_P]),
        ('ibv_get_async_event', ctypes.c_int, [_P, _P]),
        ('ibv_ack_async_event', None, [_P]),
        ('ibv_create_cq', _P, [_P, ctypes.c_int, _P, _P, ctypes.c_int]),
        ('ibv_destroy_cq', ctypes.c_int, [_P]),
        ('ibv_create_qp', _P, [_P, ctypes.POINTER(IbvQpInitAttr)]),
        ('ibv_destroy_qp', ctypes.c_int, [_P]),
        ('ibv_create_srq', _P, [_P, ctypes.POINTER(IbvSrqInitAttr)]),
        ('ibv_destroy_srq', ctypes.c_int, [_P])):
    _f = getattr(libverbs, _name)
    _f.restype = _res
    _f.argtypes = _args

libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
libc.mmap.argtypes = [_P, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
libc.mmap.restype = _P
libc.munmap.argtypes = [_P, ctypes.c_size_t]
libc.munmap.restype = ctypes.c_int

PAGE = mmap.PAGESIZE
MAP_FAILED = ctypes.c_void_p(-1).value


def raw_mmap(length, prot):
    addr = libc.mmap(None, length, prot,
                      mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if addr in (None, MAP_FAILED):
        raise OSError(ctypes.get_errno(), 'mmap')
    return addr


class IbvContextHead(ctypes.Structure):
    """struct ibv_context up to num_comp_vectors (verbs.h, rdma-core 44):
    the device pointer, struct ibv_context_ops (32 function pointers), then
    cmd_fd, async_fd, num_comp_vectors."""
    _fields_ = [('device', _P),
                ('ops', _P * 32),
                ('cmd_fd', ctypes.c_int),
                ('async_fd', ctypes.c_int),
                ('num_comp_vectors', ctypes.c_int)]


class IbvAsyncEvent(ctypes.Structure):
    _fields_ = [('element', _P), ('event_type', ctypes.c_int)]


class RawContext:
    """DEV opened with plain libibverbs calls (a context manager)."""

    def __init__(self, name=DEV):
        n = ctypes.c_int(0)
        lst = libverbs.ibv_get_device_list(ctypes.byref(n))
        if not lst:
            raise OSError(ctypes.get_errno(), 'ibv_get_device_list')
        dev = None
        try:
            for i in range(n.value):
                if libverbs.ibv_get_device_name(lst[i]).decode() == name:
                    dev = lst[i]
            if dev is None:
                raise OSError(errno.ENODEV, 'no device ' + name)
            self.ctx = libverbs.ibv_open_device(dev)
            if not self.ctx:
                raise OSError(ctypes.get_errno(), 'ibv_open_device')
        finally:
            libverbs.ibv_free_device_list(lst)
        self.head = IbvContextHead.from_address(self.ctx)
        # Cross-check the layout before trusting async_fd: the device
        # pointer is the one opened, cmd_fd is the uverbs node.
        if self.head.device != dev:
            raise AssertionError('struct ibv_context layout mismatch')
        link = os.readlink('/proc/self/fd/%d' % self.head.cmd_fd)
        if not link.startswith('/dev/infiniband/uverbs'):
            raise AssertionError('cmd_fd is %s, layout mismatch?' % link)
        self.pds = []

    @property
    def async_fd(self):
        return self.head.async_fd

    @property
    def cmd_fd(self):
        return self.head.cmd_fd

    def alloc_pd(self):
        pd = libverbs.ibv_alloc_pd(self.ctx)
        if not pd:
            raise OSError(ctypes.get_errno(), 'ibv_alloc_pd')
        self.pds.append(pd)
        return pd

    def dealloc_pd(self, pd):
        rc = libverbs.ibv_dealloc_pd(pd)
        if rc == 0:
            self.pds.remove(pd)
        return rc

    @staticmethod
    def reg_mr(pd, addr, length, access):
        """Returns (mr pointer or None, errno)."""
        ctypes.set_errno(0)
        mr = libverbs.ibv_reg_mr(pd, addr, length, access)
        return mr, (0 if mr else ctypes.get_errno())

    @staticmethod
    def dereg_mr(mr):
        return libverbs.ibv_dereg_mr(mr)

    def close(self):
        for pd in list(self.pds):
            libverbs.ibv_dealloc_pd(pd)
        self.pds = []
        if self.ctx:
            libverbs.ibv_close_device(self.ctx)
            self.ctx = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class VerbsCase(unittest.TestCase):
    """The assertions every suite's TestCase shares."""

    def assertRDMAError(self, errnos, func, *args, **kwargs):
        """func(*args) must raise PyverbsRDMAError with one of errnos."""
        if isinstance(errnos, int):
            errnos = (errnos,)
        with self.assertRaises(PyverbsRDMAError) as cm:
            obj = func(*args, **kwargs)
            if hasattr(obj, 'close'):
                obj.close()
        self.assertIn(cm.exception.error_code, errnos,
                      '%s: errno %s, want one of %s' %
                      (getattr(func, '__name__', func),
                       cm.exception.error_code, errnos))
        return cm.exception


class DeviceCase(VerbsCase):
    """Opens DEV for each test and closes everything afterwards."""

    def setUp(self):
        self.ctx = Context(name=DEV)
        self.attr = self.ctx.query_device()
        self.port = self.ctx.query_port(PORT)

    def tearDown(self):
        self.ctx.close()
