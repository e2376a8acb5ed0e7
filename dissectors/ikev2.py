"""IKEv2's payloads, as -v lists them after the exchange (print-isakmp.c's ikev2_sub_print): SA,
proposals and transforms, key exchange, authentication, nonce, vendor id, the encrypted payload's
length, and the others' lengths. (Identification and notify payloads print their name only.)"""

from __future__ import annotations

import struct

from ebcap.dissectors.ike import Stop, attributes_print, np_name, payloads_walk, somedata, str_or_id
from ebcap.dissectors.ikev1 import GROUPS, PROTOIDS

SA, KE, IDI, IDR, CERT, CR, AUTH, NONCE, N, D, VID, TSI, TSR, E, CP, EAP = range(33, 49)
P, T = 2, 3
T_TYPES = (None, "encr", "prf", "integ", "dh", "esn")
ESP_IDS = (None, "1des-iv64", "1des", "3des", "rc5", "idea", "cast", "blowfish", "3idea", "1des-iv32", "rc4",
           "null", "aes")
PRF_IDS = (None, "hmac-md5", "hmac-sha", "hmac-tiger", "aes128_xcbc")
INTEG_IDS = (None, "hmac-md5", "hmac-sha", "dec-mac", "kpdk-md5", "aes-xcbc")
ESN_IDS = ("no-esn", "esn")
T_IDS = {1: ESP_IDS, 2: PRF_IDS, 3: INTEG_IDS, 4: GROUPS, 5: ESN_IDS}
ENCR_T_MAP = (None,) * 14 + (("keylen", ()),)
AUTH_METHODS = ("invalid", "rsasig", "shared-secret", "dsssig")


def payloads_print(nd, data: bytes, np: int, ext: int) -> None:
    try:
        payloads_walk(nd, data, np, ext, 0, _PRINTERS)
    except Stop:
        pass


def _payload(nd, data: bytes, name: str, ext: int) -> None:
    """ikev2_pay_print: the name, [C] for a critical payload."""
    nd.out.append("%s%s:" % (name, "[C]" if data[ext + 1] & 0x80 else ""))


def _trunc(nd, np: int) -> None:
    nd.out.append(" [|%s]" % np_name(np))
    raise Stop


def _raw(nd, data: bytes, at: int, n: int, np: int) -> str:
    if at + n > len(data):
        _trunc(nd, np)
    return data[at:at + n].hex()


def _generic(nd, data, np, ext, item_len, depth) -> int:
    _payload(nd, data, np_name(np), ext)
    nd.out.append(" len=%u" % (item_len - 4))
    if nd.verbose > 2 and item_len > 4:
        nd.out.append(" " + _raw(nd, data, ext + 4, item_len - 4, np))
    return ext + item_len


def _encrypted(nd, data, np, ext, item_len, depth) -> int:
    _payload(nd, data, np_name(np), ext)
    dlen = item_len - 4
    nd.out.append(" len=%u" % dlen)
    if nd.verbose > 2 and dlen > 4:
        nd.out.append(" " + _raw(nd, data, ext + 4, dlen, np))
    if ext + 4 + dlen > len(data):
        _trunc(nd, np)
    raise Stop          # E is last: what follows is inside it


def _ke(nd, data, np, ext, item_len, depth) -> int:
    if ext + 8 > len(data):
        _trunc(nd, np)
    _payload(nd, data, np_name(np), ext)
    if item_len < 8:
        nd.out.append(" len=%u < 8" % item_len)
        return ext + item_len
    group = struct.unpack_from("!H", data, ext + 4)[0]
    nd.out.append(" len=%u group=%s" % (item_len - 8, str_or_id(group, GROUPS)))
    if nd.verbose > 2 and item_len > 8:
        nd.out.append(" " + _raw(nd, data, ext + 8, item_len - 8, np))
    return ext + item_len


def _auth(nd, data, np, ext, item_len, depth) -> int:
    if ext + 8 > len(data):
        _trunc(nd, np)
    _payload(nd, data, np_name(np), ext)
    nd.out.append(" len=%u method=%s" % (item_len - 4, str_or_id(data[ext + 4], AUTH_METHODS)))
    if item_len > 4:
        if nd.verbose > 1:
            nd.out.append(" authdata=(" + _raw(nd, data, ext + 8, item_len - 8, np) + ") ")
        else:
            nd.out.append(somedata(data, ext + 8))
    return ext + item_len


