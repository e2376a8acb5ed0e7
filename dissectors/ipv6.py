"""IPv6 (print-ip6.c): the fixed header, -v's parenthesis, extension headers, then the IP protocol table."""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u16, u32
from ebcap.dissectors.ip6opts import options_text
from ebcap.dissectors.ipdemux import IPPROTO_NAMES, PRINTS_OWN_ADDRESSES, ip_demux_print
from ebcap.dissectors.mobility import mobility_print
from ebcap.dissectors.names import ip6
from ebcap.dissectors.rt6 import rt6_print

_IP6 = struct.Struct("!IHBB").unpack_from
_FRAG = struct.Struct("!HI").unpack_from
# Extension headers ebcap steps over, naming them (-v lists the options of HBH and DSTOPT).
_EXTENSION_NAMES = {0: "HBH ", 43: "RT6 ", 60: "DSTOPT "}     # RT6 and frag: rt6.py and below
_FRAGMENT = 44
_ROUTING = 43
_HOP_BY_HOP = 0
_MOBILITY = (135, 62)       # an IPv6 extension header only: IPv4's protocol table has no row for it
_OPTION_HEADERS = {0: "hbhopt", 60: "dstopt"}     # -v lists their options


def ip6_print(nd, data: bytes, off: int, length: int) -> None:
    out = nd.out
    nd.proto = "ip6"
    if len(data) - off < 40:
        raise Truncated
    if length < 40:
        out.append("truncated-ip6 %u" % length)
        return
    if not nd.link_header:
        out.append("IP6 ")
    flow, plen, nh, hlim = _IP6(data, off)
    first_nh = nh
    if flow >> 28 != 6:
        out.append("version error: %u != 6" % (flow >> 28))
        return
    if plen:
        total = plen + 40
        if length < total:
            out.append("truncated-ip6 - %u bytes missing!" % (total - length))
    else:
        total = length + 40
    if nd.verbose:
        out.append("(")
        if flow & 0x0FF00000:
            out.append("class 0x%02x, " % ((flow & 0x0FF00000) >> 20))
        if flow & 0x000FFFFF:
            out.append("flowlabel 0x%05x, " % (flow & 0x000FFFFF))
        out.append("hlim %u, next-header %s (%u) payload length: %u) " % (
            hlim, IPPROTO_NAMES.get(nh, "unknown"), nh, plen))
    end = off + total
    if end < len(data):
        data = data[:end]
    src = data[off + 8:off + 24]
    dst = data[off + 24:off + 40]
    src_s = ip6(src)
    dst_s = ip6(dst)
    if off + 40 > len(data):
        return     # tcpdump's extension-header loop stops at the end of the capture
    cp = off + 40
    remaining = total - 40
    if nh not in PRINTS_OWN_ADDRESSES:
        out.append("%s > %s: " % (src_s, dst_s))
    fragmented = False
    found_hbh = False
    final_dst = dst
    while nh in _EXTENSION_NAMES or nh == _FRAGMENT:
        if nh == _ROUTING:
            if cp >= len(data):
                nd.proto = "ip6"
                raise Truncated     # ND_TCHECK_1 before rt6_print: ip6's marker
            nd.proto = "rt6"
            routed_to, valid = rt6_print(out, data, cp, nd.verbose)
            if not valid:
                return
            if routed_to is not None and final_dst is dst:      # only the first routing header counts
                final_dst = routed_to
            adv = (data[cp + 1] + 1) * 8
            nh = data[cp]
            cp += adv
            remaining -= adv
            continue
        if nh == _FRAGMENT:
            nd.proto = "frag6"
            if cp + (8 if nd.verbose else 4) > len(data):
                raise IndexError
            offlg = u16(data, cp + 2)[0]
            if nd.verbose:
                out.append("frag (0x%08x:%u|%u)" % (u32(data, cp + 4)[0], offlg & 0xFFF8, remaining - 8))
            else:
                out.append("frag (%u|%u)" % (offlg & 0xFFF8, remaining - 8))
            fragmented = True
            if offlg & 0xFFF8:
                return      # a later fragment: nothing more to decode
            out.append(" ")
            if len(data) <= cp + 8:
                return      # the capture ends with the fragment header: tcpdump stops there
            nh = data[cp]
            cp += 8
            remaining -= 8
            continue
        if nh == _HOP_BY_HOP:
            if found_hbh:
                out.append("[The Hop-by-Hop Options header was already found] (invalid)")
                return
            if cp != off + 40:
                out.append("[The Hop-by-Hop Options header don't follow the IPv6 header] (invalid)")
                return
            found_hbh = True
        nd.proto = _OPTION_HEADERS[nh]
        nxt = data[cp]
        adv = (data[cp + 1] + 1) * 8
        if cp + adv > len(data):
            raise Truncated     # hbhopt_process's ND_TCHECK_LEN of the whole header, before its name
        out.append(_EXTENSION_NAMES[nh])
        if nd.verbose:
            out.append(options_text(data, cp + 2, adv - 2))
        cp += adv
        remaining -= adv
        nh = nxt
    ip = (6, src, final_dst, src_s, dst_s, hlim, first_nh)
    if nh in _MOBILITY:
        mobility_print(nd, data, cp, remaining, ip, fragmented)
        return
    ip_demux_print(nd, data, cp, remaining, nh, fragmented, ip)


def ip6_in_ip_print(nd, data: bytes, off: int, length: int, _ip: tuple, _fragmented) -> None:
    """IPPROTO_IPV6: an IPv6 datagram inside IP."""
    ip6_print(nd, data, off, length)


def no_next_header_print(nd, _data: bytes, _off: int, _length: int, _ip: tuple, _fragmented) -> None:
    """IPPROTO_NONE: nothing follows the headers."""
    nd.out.append("no next header")
