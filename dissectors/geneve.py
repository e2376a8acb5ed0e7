"""Geneve (print-geneve.c, RFC 8926; udp 6081): flags, VNI, options' length, then the inner packet
by its ethertype. (-v's option TLVs are not decoded.)"""

from __future__ import annotations

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.ethernet import inner_ether_print
from ebcap.dissectors.names import ETHERTYPE_NAMES
from ebcap.dissectors.text import bits_text

FLAG_NAMES = ((0x80, "O"), (0x40, "C"), (0x20, "R1"), (0x10, "R2"), (0x08, "R3"), (0x04, "R4"), (0x02, "R5"),
              (0x01, "R6"))
ETHERTYPE_TEB = 0x6558
HDR_LEN = 8


def geneve_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "geneve"
    out = nd.out
    out.append("Geneve")
    if length < HDR_LEN:
        out.append(" [length %u < 8] (invalid)" % length)
        return
    if len(data) < pay + HDR_LEN:
        raise Truncated
    ver_opt, flags = data[pay], data[pay + 1]
    if ver_opt >> 6:
        out.append(" ERROR: unknown-version %u" % (ver_opt >> 6))
        return
    proto = int.from_bytes(data[pay + 2:pay + 4], "big")
    out.append(", Flags [%s], vni 0x%x" % (bits_text(FLAG_NAMES, flags, "none", ""),
                                          int.from_bytes(data[pay + 4:pay + 7], "big")))
    if data[pay + 7]:
        out.append(", rsvd 0x%x" % data[pay + 7])
    if nd.link_header:
        out.append(", proto %s (0x%04x)" % (ETHERTYPE_NAMES.get(proto, "unknown"), proto))
    opts_len = (ver_opt & 0x3F) * 4
    left = length - HDR_LEN
    if left < opts_len:
        out.append(" truncated-geneve - %u bytes missing" % (opts_len - left))
        return
    cp = pay + HDR_LEN
    if len(data) < cp + opts_len:
        raise Truncated
    if opts_len:
        out.append(", options [%u bytes]" % opts_len)
    cp, left = cp + opts_len, left - opts_len
    out.append("\n\t" if nd.verbose else ": ")
    if proto in nd.ethertypes:
        nd.ethertypes[proto](nd, data, cp, left)
    elif proto == ETHERTYPE_TEB:
        inner_ether_print(nd, data, cp, left)
    else:
        out.append("geneve-proto-0x%x" % proto)
