# SPDX-License-Identifier: MIT
"""A hostile peer of a framed rsocket (librdmacm-ext/rio_proto.h), for
test_rsocket.sh: connects to a riostream server on 127.0.0.1:PORT and
plays one case, then reads until the server ends the connection.

  rio_peer.py PORT CASE

CASE:
  garbage   16 bytes that are no hello (a peer that does not frame)
  wrap      a hello, then a WRITE at offset 2^64-8 (the sum wraps)
  straddle  a hello and a 16-byte DATA (riostream's sync), then, once the
            server announced its mapping (MAP) and answered, a WRITE that
            runs 8 bytes past the end of that mapping

Prints what it saw; exit 0 if the server reset the connection (refused),
1 if it ended it cleanly or never did (10 s), 2 on a usage error.
"""
import socket
import struct
import sys

MAGIC = 0x72696F7463702D31
HDR = ">BBHIQ"
DATA, WRITE, MAP = 1, 2, 3


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("server ended the connection after %d bytes" % len(buf))
        buf += chunk
    return buf


def straddle(s):
    s.sendall(struct.pack(">QII", MAGIC, 1, 1))
    s.sendall(struct.pack(HDR, DATA, 0, 0, 16, 0) + bytes(16))
    recv_exact(s, 16)  # the server's hello
    mapping = None
    while True:  # its MAP, then its 16-byte answer
        t, _, _, ln, off = struct.unpack(HDR, recv_exact(s, 16))
        if t == MAP:
            mapping = (off, ln)
        elif t == DATA:
            recv_exact(s, ln)
            break
    if mapping is None:
        raise RuntimeError("no MAP frame before the answer")
    off, ln = mapping
    print("server maps %d bytes at %#x; writing 16 at its end - 8" % (ln, off))
    s.sendall(struct.pack(HDR, WRITE, 0, 0, 16, off + ln - 8) + b"X" * 16)


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("garbage", "wrap", "straddle"):
        print(__doc__)
        return 2
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    case = sys.argv[2]
    try:
        if case == "garbage":
            s.sendall(b"plain bytes, no")
            s.sendall(b"\n")
        elif case == "wrap":
            s.sendall(struct.pack(">QII", MAGIC, 1, 1))
            s.sendall(struct.pack(HDR, WRITE, 0, 0, 16, 2**64 - 8) + b"X" * 16)
        else:
            straddle(s)
        while s.recv(4096):
            pass
        print("the server ended the connection cleanly")
        return 1
    except ConnectionResetError:
        print("the server reset the connection")
        return 0
    except (socket.timeout, EOFError, RuntimeError) as e:
        print("no reset: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
