"""RIPng (print-ripng.c, RFC 2080; udp 521): the command and its route entries, one a line with -vv."""

from __future__ import annotations

import struct

from ebcap.dissectors.names import ip6

VERSION = 1
REQUEST, RESPONSE = 1, 2
HOPCNT_INFINITY6 = 16
ENTRY_LEN = 20
_ENTRY = struct.Struct("!16sHBB")            # prefix, route tag, prefix length, metric


def ripng_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "ripng"
    out = nd.out
    version = data[pay + 1]
    if version != VERSION:
        out.append(" [vers %u] (invalid)" % version)
        return
    cmd = data[pay]
    if cmd not in (REQUEST, RESPONSE):
        out.append(" ripng-%u ?? %u (invalid)" % (cmd, length))
        return
    if length < 4:
        out.append(" (invalid)")
        return
    left = length - 4
    n = left // ENTRY_LEN
    at = pay + 4
    if cmd == REQUEST and n == 1:
        prefix, _, _, metric = _ENTRY.unpack_from(data, at)
        if metric == HOPCNT_INFINITY6 and prefix == bytes(16):
            out.append(" ripng-req dump")
            return
    name = "req" if cmd == REQUEST else "resp"
    out.append(" ripng-%s %u[%u]:" % (name, n, length) if n * ENTRY_LEN != left else " ripng-%s %u:" % (name, n))
    sep = "\n\t" if nd.verbose > 1 else " "
    while left >= ENTRY_LEN:
        prefix, tag, plen, metric = _ENTRY.unpack_from(data, at)
        out.append("%s%s/%u" % (sep, ip6(prefix), plen))
        if tag:
            out.append(" [%u]" % tag)
        if metric and cmd == RESPONSE:
            out.append(" (%u)" % metric)
        at += ENTRY_LEN
        left -= ENTRY_LEN
    if left:
        out.append(" (invalid)")
