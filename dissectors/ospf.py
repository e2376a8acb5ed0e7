"""OSPFv2 and OSPFv3 (print-ospf.c, print-ospf6.c; IP protocol 89): the headline, and with -v the
router and area ids, authentication and the bodies: OSPFv2's Hello, Database Description, LS-Request,
LS-Update (router, network, summary and external LSAs; other LSA bodies in hex) and LS-Ack, and
OSPFv3's Hello."""

from __future__ import annotations

import struct

from ebcap.dissectors.extract import u16, u32
from ebcap.dissectors.hexdump import hex_dump
from ebcap.dissectors.names import ip4
from ebcap.dissectors.text import bits_text, printjn

TYPES = {1: "Hello", 2: "Database Description", 3: "LS-Request", 4: "LS-Update", 5: "LS-Ack"}
HELLO = 1
AUTH_NONE, AUTH_SIMPLE, AUTH_MD5, AUTH_MD5_LEN = 0, 1, 2, 16
AUTH_TYPES = {AUTH_NONE: "none", AUTH_SIMPLE: "simple", AUTH_MD5: "MD5"}
OPTIONS = ((0x01, "MultiTopology"), (0x02, "External"), (0x04, "Multicast"), (0x08, "NSSA"), (0x10, "LLS"),
           (0x20, "Demand Circuit"), (0x40, "Opaque"), (0x80, "Up/Down"))
OPTIONS6 = ((0x01, "V6"), (0x02, "External"), (0x04, "Deprecated"), (0x08, "NSSA"), (0x10, "Router"),
            (0x20, "Demand Circuit"), (0x0100, "AFs Support"), (0x0200, "LLS"), (0x0400, "Authentication Trailer"))
HDR_LEN, HDR6_LEN = 24, 16
_HDR = struct.Struct("!BBH4s4sHH8s")         # version, type, length, router, area, checksum, auth type/data
_HDR6 = struct.Struct("!BBH4s4sHB")          # ..., checksum, instance
_HELLO = struct.Struct("!4sHBBI4s4s")        # mask, hello interval, options, priority, dead interval, DR, BDR
_HELLO6 = struct.Struct("!4sIHH4s4s")        # interface id, priority and options, intervals, DR, BDR


def ospf_print(nd, data: bytes, off: int, length: int, ip: tuple, _fragmented) -> None:
    version, kind = data[off], data[off + 1]
    if ip[0] == 6:
        nd.proto = "ospf3"
        name = TYPES.get(kind)
        nd.out.append("OSPFv%u, %s, length %u" % (version, name or "unknown packet type (%u)" % kind, length))
        if name and nd.verbose:
            _v3(nd, data, off, length, kind)
        return
    nd.proto = "ospf2"
    if u16(data, off + 14)[0] == AUTH_MD5:    # the MD5 trailer is not counted
        length -= AUTH_MD5_LEN
    name = TYPES.get(kind)
    nd.out.append("OSPFv%u, %s, length %u" % (version, name or "unknown LS-type %u" % kind, length))
    if name and nd.verbose:
        _v2(nd, data, off, length, version, kind)


def _v2(nd, data: bytes, off: int, length: int, version: int, kind: int) -> None:
    out = nd.out
    _, _, ospf_len, router, area, _, auth_type, auth = _HDR.unpack_from(data, off)
    if length != ospf_len:
        out.append(" [len %u]" % ospf_len)
    end = off + min(length, ospf_len)
    out.append("\n\tRouter-ID %s, %s, Authentication Type: %s (%u)" % (
        ip4(router), "Area " + ip4(area) if area != bytes(4) else "Backbone Area",
        AUTH_TYPES.get(auth_type, "unknown"), auth_type))
    if auth_type == AUTH_SIMPLE:
        out.append("\n\tSimple text password: " + printjn(auth))
    elif auth_type == AUTH_MD5:
        out.append("\n\tKey-ID: %u, Auth-Length: %u, Crypto Sequence Number: 0x%08x" % (
            auth[2], auth[3], int.from_bytes(auth[4:8], "big")))
    elif auth_type != AUTH_NONE:
        return
    if version != 2:
        out.append(" ospf [version %u]" % version)
        return
    at = off + HDR_LEN
    if kind != HELLO:
        V2_BODIES[kind](nd, data, at, end)
        return
    mask, hello_int, options, priority, dead_int, dr, bdr = _HELLO.unpack_from(data, at)
    out.append("\n\tOptions [%s]\n\t  Hello Timer %us, Dead Timer %us, Mask %s, Priority %u" % (
        bits_text(OPTIONS, options, "none"), hello_int, dead_int, ip4(mask), priority))
    _routers(out, dr, bdr)
    at += _HELLO.size
    if at < end:
        out.append("\n\t  Neighbor List:")
    while at < end:
        out.append("\n\t    %s" % ip4(_addr(data, at)))
        at += 4


