"""OSPFv2 and OSPFv3 (print-ospf.c, print-ospf6.c; IP protocol 89): the headline, and with -v the
router and area ids, authentication and the Hello body. (Other packet bodies and their LSAs are not
decoded.)"""

from __future__ import annotations

import struct

from ebcap.dissectors.extract import u16
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
    if kind != HELLO:
        return
    at = off + HDR_LEN
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
    if kind != HELLO:
        return
    at = off + HDR6_LEN
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
