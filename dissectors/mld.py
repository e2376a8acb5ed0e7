"""MLD and MLDv2 (print-icmp6.c's mld6_print, mldv2_query_print, mldv2_report_print): the text after
ICMPv6's type name."""

from __future__ import annotations

from ebcap.dissectors.extract import u16
from ebcap.dissectors.igmp import report_print
from ebcap.dissectors.names import ip6_at

MLD_MINLEN, MLDV2_MINLEN = 24, 28
QUERY, REPORT_V2 = 130, 143


def mld_print(nd, data: bytes, off: int, length: int, itype: int) -> None:
    out = nd.out
    if itype == QUERY and length != MLD_MINLEN:
        if length >= MLDV2_MINLEN:
            out.append(" v2")
            _v2_query(nd, data, off, length)
        else:
            out.append(" unknown-version (len %u) " % length)
    elif itype == REPORT_V2:
        _v2_report(nd, data, off, length)
    elif len(data) >= off + MLD_MINLEN:
        # tcpdump writes this right after the type name, without a separator.
        out.append("max resp delay: %u addr: %s" % (u16(data, off + 4)[0], ip6_at(data, off + 8)))


def _sources(data: bytes, at: int, count: int) -> str:
    return " {%s }" % "".join(" " + ip6_at(data, at + 16 * i) for i in range(count))


def _v2_query(nd, data: bytes, off: int, length: int) -> None:
    out = nd.out
    mrc = u16(data, off + 4)[0]
    mrt = mrc if mrc < 32768 else ((mrc & 0x0FFF) | 0x1000) << (((mrc & 0x7000) >> 12) + 3)
    if nd.verbose:
        out.append(" [max resp delay=%u]" % mrt)
    out.append(" [gaddr %s" % ip6_at(data, off + 8))
    if nd.verbose:
        flags, qqic = data[off + 24], data[off + 25]
        if flags & 0x08:
            out.append(" sflag")
        if flags & 0x07:
            out.append(" robustness=%u" % (flags & 0x07))
        qqi = qqic if qqic < 128 else ((qqic & 0x0F) | 0x10) << (((qqic & 0x70) >> 4) + 3)
        out.append(" qqi=%u" % qqi)
    nsrcs = u16(data, off + 26)[0]
    if nsrcs:
        if length < 28 + nsrcs * 16:
            out.append(" [invalid number of sources]")
        elif nd.verbose > 1:
            out.append(_sources(data, off + 28, nsrcs))
        else:
            out.append(", %u source(s)" % nsrcs)
    out.append("]")


def _v2_report(nd, data: bytes, off: int, length: int) -> None:
    report_print(nd, data, off, length, length < 8, 16, ip6_at, "v2")
