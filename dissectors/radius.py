"""RADIUS (print-radius.c, RFC 2865/2866/5176; udp 1812/1813, 1645/1646, 1700, 3799): the code, id and
length; -v the authenticator and every attribute (dissectors/radius_tables.py names them), -vv each
attribute's bytes."""

from __future__ import annotations

import struct
import time

from ebcap.dissectors.eapol import eap_print
from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u16
from ebcap.dissectors.hexdump import hex_ascii_dump, unknown_data
from ebcap.dissectors.names import ip4, ip6
from ebcap.dissectors.ntp import _time as ntp_time
from ebcap.dissectors.radius_tables import (
    ATTRIBUTES,
    BLPR_BM,
    ERRORCAUSETYPE,
    LOCATION_INFORMATION_CODE_VECTOR,
    LOCATION_INFORMATION_ENTITY_VECTOR,
    MIP6_FEATURE_VECTOR,
    OPERATOR_NAME_VECTOR,
    RADIUS_COMMAND_VALUES,
    RFC4675_TAGGED,
    SMI_VALUES,
)
from ebcap.dissectors.text import printable

CODES = RADIUS_COMMAND_VALUES
PORTS = (1645, 1812, 1646, 1813, 1700, 3799)
MIN_LEN = 20
FRM_IPADDR, LOG_IPHOST, FRM_IPX, SESSION_TIMEOUT, IDLE_TIMEOUT = 8, 14, 23, 27, 28
ACCT_DELAY, ACCT_SESSION_TIME, FRM_ATALK_LINK, FRM_ATALK_NETWORK = 41, 46, 37, 38
EGRESS_VLAN_ID, EGRESS_VLAN_NAME, TUNNEL_TYPE, TUNNEL_MEDIUM = 56, 58, 64, 65
TUNNEL_CLIENT_END, TUNNEL_SERVER_END, TUNNEL_PASS, EAP_MESSAGE = 66, 67, 69, 79
ARAP_PASS, ARAP_FEATURES, ARAP_CHALLENGE_RESP = 70, 71, 84
TUNNEL_PRIV_GROUP, TUNNEL_ASSIGN_ID, TUNNEL_PREFERENCE = 81, 82, 83
ACCT_INT_INTERVAL, TUNNEL_CLIENT_AUTH, TUNNEL_SERVER_AUTH, ERROR_CAUSE = 85, 90, 91, 101
_TAGGED_STRINGS = (TUNNEL_CLIENT_END, TUNNEL_SERVER_END, TUNNEL_PRIV_GROUP, TUNNEL_ASSIGN_ID,
                   TUNNEL_CLIENT_AUTH, TUNNEL_SERVER_AUTH)
_TIMEOUTS = (SESSION_TIMEOUT, IDLE_TIMEOUT, ACCT_DELAY, ACCT_SESSION_TIME, ACCT_INT_INTERVAL)


def radius_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "radius"
    if len(data) < pay + MIN_LEN:
        raise Truncated
    rlen = u16(data, pay + 2)[0]
    if rlen < MIN_LEN:
        raise Truncated
    rlen = min(rlen, length)
    code = data[pay]
    name = CODES.get(code, "Unknown Command")
    if not nd.verbose:
        nd.out.append("RADIUS, %s (%u), id: 0x%02x length: %u" % (name, code, data[pay + 1], rlen))
        return
    nd.out.append("RADIUS, length: %u\n\t%s (%u), id: 0x%02x, Authenticator: %s" % (
        rlen, name, code, data[pay + 1], data[pay + 4:pay + 20].hex()))
    if rlen > MIN_LEN:
        _attributes(nd, data, pay + MIN_LEN, rlen - MIN_LEN)


def _attributes(nd, data: bytes, at: int, length: int) -> None:
    out = nd.out
    while length > 0:
        if length < 2 or at + 2 > len(data):
            raise Truncated
        atype, alen = data[at], data[at + 1]
        entry = ATTRIBUTES[atype] if atype < len(ATTRIBUTES) else None
        out.append("\n\t  %s Attribute (%u), length: %u" % (entry[0] if atype and entry else "Unknown", atype, alen))
        if alen < 2:
            out.append(" (bogus, must be >= 2)")
            return
        if alen > length:
            out.append(" (bogus, goes past end of packet)")
            return
        out.append(", Value: ")
        if entry and alen > 2 and entry[3]:
            try:
                _PRINTERS[entry[3]](out, data, at + 2, alen - 2, atype)
            except Truncated:
                out.append(" [|radius]")
        if nd.verbose > 1:
            out.append(unknown_data(data, at + 2, "\n\t    ", alen - 2))
        length -= alen
        at += alen


def _need(data: bytes, at: int, n: int) -> bytes:
    """ND_TCHECK_LEN in a printer: a local trunc, the next attribute still tried."""
    if at + n > len(data):
        raise Truncated
    return data[at:at + n]


def _get(data: bytes, at: int, n: int) -> bytes:
    """GET_ macros: past the capture, the whole line ends (IndexError)."""
    if at + n > len(data):
        raise IndexError
    return data[at:at + n]


