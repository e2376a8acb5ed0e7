"""BSD loopback, LINKTYPE_NULL and OpenBSD's LINKTYPE_LOOP (print-null.c): a 4-byte address family,
then the packet."""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.ethernet import ethertype_print

LINKTYPE_LOOP = 108             # the same header with the family in network byte order
NULL_HDRLEN = 4
_FAMILY = struct.Struct("<I").unpack_from

# BSD AF_ values: AF_INET6 differs between the BSDs, so all of them are IPv6.
AF_NAMES = {2: "IPv4", 6: "NS", 7: "ISO", 16: "Appletalk", 23: "IPX", 24: "IPv6", 28: "IPv6", 30: "IPv6"}
# The families ebcap decodes, as the ethertype of the same protocol.
AF_ETHERTYPES = {2: 0x0800, 24: 0x86DD, 28: 0x86DD, 30: 0x86DD}


def null_print(nd, data: bytes, length: int) -> None:
    nd.proto = "null"
    if len(data) < NULL_HDRLEN:
        raise Truncated
    nd.ll_len = NULL_HDRLEN
    family = _FAMILY(data)[0]
    # The capturing host's byte order (LOOP: network order): upper 16 bits set means swapped.
    if family & 0xFFFF0000:
        family = int.from_bytes(family.to_bytes(4, "little"), "big")
    if nd.link_header:
        _header(nd, family, length)
    etype = AF_ETHERTYPES.get(family)
    if etype is None or not ethertype_print(nd, etype, data, NULL_HDRLEN, length - NULL_HDRLEN):
        if not nd.link_header:
            _header(nd, family, length)
        nd.default_print(data[NULL_HDRLEN:])


def _header(nd, family: int, length: int) -> None:
    if nd.quiet:
        nd.out.append(AF_NAMES.get(family, "Unknown AF %u" % family))
    else:
        nd.out.append("AF %s (%u)" % (AF_NAMES.get(family, "Unknown"), family))
    nd.out.append(", length %u: " % length)
