"""DNS one-line decode, tcpdump's print-domain.c (non -v path, plus -vv sections)."""

from __future__ import annotations

import socket
import struct

from ebcap.dissectors.text import printable, relts


TYPE_NAMES = {
    1: "A", 2: "NS", 3: "MD", 4: "MF", 5: "CNAME", 6: "SOA", 7: "MB", 8: "MG", 9: "MR", 10: "NULL",
    11: "WKS", 12: "PTR", 13: "HINFO", 14: "MINFO", 15: "MX", 16: "TXT", 17: "RP", 18: "AFSDB",
    19: "X25", 20: "ISDN", 21: "RT", 22: "NSAP", 23: "NSAP_PTR", 24: "SIG", 25: "KEY", 26: "PX",
    27: "GPOS", 28: "AAAA", 29: "LOC", 30: "NXT", 31: "EID", 32: "NIMLOC", 33: "SRV", 34: "ATMA",
    35: "NAPTR", 36: "KX", 37: "CERT", 38: "A6", 39: "DNAME", 40: "SINK", 41: "OPT", 42: "APL",
    43: "DS", 44: "SSHFP", 45: "IPSECKEY", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 99: "SPF",
    100: "UINFO", 101: "UID", 102: "GID", 103: "UNSPEC", 104: "UNSPECA", 249: "TKEY", 250: "TSIG",
    251: "IXFR", 252: "AXFR", 253: "MAILB", 254: "MAILA", 255: "ANY", 256: "URI",
}
CLASS_NAMES = {1: "IN", 3: "CHAOS", 4: "HS", 255: "ANY"}
OPCODES = ("", " inv_q", " stat", " op3", " notify", " update", " op6", " op7", " op8", " updateA",
           " updateD", " updateDA", " updateM", " updateMA", " zoneInit", " zoneRef")
RCODES = ("", " FormErr", " ServFail", " NXDomain", " NotImp", " Refused", " YXDomain", " YXRRSet",
          " NXRRSet", " NotAuth", " NotZone", " Resp11", " Resp12", " Resp13", " Resp14", " NoChange",
          " BadVers", "Resp17", " Resp18", " Resp19", " Resp20", "Resp21", " Resp22", " BadCookie")
T_OPT = 41
MAXCDNAME = 255
_MDNS_CLASS_BIT = 0x8000     # the question's QU bit, the record's cache-flush bit (RFC 6762)
_QR, _AA, _TC, _RD, _RA, _AD, _CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0020, 0x0010


class _Stop(Exception):
    """A record could not be printed (tcpdump's NULL return): the caller prints [|domain]."""


BadName = _Stop     # what name() raises, for the other printers of DNS names (ND's DNSSL option)


def skip_name(msg: bytes, off: int, end: int) -> int | None:
    """ns_nskip: the offset after a name, or None."""
    if off >= end:
        return None
    i = msg[off]
    off += 1
    while i:
        kind = i & 0xC0
        if kind == 0xC0:
            return off + 1
        if kind == 0x40:
            if i & 0x3F != 0x01 or off >= end:
                return None
            bitlen = msg[off] or 256
            off += 1 + (bitlen + 7) // 8
        elif kind == 0x80:
            return None
        else:
            off += i
        if off >= end:
            return None
        i = msg[off]
        off += 1
    return off


def name(msg: bytes, off: int, end: int, out: list[str]) -> int:
    """fqdn_print: append the dotted name, return the offset after it; _Stop on bad data."""
    if off >= end:
        raise _Stop
    max_offset = off
    i = msg[off]
    off += 1
    rp = off
    if i == 0:
        out.append(".")
        return off
    compressed = False
    chars = 0
    parts = []
    while i and off <= end:
        kind = i & 0xC0
        if kind == 0xC0:
            if off >= end:
                out.append("".join(parts))
                raise _Stop
            if not compressed:
                rp = off + 1
                compressed = True
            ptr = ((i << 8) | msg[off]) & 0x3FFF
            if ptr >= max_offset:
                parts.append("<BAD PTR>")
                out.append("".join(parts))
                raise _Stop
            max_offset = ptr
            off = ptr
            if off >= end:
                out.append("".join(parts))
                raise _Stop
            i = msg[off]
            off += 1
            continue
        if kind == 0x40:
            parts.append("<ELT %u>" % (i & 0x3F))
            out.append("".join(parts))
            raise _Stop
        if kind == 0x80:
            parts.append("<BAD LABEL TYPE>")
            out.append("".join(parts))
            raise _Stop
        label = msg[off:off + i]
        if chars + i <= MAXCDNAME:
            parts.append(printable(label))
            if off + i > end:
                out.append("".join(parts))
                raise _Stop
        elif chars < MAXCDNAME:
            parts.append(printable(label[:MAXCDNAME - chars]))
        chars += i
        off += i
        parts.append(".")
        if off >= end:
            out.append("".join(parts))
            raise _Stop
        i = msg[off]
        off += 1
    if chars > MAXCDNAME:
        parts.append("<DOMAIN NAME TOO LONG>")
    out.append("".join(parts))
    return rp if compressed else off


