# SPDX-License-Identifier: MIT
"""The rsocket API of framed rsockets (librdmacm-ext/rio_*.c) through
ctypes, for test_rsocket.sh: run under the preload on a host with a tcp
device (the r* calls are looked up process-wide, so the preload's come
first). Both ends in this process, on 127.0.0.1.

Prints "ok - CHECK" or "FAIL - CHECK: why" per check; exit 1 if any
failed.
"""
import ctypes
import errno
import socket
import struct
import sys

SOL_RDMA, RDMA_IOMAPSIZE = 0x10000, 3
PROT_NONE, PROT_WRITE = 0, 2

# the preload serves rsockets in a process that loaded librdmacm (it finds
# its tcp devices through the libibverbs the program uses)
ctypes.CDLL("librdmacm.so.1", mode=ctypes.RTLD_GLOBAL)
lib = ctypes.CDLL(None, use_errno=True)
c_int, c_long, c_size_t, c_void_p = ctypes.c_int, ctypes.c_long, ctypes.c_size_t, ctypes.c_void_p
lib.riowrite.argtypes = (c_int, c_void_p, c_size_t, c_long, c_int)
lib.riowrite.restype = ctypes.c_ssize_t
lib.riomap.argtypes = (c_int, c_void_p, c_size_t, c_int, c_int, c_long)
lib.riomap.restype = c_long
lib.riounmap.argtypes = (c_int, c_void_p, c_size_t)
for name in ("rsend", "rrecv"):
    getattr(lib, name).argtypes = (c_int, c_void_p, c_size_t, c_int)
    getattr(lib, name).restype = ctypes.c_ssize_t
FAILED = 0


def check(what, cond, why=""):
    global FAILED
    if cond:
        print("ok - %s" % what)
    else:
        FAILED += 1
        print("FAIL - %s: %s" % (what, why))


def err():
    return errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno())


def sin(port):
    return ctypes.create_string_buffer(
        struct.pack("=H", socket.AF_INET) + struct.pack(">H", port) +
        socket.inet_aton("127.0.0.1") + bytes(8), 16)


def iomap(fd, n):
    v = ctypes.c_int(n)
    assert lib.rsetsockopt(fd, SOL_RDMA, RDMA_IOMAPSIZE, ctypes.byref(v), 4) == 0


def listener(size):
    ls = lib.rsocket(socket.AF_INET, socket.SOCK_STREAM, 0)
    if size is not None:
        iomap(ls, size)
    assert lib.rbind(ls, sin(0), 16) == 0 and lib.rlisten(ls, 4) == 0
    a = ctypes.create_string_buffer(16)
    ln = ctypes.c_uint(16)
    lib.rgetsockname(ls, a, ctypes.byref(ln))
    return ls, struct.unpack(">H", a.raw[2:4])[0]


def pair(lsize, csize):
    """(listener, client, accepted) with these RDMA_IOMAPSIZE values"""
    ls, port = listener(lsize)
    c = lib.rsocket(socket.AF_INET, socket.SOCK_STREAM, 0)
    if csize is not None:
        iomap(c, csize)
    assert lib.rconnect(c, sin(port), 16) == 0, err()
    s = lib.raccept(ls, None, None)
    assert s >= 0, err()
    return ls, c, s


