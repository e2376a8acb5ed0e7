"""Broadcom's lawful-intercept shim (print-bcm-li.c; udp source port 49152): direction, packet type
and intercept id, and with -v the intercepted packet."""

from __future__ import annotations

from ebcap.dissectors.ethernet import inner_ether_print
from ebcap.dissectors.extract import u16, u32

BCM_LI_PORT = 49152
SHIM_LEN = 4
DIRECTIONS = {1: "unused", 2: "egress", 3: "ingress"}
TYPE_UNDECIDED, TYPE_IPV4, TYPE_IPV6, TYPE_ETHERNET = 4, 5, 6, 7
TYPES = {TYPE_UNDECIDED: "undecided", TYPE_IPV4: "ipv4", TYPE_IPV6: "ipv6", TYPE_ETHERNET: "ethernet"}
SUBTYPES = {1: "single VLAN tag", 2: "double VLAN tag", 3: "untagged"}


def bcm_li_print(nd, data: bytes, pay: int, length: int) -> None:
    # print-udp.c takes the shim by source port only; the port table matches either port, so the
    # UDP header (always just before a UDP payload) says which one it was.
    if u16(data, pay - 8)[0] != BCM_LI_PORT:
        nd.out.append("UDP, length %u" % length)
        return
    nd.proto = "bcm_li"
    out = nd.out
    if length < SHIM_LEN:
        out.append(" (length %u < %u) (invalid)" % (length, SHIM_LEN))
        return
    shim = u32(data, pay)[0]
    kind = (shim >> 25) & 0xF
    v = "\n    " if nd.verbose else ""
    out.append("%sBCM-LI-SHIM: direction %s, pkt-type %s, pkt-subtype %s, li-id %u%s" % (
        v, DIRECTIONS.get((shim >> 29) & 7, "unknown"), TYPES.get(kind, "unknown"),
        SUBTYPES.get((shim >> 22) & 7, "unknown"), shim & 0x3FFFFF, v))
    if not nd.verbose:
        return
    inner, left = pay + SHIM_LEN, length - SHIM_LEN
    if kind == TYPE_UNDECIDED:
        first = data[inner] >> 4
        kind = TYPE_IPV4 if first == 4 else TYPE_IPV6 if first == 6 else 0
        if not kind:
            out.append("unknown payload")
            return
    if kind == TYPE_ETHERNET:
        inner_ether_print(nd, data, inner, left)
    elif kind == TYPE_IPV4:
        nd.ethertypes[0x0800](nd, data, inner, left)
    elif kind == TYPE_IPV6:
        nd.ethertypes[0x86DD](nd, data, inner, left)
    else:
        out.append(" (invalid)")
