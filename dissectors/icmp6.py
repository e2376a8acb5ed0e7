"""ICMPv6 (print-icmp6.c): the type's text, -v's checksum, neighbor discovery and its options."""

from __future__ import annotations

import struct

from ebcap.dissectors import icmp6_info, ndopts
from ebcap.dissectors.hexdump import unknown_data
from ebcap.dissectors.cksum import in_cksum, pseudo_header, shouldbe
from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u16, u16_pair, u32
from ebcap.dissectors.mld import mld_print
from ebcap.dissectors.names import ip6_at

_RA = struct.Struct("!BBHII").unpack_from

TYPES = {
    1: "destination unreachable", 2: "packet too big", 3: "time exceeded in-transit",
    4: "parameter problem", 128: "echo request", 129: "echo reply", 130: "multicast listener query",
    131: "multicast listener report", 132: "multicast listener done", 133: "router solicitation",
    134: "router advertisement", 135: "neighbor solicitation", 136: "neighbor advertisement",
    137: "redirect", 138: "router renumbering", 141: "inverse neighbor solicitation",
    142: "inverse neighbor advertisement", 143: "multicast listener report v2",
    144: "ha discovery request", 145: "ha discovery reply", 146: "mobile router solicitation",
    147: "mobile router advertisement", 139: "who-are-you request", 140: "who-are-you reply",
    200: "mtrace response", 201: "mtrace message", 155: "RPL",
}
UNREACH = {0: "unreachable route", 1: " unreachable prohibited", 2: "beyond scope",
           3: "unreachable address", 4: "unreachable port"}
PARAM_PROBLEMS = {0: "erroneous", 1: "next header", 2: "option", 3: "incomplete header chain"}
RA_FLAGS = ((0x80, "managed"), (0x40, "other stateful"), (0x20, "home agent"), (0x02, "ipv6 only"))
NA_FLAGS = ((0x80, "router"), (0x40, "solicited"), (0x20, "override"))
_LENGTH_WITH_V = (133, 134, 135, 136, 137, 145, 147)    # -v prints the length right after the type
_MLD = (130, 131, 132, 143)
_QUOTED = 8                     # an error's quoted IPv6 header: 8 bytes in
_QUOTED_SRC = _QUOTED + 8
_QUOTED_DST = _QUOTED + 24


def icmp6_print(nd, data: bytes, off: int, length: int, ip: tuple, fragmented) -> None:
    out = nd.out
    version, src, dst = ip[:3]
    if version != 6:
        out.append("[ICMPv6 requires IPv6] (invalid)")
        return
    nd.proto = "icmp6"
    if length == 0:
        out.append("ICMP6, length 0 (invalid)")
        return
    verbose = nd.verbose
    if verbose and not fragmented and len(data) - off >= length:
        isum = u16(data, off + 2)[0]
        s = in_cksum(pseudo_header(6, src, dst, 58, length) + data[off:off + length])
        out.append("[bad icmp6 cksum 0x%04x -> 0x%04x!] " % (isum, shouldbe(isum, s)) if s
                   else "[icmp6 sum ok] ")
    itype = data[off]
    out.append("ICMP6, %s" % TYPES.get(itype, "unknown icmp6 type (%u)" % itype))
    if verbose and itype in _LENGTH_WITH_V:
        out.append(", length %u" % length)
    code = data[off + 1]
    if itype == 1:
        if not _unreachable(nd, data, off, length, code):
            return
    elif itype == 2:
        out.append(", mtu %u" % u32(data, off + 4)[0])
    elif itype == 3:
        if code == 0:
            out.append(" for %s" % ip6_at(data, off + _QUOTED_DST))
        elif code == 1:
            out.append(" (reassembly)")
        else:
            out.append(", unknown code (%u)" % code)
    elif itype == 4:
        if off + _QUOTED_DST + 16 > len(data):
            raise Truncated     # ND_TCHECK_16: a local trunc
        if code in PARAM_PROBLEMS:
            out.append(", %s - octet %u" % (PARAM_PROBLEMS[code], u32(data, off + 4)[0]))
        else:
            out.append(", code-#%u" % code)
    elif itype in (128, 129):
        out.append(", id %u, seq %u" % u16_pair(data, off + 4))
    elif itype in (133, 134, 135, 136):
        _neighbor_discovery(nd, data, off, length, itype)
    elif itype in _MLD:
        mld_print(nd, data, off, length, itype)
    elif itype == 137:
        out.append(", %s to %s" % (ip6_at(data, off + 24), ip6_at(data, off + 8)))
        if verbose:
            _options(nd, data, off + 40, length - 40)
    elif itype == 138:
        out.append(icmp6_info.rrenum_text(data, off, verbose))
    elif itype in (139, 140):
        out.append(icmp6_info.nodeinfo_text(data, off, length, verbose))
    elif itype in (141, 142):
        pass
    elif itype in (144, 146):
        out.append(", id 0x%04x" % u16(data, off + 4)[0])
    elif itype == 145:
        if verbose:
            out.append(", id 0x%04x" % u16(data, off + 4)[0])
            for p in range(off + 8, off + length, 16):
                out.append(", %s" % ip6_at(data, p))
    elif itype == 147:
        if verbose:
            ident, flags = u16_pair(data, off + 4)
            out.append(", id 0x%04x" % ident)
            out.append((" " if flags & 0xC000 else "") + ("M" if flags & 0x8000 else "")
                       + ("O" if flags & 0x4000 else ""))
            _options(nd, data, off + 8, length - 8)
    elif itype == 155:
        out.append(icmp6_info.rpl_text(code))
    else:
        out.append(", length %u" % length)
        if verbose <= 1:
            out.append(unknown_data(data, off, "\n\t", length))
        return
    if not verbose:
        out.append(", length %u" % length)