def _v3(nd, data: bytes, off: int, length: int, kind: int) -> None:
    out = nd.out
    _, _, ospf_len, router, area, _, instance = _HDR6.unpack_from(data, off)
    if ospf_len > length:
        out.append(" [len %u]" % ospf_len)
        return
    end = off + ospf_len
    out.append("\n\tRouter-ID %s, %s" % (ip4(router), "Area " + ip4(area) if area != bytes(4) else "Backbone Area"))
    if instance:
        out.append(", Instance %u" % instance)
    at = off + HDR6_LEN
    if kind != HELLO:
        _v3_body(nd, data, at, end, kind)
        return
    ifid, pri_opt, hello_int, dead_int, dr, bdr = _HELLO6.unpack_from(data, at)
    out.append("\n\tOptions [%s]\n\t  Hello Timer %us, Dead Timer %us, Interface-ID %s, Priority %u" % (
        bits_text(OPTIONS6, pri_opt, "none"), hello_int, dead_int, ip4(ifid), pri_opt >> 24))
    _routers(out, dr, bdr)
    if nd.verbose > 1:
        out.append("\n\t  Neighbor List:")
        at += _HELLO6.size
        while at < end:
            out.append("\n\t    %s" % ip4(_addr(data, at)))
            at += 4


def _routers(out: list[str], dr: bytes, bdr: bytes) -> None:
    if dr != bytes(4):
        out.append("\n\t  Designated Router %s" % ip4(dr))
    if bdr != bytes(4):
        out.append(", Backup Designated Router %s" % ip4(bdr))


def _addr(data: bytes, at: int) -> bytes:
    b = data[at:at + 4]
    if len(b) < 4:
        raise IndexError
    return b


DD_FLAGS = ((0x04, "Init"), (0x02, "More"), (0x01, "Master"), (0x08, "OOBResync"))
LSA_TYPES = {1: "Router", 2: "Network", 3: "Summary", 4: "ASBR Summary", 5: "External", 6: "Multicast Group",
             7: "NSSA", 9: "Link Local Opaque", 10: "Area Local Opaque", 11: "Domain Wide Opaque"}
OPAQUE = frozenset((9, 10, 11))
OPAQUE_TYPES = {1: "Traffic Engineering", 3: "Graceful restart", 4: "Router Information"}
RLA_FLAGS = ((0x01, "ABR"), (0x02, "ASBR"), (0x04, "Virtual"), (0x08, "Wildcard"), (0x10, "Nt"), (0x80, "Host"))
RLA_LINKS = {4: "Virtual Link: Neighbor Router-ID: %s, Interface Address: %s",
             1: "Neighbor Router-ID: %s, Interface Address: %s", 2: "Neighbor Network-ID: %s, Interface Address: %s",
             3: "Stub Network: %s, Mask: %s"}
TOPOLOGIES = {0: "default", 1: "multicast", 2: "management"}
LSA_HDR_LEN = 20
_LSA_HDR = struct.Struct("!HBB4s4sIHH")      # age, options, type, id, router, seq, checksum, length


def _dd(nd, data: bytes, at: int, end: int) -> None:
    _, options, flags, seq = struct.unpack_from("!HBBI", data, at)
    mtu = u16(data, at)[0]
    nd.out.append("\n\tOptions [%s], DD Flags [%s]%s, Sequence: 0x%08x" % (
        bits_text(OPTIONS, options, "none"), bits_text(DD_FLAGS, flags, "none"), ", MTU: %u" % mtu if mtu else "", seq))
    at += 8
    while at < end and _lsa_header(nd, data, at) != -1:
        at += LSA_HDR_LEN


