"""What IKEv1's and IKEv2's payload printers share (print-isakmp.c's common parts): the walk along a
chain of generic payload headers, the transforms' attribute lists, and the helpers that name values
and show long data in part. dissectors/ikev1.py and dissectors/ikev2.py hold each version's printers."""

from __future__ import annotations

import struct


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


def str_or_id(value: int, table) -> str:
    return table[value] if value < len(table) and table[value] else "#%u" % value


def payloads_walk(nd, data: bytes, np: int, ext: int, depth: int, printers: dict, *context) -> int:
    """ikev1_sub_print / ikev2_sub_print: each payload of the chain from `np` at `ext`, one level deeper in
    parentheses; printers[np](nd, data, np, ext, item_len, depth, *context) prints one and returns where
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
                cp = printer(nd, data, np, ext, item_len, depth + 1, *context)
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


def attribute_print(nd, data: bytes, p: int, ep2: int, attr_map) -> int:
    """ikev1_attr_print (IKEv2's transforms use it too): `(type=name value=name)` where attr_map,
    a tuple indexed by attribute type of (name, value names), knows them; raw hex where it does not."""
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
            out.append(_attribute_hex(nd, data, p + 2, 2))
    else:
        out.append("len=%u value=" % (total - 4))
        out.append(_attribute_hex(nd, data, p + 4, total - 4))
    out.append(")")
    return p + total


def _attribute_hex(nd, data: bytes, at: int, n: int) -> str:
    if at + n > len(data):
        nd.out.append(")")
        nd.out.append(" [|t]")
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
