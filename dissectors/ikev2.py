"""IKEv2's payloads, as -v lists them after the exchange (print-isakmp.c's ikev2_*_print): SA,
proposals and transforms, key exchange, identification (addresses in hex, names in text),
authentication, nonce, notifications (by name, with their SPI and some data where tcpdump shows
them), vendor id, the encrypted payload's length, and the others' lengths."""

from __future__ import annotations

import struct

from ebcap.dissectors.ike import Stop, attributes_print, need, np_name, raw, somedata, str_or_id, trunc
from ebcap.dissectors.ikev1 import GROUPS, N as N_NAME, PROTOIDS

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

ID_TYPES = {1: ("ipv4", False), 2: ("fqdn", True), 3: ("rfc822", True), 5: ("ipv6", False), 9: ("dn", False),
            10: ("gn", False), 11: ("keyid", False)}      # id type -> (label, shown as text, not hex)
# notify type -> (name, SPI shown, data shown); other types are named by their range
NOTIFY_TYPES = {
    1: ("unsupported_critical_payload", 0, 0), 4: ("invalid_ike_spi", 1, 0), 5: ("invalid_major_version", 0, 0),
    7: ("invalid_syntax", 1, 0), 9: ("invalid_message_id", 1, 0), 11: ("invalid_spi", 1, 0),
    14: ("no_protocol_chosen", 1, 0), 17: ("invalid_ke_payload", 1, 0), 24: ("authentication_failed", 1, 0),
    34: ("single_pair_required", 1, 0), 35: ("no_additional_sas", 0, 0), 36: ("internal_address_failure", 0, 0),
    37: ("failed:cp_required", 0, 0), 39: ("invalid_selectors", 0, 0), 16384: ("initial_contact", 0, 0),
    16385: ("set_window_size", 0, 0), 16386: ("additional_ts_possible", 0, 0), 16387: ("ipcomp_supported", 0, 0),
    16388: ("nat_detection_source_ip", 1, 0), 16389: ("nat_detection_destination_ip", 1, 0),
    16390: ("cookie", 1, 1), 16391: ("use_transport_mode", 0, 0), 16392: ("http_cert_lookup_supported", 0, 0),
    16393: ("rekey_sa", 1, 0), 16394: ("tfc_padding_not_supported", 0, 0),
    16395: ("non_first_fragment_also", 0, 0)}


def _payload(nd, data: bytes, name: str, ext: int) -> None:
    """ikev2_pay_print: the name, [C] for a critical payload."""
    nd.out.append("%s%s:" % (name, "[C]" if data[ext + 1] & 0x80 else ""))


def _generic(nd, data, np, ext, item_len, depth, chain) -> int:
    _payload(nd, data, np_name(np), ext)
    nd.out.append(" len=%u" % (item_len - 4))
    if nd.verbose > 2 and item_len > 4:
        nd.out.append(" " + raw(nd, data, ext + 4, item_len - 4, np))
    return ext + item_len


def encrypted_print(nd, data, np, ext, item_len, depth, chain) -> int:
    _payload(nd, data, np_name(np), ext)
    dlen = item_len - 4
    nd.out.append(" len=%u" % dlen)
    if nd.verbose > 2 and dlen > 4:
        nd.out.append(" " + raw(nd, data, ext + 4, dlen, np))
    if ext + 4 + dlen > len(data):
        trunc(nd, np)
    raise Stop          # E is last: what follows is inside it


def _ke(nd, data, np, ext, item_len, depth, chain) -> int:
    if ext + 8 > len(data):
        trunc(nd, np)
    _payload(nd, data, np_name(np), ext)
    if item_len < 8:
        nd.out.append(" len=%u < 8" % item_len)
        return ext + item_len
    group = struct.unpack_from("!H", data, ext + 4)[0]
    nd.out.append(" len=%u group=%s" % (item_len - 8, str_or_id(group, GROUPS)))
    if nd.verbose > 2 and item_len > 8:
        nd.out.append(" " + raw(nd, data, ext + 8, item_len - 8, np))
    return ext + item_len


def _auth(nd, data, np, ext, item_len, depth, chain) -> int:
    if ext + 8 > len(data):
        trunc(nd, np)
    _payload(nd, data, np_name(np), ext)
    nd.out.append(" len=%u method=%s" % (item_len - 4, str_or_id(data[ext + 4], AUTH_METHODS)))
    if item_len > 4:
        if nd.verbose > 1:
            nd.out.append(" authdata=(" + raw(nd, data, ext + 8, item_len - 8, np) + ") ")
        else:
            nd.out.append(somedata(data, ext + 8))
    return ext + item_len


def _nonce(nd, data, np, ext, item_len, depth, chain) -> int:
    _payload(nd, data, "nonce", ext)
    nd.out.append(" len=%u" % (item_len - 4))
    if nd.verbose > 1 and item_len > 4:
        nd.out.append(" nonce=(" + raw(nd, data, ext + 4, item_len - 4, np) + ") ")
    elif item_len > 4:
        nd.out.append(somedata(data, ext + 4))
    return ext + item_len


