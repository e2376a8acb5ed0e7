"""Babel (print-babel.c, RFC 8966; udp 6696 and 6697): version, body length and the name of every
TLV of the body and of the trailer. (-v's TLV fields are not decoded.)"""

from __future__ import annotations

from ebcap.dissectors.extract import u16

MAGIC, VERSION = 42, 2
PAD1, UPDATE = 0, 8
NAMES = {1: " padN", 2: " ack-req", 3: " ack", 4: " hello", 5: " ihu", 6: " router-id", 7: " nh",
         9: " route-request", 10: " seqno-request", 11: " tspc", 12: " hmac", 13: " ss-update",
         14: " ss-request", 15: " ss-mh-request", 16: " mac", 17: " pc", 18: " challenge_request",
         19: " challenge_reply"}


class _Invalid(Exception):
    pass


def babel_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "babel"
    out = nd.out
    out.append("babel")
    if len(data) < pay + 4:
        raise IndexError
    if data[pay] != MAGIC:
        out.append(" invalid header")
        return
    version = data[pay + 1]
    out.append(" %u" % version)
    if version != VERSION:
        out.append(" unknown version")
        return
    if length < 4:
        out.append(" (invalid)")
        return
    body_len = u16(data, pay + 2)[0]
    out.append(" (%u)" % body_len)
    length -= 4
    try:
        if length < body_len:
            raise _Invalid
        _tlvs(nd, data, pay + 4, body_len, length)
        length -= body_len
        if length:
            out.append("\n\t----" if nd.verbose else " |")
            _tlvs(nd, data, pay + 4 + body_len, length, length)
    except _Invalid:
        out.append(" (invalid)")


def _tlvs(nd, data: bytes, at: int, tlvs_len: int, left: int) -> None:
    out = nd.out
    limit = min(tlvs_len, left)
    i = 0
    while i < tlvs_len:
        if i + 1 > limit:
            raise _Invalid
        kind = data[at + i]
        if kind == PAD1:
            out.append("\n\tPad 1" if nd.verbose else " pad1")
            i += 1
            continue
        if i + 2 > limit:
            raise _Invalid
        tlv_len = data[at + i + 1]
        if i + 2 + tlv_len > limit:
            raise _Invalid
        if len(data) < at + i + 2 + tlv_len:
            raise IndexError
        if not nd.verbose:
            if kind == UPDATE:
                out.append(" update")
                if tlv_len < 10:
                    raise _Invalid
                flags = data[at + i + 3]
                out.append("%s%s%s" % ("/prefix" if flags & 0x80 else "", "/id" if flags & 0x40 else "",
                                       "/unknown" if flags & 0x3F else ""))
            else:
                out.append(NAMES.get(kind, " unknown"))
        i += tlv_len + 2