def _chars(raw: bytes) -> str:
    return "".join(chr(c) if 0x20 <= c < 0x7F else "." for c in raw)


def _string(out, data, at, n, atype) -> None:
    _need(data, at, n)
    if atype == TUNNEL_PASS:
        if n < 3:
            raise Truncated
        out.append("Tag[%u] " % data[at] if 0 < data[at] <= 0x1F else "Tag[Unused] ")
        out.append("Salt %u " % u16(data, at + 1)[0])
        at, n = at + 3, n - 3
    elif atype in _TAGGED_STRINGS:
        if data[at] <= 0x1F:
            out.append("Tag[%u] " % data[at] if data[at] else "Tag[Unused] ")
            at, n = at + 1, n - 1
    elif atype == EGRESS_VLAN_NAME:
        out.append("%s (0x%02x) " % (RFC4675_TAGGED.get(data[at], "Unknown tag"), data[at]))
        at, n = at + 1, n - 1
    elif atype == EAP_MESSAGE:
        eap_print(out, data, at, n)
        return
    out.append(_chars(data[at:at + n].split(b"\0", 1)[0]))


def _vendor(out, data, at, n, atype) -> None:
    if n < 4:
        raise Truncated
    vendor = struct.unpack_from("!I", data, at)[0]
    out.append("Vendor: %s (%u)" % (SMI_VALUES.get(vendor, "Unknown"), vendor))
    at, n = at + 4, n - 4
    while n >= 2:
        vtype, vlen = data[at], data[at + 1]
        if vlen < 2:
            out.append("\n\t    Vendor Attribute: %u, Length: %u (bogus, must be >= 2)" % (vtype, vlen))
            return
        if vlen > n:
            out.append("\n\t    Vendor Attribute: %u, Length: %u (bogus, goes past end of vendor-specific"
                       " attribute)" % (vtype, vlen))
            return
        at, vlen, n = at + 2, vlen - 2, n - 2
        value = _need(data, at, vlen)
        out.append("\n\t    Vendor Attribute: %u, Length: %u, Value: %s" % (vtype, vlen, _chars(value)))
        at += vlen
        n -= vlen


