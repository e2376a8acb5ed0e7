"""OpenFlow (print-openflow.c, tcp 6633/6653): each message's version, type, length and xid; -v the
bodies of HELLO (1.3's elements) and ECHO (its data's length). Other bodies are not decoded: -v
prints their header only, where tcpdump decodes 1.0's and 1.3's structures."""

from __future__ import annotations

import struct

from ebcap.dissectors.hexdump import hex_ascii_dump

HEADER = 8
VERSIONS = {1: "1.0", 2: "1.1", 3: "1.2", 4: "1.3", 5: "1.4", 6: "1.5"}
FIX, MIN, NONE = "fix", "min", None
# type -> (name, length rule, body length); print-openflow-1.0.c's and -1.3.c's tables
OF10 = [("HELLO", MIN, 0), ("ERROR", MIN, 4), ("ECHO_REQUEST", MIN, 0), ("ECHO_REPLY", MIN, 0),
        ("VENDOR", MIN, 4), ("FEATURES_REQUEST", FIX, 0), ("FEATURES_REPLY", MIN, 24),
        ("GET_CONFIG_REQUEST", FIX, 0), ("GET_CONFIG_REPLY", FIX, 4), ("SET_CONFIG", FIX, 4),
        ("PACKET_IN", MIN, 10), ("FLOW_REMOVED", FIX, 80), ("PORT_STATUS", FIX, 56), ("PACKET_OUT", MIN, 8),
        ("FLOW_MOD", MIN, 64), ("PORT_MOD", FIX, 24), ("STATS_REQUEST", MIN, 4), ("STATS_REPLY", MIN, 4),
        ("BARRIER_REQUEST", FIX, 0), ("BARRIER_REPLY", FIX, 0), ("QUEUE_GET_CONFIG_REQUEST", FIX, 4),
        ("QUEUE_GET_CONFIG_REPLY", MIN, 8)]
OF13 = [("HELLO", MIN, 0), ("ERROR", MIN, 4), ("ECHO_REQUEST", MIN, 0), ("ECHO_REPLY", MIN, 0),
        ("EXPERIMENTER", MIN, 8), ("FEATURES_REQUEST", FIX, 0), ("FEATURES_REPLY", FIX, 24),
        ("GET_CONFIG_REQUEST", FIX, 0), ("GET_CONFIG_REPLY", FIX, 4), ("SET_CONFIG", FIX, 4),
        ("PACKET_IN", NONE, 0), ("FLOW_REMOVED", NONE, 0), ("PORT_STATUS", FIX, 72), ("PACKET_OUT", NONE, 0),
        ("FLOW_MOD", NONE, 0), ("GROUP_MOD", NONE, 0), ("PORT_MOD", FIX, 32), ("TABLE_MOD", FIX, 8),
        ("MULTIPART_REQUEST", NONE, 0), ("MULTIPART_REPLY", NONE, 0), ("BARRIER_REQUEST", FIX, 0),
        ("BARRIER_REPLY", FIX, 0), ("QUEUE_GET_CONFIG_REQUEST", FIX, 8), ("QUEUE_GET_CONFIG_REPLY", NONE, 0),
        ("ROLE_REQUEST", FIX, 16), ("ROLE_REPLY", FIX, 16), ("GET_ASYNC_REQUEST", FIX, 0),
        ("GET_ASYNC_REPLY", FIX, 24), ("SET_ASYNC", FIX, 24), ("METER_MOD", NONE, 0)]
TABLES = {1: OF10, 4: OF13}
HELLO, ECHO_REQUEST, ECHO_REPLY = 0, 2, 3
_VERSION_BITS = ((1 << 1, "1.0"), (1 << 2, "1.1"), (1 << 3, "1.2"), (1 << 4, "1.3"), (1 << 5, "1.4"),
                 (1 << 6, "1.5"))


