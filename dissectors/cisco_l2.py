"""Cisco's other SNAP protocols (print-dtp.c, print-udld.c): DTP and UDLD headlines, and with -v their
TLVs."""

from __future__ import annotations

from ebcap.dissectors.extract import u16, u32
from ebcap.dissectors.names import mac
from ebcap.dissectors.text import bits_text, printable, printjn

UDLD_CODES = {0: "Reserved", 1: "Probe message", 2: "Echo message", 3: "Flush message"}
UDLD_FLAGS = tuple((1 << i, name) for i, name in enumerate(("RT", "RSY", "MBZ-2", "MBZ-3", "MBZ-4", "MBZ-5",
                                                             "MBZ-6", "MBZ-7")))
UDLD_HEADER_LEN = 4
DTP_TLVS = {1: "Domain", 2: "Status", 3: "DTP type", 4: "Neighbor"}
UDLD_TLVS = {1: "Device-ID TLV", 2: "Port-ID TLV", 3: "Echo TLV", 4: "Message Interval TLV",
             5: "Timeout Interval TLV", 6: "Device Name TLV", 7: "Sequence Number TLV"}


def _invalid(out: list[str], data: bytes, end: int) -> None:
    out.append(" (invalid)")
    _need(data, end)


def _need(data: bytes, end: int) -> None:
    """ND_TCHECK of the rest, as a longjmp: tcpdump's [|proto] with the dumps from the frame start."""
    if len(data) < end:
        raise IndexError


def dtp_print(nd, data: bytes, off: int, length: int) -> None:
    nd.proto = "dtp"
    if length < 1:
        nd.out.append("[zero packet length] (invalid)")
        _need(data, off + length)
        return
    out = nd.out
    out.append("DTPv%u, length %u" % (data[off], length))
    if not nd.verbose:
        return
    p, left = off + 1, length - 1
    while left:
        if left < 4:
            out.append("[%u bytes remaining]" % left)
            return _invalid(out, data, p + left)
        kind, tlen = u16(data, p)[0], u16(data, p + 2)[0]
        if kind == 0:
            return
        out.append("\n\t%s (0x%04x) TLV, length %u" % (DTP_TLVS.get(kind, "Unknown"), kind, tlen))
        if tlen < 4 or tlen > left:
            out.append("[invalid TLV length %u]" % tlen)
            return _invalid(out, data, p + left)
        v = data[p + 4:p + tlen]
        if kind == 1:
            out.append(", " + printjn(v))
            _need(data, p + tlen)
        elif kind in (2, 3):
            if tlen != 5:
                return _invalid(out, data, p + left)
            out.append(", 0x%x" % v[0])
        elif kind == 4:
            if tlen != 10:
                return _invalid(out, data, p + left)
            out.append(", %s" % mac(v))
        else:
            _need(data, p + tlen)
        p, left = p + tlen, left - tlen


def udld_print(nd, data: bytes, off: int, length: int) -> None:
    nd.proto = "udld"
    if length < UDLD_HEADER_LEN:
        nd.out.append(" (invalid)")
        _need(data, off + length)
        return
    first, flags = data[off], data[off + 1]
    nd.out.append("UDLDv%u, Code %s (%x), Flags [%s] (0x%02x), length %u" % (
        first >> 5, UDLD_CODES.get(first & 0x1F, "Reserved"), first & 0x1F, bits_text(UDLD_FLAGS, flags, "none"),
        flags, length))
    if not nd.verbose:
        _need(data, off + length)
        return
    out = nd.out
    out.append("\n\tChecksum 0x%04x (unverified)" % u16(data, off + 2)[0])
    p, left = off + 4, length - 4
    while left:
        if left < 4:
            return _invalid(out, data, p + left)
        kind, tlen = u16(data, p)[0], u16(data, p + 2)[0]
        p, left = p + 4, left - 4
        out.append("\n\t%s (0x%04x) TLV, length %u" % (UDLD_TLVS.get(kind, "Unknown"), kind, tlen))
        if tlen <= 4:
            return _invalid(out, data, p + left)
        tlen -= 4
        if left < tlen:
            return _invalid(out, data, p + left)
        v = data[p:p + tlen]
        if kind in (1, 2, 6):
            out.append(", " + printjn(v))
            _need(data, p + tlen)
        elif kind == 3:
            out.append(", " + printable(v))
            _need(data, p + tlen)
        elif kind in (4, 5):
            if tlen != 1:
                return _invalid(out, data, p + left)
            out.append(", %us" % v[0])
        elif kind == 7:
            if tlen != 4:
                return _invalid(out, data, p + left)
            out.append(", %u" % u32(v, 0)[0])
        else:
            _need(data, p + tlen)
        p, left = p + tlen, left - tlen
