"""GRE (print-gre.c, RFC 2784/2890; IP protocol 47): flags, key and sequence, then the inner packet.
Version 1 (PPTP's enhanced GRE) prints its call id, sequence and ack."""

from __future__ import annotations

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.ethernet import inner_ether_print
from ebcap.dissectors.extract import u16, u32
from ebcap.dissectors.names import ETHERTYPE_NAMES
from ebcap.dissectors.ppp import ppp_print
from ebcap.dissectors.text import bits_text

CP, RP, KP, SP, S_RP, AP = 0x8000, 0x4000, 0x2000, 0x1000, 0x0800, 0x0080
FLAG_NAMES = ((CP, "checksum present"), (RP, "routing present"), (KP, "key present"),
              (SP, "sequence# present"), (S_RP, "source routing present"), (AP, "ack present"))
ETHERTYPE_TEB = 0x6558
ETHERTYPE_PPP = 0x880B
V0_WORDS = ((KP, ", key=0x%x", 0xFFFFFFFF), (SP, ", seq %u", 0xFFFFFFFF))
V1_WORDS = ((KP, ", call %u", 0xFFFF), (SP, ", seq %u", 0xFFFFFFFF), (AP, ", ack %u", 0xFFFFFFFF))
INNER_ETHERTYPES = (0x0800, 0x86DD, 0x8847)     # the rows of the ethertype table GRE hands on


def gre_print(nd, data: bytes, off: int, length: int, _ip: tuple, _fragmented) -> None:
    nd.proto = "gre"
    out = nd.out
    if len(data) < off + 2 or length < 2:
        raise Truncated
    flags = u16(data, off)[0]
    version = flags & 7
    out.append("GREv%u" % version)
    if version > 1:
        out.append(" ERROR: unknown-version")
        return
    if nd.verbose:
        out.append(", Flags [%s]" % bits_text(FLAG_NAMES, flags, "none"))
    proto = _field(data, off + 2, length - 2, 2)
    (_version0 if version == 0 else _version1)(nd, data, off + 4, length - 4, flags, proto, length)


def _field(data: bytes, cp: int, left: int, size: int) -> int:
    if len(data) < cp + size or left < size:
        raise Truncated
    return (u16 if size == 2 else u32)(data, cp)[0]


def _words(out: list[str], data: bytes, cp: int, left: int, flags: int, words) -> tuple[int, int]:
    """The optional 32-bit fields the flags announce, in order; returns where the rest starts."""
    for bit, text, mask in words:
        if flags & bit:
            out.append(text % (_field(data, cp, left, 4) & mask))
            cp, left = cp + 4, left - 4
    return cp, left


def _trailer(nd, proto: int, length: int) -> None:
    """-e's protocol, and the length."""
    if nd.link_header:
        nd.out.append(", proto %s (0x%04x)" % (ETHERTYPE_NAMES.get(proto, "unknown"), proto))
    nd.out.append(", length %u" % length)


def _version0(nd, data: bytes, cp: int, left: int, flags: int, proto: int, length: int) -> None:
    out = nd.out
    if flags & (CP | RP):
        checksum = _field(data, cp, left, 2)
        if nd.verbose:
            out.append(", sum 0x%x" % checksum)
        out.append(", off 0x%x" % _field(data, cp + 2, left - 2, 2))
        cp, left = cp + 4, left - 4
    cp, left = _words(out, data, cp, left, flags, V0_WORDS)
    if flags & RP:
        raise Truncated     # source route entries: not decoded
    _trailer(nd, proto, length)
    out.append("\n\t" if nd.verbose else ": ")
    if proto in INNER_ETHERTYPES and proto in nd.ethertypes:
        nd.ethertypes[proto](nd, data, cp, left)
    elif proto == ETHERTYPE_TEB:
        inner_ether_print(nd, data, cp, left)
    else:
        out.append("gre-proto-0x%x" % proto)


def _version1(nd, data: bytes, cp: int, left: int, flags: int, proto: int, length: int) -> None:
    """PPTP's enhanced GRE (RFC 2637): call id, sequence and ack numbers, then PPP."""
    out = nd.out
    cp, left = _words(out, data, cp, left, flags, V1_WORDS)
    if not flags & SP:
        out.append(", no-payload")
    _trailer(nd, proto, length)
    if not flags & SP:
        return
    out.append("\n\t" if nd.verbose else ": ")
    if proto == ETHERTYPE_PPP:
        ppp_print(nd, data, cp, left)
    else:
        out.append("gre-proto-0x%x" % proto)
