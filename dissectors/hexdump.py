"""tcpdump's -x, -X and -A dumps (print-ascii.c), byte for byte."""

from __future__ import annotations

# ND_ASCII_ISGRAPH: 0x21..0x7e print as themselves, everything else as '.'.
_GRAPH = bytes(b if 0x21 <= b <= 0x7E else 0x2E for b in range(256))


def hex_dump(data: bytes, indent: str = "\n\t") -> str:
    """-x: 16 bytes a line as 8 big-endian 16-bit groups."""
    out = []
    for oset in range(0, len(data), 16):
        chunk = data[oset:oset + 16]
        out.append("%s0x%04x: %s" % (indent, oset, _groups(chunk)))
    return "".join(out)


def hex_ascii_dump(data: bytes, indent: str = "\n\t") -> str:
    """-X: the -x groups padded to 40 columns, two spaces, then the printable bytes."""
    out = []
    for oset in range(0, len(data), 16):
        chunk = data[oset:oset + 16]
        out.append("%s0x%04x: %-40s  %s" % (indent, oset, _groups(chunk), chunk.translate(_GRAPH).decode("ascii")))
    return "".join(out)


def ascii_dump(data: bytes) -> str:
    """-A: a newline, then the bytes; CR dropped before LF and at the end, other unprintables as '.'."""
    out = ["\n"]
    n = len(data)
    for i, b in enumerate(data):
        if b == 0x0D:
            remaining = n - i - 1
            if remaining > 1 and data[i + 1] != 0x0A:
                out.append(".")
        elif 0x21 <= b <= 0x7E or b in (0x09, 0x20, 0x0A):
            out.append(chr(b))
        else:
            out.append(".")
    return "".join(out)


def _groups(chunk: bytes) -> str:
    h = chunk.hex()
    parts = [" " + h[i:i + 4] for i in range(0, len(h) - len(h) % 4, 4)]
    if len(chunk) & 1:
        parts.append(" " + h[-2:])
    return "".join(parts)


def unknown_data(data: bytes, at: int, indent: str, length: int) -> str:
    """print_unknown_data (util-print.c): hex only, cut at the captured bytes."""
    return hex_dump(data[at:at + length], indent) if length > 0 else ""
