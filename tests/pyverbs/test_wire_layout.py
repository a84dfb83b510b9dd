# SPDX-License-Identifier: MIT
"""The Python view of the wire (rtcp_wire.py, read from wire.h) against the
provider's own codec: a header, hello or UD datagram header packed in Python
is decoded by providers/tcp/wire.c (rtcp_hdr_decode / rtcp_hdr_validate /
rtcp_hello_decode / rtcp_ud_decode, run by the wire_codec program built
with the tests), and every field must come out as packed. No device needed: ctest runs this file
too (RTCP_WIRE_CODEC set), and the pyverbs suite finds wire_codec beside
the provider under test.
"""

import subprocess
import unittest

import rtcp_wire as w

MAX_MSG = 1 << 20


class Codec:
    """wire_codec as a co-process: one request line, one answer line."""

    def __init__(self):
        path = w.codec_path()
        if not path:
            raise AssertionError(
                'wire_codec not found: set RTCP_WIRE_CODEC or RDMAV_DRIVERS '
                'to a build with tests/pyverbs/wire_codec')
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def ask(self, line):
        self.proc.stdin.write(line + '\n')
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().split()
        if not answer or answer[0] == 'error':
            raise AssertionError(f'wire_codec: {answer} for {line!r}')
        out = {}
        for item in answer:
            k, v = item.split('=')
            out[k] = int(v, 10) if k not in ('imm', 'src_gid') \
                else bytes.fromhex(v)
        return out

    def hdr(self, raw, expect_sseq, max_msg=MAX_MSG):
        return self.ask(f'hdr {raw.hex()} {expect_sseq} {max_msg}')

    def hello(self, raw):
        return self.ask(f'hello {raw.hex()}')

    def ud(self, raw, dgram_len, mtu):
        return self.ask(f'ud {raw.hex()} {dgram_len} {mtu}')

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def distinct(width, salt):
    """A value whose bytes differ from every other field's: a field read
    at a wrong offset or width cannot come out equal."""
    return bytes((salt * 16 + k) & 0xff for k in range(width))


