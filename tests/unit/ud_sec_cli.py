#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""UD datagram security (providers/tcp/ud_sec.c) against implementations
that are not ours, on inputs drawn fresh each run:

  key   = HKDF-SHA256(PSK, salt "rdma-tcp ud v1", info mode|alg|sid(8 BE)),
          16 or 32 bytes -- computed by `openssl kdf ... HKDF` and by
          RFC 5869 written out with Python's hmac, which must agree;
  nonce = low 32 bits of sid (BE) || seq (8, BE);
  auth: tag = GMAC(key, nonce, header || payload) -- `openssl mac GMAC`;
  encrypt: AES-GCM(key, nonce, aad = header, payload) -- python3-cryptography.

Both directions: datagrams test_ud_sec seals are checked here, and
datagrams built here are opened by test_ud_sec (and refused once a byte
is flipped or the key is another).
  usage: ud_sec_cli.py TEST_UD_SEC_BINARY
"""
import hashlib
import hmac
import os
import struct
import subprocess
import sys
import tempfile

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SALT = b"rdma-tcp ud v1"
HDR = 48
MODES = {"auth": 1, "encrypt": 2}
ALGS = {"128": 0, "256": 1}
passed = failed = 0


def check(what, cond):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL", what)


def hkdf_py(psk, info, n):
    prk = hmac.new(SALT, psk, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def hkdf_cli(psk, info, n):
    out = subprocess.run(
        ["openssl", "kdf", "-keylen", str(n), "-kdfopt", "digest:SHA256",
         "-kdfopt", "hexkey:" + psk.hex(), "-kdfopt", "hexsalt:" + SALT.hex(),
         "-kdfopt", "hexinfo:" + info.hex(), "HKDF"],
        check=True, capture_output=True, text=True).stdout
    return bytes.fromhex(out.strip().replace(":", ""))


def key_for(psk, mode, alg, sid, what):
    info = bytes([MODES[mode], ALGS[alg]]) + struct.pack(">Q", sid)
    n = 32 if alg == "256" else 16
    k = hkdf_cli(psk, info, n)
    check(what + ": openssl kdf and hmac agree", k == hkdf_py(psk, info, n))
    return k


def gmac_cli(key, nonce, data, tmp):
    path = os.path.join(tmp, "gmac")
    with open(path, "wb") as f:
        f.write(data)
    out = subprocess.run(
        ["openssl", "mac", "-cipher", "AES-%d-GCM" % (len(key) * 8),
         "-macopt", "hexkey:" + key.hex(), "-macopt", "hexiv:" + nonce.hex(),
         "-in", path, "GMAC"],
        check=True, capture_output=True, text=True).stdout
    return bytes.fromhex(out.strip())


def run(binary, cmd, psk, mode, alg, data, tmp):
    path = os.path.join(tmp, "in")
    with open(path, "wb") as f:
        f.write(data)
    return subprocess.run([binary, cmd, psk.hex(), mode, alg, path],
                          capture_output=True)


def nonce_of(sid, seq):
    return struct.pack(">IQ", sid & 0xffffffff, seq)


def ours_sealed(binary, mode, alg, tmp):
    """A datagram test_ud_sec seals, checked with the independent tools."""
    psk, payload = os.urandom(32), os.urandom(1 + os.urandom(1)[0] * 8)
    r = run(binary, "seal", psk, mode, alg, payload, tmp)
    d = r.stdout
    what = "seal %s %s, %d bytes" % (mode, alg, len(payload))
    check(what + ": sealed", r.returncode == 0 and
          len(d) == HDR + len(payload) + 16)
    if r.returncode:
        return
    hdr, body, tag = d[:HDR], d[HDR:-16], d[-16:]
    sid, seq = struct.unpack(">QQ", hdr[32:48])
    check(what + ": header mode, alg", hdr[6] == MODES[mode] and
          hdr[7] == ALGS[alg])
    key = key_for(psk, mode, alg, sid, what)
    nonce = nonce_of(sid, seq)
    if mode == "auth":
        check(what + ": payload in clear", body == payload)
        check(what + ": GMAC tag", gmac_cli(key, nonce, hdr + body, tmp) == tag)
    else:
        try:
            plain = AESGCM(key).decrypt(nonce, body + tag, hdr)
        except Exception:
            plain = None
        check(what + ": GCM opens", plain == payload)


def theirs_opened(binary, mode, alg, tmp):
    """A datagram built here, opened by test_ud_sec."""
    psk, payload = os.urandom(32), os.urandom(1 + os.urandom(1)[0] * 8)
    sid, seq = struct.unpack(">QQ", os.urandom(16))
    sid |= 1  # the low half names the SPI: never 0
    seq = seq >> 1 | 1
    hdr = struct.pack(">IBBBBIIIIIIQQ", 0x52545544, 1, 1, MODES[mode],
                      ALGS[alg], 0x10, 0x20, 0x30, 0, len(payload), 0, sid,
                      seq)
    key = key_for(psk, mode, alg, sid, "open %s %s" % (mode, alg))
    nonce = nonce_of(sid, seq)
    if mode == "auth":
        body = payload + AESGCM(key).encrypt(nonce, b"", hdr + payload)
    else:
        body = AESGCM(key).encrypt(nonce, payload, hdr)
    d = hdr + body
    what = "open %s %s, %d bytes" % (mode, alg, len(payload))
    r = run(binary, "open", psk, mode, alg, d, tmp)
    check(what, r.returncode == 0 and
          r.stdout.decode().strip() == payload.hex())
    i = os.urandom(1)[0] % len(d)
    bad = d[:i] + bytes([d[i] ^ 0x80]) + d[i + 1:]
    r = run(binary, "open", psk, mode, alg, bad, tmp)
    check(what + ": byte %d flipped refused" % i, r.returncode == 1)
    r = run(binary, "open", os.urandom(32), mode, alg, d, tmp)
    check(what + ": other PSK refused", r.returncode == 1)


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="ud_sec_cli.") as tmp:
        for mode in MODES:
            for alg in ALGS:
                for _ in range(2):
                    ours_sealed(binary, mode, alg, tmp)
                    theirs_opened(binary, mode, alg, tmp)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
