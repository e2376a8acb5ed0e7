"""MPLS (print-mpls.c, RFC 3032; ethertype 0x8847/0x8848): the label stack, then IPv4/IPv6 below it."""

from __future__ import annotations

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u32

LABEL_NAMES = ("IPv4 explicit NULL", "router alert", "IPv6 explicit NULL", "implicit NULL") + ("rsvd",) * 12
ETHERTYPE_IP, ETHERTYPE_IPV6 = 0x0800, 0x86DD


def mpls_print(nd, data: bytes, off: int, length: int) -> None:
    nd.proto = "mpls"
    out = nd.out
    out.append("MPLS")
    depth = 0
    while True:
        if length < 4:
            out.append(" (invalid)")
            if len(data) < off + length:
                raise Truncated
            return
        entry = u32(data, off)[0]
        label = entry >> 12
        out.append("%s(label %u" % ("\n\t" if depth and nd.verbose else " ", label))
        depth += 1
        if nd.verbose and label < len(LABEL_NAMES):
            out.append(" (%s)" % LABEL_NAMES[label])
        out.append(", tc %u%s, ttl %u)" % ((entry >> 9) & 7, ", [S]" if entry & 0x100 else "", entry & 0xFF))
        off, length = off + 4, length - 4
        if entry & 0x100:
            break
    _payload(nd, data, off, length, label)


def _payload(nd, data: bytes, off: int, length: int, label: int) -> None:
    if label in (0, 3):
        etype = ETHERTYPE_IP
    elif label == 2:
        etype = ETHERTYPE_IPV6
    else:
        if length < 1:
            return
        first = data[off]
        etype = ETHERTYPE_IP if 0x45 <= first <= 0x4F else ETHERTYPE_IPV6 if 0x60 <= first <= 0x6F else None
    if etype is None:
        nd.default_print(data[off:off + length])    # OSI (0x81-0x83) is not decoded either
        return
    nd.out.append("\n\t" if nd.verbose else " ")
    nd.ethertypes[etype](nd, data, off, length)
