"""DHCPv6 (print-dhcp6.c, RFC 8415; udp 546/547): the message type. (-v's options are not decoded.)"""

from __future__ import annotations

from ebcap.dissectors.errors import Truncated

MESSAGES = {1: "solicit", 2: "advertise", 3: "request", 4: "confirm", 5: "renew", 6: "rebind", 7: "reply",
            8: "release", 9: "decline", 10: "reconfigure", 11: "inf-req", 12: "relay-fwd", 13: "relay-reply",
            14: "leasequery", 15: "leasequery-reply"}


def dhcp6_print(nd, data: bytes, pay: int, _length: int) -> None:
    nd.proto = "dhcp6"
    nd.out.append("dhcp6")
    if len(data) < pay + 4:
        raise Truncated
    kind = data[pay]
    nd.out.append(" " + MESSAGES.get(kind, "msgtype-%u" % kind))
