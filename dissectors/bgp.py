"""BGP (print-bgp.c; tcp 179): tcpdump's line says `: BGP`; with -v every message of the segment:
OPEN and its capabilities, UPDATE's withdrawn routes, path attributes (origin, AS path, next hop,
MED, local preference, aggregator, IPv4/IPv6 unicast MP_REACH and MP_UNREACH) and NLRI, KEEPALIVE,
NOTIFICATION's codes. (Other attributes and address families print tcpdump's text for ones without a
decoder, and may differ from its.)"""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u16, u32
from ebcap.dissectors.hexdump import hex_dump
from ebcap.dissectors.names import ip4, ip6
from ebcap.dissectors.text import printable

MARKER = b"\xff" * 16
HDR_LEN, OPEN_LEN = 19, 29
OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE_REFRESH = 1, 2, 3, 4, 5
MESSAGES = {OPEN: "Open", UPDATE: "Update", NOTIFICATION: "Notification", KEEPALIVE: "Keepalive",
            ROUTE_REFRESH: "Route Refresh"}
OPTIONS = {1: "Authentication Information", 2: "Capabilities Advertisement"}
CAPABILITIES = {1: "Multiprotocol Extensions", 2: "Route Refresh", 3: "Cooperative Route Filtering",
                4: "Multiple Routes to a Destination", 5: "Extended Next Hop Encoding", 8: "Multiple Labels",
                64: "Graceful Restart", 65: "32-Bit AS Number", 67: "Dynamic Capability", 68: "Multisession BGP",
                69: "Multiple Paths", 70: "Enhanced Route Refresh", 71: "Long-lived Graceful Restart",
                128: "Route Refresh (Cisco)"}
AF_NAMES = {0: "Reserved", 1: "IPv4", 2: "IPv6", 3: "NSAP", 4: "HDLC", 5: "BBN 1822", 6: "802", 25: "VPLS",
            196: "Layer-2 VPN"}
SAFI_NAMES = {0: "Reserved", 1: "Unicast", 2: "Multicast", 3: "Unicast+Multicast", 4: "labeled Unicast",
              64: "Tunnel", 65: "VPLS", 66: "MDT", 70: "EVPN", 128: "labeled VPN Unicast",
              129: "labeled VPN Multicast", 130: "labeled VPN Unicast+Multicast",
              132: "Route Target Routing Information", 5: "Multicast VPN"}
ADD_PATH_MODES = {1: "Receive", 2: "Send", 3: "Both"}
ATTRIBUTES = {1: "Origin", 2: "AS Path", 17: "AS4 Path", 3: "Next Hop", 4: "Multi Exit Discriminator",
              5: "Local Preference", 6: "Atomic Aggregate", 7: "Aggregator", 18: "Aggregator4", 8: "Community",
              9: "Originator ID", 10: "Cluster List", 11: "DPA", 12: "Advertisers", 13: "RCID Path / Cluster ID",
              14: "Multi-Protocol Reach NLRI", 15: "Multi-Protocol Unreach NLRI", 16: "Extended Community",
              22: "PMSI Tunnel", 23: "Tunnel Encapsulation", 24: "Traffic Engineering",
              25: "IPv6 Extended Community", 26: "Accumulated IGP Metric", 27: "PE Distinguisher Label",
              28: "Entropy Label", 32: "Large Community", 128: "Attribute Set", 255: "Reserved for development"}
ORIGINS = {0: "IGP", 1: "EGP", 2: "Incomplete"}
SEGMENT_OPEN = {2: "", 1: "{ ", 3: "( ", 4: "({ "}
SEGMENT_CLOSE = {2: "", 1: "}", 3: ")", 4: "})"}
NOTIFY_MAJOR = {1: "Message Header Error", 2: "OPEN Message Error", 3: "UPDATE Message Error",
                4: "Hold Timer Expired", 5: "Finite State Machine Error", 6: "Cease", 7: "Capability Message Error"}
