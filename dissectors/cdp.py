"""CDP (print-cdp.c; SNAP, Cisco OUI, PID 0x2000): version, ttl, the Device-ID, length. (-v's TLV
decode is not done.)"""

from __future__ import annotations

from ebcap.dissectors.extract import u16_pair
from ebcap.dissectors.hexdump import hex_dump
from ebcap.dissectors.text import printable

HEADER_LEN = TLV_HEADER_LEN = 4
DEVICE_ID = 0x01
T_MAX = 0x17
NAMES = {0x01: "Device-ID", 0x02: "Address", 0x03: "Port-ID", 0x04: "Capability", 0x05: "Version String",
         0x06: "Platform", 0x07: "Prefixes", 0x08: "Protocol-Hello option", 0x09: "VTP Management Domain",
         0x0A: "Native VLAN ID", 0x0B: "Duplex", 0x0E: "ATA-186 VoIP VLAN assignment",
         0x0F: "ATA-186 VoIP VLAN request", 0x10: "power consumption", 0x11: "MTU",
         0x12: "AVVID trust bitmap", 0x13: "AVVID untrusted ports CoS", 0x14: "System Name",
         0x15: "System Object ID (not decoded)", 0x16: "Management Addresses", 0x17: "Physical Location"}


def _invalid(nd, data: bytes, cp: int, length: int) -> None:
    nd.out.append(" (invalid)")
    if len(data) < cp + length:
        raise IndexError


def cdp_print(nd, data: bytes, off: int, length: int) -> None:
    nd.proto = "cdp"
    out = nd.out
    orig = length
    if length < HEADER_LEN:
        out.append(" (packet length %u < %u)" % (length, HEADER_LEN))
        _invalid(nd, data, off, length)
        return
    out.append("CDPv%u, ttl: %us" % (data[off], data[off + 1]))
    if len(data) < off + 4:
        raise IndexError
    cp, length = off + HEADER_LEN, length - HEADER_LEN
    while length:
        if length < TLV_HEADER_LEN:
            out.append(" (remaining packet length %u < %u)" % (length, TLV_HEADER_LEN))
            _invalid(nd, data, cp, length)
            return
        kind, tlen = u16_pair(data, cp)
        if tlen < TLV_HEADER_LEN:
            out.append(", %s TLV length %u too short" % (NAMES.get(kind, "unknown field type"), tlen))
            _invalid(nd, data, cp, length)
            return
        if tlen > length:
            out.append(" (TLV length %u > %u)" % (tlen, length))
            _invalid(nd, data, cp, length)
            return
        cp, length, tlen = cp + TLV_HEADER_LEN, length - TLV_HEADER_LEN, tlen - TLV_HEADER_LEN
        value = data[cp:cp + tlen]
        if kind == DEVICE_ID:
            out.append(", Device-ID '" + printable(value))
            if len(value) < tlen:
                raise IndexError
            out.append("'")
        else:
            # tcpdump 4.99 dumps every other TLV's bytes without -v (print_unknown_data).
            if len(value) < tlen:
                raise IndexError
            out.append(hex_dump(value, "\n\t  "))
        cp, length = cp + tlen, length - tlen
    out.append(", length %u" % orig)
