"""The IPv6 routing header (print-rt6.c): `RT6 (len=, type=, segleft=, [i]address...) `, and the
final destination TCP's and UDP's checksums sum over (print-ip6.c's ip6_finddst). The text is
appended as it is read, so a header cut short ends where tcpdump's does, with [|rt6]."""

from __future__ import annotations

from ebcap.dissectors.names import ip6

TYPE_0, TYPE_2, TYPE_4 = 0, 2, 4        # source route (deprecated), Mobile IPv6, segment routing


def rt6_print(out: list, data: bytes, cp: int, verbose: int) -> tuple[bytes | None, bool]:
    """(final destination or None, valid); invalid ends the packet after the text."""
    out.append("RT6")
    hlen = data[cp + 1]
    out.append(" (len=%u" % hlen)
    rtype = data[cp + 2]
    out.append(", type=%u" % rtype)
    if rtype == TYPE_0:
        out.append(" [Deprecated]")
    out.append(", segleft=%u" % data[cp + 3])
    if rtype in (TYPE_0, TYPE_2):
        reserved = int.from_bytes(_need(data, cp + 4, 4), "big")
        if reserved or verbose:
            out.append(", rsv=0x%x" % reserved)
    elif rtype == TYPE_4:
        out.append(", last-entry=%u" % data[cp + 4])
        flags = data[cp + 5]
        if flags or verbose:
            out.append(", flags=0x%x" % flags)
        out.append(", tag=%x" % int.from_bytes(_need(data, cp + 6, 2), "big"))
    else:
        out.append(" (unknown type) (invalid)")
        return None, False
    if hlen % 2:
        out.append(" (invalid length %u) (invalid)" % hlen)
        return None, False
    addresses = []
    for i in range(hlen // 2):
        addresses.append(_need(data, cp + 8 + 16 * i, 16))
        out.append(", [%u]%s" % (i, ip6(addresses[-1])))
    out.append(") ")
    if not addresses:
        return None, True
    return (addresses[0] if rtype == TYPE_4 else addresses[-1]), True


def _need(data: bytes, at: int, n: int) -> bytes:
    if at + n > len(data):
        raise IndexError
    return data[at:at + n]
