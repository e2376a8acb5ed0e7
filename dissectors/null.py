"""BSD loopback encapsulation, LINKTYPE_NULL (print-null.c): a 4-byte address family, then IP."""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.ethernet import ethertype_print

# BSD AF_ values -> the ethertype of the same protocol: AF_INET, then AF_INET6 on Linux/NetBSD,
# FreeBSD, Darwin and OpenBSD.
AF_ETHERTYPES = {2: 0x0800, 10: 0x86DD, 24: 0x86DD, 28: 0x86DD, 30: 0x86DD}


def null_print(nd, data: bytes, length: int) -> None:
    nd.proto = "null"
    if len(data) < 4:
        raise Truncated
    family = struct.unpack_from("=I", data)[0]
    nd.ll_len = 4
    etype = AF_ETHERTYPES.get(family)
    if etype is None or not ethertype_print(nd, etype, data, 4, length - 4):
        nd.out.append("AF %u" % family)
        nd.default_print(data[4:])
