"""EIGRP (print-eigrp.c, RFC 7868; IP protocol 88): the opcode, and with -v the header and the
TLVs: parameters, software version, IPv4 internal and external routes (others as hex)."""

from __future__ import annotations

import struct

from ebcap.dissectors.hexdump import hex_dump
from ebcap.dissectors.names import ip4
from ebcap.dissectors.text import bits_text

VERSION = 2
OPCODES = {1: "Update", 3: "Query", 4: "Reply", 5: "Hello", 6: "IPX SAP", 7: "Probe"}
FLAGS = ((0x01, "Init"), (0x02, "Conditionally Received"), (0x04, "Restart"), (0x08, "End-of-Table"))
TLVS = {0x0001: "General Parameters", 0x0002: "Authentication", 0x0003: "Sequence",
        0x0004: "Software Version", 0x0005: "Next Multicast Sequence", 0x0102: "IP Internal routes",
        0x0103: "IP External routes", 0x0202: "AppleTalk Internal routes",
        0x0203: "AppleTalk External routes", 0x0204: "AppleTalk Cable setup",
        0x0302: "IPX Internal routes", 0x0303: "IPX External routes"}
EXT_PROTOCOLS = {1: "IGRP", 2: "EIGRP", 3: "Static", 4: "RIP", 5: "Hello", 6: "OSPF", 7: "IS-IS", 8: "EGP",
                 9: "BGP", 10: "IDRP", 11: "Connected"}
TLV_GENERAL, TLV_SW_VERSION, TLV_IP_INT, TLV_IP_EXT = 0x0001, 0x0004, 0x0102, 0x0103
HDR_LEN = 20
_HDR = struct.Struct("!BBHIIIHH")
_TLV = struct.Struct("!HH")
_GENERAL = struct.Struct("!BBBBBxH")         # k1..k5, holdtime
_METRIC = struct.Struct("!II3sBBB2xB")       # delay, bandwidth, mtu, hops, reliability, load, plen
_EXT = struct.Struct("!4sIIIxxBB")           # origin router, origin AS, tag, metric, protocol, flags
GENERAL_LEN, SW_VERSION_LEN, IP_INT_LEN, IP_EXT_LEN = 8, 4, 22, 42


def eigrp_print(nd, data: bytes, off: int, length: int, _ip: tuple, _fragmented) -> None:
    nd.proto = "eigrp"
    out = nd.out
    _HDR.unpack_from(data, off)
    version, opcode = data[off], data[off + 1]
    if version != VERSION:
        out.append("EIGRP version %u packet not supported" % version)
        return
    if not nd.verbose:
        out.append("EIGRP %s, length: %u" % (OPCODES.get(opcode, "unknown (%u)" % opcode), length))
        return
    if length < HDR_LEN:
        out.append("EIGRP %s, length: %u (too short, < %u)" % (
            OPCODES.get(opcode, "unknown (%u)" % opcode), length, HDR_LEN))
        return
    _, _, checksum, flags, seq, ack, vrid, asn = _HDR.unpack_from(data, off)
    tlen = length - HDR_LEN
    out.append("\n\tEIGRP v%u, opcode: %s (%u), chksum: 0x%04x, Flags: [%s]"
               "\n\tseq: 0x%08x, ack: 0x%08x, VRID: %u, AS: %u, length: %u" % (
                   version, OPCODES.get(opcode, "unknown, type: %u" % opcode), opcode, checksum,
                   bits_text(FLAGS, flags, "none"), seq, ack, vrid, asn, tlen))
    at = off + HDR_LEN
    while tlen > 0:
        kind, tlv_len = _TLV.unpack_from(data, at)
        if tlv_len < 4 or tlv_len > tlen:
            out.append(hex_dump(data[at + 4:at + 4 + tlen], "\n\t    "))
            return
        out.append("\n\t  %s TLV (0x%04x), length: %u" % (TLVS.get(kind, "Unknown"), kind, tlv_len))
        if len(data) < at + tlv_len:
            raise IndexError
        body, blen = at + 4, tlv_len - 4
        _tlv(nd, out, data, kind, body, blen)
        if nd.verbose > 1:
            out.append(hex_dump(data[body:body + blen], "\n\t    "))
        at += tlv_len
        tlen -= tlv_len


def _tlv(nd, out: list[str], data: bytes, kind: int, body: int, blen: int) -> None:
    if kind == TLV_GENERAL:
        if blen < GENERAL_LEN:
            out.append(" (too short, < %u)" % (4 + GENERAL_LEN))
            return
        k1, k2, k3, k4, k5, hold = _GENERAL.unpack_from(data, body)
        out.append("\n\t    holdtime: %us, k1 %u, k2 %u, k3 %u, k4 %u, k5 %u" % (hold, k1, k2, k3, k4, k5))
    elif kind == TLV_SW_VERSION:
        if blen < SW_VERSION_LEN:
            out.append(" (too short, < %u)" % (4 + SW_VERSION_LEN))
            return
        out.append("\n\t    IOS version: %u.%u, EIGRP version %u.%u" % tuple(data[body:body + 4]))
    elif kind in (TLV_IP_INT, TLV_IP_EXT):
        need = IP_INT_LEN if kind == TLV_IP_INT else IP_EXT_LEN
        if blen < need:
            out.append(" (too short, < %u)" % (4 + need))
            return
        metric_at = body + 4 + (20 if kind == TLV_IP_EXT else 0)
        delay, bandwidth, mtu, hops, reliability, load, plen = _METRIC.unpack_from(data, metric_at)
        if plen > 32:
            out.append("\n\t    illegal prefix length %u" % plen)
            return
        nbytes = (plen + 7) // 8
        prefix = data[metric_at + 17:metric_at + 17 + nbytes]
        if len(prefix) < nbytes:
            raise IndexError
        nexthop = data[body:body + 4]
        out.append("\n\t    IPv4 prefix: %15s/%u, nexthop: %s" % (
            ip4(prefix + bytes(4 - nbytes)), plen, "self" if nexthop == bytes(4) else ip4(nexthop)))
        if kind == TLV_IP_EXT:
            origin, origin_as, tag, ext_metric, proto, flags = _EXT.unpack_from(data, body + 4)
            out.append("\n\t      origin-router %s, origin-as %u, origin-proto %s, flags [0x%02x], tag 0x%08x"
                       ", metric %u" % (ip4(origin), origin_as, EXT_PROTOCOLS.get(proto, "unknown"), flags, tag,
                                        ext_metric))
        out.append("\n\t      delay %u ms, bandwidth %u Kbps, mtu %u, hop %u, reliability %u, load %u" % (
            delay // 100, bandwidth, int.from_bytes(mtu, "big"), hops, reliability, load))
    elif nd.verbose <= 1:
        out.append(hex_dump(data[body:body + blen], "\n\t    "))
