"""PIM (print-pim.c, RFC 7761; IP protocol 103): version, message type and length, and with -v the
PIMv2 checksum, the Hello options (-vv: their address lists), Join/Prune, Graft and Graft-Ack.
(-v's Register, Bootstrap, Assert, Candidate-RP and DF Election bodies are not decoded.)"""

from __future__ import annotations

from ebcap.dissectors.cksum import in_cksum, pseudo_header
from ebcap.dissectors.extract import u16, u32
from ebcap.dissectors.hexdump import hex_dump
from ebcap.dissectors.names import ip4, ip6
from ebcap.dissectors.text import relts

TYPES = ("Hello", "Register", "Register Stop", "Join / Prune", "Bootstrap", "Assert", "Graft",
         "Graft Acknowledgement", "Candidate RP Advertisement", "Prune Refresh", "DF Election", "ECMP Redirect")
HELLO, REGISTER, JOIN_PRUNE, GRAFT, GRAFT_ACK = 0, 1, 3, 6, 7
HANDLED = frozenset(range(11))    # print-pim.c has a case for every type up to DF Election
PROTO_PIM = 103
OPT_HOLDTIME, OPT_LAN_PRUNE_DELAY, OPT_DR_PRIORITY_OLD, OPT_DR_PRIORITY = 1, 2, 18, 19
OPT_GENID, OPT_REFRESH_CAP, OPT_BIDIR_CAP, OPT_ADDRESS_LIST, OPT_ADDRESS_LIST_OLD = 20, 21, 22, 24, 65001
HELLO_OPTIONS = {OPT_HOLDTIME: "Hold Time", OPT_LAN_PRUNE_DELAY: "LAN Prune Delay",
                 OPT_DR_PRIORITY_OLD: "DR Priority (Old)", OPT_DR_PRIORITY: "DR Priority",
                 OPT_GENID: "Generation ID", OPT_REFRESH_CAP: "State Refresh Capability",
                 OPT_BIDIR_CAP: "Bi-Directional Capability", OPT_ADDRESS_LIST: "Address List",
                 OPT_ADDRESS_LIST_OLD: "Address List (Old)"}


class _Invalid(Exception):
    """nd_print_invalid after the text so far; the line ends."""


def pim_print(nd, data: bytes, off: int, length: int, ip: tuple, _fragmented) -> None:
    nd.proto = "pim"
    version, kind = data[off] >> 4, data[off] & 0x0F
    name = TYPES[kind] if kind < len(TYPES) else "Unknown Type"
    if version != 2:
        nd.out.append("PIMv%u, length %u" % (version, length))
    elif not nd.verbose:
        nd.out.append("PIMv2, %s, length %u" % (name, length))
    else:
        nd.out.append("PIMv2, length %u\n\t%s" % (length, name))
        try:
            _v2(nd, data, off, length, ip, kind)
        except _Invalid:
            nd.out.append(" (invalid)")


def _v2(nd, data: bytes, off: int, length: int, ip: tuple, kind: int) -> None:
    nd.proto = "pimv2"
    out = nd.out
    if length < 2:
        out.append("[length %u < 2]" % length)
        raise _Invalid
    if data[off + 1] & 0x0F:
        out.append(", RFC2117-encoding")
    if length < 4:
        out.append("[length %u < 4]" % length)
        raise _Invalid
    cksum = u16(data, off + 2)[0]
    out.append(", cksum 0x%04x (%s)" % (cksum, _checksum(data, off, length, ip, kind) if cksum else "unverified"))
    if kind == HELLO:
        _hello(nd, data, off + 4, length - 4, data[off + 1] & 0x0F)
    elif kind in (JOIN_PRUNE, GRAFT, GRAFT_ACK):
        _join_prune(out, data, off + 4, length - 4, kind, data[off + 1] & 0x0F)
    elif kind not in HANDLED:
        out.append(" [type %u]" % kind)


def _checksum(data: bytes, off: int, length: int, ip: tuple, kind: int) -> str:
    def check(n: int) -> str:
        if len(data) < off + n:
            return "unverified"
        if ip[0] == 4:
            return "incorrect" if in_cksum(data[off:off + n]) else "correct"
        return "incorrect" if in_cksum(pseudo_header(6, ip[1], ip[2], PROTO_PIM, n) + data[off:off + n]) else "correct"
    # A Register's checksum covers its header only, or (RFC 4601's leniency) the whole message.
    status = check(8) if kind == REGISTER else check(length)
    return check(length) if kind == REGISTER and status == "incorrect" else status


UNICAST, GROUP, SOURCE = 0, 1, 2