# major code -> (the separator print-bgp.c puts before "subcode", its minor codes)
NOTIFY_MINOR = {
    1: (", ", {1: "Connection Not Synchronized", 2: "Bad Message Length", 3: "Bad Message Type"}),
    2: (", ", {1: "Unsupported Version Number", 2: "Bad Peer AS", 3: "Bad BGP Identifier",
               4: "Unsupported Optional Parameter", 5: "Authentication Failure", 6: "Unacceptable Hold Time",
               7: "Capability Message Error"}),
    3: (", ", {1: "Malformed Attribute List", 2: "Unrecognized Well-known Attribute",
               3: "Missing Well-known Attribute", 4: "Attribute Flags Error", 5: "Attribute Length Error",
               6: "Invalid ORIGIN Attribute", 7: "AS Routing Loop", 8: "Invalid NEXT_HOP Attribute",
               9: "Optional Attribute Error", 10: "Invalid Network Field", 11: "Malformed AS_PATH"}),
    5: (" ", {0: "Unspecified Error", 1: "In OpenSent State", 2: "In OpenConfirm State", 3: "In Established State"}),
    7: (" ", {1: "Invalid Action Value", 2: "Invalid Capability Length", 3: "Malformed Capability Value",
              4: "Unsupported Capability Code"}),
    6: (", ", {1: "Maximum Number of Prefixes Reached", 2: "Administrative Shutdown", 3: "Peer Unconfigured",
               4: "Administrative Reset", 5: "Connection Rejected", 6: "Other Configuration Change",
               7: "Connection Collision Resolution"}),
}
NOTIFICATION_LEN = 21
CEASE, CEASE_MAXPRFX, CEASE_SHUT, CEASE_RESET = 6, 1, 2, 4
AFNUM_INET, AFNUM_INET6, SAFI_UNICAST = 1, 2, 1
UNICAST_FAMILIES = frozenset(((AFNUM_INET, 1), (AFNUM_INET, 2), (AFNUM_INET, 3), (AFNUM_INET6, 1),
                              (AFNUM_INET6, 2), (AFNUM_INET6, 3)))


def bgp_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "bgp"
    out = nd.out
    out.append(": BGP")
    if not nd.verbose:
        return
    end = min(len(data), pay + length)
    p = start = pay
    while p < end:
        if data[p] != 0xFF:
            p += 1
            continue
        if end - p < 16:
            break
        if data[p:p + 16] != MARKER:
            p += 1
            continue
        if end - p < HDR_LEN:
            raise Truncated
        if start != p:
            out.append(" [|bgp]")
        hlen = u16(data, p + 16)[0]
        if hlen < HDR_LEN:
            out.append("\nmessage length %u < %u (invalid)" % (hlen, HDR_LEN))
            return
        if end - p < hlen:
            out.append("\n[|BGP %s]" % MESSAGES.get(data[p + 18], "Unknown Message Type"))
            return
        _message(nd, data[:p + hlen], p, hlen)
        p += hlen
        start = p


def _message(nd, data: bytes, at: int, length: int) -> None:
    kind = data[at + 18]
    nd.out.append("\n\t%s Message (%u), length: %u" % (MESSAGES.get(kind, "Unknown"), kind, length))
    try:
        if kind == OPEN:
            _open(nd, data, at, length)
        elif kind == UPDATE:
            _update(nd, data, at, length)
        elif kind == NOTIFICATION:
            _notification(nd.out, data, at, length)
        elif kind != KEEPALIVE and kind != ROUTE_REFRESH:
            nd.out.append("\n\t  no Message %u decoder" % kind + hex_dump(data[at:at + length], "\n\t  "))
    except (IndexError, struct.error):
        nd.out.append(" [|bgp]")


def _notification(out: list[str], data: bytes, at: int, length: int) -> None:
    if len(data) < at + NOTIFICATION_LEN:
        raise IndexError
    if length < NOTIFICATION_LEN:
        return
    major, minor = data[at + 19], data[at + 20]
    out.append(", %s (%u)" % (NOTIFY_MAJOR.get(major, "Unknown Error"), major))
    if major not in NOTIFY_MINOR:
        return
    sep, names = NOTIFY_MINOR[major]
    out.append("%ssubcode %s (%u)" % (sep, names.get(minor, "Unknown"), minor))
    if major != CEASE:
        return
    p = at + NOTIFICATION_LEN
    if minor == CEASE_MAXPRFX and length >= NOTIFICATION_LEN + 7:
        out.append(", " + _family(u16(data, p)[0], data[p + 2]) + ", Max Prefixes: %u" % u32(data, p + 3)[0])
    if minor in (CEASE_SHUT, CEASE_RESET) and length >= NOTIFICATION_LEN + 1:
        comm_len, used = data[p], 0
        if comm_len > length - (NOTIFICATION_LEN + 1):
            out.append(", invalid Shutdown Communication length")
        elif comm_len == 0:
            out.append(", empty Shutdown Communication")
            used = 1
        else:
            text = data[p + 1:p + 1 + comm_len]
            out.append(", Shutdown Communication (length: %u): \"%s\"" % (comm_len, printable(text)))
            used = comm_len + 1
        rest = length - (used + NOTIFICATION_LEN)
        if rest > 0:
            out.append(", Data: (length: %u)" % rest + hex_dump(data[p + used:p + used + rest], "\n\t\t"))


