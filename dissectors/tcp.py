"""TCP (print-tcp.c): ports, flags, relative sequence numbers, options, then the port table."""

from __future__ import annotations

import struct

from ebcap.dissectors.cksum import in_cksum, pseudo_header, shouldbe
from ebcap.dissectors.errors import StopPacket, Truncated, trunc
from ebcap.dissectors.extract import u16, u32, u32_pair
from ebcap.dissectors.ipdemux import ports
from ebcap.dissectors.text import printable
from ebcap.dissectors.tcpopts import MPTCP as _MPTCP
from ebcap.dissectors.tcpopts import PRINTERS as _OPTION_PRINTERS
from ebcap.dissectors.tcpopts import BadOption as _BadOption
from ebcap.dissectors.tcpopts import ValueTruncated as _ValueTruncated
from ebcap.dissectors.tcpopts import need as _need

_TCP = struct.Struct("!HHIIBBHHH").unpack_from

TH_FIN, TH_SYN, TH_RST, TH_ACK, TH_URG = 0x01, 0x02, 0x04, 0x10, 0x20
_FLAG_LETTERS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "."), (0x20, "U"),
                 (0x40, "E"), (0x80, "W"))
_FLAG_TEXT = ["".join(ch for bit, ch in _FLAG_LETTERS if f & bit) or "none" for f in range(256)]
_OPTION_NAMES = {0: "eol", 1: "nop", 2: "mss", 3: "wscale", 4: "sackOK", 5: "sack", 6: "echo",
                 7: "echoreply", 8: "TS", 11: "cc", 12: "ccnew", 13: "", 19: "md5", 20: "scps",
                 28: "uto", 29: "tcp-ao", 30: "mptcp", 34: "tfo", 254: "exp"}
_U32_OPTIONS = (6, 7, 11, 12, 13)       # echo, echoreply, cc, ccnew, ccecho: one 32-bit value
_NO_VALUE = (0, 1, 4)                   # eol, nop, sackOK
MAX_RST_DATA_LEN = 30


def tcp_print(nd, data: bytes, off: int, length: int, ip: tuple, fragmented) -> None:
    out = nd.out
    nd.proto = "tcp"
    sport, dport, addrs = ports(nd, data, off, ip, "tcp", 6, "%s > %s:")
    out.append(addrs)
    if len(data) - off < 20:
        raise Truncated
    _sp, _dp, seq, ack, offx, flags, win, tsum, urp = _TCP(data, off)
    hlen = (offx >> 4) * 4
    if hlen < 20:
        out.append(" tcp %u [bad hdr length %u - too short, < 20]" % ((length - hlen) & 0xFFFFFFFF, hlen))
        return
    if nd.quiet:
        out.append("tcp %u" % ((length - hlen) & 0xFFFFFFFF))     # u_int arithmetic, as tcpdump's
        if hlen > length:
            out.append(" [bad hdr length %u - too long, > %u]" % (hlen, length))
        return
    out.append("Flags [%s]" % _FLAG_TEXT[flags])
    sack_base = 0
    if not nd.absolute_seq and flags & TH_ACK:
        seq, ack, sack_base = _relative_seq(nd, ip, sport, dport, seq, ack, flags)
    if hlen > length:
        out.append(" [bad hdr length %u - too long, > %u]" % (hlen, length))
        return
    if nd.verbose and not nd.no_checksum and not fragmented and len(data) - off >= length:
        _checksum(nd, data, off, length, ip, tsum)
    length -= hlen
    if nd.verbose > 1 or length > 0 or flags & (TH_FIN | TH_SYN | TH_RST):
        out.append(", seq %u" % seq)
        if length > 0:
            out.append(":%u" % ((seq + length) & 0xFFFFFFFF))
    if flags & TH_ACK:
        out.append(", ack %u" % ack)
    out.append(", win %u" % win)
    if flags & TH_URG:
        out.append(", urg %u" % urp)
    if hlen > 20:
        _options(nd, data, off + 20, hlen - 20, sack_base, flags, off + hlen + length)
    out.append(", length %u" % length)
    if length == 0:
        return
    if len(data) < off + hlen:
        out.append(" [remaining caplen(%u) < header length(%u)]" % (len(data) - off, hlen))
        raise IndexError
    pay = off + hlen
    if flags & TH_RST and nd.verbose:
        _rst_data(nd, data, pay, length)
        return
    table = nd.tcp_ports
    if sport in table or dport in table:
        table.lookup(sport, dport)(nd, data, pay, length)
    for trailer in nd.tcp_trailers:
        trailer(nd, data, pay, length, sport, dport)


def _checksum(nd, data: bytes, off: int, length: int, ip: tuple, tsum: int) -> None:
    """-v, with the whole segment captured and not a fragment: the checksum over the pseudo-header."""
    s = in_cksum(pseudo_header(ip[0], ip[1], ip[2], 6, length) + data[off:off + length])
    if s != 0:
        nd.out.append(", cksum 0x%04x (incorrect -> 0x%04x)" % (tsum, shouldbe(tsum, s)))
    else:
        nd.out.append(", cksum 0x%04x (correct)" % tsum)


