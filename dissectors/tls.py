"""TLS ClientHello server name and ALPN: ebcap's own addition (tcpdump prints nothing for TLS).

Printed after tcpdump's text as `TLS ClientHello sni NAME alpn [p1,p2]`, only when those bytes were
captured; a headers-only capture simply shows nothing extra.
"""

from __future__ import annotations

import struct


def looks_like_handshake(data: bytes, off: int) -> bool:
    """A TLS handshake record holding a ClientHello starts at off."""
    return data[off:off + 1] == b"\x16" and data[off + 1:off + 2] == b"\x03" and data[off + 5:off + 6] == b"\x01"


def client_hello_summary(payload: bytes) -> str:
    """`TLS ClientHello sni example.com alpn [h2,http/1.1]`, or '' when not a (captured) ClientHello."""
    try:
        return _summary(payload)
    except (IndexError, struct.error, UnicodeDecodeError):
        return ""


def _summary(p: bytes) -> str:
    if len(p) < 9 or p[0] != 0x16 or p[1] != 0x03 or p[5] != 0x01:
        return ""
    off = 9 + 2 + 32            # record + handshake headers, version, random
    off += 1 + p[off]           # session id
    off += 2 + struct.unpack_from("!H", p, off)[0]      # cipher suites
    off += 1 + p[off]           # compression methods
    if off + 2 > len(p):
        return "TLS ClientHello"
    ext_end = off + 2 + struct.unpack_from("!H", p, off)[0]
    off += 2
    sni = ""
    alpn: list[str] = []
    while off + 4 <= min(ext_end, len(p)):
        etype, elen = struct.unpack_from("!HH", p, off)
        body = p[off + 4:off + 4 + elen]
        if len(body) < elen:
            break
        if etype == 0 and elen >= 5 and body[2] == 0:
            n = struct.unpack_from("!H", body, 3)[0]
            sni = body[5:5 + n].decode("ascii", "replace")
        elif etype == 16 and elen >= 2:
            i = 2
            while i < elen:
                n = body[i]
                alpn.append(body[i + 1:i + 1 + n].decode("ascii", "replace"))
                i += 1 + n
        off += 4 + elen
    text = "TLS ClientHello"
    if sni:
        text += " sni " + sni
    if alpn:
        text += " alpn [" + ",".join(alpn) + "]"
    return text


def client_hello_print(nd, data: bytes, pay: int, length: int, sport: int, dport: int) -> None:
    """A TCP trailer: after whatever the port's printer wrote, the ClientHello's summary if any."""
    if sport == 443 or dport == 443 or looks_like_handshake(data, pay):
        summary = client_hello_summary(data[pay:pay + length])
        if summary:
            nd.out.append(" " + summary)
