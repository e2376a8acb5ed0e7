"""IKEv1's payloads, as -v lists them after the exchange (print-isakmp.c's ikev1_sub_print): SA,
proposals and transforms with their attributes named, key exchange, hash, signature, nonce and
vendor id. (Identification, certificates, notifications and deletes print their name only.)"""

from __future__ import annotations

import struct

from ebcap.dissectors.ike import Stop, attributes_print, np_name, payloads_walk, somedata, str_or_id

SA, P, T, KE, ID, CERT, CR, HASH, SIG, NONCE, N, D, VID = range(1, 14)
PROTOIDS = (None, "isakmp", "ipsec-ah", "ipsec-esp", "ipcomp")
GROUPS = (None, "modp768", "modp1024", "EC2N 2^155", "EC2N 2^185", "modp1536", "iana-grp06", "iana-grp07",
           "iana-grp08", "iana-grp09", "iana-grp10", "iana-grp11", "iana-grp12", "iana-grp13", "modp2048",
           "modp3072", "modp4096", "modp6144", "modp8192")
# attribute type -> (name, value names); print-isakmp.c's attrmaps. Their group desc lists
# 19 names but says it has 18 (nvalue), so tcpdump prints group 18 (modp8192) as hex there.
ATTR_GROUPS = GROUPS[:18]
OAKLEY_T_MAP = (None, ("enc", (None, "1des", "idea", "blowfish", "rc5", "3des", "cast", "aes")),
                ("hash", (None, "md5", "sha1", "tiger", "sha2-256", "sha2-384", "sha2-512")),
                ("auth", (None, "preshared", "dss", "rsa sig", "rsa enc", "rsa enc revised")),
                ("group desc", ATTR_GROUPS), ("group type", (None, "MODP", "ECP", "EC2N")),
                ("group prime", ()), ("group gen1", ()), ("group gen2", ()), ("group curve A", ()),
                ("group curve B", ()), ("lifetype", (None, "sec", "kb")), ("lifeduration", ()), ("prf", ()),
                ("keylen", ()), ("field", ()), ("order", ()))
IPSEC_T_MAP = (None, ("lifetype", (None, "sec", "kb")), ("life", ()), ("group desc", ATTR_GROUPS),
               ("enc mode", (None, "tunnel", "transport")),
               ("auth", (None, "hmac-md5", "hmac-sha1", "1des-mac", "keyed")), ("keylen", ()), ("rounds", ()),
               ("dictsize", ()), ("privalg", ()))
TRANSFORM_IDS = {1: (None, "ike"), 2: (None, "(reserved)", "md5", "sha", "1des", "sha2-256", "sha2-384", "sha2-512"),
                 3: (None, "1des-iv64", "1des", "3des", "rc5", "idea", "cast", "blowfish", "3idea", "1des-iv32",
                     "rc4", "null", "aes"),
                 4: (None, "oui", "deflate", "lzs")}


def payloads_print(nd, data: bytes, np: int, ext: int) -> None:
    """ikev1_sub_print from the first payload, at ext; the capture ends where data does."""
    try:
        payloads_walk(nd, data, np, ext, 0, _PRINTERS, 0)
    except Stop:
        pass


def _need(nd, data: bytes, end: int, np: int) -> None:
    if end > len(data):
        nd.out.append(" [|%s]" % np_name(np))
        raise Stop


def _sa(nd, data, np, ext, item_len, depth, proto) -> int:
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
    return payloads_walk(nd, data, P, nxt, depth, _PRINTERS, proto)


def _p(nd, data, np, ext, item_len, depth, proto) -> int:
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
    return payloads_walk(nd, data, T, nxt, depth, _PRINTERS, prot_id)


def _t(nd, data, np, ext, item_len, depth, proto) -> int:
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
    return attributes_print(nd, data, ext + 8, ext + item_len, attr_map)


def _length_only(name: str, label: str):
    """A payload shown by its length (and its bytes at -vvv; a nonce's first and last at -vv)."""
    def printer(nd, data, np, ext, item_len, depth, proto) -> int:
        nd.out.append("%s: %s=%u" % (name, label, item_len - 4))
        if nd.verbose > 2 and item_len > 4:
            _need(nd, data, ext + item_len, np)
            nd.out.append(" " + data[ext + 4:ext + item_len].hex())
        elif np == NONCE and nd.verbose > 1 and item_len > 4:
            nd.out.append(" " + somedata(data, ext + 4))      # " " then " data=(": tcpdump's two spaces
        return ext + item_len
    return printer


_PRINTERS = {SA: _sa, P: _p, T: _t, KE: _length_only("ke", "key len"), HASH: _length_only("hash", "len"),
             SIG: _length_only("sig", "len"), NONCE: _length_only("nonce", "n len"), VID: _length_only("vid", "len")}
