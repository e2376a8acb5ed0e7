"""The MPTCP option (print-mptcp.c, RFC 8684) inside TCP's `options [...]`: `mptcp LEN SUBTYPE ...`."""

from __future__ import annotations

import struct

from ebcap.dissectors.names import ip4, ip6

TH_SYN, TH_ACK = 0x02, 0x10
SUBTYPES = ("capable", "join", "dss", "add-addr", "rem-addr", "prio", "fail", "fast-close", "unknown")
ADD_ADDR_KINDS = {0x6: "v0-ip6", 0x4: "v0-ip4", 0x1: "v1-echo", 0x0: "v1"}
DSS_F, DSS_m, DSS_M, DSS_a, DSS_A = 0x10, 0x08, 0x04, 0x02, 0x01
_U64 = struct.Struct("!Q").unpack_from


def mptcp_text(opt: bytes, flags: int) -> tuple[str, bool]:
    """opt is the whole option (kind and length included): (text, valid); not valid, tcpdump
    follows the text with [bad opt]."""
    n = len(opt)
    if n < 3:
        return "", False
    subtype = min(opt[2] >> 4, 8)
    head = " %u %s" % (n, SUBTYPES[subtype])
    try:
        body = _PRINTERS[subtype](opt, n, flags)
    except _Bad as e:           # DSS prints as it reads: its text up to the failed check stays
        return head + str(e), False
    if body is None:
        return head, False
    return head + body, True


class _Bad(Exception):
    """A subtype printer's `return 0` after it printed part of its text (the exception's text)."""


def _capable(opt: bytes, n: int, flags: int) -> str | None:
    if not ((n in (12, 4) and flags & TH_SYN) or (n in (20, 22) and flags & (TH_SYN | TH_ACK) == TH_ACK)):
        return None
    version = opt[2] & 0xF
    if version > 1:
        return " Unknown Version (%u)" % version
    out = [" v%u" % version]
    if opt[3] & 0x80:
        out.append(" csum")
    if n == 12 or n >= 20:
        out.append(" {0x%x" % _U64(opt, 4)[0])
        if n >= 20:
            out.append(",0x%x" % _U64(opt, 12)[0])
        out.append("}")
    return "".join(out)


def _join(opt: bytes, n: int, flags: int) -> str | None:
    if not ((n == 12 and flags & TH_SYN) or (n == 16 and flags & (TH_SYN | TH_ACK) == TH_SYN | TH_ACK)
            or (n == 24 and flags & TH_ACK)):
        return None
    out = []
    if n != 24:
        if opt[2] & 0x01:
            out.append(" backup")
        out.append(" id %u" % opt[3])
    if n == 12:
        out.append(" token 0x%x nonce 0x%x" % struct.unpack_from("!II", opt, 4))
    elif n == 16:
        out.append(" hmac 0x%x nonce 0x%x" % struct.unpack_from("!QI", opt, 4))
    else:
        out.append(" hmac 0x" + opt[4:24].hex())
    return "".join(out)


def _dss(opt: bytes, n: int, flags: int) -> str | None:
    if n < 4 or flags & TH_SYN:
        return None
    dflags = opt[3]
    out = []
    if dflags & DSS_F:
        out.append(" fin")
    at, left = 4, n - 4

    def number(size: int) -> int:
        """The next `size` bytes of the option as a number; a shorter option is bad, with what
        was printed so far."""
        nonlocal at, left
        if left < size:
            raise _Bad("".join(out))
        value = int.from_bytes(opt[at:at + size], "big")
        at, left = at + size, left - size
        return value

    if dflags & DSS_A:
        out.append(" ack ")
        out.append("%u" % number(8 if dflags & DSS_a else 4))
    if dflags & DSS_M:
        out.append(" seq ")
        out.append("%u" % number(8 if dflags & DSS_m else 4))
        out.append(" subseq %u" % number(4))
        out.append(" len %u" % number(2))
        if left >= 2:
            out.append(" csum 0x%x" % number(2))
    if left:
        raise _Bad("".join(out))
    return "".join(out)


def _add_addr(opt: bytes, n: int, flags: int) -> str | None:
    if n not in (8, 10, 16, 18, 20, 22, 28, 30):
        return None
    out = [" %s id %u" % (ADD_ADDR_KINDS.get(opt[2] & 0xF, "[bad version/echo]"), opt[3])]
    if n in (8, 10, 16, 18):
        out.append(" " + ip4(opt[4:8]))
        if n in (10, 18):
            out.append(":%u" % int.from_bytes(opt[8:10], "big"))
        if n == 16:
            out.append(" hmac 0x%x" % _U64(opt, 8)[0])
        if n == 18:
            out.append(" hmac 0x%x" % _U64(opt, 10)[0])
    else:
        out.append(" " + ip6(opt[4:20]))
        if n in (22, 30):
            out.append(":%u" % int.from_bytes(opt[20:22], "big"))
        if n == 28:
            out.append(" hmac 0x%x" % _U64(opt, 20)[0])
        if n == 30:
            out.append(" hmac 0x%x" % _U64(opt, 22)[0])
    return "".join(out)


def _remove_addr(opt: bytes, n: int, flags: int) -> str | None:
    if n < 4:
        return None
    return " id" + "".join(" %u" % b for b in opt[3:n])


def _prio(opt: bytes, n: int, flags: int) -> str | None:
    if n not in (3, 4):
        return None
    return (" backup" if opt[2] & 0x01 else " non-backup") + (" id %u" % opt[3] if n == 4 else "")


def _fail(opt: bytes, n: int, flags: int) -> str | None:
    return None if n != 12 else " seq %u" % _U64(opt, 4)[0]


def _fast_close(opt: bytes, n: int, flags: int) -> str | None:
    return None if n != 12 else " key 0x%x" % _U64(opt, 4)[0]


_PRINTERS = (_capable, _join, _dss, _add_addr, _remove_addr, _prio, _fail, _fast_close,
             lambda opt, n, flags: "")
