"""The Internet checksum (in_cksum.c) and the pseudo-headers TCP, UDP and ICMPv6 sum over."""

from __future__ import annotations

import struct


def in_cksum(b: bytes) -> int:
    """The Internet checksum of b, 0 when b (with its checksum field) verifies."""
    if len(b) & 1:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def shouldbe(sum_field: int, computed: int) -> int:
    """tcpdump's in_cksum_shouldbe: the checksum field value that would have verified."""
    s = sum_field + computed
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return s


def pseudo_header(version: int, src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    """The IPv4 or IPv6 pseudo-header that prefixes the transport bytes being summed."""
    if version == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)
