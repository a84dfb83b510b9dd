# SPDX-License-Identifier: MIT
"""The wire format for tests that speak it over a raw socket, read from
include/rdma_tcp/wire.h at import time -- the one place the layout is
defined, so no Python copy can drift from the C one.

What it reads there:
    #define RTCP_OFF_<FIELD> N        header field offsets
    #define RTCP_HELLO_OFF_<FIELD> N  hello field offsets
    #define RTCP_<NAME> N             plain integer constants
    enum ... { RTCP_<NAME> [= EXPR], ... };   opcodes, flags, syndromes,
                                              validation results
A field runs from its offset to the next one (the last to RTCP_HDR_LEN /
RTCP_HELLO_LEN). Integers are big-endian; a field whose #define carries a
comment starting with "opaque" is raw bytes (struct 'Ns').

Exports RTCP_HDR, RTCP_HELLO and RTCP_UD_HDR (struct.Struct, fields in
wire order), HDR_FIELDS / HELLO_FIELDS / UD_FIELDS ((name, offset, width,
opaque) tuples), every constant by its C name (RTCP_OP_SEND, RTCP_F_RNR,
RTCP_EBADSEQ, ...), pack_hdr / unpack_hdr / pack_hello / unpack_hello /
pack_ud_hdr, and codec_path(): the tests' wire_codec program, which runs
the provider's real decoder.

Environment: RTCP_WIRE_H (another wire.h), RTCP_WIRE_CODEC (the
wire_codec binary; else found beside the provider RDMAV_DRIVERS names).
"""

import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
WIRE_H = os.environ.get('RTCP_WIRE_H') or os.path.join(
    HERE, '..', '..', 'include', 'rdma_tcp', 'wire.h')

_DEFINE = re.compile(
    r'^#define\s+(RTCP_\w+)\s+(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\s*(/\*.*)?$')
_ENUM = re.compile(r'enum\s+\w+\s*\{(.*?)\};', re.S)
_COMMENT = re.compile(r'/\*.*?\*/', re.S)
_EXPR_OK = re.compile(r'^[\sA-Za-z0-9_|&<>()+\-~]+$')
_INT_FORMAT = {1: 'B', 2: 'H', 4: 'I', 8: 'Q'}


def _parse(text):
    """(constants, {name: comment} of the #defines) of a wire.h text."""
    consts, notes = {}, {}
    for line in text.splitlines():
        m = _DEFINE.match(line.strip())
        if m:
            consts[m.group(1)] = int(m.group(2), 0)
            notes[m.group(1)] = (m.group(3) or '')[2:].strip()
    for body in _ENUM.findall(_COMMENT.sub('', text)):
        nxt = 0
        for item in filter(None, (i.strip() for i in body.split(','))):
            name, _, expr = (p.strip() for p in item.partition('='))
            if expr:
                if not _EXPR_OK.match(expr):
                    raise ValueError(f'{WIRE_H}: cannot read {item!r}')
                nxt = eval('(' + expr + ')', {'__builtins__': {}}, dict(consts))
            consts[name] = nxt
            nxt += 1
    return consts, notes


def _fields(consts, notes, prefix, total):
    """(name, offset, width, opaque) in wire order, from PREFIX<FIELD>."""
    offs = sorted((v, k[len(prefix):].lower(), k)
                  for k, v in consts.items() if k.startswith(prefix))
    out = []
    for i, (off, name, cname) in enumerate(offs):
        end = offs[i + 1][0] if i + 1 < len(offs) else total
        if end <= off:
            raise ValueError(f'{WIRE_H}: {cname} overlaps the next field')
        out.append((name, off, end - off,
                    notes[cname].startswith('opaque')))
    if not out or out[0][1] != 0:
        raise ValueError(f'{WIRE_H}: {prefix}* does not start at 0')
    return tuple(out)


def _struct(fields):
    fmt = '>'
    for _, _, width, opaque in fields:
        fmt += f'{width}s' if opaque or width not in _INT_FORMAT \
            else _INT_FORMAT[width]
    return struct.Struct(fmt)