def _open(nd, data: bytes, at: int, length: int) -> None:
    out = nd.out
    if length < OPEN_LEN:
        raise IndexError
    version, my_as, hold, ident, opts_len = struct.unpack_from("!BHH4sB", data, at + HDR_LEN)
    out.append("\n\t  Version %u, my AS %u, Holdtime %us, ID %s\n\t  Optional parameters, length: %u" % (
        version, my_as, hold, ip4(ident), opts_len))
    opt, length, i = at + OPEN_LEN, length - OPEN_LEN, 0
    while i < opts_len:
        if length < 2 + i:
            raise IndexError
        kind, olen = data[opt + i], data[opt + i + 1]
        if 2 + i + olen > opts_len:
            out.append("\n\t     Option %u, length: %u, goes past the end of the options" % (kind, olen))
            break
        out.append("\n\t    Option %s (%u), length: %u" % (OPTIONS.get(kind, "Unknown"), kind, olen))
        if kind == 2:
            _capabilities(nd, data, opt + i + 2, olen)
        else:
            out.append("\n\t      no decoder for option %u" % kind)
        i += 2 + olen


def _family(afi: int, safi: int) -> str:
    return "AFI %s (%u), SAFI %s (%u)" % (AF_NAMES.get(afi, "Unknown"), afi, SAFI_NAMES.get(safi, "Unknown"), safi)


def _capabilities(nd, data: bytes, at: int, caps_len: int) -> None:
    out = nd.out
    i = 0
    while i < caps_len:
        kind, clen = data[at + i], data[at + i + 1]
        out.append("\n\t      %s (%u), length: %u" % (CAPABILITIES.get(kind, "Unknown"), kind, clen))
        v = data[at + i + 2:at + i + 2 + clen]
        if len(v) < clen:
            raise IndexError
        if kind == 1:
            if clen < 4:
                out.append(" (too short, < 4)")
                return
            out.append("\n\t\t" + _family(u16(v, 0)[0], v[3]))
        elif kind == 8:
            for k in range(0, clen - 3, 4):
                out.append("\n\t\t%s, Count: %u" % (_family(u16(v, k)[0], v[k + 2]), v[k + 3]))
        elif kind == 64:
            if clen < 2:
                out.append(" (too short, < 2)")
                return
            out.append("\n\t\tRestart Flags: [%s], Restart Time %us" % ("R" if v[0] & 0x80 else "none",
                                                                     u16(v, 0)[0] & 0xFFF))
            for k in range(2, clen - 3, 4):
                out.append("\n\t\t  %s, Forwarding state preserved: %s" % (
                    _family(u16(v, k)[0], v[k + 2]), "yes" if v[k + 3] & 0x80 else "no"))
        elif kind in (2, 71, 128):
            pass
        elif kind == 65:
            if clen < 4:
                out.append(" (too short, < 4)")
                return
            out.append("\n\t\t 4 Byte AS %u" % u32(v, 0)[0])
        elif kind == 69:
            if clen == 0:
                out.append(" (bogus)")
            k = 0
            while k < clen:
                if clen - k < 4:
                    out.append(" (invalid)")
                    break
                out.append("\n\t\t%s, Send/Receive: %s" % (
                    _family(u16(v, k)[0], v[k + 2]), ADD_PATH_MODES.get(v[k + 3], "Bogus (0x%02x)" % v[k + 3])))
                k += 4
        else:
            out.append("\n\t\tno decoder for Capability %u" % kind)
            if nd.verbose <= 1:
                out.append(hex_dump(v, "\n\t\t"))
        if nd.verbose > 1 and clen:
            out.append(hex_dump(v, "\n\t\t"))
        i += 2 + clen