def _ls_request(nd, data: bytes, at: int, end: int) -> None:
    out = nd.out
    while at < end:
        kind, lsa_id, router = struct.unpack_from("!I4s4s", data, at)
        out.append("\n\t  Advertising Router: %s, %s LSA (%u)" % (ip4(router), LSA_TYPES.get(kind, "unknown"), kind))
        if kind in OPAQUE:
            out.append(", Opaque-Type: %s LSA (%u), Opaque-ID: %u" % (
                OPAQUE_TYPES.get(lsa_id[0], "unknown"), lsa_id[0], int.from_bytes(lsa_id[1:], "big")))
        else:
            out.append(", LSA-ID: %s" % ip4(lsa_id))
        at += 12


def _ls_update(nd, data: bytes, at: int, end: int) -> None:
    count = u32(data, at)[0]
    nd.out.append(", %u LSA%s" % (count, "" if count == 1 else "s"))
    at += 4
    for n in range(1, count + 1):
        nd.out.append("\n\t  LSA #%u" % n)
        at = _lsa(nd, data, at)


def _ls_ack(nd, data: bytes, at: int, end: int) -> None:
    # print-ospf.c walks the headers with no end but the capture's: it always ends truncated.
    while _lsa_header(nd, data, at) != -1:
        at += LSA_HDR_LEN


V2_BODIES = {2: _dd, 3: _ls_request, 4: _ls_update, 5: _ls_ack}


def _lsa_header(nd, data: bytes, at: int) -> int:
    """ospf_print_lshdr: the LSA's length, or -1 when it is bogus."""
    age, options, kind, lsa_id, router, seq, _, length = _LSA_HDR.unpack_from(data, at)
    out = nd.out
    if length < LSA_HDR_LEN:
        out.append("\n\t    Bogus length %u < header (%u)" % (length, LSA_HDR_LEN))
        return -1
    out.append("\n\t  Advertising Router %s, seq 0x%08x, age %us, length %u" % (ip4(router), seq, age,
                                                                               length - LSA_HDR_LEN))
    if kind in OPAQUE:
        out.append("\n\t    %s LSA (%u), Opaque-Type %s LSA (%u), Opaque-ID %u" % (
            LSA_TYPES.get(kind, "unknown"), kind, OPAQUE_TYPES.get(lsa_id[0], "unknown"), lsa_id[0],
            int.from_bytes(lsa_id[1:], "big")))
    else:
        out.append("\n\t    %s LSA (%u), LSA-ID: %s" % (LSA_TYPES.get(kind, "unknown"), kind, ip4(lsa_id)))
    out.append("\n\t    Options: [%s]" % bits_text(OPTIONS, options, "none"))
    return length


def _lsa(nd, data: bytes, at: int) -> int:
    """ospf_print_lsa; returns where the next LSA starts."""
    length = _lsa_header(nd, data, at)
    if length < 0:
        raise IndexError
    out = nd.out
    end = at + length
    kind = data[at + 3]
    body = at + LSA_HDR_LEN
    if kind == 1:
        flags, count = data[body], u16(data, body + 2)[0]
        out.append("\n\t    Router LSA Options: [%s]" % bits_text(RLA_FLAGS, flags, "none"))
        link = body + 4
        for _ in range(count):
            link_id, link_data, link_type, tos_count, metric = struct.unpack_from("!4s4sBBH", data, link)
            text = RLA_LINKS.get(link_type)
            if text is None:
                out.append("\n\t      Unknown Router Link Type (%u)" % link_type)
                return end
            out.append("\n\t      " + text % (ip4(link_id), ip4(link_data)))
            out.append("\n\t\ttopology default (0), metric %u" % metric)
            for i in range(tos_count):
                tos, tos_metric = data[link + 12 + 4 * i], u16(data, link + 14 + 4 * i)[0]
                out.append("\n\t\ttopology %s (%u), metric %u" % (TOPOLOGIES.get(tos, "Unknown"), tos, tos_metric))
            link += 12 + 4 * tos_count
    elif kind == 2:
        out.append("\n\t    Mask %s\n\t    Connected Routers:" % ip4(_addr(data, body)))
        p = body + 4
        while p < end:
            out.append("\n\t      %s" % ip4(_addr(data, p)))
            p += 4
    elif kind in (3, 4):
        if kind == 3:
            out.append("\n\t    Mask %s" % ip4(_addr(data, body)))
        p = body + 4
        u32(data, p)
        while p < end:
            ul = u32(data, p)[0]
            topology = (ul & 0x7F000000) >> 24
            out.append("\n\t\ttopology %s (%u) metric %u" % (TOPOLOGIES.get(topology, "Unknown"), topology,
                                                            ul & 0x00FFFFFF))
            p += 4
    elif kind in (5, 7):
        out.append("\n\t    Mask %s" % ip4(_addr(data, body)))
        p = body + 4
        u32(data, p)
        while p < end:
            ul, forward, tag = struct.unpack_from("!I4s4s", data, p)
            topology = (ul & 0x7F000000) >> 24
            metric = ul & 0x00FFFFFF
            out.append("\n\t\ttopology %s (%u), type %u, metric %s" % (
                TOPOLOGIES.get(topology, "Unknown"), topology, 2 if ul & 0x80000000 else 1,
                "infinite" if metric == 0xFFFFFF else "%u" % metric))
            if forward != bytes(4):
                out.append(", forward %s" % ip4(forward))
            if tag != bytes(4):
                out.append(", tag %s" % ip4(tag))
            p += 12
    elif nd.verbose <= 1:
        out.append(hex_dump(data[body:end], "\n\t    "))
    if nd.verbose > 1:
        out.append(hex_dump(data[body:end], "\n\t    "))
    return end


