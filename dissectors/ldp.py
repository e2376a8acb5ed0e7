"""LDP (print-ldp.c, RFC 5036; udp and tcp 646): the PDU headline, and with -v every PDU of the
segment, its messages and their TLVs (hello and session parameters, addresses, FECs, labels, status).
(Martini VC FECs print their name only.)"""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u16, u32
from ebcap.dissectors.hexdump import hex_dump
from ebcap.dissectors.names import ip4, ip6

VERSION = 1
COMMON_LEN, MSG_LEN = 10, 8
_COMMON = struct.Struct("!HH4sH")            # version, PDU length, LSR id, label space
MESSAGES = {0x0001: "Notification", 0x0100: "Hello", 0x0200: "Initialization", 0x0201: "Keepalive",
            0x0300: "Address", 0x0301: "Address Withdraw", 0x0400: "Label Mapping", 0x0401: "Label Request",
            0x0402: "Label Withdraw", 0x0403: "Label Release", 0x0404: "Label Abort Request"}
# the messages whose TLVs print-ldp.c walks; the others are dumped
TLV_MESSAGES = frozenset((0x0001, 0x0100, 0x0200, 0x0201, 0x0300, 0x0400, 0x0301, 0x0402))
TLVS = {0x0100: "FEC", 0x0101: "Address List", 0x0103: "Hop Count", 0x0104: "Path Vector", 0x0200: "Generic Label",
        0x0201: "ATM Label", 0x0202: "Frame-Relay Label", 0x0300: "Status", 0x0301: "Extended Status",
        0x0302: "Returned PDU", 0x0303: "Returned Message", 0x0400: "Common Hello Parameters",
        0x0401: "IPv4 Transport Address", 0x0402: "Configuration Sequence Number",
        0x0403: "IPv6 Transport Address", 0x0500: "Common Session Parameters",
        0x0501: "ATM Session Parameters", 0x0502: "Frame-Relay Session Parameters",
        0x0503: "Fault-Tolerant Session Parameters", 0x0600: "Label Request Message ID", 0x0601: "MTU"}
FECS = {0x01: "Wildcard", 0x02: "Prefix", 0x03: "Host address", 0x80: "Martini VC"}
AFNUM_INET, AFNUM_INET6 = 1, 2
AF_NAMES = {0: "Reserved", 1: "IPv4", 2: "IPv6", 3: "NSAP", 4: "HDLC", 5: "BBN 1822", 6: "802"}


class _Invalid(Exception):
    """TLV_TCHECK failed: the marker is printed, the TLV ends."""


def ldp_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "ldp"
    while length > COMMON_LEN + MSG_LEN:
        processed = _pdu(nd, data, pay)
        if not processed:
            return
        if length < processed:
            nd.out.append(" [remaining length %u < %u] (invalid)" % (length, processed))
            return
        length -= processed
        pay += processed


def _pdu(nd, data: bytes, at: int) -> int:
    out = nd.out
    version, pdu_len, lsr_id, label_space = _COMMON.unpack_from(data, at)
    sep = "\n\t" if nd.verbose else ""
    if version != VERSION:
        out.append("%sLDP version %u packet not supported" % (sep, version))
        return 0
    if pdu_len < COMMON_LEN - 4:
        out.append("%sLDP, pdu-length: %u (too short, < %u)" % (sep, pdu_len, COMMON_LEN - 4))
        return 0
    out.append("%sLDP, Label-Space-ID: %s:%u, pdu-length: %u" % (sep, ip4(lsr_id), label_space, pdu_len))
    if not nd.verbose:
        return 0
    p, tlen = at + COMMON_LEN, pdu_len - (COMMON_LEN - 4)
    while tlen > 0:
        if len(data) < p + MSG_LEN:
            raise Truncated
        raw_type, msg_len, msg_id = struct.unpack_from("!HHI", data, p)
        msg_type = raw_type & 0x7FFF
        name = MESSAGES.get(msg_type, "Unknown")
        if msg_len < MSG_LEN - 4:
            out.append("\n\t  %s Message (0x%04x), length: %u (too short, < %u)" % (name, msg_type, msg_len,
                                                                                   MSG_LEN - 4))
            return 0
        out.append("\n\t  %s Message (0x%04x), length: %u, Message ID: 0x%08x, Flags: [%s if unknown]" % (
            name, msg_type, msg_len, msg_id, "continue processing" if raw_type & 0x8000 else "ignore"))
        if len(data) < p + msg_len:
            raise Truncated
        body, left = p + MSG_LEN, msg_len - (MSG_LEN - 4)
        if msg_type in TLV_MESSAGES:
            while left >= 4:
                used = _tlv(nd, data, body, left)
                if not used:
                    break
                left -= used
                body += used
        elif nd.verbose <= 1:
            out.append(hex_dump(data[p + MSG_LEN:p + MSG_LEN + left], "\n\t  "))
        if nd.verbose > 1:
            out.append(hex_dump(data[p + MSG_LEN:p + MSG_LEN + msg_len], "\n\t  "))
        p += msg_len + 4
        tlen -= msg_len + 4
    return pdu_len + 4


