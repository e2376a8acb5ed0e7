"""The TCP options print-tcp.c decodes beyond the classic ones: MD5 signature, TCP-AO, MPTCP, fast
open (kind 34 and RFC 6994's experimental kind 254). Each prints the option's value after its name
into out and returns how many value bytes it took, or raises BadOption (tcpdump's `goto bad`).
A printer is f(out, length, data, cp, hlen, flags, seg_end): the option's length, its value at
data[cp:], the header bytes left, the segment's TCP flags and where the segment ends."""

from __future__ import annotations

from ebcap.dissectors.mptcp import mptcp_text

SIGNATURE, TCPAO, MPTCP, FASTOPEN, EXPERIMENT2 = 19, 29, 30, 34, 254
TCP_SIGLEN = 16
TFO_MAGIC = 0xF989


class BadOption(Exception):
    """tcpdump's `goto bad`: the options end with [bad opt]."""


class ValueTruncated(Exception):
    """LENCHECK's ND_TCHECK_LEN: an option's value runs past the capture (a local `goto trunc`)."""


def need(n: int, hlen: int, data: bytes, cp: int) -> None:
    """tcpdump's LENCHECK: n option bytes fit in the header and were captured."""
    if n > hlen:
        raise BadOption
    if cp + n > len(data):
        raise ValueTruncated


def signature(out, length, data, cp, hlen, flags, seg_end) -> int:
    need(TCP_SIGLEN, hlen, data, cp)
    out.append(" ")
    # tcpdump (built with libcrypto) would verify the signature; without -M's secret it cannot
    out.append("snaplen too short, " if seg_end > len(data) else "shared secret not supplied with -M, ")
    out.append("can't check - " + data[cp:cp + TCP_SIGLEN].hex())
    return TCP_SIGLEN


def tcp_ao(out, length, data, cp, hlen, flags, seg_end) -> int:
    datalen = length - 2
    if datalen < 2:
        out.append(" (invalid)")
        return datalen
    need(2, hlen, data, cp)
    out.append(" keyid %u rnextkeyid %u" % (data[cp], data[cp + 1]))
    if datalen > 2:
        out.append(" mac 0x")
        for i in range(2, datalen):
            need(i + 1, hlen, data, cp)
            out.append("%02x" % data[cp + i])
    return datalen


def mptcp(out, length, data, cp, hlen, flags, seg_end) -> int:
    datalen = length - 2
    need(datalen, hlen, data, cp)
    text, valid = mptcp_text(data[cp - 2:cp + datalen], flags)
    out.append(text)
    if not valid:
        raise BadOption
    return datalen


def fastopen(out, length, data, cp, hlen, flags, seg_end) -> int:
    datalen = length - 2
    need(datalen, hlen, data, cp)
    out.append(" " + _fastopen_text(data[cp:cp + datalen]))
    return datalen


def experiment2(out, length, data, cp, hlen, flags, seg_end) -> int:
    datalen = length - 2
    need(datalen, hlen, data, cp)
    if datalen < 2:
        raise BadOption
    magic = int.from_bytes(data[cp:cp + 2], "big")
    out.append("-")
    if magic == TFO_MAGIC:
        out.append("tfo" + _fastopen_text(data[cp + 2:cp + datalen]))
    else:
        out.append("%04x" % magic)
    return datalen


def _fastopen_text(cookie: bytes) -> str:
    if not cookie:
        return " cookiereq"
    if len(cookie) % 2 or not 4 <= len(cookie) <= 16:
        return " (invalid)"
    return " cookie " + cookie.hex()


PRINTERS = {SIGNATURE: signature, TCPAO: tcp_ao, MPTCP: mptcp, FASTOPEN: fastopen, EXPERIMENT2: experiment2}