DD6_FLAGS = ((0x04, "Init"), (0x02, "More"), (0x01, "Master"), (0x10, "IPv6 MTU"))
LSA6_TYPES = {1: "Router", 2: "Network", 3: "Inter-Area Prefix", 4: "Inter-Area Router", 5: "External",
              6: "Deprecated", 7: "NSSA", 8: "Link", 9: "Intra-Area Prefix", 10: "Intra-Area TE", 11: "Grace",
              12: "Router Information", 13: "Inter-AS-TE", 14: "Layer 1 VPN"}
LS6_SCOPES = {0x0000: "Link Local", 0x2000: "Area Local", 0x4000: "Domain Wide"}
_LSA6_HDR = struct.Struct("!HH4s4sIHH")      # age, type, id, router, seq, checksum, length


def _ls6_type(out: list[str], ls_type: int, state_id: bytes) -> None:
    out.append("\n\t    %s LSA (%u), %s Scope%s, LSA-ID %s" % (
        LSA6_TYPES.get(ls_type & 0x1FFF, "Unknown"), ls_type & 0x1FFF, LS6_SCOPES.get(ls_type & 0x6000, "Unknown"),
        ", transitive" if ls_type & 0x8000 else "", ip4(state_id)))


def _ls6_headers(nd, data: bytes, at: int, end: int) -> None:
    while at < end:
        if at + _LSA6_HDR.size > end:
            raise IndexError
        age, ls_type, state_id, router, seq, _, length = _LSA6_HDR.unpack_from(data, at)
        nd.out.append("\n\t  Advertising Router %s, seq 0x%08x, age %us, length %u" % (
            ip4(router), seq, age, (length - _LSA6_HDR.size) & 0xFFFFFFFFFFFFFFFF))
        _ls6_type(nd.out, ls_type, state_id)
        at += _LSA6_HDR.size


def _v3_body(nd, data: bytes, at: int, end: int, kind: int) -> None:
    """OSPFv3 Database Description, and with -vv the LSA headers of DD, LS-Request and LS-Ack.
    (LS-Update's LSAs are not decoded.)"""
    out = nd.out
    if kind == 2:
        options, mtu, _, flags, seq = struct.unpack_from("!IHBBI", data, at)
        out.append("\n\tOptions [%s], DD Flags [%s], MTU %u, DD-Sequence 0x%08x" % (
            bits_text(OPTIONS6, options, "none"), bits_text(DD6_FLAGS, flags, "none"), mtu, seq))
        if nd.verbose > 1:
            _ls6_headers(nd, data, at + 12, end)
    elif kind == 3 and nd.verbose > 1:
        while at < end:
            _, ls_type, state_id, router = struct.unpack_from("!HH4s4s", data, at)
            out.append("\n\t  Advertising Router %s" % ip4(router))
            _ls6_type(out, ls_type, state_id)
            at += 12
    elif kind == 5 and nd.verbose > 1:
        _ls6_headers(nd, data, at, end)