def _tlv(nd, data: bytes, at: int, msg_left: int) -> int:
    """ldp_tlv_print; returns the TLV's length with its header, 0 to stop."""
    out = nd.out
    if len(data) < at + 4:
        raise Truncated
    raw_type, tlv_len = u16(data, at)[0], u16(data, at + 2)[0]
    if tlv_len + 4 > msg_left:
        out.append("\n\t\t TLV contents go past end of message")
        return 0
    kind = raw_type & 0x3FFF
    out.append("\n\t    %s TLV (0x%04x), length: %u, Flags: [%s and %s forward if unknown]" % (
        TLVS.get(kind, "Unknown"), kind, tlv_len, "continue processing" if raw_type & 0x8000 else "ignore",
        "do" if raw_type & 0x4000 else "don't"))
    v = data[at + 4:at + 4 + tlv_len]
    if len(v) < tlv_len:
        raise Truncated
    try:
        _tlv_value(nd, out, kind, v)
    except _Invalid:
        pass
    return tlv_len + 4


def _check(out: list[str], v: bytes, n: int) -> None:
    if len(v) < n:
        out.append(" [tlv length %u < %u] (invalid)" % (len(v), n))
        raise _Invalid


def _tlv_value(nd, out: list[str], kind: int, v: bytes) -> None:
    if kind == 0x0400:
        _check(out, v, 4)
        flags = u16(v, 2)[0]
        out.append("\n\t      Hold Time: %us, Flags: [%s Hello%s]" % (
            u16(v, 0)[0], "Targeted" if flags & 0x8000 else "Link",
            ", Request for targeted Hellos" if flags & 0x4000 else ""))
    elif kind == 0x0401:
        _check(out, v, 4)
        out.append("\n\t      IPv4 Transport Address: %s" % ip4(v[:4]))
    elif kind == 0x0403:
        _check(out, v, 16)
        out.append("\n\t      IPv6 Transport Address: %s" % ip6(v[:16]))
    elif kind == 0x0402:
        _check(out, v, 4)
        out.append("\n\t      Sequence Number: %u" % u32(v, 0)[0])
    elif kind == 0x0101:
        _check(out, v, 2)
        af = u16(v, 0)[0]
        out.append("\n\t      Address Family: %s, addresses" % AF_NAMES.get(af, "Unknown (%u)" % af))
        size = {AFNUM_INET: 4, AFNUM_INET6: 16}.get(af)
        if size:
            text = ip4 if size == 4 else ip6
            out.append("".join(" " + text(v[i:i + size]) for i in range(2, len(v) - size + 1, size)))
    elif kind == 0x0500:
        _check(out, v, 8)
        flags = u16(v, 6)[0]
        out.append("\n\t      Version: %u, Keepalive: %us, Flags: [Downstream %s, Loop Detection %s]" % (
            u16(v, 0)[0], u16(v, 2)[0], "On Demand" if flags & 0x8000 else "Unsolicited",
            "Enabled" if flags & 0x4000 else "Disabled"))
    elif kind == 0x0100:
        _fec(out, v)
    elif kind == 0x0200:
        _check(out, v, 4)
        out.append("\n\t      Label: %u" % (u32(v, 0)[0] & 0xFFFFF))
    elif kind == 0x0300:
        _check(out, v, 8)
        status, cause = u32(v, 0)[0], u32(v, 4)[0]
        out.append("\n\t      Status: 0x%02x, Flags: [%s and %s forward]" % (
            status & 0x3FFFFFFF, "Fatal error" if status & 0x80000000 else "Advisory Notification",
            "do" if status & 0x40000000 else "don't"))
        if cause:
            out.append(", causing Message ID: 0x%08x" % cause)
    elif kind == 0x0503:
        _check(out, v, 12)
        flags = u16(v, 0)[0]
        out.append("\n\t      Flags: [%sReconnect, %sSave State, %sAll-Label Protection, %s Checkpoint, "
                   "%sRe-Learn State]" % ("" if flags & 0x8000 else "No ", "" if flags & 0x8 else "Don't ",
                                          "" if flags & 0x4 else "No ",
                                          "Sequence Numbered Label" if flags & 0x2 else "All Labels",
                                          "" if flags & 0x1 else "Don't "))
        if u32(v, 4)[0]:
            out.append(", Reconnect Timeout: %ums" % u32(v, 4)[0])
        if u32(v, 8)[0]:
            out.append(", Recovery Time: %ums" % u32(v, 8)[0])
    elif kind == 0x0601:
        _check(out, v, 2)
        out.append("\n\t      MTU: %u" % u16(v, 0)[0])
    elif nd.verbose <= 1:
        out.append(hex_dump(v, "\n\t      "))


def _fec(out: list[str], v: bytes) -> None:
    _check(out, v, 1)
    fec = v[0]
    out.append("\n\t      %s FEC (0x%02x)" % (FECS.get(fec, "Unknown"), fec))
    if fec != 0x02:
        return
    rest = v[1:]
    _check(out, rest, 2)
    af, rest = u16(rest, 0)[0], rest[2:]
    if af not in (AFNUM_INET, AFNUM_INET6):
        out.append(": Address family %u prefix" % af)
        return
    size = 4 if af == AFNUM_INET else 16
    name = "IPv4" if af == AFNUM_INET else "IPv6"
    if not rest:
        raise Truncated
    plen = rest[0]
    if plen > size * 8:
        out.append(": %s prefix (invalid length)" % name)
        return
    nbytes = (plen + 7) // 8
    if len(rest) - 1 < nbytes:
        raise Truncated     # decode_prefix4/6's ITEMCHECK: print-ldp.c's truncation
    addr = bytearray(rest[1:1 + nbytes]) + bytearray(size - nbytes)
    if plen % 8:
        addr[nbytes - 1] &= (0xFF00 >> (plen % 8)) & 0xFF
    out.append(": %s prefix %s/%u" % (name, (ip4 if size == 4 else ip6)(bytes(addr)), plen))