def openflow_print(nd, data: bytes, pay: int, length: int) -> None:
    out = nd.out
    nd.proto = "openflow"
    out.append(": OpenFlow")
    cp, left = pay, length
    while left:
        version = _byte(data, cp)
        out.append("\n\tversion %s" % VERSIONS.get(version, "unknown (0x%02x)" % version))
        if left < 2:
            return _partial(out, data, cp + 1, left - 1)
        mtype = _byte(data, cp + 1)
        table = TABLES.get(version)
        info = table[mtype] if table and mtype < len(table) else None
        out.append(", type %s" % info[0] if info else ", type unknown (0x%02x)" % mtype)
        if left < 4:
            return _partial(out, data, cp + 2, left - 2)
        mlen = struct.unpack_from("!H", data, cp + 2)[0]
        out.append(", length %u%s" % (mlen, " (too short!)" if mlen < HEADER else ""))
        if left < 8:
            return _partial(out, data, cp + 4, left - 4)
        out.append(", xid 0x%08x" % struct.unpack_from("!I", data, cp + 4)[0])
        cp += HEADER
        left -= HEADER
        if mlen < HEADER:
            out.append(" (invalid)")
            _need(data, cp, left)
            return
        body = mlen - HEADER
        _message(nd, data, cp, body, version, mtype, info)
        if body > left:
            break
        cp += body
        left -= body


def _byte(data: bytes, at: int) -> int:
    return data[at]         # print-openflow*.c longjmp from their TCHECKs: IndexError, as GET's


def _need(data: bytes, at: int, n: int) -> None:
    if at + n > len(data):
        raise IndexError


def _partial(out: list, data: bytes, at: int, n: int) -> None:
    out.append(" (end of TCP payload)")
    _need(data, at, n)


def _message(nd, data: bytes, cp: int, body: int, version: int, mtype: int, info) -> None:
    if info is not None:
        rule, size = info[1], info[2]
        if (rule == FIX and body != size) or (rule == MIN and body < size):
            nd.out.append(" (invalid)")
            _need(data, cp, body)
            return
        if nd.verbose and mtype in (ECHO_REQUEST, ECHO_REPLY) or (nd.verbose and mtype == HELLO and version == 1):
            _data(nd, data, cp, body)
            return
        if nd.verbose and mtype == HELLO and version == 4:
            _hello_elements(nd, data, cp, body)
            return
    _need(data, cp, body)


def _data(nd, data: bytes, cp: int, n: int) -> None:
    """of_data_print."""
    if not n:
        return
    nd.out.append("\n\t data (%u octets)" % n)
    if nd.verbose >= 2:     # hex_and_ascii_print: what was captured, then the marker
        nd.out.append(hex_ascii_dump(data[cp:cp + n], "\n\t  "))
    _need(data, cp, n)


def _hello_elements(nd, data: bytes, cp: int, n: int) -> None:
    out = nd.out
    while n:
        if n < 4:
            out.append(" (invalid)")
            _need(data, cp, n)
            return
        etype, elen = struct.unpack_from("!HH", data, cp)
        out.append("\n\t type %s, length %u" % ("VERSIONBITMAP" if etype == 1 else "unknown (0x%04x)" % etype, elen))
        cp += 4
        n -= 4
        if elen < 4 or elen > 4 + n:
            out.append(" (invalid)")
            _need(data, cp, n)
            return
        if etype == 1:
            if elen == 8:
                bitmap = struct.unpack_from("!I", data, cp)[0]
                out.append(", bitmap 0x%08x" % bitmap)
                known = sum(bit for bit, _ in _VERSION_BITS)
                if bitmap & known:
                    out.append(" (%s)" % ", ".join(name for bit, name in _VERSION_BITS if bitmap & bit))
                if bitmap & ~known & 0xFFFFFFFF:
                    out.append(" (bogus)")
            else:
                out.append(" (bogus)")
        _need(data, cp, elen - 4)
        cp += elen - 4
        n -= elen - 4
