"""Linux NFLOG (print-nflog.c): family, version, group, then TLVs in the capturing host's byte
order up to the one holding the packet."""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.ipv4 import ip_print
from ebcap.dissectors.ipv6 import ip6_print

NFLOG_HDR_LEN, NFLOG_TLV_LEN = 4, 4
NFULA_PAYLOAD = 9
NFULNL_PROTO_VERSION = 0
AF_INET, AF_INET6 = 2, 10
FAMILY_NAMES = {AF_INET: "IPv4", AF_INET6: "IPv6"}
# tcpdump reads the TLVs in its own (here little-endian) byte order, as Linux writes them
_TLV = struct.Struct("<HH").unpack_from


def nflog_if_print(nd, data: bytes, length: int) -> None:
    nd.proto = "nflog"
    caplen = len(data)
    if caplen < NFLOG_HDR_LEN:
        nd.ll_len = caplen
        raise Truncated
    family, version = data[0], data[1]
    if version != NFULNL_PROTO_VERSION:
        nd.out.append(" version %u (unknown)" % version)
        return
    if nd.link_header:
        _header(nd, data, length)
    off = NFLOG_HDR_LEN
    length -= NFLOG_HDR_LEN
    caplen -= NFLOG_HDR_LEN
    while length > 0:
        if caplen < NFLOG_TLV_LEN:
            nd.ll_len = off
            raise Truncated
        size, kind = _TLV(data, off)
        size += -size % 4
        if size < NFLOG_TLV_LEN or caplen < size:
            nd.ll_len = off
            raise Truncated
        if kind == NFULA_PAYLOAD:
            off += NFLOG_TLV_LEN    # tcpdump keeps `length` as it is here
            break
        off, length, caplen = off + size, length - size, caplen - size
    nd.ll_len = off
    if family == AF_INET:
        ip_print(nd, data, off, length)
    elif family == AF_INET6:
        ip6_print(nd, data, off, length)
    else:
        if not nd.link_header:
            _header(nd, data, length + NFLOG_HDR_LEN)
        nd.default_print(data[off:])


def _header(nd, data: bytes, length: int) -> None:
    nd.out.append("version %u, resource ID %u" % (data[1], struct.unpack_from(">H", data, 2)[0]))
    if not nd.quiet:
        nd.out.append(", family %s (%u)" % (FAMILY_NAMES.get(data[0], "Unknown"), data[0]))
    nd.out.append(", length %u: " % length)
