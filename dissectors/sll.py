"""Linux cooked captures, LINKTYPE_LINUX_SLL and LINUX_SLL2 (print-sll.c): `-i any` and friends."""

from __future__ import annotations

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

SLL_HDRLEN = 16
SLL2_HDRLEN = 20
_SLL = struct.Struct("!HHH").unpack_from            # pkttype, hatype, halen; protocol at 14
_SLL2 = struct.Struct("!HHIHBB").unpack_from        # protocol, reserved, ifindex, hatype, pkttype, halen
PKTTYPES = {0: "In", 1: "B", 2: "M", 3: "P", 4: "Out"}
_NOT_ETHERTYPES = {1: "802.3", 4: "802.2"}          # LINUX_SLL_P_802_3, LINUX_SLL_P_802_2


def sll_print(nd, data: bytes, length: int) -> None:
    nd.proto = "sll"
    if len(data) < SLL_HDRLEN:
        raise Truncated
    if nd.link_header:
        _sll_header(nd, data, length)
    _payload(nd, data, SLL_HDRLEN, length, u16(data, 14)[0], _sll_header)


def sll2_print(nd, data: bytes, length: int) -> None:
    nd.proto = "sll2"
    if len(data) < SLL2_HDRLEN:
        raise Truncated
    etype, _res, ifindex, _hatype, pkttype, _halen = _SLL2(data)
    nd.out.append("%-5s %-3s " % (nd.ifname(ifindex), PKTTYPES.get(pkttype, "?")))
    if nd.link_header:
        _sll2_header(nd, data, length)
    _payload(nd, data, SLL2_HDRLEN, length, etype, _sll2_header)


def _sll_header(nd, data: bytes, length: int) -> None:
    """-e's text, and the text before the bytes of a protocol nothing decodes."""
    pkttype, _hatype, halen = _SLL(data)
    nd.out.append("%3s " % PKTTYPES.get(pkttype, "?"))
    _address_and_type(nd, data, 6, halen, u16(data, 14)[0], length)


def _sll2_header(nd, data: bytes, length: int) -> None:
    etype, _res, ifindex, _hatype, _pkttype, halen = _SLL2(data)
    nd.out.append("ifindex %u " % ifindex)
    _address_and_type(nd, data, 12, halen, etype, length)


def _address_and_type(nd, data: bytes, at: int, halen: int, etype: int, length: int) -> None:
    if halen == 6:
        nd.out.append(mac(data[at:at + 6]) + " ")
    if not nd.quiet:
        nd.out.append(_type_text(etype) + ", length %u: " % length)


def _type_text(etype: int) -> str:
    if etype <= ETHER_MAX_LEN_FIELD:
        return _NOT_ETHERTYPES.get(etype, "ethertype Unknown (0x%04x)" % etype)
    return "ethertype %s (0x%04x)" % (ETHERTYPE_NAMES.get(etype, "Unknown"), etype)


def _payload(nd, data: bytes, off: int, wirelen: int, etype: int, header) -> None:
    """The 802.1Q tags, then the ethertype's printer; `header` writes the cooked header's text."""
    hdrlen = off
    length = wirelen - off
    while etype == ETHERTYPE_8021Q:
        if len(data) - off < 4 or length < 4:
            nd.proto = "vlan"
            nd.ll_len = min(len(data), off + length)
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
    if etype <= ETHER_MAX_LEN_FIELD:
        nd.default_print(data[off:])
    elif not ethertype_print(nd, etype, data, off, length):
        if not nd.link_header:
            header(nd, data, length + hdrlen)
        nd.default_print(data[off:])