def _nonce(nd, data, np, ext, item_len, depth) -> int:
    _payload(nd, data, "nonce", ext)
    nd.out.append(" len=%u" % (item_len - 4))
    if nd.verbose > 1 and item_len > 4:
        nd.out.append(" nonce=(" + _raw(nd, data, ext + 4, item_len - 4, np) + ") ")
    elif item_len > 4:
        nd.out.append(somedata(data, ext + 4))
    return ext + item_len


def _vid(nd, data, np, ext, item_len, depth) -> int:
    _payload(nd, data, np_name(np), ext)
    n = item_len - 4
    nd.out.append(" len=%u vid=" % n)
    if ext + 4 + n > len(data):
        _trunc(nd, np)
    nd.out.append("".join(chr(c) if 0x20 <= c < 0x7F else "." for c in data[ext + 4:ext + 4 + n]))
    if nd.verbose > 2 and n > 4:
        nd.out.append(" " + data[ext + 4:ext + 4 + n].hex())
    return ext + item_len


def _sa(nd, data, np, ext, item_len, depth) -> int:
    _payload(nd, data, "sa", ext)
    nd.out.append(" len=%u" % (item_len - 4))
    return _within(nd, data, ext + 4, item_len - 4, depth, SA, P,
                   lambda count, sub, sub_len, depth: _proposal(nd, data, sub, sub_len, depth))


def _proposal(nd, data: bytes, ext: int, length: int, depth: int) -> int:
    out = nd.out
    if ext + 8 > len(data):
        _trunc(nd, P)
    _payload(nd, data, "p", ext)
    p_no, prot_id, spi_size, num_t = data[ext + 4:ext + 8]
    out.append(" #%u protoid=%s transform=%u len=%u" % (p_no, str_or_id(prot_id, PROTOIDS), num_t, length))
    prop_length = length - 4
    cp = ext + 8
    if spi_size:
        if prop_length < spi_size:
            out.append(" [|p]")
            return cp + prop_length
        out.append(" spi=" + _raw(nd, data, cp, spi_size, P))
        cp += spi_size
        prop_length -= spi_size
    return _within(nd, data, cp, prop_length, depth, P, T,
                   lambda count, sub, sub_len, depth: _transform(nd, data, count, sub, sub_len))


def _within(nd, data: bytes, cp: int, budget: int, depth: int, outer: int, inner: int, print_inner) -> int:
    """ikev2_sa_print's and ikev2_p_print's walk: the payloads inside `outer` (an SA's proposals, a
    proposal's transforms), `budget` bytes of them, each one level deeper; print_inner(count, at, length,
    depth) prints one of type `inner`, another type prints its name. Unlike the top-level walk, a
    truncation inside leaves the parenthesis open, as tcpdump does."""
    out = nd.out
    np, count = inner, 0
    while np:
        count += 1
        sub = cp
        if budget < 4:
            out.append(" [|%s]" % np_name(outer))
            return cp + budget
        if sub + 4 > len(data):
            _trunc(nd, outer)
        sub_len = struct.unpack_from("!H", data, sub + 2)[0]
        if sub_len <= 4:
            _trunc(nd, outer)
        if budget < sub_len:
            out.append(" [|%s]" % np_name(outer))
            return cp + budget
        if sub + sub_len > len(data):
            _trunc(nd, outer)
        out.append("\n" + "    " * (depth + 1) + "(")
        if np == inner:
            cp = print_inner(count, sub, sub_len, depth + 1)
        else:
            out.append(np_name(np))
            cp += sub_len
        out.append(")")
        budget -= sub_len
        np = data[sub]
    return cp


def _transform(nd, data: bytes, count: int, ext: int, length: int) -> int:
    out = nd.out
    if ext + 8 > len(data):
        _trunc(nd, T)
    _payload(nd, data, "t", ext)
    t_type = data[ext + 4]
    t_id = struct.unpack_from("!H", data, ext + 6)[0]
    ids = T_IDS.get(t_type)
    type_s = str_or_id(t_type, T_TYPES)
    if ids:
        out.append(" #%u type=%s id=%s " % (count, type_s, str_or_id(t_id, ids)))
    else:
        out.append(" #%u type=%s id=%u " % (count, type_s, t_id))
    attr_map = ENCR_T_MAP if t_type == 1 else None
    return attributes_print(nd, data, ext + 8, ext + length, attr_map)


_PRINTERS = {SA: _sa, KE: _ke, CERT: _generic, CR: _generic, AUTH: _auth, NONCE: _nonce, D: _generic,
             VID: _vid, TSI: _generic, TSR: _generic, E: _encrypted, CP: _generic, EAP: _generic}
