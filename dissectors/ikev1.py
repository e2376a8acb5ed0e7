"""IKEv1's payloads, as -v lists them after the exchange (print-isakmp.c's ikev1_*_print): SA,
proposals and transforms with their attributes named, key exchange, identification (the IPsec
DOI's: addresses, names, ranges), certificates and their requests, hash, signature, nonce,
notifications (RESPONDER-LIFETIME's attributes, REPLAY-STATUS), deletes and vendor id."""

from __future__ import annotations

import struct

from ebcap.dissectors.ike import (attribute_print, attributes_print, need, np_name, payloads_walk, raw,
                                  somedata, str_or_id)
from ebcap.dissectors.ipdemux import netdb_protocol_name
from ebcap.dissectors.names import ip4, ip6
from ebcap.dissectors.text import printable

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
IPSEC_ID_TYPES = (None, "IPv4", "FQDN", "user FQDN", "IPv4net", "IPv6", "IPv6net", "IPv4range", "IPv6range",
                  "ASN1 DN", "ASN1 GN", "keyid")
CERT_ENCODINGS = ("none", "pkcs7", "pgp", "dns", "x509sign", "x509ke", "kerberos", "crl", "arl", "spki", "x509attr")
NOTIFY_ERRORS = (None, "INVALID-PAYLOAD-TYPE", "DOI-NOT-SUPPORTED", "SITUATION-NOT-SUPPORTED", "INVALID-COOKIE",
                 "INVALID-MAJOR-VERSION", "INVALID-MINOR-VERSION", "INVALID-EXCHANGE-TYPE", "INVALID-FLAGS",
                 "INVALID-MESSAGE-ID", "INVALID-PROTOCOL-ID", "INVALID-SPI", "INVALID-TRANSFORM-ID",
                 "ATTRIBUTES-NOT-SUPPORTED", "NO-PROPOSAL-CHOSEN", "BAD-PROPOSAL-SYNTAX", "PAYLOAD-MALFORMED",
                 "INVALID-KEY-INFORMATION", "INVALID-ID-INFORMATION", "INVALID-CERT-ENCODING",
                 "INVALID-CERTIFICATE", "CERT-TYPE-UNSUPPORTED", "INVALID-CERT-AUTHORITY",
                 "INVALID-HASH-INFORMATION", "AUTHENTICATION-FAILED", "INVALID-SIGNATURE", "ADDRESS-NOTIFICATION",
                 "NOTIFY-SA-LIFETIME", "CERTIFICATE-UNAVAILABLE", "UNSUPPORTED-EXCHANGE-TYPE",
                 "UNEQUAL-PAYLOAD-LENGTHS")
IPSEC_NOTIFY_ERRORS = ("RESERVED",)                      # from 8192
NOTIFY_STATUS = ("CONNECTED",)                           # from 16384
IPSEC_NOTIFY_STATUS = ("RESPONDER-LIFETIME", "REPLAY-STATUS", "INITIAL-CONTACT")   # from 24576
RESPONDER_LIFETIME, REPLAY_STATUS = 24576, 24577


def _sa(nd, data, np, ext, item_len, depth, chain) -> int:
    out = nd.out
    out.append("sa:")
    need(nd, data, ext + 12, SA)
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
    need(nd, data, nxt + 4, SA)
    return payloads_walk(nd, data, P, nxt, depth, chain, chain.printers)


def _p(nd, data, np, ext, item_len, depth, chain) -> int:
    out = nd.out
    out.append("p:")
    need(nd, data, ext + 8, P)
    p_no, prot_id, spi_size, num_t = data[ext + 4:ext + 8]
    out.append(" #%u protoid=%s transform=%u" % (p_no, str_or_id(prot_id, PROTOIDS), num_t))
    if spi_size:
        out.append(" spi=")
        out.append(raw(nd, data, ext + 8, spi_size, P))
    nxt = ext + 8 + spi_size
    need(nd, data, nxt + 4, P)
    return payloads_walk(nd, data, T, nxt, depth, chain._replace(proto=prot_id), chain.printers)


def _t(nd, data, np, ext, item_len, depth, chain) -> int:
    out = nd.out
    out.append("t:")
    need(nd, data, ext + 8, T)
    t_no, t_id = data[ext + 4], data[ext + 5]
    proto = chain.proto
    table = TRANSFORM_IDS.get(proto)
    attr_map = OAKLEY_T_MAP if proto == 1 else IPSEC_T_MAP if proto in (2, 3, 4) else None
    if table:
        out.append(" #%u id=%s " % (t_no, str_or_id(t_id, table)))
    else:
        out.append(" #%u id=%u " % (t_no, t_id))
    return attributes_print(nd, data, ext + 8, ext + item_len, attr_map)


def _length_only(name: str, label: str):
    """A payload shown by its length (and its bytes at -vvv; a nonce's first and last at -vv)."""
    def printer(nd, data, np, ext, item_len, depth, chain) -> int:
        nd.out.append("%s: %s=%u" % (name, label, item_len - 4))
        if nd.verbose > 2 and item_len > 4:
            nd.out.append(" " + raw(nd, data, ext + 4, item_len - 4, np))
        elif np == NONCE and nd.verbose > 1 and item_len > 4:
            nd.out.append(" " + somedata(data, ext + 4))      # " " then " data=(": tcpdump's two spaces
        return ext + item_len
    return printer


