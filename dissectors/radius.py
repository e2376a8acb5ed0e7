"""RADIUS (print-radius.c, RFC 2865/2866/5176; udp 1812/1813, 1645/1646, 1700, 3799): the code, id and
length. (-v's authenticator and attributes are not decoded.)"""

from __future__ import annotations

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u16

CODES = {1: "Access-Request", 2: "Access-Accept", 3: "Access-Reject", 4: "Accounting-Request",
         5: "Accounting-Response", 11: "Access-Challenge", 12: "Status-Server", 13: "Status-Client",
         40: "Disconnect-Request", 41: "Disconnect-ACK", 42: "Disconnect-NAK", 43: "CoA-Request", 44: "CoA-ACK",
         45: "CoA-NAK", 255: "Reserved"}
PORTS = (1645, 1812, 1646, 1813, 1700, 3799)
MIN_LEN = 20


def radius_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "radius"
    if len(data) < pay + MIN_LEN:
        raise Truncated
    rlen = u16(data, pay + 2)[0]
    if rlen < MIN_LEN:
        raise Truncated
    code = data[pay]
    nd.out.append("RADIUS, %s (%u), id: 0x%02x length: %u" % (
        CODES.get(code, "Unknown Command"), code, data[pay + 1], min(rlen, length)))