def _prefix(data: bytes, at: int, itemlen: int, size: int) -> tuple[str | None, int]:
    """decode_prefix4/6: (text, bytes used); (None, -1) for a bad length; -2 when bytes run out."""
    if itemlen < 1:
        return None, -2
    plen = data[at]
    if plen > size * 8:
        return None, -1
    nbytes = (plen + 7) // 8
    if itemlen - 1 < nbytes:
        return None, -2
    raw = data[at + 1:at + 1 + nbytes]
    if len(raw) < nbytes:
        raise IndexError
    addr = bytearray(raw) + bytearray(size - nbytes)
    if plen % 8:
        addr[nbytes - 1] &= (0xFF00 >> (plen % 8)) & 0xFF
    return "%s/%u" % ((ip4 if size == 4 else ip6)(bytes(addr)), plen), 1 + nbytes


def _add_path(data: bytes, at: int, length: int, max_plen: int) -> bool:
    """check_add_path: do these NLRI carry path ids?"""
    if length < 5:
        return False
    offset = 0
    while offset < length:
        offset += 4
        if at + offset >= len(data):
            break
        plen = data[at + offset]
        if plen > max_plen:
            return False
        offset += 1 + (plen + 7) // 8
    if offset > length:
        return False
    offset = 0
    while offset < length:
        if at + offset >= len(data):
            break
        plen = data[at + offset]
        if plen < 1 or plen > max_plen:
            return True
        offset += 1 + (plen + 7) // 8
    return offset > length


def _routes(out: list[str], data: bytes, at: int, length: int, indent: str) -> None:
    """IPv4 prefixes (withdrawn routes or NLRI) of an UPDATE, with path ids where they seem to be."""
    add_path = _add_path(data, at, length, 32)
    while length:
        path_id = 0
        if add_path:
            if length < 4:
                return
            path_id = u32(data, at)[0]
            at, length = at + 4, length - 4
        text, used = _prefix(data, at, length, 4)
        if used == -1:
            out.append("\n\t    (illegal prefix length)")
            return
        if used == -2:
            raise IndexError
        out.append("%s%s" % (indent, text) + ("   Path Id: %u" % path_id if add_path else ""))
        at, length = at + used, length - used


def _update(nd, data: bytes, at: int, length: int) -> None:
    out = nd.out
    p, length = at + HDR_LEN, length - HDR_LEN
    if length < 2:
        raise IndexError
    withdrawn = u16(data, p)[0]
    p, length = p + 2, length - 2
    if length < withdrawn:
        raise IndexError
    if withdrawn > 1:
        out.append("\n\t  Withdrawn routes:")
        _routes(out, data, p, withdrawn, "\n\t    ")
    p, length = p + withdrawn, length - withdrawn
    if length < 2:
        raise IndexError
    attrs_len = u16(data, p)[0]
    p, length = p + 2, length - 2
    if withdrawn == 0 and attrs_len == 0 and length == 0:
        out.append("\n\t  End-of-Rib Marker (empty NLRI)")
        return
    if attrs_len:
        if length < attrs_len:
            raise IndexError
        left = attrs_len
        while left:
            if left < 2:
                out.append("\n\t  [path attrs too short]")
                p, length = p + left, length - left
                break
            flags, kind = data[p], data[p + 1]
            p, left, length = p + 2, left - 2, length - 2
            lenlen = 2 if flags & 0x10 else 1
            if left < lenlen:
                out.append("\n\t  [path attrs too short]")
                p, length = p + left, length - left
                break
            alen = u16(data, p)[0] if lenlen == 2 else data[p]
            p, left, length = p + lenlen, left - lenlen, length - lenlen
            out.append("\n\t  %s (%u), length: %u" % (ATTRIBUTES.get(kind, "Unknown Attribute"), kind, alen))
            if flags:
                out.append(", Flags [%s%s%s%s%s]: " % ("O" if flags & 0x80 else "", "T" if flags & 0x40 else "",
                                                       "P" if flags & 0x20 else "", "E" if flags & 0x10 else "",
                                                       "+%x" % (flags & 0xF) if flags & 0xF else ""))
            if left < alen:
                out.append(" [path attrs too short]")
                p, length = p + left, length - left
                break
            if len(data) < p + alen:
                raise IndexError
            _attribute(nd, data, kind, p, alen)
            p, left, length = p + alen, left - alen, length - alen
    if length:
        out.append("\n\t  Updated routes:")
        _routes(out, data, p, length, "\n\t    ")


def _as_size(data: bytes, at: int, alen: int, kind: int) -> int:
    """bgp_attr_get_as_size: 2 if the path parses with 2-byte AS numbers, else 4."""
    if kind == 17:
        return 4
    p, end = at, at + alen
    while p < end:
        if not 1 <= data[p] <= 4 or p + 1 >= len(data):
            return 4
        p += 2 + data[p + 1] * 2
    return 2 if p == end else 4


