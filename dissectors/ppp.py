"""PPP (print-ppp.c) and PPPoE sessions (print-pppoe.c), as link types: LINKTYPE_PPP starts with
the address and control bytes (or not), LINKTYPE_PPP_ETHER with the PPPoE header."""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.ipv4 import ip_print
from ebcap.dissectors.ipv6 import ip6_print

PPP_ADDRESS_CONTROL = 0xFF03
PPPD_IN, PPPD_OUT = 0x0003, 0x0103        # pppd's direction byte in place of the address
PPP_IP, PPP_IPV6 = 0x0021, 0x0057
ETHERTYPE_IP, ETHERTYPE_IPV6 = 0x0800, 0x86DD
PPPOE_HDRLEN = 6
# tcpdump's ppptype2str, for the protocols met on a link
PPP_NAMES = {0x0021: "IP", 0x0057: "IPv6", 0x002B: "IPX", 0x0031: "BPDU", 0x8021: "IPCP",
             0x8057: "IP6CP", 0xC021: "LCP", 0xC023: "PAP", 0xC223: "CHAP", 0x80FD: "CCP",
             0x0281: "MPLS", 0x0FD: "CCP", 0x003D: "ML"}
# tcpdump's pppoecode_values: a session packet (code 0) has no name
PPPOE_CODES = {0x00: "", 0x09: "PADI", 0x07: "PADO", 0x19: "PADR", 0x65: "PADS", 0xA7: "PADT"}
_U16 = struct.Struct(">H").unpack_from


def ppp_print(nd, data: bytes, length: int, off: int = 0) -> int:
    """The PPP frame at `off`; returns its header's length (tcpdump's ppp_print)."""
    nd.proto = "ppp"
    olen, start = length, off
    if length < 2 or len(data) < off + 2:
        raise Truncated
    header = _U16(data, off)[0]
    if header in (PPPD_IN, PPPD_OUT, PPP_ADDRESS_CONTROL):
        if nd.link_header and header != PPP_ADDRESS_CONTROL:
            nd.out.append("In  " if header == PPPD_IN else "Out ")
        off, length = off + 2, length - 2
    if length < 2 or len(data) < off + 1:
        raise Truncated
    if data[off] % 2:                       # protocol field compression: one byte
        proto = data[off]
        off, length = off + 1, length - 1
    else:
        if len(data) < off + 2:
            raise Truncated
        proto = _U16(data, off)[0]
        off, length = off + 2, length - 2
    if nd.link_header:
        name = PPP_NAMES.get(proto)
        nd.out.append("%s (0x%04x), length %u" % (name or "unknown ctrl-proto (0x%04x)" % proto,
                                                    proto, olen))
        if name is None:
            return off - start
        nd.out.append(": ")
    if proto in (PPP_IP, ETHERTYPE_IP):
        ip_print(nd, data, off, length)
    elif proto in (PPP_IPV6, ETHERTYPE_IPV6):
        ip6_print(nd, data, off, length)
    else:
        nd.out.append("%s " % PPP_NAMES.get(proto, "unknown PPP protocol (0x%04x)" % proto))
        nd.default_print(data[off:])
    return off - start


def ppp_if_print(nd, data: bytes, length: int) -> None:
    nd.ll_len = 4
    ppp_print(nd, data, length)


def pppoe_if_print(nd, data: bytes, length: int) -> None:
    nd.proto = "pppoe"
    if length < PPPOE_HDRLEN or len(data) < PPPOE_HDRLEN:
        raise Truncated
    nd.ll_len = PPPOE_HDRLEN
    ver_type, code, session, pppoe_length = struct.unpack_from(">BBHH", data)
    length -= PPPOE_HDRLEN
    if ver_type != 0x11:
        nd.out.append("PPPoE version %u, type %u" % (ver_type >> 4, ver_type & 0xF))
        return
    nd.out.append("PPPoE %s" % PPPOE_CODES.get(code, "Unknown(0x%02x)" % code))
    if code == 0x09 and pppoe_length > length:
        nd.out.append(" [len %u!]" % pppoe_length)
    if pppoe_length > length:
        nd.out.append(" [len %u > %u!]" % (pppoe_length, length))
        pppoe_length = length
    if session:
        nd.out.append(" [ses 0x%x]" % session)
    if code:
        return              # discovery tags: tcpdump's -v detail, not decoded here
    nd.out.append(" ")
    ppp_print(nd, data, pppoe_length, PPPOE_HDRLEN)
