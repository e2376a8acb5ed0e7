"""The IPv6 routing header (print-rt6.c): `RT6 (len=, type=, segleft=, [i]address...) `, and the
final destination TCP's and UDP's checksums sum over (print-ip6.c's ip6_finddst)."""

from __future__ import annotations

from ebcap.dissectors.names import ip6

TYPE_0, TYPE_2, TYPE_4 = 0, 2, 4        # source route (deprecated), Mobile IPv6, segment routing


def rt6_text(data: bytes, cp: int, verbose: int) -> tuple[str, bytes | None, bool]:
    """(text, final destination or None, valid); invalid ends the packet after the text."""
    hlen, rtype, segleft = data[cp + 1], data[cp + 2], data[cp + 3]
    out = ["RT6 (len=%u, type=%u" % (hlen, rtype)]
    if rtype == TYPE_0:
        out.append(" [Deprecated]")
    out.append(", segleft=%u" % segleft)
    if rtype in (TYPE_0, TYPE_2):
        reserved = int.from_bytes(_need(data, cp + 4, 4), "big")
        if reserved or verbose:
            out.append(", rsv=0x%x" % reserved)
        first = cp + 8
    elif rtype == TYPE_4:
        out.append(", last-entry=%u" % data[cp + 4])
        flags = _need(data, cp + 5, 1)[0]
        if flags or verbose:
            out.append(", flags=0x%x" % flags)
        out.append(", tag=%x" % int.from_bytes(_need(data, cp + 6, 2), "big"))
        first = cp + 8
    else:
        out.append(" (unknown type) (invalid)")
        return "".join(out), None, False
    if hlen % 2:
        out.append(" (invalid length %u) (invalid)" % hlen)
        return "".join(out), None, False
    addresses = [_need(data, first + 16 * i, 16) for i in range(hlen // 2)]
    out.extend(", [%u]%s" % (i, ip6(a)) for i, a in enumerate(addresses))
    out.append(") ")
    final = None
    if addresses:
        final = addresses[0] if rtype == TYPE_4 else addresses[-1]
    return "".join(out), final, True


def _need(data: bytes, at: int, n: int) -> bytes:
    if at + n > len(data):
        raise IndexError
    return data[at:at + n]
