"""Linux cooked captures, LINKTYPE_LINUX_SLL and LINUX_SLL2 (print-sll.c): `-i any` and friends."""

from __future__ import annotations

import socket
import struct

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.ethernet import (
    ETHER_MAX_LEN_FIELD,
    ETHERTYPE_8021Q,
    ETHERTYPE_NAMES,
    ethertype_print,
    tci_text,
)
from ebcap.dissectors.extract import u16
from ebcap.dissectors.names import mac

_SLL = struct.Struct("!HHH").unpack_from
_SLL2 = struct.Struct("!HHIHBB").unpack_from
PKTTYPES = {0: "In", 1: "B", 2: "M", 3: "P", 4: "Out"}


def sll_print(nd, data: bytes, length: int) -> None:
    nd.proto = "sll"
    if len(data) < 16:
        raise Truncated
    pkttype, _hatype, halen = _SLL(data)
    etype = u16(data, 14)[0]
    if nd.link_header:
        nd.out.append("%3s " % PKTTYPES.get(pkttype, "?"))
        if halen == 6:
            nd.out.append(mac(data[6:12]) + " ")
        if not nd.quiet:
            nd.out.append(_type_text(etype) + ", length %u: " % length)
    _payload(nd, data, 16, length - 16, etype)


def sll2_print(nd, data: bytes, length: int) -> None:
    nd.proto = "sll2"
    if len(data) < 20:
        raise Truncated
    etype, _res, ifindex, _hatype, pkttype, halen = _SLL2(data)
    try:
        ifname = socket.if_indextoname(ifindex)
    except OSError:
        ifname = "?"
    nd.out.append("%-5s %-3s " % (ifname, PKTTYPES.get(pkttype, "?")))
    if nd.link_header:
        nd.out.append("ifindex %u " % ifindex)
        if halen == 6:
            nd.out.append(mac(data[12:18]) + " ")
        if not nd.quiet:
            nd.out.append(_type_text(etype) + ", length %u: " % length)
    _payload(nd, data, 20, length - 20, etype)


def _type_text(etype: int) -> str:
    if etype <= ETHER_MAX_LEN_FIELD:
        return {1: "802.3", 4: "802.2"}.get(etype, "ethertype Unknown (0x%04x)" % etype)
    return "ethertype %s (0x%04x)" % (ETHERTYPE_NAMES.get(etype, "Unknown"), etype)


def _payload(nd, data: bytes, off: int, length: int, etype: int) -> None:
    while etype == ETHERTYPE_8021Q:
        if len(data) - off < 4:
            nd.proto = "vlan"
            raise Truncated
        if nd.link_header:
            nd.out.append(tci_text(u16(data, off)[0]) + ", ")
        etype = u16(data, off + 2)[0]
        if etype <= ETHER_MAX_LEN_FIELD:
            etype = 4
        if not nd.quiet:
            nd.out.append("ethertype %s, " % ETHERTYPE_NAMES.get(etype, "Unknown"))
        off += 4
        length -= 4
    nd.ll_len = off
    if etype <= ETHER_MAX_LEN_FIELD or not ethertype_print(nd, etype, data, off, length):
        nd.default_print(data[off:])
