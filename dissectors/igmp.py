"""IGMP v1-v3 (print-igmp.c; IP protocol 2): queries, reports and leaves; -v's records and checksum."""

from __future__ import annotations

from ebcap.dissectors.cksum import in_cksum
from ebcap.dissectors.extract import u16, u32
from ebcap.dissectors.names import ip4_at
from ebcap.dissectors.text import relts

REPORT_TYPES = {1: "is_in", 2: "is_ex", 3: "to_in", 4: "to_ex", 5: "allow", 6: "block"}
OTHER_TYPES = {0x13: "igmp dvmrp", 0x14: "igmp pimv1", 0x1E: "mresp", 0x1F: "mtrace"}


def igmp_print(nd, data: bytes, off: int, length: int, ip: tuple, _fragmented) -> None:
    nd.proto = "igmp"
    out = nd.out
    if ip[0] != 4:
        out.append("[IGMP requires IPv4] (invalid)")
        return
    if nd.quiet:
        out.append("igmp")
        return
    kind = data[off]
    if kind == 0x11:
        out.append("igmp query")
        if length >= 12:
            _v3_query(nd, data, off, length)
        else:
            _v1_v2_query(out, data, off, length)
    elif kind in (0x12, 0x16, 0x17):
        name = {0x12: "v1 report", 0x16: "v2 report", 0x17: "leave"}[kind]
        out.append("igmp %s %s" % (name, ip4_at(data, off + 4)))
        if kind == 0x12 and length != 8:
            out.append(" [len %u]" % length)
    elif kind == 0x22:
        out.append("igmp v3 report")
        _v3_report(nd, data, off, length)
    else:
        # DVMRP, PIMv1 and mtrace bodies are not decoded: their name only.
        out.append(OTHER_TYPES.get(kind, "igmp-%u" % kind))
    if nd.verbose and length >= 4 and len(data) >= off + length:
        if in_cksum(data[off:off + length]):
            out.append(" bad igmp cksum %x!" % u16(data, off + 2)[0])


def _v1_v2_query(out: list[str], data: bytes, off: int, length: int) -> None:
    mrt = data[off + 1]
    if mrt:
        out.append(" v2")
        if mrt != 100:
            out.append(" [max resp time %u]" % mrt)
    else:
        out.append(" v1")
    if u32(data, off + 4)[0]:
        out.append(" [gaddr %s]" % ip4_at(data, off + 4))
    if length != 8:
        out.append(" [len %u]" % length)


def _v3_query(nd, data: bytes, off: int, length: int) -> None:
    out = nd.out
    out.append(" v3")
    if length < 12 or length & 3:
        out.append(" [invalid len %u]" % length)
        return
    mrc = data[off + 1]
    mrt = mrc if mrc < 128 else ((mrc & 0x0F) | 0x10) << (((mrc & 0x70) >> 4) + 3)
    if mrc != 100:
        out.append(" [max resp time %s]" % ("%.1fs" % (mrt * 0.1) if mrt < 600 else relts(mrt // 10)))
    if u32(data, off + 4)[0] == 0:
        return
    out.append(" [gaddr %s" % ip4_at(data, off + 4))
    nsrcs = u16(data, off + 10)[0]
    if nsrcs:
        if length < 12 + (nsrcs << 2):
            out.append(" [invalid number of sources]")
        elif nd.verbose > 1:
            out.append(" {%s }" % "".join(" " + ip4_at(data, off + 12 + 4 * i) for i in range(nsrcs)))
        else:
            out.append(", %u source(s)" % nsrcs)
    out.append("]")


def _v3_report(nd, data: bytes, off: int, length: int) -> None:
    report_print(nd, data, off, length, length < 16 or length & 3, 4, ip4_at, "v3")


def report_print(nd, data: bytes, off: int, length: int, bad_length: bool, size: int, address,
                 version: str) -> None:
    """An IGMPv3 or MLDv2 report after its type: the number of group records, and with -v the records."""
    out = nd.out
    if bad_length:
        out.append(" [invalid len %u]" % length)
        return
    ngroups = u16(data, off + 6)[0]
    out.append(", %u group record(s)" % ngroups)
    if nd.verbose:
        group_records(nd, data, off, length, ngroups, size, address, version)


def group_records(nd, data: bytes, off: int, length: int, ngroups: int, size: int, address, version: str) -> None:
    """-v: IGMPv3's or MLDv2's group records (RFC 3376 4.2.4, RFC 3810 5.2.4: the same layout with
    addresses of `size` bytes), from offset 8 of the report."""
    out = nd.out
    group = 8
    head = 4 + size
    for _ in range(ngroups):
        if length < group + head:
            out.append(" [invalid number of groups]")
            return
        at = off + group
        out.append(" [gaddr %s" % address(data, at + 4))
        rtype = data[at]
        out.append(" " + REPORT_TYPES.get(rtype, " [%s-report-#%u]" % (version, rtype)))
        nsrcs = u16(data, at + 2)[0]
        if length < group + head + nsrcs * size:
            out.append(" [invalid number of sources %u]" % nsrcs)
            return
        if nd.verbose == 1:
            out.append(", %u source(s)" % nsrcs)
        else:
            out.append(" {%s }" % "".join(" " + address(data, at + head + size * i) for i in range(nsrcs)))
        group += head + nsrcs * size
        out.append("]")
