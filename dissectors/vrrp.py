"""VRRP v2/v3 (print-vrrp.c, RFC 3768/5798; IP protocol 112): vrid, priority, interval; -v's addresses."""

from __future__ import annotations

from ebcap.dissectors.cksum import in_cksum, pseudo_header
from ebcap.dissectors.extract import u16
from ebcap.dissectors.names import ip4_at, ip6_at
from ebcap.dissectors.text import printjn

AUTH_TYPES = {0: "none", 1: "simple", 2: "ah"}
ADVERTISEMENT = 1
PROTO_VRRP = 112


def vrrp_print(nd, data: bytes, off: int, length: int, ip: tuple, _fragmented) -> None:
    nd.proto = "vrrp"
    out = nd.out
    out.append("VRRP")
    version, kind = data[off] >> 4, data[off] & 0x0F
    out.append("v%u, %s" % (version, "Advertisement" if kind == ADVERTISEMENT else "unknown type (%u)" % kind))
    if ip[5] != 255:
        out.append(", (ttl %u)" % ip[5])
    if version not in (2, 3) or kind != ADVERTISEMENT:
        return
    out.append(", vrid %u, prio %u" % (data[off + 1], data[off + 2]))
    if version == 2:
        auth = data[off + 4]
        out.append(", authtype %s" % AUTH_TYPES.get(auth, "#%d" % auth))
        out.append(", intvl %us, length %u" % (data[off + 5], length))
    else:
        auth = None
        out.append(", intvl %ucs, length %u" % ((data[off + 4] & 0x0F) << 8 | data[off + 5], length))
    if nd.verbose:
        _verbose(nd, data, off, length, ip, version, auth)


def _verbose(nd, data: bytes, off: int, length: int, ip: tuple, version: int, auth) -> None:
    out = nd.out
    naddrs = data[off + 3]
    if len(data) >= off + length:
        body = data[off:off + length]
        if version == 3:
            body = pseudo_header(ip[0], ip[1], ip[2], PROTO_VRRP, length) + body
        if in_cksum(body):
            out.append(", (bad vrrp cksum %x)" % u16(data, off + 6)[0])
    out.append(", addrs")
    if naddrs > 1:
        out.append("(%u)" % naddrs)
    out.append(":")
    at = off + 8
    size, addr = (4, ip4_at) if ip[0] == 4 else (16, ip6_at)
    for i in range(naddrs):
        out.append("%s%s" % (" " if i == 0 else ",", addr(data, at)))
        at += size
    if auth == 1:
        password = data[at:at + 8]
        if len(password) < 8 and 0 not in password:
            raise IndexError
        out.append(' auth "%s"' % printjn(password))
