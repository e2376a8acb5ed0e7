"""Geneve (print-geneve.c, RFC 8926; udp 6081): flags, VNI, options' length, then the inner packet
by its ethertype; -v lists the options (-vv with their data)."""

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
        out.append(", options [")
        if nd.verbose:
            _options(nd, data, cp, opts_len)
        else:
            out.append("%u bytes" % opts_len)
        out.append("]")
    cp, left = cp + opts_len, left - opts_len
    out.append("\n\t" if nd.verbose else ": ")
    if proto in nd.ethertypes:
        nd.ethertypes[proto](nd, data, cp, left)
    elif proto == ETHERTYPE_TEB:
        inner_ether_print(nd, data, cp, left)
    else:
        out.append("geneve-proto-0x%x" % proto)


OPT_CLASSES = {0x0100: "Linux", 0x0101: "Open vSwitch", 0x0102: "Open Virtual Networking (OVN)",
               0x0103: "In-band Network Telemetry (INT)", 0x0104: "VMware"}
OPT_TYPE_CRITICAL, OPT_LEN_MASK = 0x80, 0x1F


def _opt_class(cls: int) -> str:
    return OPT_CLASSES.get(cls) or ("Standard" if cls <= 0x00FF else "Experimental" if cls >= 0xFFF0 else "Unknown")


def _options(nd, data: bytes, at: int, left: int) -> None:
    """geneve_opts_print."""
    out = nd.out
    sep = ""
    while left > 0:
        out.append(sep)
        sep = ", "
        if len(data) < at + 4:
            raise Truncated
        cls, kind = int.from_bytes(data[at:at + 2], "big"), data[at + 2]
        opt_len = 4 + (data[at + 3] & OPT_LEN_MASK) * 4
        out.append("class %s (0x%x) type 0x%x%s len %u" % (
            _opt_class(cls), cls, kind, "(C)" if kind & OPT_TYPE_CRITICAL else "", opt_len))
        if opt_len > left:
            out.append(" [bad length]")
            return
        if nd.verbose > 1 and opt_len > 4:
            if len(data) < at + opt_len:
                raise Truncated
            out.append(" data" + "".join(" %s" % data[i:i + 4].hex() for i in range(at + 4, at + opt_len, 4)))
        at += opt_len
        left -= opt_len
