"""LLDP (print-lldp.c, IEEE 802.1AB; ethertype 0x88cc): the headline; the TLV walk only checks
that the TLVs were captured and prints the system name (-v's TLV decode is not done)."""

from __future__ import annotations

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u16
from ebcap.dissectors.text import printjn

SYSTEM_NAME = 5


def lldp_print(nd, data: bytes, off: int, length: int) -> None:
    nd.proto = "lldp"
    nd.out.append("LLDP, length %u" % length)
    cp, left = off, length
    while left >= 2:
        if len(data) < cp + 2:
            raise Truncated
        tlv = u16(data, cp)[0]
        kind, tlen = tlv >> 9, tlv & 0x1FF
        cp, left = cp + 2, left - 2
        if not kind or not tlen:
            break
        if len(data) < cp + tlen or left < tlen:
            raise Truncated
        if kind == SYSTEM_NAME:     # printed without -v too, as CDP's Device-ID is
            nd.out.append(": " + printjn(data[cp:cp + tlen]))
        cp, left = cp + tlen, left - tlen