class WireLayout(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.codec = Codec()

    @classmethod
    def tearDownClass(cls):
        cls.codec.close()

    def valid_write(self, **over):
        """A WRITE the receiver at stream offset 0 accepts."""
        f = dict(opcode=w.RTCP_OP_WRITE, flags=w.RTCP_F_SOLICITED,
                 spi=0, msn=7, ack_msn=5, credits=3, rkey=0x41424344,
                 raddr=0x5152535455565758, sseq=w.RTCP_HDR_LEN, len=16,
                 imm=b'\x01\x02\x03\x04', aux0=0x1122334455667788,
                 aux1=0x99aabbccddeeff00)
        f.update(over)
        return f

    def test_layout_covers_the_structs(self):
        """The offsets cover every member of the host-order structs, with
        no gap, in records of the advertised lengths."""
        for fields, st, members, total in (
                (w.HDR_FIELDS, w.RTCP_HDR, 'rtcp_hdr', w.RTCP_HDR_LEN),
                (w.HELLO_FIELDS, w.RTCP_HELLO, 'rtcp_hello',
                 w.RTCP_HELLO_LEN),
                (w.UD_FIELDS, w.RTCP_UD, 'rtcp_ud_hdr', w.RTCP_UD_HDR_LEN)):
            self.assertEqual(st.size, total)
            self.assertEqual([f[0] for f in fields],
                             w.struct_members(members))
            end = 0
            for name, off, width, _ in fields:
                self.assertEqual(off, end, name)
                end = off + width
            self.assertEqual(end, total)

    def test_every_field_decodes_as_packed(self):
        raw_vals = {name: distinct(width, i + 1)
                    for i, (name, _, width, _) in enumerate(w.HDR_FIELDS)}
        raw = w.pack_hdr(**{
            n: v if opaque else int.from_bytes(v, 'big')
            for (n, _, _, opaque), v in zip(w.HDR_FIELDS,
                                            raw_vals.values())})
        self.assertEqual(len(raw), w.RTCP_HDR_LEN)
        got = self.codec.hdr(raw, 0)
        for name, off, width, opaque in w.HDR_FIELDS:
            want = raw_vals[name] if opaque else \
                int.from_bytes(raw_vals[name], 'big')
            self.assertEqual(got[name], want, name)
            self.assertEqual(raw[off:off + width], raw_vals[name], name)
        # and the Python unpacker reads back what it packed
        back = w.unpack_hdr(raw)
        for name, _, _, opaque in w.HDR_FIELDS:
            self.assertEqual(back[name], got[name], name)

    def test_valid_frame_passes_validation(self):
        f = self.valid_write()
        got = self.codec.hdr(w.pack_hdr(**f), w.RTCP_HDR_LEN)
        self.assertEqual(got['validate'], w.RTCP_OK)
        self.assertEqual(got['hlen'], w.RTCP_HDR_LEN)
        for name, value in f.items():
            self.assertEqual(got[name], value, name)
        # an RNR ACK (header only, RTCP_F_RNR, timer code in imm) too
        rnr = dict(opcode=w.RTCP_OP_ACK, flags=w.RTCP_F_RNR, msn=9,
                   sseq=w.RTCP_HDR_LEN, imm=b'\0\0\0\x0e')
        got = self.codec.hdr(w.pack_hdr(**rnr), w.RTCP_HDR_LEN)
        self.assertEqual(got['validate'], w.RTCP_OK)
        self.assertEqual(got['flags'], w.RTCP_F_RNR)

    def test_bad_field_fails_validation(self):
        unknown_flag = 1
        while unknown_flag & w.RTCP_F_KNOWN:
            unknown_flag <<= 1
        cases = (
            ('opcode 0', dict(opcode=0), w.RTCP_EBADOP),
            ('opcode past the last', dict(opcode=w.RTCP_OP_MAX + 1),
             w.RTCP_EBADOP),
            ('short hlen', dict(hlen=w.RTCP_HDR_LEN // 2), w.RTCP_EBADHLEN),
            ('unknown flag', dict(flags=unknown_flag), w.RTCP_EBADFLAGS),
            ('sseq off by one', dict(sseq=w.RTCP_HDR_LEN + 1),
             w.RTCP_EBADSEQ),
            ('WRITE over the limit', dict(len=MAX_MSG + 1), w.RTCP_EBADLEN),
            ('ACK with a payload', dict(opcode=w.RTCP_OP_ACK, len=1),
             w.RTCP_EBADLEN),
            ('READ_REQ over the limit',
             dict(opcode=w.RTCP_OP_READ_REQ, len=0, aux0=MAX_MSG + 1),
             w.RTCP_EBADLEN),
        )
        for what, over, err in cases:
            with self.subTest(what):
                raw = w.pack_hdr(**self.valid_write(**over))
                got = self.codec.hdr(raw, w.RTCP_HDR_LEN)
                self.assertNotEqual(err, w.RTCP_OK)
                self.assertEqual(got['validate'], err)
                for name, value in over.items():
                    self.assertEqual(got[name], value, name)

    def test_hello_decodes_as_packed(self):
        gid = bytes(range(0xa0, 0xb0))
        raw = w.pack_hello(flags=0x1234, src_qpn=0x010203,
                           dst_qpn=0x0a0b0c, src_gid=gid)
        self.assertEqual(len(raw), w.RTCP_HELLO_LEN)
        got = self.codec.hello(raw)
        self.assertEqual(got['decode'], 0)
        self.assertEqual(got['magic'], w.RTCP_HELLO_MAGIC)
        self.assertEqual(got['version'], w.RTCP_VERSION)
        self.assertEqual(got['flags'], 0x1234)
        self.assertEqual(got['src_qpn'], 0x010203)
        self.assertEqual(got['dst_qpn'], 0x0a0b0c)
        self.assertEqual(got['src_gid'], gid)

    def test_bad_hello_is_refused(self):
        for what, over in (('magic', dict(magic=w.RTCP_HELLO_MAGIC ^ 1)),
                           ('version', dict(version=w.RTCP_VERSION + 1))):
            with self.subTest(what):
                got = self.codec.hello(w.pack_hello(src_qpn=1, dst_qpn=2,
                                                    **over))
                self.assertEqual(got['decode'], -1)


class UdLayout(unittest.TestCase):
    """The UD datagram header (rtcp_ud_hdr): what tests/tools/ud_hostile.py
    forges is what rtcp_ud_decode reads."""
    MTU = 4096

    @classmethod
    def setUpClass(cls):
        cls.codec = Codec()

    @classmethod
    def tearDownClass(cls):
        cls.codec.close()

    def test_every_field_decodes_as_packed(self):
        raw_vals = {name: distinct(width, i + 1)
                    for i, (name, _, width, _) in enumerate(w.UD_FIELDS)}
        ints = {n: v if opaque else int.from_bytes(v, 'big')
                for (n, _, _, opaque), v in zip(w.UD_FIELDS,
                                                raw_vals.values())}
        raw = w.pack_ud(**ints)
        self.assertEqual(len(raw), w.RTCP_UD_HDR_LEN)
        for name, off, width, _ in w.UD_FIELDS:
            self.assertEqual(raw[off:off + width], raw_vals[name], name)
        # not a valid datagram (magic, len...), but decoded field by field
        got = self.codec.ud(raw, w.RTCP_UD_HDR_LEN, self.MTU)
        self.assertNotEqual(got['decode'], w.RTCP_OK)
        for name, _, _, opaque in w.UD_FIELDS:
            self.assertEqual(got[name], ints[name], name)
        back = w.unpack_ud(raw)
        for name in w.UD_NAMES:
            self.assertEqual(back[name], got[name], name)

    def valid(self, **over):
        f = dict(opcode=w.RTCP_UD_SEND_IMM, dst_qpn=0x123456,
                 src_qpn=0x654321, qkey=0x11111111, imm=b'wxyz', len=100,
                 flags=w.RTCP_UD_F_SOLICITED)
        f.update(over)
        return f

    def test_valid_datagram_decodes(self):
        f = self.valid()
        got = self.codec.ud(w.pack_ud(**f), w.RTCP_UD_HDR_LEN + 100,
                            self.MTU)
        self.assertEqual(got['decode'], w.RTCP_OK)
        self.assertEqual(got['magic'], w.RTCP_UD_MAGIC)
        self.assertEqual(got['version'], w.RTCP_VERSION)
        for name, value in f.items():
            self.assertEqual(got[name], value, name)

    def test_bad_datagram_is_dropped(self):
        hl = w.RTCP_UD_HDR_LEN
        cases = (
            ('magic', dict(magic=w.RTCP_UD_MAGIC ^ 1), hl + 100,
             w.RTCP_EBADHLEN),
            ('version', dict(version=w.RTCP_VERSION + 1), hl + 100,
             w.RTCP_EBADHLEN),
            ('opcode 0', dict(opcode=0), hl + 100, w.RTCP_EBADOP),
            ('opcode 3', dict(opcode=3), hl + 100, w.RTCP_EBADOP),
            ('flag bit 1', dict(flags=2), hl + 100, w.RTCP_EBADFLAGS),
            ('flag bit 31', dict(flags=1 << 31), hl + 100,
             w.RTCP_EBADFLAGS),
            ('truncated header', {}, hl - 1, w.RTCP_EBADLEN),
            ('len above the datagram', {}, hl + 99, w.RTCP_EBADLEN),
            ('len below the datagram', {}, hl + 101, w.RTCP_EBADLEN),
            ('len over the MTU', dict(len=self.MTU + 1),
             hl + self.MTU + 1, w.RTCP_EBADLEN),
            ('mode on, no tag', dict(mode=1), hl + 100, w.RTCP_EBADLEN),
        )
        for what, over, size, err in cases:
            with self.subTest(what):
                got = self.codec.ud(w.pack_ud(**self.valid(**over)), size,
                                    self.MTU)
                self.assertEqual(got['decode'], err)
        got = self.codec.ud(w.pack_ud(**self.valid(mode=1)),
                            hl + 100 + w.RTCP_UD_TAG_LEN, self.MTU)
        self.assertEqual(got['decode'], w.RTCP_OK)
        got = self.codec.ud(w.pack_ud(**self.valid(len=self.MTU)),
                            hl + self.MTU, self.MTU)
        self.assertEqual(got['decode'], w.RTCP_OK)


if __name__ == '__main__':
    unittest.main()
