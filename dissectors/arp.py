"""ARP and RARP (print-arp.c)."""

from __future__ import annotations

import struct

from ebcap.dissectors.names import ETHERTYPE_NAMES
from ebcap.dissectors.names import ip4

_ARP = struct.Struct("!HHBBH").unpack_from
OPS = {1: "Request", 2: "Reply", 3: "Reverse Request", 4: "Reverse Reply",
       8: "Inverse Request", 9: "Inverse Reply", 10: "NACK Reply"}
HARDWARE = {1: "Ethernet", 6: "TokenRing", 15: "FrameRelay", 19: "ATM", 24: "IEEE1394", 32: "InfiniBand",
            772: "Loopback", 2: "Experimental Ethernet", 7: "ARCNet", 11: "LocalTalk"}
_IP_PROTOCOLS = (0x0800, 0x1000)    # IPv4, and the trailer encapsulation's type


def arp_print(nd, data: bytes, off: int, length: int) -> None:
    out = nd.out
    nd.proto = "arp"
    hrd, pro, hln, pln, op = _ARP(data, off)
    sha = off + 8
    spa = sha + hln
    tha = spa + pln
    tpa = tha + hln
    if len(data) < tpa + pln:
        raise IndexError
    if not nd.link_header:
        out.append("ARP, ")
    is_ip = pro in _IP_PROTOCOLS and pln == 4
    if not is_ip or hln == 0 or nd.verbose:
        out.append("%s (len %u), %s (len %u)" % (
            HARDWARE.get(hrd, "Unknown Hardware (%u)" % hrd), hln,
            ETHERTYPE_NAMES.get(pro, "Unknown Protocol (0x%04x)" % pro), pln))
        if not nd.verbose:
            out.append(", length %u" % length)
            return
    out.append("%s%s " % (", " if nd.verbose else "", OPS.get(op, "Unknown (%u)" % op)))

    def paddr(at: int) -> str:
        if not is_ip:
            return "<wrong proto type>" if pro not in _IP_PROTOCOLS else "<wrong len>"
        return ip4(data[at:at + 4])

    def haddr(at: int) -> str:
        return data[at:at + hln].hex(":") if hln else "<empty>"

    if op == 1:
        out.append("who-has " + paddr(tpa))
        if any(data[tha:tha + hln]):
            out.append(" (%s)" % haddr(tha))
        out.append(" tell " + paddr(spa))
    elif op == 2:
        out.append("%s is-at %s" % (paddr(spa), haddr(sha)))
    elif op in (3, 8):
        out.append("who-is %s tell %s" % (haddr(tha), haddr(sha)))
    elif op == 4:
        out.append("%s at %s" % (haddr(tha), paddr(tpa)))
    elif op == 9:
        out.append("%s at %s" % (haddr(sha), paddr(spa)))
    else:
        nd.default_print(data[off:])
        return
    out.append(", length %u" % length)
