"""Syslog over UDP (print-syslog.c): facility and severity from <PRI>; with -v the message, -vv its bytes."""

from __future__ import annotations

from ebcap.dissectors.hexdump import unknown_data
from ebcap.dissectors.text import printable

FACILITIES = ("kernel", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
              "authpriv", "ftp", "ntp", "security", "console", "cron", "local0", "local1", "local2",
              "local3", "local4", "local5", "local6", "local7")
SEVERITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "info", "debug")
MAX_DIGITS = 3


def syslog_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "syslog"
    out = nd.out
    if data[pay] != 0x3C:      # '<'
        out.append(" (invalid)")
        return
    at = 1
    pri = 0
    while at <= MAX_DIGITS and 0x30 <= data[pay + at] <= 0x39:
        pri = pri * 10 + data[pay + at] - 0x30
        at += 1
    if data[pay + at] != 0x3E:     # '>'
        out.append(" (invalid)")
        return
    at += 1
    facility = (pri & 0x3F8) >> 3
    severity = pri & 7
    fac = FACILITIES[facility] if facility < len(FACILITIES) else "unknown (%u)" % facility
    if not nd.verbose:
        out.append("SYSLOG %s.%s, length: %u" % (fac, SEVERITIES[severity], length))
        return
    out.append("SYSLOG, length: %u\n\tFacility %s (%u), Severity %s (%u)\n\tMsg: " % (
        length, fac, facility, SEVERITIES[severity], severity))
    if length > at:
        out.append(printable(data[pay + at:pay + length]))
        if len(data) < pay + length:
            raise IndexError
    if nd.verbose > 1:
        out.append(unknown_data(data, pay, "\n\t", length))