def _question(msg: bytes, off: int, end: int, out: list[str], mdns: bool) -> int:
    after = skip_name(msg, off, end)
    if after is None or after + 4 > end:
        raise _Stop
    qtype, qclass = struct.unpack_from("!HH", msg, after)
    out.append(" " + TYPE_NAMES.get(qtype, "Type%u" % qtype))
    cls = qclass & ~_MDNS_CLASS_BIT if mdns else qclass
    if cls != 1:
        out.append(" " + CLASS_NAMES.get(cls, "(Class %u)" % cls))
    if mdns:
        out.append(" (QU)" if qclass & _MDNS_CLASS_BIT else " (QM)")
    out.append("? ")
    name(msg, off, end, out)
    return after + 4


def _skip_question(msg: bytes, off: int, end: int) -> int:
    """The offset after a question's name, type and class."""
    after = skip_name(msg, off, end)
    if after is None:
        raise _Stop
    return after + 4


def _record(msg: bytes, off: int, end: int, out: list[str], verbose: int, mdns: bool) -> int:
    """ns_rprint; returns the next offset. A short fixed part returns `end` (tcpdump does the same)."""
    if verbose:
        out.append(" ")
        off = name(msg, off, end, out)
    else:
        skipped = skip_name(msg, off, end)
        if skipped is None:
            return end
        off = skipped
    if off + 10 > end:
        return end
    typ, cls, ttl, rdlen = struct.unpack_from("!HHIH", msg, off)
    rclass = cls & ~_MDNS_CLASS_BIT if mdns else cls
    if rclass != 1 and typ != T_OPT:
        out.append(" " + CLASS_NAMES.get(rclass, "(Class %u)" % rclass))
    if mdns and cls & _MDNS_CLASS_BIT:
        out.append(" (Cache flush)")
    if typ != T_OPT and verbose > 2:
        out.append(" [%s]" % relts(ttl))
    off += 10
    rp = off + rdlen
    out.append(" " + TYPE_NAMES.get(typ, "Type%u" % typ))
    if rp > end:
        raise _Stop
    if typ == 1:
        if rdlen < 4:
            raise _Stop
        out.append(" " + socket.inet_ntoa(msg[off:off + 4]))
    elif typ in (2, 5, 12, 39):
        out.append(" ")
        name(msg, off, end, out)
    elif typ == 15:
        out.append(" ")
        name(msg, off + 2, end, out)
        out.append(" %u" % struct.unpack_from("!H", msg, off))
    elif typ == 28:
        out.append(" " + socket.inet_ntop(socket.AF_INET6, msg[off:off + 16]))
    elif typ == 33:
        out.append(" ")
        name(msg, off + 6, end, out)
        prio, weight, port = struct.unpack_from("!HHH", msg, off)
        out.append(":%u %u %u" % (port, prio, weight))
    elif typ == 16:
        cp = off
        while cp < rp:
            n = msg[cp]
            if cp + 1 + n > end:
                raise _Stop
            out.append(' "' + printable(msg[cp + 1:cp + 1 + n]) + '"')
            cp += 1 + n
    elif typ == T_OPT:
        out.append(" UDPsize=%u" % cls)
        if ttl & 0x8000:
            out.append(" DO")
    elif typ == 6 and verbose:
        out.append(" ")
        cp = name(msg, off, end, out)
        out.append(" ")
        cp = name(msg, cp, end, out)
        if cp + 20 > end:
            raise _Stop
        out.append(" %u %u %u %u %u" % struct.unpack_from("!5I", msg, cp))
    return rp


def domain_line(msg: bytes, length: int, verbose: int = 0, mdns: bool = False) -> str:
    """The text tcpdump appends for a DNS message over UDP. `msg` may be shorter than `length`."""
    out: list[str] = []
    try:
        _domain(msg, length, verbose, out, mdns)
    except (_Stop, IndexError, struct.error, ValueError):
        out.append(" [|domain]")
    return "".join(out)


