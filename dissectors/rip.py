"""RIP v1/v2 (print-rip.c; udp 520): version, command and length, and with -v the route entries and
v2's authentication entries."""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.hexdump import hex_dump
from ebcap.dissectors.names import ip4
from ebcap.dissectors.text import printjn

COMMANDS = {1: "Request", 2: "Response", 3: "Trace on", 4: "Trace off", 5: "Poll", 6: "Poll Entry"}
REQUEST, RESPONSE, TRACEON, TRACEOFF, POLL, POLLENTRY = 1, 2, 3, 4, 5, 6
HDR_LEN, ROUTE_LEN, AUTH_LEN = 4, 20, 16
AF_INET = 2
BSD_AF = {2: "IPv4", 6: "NS", 7: "ISO", 16: "Appletalk", 23: "IPX", 24: "IPv6", 28: "IPv6", 30: "IPv6"}
_V2 = struct.Struct("!HH4s4s4sI")            # family, tag, destination, mask, next hop, metric
_V1 = struct.Struct("!HH4sII I")             # family, mbz, destination, mbz, mbz, metric
_CRYPTO = struct.Struct("!HBBIII")           # packet length, key id, auth data length, seq, mbz, mbz


class _Stop(Exception):
    """rip_entry_print returned 0: the truncation marker, and no more entries."""


def rip_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "rip"
    out = nd.out
    avail = min(len(data) - pay, length)
    if avail < HDR_LEN:
        raise Truncated
    version, command = data[pay + 1], data[pay]
    out.append("%sRIPv%u" % ("\n\t" if nd.verbose else "", version))
    if version == 0:
        # RFC 1058's version 0 is machine-specific: tcpdump dumps it.
        out.append(hex_dump(data[pay:pay + length]))
        return
    out.append(", %s, length: %u" % (COMMANDS.get(command, "unknown command (%u)" % command), length))
    if not nd.verbose:
        return
    if command in (REQUEST, RESPONSE):
        if version not in (1, 2):
            out.append(", unknown version")
        else:
            out.append(", routes: %u%s" % (length // ROUTE_LEN, " or less" if version == 2 else ""))
            _entries(nd, data, pay + HDR_LEN, avail - HDR_LEN, version)
    elif command not in (TRACEOFF, POLL, POLLENTRY) and nd.verbose <= 1:
        out.append(hex_dump(data[pay:pay + length]))
    if nd.verbose > 1:
        out.append(hex_dump(data[pay:pay + length]))


def _entries(nd, data: bytes, at: int, left: int, version: int) -> None:
    entry = _entry_v1 if version == 1 else _entry_v2
    while left:
        try:
            size = entry(nd.out, data, at, left)
        except _Stop:
            nd.out.append(" [|rip]")
            return
        if left < size:
            nd.out.append(" [remaining entries length %u < %u] (invalid)" % (left, size))
            return
        at += size
        left -= size


def _entry_v1(out: list[str], data: bytes, at: int, left: int) -> int:
    if left < ROUTE_LEN or len(data) < at + ROUTE_LEN:
        raise _Stop
    family, mbz1, dest, mbz2, mbz3, metric = _V1.unpack_from(data, at)
    if family not in (AF_INET, 0):
        out.append("\n\t AFI %s, " % BSD_AF.get(family, "Unknown (%u)" % family))
        out.append(hex_dump(data[at + 4:at + ROUTE_LEN], "\n\t  "))
    elif mbz1 or mbz2 or mbz3:
        out.append(hex_dump(data[at:at + ROUTE_LEN], "\n\t  "))
    elif family == 0:
        out.append("\n\t  AFI 0, %s, metric: %u" % (ip4(dest), metric))
    else:
        out.append("\n\t  %s, metric: %u" % (ip4(dest), metric))
    return ROUTE_LEN


def _entry_v2(out: list[str], data: bytes, at: int, left: int) -> int:
    if left < 4 or len(data) < at + 4:
        raise _Stop
    family, tag = struct.unpack_from("!HH", data, at)
    if family == 0xFFFF:
        p, rest = at + 4, left - 4
        if tag == 2:
            out.append("\n\t  Simple Text Authentication data: " + printjn(data[p:p + AUTH_LEN]))
        elif tag == 3:
            if len(data) < p + _CRYPTO.size or rest < _CRYPTO.size:
                raise _Stop
            out.append("\n\t  Auth header: Packet Len %u, Key-ID %u, Auth Data Len %u, SeqNo %u, MBZ %u, MBZ %u"
                       % _CRYPTO.unpack_from(data, p))
        elif tag == 1:
            out.append("\n\t  Auth trailer:" + hex_dump(data[p:p + rest], "\n\t  "))
            return 4 + rest
        else:
            out.append("\n\t  Unknown (%u) Authentication data:" % tag + hex_dump(data[p:p + rest], "\n\t  "))
            return 4 + rest
    elif family not in (AF_INET, 0):
        out.append("\n\t  AFI %s" % BSD_AF.get(family, "Unknown (%u)" % family))
        out.append(hex_dump(data[at + 4:at + ROUTE_LEN], "\n\t  "))
    else:
        if left < ROUTE_LEN or len(data) < at + ROUTE_LEN:
            raise _Stop
        _, _, dest, mask, nexthop, metric = _V2.unpack_from(data, at)
        out.append("\n\t  AFI %s, %15s/%-2d, tag 0x%04x, metric: %u, next-hop: %s" % (
            BSD_AF.get(family, "%u" % family), ip4(dest), mask_to_plen(int.from_bytes(mask, "big")), tag,
            metric, ip4(nexthop) if nexthop != bytes(4) else "self"))
    return ROUTE_LEN


def mask_to_plen(mask: int) -> int:
    """util-print.c's mask2plen: the prefix length of a contiguous netmask, else -1."""
    inverted = ~mask & 0xFFFFFFFF
    if inverted & (inverted + 1):
        return -1
    return 32 - inverted.bit_length()
