"""ISAKMP/IKE (print-isakmp.c; udp 500, and 4500 with RFC 3948's encapsulation): the exchange's
headline, `isakmp: phase 1 I ident`; -v adds the version and message id, and the payloads
(dissectors/ikev1.py, dissectors/ikev2.py)."""

from __future__ import annotations

import struct

from ebcap.dissectors import ikev1, ikev2
from ebcap.dissectors.ike import Chain, chain_print, np_name
from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.esp import esp_print

HEADER = 28
ETYPES = {0: "none", 1: "base", 2: "ident", 3: "auth", 4: "agg", 5: "inf", 32: "oakley-quick",
          33: "oakley-newgroup", 34: "ikev2_init", 35: "ikev2_auth", 36: "child_sa", 37: "inf2"}
FLAG_E, FLAG_C, FLAG_I, FLAG_V, FLAG_R = 0x01, 0x02, 0x08, 0x10, 0x20
MAX_INITIATORS = 20
# print-isakmp.c's npfunc: one table for both versions' chains (an IKEv1 message's IKEv2 payloads
# get IKEv2's printers, and the other way round); ikev2_sub0_print adds the encrypted payload's
# printer in an IKEv2 message's own chain, where it is last
PAYLOAD_PRINTERS = {**ikev1.PRINTERS, **ikev2.PRINTERS}
IKEV2_PRINTERS = {**PAYLOAD_PRINTERS, ikev2.E: ikev2.encrypted_print}
CHAIN = Chain(PAYLOAD_PRINTERS, 0)


def isakmp_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "isakmp"
    _isakmp(nd, data, pay, length)


def isakmp_rfc3948_print(nd, data: bytes, pay: int, length: int) -> None:
    """udp 4500: a NAT keep-alive, IKE behind four zero bytes, or ESP."""
    nd.proto = "isakmp_rfc3948"
    if length == 1 and data[pay] == 0xFF:     # past the capture: GET's IndexError
        nd.out.append("isakmp-nat-keep-alive")
        return
    if length < 4:
        raise Truncated
    if pay + 4 > len(data):
        raise IndexError
    if data[pay:pay + 4] == bytes(4):
        nd.out.append("NONESP-encap: ")
        nd.proto = "isakmp"
        _isakmp(nd, data, pay + 4, length - 4)
        return
    nd.out.append("UDP-encap: ")
    esp_print(nd, data, pay, length, nd.udp_ip, False)


def _isakmp(nd, data: bytes, cp: int, length: int) -> None:
    out = nd.out
    if cp + HEADER > len(data):
        out.append(" [|isakmp]")
        return
    i_ck, r_ck, np, vers, etype, flags, msgid, total = struct.unpack_from("!8s8sBBBB4sI", data, cp)
    major, minor = vers >> 4, vers & 0xF
    out.append("isakmp")
    if nd.verbose:
        out.append(" %u.%u msgid %s" % (major, minor, msgid.hex()))
    if nd.verbose > 1:
        out.append(" cookie %s->%s" % (i_ck.hex(), r_ck.hex()))
    out.append(":")
    phase = 1 if msgid == bytes(4) else 2
    etype_s = ETYPES.get(etype, "#%u" % etype)
    if major == 1:
        out.append(" phase 1" if phase == 1 else " phase 2/others")
        out.append(" " + _role(nd, i_ck, r_ck))
        out.append(" " + etype_s)
        if flags:
            out.append("[%s%s]" % ("E" if flags & FLAG_E else "", "C" if flags & FLAG_C else ""))
    elif major == 2:
        out.append(" parent_sa" if phase == 1 else " child_sa ")
        out.append(" " + etype_s)
        if flags:
            out.append("[%s%s%s]" % ("I" if flags & FLAG_I else "", "V" if flags & FLAG_V else "",
                                     "R" if flags & FLAG_R else ""))
    else:
        return
    if nd.verbose:
        out.append(":")
        if flags & FLAG_E:
            out.append(" [encrypted %s]" % np_name(np))
        else:
            chain_print(nd, data, np, cp + HEADER, CHAIN, PAYLOAD_PRINTERS if major == 1 else IKEV2_PRINTERS)
        if total != length:
            out.append(" (len mismatch: isakmp %u/ip %u)" % (total, length))


def _role(nd, i_ck: bytes, r_ck: bytes) -> str:
    """I or R by the initiator cookies seen so far (cookie_find, cookie_record in print-isakmp.c).
    tcpdump's cache is a static array of MAX_INITIATORS entries, all zero before the first record:
    an all-zero initiator cookie is "found" there, in an entry of no IP version, so it is `?`
    (until 20 records have overwritten them all); records overwrite the oldest."""
    ip = nd.udp_ip
    src, dst = (ip[1], ip[2]) if ip else (b"", b"")
    cache = nd.isakmp_cookies
    if not cache:
        cache.extend([(bytes(8), 0, b"", b"")] * MAX_INITIATORS)
    for cookie, version, iaddr, raddr in cache:
        if cookie == i_ck:
            if ip and version == ip[0] and src == iaddr:
                return "I"
            if ip and version == ip[0] and src == raddr:
                return "R"
            return "?"
    if r_ck != bytes(8):
        return "?"
    if ip:
        cache.pop(0)
        cache.append((i_ck, ip[0], src, dst))
    return "I"