def _relative_seq(nd, ip: tuple, sport: int, dport: int, seq: int, ack: int,
                  flags: int) -> tuple[int, int, int]:
    """tcpdump's tcp_seq_hash: (seq, ack) relative to the connection's first ones, and the base its
    SACK blocks are relative to. A connection is keyed one way round, the lower port first."""
    src, dst = ip[1], ip[2]
    rev = sport > dport or (sport == dport and src > dst)
    key = (dst, src, dport, sport) if rev else (src, dst, sport, dport)
    state = nd.tcp_seq.get(key)
    if state is None or flags & TH_SYN:
        state = [(ack - 1) & 0xFFFFFFFF, seq] if rev else [seq, (ack - 1) & 0xFFFFFFFF]
        nd.tcp_seq[key] = state
    else:
        ours, theirs = (state[1], state[0]) if rev else (state[0], state[1])
        seq = (seq - ours) & 0xFFFFFFFF
        ack = (ack - theirs) & 0xFFFFFFFF
    return seq, ack, state[0] if rev else state[1]


def _rst_data(nd, data: bytes, pay: int, length: int) -> None:
    """-v: the text a RST carries (RFC 1122 4.2.2.12; print_tcp_rst_data): at most 30 bytes, each
    as fn_print_char shows it, `!RST` when not all of it was captured."""
    out = nd.out
    out.append(" [RST" if pay + length <= len(data) else " [!RST")
    if length > MAX_RST_DATA_LEN:
        length = MAX_RST_DATA_LEN
        out.append("+")
    out.append(" " + printable(data[pay:pay + length]) + "]")


def _options(nd, data: bytes, cp: int, hlen: int, sack_base: int, flags: int, seg_end: int) -> None:
    out = nd.out
    out.append(", options [")
    sep = ""
    try:
        while hlen > 0:
            out.append(sep)
            opt = data[cp]
            cp += 1
            if opt in (0, 1):
                length = 1
            else:
                length = data[cp]
                cp += 1
                if length < 2 or length > hlen:
                    raise _BadOption
                hlen -= 1
            hlen -= 1
            out.append(_OPTION_NAMES.get(opt, "unknown-%u" % opt))
            if opt in _NO_VALUE:
                datalen = 0
            elif opt in _OPTION_PRINTERS:
                datalen = _OPTION_PRINTERS[opt](out, length, data, cp, hlen, flags, seg_end)
                if opt == _MPTCP:
                    nd.proto = "mptcp"      # as mptcp_print sets it: later truncation says [|mptcp]
            else:
                datalen = _option_value(out, opt, length, data, cp, hlen, sack_base)
            cp += datalen
            hlen -= datalen
            datalen += 1 if opt in (0, 1) else 2
            if datalen != length:
                out.append("[len %u]" % length)
            sep = ","
            if opt == 0:
                break
    except _BadOption:
        out.append("[bad opt]")
        if sep:
            out.append("]")
        raise StopPacket from None
    except _ValueTruncated:
        out.append(trunc(nd.proto) + (">" if sep else ""))
        raise StopPacket from None
    out.append("]")


def _option_value(out: list[str], opt: int, length: int, data: bytes, cp: int, hlen: int,
                  sack_base: int) -> int:
    """Prints one option's value; returns how many value bytes the option's kind takes."""
    if opt == 2:
        _need(2, hlen, data, cp)
        out.append(" %u" % u16(data, cp)[0])
        return 2
    if opt == 3:
        _need(1, hlen, data, cp)
        out.append(" %u" % data[cp])
        return 1
    if opt == 5:
        datalen = length - 2
        if datalen % 8:
            out.append(" invalid sack")
            return datalen
        out.append(" %u " % (datalen // 8))
        for i in range(0, datalen, 8):
            _need(i + 8, hlen, data, cp)
            s, e = u32_pair(data, cp + i)
            out.append("{%u:%u}" % ((s - sack_base) & 0xFFFFFFFF, (e - sack_base) & 0xFFFFFFFF))
        return datalen
    if opt in _U32_OPTIONS:
        _need(4, hlen, data, cp)
        out.append(" %u" % u32(data, cp)[0])
        return 4
    if opt == 8:
        _need(8, hlen, data, cp)
        out.append(" val %u ecr %u" % u32_pair(data, cp))
        return 8
    if opt == 28:
        _need(2, hlen, data, cp)
        uto = u16(data, cp)[0]
        out.append(" 0x%x %u" % (uto, (uto >> 1) * 60 if uto & 1 else uto >> 1))
        return 2
    if opt == 20:
        _need(2, hlen, data, cp)
        out.append(" cap %02x id %u" % (data[cp], data[cp + 1]))
        return 2
    datalen = length - 2
    if datalen:
        out.append(" 0x")
    for i in range(datalen):
        _need(i + 1, hlen, data, cp)
        out.append("%02x" % data[cp + i])
    return datalen
