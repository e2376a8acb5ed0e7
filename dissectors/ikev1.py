"""IKEv1's payloads, as -v lists them after the exchange (print-isakmp.c's ikev1_sub_print): SA,
proposals and transforms with their attributes named, key exchange, hash, signature, nonce and
vendor id. (Identification, certificates, notifications and deletes print their name only.)"""

from __future__ import annotations

import struct

NPSTR = ("none", "sa", "p", "t", "ke", "id", "cert", "cr", "hash", "sig", "nonce", "n", "d", "vid")
SA, P, T, KE, ID, CERT, CR, HASH, SIG, NONCE, N, D, VID = range(1, 14)
PROTOIDS = (None, "isakmp", "ipsec-ah", "ipsec-esp", "ipcomp")
GROUPS = (None, "modp768", "modp1024", "EC2N 2^155", "EC2N 2^185", "modp1536", "iana-grp06", "iana-grp07",
           "iana-grp08", "iana-grp09", "iana-grp10", "iana-grp11", "iana-grp12", "iana-grp13", "modp2048",
           "modp3072", "modp4096", "modp6144", "modp8192")
# attribute type -> (name, value names); print-isakmp.c's attrmaps
OAKLEY_T_MAP = (None, ("enc", (None, "1des", "idea", "blowfish", "rc5", "3des", "cast", "aes")),
                ("hash", (None, "md5", "sha1", "tiger", "sha2-256", "sha2-384", "sha2-512")),
                ("auth", (None, "preshared", "dss", "rsa sig", "rsa enc", "rsa enc revised")),
                ("group desc", GROUPS), ("group type", (None, "MODP", "ECP", "EC2N")),
                ("group prime", ()), ("group gen1", ()), ("group gen2", ()), ("group curve A", ()),
                ("group curve B", ()), ("lifetype", (None, "sec", "kb")), ("lifeduration", ()), ("prf", ()),
                ("keylen", ()), ("field", ()), ("order", ()))
IPSEC_T_MAP = (None, ("lifetype", (None, "sec", "kb")), ("life", ()), ("group desc", GROUPS),
               ("enc mode", (None, "tunnel", "transport")),
               ("auth", (None, "hmac-md5", "hmac-sha1", "1des-mac", "keyed")), ("keylen", ()), ("rounds", ()),
               ("dictsize", ()), ("privalg", ()))
TRANSFORM_IDS = {1: (None, "ike"), 2: (None, "(reserved)", "md5", "sha", "1des", "sha2-256", "sha2-384", "sha2-512"),
                 3: (None, "1des-iv64", "1des", "3des", "rc5", "idea", "cast", "blowfish", "3idea", "1des-iv32",
                     "rc4", "null", "aes"),
                 4: (None, "oui", "deflate", "lzs")}


class Stop(Exception):
    """A printer's NULL return: the chain ends (its marker, if any, is already printed)."""


_Stop = Stop


def np_name(np: int) -> str:
    return NPSTR[np] if np < len(NPSTR) else "#%u" % np


def str_or_id(value: int, table) -> str:
    return table[value] if value < len(table) and table[value] else "#%u" % value


def payloads_print(nd, data: bytes, np: int, ext: int) -> None:
    """ikev1_sub_print from the first payload; ep is the end of the capture."""
    try:
        _sub_print(nd, data, np, ext, 0, 0)
    except _Stop:
        pass


def _sub_print(nd, data: bytes, np: int, ext: int, proto: int, depth: int) -> int:
    out = nd.out
    ep = len(data)
    cp = ext
    while np:
        if ext + 4 > ep:
            out.append(" [|%s]" % np_name(np))
            raise _Stop
        item_len = struct.unpack_from("!H", data, ext + 2)[0]
        if ext + item_len > ep:
            out.append(" [|%s]" % np_name(np))
            raise _Stop
        depth += 1
        out.append("\n" + "    " * depth + "(")
        try:
            cp = _sub0(nd, data, np, ext, item_len, proto, depth)
        finally:
            out.append(")")
        depth -= 1
        np = data[ext]
        ext = cp
    return cp


def _sub0(nd, data: bytes, np: int, ext: int, item_len: int, proto: int, depth: int) -> int:
    if item_len <= 4:
        raise _Stop
    printer = _PRINTERS.get(np)
    if printer is None:
        nd.out.append(np_name(np))
        return ext + item_len
    return printer(nd, data, ext, item_len, proto, depth)


def _need(nd, data: bytes, end: int, np: int) -> None:
    if end > len(data):
        nd.out.append(" [|%s]" % np_name(np))
        raise _Stop


