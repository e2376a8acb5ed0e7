"""DHCPv6 (print-dhcp6.c, RFC 8415; udp 546/547): the message type; -v the transaction id or the
relay's addresses and every option, relayed messages printed inside their option."""

from __future__ import annotations

import struct

from ebcap.dissectors import dns
from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.names import ip6
from ebcap.dissectors.text import printjn

MESSAGES = {1: "solicit", 2: "advertise", 3: "request", 4: "confirm", 5: "renew", 6: "rebind", 7: "reply",
            8: "release", 9: "decline", 10: "reconfigure", 11: "inf-req", 12: "relay-fwd", 13: "relay-reply",
            14: "leasequery", 15: "leasequery-reply"}
RELAY_FORW, RELAY_REPLY = 12, 13
OPTIONS = {
    1: "client-ID", 2: "server-ID", 3: "IA_NA", 4: "IA_TA", 5: "IA_ADDR", 6: "option-request", 7: "preference",
    8: "elapsed-time", 9: "relay-message", 11: "authentication", 12: "server-unicast", 13: "status-code",
    14: "rapid-commit", 15: "user-class", 16: "vendor-class", 17: "vendor-specific-info", 18: "interface-ID",
    19: "reconfigure-message", 20: "reconfigure-accept", 21: "SIP-servers-domain", 22: "SIP-servers-address",
    23: "DNS-server", 24: "DNS-search-list", 25: "IA_PD", 26: "IA_PD-prefix", 31: "SNTP-servers", 32: "lifetime",
    27: "NIS-server", 28: "NIS+-server", 29: "NIS-domain-name", 30: "NIS+-domain-name", 33: "BCMCS-domain-name",
    34: "BCMCS-server", 36: "Geoconf-Civic", 37: "Remote-ID", 38: "Subscriber-ID", 39: "Client-FQDN",
    40: "PANA-agent", 41: "POSIX-timezone", 42: "POSIX-tz-database", 43: "Echo-request-option",
    44: "Lease-query", 45: "LQ-client-data", 46: "Clt-time", 47: "LQ-relay-data", 48: "LQ-client-link",
    56: "NTP-server", 64: "AFTR-Name", 112: "MUD-URL",
}
STATUS = ("Success", "UnspecFail", "NoAddrsAvail", "NoBinding", "NotOnLink", "UseMulticast", "NoPrefixAvail",
          "UnknownQueryType", "MalformedQuery", "NotConfigured", "NotAllowed")
ADDRESS_LISTS = (22, 23, 31, 27, 28, 34, 40, 48)
DOMAIN_LISTS = (21, 24)
_TRUNC = " [|dhcp6]"


class _Trunc(Exception):
    """dhcp6opt_print's `goto trunc`: [|dhcp6], then the message's closing parenthesis."""


def dhcp6_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "dhcp6"
    if pay + 4 > len(data):
        nd.out.append("dhcp6")
        raise Truncated
    _message(nd.out, data, pay, length, nd.verbose)


def _message(out: list, data: bytes, cp: int, length: int, verbose: int) -> None:
    """Appended as read: the relay's addresses past the capture end the line (IndexError)."""
    ep = min(len(data), cp + length)
    if cp + 4 > len(data):
        out.append("dhcp6" + _TRUNC)
        return
    kind = data[cp]
    name = MESSAGES.get(kind, "msgtype-%u" % kind)
    if not verbose:
        out.append("dhcp6 " + name)
        return
    out.append("dhcp6 %s (" % name)
    if kind not in (RELAY_FORW, RELAY_REPLY):
        out.append("xid=%x" % (struct.unpack_from("!I", data, cp)[0] & 0xFFFFFF))
        start = cp + 4
    else:
        out.append("linkaddr=%s" % ip6(_get(data, cp + 2, 16)))
        out.append(" peeraddr=%s" % ip6(_get(data, cp + 18, 16)))
        start = cp + 34
    _options(data, start, ep, out)
    out.append(")")


def _get(data: bytes, at: int, n: int) -> bytes:
    if at + n > len(data):
        raise IndexError
    return data[at:at + n]


def _options(data: bytes, cp: int, ep: int, out: list) -> None:
    try:
        _option_list(data, cp, ep, out)
    except _Trunc:
        out.append(_TRUNC)


def _option_list(data: bytes, cp: int, ep: int, out: list) -> None:
    while cp < ep:
        if ep < cp + 4:
            raise _Trunc
        otype, olen = struct.unpack_from("!HH", data, cp)
        if ep < cp + 4 + olen:
            raise _Trunc
        out.append(" (" + OPTIONS.get(otype, "opt_%u" % otype))
        tp = cp + 4
        out.append(_option(data, otype, tp, olen))
        cp += 4 + olen


def _u16(data: bytes, at: int) -> int:
    return struct.unpack_from("!H", data, at)[0]


def _u32(data: bytes, at: int) -> int:
    return struct.unpack_from("!I", data, at)[0]


