"""Addresses and netdb names as tcpdump prints them (addrtoname.c, ipproto.c): MACs, IPv4/IPv6, ports,
protocols.

The *_at readers take an offset into the captured bytes and raise IndexError where the address was
not captured, which the line printer turns into ` [|proto]`.
"""

from __future__ import annotations

import socket

# tcpdump's ethertype_values, as -e and the encapsulations name them.
ETHERTYPE_NAMES = {
    0x0800: "IPv4", 0x0806: "ARP", 0x86DD: "IPv6", 0x8100: "802.1Q", 0x88A8: "802.1Q-QinQ",
    0x9100: "802.1Q-9100", 0x9200: "802.1Q-9200", 0x8035: "Reverse ARP", 0x8847: "MPLS unicast",
    0x8848: "MPLS multicast", 0x888E: "EAPOL", 0x88CC: "LLDP", 0x8863: "PPPoE D", 0x8864: "PPPoE S",
    0x88E5: "802.1AE MACsec", 0x88F7: "PTP", 0x8809: "Slow Protocols", 0x9000: "Loopback",
    0x6558: "TEB", 0x880B: "PPP", 0x80F3: "Appletalk ARP", 0x809B: "Appletalk", 0x8137: "IPX",
}

_inet_ntoa = socket.inet_ntoa
_inet_ntop = socket.inet_ntop
_AF_INET6 = socket.AF_INET6


def mac(b: bytes) -> str:
    return b.hex(":")


def ip4(b: bytes) -> str:
    return _inet_ntoa(b)


def ip6(b: bytes) -> str:
    return _inet_ntop(_AF_INET6, b)


def ip4_at(data: bytes, at: int) -> str:
    b = data[at:at + 4]
    if len(b) < 4:
        raise IndexError
    return _inet_ntoa(b)


def ip6_at(data: bytes, at: int) -> str:
    b = data[at:at + 16]
    if len(b) < 16:
        raise IndexError
    return _inet_ntop(_AF_INET6, b)


def numeric_port(port: int, _kind: str) -> str:
    """-n: the port as a number."""
    return str(port)


class ServiceNames:
    """Port names from /etc/services (tcpport_string/udpport_string), cached: getservbyport is slow."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str], str] = {}

    def port(self, port: int, kind: str) -> str:
        key = (port, kind)
        name = self._cache.get(key)
        if name is None:
            try:
                name = socket.getservbyport(port, kind)
            except OSError:
                name = str(port)
            self._cache[key] = name
        return name


class InterfaceNames:
    """if_indextoname, cached for the printer's life: a call costs ~5 us, as much as a whole line.
    (tcpdump asks every packet; a name changed during a run is the one thing this misses.)"""

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def name(self, ifindex: int) -> str:
        name = self._cache.get(ifindex)
        if name is None:
            try:
                name = socket.if_indextoname(ifindex)
            except OSError:
                name = "?"
            self._cache[ifindex] = name
        return name


# tcpdump's names for IP protocol numbers (ipproto.c's netdb_protocol_names, tcpdump 4.99.3),
# which it prints without -n: its own table (IANA's registry, spelt as /etc/protocols spells it),
# not the host's /etc/protocols, which tcpdump stopped reading in 4.99 so that the same packets
# print the same everywhere. Debian's file names 0 "ip" and 143 "ethernet", and has no 7, 16,
# 255, ... The numbers left out print as ip-proto-N.
NETDB_PROTOCOL_NAMES = {
    0: "hopopt", 1: "icmp", 2: "igmp", 3: "ggp", 4: "ipencap", 5: "st", 6: "tcp", 7: "cbt",
    8: "egp", 9: "igp", 10: "bbn-rcc-mon", 11: "nvp-ii", 12: "pup", 13: "argus", 14: "emcon",
    15: "xnet", 16: "chaos", 17: "udp", 18: "mux", 19: "dcn-meas", 20: "hmp", 21: "prm",
    22: "xns-idp", 23: "trunk-1", 24: "trunk-2", 25: "leaf-1", 26: "leaf-2", 27: "rdp", 28: "irtp",
    29: "iso-tp4", 30: "netblt", 31: "mfe-nsp", 32: "merit-inp", 33: "dccp", 34: "3pc", 35: "idpr",
    36: "xtp", 37: "ddp", 38: "idpr-cmtp", 39: "tp++", 40: "il", 41: "ipv6", 42: "sdrp",
    43: "ipv6-route", 44: "ipv6-frag", 45: "idrp", 46: "rsvp", 47: "gre", 48: "dsr", 49: "bna",
    50: "esp", 51: "ah", 52: "i-nlsp", 53: "swipe", 54: "narp", 55: "mobile", 56: "tlsp",
    57: "skip", 58: "ipv6-icmp", 59: "ipv6-nonxt", 60: "ipv6-opts", 62: "cftp", 64: "sat-expak",
    65: "kryptolan", 66: "rvd", 67: "ippc", 69: "sat-mon", 70: "visa", 71: "ipcv", 72: "cpnx",
    73: "rspf", 74: "wsn", 75: "pvp", 76: "br-sat-mon", 77: "sun-nd", 78: "wb-mon", 79: "wb-expak",
    80: "iso-ip", 81: "vmtp", 82: "secure-vmtp", 83: "vines", 84: "ttp", 85: "nsfnet-igp",
    86: "dgp", 87: "tcf", 88: "eigrp", 89: "ospf", 90: "sprite-rpc", 91: "larp", 92: "mtp",
    93: "ax.25", 94: "ipip", 95: "micp", 96: "scc-sp", 97: "etherip", 98: "encap", 100: "gmtp",
    101: "ifmp", 102: "pnni", 103: "pim", 104: "aris", 105: "scps", 106: "qnx", 107: "a/n",
    108: "ipcomp", 109: "snp", 110: "compaq-peer", 111: "ipx-in-ip", 112: "vrrp", 113: "pgm",
    115: "l2tp", 116: "ddx", 117: "iatp", 118: "stp", 119: "srp", 120: "uti", 121: "smp", 122: "sm",
    123: "ptp", 124: "isis", 125: "fire", 126: "crtp", 127: "crudp", 128: "sscopmce", 129: "iplt",
    130: "sps", 131: "pipe", 132: "sctp", 133: "fc", 134: "rsvp-e2e-ignore", 135: "mobility-header",
    136: "udplite", 137: "mpls-in-ip", 138: "manet", 139: "hip", 140: "shim6", 141: "wesp",
    142: "rohc", 253: "exptest-253", 254: "exptest-254", 255: "reserved",
}


def protocol_name(proto: int) -> str | None:
    """tcpdump's name for an IP protocol number (netdb_protoname()), as it prints without -n."""
    return NETDB_PROTOCOL_NAMES.get(proto)
