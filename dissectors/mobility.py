"""The IPv6 mobility header (print-mobility.c, RFC 6275): `mobility: TYPE ...`, -v its options."""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.names import ip6

NAMES = ("BRR", "HoTI", "CoTI", "HoT", "CoT", "BU", "BA", "BE")
MINLEN = 8
DATA = 6            # the message data after protocol, length, type, reserved and checksum
HEADER_LENGTHS = (MINLEN, MINLEN + 8, MINLEN + 8, MINLEN + 16, MINLEN + 16, MINLEN + 4, MINLEN + 4, MINLEN + 16)
_UPDATE_BITS = ((0x08, "A"), (0x04, "H"), (0x02, "L"), (0x01, "K"))


def mobility_print(nd, data: bytes, off: int, length: int, ip: tuple, fragmented) -> None:
    out = nd.out
    nd.proto = "mobility"
    mhlen = (data[off + 1] + 1) << 3
    mtype = data[off + 2]
    if mtype < len(HEADER_LENGTHS) and mhlen < HEADER_LENGTHS[mtype]:
        out.append("(header length %u is too small for type %u)" % (mhlen, mtype))
        raise Truncated
    out.append("mobility: %s" % (NAMES[mtype] if mtype < len(NAMES) else "type-#%u" % mtype))
    u16 = lambda at: struct.unpack_from("!H", data, at)[0]  # noqa: E731
    u32 = lambda at: struct.unpack_from("!I", data, at)[0]  # noqa: E731
    hlen = MINLEN
    if mtype in (1, 2):
        if nd.verbose:
            out.append(" %s Init Cookie=%08x:%08x" % ("Home" if mtype == 1 else "Care-of", u32(off + hlen),
                                                      u32(off + hlen + 4)))
        hlen += 8
    elif mtype in (3, 4):
        out.append(" nonce id=0x%x" % u16(off + DATA))
        who = "Home" if mtype == 3 else "Care-of"
        if nd.verbose:
            out.append(" %s Init Cookie=%08x:%08x" % (who, u32(off + hlen), u32(off + hlen + 4)))
        hlen += 8
        if nd.verbose:
            out.append(" %s Keygen Token=%08x:%08x" % (who, u32(off + hlen), u32(off + hlen + 4)))
        hlen += 8
    elif mtype == 5:
        out.append(" seq#=%u" % u16(off + DATA))
        u16(off + hlen)
        bits = data[off + hlen] >> 4
        if bits:
            out.append(" " + ("".join(c for bit, c in _UPDATE_BITS if bits & bit) or "bits-#0x%x" % bits))
        hlen += 2
        out.append(" lifetime=%u" % (u16(off + hlen) << 2))
        hlen += 2
    elif mtype == 6:
        out.append(" status=%u" % data[off + DATA])
        if data[off + DATA + 1] & 0x80:
            out.append(" K")
        out.append(" seq#=%u" % u16(off + hlen))
        hlen += 2
        out.append(" lifetime=%u" % (u16(off + hlen) << 2))
        hlen += 2
    elif mtype == 7:
        out.append(" status=%u" % data[off + DATA])
        out.append(" homeaddr %s" % ip6(_need(data, off + hlen, 16)))
        hlen += 16
    elif mtype != 0:
        out.append(" len=%u" % data[off + 1])
        return
    if nd.verbose:
        _options(out, data, off + hlen, mhlen - hlen)


def _need(data: bytes, at: int, n: int) -> bytes:
    if at + n > len(data):
        raise IndexError
    return data[at:at + n]


def _options(out: list, data: bytes, bp: int, length: int) -> None:
    i = 0
    while i < length:
        kind = data[bp + i]
        if kind == 0:
            optlen = 1
        elif i + 1 < length:
            optlen = data[bp + i + 1] + 2
        else:
            raise Truncated
        # tcpdump checks that the byte after the option was captured, not the option's last byte
        if i + optlen > length or bp + i + optlen >= len(data):
            raise Truncated
        left = length - i
        at = bp + i
        if kind == 0:
            out.append("(pad1)")
        elif kind == 1:
            out.append("(padn)")
        elif kind == 2:
            _min(out, left, 4, "(refresh: trunc)")
            out.append("(refresh: %u)" % (struct.unpack_from("!H", data, at + 2)[0] << 2))
        elif kind == 3:
            _min(out, left, 18, "(altcoa: trunc)")
            out.append("(alt-CoA: %s)" % ip6(data[at + 2:at + 18]))
        elif kind == 4:
            _min(out, left, 6, "(ni: trunc)")
            out.append("(ni: ho=0x%04x co=0x%04x)" % struct.unpack_from("!HH", data, at + 2))
        elif kind == 5:
            _min(out, left, 12, "(auth: trunc)")
            out.append("(auth)")
        else:
            out.append("(type-0x%02x: len=%u)" % (kind, data[at + 1]))
        i += optlen


def _min(out: list, left: int, need: int, text: str) -> None:
    if left < need:
        out.append(text)
        raise Truncated
