"""PPPoE (print-pppoe.c, RFC 2516; ethertypes 0x8863/0x8864): discovery codes and tags, or the PPP
frame of a session."""

from __future__ import annotations

import struct

from ebcap.dissectors.ppp import ppp_print

CODES = {0x09: "PADI", 0x07: "PADO", 0x19: "PADR", 0x65: "PADS", 0xA7: "PADT", 0: ""}
TAGS = {0: "EOL", 0x0101: "Service-Name", 0x0102: "AC-Name", 0x0103: "Host-Uniq", 0x0104: "AC-Cookie",
        0x0105: "Vendor-Specific", 0x0110: "Relay-Session-ID", 0x0120: "PPP-Max-Payload",
        0x0201: "Service-Name-Error", 0x0202: "AC-System-Error", 0x0203: "Generic-Error"}
HDRLEN = 6
MAXTAGPRINT = 80
PADI = 0x09
_HDR = struct.Struct("!BBHH").unpack_from
_TAG = struct.Struct("!HH").unpack_from


def pppoe_print(nd, data: bytes, off: int, length: int) -> None:
    nd.proto = "pppoe"
    out = nd.out
    if length < HDRLEN:
        out.append(" (length %u < %u) (invalid)" % (length, HDRLEN))
        return
    length -= HDRLEN
    vt, code, session, plen = _HDR(data, off)
    if vt >> 4 != 1:
        out.append(" [ver %u]" % (vt >> 4))
    if vt & 0x0F != 1:
        out.append(" [type %u]" % (vt & 0x0F))
    out.append("PPPoE " + CODES.get(code, "PAD-%x" % code))
    if code == PADI and plen > 1484 - HDRLEN:
        out.append(" [len %u!]" % plen)
    if plen > length:
        out.append(" [len %u > %u!]" % (plen, length))
        plen = length
    if session:
        out.append(" [ses 0x%x]" % session)
    if code:
        _tags(out, data, off + HDRLEN, plen)
    else:
        out.append(" ")
        ppp_print(nd, data, off + HDRLEN, plen)


def _tags(out: list[str], data: bytes, p: int, plen: int) -> None:
    end = p + plen
    tag = 0xFFFF
    while tag and p < end:
        tag, tlen = _TAG(data, p)
        p += 4
        name = TAGS.get(tag, "TAG-0x%x" % tag)
        if not tlen:
            out.append(" [%s]" % name)
            continue
        value = data[p:p + tlen]
        if len(value) < tlen:
            raise IndexError
        shown = value[:MAXTAGPRINT - 1]
        printable = sum(0x20 <= c <= 0x7E for c in shown)
        if printable > len(shown) - printable:
            text = "".join(chr(c) if 0x20 <= c <= 0x7E else "." for c in shown)
            out.append(' [%s "%s"]' % (name, text))
        else:
            out.append(" [%s 0x%s]" % (name, value.hex().upper()))
        p += tlen


def pppoe_if_print(nd, data: bytes, length: int) -> None:
    """LINKTYPE_PPP_ETHER: the frame starts with the PPPoE header."""
    nd.ll_len = HDRLEN
    pppoe_print(nd, data, 0, length)
