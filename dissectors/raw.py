"""LINKTYPE_RAW (print-raw.c): no link header, the IP version nibble says which IP."""

from __future__ import annotations

from ebcap.dissectors.ipv4 import ip_print
from ebcap.dissectors.ipv6 import ip6_print


def raw_print(nd, data: bytes, length: int) -> None:
    if nd.link_header:
        nd.out.append("ip: ")
    nd.proto = "ip"
    version = data[0] >> 4      # tcpdump's ipN_print
    if version == 6:
        ip6_print(nd, data, 0, length)
    elif version == 4:
        ip_print(nd, data, 0, length)
    else:
        nd.out.append("unknown ip %u" % version)