def _id(nd, data, np, ext, item_len, depth, chain) -> int:
    """The IPsec DOI's identification (tcpdump reads it so in both phases): type, protocol, port,
    and the address, name or range the type says; other types' data by its length."""
    out = nd.out
    out.append("id:")
    need(nd, data, ext + 8, ID)
    id_type, proto_id, port = struct.unpack_from("!BBH", data, ext + 4)
    out.append(" idtype=%s" % str_or_id(id_type, IPSEC_ID_TYPES))
    name = netdb_protocol_name(nd, proto_id) if proto_id else None     # 0 is no protocol, not IP
    out.append(" protoid=%s port=%u" % (name if name else str(proto_id), port))
    at, length = ext + 8, max(item_len - 8, 0)
    if length:
        need(nd, data, at + length, ID)
        shown = _ID_DATA.get(id_type)
        if shown is not None:
            least, text = shown
            out.append(" len=%u [bad: < %u]" % (length, least) if length < least
                       else " len=%u %s" % (length, text(data, at, length)))
            return ext + item_len
        out.append(" len=%u" % length)
        if nd.verbose > 2:
            out.append(" " + raw(nd, data, at, length, ID))
    return ext + item_len


# id type -> (the least data it needs, its text); print-isakmp.c's IPSECDOI_ID_* cases
_ID_DATA = {
    1: (4, lambda data, at, n: ip4(data[at:at + 4])),
    2: (0, lambda data, at, n: printable(data[at:at + n])),
    3: (0, lambda data, at, n: printable(data[at:at + n])),
    4: (8, lambda data, at, n: "%s/%u.%u.%u.%u" % (ip4(data[at:at + 4]), *data[at + 4:at + 8])),
    5: (16, lambda data, at, n: ip6(data[at:at + 16])),
    6: (32, lambda data, at, n: "%s/0x%s" % (ip6(data[at:at + 16]), data[at + 16:at + 32].hex())),
    7: (8, lambda data, at, n: "%s-%s" % (ip4(data[at:at + 4]), ip4(data[at + 4:at + 8]))),
    8: (32, lambda data, at, n: "%s-%s" % (ip6(data[at:at + 16]), ip6(data[at + 16:at + 32]))),
}


def _cert(nd, data, np, ext, item_len, depth, chain) -> int:
    """A certificate or a certificate request: its encoding by name. tcpdump checks that the
    header and the first byte of the data were captured (its struct ikev1_pl_cert has both)."""
    nd.out.append("%s:" % np_name(np))
    need(nd, data, ext + 6, np)
    nd.out.append(" len=%u type=%s" % (item_len - 4, str_or_id(data[ext + 4], CERT_ENCODINGS)))
    if nd.verbose > 2 and item_len > 4:
        nd.out.append(" " + raw(nd, data, ext + 4, item_len - 4, np))
    return ext + item_len


def _n(nd, data, np, ext, item_len, depth, chain) -> int:
    out = nd.out
    out.append("n:")
    need(nd, data, ext + 12, N)
    doi, proto, spi_size, ntype = struct.unpack_from("!IBBH", data, ext + 4)
    ipsec = doi == 1
    if ipsec:
        out.append(" doi=ipsec proto=%s type=%s" % (str_or_id(proto, PROTOIDS), _notify_name(ntype, True)))
    else:
        out.append(" doi=%u proto=%u type=%s" % (doi, proto, _notify_name(ntype, False)))
    cp = ext + 12 + spi_size
    if spi_size:
        out.append(" spi=")
        out.append(raw(nd, data, ext + 12, spi_size, N))
    if not ipsec:
        return cp           # tcpdump goes on from the SPI's end, whatever the payload's length
    if cp < len(data):
        if ntype == RESPONDER_LIFETIME:
            out.append(" attrs=(")
            end = ext + item_len
            while cp < len(data) and cp < end:
                cp = attribute_print(nd, data, cp, end, OAKLEY_T_MAP, ") [|n]")
            out.append(")")
        elif ntype == REPLAY_STATUS:
            out.append(" status=(")
            out.append("replay detection %sabled)" % ("en" if struct.unpack_from("!I", data, cp)[0] else "dis"))
        elif nd.verbose > 3:
            out.append(" data=(%s)" % data[cp:].hex())
        else:
            out.append(somedata(data, cp))      # to the capture's end, the payloads after it too
    return ext + item_len


def _notify_name(ntype: int, ipsec: bool) -> str:
    """Errors below 8192 and status messages from 16384 by name; the IPsec DOI's own ranges
    (8192 and 24576 on) by name too, counted from their start."""
    if ntype < 8192:
        return str_or_id(ntype, NOTIFY_ERRORS)
    if ntype < 16384:
        return str_or_id(ntype - 8192, IPSEC_NOTIFY_ERRORS) if ipsec else "#%u" % ntype
    if ntype < 24576:
        return str_or_id(ntype - 16384, NOTIFY_STATUS)
    if ntype < 32768 and ipsec:
        return str_or_id(ntype - 24576, IPSEC_NOTIFY_STATUS)
    return "#%u" % ntype


def _d(nd, data, np, ext, item_len, depth, chain) -> int:
    out = nd.out
    out.append("d:")
    need(nd, data, ext + 12, D)
    doi, proto, spi_size, count = struct.unpack_from("!IBBH", data, ext + 4)
    out.append(" doi=ipsec proto=%s" % str_or_id(proto, PROTOIDS) if doi == 1
               else " doi=%u proto=%u" % (doi, proto))
    out.append(" spilen=%u nspi=%u spi=" % (spi_size, count))
    q = ext + 12
    for n in range(count):
        if n:
            out.append(",")
        out.append(raw(nd, data, q, spi_size, D))
        q += spi_size
    return q                # the SPIs' end: the next payload is read there


PRINTERS = {SA: _sa, P: _p, T: _t, KE: _length_only("ke", "key len"), ID: _id, CERT: _cert, CR: _cert,
            HASH: _length_only("hash", "len"), SIG: _length_only("sig", "len"),
            NONCE: _length_only("nonce", "n len"), N: _n, D: _d, VID: _length_only("vid", "len")}
