"""What IKEv1's and IKEv2's payload printers share (print-isakmp.c's common parts): the walk along a
chain of generic payload headers, the transforms' attribute lists, and the helpers that name values
and show long data in part. dissectors/ikev1.py and dissectors/ikev2.py hold each version's printers,
dissectors/isakmp.py the one table of them both versions' chains print by."""

from __future__ import annotations

import struct
from collections import namedtuple


# print-isakmp.c's npstr: the payload types' names, IKEv1's and IKEv2's in one table, which both
# versions print by (an IKEv1 chain may name an IKEv2 payload, and the other way round)
PAYLOAD_NAMES = (("none", "sa", "p", "t", "ke", "id", "cert", "cr", "hash", "sig", "nonce", "n", "d", "vid")
                 + tuple("pay%u" % np for np in range(14, 33))
                 + ("v2sa", "v2ke", "v2IDi", "v2IDr", "v2cert", "v2cr", "v2auth", "v2nonce", "v2n", "v2d",
                    "v2vid", "v2TSi", "v2TSr", "v2e", "v2cp", "v2eap"))


def np_name(np: int) -> str:
    return PAYLOAD_NAMES[np] if np < len(PAYLOAD_NAMES) else "#%u" % np


class Stop(Exception):
    """A printer's NULL return: the chain ends (its marker, if any, is already printed)."""


# What a chain's printers are given besides their payload (of npfunc's arguments, what they read):
# `printers`, payload type -> printer, the table nested IKEv1 chains (an SA's proposals, a
# proposal's transforms) print by, and the proposal's protocol id, which names its transforms (0
# above them). tcpdump passes the phase and the DOI too; its identification printer reads the
# phase, but takes the IPsec DOI's branch in both.
Chain = namedtuple("Chain", "printers proto")


def chain_print(nd, data: bytes, np: int, ext: int, chain: Chain, printers: dict) -> None:
    """ikev1_sub_print / ikev2_sub_print from a message's first payload, at ext, by `printers`
    (an IKEv2 message's own chain has the encrypted payload's printer too)."""
    try:
        payloads_walk(nd, data, np, ext, 0, chain, printers)
    except Stop:
        pass


def trunc(nd, np: int) -> None:
    """A printer's `goto trunc`: its payload's marker, and the chain ends."""
    nd.out.append(" [|%s]" % np_name(np))
    raise Stop


def need(nd, data: bytes, end: int, np: int) -> None:
    """ND_TCHECK inside a payload printer: captured up to end, or np's marker and the chain ends."""
    if end > len(data):
        trunc(nd, np)


def raw(nd, data: bytes, at: int, n: int, np: int) -> str:
    """rawprint: n bytes in hex, or np's marker where the capture ends first."""
    if at + n > len(data) or n < 0:
        trunc(nd, np)
    return data[at:at + n].hex()


def str_or_id(value: int, table) -> str:
    return table[value] if value < len(table) and table[value] else "#%u" % value


def payloads_walk(nd, data: bytes, np: int, ext: int, depth: int, chain: Chain, printers: dict) -> int:
    """ikev1_sub_print / ikev2_sub_print: each payload of the chain from `np` at `ext`, one level deeper in
    parentheses; printers[np](nd, data, np, ext, item_len, depth, chain) prints one and returns where
    the next starts, a type without a printer prints its name. Returns where the last one ended."""
    out = nd.out
    cp = ext
    while np:
        if ext + 4 > len(data) or ext + struct.unpack_from("!H", data, ext + 2)[0] > len(data):
            out.append(" [|%s]" % np_name(np))
            raise Stop
        item_len = struct.unpack_from("!H", data, ext + 2)[0]
        out.append("\n" + "    " * (depth + 1) + "(")
        try:
            if item_len <= 4:
                raise Stop
            printer = printers.get(np)
            if printer is None:
                out.append(np_name(np))
                cp = ext + item_len
            else:
                cp = printer(nd, data, np, ext, item_len, depth + 1, chain)
        finally:
            out.append(")")
        np = data[ext]
        ext = cp
    return cp


def attributes_print(nd, data: bytes, cp: int, end: int, attr_map) -> int:
    """A transform's attributes from cp to its end (`end`); "..." where the capture stops first."""
    while cp < len(data) and cp < end:
        cp = attribute_print(nd, data, cp, end, attr_map)
    if len(data) < end:
        nd.out.append("...")
    return cp


def attribute_print(nd, data: bytes, p: int, ep2: int, attr_map, marker: str = " [|t]") -> int:
    """ikev1_attr_print (IKEv2's transforms use it too): `(type=name value=name)` where attr_map,
    a tuple indexed by attribute type of (name, value names), knows them; raw hex where it does not.
    A value cut short closes the parenthesis, and `marker` (the caller's) ends the chain."""
    out = nd.out
    tv = data[p] & 0x80
    total = 4 if tv else 4 + struct.unpack_from("!H", data, p + 2)[0]
    if ep2 < p + total:
        out.append("[|attr]")
        return ep2 + 1
    out.append("(")
    atype = struct.unpack_from("!H", data, p)[0] & 0x7FFF
    entry = attr_map[atype] if attr_map and atype < len(attr_map) else None
    out.append("type=%s " % entry[0] if entry else "type=#%u " % atype)
    if tv:
        out.append("value=")
        value = struct.unpack_from("!H", data, p + 2)[0]
        if entry and value < len(entry[1]) and entry[1][value]:
            out.append(entry[1][value])
        else:
            out.append(_attribute_hex(nd, data, p + 2, 2, marker))
    else:
        out.append("len=%u value=" % (total - 4))
        out.append(_attribute_hex(nd, data, p + 4, total - 4, marker))
    out.append(")")
    return p + total


def _attribute_hex(nd, data: bytes, at: int, n: int, marker: str) -> str:
    if at + n > len(data):
        nd.out.append(")")
        nd.out.append(marker)
        raise Stop
    return data[at:at + n].hex()


def somedata(data: bytes, cp: int) -> str:
    """ike_show_somedata: the first 10 bytes and the capture's last 20."""
    ep = len(data)
    n = min(ep - cp, 10)
    end, elen = ep - 20, 20
    if end < cp + n:
        end, elen = cp + n, ep - (cp + n)
    return " data=(%s...%s)" % (data[cp:cp + n].hex(), data[end:end + elen].hex() if elen else "")
