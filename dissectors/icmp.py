"""ICMP (print-icmp.c): the type's text, -v's checksum and the quoted datagram of an error."""

from __future__ import annotations

import struct

from ebcap.dissectors.cksum import in_cksum, shouldbe
from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u16, u16_pair, u32
from ebcap.dissectors.hexdump import unknown_data
from ebcap.dissectors.ipv4 import ip_print
from ebcap.dissectors.names import ip4_at

_ROUTER_ADVERT = struct.Struct("!BBH").unpack_from
_STAMPS = struct.Struct("!III").unpack_from     # originate, receive, transmit
_OBJECT = struct.Struct("!HBB").unpack_from      # an extension object's length, class and type

UNREACH = {
    0: "net %s unreachable", 1: "host %s unreachable", 5: "%s unreachable - source route failed",
    6: "net %s unreachable - unknown", 7: "host %s unreachable - unknown",
    8: "%s unreachable - source host isolated", 9: "net %s unreachable - admin prohibited",
    10: "host %s unreachable - admin prohibited", 11: "net %s unreachable - tos prohibited",
    12: "host %s unreachable - tos prohibited", 13: "host %s unreachable - admin prohibited filter",
    14: "host %s unreachable - host precedence violation", 15: "host %s unreachable - precedence cutoff",
}
REDIRECT = {0: "redirect %s to net %s", 1: "redirect %s to host %s",
            2: "redirect-tos %s to net %s", 3: "redirect-tos %s to host %s"}
TIME_EXCEEDED = {0: "time exceeded in-transit", 1: "ip reassembly time exceeded"}
SIMPLE = {0: "echo reply", 4: "source quench", 8: "echo request", 10: "router solicitation",
          13: "time stamp request", 14: "time stamp reply", 15: "information request",
          16: "information reply", 17: "address mask request"}
ERROR_TYPES = (3, 4, 5, 11, 12)     # these quote the datagram that caused them
MULTIPART_TYPES = (3, 11, 12)       # these may carry RFC 4884 extensions after 128 bytes of it
EXTENSION_AT = 8 + 128
MPLS_STACK_ENTRY = 1
EXTENSION_OBJECTS = {1: "MPLS Stack Entry", 2: "Interface Identification"}
_QUOTED_DST = 8 + 16                # the quoted IP header's destination address


def icmp_print(nd, data: bytes, off: int, length: int, ip: tuple, fragmented) -> None:
    out = nd.out
    if ip[0] != 4:
        out.append("[ICMP requires IPv4] (invalid)")
        return
    nd.proto = "icmp"
    itype = data[off]
    code = data[off + 1]
    if itype in (0, 8):
        ident, seq = u16_pair(data, off + 4)
        text = "echo %s, id %u, seq %u" % ("request" if itype == 8 else "reply", ident, seq)
    elif itype == 3:
        text = _unreachable(nd, data, off, code)
    elif itype == 5:
        dst_s = ip4_at(data, off + _QUOTED_DST)
        gw = ip4_at(data, off + 4)
        text = REDIRECT[code] % (dst_s, gw) if code in REDIRECT else "redirect-#%u %s to %s" % (code, dst_s, gw)
    elif itype == 11:
        _check(data, off + _QUOTED_DST + 4)
        text = TIME_EXCEEDED.get(code, "time exceeded-#%u" % code)
    elif itype == 12:
        text = ("parameter problem - code %u" % code if code
                else "parameter problem - octet %u" % data[off + 4])
    elif itype == 18:
        text = "address mask is 0x%08x" % u32(data, off + 8)[0]
    elif itype == 13:
        text = "time stamp query id %u seq %u" % u16_pair(data, off + 4)
    elif itype == 14:
        text = _timestamp_reply(data, off)
    elif itype == 9:
        text = _router_advert(data, off)
    else:
        text = SIMPLE.get(itype, "type-#%u" % itype)
    out.append("ICMP %s, length %u" % (text, length))
    if nd.verbose and not fragmented and len(data) - off >= length:
        s = in_cksum(data[off:off + length])
        if s:
            isum = u16(data, off + 2)[0]
            out.append(" (wrong icmp cksum %x (->%x)!)" % (isum, shouldbe(isum, s)))
    if nd.verbose and itype in ERROR_TYPES:
        inner = off + 8
        out.append("\n\t")
        ilen = u16(data, inner + 2)[0]
        if ilen < 4:
            # tcpdump cuts the snapshot at the quoted length, then reads that length again past it
            raise IndexError
        ip_print(nd, data[:inner + ilen], inner, ilen)
        nd.proto = "icmp"
        if itype in MULTIPART_TYPES and length > EXTENSION_AT:
            _extensions(nd, data, off, length)


