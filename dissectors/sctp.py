"""SCTP (print-sctp.c, RFC 9260; IP protocol 132): ports, then each chunk's type and its DATA, INIT
and SACK fields. (ForCES payloads and -vv's payload dumps are not decoded.)"""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated

CHUNK_NAMES = {0x00: "DATA", 0x01: "INIT", 0x02: "INIT ACK", 0x03: "SACK", 0x04: "HB REQ", 0x05: "HB ACK",
               0x06: "ABORT", 0x07: "SHUTDOWN", 0x08: "SHUTDOWN ACK", 0x09: "OP ERR", 0x0A: "COOKIE ECHO",
               0x0B: "COOKIE ACK", 0x0C: "ECN ECHO", 0x0D: "ECN CWR", 0x0E: "SHUTDOWN COMPLETE",
               0xC0: "FOR CUM TSN", 0xC1: "REL CTRL", 0xC2: "REL CTRL ACK"}
PPIDS = {1: "ISDN Q.921", 2: "M2UA", 3: "M3UA", 4: "SUA", 5: "M2PA", 6: "V5.2", 7: "H.248", 8: "BICC",
         9: "TALI", 10: "DUA", 11: "ASAP", 12: "ENRP", 13: "H.323", 14: "Q.IPC", 15: "SIMCO", 16: "DDPSC",
         17: "DDPSSC", 18: "S1AP", 19: "RUA", 20: "HNBAP", 21: "ForCES HP", 22: "ForCES MP",
         23: "ForCES LP", 24: "SBc-AP", 25: "NBAP", 27: "X2AP"}
FORCES_PORTS = {6700: "ForCES HP", 6701: "ForCES MP", 6702: "ForCES LP"}
HEADER_LEN = 12
_CHUNK = struct.Struct("!BBH").unpack_from
_DATA = struct.Struct("!IHHI").unpack_from      # TSN, stream id, stream sequence, PPID
_INIT = struct.Struct("!IIHHI").unpack_from     # tag, rwnd, outbound streams, inbound streams, TSN
_SACK = struct.Struct("!IIHH").unpack_from      # cumulative TSN ack, a_rwnd, gap blocks, dup TSNs
_MASK = 0xFFFFFFFF      # tcpdump's remaining length is unsigned: it wraps


class _Bogus(Exception):
    """A chunk shorter than its fixed part: tcpdump prints `bogus chunk length N]` and stops."""


def sctp_print(nd, data: bytes, off: int, length: int, ip: tuple, _fragmented) -> None:
    nd.proto = "sctp"
    out = nd.out
    if length < HEADER_LEN:
        out.append("truncated-sctp - %u bytes missing!" % (HEADER_LEN - length))
        return
    if len(data) < off + HEADER_LEN:
        raise Truncated
    sport, dport = struct.unpack_from("!HH", data, off)
    out.append("%s.%u > %s.%u: sctp" % (ip[3], sport, ip[4], dport))
    for port in (sport, dport):
        if port in FORCES_PORTS:
            out.append("[%s]" % FORCES_PORTS[port])
    try:
        _chunks(nd, data, off + HEADER_LEN, length - HEADER_LEN)
    except _Bogus as bogus:
        out.append("bogus chunk length %u]" % bogus.args[0])


def _chunks(nd, data: bytes, cp: int, remaining: int) -> None:
    out = nd.out
    sep = "\n\t" if nd.verbose >= 2 else " ("
    count = 0
    while remaining:
        count += 1
        if remaining < 4:
            out.append("%s%u) [chunk descriptor cut off at end of packet]" % (sep, count))
            return
        if len(data) < cp + 4:
            raise Truncated
        kind, flags, clen = _CHUNK(data, cp)
        if clen < 4:
            out.append("%s%u) [Bad chunk length %u, < size of chunk descriptor]" % (sep, count, clen))
            return
        align = -clen % 4
        if remaining < align:
            out.append("%s%u) [Bad chunk length %u, > remaining data in packet]" % (sep, count, clen))
            return
        if len(data) < cp + clen:
            raise Truncated
        out.append("%s%u) [%s] " % (sep, count, CHUNK_NAMES.get(kind, "Unknown chunk type: 0x%x" % kind)))
        _chunk(nd, data, cp + 4, kind, flags, clen)
        remaining = (remaining - clen) & _MASK
        cp += clen
        if nd.verbose < 2:
            sep = ", ("
        if align:
            if len(data) < cp + align:
                raise Truncated
            cp += align
            remaining = (remaining - align) & _MASK


def _chunk(nd, data: bytes, cp: int, kind: int, flags: int, clen: int) -> None:
    out = nd.out
    body = clen - 4
    if kind == 0x00:
        marks = "".join(m for bit, m in ((4, "(U)"), (2, "(B)"), (1, "(E)")) if flags & bit)
        out.append(marks + (" " if marks else ""))
        if body < 12:
            raise _Bogus(clen)
        tsn, sid, sseq, ppid = _DATA(data, cp)
        out.append("[TSN: %u] [SID: %u] [SSEQ %u] [PPID %s] " % (tsn, sid, sseq, PPIDS.get(ppid, "0x%x" % ppid)))
        if body == 12:
            raise _Bogus(clen)
        if nd.verbose >= 2:     # M3UA (PPID 3) is not decoded: its bytes, as any other payload's
            out.append("[Payload")
            if not nd.suppress_default_print:
                out.append(":")
                nd.default_print(data[cp + 12:cp + body])
            out.append("]")
    elif kind in (0x01, 0x02):
        if body < 16:
            raise _Bogus(clen)
        out.append("[init tag: %u] [rwnd: %u] [OS: %u] [MIS: %u] [init TSN: %u] " % _INIT(data, cp))
    elif kind == 0x03:
        _sack(out, data, cp, clen)


def _sack(out: list[str], data: bytes, cp: int, clen: int) -> None:
    body = clen - 4
    if body < 12:
        raise _Bogus(clen)
    cum, rwnd, gaps, dups = _SACK(data, cp)
    out.append("[cum ack %u] [a_rwnd %u] [#gap acks %u] [#dup tsns %u] " % (cum, rwnd, gaps, dups))
    cp, body = cp + 12, body - 12
    for i, (start, end) in enumerate(_words(data, cp, body, gaps, 4, clen, "!HH")):
        out.append("\n\t\t[gap ack block #%u: start = %u, end = %u] " % (
            i + 1, (cum + start) & _MASK, (cum + end) & _MASK))
    cp += 4 * min(gaps, body // 4)
    body -= 4 * min(gaps, body // 4)
    for i, (tsn,) in enumerate(_words(data, cp, body, dups, 4, clen, "!I")):
        out.append("\n\t\t[dup TSN #%u: %u] " % (i + 1, tsn))


def _words(data: bytes, cp: int, body: int, count: int, size: int, clen: int, fmt: str):
    """Up to count fixed-size entries while the chunk has bytes left; _Bogus on a partial one."""
    for _ in range(count):
        if not body:
            return
        if body < size:
            raise _Bogus(clen)
        yield struct.unpack_from(fmt, data, cp)
        cp, body = cp + size, body - size