def _attribute(nd, data: bytes, kind: int, at: int, alen: int) -> None:
    out = nd.out
    v = data[at:at + alen]
    if kind == 1:
        out.append("invalid len" if alen != 1 else ORIGINS.get(v[0], "Unknown Origin Typecode"))
    elif kind in (2, 17):
        if alen % 2:
            out.append("invalid len")
        elif not alen:
            out.append("empty")
        else:
            size = _as_size(data, at, alen, kind)
            p = 0
            while p < alen:
                seg, count = v[p], v[p + 1]
                out.append(SEGMENT_OPEN.get(seg, "?"))
                for i in range(count):
                    asn = v[p + 2 + i * size:p + 2 + (i + 1) * size]
                    if len(asn) < size:
                        raise IndexError
                    out.append("%u " % int.from_bytes(asn, "big"))
                out.append(SEGMENT_CLOSE.get(seg, "?"))
                p += 2 + count * size
    elif kind == 3:
        out.append("invalid len" if alen != 4 else ip4(v))
    elif kind in (4, 5):
        out.append("invalid len" if alen != 4 else "%u" % u32(v, 0)[0])
    elif kind == 6:
        if alen:
            out.append("invalid len")
    elif kind == 7:
        if alen not in (6, 8):
            out.append("invalid len")
        elif alen == 6:
            out.append(" AS #%u, origin %s" % (u16(v, 0)[0], ip4(v[2:6])))
        else:
            out.append(" AS #%u, origin %s" % (u32(v, 0)[0], ip4(v[4:8])))
    elif kind in (14, 15):
        if not _mp(nd, data, kind, at, alen):
            return
    else:
        out.append("\n\t    no Attribute %u decoder" % kind)
        if nd.verbose <= 1:
            out.append(hex_dump(v, "\n\t    "))
    if nd.verbose > 1 and alen:
        out.append(hex_dump(v, "\n\t    "))


def _mp(nd, data: bytes, kind: int, at: int, alen: int) -> bool:
    """MP_REACH_NLRI and MP_UNREACH_NLRI for IPv4 and IPv6 unicast; False where tcpdump returns
    before the -vv dump."""
    out = nd.out
    if alen < 3:
        raise IndexError
    afi, safi = u16(data, at)[0], data[at + 2]
    out.append("\n\t    AFI: %s (%u), %sSAFI: %s (%u)" % (AF_NAMES.get(afi, "Unknown AFI"), afi,
                                                       "vendor specific " if safi > 128 else "",
                                                       SAFI_NAMES.get(safi, "Unknown SAFI"), safi))
    if (afi, safi) not in UNICAST_FAMILIES:
        out.append("\n\t    no AFI %u / SAFI %u decoder" % (afi, safi))
        if nd.verbose <= 1:
            out.append(hex_dump(data[at:at + alen], "\n\t    "))
        return True
    size = 4 if afi == AFNUM_INET else 16
    end = at + alen
    p = at + 3
    if kind == 14:
        nhlen = data[p]
        p += 1
        if nhlen:
            if end - p < nhlen:
                raise IndexError
            hops, left = [], nhlen
            while left:
                if left < size:
                    hops.append("invalid len")
                    p += left
                    left = 0
                else:
                    hops.append((ip4 if size == 4 else ip6)(data[p:p + size]))
                    p += size
                    left -= size
            out.append("\n\t    nexthop: " + ", ".join(hops))
        out.append(", nh-length: %u" % nhlen)
        if end - p < 1:
            raise IndexError
        snpa = data[p]
        p += 1
        if snpa:
            out.append("\n\t    %u SNPA" % snpa)
            for _ in range(snpa):
                snpa_len = data[p]
                out.append("\n\t      %u bytes" % snpa_len)
                p += 1 + snpa_len
        else:
            out.append(", no SNPA")
    elif alen == 3:
        out.append("\n\t      End-of-Rib Marker (empty NLRI)")
    add_path = _add_path(data, p, end - p, size * 8)
    while p < end:
        path_id = 0
        if add_path:
            path_id = u32(data, p)[0]
            p += 4
        text, used = _prefix(data, p, alen, size)     # print-bgp.c passes the attribute's length
        if used == -1:
            out.append("\n\t    (illegal prefix length)")
            break
        if used == -2:
            raise IndexError
        out.append("\n\t      %s" % text + ("   Path Id: %u" % path_id if add_path else ""))
        p += used
    return True