def _num(out, data, at, n, atype) -> None:
    if n != 4:
        out.append("ERROR: length %u != 4" % n)
        return
    values, first = ATTRIBUTES[atype][1], ATTRIBUTES[atype][2]
    u32 = lambda: struct.unpack_from("!I", _get(data, at, 4))[0]  # noqa: E731
    u24 = lambda: int.from_bytes(_get(data, at + 1, 3), "big")  # noqa: E731
    tag = lambda: "Tag[%u] " % data[at] if data[at] else "Tag[Unused] "  # noqa: E731
    if values:
        if atype in (TUNNEL_TYPE, TUNNEL_MEDIUM):
            out.append(tag())
            word = u24()
        else:
            word = u32()
        out.append(values[word - first] if first <= word <= len(values) - 1 + first else "#%u" % word)
    elif atype == FRM_IPX:
        word = u32()
        out.append("NAS Select" if word == 0xFFFFFFFE else "%u" % word)
    elif atype in _TIMEOUTS:
        word = u32()
        if word < 60:
            out.append("%02d secs" % word)
        elif word < 3600:
            out.append("%02d:%02d min" % (word // 60, word % 60))
        else:
            out.append("%02d:%02d:%02d hours" % (word // 3600, word % 3600 // 60, word % 60))
    elif atype == FRM_ATALK_LINK:
        word = u32()
        out.append("%u" % word if word else "Unnumbered")
    elif atype == FRM_ATALK_NETWORK:
        word = u32()
        out.append("%u" % word if word else "NAS assigned")
    elif atype == TUNNEL_PREFERENCE:
        out.append(tag())
        out.append("%u" % u24())
    elif atype == EGRESS_VLAN_ID:
        out.append("%s (0x%02x) " % (RFC4675_TAGGED.get(data[at], "Unknown tag"), data[at]))
        out.append("%u" % u24())
    else:
        out.append("%u" % u32())


def _address(out, data, at, n, atype) -> None:
    if n != 4:
        out.append("ERROR: length %u != 4" % n)
        return
    raw = _get(data, at, 4)
    if atype in (FRM_IPADDR, LOG_IPHOST) and raw == b"\xff\xff\xff\xff":
        out.append("User Selected")
    elif atype in (FRM_IPADDR, LOG_IPHOST) and raw == b"\xff\xff\xff\xfe":
        out.append("NAS Select")
    else:
        out.append(ip4(raw))


def _address6(out, data, at, n, atype) -> None:
    if n != 16:
        out.append("ERROR: length %u != 16" % n)
        return
    out.append(ip6(_get(data, at, 16)))


def _netmask6(out, data, at, n, atype) -> None:
    if n < 2 or n > 18:
        out.append("ERROR: length %u not in range (2..18)" % n)
        return
    raw = _need(data, at, n)
    if raw[1] > 128:
        out.append("ERROR: netmask %u not in range (0..128)" % raw[1])
        return
    out.append("%s/%u" % (ip6(raw[2:].ljust(16, b"\0")), raw[1]))
    if raw[1] > 8 * (n - 2):
        out.append(" (inconsistent prefix length)")


def _mip6_prefix(out, data, at, n, atype) -> None:
    if n != 17:
        out.append("ERROR: length %u != 17" % n)
        return
    raw = _need(data, at, n)
    if raw[0] > 128:
        out.append("ERROR: netmask %u not in range (0..128)" % raw[0])
        return
    out.append("%s/%u" % (ip6(raw[1:17]), raw[0]))


def _operator_name(out, data, at, n, atype) -> None:
    raw = _need(data, at, n)
    if n < 2:
        out.append("ERROR: length %u < 2" % n)
        return
    out.append("[%s] " % OPERATOR_NAME_VECTOR.get(raw[0], "unknown namespace %u" % raw[0]))
    out.append(printable(raw[1:]))


def _ntp(raw: bytes) -> str:
    return ntp_time(*struct.unpack_from("!II", raw))


def _location_information(out, data, at, n, atype) -> None:
    raw = _need(data, at, n)
    if n < 21:
        out.append("ERROR: length %u < 21" % n)
        return
    index, code, entity = struct.unpack_from("!HBB", raw)
    out.append("index %u, code %s, entity %s, " % (
        index, LOCATION_INFORMATION_CODE_VECTOR.get(code, "Unknown (%u)" % code),
        LOCATION_INFORMATION_ENTITY_VECTOR.get(entity, "Unknown (%u)" % entity)))
    out.append("sighting time %s, time to live %s, method \"%s\"" % (
        _ntp(raw[4:12]), _ntp(raw[12:20]), printable(raw[20:n])))


def _location_data(out, data, at, n, atype) -> None:
    raw = _need(data, at, n)
    if n < 3:
        out.append("ERROR: length %u < 3" % n)
        return
    out.append("index %u, location" % u16(raw, 0)[0])
    out.append(hex_ascii_dump(raw[2:], "\n\t    "))


def _policy_rules(out, data, at, n, atype) -> None:
    raw = _need(data, at, n)
    if n < 10:
        out.append("ERROR: length %u < 10" % n)
        return
    flags = u16(raw, 0)[0]
    names = ", ".join(name for bit, name in sorted(BLPR_BM.items()) if flags & bit) or "none"
    out.append("flags [%s], retention expires %s" % (names, _ntp(raw[2:10])))
    if n > 10:
        out.append(", note well \"%s\"" % printable(raw[10:]))


def _time(out, data, at, n, atype) -> None:
    if n != 4:
        out.append("ERROR: length %u != 4" % n)
        return
    out.append(_ctime(struct.unpack_from("!I", _get(data, at, 4))[0]))


def _ctime(t: int) -> str:
    """ctime(3) without its newline: local time, as tcpdump prints it."""
    tm = time.localtime(t)
    return "%s %s %2d %02d:%02d:%02d %d" % (time.strftime("%a", tm), time.strftime("%b", tm), tm.tm_mday,
                                            tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year)


def _vector64(out, data, at, n, atype) -> None:
    if n != 8:
        out.append("ERROR: length %u != 8" % n)
        return
    value = struct.unpack_from("!Q", _get(data, at, 8))[0]
    out.append("[%s]" % ", ".join(name for bit, name in MIP6_FEATURE_VECTOR if value & bit))


def _strange(out, data, at, n, atype) -> None:
    raw = _get(data, at, n) if atype != ERROR_CAUSE else data[at:at + n]
    if atype == ARAP_PASS:
        if n != 16:
            out.append("ERROR: length %u != 16" % n)
            return
        out.append("User_challenge (%s) User_resp(%s)" % (raw[:8].hex().upper(), raw[8:16].hex().upper()))
    elif atype == ARAP_FEATURES:
        if n != 14:
            out.append("ERROR: length %u != 14" % n)
            return
        out.append("User can change password" if raw[0] else "User cannot change password")
        out.append(", Min password length: %u, created at: %s, expires in: %s, Current Time: %s" % (
            raw[1], raw[2:6].hex().upper(), raw[6:10].hex().upper(), raw[10:14].hex().upper()))
    elif atype == ARAP_CHALLENGE_RESP:
        if n < 8:
            out.append("ERROR: length %u != 8" % n)
            return
        out.append(raw[:8].hex().upper())
    elif atype == ERROR_CAUSE:
        if n != 4:
            out.append("Error: length %u != 4" % n)
            return
        cause = struct.unpack_from("!I", _get(data, at, 4))[0]
        out.append("Error cause %u: %s" % (cause, ERRORCAUSETYPE.get(cause, "Error-Cause %u not known" % cause)))


_PRINTERS = {"string": _string, "num": _num, "vendor": _vendor, "address": _address, "address6": _address6,
             "netmask6": _netmask6, "mip6_prefix": _mip6_prefix, "operator_name": _operator_name,
             "location_information": _location_information, "location_data": _location_data,
             "policy_rules": _policy_rules, "time": _time, "vector64": _vector64, "strange": _strange}