def _address(out: list[str], data: bytes, at: int, left: int, kind: int, addr_len: int) -> int:
    """pimv2_addr_print: an encoded unicast, group or source address; its length. IndexError where
    print-pim.c gives up (its caller's truncation marker)."""
    hdrlen = 0
    if addr_len == 0:
        if left < 2 or len(data) < at + 2 or data[at] not in (1, 2) or data[at + 1] != 0:
            raise IndexError
        addr_len, hdrlen = (4 if data[at] == 1 else 16), 2
    elif addr_len not in (4, 16):
        raise IndexError
    at, left = at + hdrlen, left - hdrlen
    text = ip4 if addr_len == 4 else ip6
    if kind == UNICAST:
        if left < addr_len or len(data) < at + addr_len:
            raise IndexError
        out.append(text(data[at:at + addr_len]))
        return hdrlen + addr_len
    if left < addr_len + 2 or len(data) < at + addr_len + 2:
        raise IndexError
    flags, mask = data[at], data[at + 1]
    out.append(text(data[at + 2:at + 2 + addr_len]))
    if mask != addr_len * 8:
        out.append("/%u" % mask)
    if flags:
        if kind == GROUP:
            out.append("(0x%02x)" % flags)
        else:
            out.append("(%s%s%s%s)" % ("S" if flags & 4 else "", "W" if flags & 2 else "", "R" if flags & 1 else "",
                                       "+0x%02x" % (flags & 0xF8) if flags & 0xF8 else ""))
    return hdrlen + 2 + addr_len


def _join_prune(out: list[str], data: bytes, at: int, left: int, kind: int, addr_len: int) -> None:
    """Join/Prune, Graft and Graft-Ack (which has no upstream neighbour or holdtime)."""
    if kind != GRAFT_ACK:
        out.append(", upstream-neighbor: ")
        used = _address(out, data, at, left, UNICAST, addr_len)
        at, left = at + used, left - used
    if left < 4 or len(data) < at + 4:
        raise IndexError
    ngroup, hold = data[at + 1], u16(data, at + 2)[0]
    out.append("\n\t  %u group(s)" % ngroup)
    if kind != GRAFT_ACK:
        out.append(", holdtime: " + ("infinite" if hold == 0xFFFF else relts(hold)))
    at, left = at + 4, left - 4
    for i in range(ngroup):
        out.append("\n\t    group #%u: " % (i + 1))
        used = _address(out, data, at, left, GROUP, addr_len)
        at, left = at + used, left - used
        if left < 4 or len(data) < at + 4:
            raise IndexError
        njoin, nprune = u16(data, at)[0], u16(data, at + 2)[0]
        out.append(", joined sources: %u, pruned sources: %u" % (njoin, nprune))
        at, left = at + 4, left - 4
        for what, count in (("joined", njoin), ("pruned", nprune)):
            for j in range(count):
                out.append("\n\t      %s source #%u: " % (what, j + 1))
                used = _address(out, data, at, left, SOURCE, addr_len)
                at, left = at + used, left - used


def _hello(nd, data: bytes, at: int, left: int, addr_len: int) -> None:
    out = nd.out
    while left > 0:
        if left < 4:
            raise IndexError
        otype, olen = u16(data, at)[0], u16(data, at + 2)[0]
        out.append("\n\t  %s Option (%u), length %u, Value: " % (HELLO_OPTIONS.get(otype, "Unknown"), otype, olen))
        at += 4
        left -= 4
        if left < olen or len(data) < at + olen:
            raise IndexError
        if otype == OPT_HOLDTIME:
            _need(out, olen, 2)
            out.append(relts(u16(data, at)[0]))
        elif otype == OPT_LAN_PRUNE_DELAY:
            _need(out, olen, 4)
            delay, override = u16(data, at)[0], u16(data, at + 2)[0]
            out.append("\n\t    T-bit=%u, LAN delay %ums, Override interval %ums" % (
                delay >> 15, delay & 0x7FFF, override))
        elif otype in (OPT_DR_PRIORITY_OLD, OPT_DR_PRIORITY):
            if olen == 0:
                out.append("Bi-Directional Capability (Old)")
            else:
                _need(out, olen, 4)
                out.append("%u" % u32(data, at)[0])
        elif otype == OPT_GENID:
            _need(out, olen, 4)
            out.append("0x%08x" % u32(data, at)[0])
        elif otype == OPT_REFRESH_CAP:
            _need(out, olen, 4)
            out.append("v%u" % data[at])
            if data[at + 1]:
                out.append(", interval " + relts(data[at + 1]))
            if u16(data, at + 2)[0]:
                out.append(" ?0x%04x?" % u16(data, at + 2)[0])
        elif otype == OPT_BIDIR_CAP:
            pass
        elif otype in (OPT_ADDRESS_LIST, OPT_ADDRESS_LIST_OLD):
            if nd.verbose > 1:
                p, plen = at, left
                while p < at + olen:
                    out.append("\n\t    ")
                    used = _address(out, data, p, plen, UNICAST, addr_len)
                    p, plen = p + used, plen - used
        elif nd.verbose <= 1:
            out.append(hex_dump(data[at:at + olen], "\n\t    "))
        if nd.verbose > 1:
            out.append(hex_dump(data[at:at + olen], "\n\t    "))
        at += olen
        left -= olen


def _need(out: list[str], olen: int, want: int) -> None:
    if olen != want:
        out.append("[option length %u != %u]" % (olen, want))
        raise _Invalid
