"""NTP (print-ntp.c): version, mode and length; with -v the leap indicator and the time block."""

from __future__ import annotations

import struct
import time

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.names import ip4
from ebcap.dissectors.text import printable

MODES = ("unspecified", "symmetric active", "symmetric passive", "Client", "Server", "Broadcast",
         "Control Message", "Reserved")
LEAP = {0x00: "", 0x40: "+1s", 0x80: "-1s", 0xC0: "clock unsynchronized"}
TIMEMSG_MINLEN = 48
CTRLMSG_MINLEN = 12
JAN_1970 = 2208988800       # NTP era 0 seconds at the Unix epoch
_U32 = struct.Struct("!I").unpack_from
TIME_MODES = range(6)       # unspecified to broadcast carry the time block


def ntp_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "ntp"
    out = nd.out
    status = data[pay]
    mode = status & 7
    out.append("NTPv%u, %s, length %u" % ((status >> 3) & 7, MODES[mode], length))
    if not nd.verbose:
        return
    leap = status & 0xC0
    out.append("\n\tLeap indicator: %s (%u)" % (LEAP[leap], leap))
    if mode in TIME_MODES:
        _time_block(out, data, pay, length)
    elif mode == 6:
        _control(out, data, pay, length)


def _invalid(out: list[str], data: bytes, pay: int, length: int) -> None:
    out.append(" (invalid)")
    if len(data) < pay + length:
        raise Truncated


def _time_block(out: list[str], data: bytes, pay: int, length: int) -> None:
    if length < TIMEMSG_MINLEN:
        _invalid(out, data, pay, length)
        return
    stratum = data[pay + 1]
    poll, precision = struct.unpack_from("!bb", data, pay + 2)
    if stratum in (0, 1):
        kind = ("unspecified", "primary reference")[stratum]
    else:
        kind = "secondary reference" if 2 <= stratum <= 15 else "reserved"
    out.append(", Stratum %u (%s), poll %d" % (stratum, kind, poll))
    if -32 < poll < 32:
        out.append(" (%us)" % (1 << poll) if poll >= 0 else " (1/%us)" % (1 << -poll))
    out.append(", precision %d" % precision)
    if len(data) < pay + 12:
        raise Truncated
    out.append("\n\tRoot Delay: %s, Root dispersion: %s" % (_sfix(data, pay + 4), _sfix(data, pay + 8)))
    refid = data[pay + 12:pay + 16]
    if len(refid) < 4:
        raise Truncated
    out.append(", Reference-ID: ")
    if stratum == 0:
        out.append("(unspec)")
    elif stratum == 1:
        out.append(printable(refid))
    elif stratum in (62, 63):
        out.append("%s %s" % (ip4(refid), "INFO_QUERY" if stratum == 62 else "INFO_REPLY"))
        return
    else:
        out.append("0x%08x" % _U32(refid)[0])
    _timestamps(out, data, pay)
    _trailer(out, data, pay, length)


def _control(out: list[str], data: bytes, pay: int, length: int) -> None:
    """Mode 6: the control header (draft-ietf-ntp-mode-6-cmds); its data is not interpreted."""
    if length < CTRLMSG_MINLEN:
        _invalid(out, data, pay, length)
        return
    control = data[pay + 1]
    out.append(", %s, %s, %s, OpCode=%u\n" % ("Response" if control & 0x80 else "Request",
               "Error" if control & 0x40 else "OK", "More" if control & 0x20 else "Last", control & 0x1F))
    sequence, status, assoc, offset, count = struct.unpack_from("!5H", data, pay + 2)
    out.append("\tSequence=%u, Status=%s, Assoc.=%u, Offset=%u, Count=%u" % (
        sequence, "0x%x" % status if status else "0", assoc, offset, count))
    if CTRLMSG_MINLEN + count > length:
        _invalid(out, data, pay, length)
    elif count:
        if len(data) < pay + CTRLMSG_MINLEN + count:
            raise Truncated
        out.append("\n\tTO-BE-DONE: data not interpreted")


def _timestamps(out: list[str], data: bytes, pay: int) -> None:
    stamps = []
    for title, at in (("Reference Timestamp:  ", 16), ("Originator Timestamp: ", 24),
                      ("Receive Timestamp:    ", 32), ("Transmit Timestamp:   ", 40)):
        if len(data) < pay + at + 8:
            raise Truncated
        stamp = struct.unpack_from("!II", data, pay + at)
        stamps.append(stamp)
        out.append("\n\t  " + title + _time(*stamp))
    org = stamps[1]
    out.append("\n\t    Originator - Receive Timestamp:  " + _delta(org, stamps[2]))
    out.append("\n\t    Originator - Transmit Timestamp: " + _delta(org, stamps[3]))


def _trailer(out: list[str], data: bytes, pay: int, length: int) -> None:
    extra = length - TIMEMSG_MINLEN
    if extra in (4, 20, 24):
        out.append("\n\tKey id: %u" % _U32(data, pay + 48)[0])
        if extra > 4:
            digest = data[pay + 52:pay + 52 + extra - 4]
            if len(digest) < extra - 4:
                raise Truncated
            out.append("\n\tAuthentication: " + digest.hex())
    elif extra > 0:
        out.append("\n\t(%u more bytes after the header)" % extra)


def _sfix(data: bytes, at: int) -> str:
    i, f = struct.unpack_from("!HH", data, at)
    return "%d.%06d" % (i, int(f / 65536.0 * 1000000.0))


def _time(i: int, uf: int) -> str:
    text = "%u.%09u" % (i, int(uf / 4294967296.0 * 1000000000.0))
    if i:
        text += time.strftime(" (%Y-%m-%dT%H:%M:%SZ)", time.gmtime(i - JAN_1970))
    return text


def _delta(old: tuple[int, int], new: tuple[int, int]) -> str:
    """p_ntp_delta: new - old as a signed seconds.fraction; new itself when old is zero."""
    (ou, ouf), (u, uf) = old, new
    if ou == 0 and ouf == 0:
        return _time(u, uf)
    if u > ou:
        sign, i, f = "+", u - ou - (ouf > uf), (uf - ouf) & 0xFFFFFFFF
    elif u < ou:
        sign, i, f = "-", ou - u - (uf > ouf), (ouf - uf) & 0xFFFFFFFF
    elif uf > ouf:
        sign, i, f = "+", 0, uf - ouf
    else:
        sign, i, f = "-", 0, ouf - uf
    return "%s%u.%09u" % (sign, i, int(f / 4294967296.0 * 1000000000.0))
