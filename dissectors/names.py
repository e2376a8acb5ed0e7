"""Addresses and netdb names as tcpdump prints them (addrtoname.c): MACs, IPv4/IPv6, ports, protocols.

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


_PROTOCOLS: dict[int, str] | None = None


def protocol_name(proto: int) -> str | None:
    """netdb's name for an IP protocol number (/etc/protocols), as tcpdump prints without -n."""
    global _PROTOCOLS
    if _PROTOCOLS is None:
        _PROTOCOLS = {}
        try:
            with open("/etc/protocols", encoding="utf-8", errors="replace") as f:
                for line in f:
                    fields = line.split("#", 1)[0].split()
                    if len(fields) >= 2 and fields[1].isdigit():
                        _PROTOCOLS.setdefault(int(fields[1]), fields[0])
        except OSError:
            pass
    return _PROTOCOLS.get(proto) or None
