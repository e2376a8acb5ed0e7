"""BOOTP and DHCP (print-bootp.c), the first line: op, the client's MAC on a request, length."""

from __future__ import annotations

from ebcap.dissectors.names import mac

OPS = {1: "Request", 2: "Reply"}
CHADDR = 28     # the client hardware address's offset


def bootp_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "bootp"
    out = nd.out
    op = data[pay]
    out.append("BOOTP/DHCP, " + OPS.get(op, "unknown (0x%02x)" % op))
    htype, hlen = data[pay + 1], data[pay + 2]
    if htype == 1 and hlen == 6 and op == 1:
        chaddr = data[pay + CHADDR:pay + CHADDR + 6]
        if len(chaddr) < 6:
            raise IndexError
        out.append(" from " + mac(chaddr))
    out.append(", length %u" % length)
