"""VXLAN (print-vxlan.c, RFC 7348, udp 4789): flags and VNI, then the inner Ethernet frame."""

from __future__ import annotations

from ebcap.dissectors.ethernet import inner_ether_print

HDR_LEN = 8


def vxlan_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "vxlan"
    out = nd.out
    out.append("VXLAN")
    if length < HDR_LEN:
        out.append(" (invalid)")
        return
    flags = data[pay]
    vni = int.from_bytes(data[pay + 4:pay + 7], "big")
    if len(data) < pay + 7:
        out.append(", flags [%s] (0x%02x), " % ("I" if flags & 0x08 else "invalid", flags))
        raise IndexError
    out.append(", flags [%s] (0x%02x), vni %u\n" % ("I" if flags & 0x08 else "invalid", flags, vni))
    if len(data) < pay + HDR_LEN:
        raise IndexError
    inner_ether_print(nd, data, pay + HDR_LEN, length - HDR_LEN)
