"""Bytes as tcpdump prints them in text (util-print.c): fn_print_char, nd_printn, nd_printztn."""

from __future__ import annotations

from ebcap.dissectors.errors import Truncated


def char_text(c: int) -> str:
    """fn_print_char: M- for 8-bit bytes, ^X for control characters."""
    s = ""
    if c >= 0x80:
        c &= 0x7F
        s = "M-"
    if not 0x20 <= c <= 0x7E:
        c ^= 0x40
        s += "^"
    return s + chr(c)


def printable(raw: bytes) -> str:
    """nd_printn over raw: every byte through fn_print_char."""
    if all(0x20 <= c <= 0x7E for c in raw):
        return raw.decode("ascii")
    return "".join(char_text(c) for c in raw)


def printztn(out: list[str], data: bytes, at: int, n: int) -> int:
    """nd_printztn: the NUL-terminated string at data[at:] of at most n bytes, appended to out.
    Returns the bytes used with the NUL, or 0 when no NUL came within n bytes or the capture."""
    end = data.find(b"\0", at, at + n)
    if end < 0:
        out.append(printable(data[at:at + n]))
        return 0
    out.append(printable(data[at:end]))
    return end + 1 - at


def need(data: bytes, end: int) -> None:
    """Raise Truncated unless data was captured up to end (tcpdump's ND_TCHECK)."""
    if len(data) < end:
        raise Truncated


def bits_text(names: tuple[tuple[int, str], ...], value: int, none: str, sep: str = ", ") -> str:
    """bittok2str: the names of the bits set in value, joined by sep; `none` (may hold %u/%x) when
    no bit has a name."""
    text = sep.join(name for bit, name in names if value & bit == bit)
    if text:
        return text
    return none % value if "%" in none else none


def relts(secs: int) -> str:
    """tcpdump's unsigned_relts_print: 300 -> 5m."""
    if secs == 0:
        return "0s"
    out = []
    for unit, size in (("y", 31536000), ("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if secs >= size:
            out.append("%u%s" % (secs // size, unit))
            secs %= size
    return "".join(out)


def printjn(raw: bytes) -> str:
    """nd_printjnp: the bytes up to the first NUL, through fn_print_char."""
    return printable(raw.split(b"\0", 1)[0])