def _sa(nd, data, ext, item_len, proto, depth) -> int:
    out = nd.out
    out.append("sa:")
    _need(nd, data, ext + 12, SA)
    doi, sit = struct.unpack_from("!II", data, ext + 4)
    if doi != 1:
        out.append(" doi=%u situation=%u" % (doi, sit))
        return ext + 12
    out.append(" doi=ipsec situation=")
    names = [name for bit, name in ((1, "identity"), (2, "secrecy"), (4, "integrity")) if sit & bit]
    out.append("+".join(names))
    nxt = ext + 12
    if sit != 1:
        out.append(" ident=%u" % doi)      # tcpdump reads the word after the generic header again
        nxt += 4
    _need(nd, data, nxt + 4, SA)
    return _sub_print(nd, data, P, nxt, proto, depth)


def _p(nd, data, ext, item_len, proto, depth) -> int:
    out = nd.out
    out.append("p:")
    _need(nd, data, ext + 8, P)
    p_no, prot_id, spi_size, num_t = data[ext + 4:ext + 8]
    out.append(" #%u protoid=%s transform=%u" % (p_no, str_or_id(prot_id, PROTOIDS), num_t))
    if spi_size:
        out.append(" spi=")
        _need(nd, data, ext + 8 + spi_size, P)
        out.append(data[ext + 8:ext + 8 + spi_size].hex())
    nxt = ext + 8 + spi_size
    _need(nd, data, nxt + 4, P)
    return _sub_print(nd, data, T, nxt, prot_id, depth)


def _t(nd, data, ext, item_len, proto, depth) -> int:
    out = nd.out
    out.append("t:")
    _need(nd, data, ext + 8, T)
    t_no, t_id = data[ext + 4], data[ext + 5]
    table = TRANSFORM_IDS.get(proto)
    attr_map = OAKLEY_T_MAP if proto == 1 else IPSEC_T_MAP if proto in (2, 3, 4) else None
    if table:
        out.append(" #%u id=%s " % (t_no, str_or_id(t_id, table)))
    else:
        out.append(" #%u id=%u " % (t_no, t_id))
    cp = ext + 8
    ep, ep2 = len(data), ext + item_len
    while cp < ep and cp < ep2:
        cp = attribute_print(nd, data, cp, ep2, attr_map)
    if ep < ep2:
        out.append("...")
    return cp


def attribute_print(nd, data: bytes, p: int, ep2: int, attr_map) -> int:
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
            out.append(_raw(nd, data, p + 2, 2))
    else:
        out.append("len=%u value=" % (total - 4))
        out.append(_raw(nd, data, p + 4, total - 4))
    out.append(")")
    return p + total


def _raw(nd, data: bytes, at: int, n: int) -> str:
    if at + n > len(data):
        nd.out.append(")")
        nd.out.append(" [|t]")
        raise _Stop
    return data[at:at + n].hex()


def _length_only(name: str, label: str, np: int):
    def printer(nd, data, ext, item_len, proto, depth) -> int:
        nd.out.append("%s: %s=%u" % (name, label, item_len - 4) if label else "%s:" % name)
        if nd.verbose > 2 and item_len > 4:
            _need(nd, data, ext + item_len, np)
            nd.out.append(" " + data[ext + 4:ext + item_len].hex())
        elif np == NONCE and nd.verbose > 1 and item_len > 4:
            nd.out.append(" " + somedata(data, ext + 4))      # " " then " data=(": tcpdump's two spaces
        return ext + item_len
    return printer


def somedata(data: bytes, cp: int) -> str:
    """ike_show_somedata: the first 10 bytes and the capture's last 20."""
    ep = len(data)
    n = min(ep - cp, 10)
    end, elen = ep - 20, 20
    if end < cp + n:
        end, elen = cp + n, ep - (cp + n)
    return " data=(%s...%s)" % (data[cp:cp + n].hex(), data[end:end + elen].hex() if elen else "")


_PRINTERS = {SA: _sa, P: _p, T: _t,
             KE: lambda nd, data, ext, n, proto, depth: _ke(nd, data, ext, n),
             HASH: _length_only("hash", "len", HASH), SIG: _length_only("sig", "len", SIG),
             NONCE: _length_only("nonce", "n len", NONCE), VID: _length_only("vid", "len", VID)}


def _ke(nd, data, ext, item_len) -> int:
    nd.out.append("ke: key len=%u" % (item_len - 4))
    if nd.verbose > 2 and item_len > 4:
        _need(nd, data, ext + item_len, KE)
        nd.out.append(" " + data[ext + 4:ext + item_len].hex())
    return ext + item_len