def _option(data: bytes, otype: int, tp: int, olen: int) -> str:
    """One option's text after its name, closing parenthesis included."""
    body = data[tp:tp + olen]
    if otype in (1, 2):
        if olen < 2:
            return " ?)"
        duid = _u16(data, tp)
        if duid == 1:
            if olen < 8:
                return " ?)"
            return " hwaddr/time type %u time %u %s)" % (_u16(data, tp + 2), _u32(data, tp + 4), body[8:].hex())
        if duid == 2:
            return " vid %s)" % body[2:10].hex() if olen >= 10 else " ?)"
        if duid == 3:
            return " hwaddr type %u %s)" % (_u16(data, tp + 2), body[4:].hex()) if olen >= 4 else " ?)"
        return " type %u)" % duid
    if otype == 5:
        if olen < 24:
            return " ?)"
        text = " %s pltime:%u vltime:%u" % (ip6(body[:16]), _u32(data, tp + 16), _u32(data, tp + 20))
        return text + _sub_options(data, tp + 24, tp + olen) + ")"
    if otype in (6, 43):
        if olen % 2:
            return " ?)"
        return "".join(" " + OPTIONS.get(_u16(data, tp + i), "opt_%u" % _u16(data, tp + i))
                       for i in range(0, olen, 2)) + ")"
    if otype == 7:
        return " %u)" % body[0] if olen == 1 else " ?)"
    if otype == 8:
        return " %u)" % _u16(data, tp) if olen == 2 else " ?)"
    if otype == 9:
        nested = [" ("]
        _message(nested, data[:tp + olen], tp, olen, 1)
        return "".join(nested) + ")"      # tcpdump leaves the option's own parenthesis open
    if otype == 11:
        return _auth(data, tp, olen)
    if otype in (14, 20):
        return ")"
    if otype in (18, 38):
        return " %s...)" % body[:10].hex()
    if otype == 19:
        if olen != 1:
            return " ?)"
        return {5: " for renew)", 11: " for inf-req)"}.get(body[0], " for ???(%02x))" % body[0])
    if otype in ADDRESS_LISTS:
        if olen % 16:
            return " ?)"
        return "".join(" " + ip6(body[i:i + 16]) for i in range(0, olen, 16)) + ")"
    if otype in DOMAIN_LISTS:
        out: list[str] = []
        at, end = tp, tp + olen
        while at < end:
            out.append(" ")
            try:
                at = dns.name(data[:end], at, end, out)
            except (dns.BadName, IndexError):
                return "".join(out) + _TRUNC + ")"
        return "".join(out) + ")"
    if otype == 13:
        if olen < 2:
            return " ?)"
        code = _u16(data, tp)
        return " %s)" % ("INVALID code" if code > 255 else STATUS[code] if code < len(STATUS) else "code%u" % code)
    if otype in (3, 25):
        if olen < 12:
            return " ?)"
        text = " IAID:%u T1:%u T2:%u" % struct.unpack_from("!III", data, tp)
        return text + _sub_options(data, tp + 12, tp + olen) + ")"
    if otype == 4:
        if olen < 4:
            return " ?)"
        return " IAID:%u" % _u32(data, tp) + _sub_options(data, tp + 4, tp + olen) + ")"
    if otype == 26:
        if olen < 25:
            return " ?)"
        text = " %s/%u pltime:%u vltime:%u" % (ip6(body[9:25]), body[8], _u32(data, tp), _u32(data, tp + 4))
        return text + _sub_options(data, tp + 25, tp + olen) + ")"
    if otype in (32, 46):
        return " %u)" % _u32(data, tp) if olen == 4 else " ?)"
    if otype == 37:
        return " %u %s...)" % (_u32(data, tp), body[4:14].hex()) if olen >= 4 else " ?)"
    if otype == 44:
        if olen < 17:
            return " ?)"
        kind = {1: " by-address", 2: " by-clientID"}.get(body[0], " type_%u" % body[0])
        return kind + " " + ip6(body[1:17]) + _sub_options(data, tp + 17, tp + olen) + ")"
    if otype == 45:
        return _sub_options(data, tp, tp + olen) + ")"
    if otype == 47:
        return " %s %s...)" % (ip6(body[:16]), body[16:26].hex()) if olen >= 16 else " ?)"
    if otype == 64:
        return _aftr_name(body) if olen >= 3 else " ?)"
    if otype in (41, 42, 112):
        return " %s)" % printjn(body) if olen >= 5 else " ?)"
    return ")"


def _sub_options(data: bytes, cp: int, ep: int) -> str:
    out: list[str] = []
    if cp < ep:
        _options(data, cp, ep, out)
    return "".join(out)


def _auth(data: bytes, tp: int, olen: int) -> str:
    if olen < 11:
        return " ?)"
    proto, alg, rdm = data[tp], data[tp + 1], data[tp + 2]
    out = [{2: " proto: delayed", 3: " proto: reconfigure"}.get(proto, " proto: %u" % proto),
           ", alg: HMAC-MD5" if alg == 1 else ", alg: %u" % alg,
           ", RDM: mono" if rdm == 0 else ", RDM: %u" % rdm, ", RD:"]
    out.extend(" %04x" % _u16(data, tp + 3 + 2 * i) for i in range(4))
    at = tp + 11
    info = olen - 11
    if proto == 2:
        if info:
            if info < 20:
                out.append(" ??")
            else:
                realm = info - 20
                if realm:
                    out.append(", realm: " + data[at:at + realm].hex())
                at += realm
                out.append(", key ID: %08x, HMAC-MD5:" % _u32(data, at))
                out.extend(" %08x" % _u32(data, at + 4 + 4 * i) for i in range(4))
    elif proto == 3:
        if info != 17:
            out.append(" ??")
        else:
            out.append({1: " reconfig-key", 2: " type: HMAC-MD5"}.get(data[at], " type: ??"))
            out.append(" value:" + "".join(" %08x" % _u32(data, at + 1 + 4 * i) for i in range(4)))
    else:
        out.append(" ??")
    return "".join(out) + ")"


def _aftr_name(body: bytes) -> str:
    out = [" "]
    remain = len(body)
    at = 0
    while remain and body[at]:
        n = body[at]
        at += 1
        if n < remain - 1:
            out.append(printjn(body[at:at + n]))
            at += n
            remain -= n + 1
            if body[at]:
                out.append(".")
        else:
            out.append(" ?")
            break
    return "".join(out) + ")"