def _vid(nd, data, np, ext, item_len, depth, chain) -> int:
    _payload(nd, data, np_name(np), ext)
    n = item_len - 4
    nd.out.append(" len=%u vid=" % n)
    if ext + 4 + n > len(data):
        trunc(nd, np)
    nd.out.append("".join(chr(c) if 0x20 <= c < 0x7F else "." for c in data[ext + 4:ext + 4 + n]))
    if nd.verbose > 2 and n > 4:
        nd.out.append(" " + data[ext + 4:ext + 4 + n].hex())
    return ext + item_len


def _sa(nd, data, np, ext, item_len, depth, chain) -> int:
    _payload(nd, data, "sa", ext)
    nd.out.append(" len=%u" % (item_len - 4))
    return _within(nd, data, ext + 4, item_len - 4, depth, SA, P,
                   lambda count, sub, sub_len, depth: _proposal(nd, data, sub, sub_len, depth))


def _proposal(nd, data: bytes, ext: int, length: int, depth: int) -> int:
    out = nd.out
    if ext + 8 > len(data):
        trunc(nd, P)
    _payload(nd, data, "p", ext)
    p_no, prot_id, spi_size, num_t = data[ext + 4:ext + 8]
    out.append(" #%u protoid=%s transform=%u len=%u" % (p_no, str_or_id(prot_id, PROTOIDS), num_t, length))
    prop_length = length - 4
    cp = ext + 8
    if spi_size:
        if prop_length < spi_size:
            out.append(" [|p]")
            return cp + prop_length
        out.append(" spi=" + raw(nd, data, cp, spi_size, P))
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
            trunc(nd, outer)
        sub_len = struct.unpack_from("!H", data, sub + 2)[0]
        if sub_len <= 4:
            trunc(nd, outer)
        if budget < sub_len:
            out.append(" [|%s]" % np_name(outer))
            return cp + budget
        if sub + sub_len > len(data):
            trunc(nd, outer)
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
        trunc(nd, T)
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


def _id(nd, data, np, ext, item_len, depth, chain) -> int:
    need(nd, data, ext + 8, np)
    out = nd.out
    _payload(nd, data, np_name(np), ext)
    out.append(" len=%u" % (item_len - 4))
    if nd.verbose > 2 and item_len > 4:
        out.append(" ")
        out.append(raw(nd, data, ext + 4, item_len - 4, np))
    kind = ID_TYPES.get(data[ext + 4])
    if kind is None:
        return ext + item_len
    label, text = kind
    out.append(" %s:" % label)
    n = item_len - 8        # below 0 for a payload shorter than its header: tcpdump's unsigned
    if n < 0:               # length then fails its capture check
        trunc(nd, np)
    if text:
        need(nd, data, ext + 8 + n, np)
        out.append("".join(chr(c) if 0x20 <= c < 0x7F else "." for c in data[ext + 8:ext + 8 + n]))
    else:
        out.append(raw(nd, data, ext + 8, n, np))
    return ext + item_len


def _n(nd, data, np, ext, item_len, depth, chain) -> int:
    """Named "n", as IKEv1's (tcpdump's ikev2_n_print prints ISAKMP_NPTYPE_N's name), its marker too."""
    need(nd, data, ext + 8, N_NAME)
    out = nd.out
    _payload(nd, data, np_name(N_NAME), ext)
    prot_id, spi_size, ntype = struct.unpack_from("!BBH", data, ext + 4)
    name, show_spi, show_data = NOTIFY_TYPES.get(ntype) or (_notify_range(ntype), 1, 0)
    out.append(" prot_id=%s type=%u(%s)" % (str_or_id(prot_id, PROTOIDS), ntype, name))
    if show_spi and spi_size:
        out.append(" spi=")
        out.append(raw(nd, data, ext + 8, spi_size, N_NAME))
    cp = ext + 8 + spi_size
    if cp < len(data):
        if nd.verbose > 3 or (show_data and len(data) - cp < 30):
            out.append(" data=(%s)" % data[cp:].hex())       # to the capture's end
        elif show_data:
            out.append(somedata(data, cp))
    return ext + item_len


def _notify_range(ntype: int) -> str:
    return "error" if ntype < 8192 else "private-error" if ntype < 16384 else \
        "status" if ntype < 40960 else "private-status"


# IKEv2's share of print-isakmp.c's npfunc (dissectors/isakmp.py joins it with IKEv1's); the
# encrypted payload is not in it: only an IKEv2 message's own chain prints it (encrypted_print)
PRINTERS = {SA: _sa, KE: _ke, IDI: _id, IDR: _id, CERT: _generic, CR: _generic, AUTH: _auth, NONCE: _nonce,
            N: _n, D: _generic, VID: _vid, TSI: _generic, TSR: _generic, CP: _generic, EAP: _generic}
