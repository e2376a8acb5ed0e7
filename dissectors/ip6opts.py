"""IPv6 hop-by-hop and destination options (print-ip6opts.c), as -v lists them after `HBH `/`DSTOPT `.
(The jumbo payload's checks against the IPv6 payload length and the home address option's
sub-options are not decoded: the jumbo option prints as its type and length.)"""

from __future__ import annotations

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.names import ip6

PAD1, PADN, ROUTER_ALERT, HOME_ADDRESS = 0, 1, 5, 0xC9
HOMEADDR_MINLEN = 18


def options_text(data: bytes, at: int, length: int) -> str:
    """The options in data[at:at + length]; Truncated where an option runs past them."""
    out = []
    i = 0
    while i < length:
        kind = data[at + i]
        if kind == PAD1:
            out.append("(pad1)")
            i += 1
            continue
        if i + 1 >= length:
            raise Truncated
        optlen = data[at + i + 1] + 2
        if i + optlen > length:
            raise Truncated
        if kind == PADN:
            out.append("(padn)")
        elif kind == ROUTER_ALERT:
            if optlen != 4:
                out.append("(rtalert: invalid len %u)" % (optlen - 2))
                raise Truncated
            out.append("(rtalert: 0x%04x) " % int.from_bytes(data[at + i + 2:at + i + 4], "big"))
        elif kind == HOME_ADDRESS:
            if optlen < HOMEADDR_MINLEN:
                out.append("(homeaddr: invalid len %u)" % (optlen - 2))
                raise Truncated
            out.append("(homeaddr: %s)" % ip6(data[at + i + 2:at + i + 18]))
        else:
            out.append("(opt_type 0x%02x: len=%u)" % (kind, optlen - 2))
        i += optlen
    return "".join(out) + " "