def _domain(msg: bytes, length: int, verbose: int, out: list[str], mdns: bool) -> None:
    end = min(len(msg), length)
    if length < 12:
        out.append("domain [length %u < 12] (invalid)" % length)
        return
    if end < 12:
        raise _Stop
    ident, flags, qd, an, ns, ar = struct.unpack_from("!6H", msg)
    rcode = flags & 0x0F
    opcode = (flags >> 11) & 0x0F
    rcode = _extended_rcode(msg, end, rcode, qd, an, ns, ar)
    if flags & _QR:
        out.append("%u%s%s%s%s%s%s" % (
            ident, OPCODES[opcode],
            RCODES[rcode] if rcode < len(RCODES) else " Resp%u" % (rcode & 0xFFF),
            "*" if flags & _AA else "", "" if flags & _RA else "-",
            "|" if flags & _TC else "", "$" if flags & _AD else ""))
        if qd != 1:
            out.append(" [%uq]" % qd)
        off = 12
        for i in range(qd):
            if i:
                out.append(",")
            if verbose > 1:
                out.append(" q:")
                off = _question(msg, off, end, out, mdns)
            else:
                off = _skip_question(msg, off, end)
        out.append(" %u/%u/%u" % (an, ns, ar))
        off = _section(msg, off, end, out, verbose, an, "", mdns)
        if verbose > 1:
            _authority_and_additional(msg, off, end, out, verbose, ns, ar, mdns)
    else:
        out.append("%u%s%s%s" % (ident, OPCODES[opcode], "+" if flags & _RD else "", "%" if flags & _CD else ""))
        if flags & 0x6CF:
            out.append(" [b2&3=0x%x]" % flags)
        if opcode == 1:
            if qd:
                out.append(" [%uq]" % qd)
            if an != 1:
                out.append(" [%ua]" % an)
        else:
            if an:
                out.append(" [%ua]" % an)
            if qd != 1:
                out.append(" [%uq]" % qd)
        if ns:
            out.append(" [%un]" % ns)
        if ar:
            out.append(" [%uau]" % ar)
        off = 12
        if qd:
            off = _question(msg, off, end, out, mdns)
            qd -= 1
            while off < end and qd:
                off = _question(msg, off, end, out, mdns)
                qd -= 1
        if qd:
            raise _Stop
        if verbose > 1:
            off = _section(msg, off, end, out, verbose, an, "", mdns) if an else off
            _authority_and_additional(msg, off, end, out, verbose, ns, ar, mdns)
    out.append(" (%u)" % length)


def _authority_and_additional(msg, off, end, out, verbose, ns, ar, mdns) -> None:
    """-vv: the ns and ar sections after the answers, as tcpdump prints them."""
    if off < end and ns:
        off = _section(msg, off, end, out, verbose, ns, " ns:", mdns)
    elif ns:
        raise _Stop
    if off < end and ar:
        _section(msg, off, end, out, verbose, ar, " ar:", mdns)
    elif ar:
        raise _Stop


def _section(msg, off, end, out, verbose, count, title, mdns) -> int:
    if not count:
        return off
    out.append(title)
    off = _record(msg, off, end, out, verbose, mdns)
    count -= 1
    while off < end and count:
        out.append(",")
        off = _record(msg, off, end, out, verbose, mdns)
        count -= 1
    if count:
        raise _Stop
    return off


def _extended_rcode(msg, end, rcode, qd, an, ns, ar) -> int:
    """Find the OPT record's extended rcode, as tcpdump does before printing."""
    off = 12
    for _ in range(qd):
        off = skip_name(msg, off, end)
        if off is None:
            return rcode
        off += 4
        if off >= end:
            return rcode
    for _ in range(an + ns):
        off = skip_name(msg, off, end)
        if off is None or off + 10 > end:
            return rcode
        off += 10 + struct.unpack_from("!H", msg, off + 8)[0]
        if off >= end:
            return rcode
    for _ in range(ar):
        off = skip_name(msg, off, end)
        if off is None or off + 5 > end:
            return rcode
        if struct.unpack_from("!H", msg, off)[0] == T_OPT:
            return rcode | (msg[off + 4] << 4)
        if off + 10 > end:
            return rcode
        off += 10 + struct.unpack_from("!H", msg, off + 8)[0]
        if off >= end:
            return rcode
    return rcode



def domain_print(nd, data: bytes, pay: int, length: int) -> None:
    """DNS over UDP, the port table's printer for port 53."""
    nd.out.append(domain_line(data[pay:pay + length], length, nd.verbose))


def mdns_print(nd, data: bytes, pay: int, length: int) -> None:
    """Multicast DNS (port 5353): DNS with the class's top bit as QU or cache flush."""
    nd.out.append(domain_line(data[pay:pay + length], length, nd.verbose, mdns=True))


def domain_tcp_print(nd, data: bytes, pay: int, length: int) -> None:
    """DNS over TCP: a 2-byte length prefix, then the message (RFC 1035 4.2.2)."""
    nd.proto = "domain"
    if length < 2:
        nd.out.append(" [DNS over TCP: length %u < 2] (invalid)" % length)
        return
    prefix = struct.unpack_from("!H", data, pay)[0]
    if prefix != length - 2:
        nd.out.append(" [prefix length(%u) != length(%u)] (invalid)" % (prefix, length - 2))
        return
    nd.out.append(" " + domain_line(data[pay + 2:pay + length], length - 2, nd.verbose))
