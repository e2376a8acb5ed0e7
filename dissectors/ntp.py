"""NTP (print-ntp.c), the first line only: version, mode and length (-v's time block is not decoded)."""

from __future__ import annotations

MODES = ("unspecified", "symmetric active", "symmetric passive", "Client", "Server", "Broadcast",
         "Control Message", "Reserved")


def ntp_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "ntp"
    status = data[pay]
    nd.out.append("NTPv%u, %s, length %u" % ((status >> 3) & 7, MODES[status & 7], length))
