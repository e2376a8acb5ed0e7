"""BOOTP and DHCP (print-bootp.c): op, the client's MAC on a request, length; -v's fields and options.
(The CMU vendor area is not decoded.)"""

from __future__ import annotations

import struct

from ebcap.dissectors.dhcp_options import rfc1048_print
from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u32
from ebcap.dissectors.names import ip4_at, mac
from ebcap.dissectors.text import printztn

OPS = {1: "Request", 2: "Reply"}
CHADDR = 28     # the client hardware address's offset
VEND = 236      # the vendor area's
RFC1048_MAGIC, CMU_MAGIC = 0x63825363, 0x434D5500
_FIXED = struct.Struct("!BIHH").unpack_from     # hops, xid, secs, flags


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
    if nd.verbose:
        _verbose(nd, data, pay, op, htype, hlen)


def _verbose(nd, data: bytes, pay: int, op: int, htype: int, hlen: int) -> None:
    """-v: the fixed fields that are set, the server name and file, then the vendor area."""
    out = nd.out
    if len(data) < pay + 10:
        raise Truncated
    if htype != 1:
        out.append(", htype %u" % htype)
    if htype != 1 or hlen != 6:
        out.append(", hlen %u" % hlen)
    hops, xid, secs, flags = _FIXED(data, pay + 3)
    if hops:
        out.append(", hops %u" % hops)
    if xid:
        out.append(", xid 0x%x" % xid)
    if secs:
        out.append(", secs %u" % secs)
    out.append(", Flags [%s]" % ("Broadcast" if flags & 0x8000 else "none"))
    if nd.verbose > 1:
        out.append(" (0x%04x)" % flags)
    for title, at in (("Client-IP", 12), ("Your-IP", 16), ("Server-IP", 20), ("Gateway-IP", 24)):
        if data[pay + at:pay + at + 4] != b"\0\0\0\0":
            out.append("\n\t  %s %s" % (title, ip4_at(data, pay + at)))
    if htype == 1 and hlen == 6:
        out.append("\n\t  Client-Ethernet-Address " + mac(data[pay + CHADDR:pay + CHADDR + 6]))
    for title, at, size in (("sname", 44, 64), ("file", 108, 128)):
        if data[pay + at]:
            out.append('\n\t  %s "' % title)
            used = printztn(out, data, pay + at, size)
            out.append('"')
            if not used:
                raise Truncated
    if len(data) < pay + VEND + 4:
        raise Truncated
    magic = u32(data, pay + VEND)[0]
    if magic == RFC1048_MAGIC:
        rfc1048_print(nd, data, pay + VEND)
    elif magic and magic != CMU_MAGIC:
        out.append("\n\t  Vendor-#0x%x" % magic)
