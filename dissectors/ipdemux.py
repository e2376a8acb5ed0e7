"""IP protocol -> printer (print-ip-demux.c), shared by IPv4 and IPv6 and their extension headers.

An IP protocol printer is `xxx_print(nd, data, off, length, ip, fragmented)`: `ip` is the
enclosing header's (version, src bytes, dst bytes, src text, dst text, ttl or hop limit,
the header's own protocol field), `fragmented` true when the
datagram is a fragment (no checksum can be verified).
"""

from __future__ import annotations

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u16_pair
from ebcap.dissectors.names import protocol_name

IPPROTO_NAMES = {
    0: "Options", 1: "ICMP", 2: "IGMP", 4: "IPIP", 6: "TCP", 8: "EGP", 9: "IGRP", 17: "UDP", 33: "DCCP",
    41: "IPv6", 43: "Routing", 44: "Fragment", 46: "RSVP", 47: "GRE", 50: "ESP", 51: "AH", 55: "Mobile IP",
    58: "ICMPv6", 62: "Mobile IP (old)", 88: "EIGRP", 89: "OSPF", 103: "PIM", 108: "Compressed IP",
    112: "VRRP", 113: "PGM", 132: "SCTP", 135: "Mobility", 143: "Ethernet",
}
# Protocols whose printer writes the addresses itself, with the ports.
PRINTS_OWN_ADDRESSES = frozenset((6, 17, 33, 132))


def ip_demux_print(nd, data: bytes, off: int, length: int, proto: int, fragmented, ip: tuple) -> None:
    printer = nd.ip_protocols.get(proto)
    if printer is not None:
        printer(nd, data, off, length, ip, fragmented)
    else:
        name = netdb_protocol_name(nd, proto)
        nd.out.append(" %s %u" % (name, length) if name else " ip-proto-%u %u" % (proto, length))


def netdb_protocol_name(nd, proto: int) -> str | None:
    """The protocol's netdb name, None with -n or when it has none (tcpdump then prints ip-proto-N)."""
    return None if nd.numeric else protocol_name(proto)


def ports(nd, data: bytes, off: int, ip: tuple, kind: str, proto: int, short: str) -> tuple[int, int, str]:
    """A TCP or UDP header's (sport, dport, `src.sport > dst.dport: `). With the ports not captured,
    writes `short` % (src, dst) and raises Truncated. Behind another header (AH, an IPv6 extension
    header) the IP header's protocol is not this one and tcpdump writes the ports alone."""
    if len(data) - off < 4:
        if kind == "tcp" or ip[6] == proto:     # udpipaddr_print: nothing behind another header
            nd.out.append(short % (ip[3], ip[4]))
        raise Truncated
    sport, dport = u16_pair(data, off)
    if ip[6] != proto:
        return sport, dport, "%s > %s: " % (nd.port(sport, kind), nd.port(dport, kind))
    return sport, dport, "%s.%s > %s.%s: " % (ip[3], nd.port(sport, kind), ip[4], nd.port(dport, kind))
