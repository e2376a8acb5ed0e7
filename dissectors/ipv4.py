"""IPv4 (print-ip.c): the header, -v's parenthesis and options, then the IP protocol table."""

from __future__ import annotations

import struct

from ebcap.dissectors import ip4opts
from ebcap.dissectors.cksum import in_cksum, shouldbe
from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u16
from ebcap.dissectors.ipdemux import (
    IPPROTO_NAMES,
    PRINTS_OWN_ADDRESSES,
    ip_demux_print,
    netdb_protocol_name,
)
from ebcap.dissectors.names import ip4

_IP4 = struct.Struct("!BBHHHBBH4s4s").unpack_from


def ip_print(nd, data: bytes, off: int, length: int) -> None:
    out = nd.out
    nd.proto = "ip"
    vhl = data[off]
    if vhl >> 4 != 4:
        if vhl >> 4 == 6:
            out.append("IP6, wrong link-layer encapsulation (invalid)")
        else:
            out.append("IP%u (invalid)" % (vhl >> 4))
        return
    if not nd.link_header:
        out.append("IP ")
    if len(data) - off < 20:
        raise Truncated
    if length < 20:
        out.append("truncated-ip %u" % length)
        return
    _vhl, tos, total, ident, frag, ttl, proto, _sum, src, dst = _IP4(data, off)
    hlen = (vhl & 0x0F) * 4
    if hlen < 20:
        out.append("bad-hlen %u" % hlen)
        return
    if length < total:
        out.append("truncated-ip - %u bytes missing! " % (total - length))
    if total < hlen:
        out.append("bad-len %u" % total)
        return
    end = off + total
    if end < len(data):
        data = data[:end]   # tcpdump cuts the snapshot at the end of the IP datagram
    src_s = ip4(src)
    dst_s = ip4(dst)
    if nd.verbose:
        if not _verbose(nd, data, off, hlen, tos, total, ident, frag, ttl, proto):
            out.append("%s > %s: " % (src_s, dst_s))
            raise Truncated
    if frag & 0x1FFF == 0:
        if proto not in PRINTS_OWN_ADDRESSES:
            out.append("%s > %s: " % (src_s, dst_s))
        if len(data) < off + hlen:
            out.append(" [remaining caplen(%u) < header length(%u)]" % (len(data) - off, hlen))
            raise IndexError
        ip_demux_print(nd, data, off + hlen, total - hlen, proto, frag & 0x2000, (4, src, dst, src_s, dst_s, ttl, proto))
    else:
        out.append("%s > %s:" % (src_s, dst_s))
        name = netdb_protocol_name(nd, proto)
        out.append(" %s" % name if name else " ip-proto-%u" % proto)


def ip_in_ip_print(nd, data: bytes, off: int, length: int, _ip: tuple, _fragmented) -> None:
    """IPPROTO_IPIP: an IPv4 datagram inside IP."""
    ip_print(nd, data, off, length)


def _verbose(nd, data, off, hlen, tos, total, ident, frag, ttl, proto) -> bool:
    """-v's parenthesis; False where the options ran past the captured bytes."""
    out = nd.out
    complete = True
    out.append("(tos 0x%x" % tos)
    ecn = tos & 3
    if ecn:
        out.append((None, ",ECT(1)", ",ECT(0)", ",CE")[ecn])
    if ttl >= 1:
        out.append(", ttl %u" % ttl)
    flags = ", ".join(name for bit, name in ((0x2000, "+"), (0x4000, "DF"), (0x8000, "rsvd")) if frag & bit)
    out.append(", id %u, offset %u, flags [%s], proto %s (%u)" % (
        ident, (frag & 0x1FFF) * 8, flags or "none", IPPROTO_NAMES.get(proto, "unknown"), proto))
    out.append(", length %u" % total)
    if hlen > 20:
        out.append(", options (")
        try:
            ip4opts.options_print(out, data, off + 20, hlen - 20)
        except ip4opts.OptionsTruncated:
            out.append(" [truncated-option]")
            complete = False
        out.append(")")
    if not nd.no_checksum and off + hlen <= len(data):
        s = in_cksum(data[off:off + hlen])
        if s != 0:
            ip_sum = u16(data, off + 10)[0]
            out.append(", bad cksum %x (->%x)!" % (ip_sum, shouldbe(ip_sum, s)))
    out.append(")\n    ")
    return complete

