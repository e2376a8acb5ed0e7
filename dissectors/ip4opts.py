"""IPv4 options as -v lists them inside `options (...)` (print-ip.c's ip_optprint): the source and
record routes with their addresses, the timestamp option's entries, the router alert's value."""

from __future__ import annotations

from ebcap.dissectors.names import ip4

EOL, NOP, RR, TS, SECURITY, LSRR, SSRR, RA = 0, 1, 7, 68, 130, 131, 137, 148
NAMES = {EOL: "EOL", NOP: "NOP", TS: "timestamp", SECURITY: "security", RR: "RR", SSRR: "SSRR",
         LSRR: "LSRR", RA: "RA", 82: "traceroute"}
TS_TSONLY, TS_TSANDADDR, TS_PRESPEC = 0, 1, 3


class OptionsTruncated(Exception):
    """An option runs past the captured bytes: tcpdump's ` [truncated-option]`."""


def options_print(out: list, data: bytes, at: int, length: int) -> None:
    """The options in data[at:at + length] (which may run past the captured bytes), appended to
    out as they are read: a byte past the capture raises IndexError there (tcpdump's longjmp)."""
    end = at + length
    sep = ""
    while at < end:
        out.append(sep)
        sep = ","
        code = data[at]             # past the capture: IndexError, the whole line's [|ip]
        out.append(NAMES.get(code, "unknown %u" % code))
        if code in (NOP, EOL):
            olen = 1
        else:
            olen = data[at + 1]
            if olen < 2:
                out.append(" [bad length %u]" % olen)
                return
        if olen > end - at:
            out.append(" [bad length %u]" % olen)
            return
        if at + olen > len(data):
            raise OptionsTruncated
        if code == EOL:
            break
        if code == TS:
            _timestamp(data, at, olen, out)
        elif code in (RR, SSRR, LSRR):
            _route(data, at, olen, out)
        elif code == RA:
            if olen < 4:
                out.append(" [bad length %u]" % olen)
            elif data[at + 2] or data[at + 3]:
                out.append(" value %u" % int.from_bytes(data[at + 2:at + 4], "big"))
        at += olen


def _route(data: bytes, at: int, length: int, out: list) -> None:
    if length < 3:
        out.append(" [bad length %u]" % length)
        return
    if (length + 1) & 3:
        out.append(" [bad length %u]" % length)
    ptr = (data[at + 2] - 1) & 0xFFFFFFFF     # u_int: a pointer of 0 is 2**32 - 1
    if ptr < 3 or (ptr + 1) & 3 or ptr > length + 1:
        out.append(" [bad ptr %u]" % data[at + 2])
    for i in range(3, length, 4):
        if at + i + 4 > len(data):    # the last address may run past the option, not the capture
            raise OptionsTruncated
        out.append(" " + ip4(data[at + i:at + i + 4]))
        if ptr > i:
            out.append(",")


def _timestamp(data: bytes, at: int, length: int, out: list) -> None:
    if length < 4:
        out.append("[bad length %u]" % length)
        return
    out.append(" TS{")
    flags = data[at + 3]
    kind = flags & 0xF
    hoplen = 4 if kind == TS_TSONLY else 8
    if (length - 4) & (hoplen - 1):
        out.append("[bad length %u]" % length)
    ptr = (data[at + 2] - 1) & 0xFFFFFFFF
    if ptr < 4 or (ptr - 4) & (hoplen - 1) or ptr > length + 1:
        out.append("[bad ptr %u]" % data[at + 2])
    end = 0                         # where the entries stop: the C loop variable after the loop
    if kind in (TS_TSONLY, TS_TSANDADDR, TS_PRESPEC):
        out.append({TS_TSONLY: "TSONLY", TS_TSANDADDR: "TS+ADDR", TS_PRESPEC: "PRESPEC"}[kind])
        for i in range(4, length, hoplen):
            if at + i + hoplen > len(data):
                raise OptionsTruncated
            stamp = int.from_bytes(data[at + i + hoplen - 4:at + i + hoplen], "big")
            out.append("%s%u@%s" % (" ^ " if ptr == i else " ", stamp,
                                    ip4(data[at + i:at + i + 4]) if hoplen == 8 else ""))
        end = 4 + (length - 4 + hoplen - 1) // hoplen * hoplen
    else:
        out.append("[bad ts type %u]" % kind)
    if ptr == end:
        out.append(" ^ ")
    if flags >> 4:
        out.append(" [%u hops not recorded]} " % (flags >> 4))
    else:
        out.append("}")
