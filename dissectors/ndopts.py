"""IPv6 neighbor discovery options, as -v lists them after RS, RA, NS, NA, redirect and the mobile
prefix advertisement (print-icmp6.c's icmp6_opt_print)."""

from __future__ import annotations

import struct

from ebcap.dissectors import dns
from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.hexdump import unknown_data
from ebcap.dissectors.names import ip6

SOURCE_LINKADDR, TARGET_LINKADDR, PREFIX_INFO, REDIRECTED_HEADER, MTU = 1, 2, 3, 4, 5
ADVINTERVAL, HOMEAGENT_INFO, ROUTE_INFO, RDNSS, DNSSL = 7, 8, 24, 25, 31
NAMES = {SOURCE_LINKADDR: "source link-address", TARGET_LINKADDR: "destination link-address",
         PREFIX_INFO: "prefix info", REDIRECTED_HEADER: "redirected header", MTU: "mtu", RDNSS: "rdnss",
         DNSSL: "dnssl", ADVINTERVAL: "advertisement interval", HOMEAGENT_INFO: "homeagent information",
         ROUTE_INFO: "route info"}
PREFIX_FLAGS = ((0x80, "onlink"), (0x40, "auto"), (0x20, "router"))
_PREFIX = struct.Struct("!BBII").unpack_from     # prefix length, flags, valid, preferred


class OptionsTruncated(Exception):
    """icmp6_opt_print returned -1: the caller ends the line with [|icmp6]."""


def lifetime(v: int) -> str:
    return "infinity" if v == 0xFFFFFFFF else "%us" % v


def rtpref(flags: int) -> str:
    return ("medium", "high", "rsv", "low")[(flags >> 3) & 3]


def flag_names(value: int, bits: tuple) -> str:
    return ", ".join(name for bit, name in bits if value & bit) or "none"


def options_text(data: bytes, cp: int, resid: int, verbose: int) -> str:
    """The options from data[cp:] over resid bytes; OptionsTruncated carries the text so far."""
    out: list[str] = []
    ep = len(data)
    start = cp
    while cp < ep:
        if cp + 1 >= ep:
            raise OptionsTruncated("".join(out))
        if resid <= 0:
            break
        otype, olen = data[cp], data[cp + 1]
        size = olen << 3
        if olen == 0 or cp + size > ep:
            raise OptionsTruncated("".join(out))
        out.append("\n\t  %s option (%u), length %u (%u): " % (NAMES.get(otype, "unknown"), otype, size, olen))
        body = cp + 2
        if otype in (SOURCE_LINKADDR, TARGET_LINKADDR):
            out.append(data[body:cp + size].hex(":"))
        elif otype == PREFIX_INFO:
            plen, flags, valid, preferred = _PREFIX(data, body)
            out.append("%s/%u%s, Flags [%s], valid time %s, pref. time %s" % (
                ip6(_need(data, cp + 16, 16)), plen, "badlen" if olen != 4 else "",
                flag_names(flags, PREFIX_FLAGS), lifetime(valid), lifetime(preferred)))
        elif otype == REDIRECTED_HEADER:
            # tcpdump dumps from the first option (its `bp`), not from this one
            out.append(unknown_data(data, start, "\n\t    ", size))
        elif otype == MTU:
            out.append(" %u%s" % (_u32(data, cp + 4), "bad option length" if olen != 1 else ""))
        elif otype == RDNSS:
            out.append(" lifetime %us," % _u32(data, cp + 4))
            for i in range((olen - 1) // 2):
                out.append(" addr: %s" % ip6(_need(data, cp + 8 + 16 * i, 16)))
        elif otype == DNSSL:
            out.append(" lifetime %us, domain(s):" % _u32(data, cp + 4))
            dom = cp + 8
            while dom < cp + size and data[dom] != 0:
                out.append(" ")
                dom = _fqdn(data, dom, out)
        elif otype == ADVINTERVAL:
            out.append(" %ums" % _u32(data, cp + 4))
        elif otype == HOMEAGENT_INFO:
            out.append(" preference %u, lifetime %u" % struct.unpack_from("!HH", data, cp + 4))
        elif otype == ROUTE_INFO:
            _need(data, cp + 4, 4)
            if olen > 3:
                raise OptionsTruncated("".join(out))
            prefix = data[cp + 8:cp + 8 + (olen - 1) * 8].ljust(16, b"\0")
            out.append(" %s/%u, pref=%s, lifetime=%s" % (ip6(prefix), data[cp + 2], rtpref(data[cp + 3]),
                                                        lifetime(_u32(data, cp + 4))))
        elif verbose <= 1:
            out.append(unknown_data(data, body, "\n\t  ", size - 2))
            return "".join(out)
        if verbose > 1:
            out.append(unknown_data(data, body, "\n\t    ", size - 2))
        cp += size
        resid -= size
    return "".join(out)


def _u32(data: bytes, at: int) -> int:
    return struct.unpack_from("!I", data, at)[0]


def _need(data: bytes, at: int, n: int) -> bytes:
    if at + n > len(data):
        raise IndexError
    return data[at:at + n]


def _fqdn(data: bytes, at: int, out: list[str]) -> int:
    """fqdn_print: the name with its final dot; returns where it ends."""
    name: list[str] = []
    try:
        end = dns.name(data, at, len(data), name)
    except (dns.BadName, IndexError) as e:
        raise OptionsTruncated("".join(out)) from e
    out.append("".join(name))
    return end