def _unreachable(nd, data: bytes, off: int, length: int, code: int) -> bool:
    """Destination unreachable's code and quoted addresses; False when the line is complete."""
    out = nd.out
    out.append(", %s" % UNREACH.get(code, "unknown unreach code (%u)" % code))
    if code in (0, 1, 3):
        out.append(" %s" % ip6_at(data, off + _QUOTED_DST))
    elif code == 2:
        out.append(" %s, source address %s" % (ip6_at(data, off + _QUOTED_DST), ip6_at(data, off + _QUOTED_SRC)))
    elif code == 4:
        if off + _QUOTED + 40 + 4 > len(data):
            raise Truncated     # get_upperlayer found no UDP/TCP header: a local trunc
        dst_s = ip6_at(data, off + _QUOTED_DST)
        nxt = data[off + _QUOTED + 6]
        dport = u16(data, off + _QUOTED + 40 + 2)[0]
        if nxt == 6:
            out.append(", %s tcp port %s" % (dst_s, nd.port(dport, "tcp")))
        elif nxt == 17:
            out.append(", %s udp port %s" % (dst_s, nd.port(dport, "udp")))
        else:
            out.append(", %s protocol %u port %u unreachable" % (dst_s, nxt, dport))
    elif nd.verbose <= 1:
        out.append(unknown_data(data, off, "\n\t", length))
        return False
    return True


def _neighbor_discovery(nd, data: bytes, off: int, length: int, itype: int) -> None:
    """Router solicitation/advertisement, neighbor solicitation/advertisement (RFC 4861)."""
    out = nd.out
    verbose = nd.verbose
    if itype == 135:
        out.append(", who has %s" % ip6_at(data, off + 8))
        if verbose:
            _options(nd, data, off + 24, length - 24)
    elif itype == 136:
        out.append(", tgt is %s" % ip6_at(data, off + 8))
        if verbose:
            out.append(", Flags [%s]" % ndopts.flag_names(data[off + 4], NA_FLAGS))
            _options(nd, data, off + 24, length - 24)
    elif itype == 133:
        if verbose:
            _options(nd, data, off + 8, length - 8)
    elif verbose:
        hop, flags, life, reach, retrans = _RA(data, off + 4)
        out.append("\n\thop limit %u, Flags [%s], pref %s, router lifetime %us, reachable time %ums,"
                   " retrans timer %ums" % (hop, ndopts.flag_names(flags, RA_FLAGS), ndopts.rtpref(flags),
                                            life, reach, retrans))
        _options(nd, data, off + 16, length - 16)


def _options(nd, data: bytes, cp: int, resid: int) -> None:
    """icmp6_opt_print; where it fails, tcpdump's `goto trunc` ends the line (no length follows)."""
    try:
        nd.out.append(ndopts.options_text(data, cp, resid, nd.verbose))
    except ndopts.OptionsTruncated as e:
        nd.out.append(str(e))
        raise Truncated from e
