"""Babel (print-babel.c, RFC 8966; udp 6696 and 6697): version, body length and the name of every
TLV of the body and of the trailer; with -v the fields of pads, acknowledgments, hellos, IHUs, router
ids, next hops and updates (with their prefix compression). (-v's route and seqno requests, the
source-specific, MAC and challenge TLVs and the sub-TLVs' contents are not decoded.)"""

from __future__ import annotations

from ebcap.dissectors.extract import u16
from ebcap.dissectors.names import ip4, ip6

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
    prefixes = {1: V4_PREFIX, 2: bytes(16)}     # the default prefixes updates may omit bytes of
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
        if nd.verbose:
            _verbose(out, data, at + i, kind, tlv_len, prefixes)
        else:
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


V4_PREFIX = bytes(10) + b"\xff\xff" + bytes(4)
PADN, ACK_REQ, ACK, HELLO, IHU, ROUTER_ID, NH = 1, 2, 3, 4, 5, 6, 7
SUB_PAD1, SUB_PADN, SUB_DIVERSITY, SUB_TIMESTAMP = 0, 1, 2, 3


def _interval(i: int) -> str:
    return "0.0s (bogus)" if i == 0 else "%u.%02us" % (i // 100, i % 100)


def _prefix(ae: int, plen: int, omitted: int, raw: bytes, default: bytes | None) -> tuple[bytes, int] | None:
    """network_prefix: the 16-byte prefix and the bytes it used, None where print-babel.c fails."""
    pb = (plen + 7) // 8 if plen >= 0 else 4 if ae == 1 else 16
    if pb > 16:
        return None
    if ae == 0:
        return bytes(16), 0
    if ae == 1:
        if omitted > 4 or pb > 4 or (pb > omitted and len(raw) < pb - omitted):
            return None
        prefix = bytearray(V4_PREFIX[:12] + bytes(4))
        if omitted:
            if default is None:
                return None
            prefix[:12 + omitted] = default[:12 + omitted]
        used = max(pb - omitted, 0)
        prefix[12 + omitted:12 + omitted + used] = raw[:used]
        return bytes(prefix), used
    if ae == 2:
        if omitted > 16 or (pb > omitted and len(raw) < pb - omitted):
            return None
        prefix = bytearray(16)
        if omitted:
            if default is None:
                return None
            prefix[:omitted] = default[:omitted]
        used = max(pb - omitted, 0)
        prefix[omitted:omitted + used] = raw[:used]
        return bytes(prefix), used
    if ae == 3:
        if pb > 8 and len(raw) < pb - 8:
            return None
        used = max(pb - 8, 0)
        return b"\xfe\x80" + bytes(6) + raw[:used] + bytes(8 - used), used
    return None


def _address_text(prefix: bytes) -> str:
    return ip4(prefix[12:]) if prefix[:12] == V4_PREFIX[:12] else ip6(prefix)


def _prefix_text(prefix: bytes, plen: int) -> str:
    if plen >= 96 and prefix[:12] == V4_PREFIX[:12]:
        return "%s/%u" % (ip4(prefix[12:]), plen - 96)
    return "%s/%u" % (ip6(prefix), plen)


def _subtlvs(out: list[str], data: bytes, cp: int, ep: int, kind: int) -> None:
    while cp < ep:
        sub = data[cp]
        cp += 1
        if sub == SUB_PAD1:
            out.append(" sub-pad1")
            continue
        if sub & 0x80:
            out.append(" (M)")
        if cp == ep:
            raise _Invalid
        sublen = data[cp]
        cp += 1
        if cp + sublen > ep:
            raise _Invalid
        if sub == SUB_PADN:
            out.append(" sub-padn")
        elif sub == SUB_DIVERSITY:
            out.append(" sub-diversity")
            if not sublen:
                out.append(" empty")
            else:
                out.append(" " + "-".join("%u" % b for b in data[cp:cp + sublen]))
                if kind not in (UPDATE, 13):
                    out.append(" (bogus)")
        else:
            out.append(" sub-unknown-0x%02x" % sub if sub != SUB_TIMESTAMP else " sub-timestamp (bogus)")
        cp += sublen


def _verbose(out: list[str], data: bytes, m: int, kind: int, tlen: int, prefixes: dict) -> None:
    """One TLV at m (its type byte) with -v."""
    if kind == PADN:
        out.append("\n\tPad %u" % (tlen + 2))
    elif kind == ACK_REQ:
        out.append("\n\tAcknowledgment Request ")
        if tlen < 6:
            raise _Invalid
        out.append("%04x %s" % (u16(data, m + 4)[0], _interval(u16(data, m + 6)[0])))
    elif kind == ACK:
        out.append("\n\tAcknowledgment ")
        if tlen < 2:
            raise _Invalid
        out.append("%04x" % u16(data, m + 2)[0])
    elif kind == HELLO:
        out.append("\n\tHello ")
        if tlen < 6:
            raise _Invalid
        interval = u16(data, m + 6)[0]
        out.append("%sseqno %u %s" % ("(Unicast) " if u16(data, m + 2)[0] & 0x8000 else "", u16(data, m + 4)[0],
                                       "interval " + _interval(interval) if interval else "unscheduled"))
        if tlen > 6:
            _subtlvs(out, data, m + 8, m + 2 + tlen, kind)
    elif kind == IHU:
        out.append("\n\tIHU ")
        if tlen < 6:
            raise _Invalid
        ae = data[m + 2]
        got = _prefix(ae, -1, 0, data[m + 8:m + 2 + tlen], None)
        if got is None:
            out.append(" [|babel]")
            return
        address, used = got
        out.append("%s rxcost %u interval %s" % ("any" if ae == 0 else _address_text(address), u16(data, m + 4)[0],
                                                 _interval(u16(data, m + 6)[0])))
        if used < tlen - 6:
            _subtlvs(out, data, m + 8 + used, m + 2 + tlen, kind)
    elif kind == ROUTER_ID:
        out.append("\n\tRouter Id")
        if tlen < 10:
            raise _Invalid
        out.append(" " + data[m + 4:m + 12].hex(":"))
    elif kind == NH:
        out.append("\n\tNext Hop")
        if tlen < 2:
            raise _Invalid
        ae = data[m + 2]
        got = _prefix(ae, -1, 0, data[m + 4:m + 2 + tlen], None)
        if got is None:
            raise _Invalid
        out.append(" %s" % ("invalid AE 0" if ae == 0 else _address_text(got[0])))
    elif kind == UPDATE:
        out.append("\n\tUpdate")
        if tlen < 10:
            raise _Invalid
        ae, flags, plen, omitted = data[m + 2], data[m + 3], data[m + 4], data[m + 5]
        got = _prefix(ae, plen, omitted, data[m + 12:m + 2 + tlen], prefixes.get(1 if ae == 1 else 2))
        if got is None:
            raise _Invalid
        prefix, used = got
        interval, seqno, metric = u16(data, m + 6)[0], u16(data, m + 8)[0], u16(data, m + 10)[0]
        out.append("%s%s%s %s metric %u seqno %u interval %s" % (
            "/prefix" if flags & 0x80 else "", "/id" if flags & 0x40 else "", "/unknown" if flags & 0x3F else "",
            "any" if ae == 0 else _prefix_text(prefix, plen + (96 if ae == 1 else 0)), metric, seqno,
            "infinity" if interval == 0xFFFF else _interval(interval)))
        if flags & 0x80:
            prefixes[1 if ae == 1 else 2] = prefix
        if used < tlen - 10:
            _subtlvs(out, data, m + 12 + used, m + 2 + tlen, kind)
    elif kind in NAMES:
        pass    # not decoded with -v: the line goes on with the next TLV
    else:
        out.append("\n\tUnknown message type %u" % kind)