def _unreachable(nd, data: bytes, off: int, code: int) -> str:
    quoted = off + 8
    if code == 3:
        _check(data, quoted + 10)
        ihl = (data[quoted] & 0x0F) * 4
        dport = u16(data, quoted + ihl + 2)[0]
        iproto = data[quoted + 9]
        dst_s = ip4_at(data, off + _QUOTED_DST)
        if iproto == 6:
            return "%s tcp port %s unreachable" % (dst_s, nd.port(dport, "tcp"))
        if iproto == 17:
            return "%s udp port %s unreachable" % (dst_s, nd.port(dport, "udp"))
        return "%s protocol %u port %u unreachable" % (dst_s, iproto, dport)
    if code == 2:
        return "%s protocol %u unreachable" % (ip4_at(data, off + _QUOTED_DST), data[quoted + 9])
    if code == 4:
        mtu = u16(data, off + 6)[0]
        dst_s = ip4_at(data, off + _QUOTED_DST)
        if mtu:
            return "%s unreachable - need to frag (mtu %u)" % (dst_s, mtu)
        return "%s unreachable - need to frag" % dst_s
    if code in UNREACH:
        return UNREACH[code] % ip4_at(data, off + _QUOTED_DST)
    return "%s unreachable - #%u" % (ip4_at(data, off + _QUOTED_DST), code)


def _extensions(nd, data: bytes, off: int, length: int) -> None:
    """-v: the multi-part extension structure (RFC 4884) and its objects, MPLS labels decoded."""
    out = nd.out
    ext = off + EXTENSION_AT
    _check(data, ext + 5)
    if data[off + 5] == 0 and off + length <= len(data) and in_cksum(data[ext:off + length]):
        return          # no length field and no valid checksum: no extension
    version = data[ext] >> 4
    out.append("\n\tICMP Multi-Part extension v%u" % version)
    if version != 2:
        out.append(" packet not supported")
        return
    hlen = length - EXTENSION_AT
    if ext + hlen <= len(data):
        out.append(", checksum 0x%04x (%scorrect), length %u" % (
            u16(data, ext + 2)[0], "in" if in_cksum(data[ext:ext + hlen]) else "", hlen))
    hlen -= 4
    obj = ext + 4
    while hlen > 4:
        _check(data, obj + 4)
        olen, cls, ctype = _OBJECT(data, obj)
        out.append("\n\t  %s Object (%u), Class-Type: %u, length %u" % (
            EXTENSION_OBJECTS.get(cls, "unknown"), cls, ctype, olen))
        hlen -= 4
        if cls == 0 or olen < 4:
            return
        olen -= 4
        if cls == MPLS_STACK_ENTRY and ctype == 1:
            raw = u32(data, obj + 4)[0]
            out.append("\n\t    label %u, tc %u" % (raw >> 12, (raw >> 9) & 7))
            if raw & 0x100:
                out.append(", [S]")
            out.append(", ttl %u" % (raw & 0xFF))
        else:
            out.append(unknown_data(data, obj + 4, "\n\t    ", olen))
        if hlen < olen:
            break
        hlen -= olen
        obj += 4 + olen


def _check(data: bytes, end: int) -> None:
    """print-icmp.c's ND_TCHECKs: a local trunc (the dumps still start after the link header)."""
    if end > len(data):
        raise Truncated


def _timestamp_reply(data: bytes, off: int) -> str:
    _check(data, off + 20)
    ident, seq = u16_pair(data, off + 4)
    stamps = _STAMPS(data, off + 8)
    return "time stamp reply id %u seq %u: org %s, recv %s, xmit %s" % (
        ident, seq, *(_ms_of_day(t) for t in stamps))


def _ms_of_day(stamp: int) -> str:
    """icmp_tstamp_print: milliseconds since midnight UTC."""
    sec, ms = divmod(stamp, 1000)
    minutes, sec = divmod(sec, 60)
    hours, minutes = divmod(minutes, 60)
    return "%02u:%02u:%02u.%03u" % (hours, minutes, sec, ms)


def _router_advert(data: bytes, off: int) -> str:
    _check(data, off + 8)
    num, size, lifetime = _ROUTER_ADVERT(data, off + 4)
    if lifetime < 60:
        life = "%u" % lifetime
    elif lifetime < 3600:
        life = "%u:%02u" % (lifetime // 60, lifetime % 60)
    else:
        life = "%u:%02u:%02u" % (lifetime // 3600, (lifetime % 3600) // 60, lifetime % 60)
    text = "router advertisement lifetime %s %u:" % (life, num)
    if size != 2:
        return text + " [size %u]" % size
    for i in range(num):
        p = off + 8 + 8 * i
        _check(data, p + 8)
        text += " {%s %u}" % (ip4_at(data, p), u32(data, p + 4)[0])
    return text