def struct_members(struct_name, text=None):
    """Member names of a C struct in wire.h (for checks that the offsets
    cover every field of the host-order struct)."""
    if text is None:
        text = _TEXT
    m = re.search(r'struct\s+%s\s*\{(.*?)\};' % struct_name,
                  _COMMENT.sub('', text), re.S)
    return [re.match(r'.*?(\w+)\s*(\[\d+\])?$', d.strip()).group(1)
            for d in m.group(1).split(';') if d.strip()]


with open(WIRE_H) as _f:
    _TEXT = _f.read()
CONSTS, _NOTES = _parse(_TEXT)
globals().update(CONSTS)

HDR_FIELDS = _fields(CONSTS, _NOTES, 'RTCP_OFF_', CONSTS['RTCP_HDR_LEN'])
HELLO_FIELDS = _fields(CONSTS, _NOTES, 'RTCP_HELLO_OFF_',
                       CONSTS['RTCP_HELLO_LEN'])
RTCP_HDR = _struct(HDR_FIELDS)
RTCP_HELLO = _struct(HELLO_FIELDS)
HDR_NAMES = tuple(f[0] for f in HDR_FIELDS)
HELLO_NAMES = tuple(f[0] for f in HELLO_FIELDS)
UD_FIELDS = _fields(CONSTS, _NOTES, 'RTCP_UD_OFF_', CONSTS['RTCP_UD_HDR_LEN'])
RTCP_UD_HDR = _struct(UD_FIELDS)


def _pack(st, fields, defaults, values):
    unknown = set(values) - {f[0] for f in fields}
    if unknown:
        raise TypeError(f'no such field: {sorted(unknown)}')
    args = []
    for name, _, width, opaque in fields:
        v = values.get(name, defaults.get(name, 0))
        if (opaque or width not in _INT_FORMAT) and isinstance(v, int):
            v = v.to_bytes(width, 'big')
        args.append(v)
    return st.pack(*args)


def pack_hdr(**fields):
    """A 64-byte header; unnamed fields 0, hlen RTCP_HDR_LEN."""
    return _pack(RTCP_HDR, HDR_FIELDS, {'hlen': CONSTS['RTCP_HDR_LEN']},
                 fields)


def unpack_hdr(data):
    return dict(zip(HDR_NAMES, RTCP_HDR.unpack(data[:RTCP_HDR.size])))


def pack_ud_hdr(**fields):
    """A UD datagram's 48-byte header (struct rtcp_ud_hdr); unnamed fields
    0, magic and version right, opcode SEND."""
    return _pack(RTCP_UD_HDR, UD_FIELDS,
                 {'magic': CONSTS['RTCP_UD_MAGIC'],
                  'version': CONSTS['RTCP_VERSION'],
                  'opcode': CONSTS['RTCP_UD_SEND']}, fields)


def pack_hello(**fields):
    """A hello; magic and version the current ones unless given."""
    return _pack(RTCP_HELLO, HELLO_FIELDS,
                 {'magic': CONSTS['RTCP_HELLO_MAGIC'],
                  'version': CONSTS['RTCP_VERSION']}, fields)


def unpack_hello(data):
    return dict(zip(HELLO_NAMES, RTCP_HELLO.unpack(data[:RTCP_HELLO.size])))


def codec_path():
    """The wire_codec program of the build under test, or None."""
    env = os.environ.get('RTCP_WIRE_CODEC')
    if env:
        return env
    for entry in re.split('[:;]', os.environ.get('RDMAV_DRIVERS', '')):
        if os.path.isabs(entry):
            # BUILD/providers/tcp/libtcp -> BUILD/tests/pyverbs/wire_codec
            build = os.path.dirname(os.path.dirname(os.path.dirname(entry)))
            cand = os.path.join(build, 'tests', 'pyverbs', 'wire_codec')
            if os.access(cand, os.X_OK):
                return cand
    return None