def select(fd, timeout_us=0, write=True):
    """(readable, writable) by rselect (asking for writable too: @write)"""
    r = (ctypes.c_ulong * 16)()
    w = (ctypes.c_ulong * 16)()
    r[fd // 64] = 1 << (fd % 64)
    w[fd // 64] = r[fd // 64] if write else 0
    tv = (ctypes.c_long * 2)(timeout_us // 1000000, timeout_us % 1000000)
    n = lib.rselect(fd + 1, r, w, None, tv)
    assert n >= 0, err()
    return bool(r[fd // 64] >> (fd % 64) & 1), bool(w[fd // 64] >> (fd % 64) & 1)


def recv1(fd):
    b = ctypes.create_string_buffer(1)
    return lib.rrecv(fd, b, 1, 0)


def plain():
    ls, c, s = pair(None, None)
    buf = ctypes.create_string_buffer(64)
    check("riomap on an rsocket without RDMA_IOMAPSIZE: ENOMEM",
          lib.riomap(s, buf, 64, PROT_WRITE, 0, -1) == -1 and err() == "ENOMEM", err())
    check("riowrite on it: EINVAL",
          lib.riowrite(c, buf, 8, 0, 0) == -1 and err() == "EINVAL", err())
    for fd in (s, c, ls):
        lib.rclose(fd)


def framed():
    ls, c, s = pair(2, 1)
    v, ln = ctypes.c_int(), ctypes.c_uint(4)
    lib.rgetsockopt(s, SOL_RDMA, RDMA_IOMAPSIZE, ctypes.byref(v), ctypes.byref(ln))
    check("raccept inherits the listener's RDMA_IOMAPSIZE", v.value == 2, v.value)
    check("rselect: a framed rsocket is writable, not readable",
          select(c) == (False, True), select(c))
    buf = ctypes.create_string_buffer(64)
    buf2 = ctypes.create_string_buffer(64)
    off = lib.riomap(s, buf, 64, PROT_WRITE, 0, -1)
    check("riomap(offset -1) gives the buffer's address",
          off == ctypes.addressof(buf), (off, err()))
    check("a second riomap past the peer's RDMA_IOMAPSIZE (1): ENOMEM",
          lib.riomap(s, buf2, 64, PROT_WRITE, 0, 4096) == -1 and err() == "ENOMEM", err())
    src = ctypes.create_string_buffer(bytes(range(1, 17)), 16)
    check("riowrite before the mapping was announced: EINVAL",
          lib.riowrite(c, src, 16, off, 0) == -1 and err() == "EINVAL", err())
    lib.rsend(s, b"m", 1, 0)  # our MAP goes first
    recv1(c)
    check("riowrite of 16 bytes into the announced mapping",
          lib.riowrite(c, src, 16, off + 8, 0) == 16, err())
    lib.rsend(c, b"d", 1, 0)
    check("rselect: readable after the peer's rsend", select(s, 5000000, False)[0])
    recv1(s)
    check("the written bytes are in place when later stream bytes arrive",
          buf.raw[8:24] == src.raw[:16] and buf.raw[:8] == bytes(8), buf.raw[:24])
    check("riowrite across the mapping's end writes what fits (4 of 16)",
          lib.riowrite(c, src, 16, off + 60, 0) == 4, err())
    check("riowrite just past it: EINVAL",
          lib.riowrite(c, src, 16, off + 64, 0) == -1 and err() == "EINVAL", err())
    lib.rsend(c, b"d", 1, 0)  # the write is in place before we unmap
    recv1(s)
    check("riomap(PROT_NONE) is accepted",
          lib.riomap(c, buf2, 64, PROT_NONE, 0, 0) == 0, err())
    check("riounmap of both", lib.riounmap(s, buf, 64) == 0 and
          lib.riounmap(c, buf2, 64) == 0, err())
    check("riounmap again: EINVAL",
          lib.riounmap(s, buf, 64) == -1 and err() == "EINVAL", err())
    lib.rshutdown(c, socket.SHUT_RDWR)
    check("the peer reads the end after rshutdown", recv1(s) == 0, err())
    for fd in (s, c, ls):
        check("rclose %d" % fd, lib.rclose(fd) == 0, err())


def mismatch():
    ls, port = listener(None)  # a peer that does not frame
    c = lib.rsocket(socket.AF_INET, socket.SOCK_STREAM, 0)
    iomap(c, 1)
    assert lib.rconnect(c, sin(port), 16) == 0, err()
    s = lib.raccept(ls, None, None)
    lib.rsend(s, b"sixteen bytes!!!", 16, 0)
    buf = ctypes.create_string_buffer(64)
    check("framed against unframed: riomap fails with EPROTO",
          lib.riomap(c, buf, 64, PROT_WRITE, 0, 0) == -1 and err() == "EPROTO", err())
    v, ln = ctypes.c_int(), ctypes.c_uint(4)
    lib.rgetsockopt(c, socket.SOL_SOCKET, socket.SO_ERROR, ctypes.byref(v), ctypes.byref(ln))
    check("SO_ERROR says EPROTO", v.value == errno.EPROTO, v.value)
    check("rsend then fails with EPROTO",
          lib.rsend(c, b"x", 1, 0) == -1 and err() == "EPROTO", err())
    got = []
    while True:
        n = lib.rrecv(s, buf, 64, 0)
        if n <= 0:
            break
        got.append(n)
    check("the unframed end reads the hello as 16 bytes, then a reset",
          got == [16] and n == -1 and err() == "ECONNRESET", (got, n, err()))
    for fd in (s, c, ls):
        lib.rclose(fd)


plain()
framed()
mismatch()
sys.exit(1 if FAILED else 0)
