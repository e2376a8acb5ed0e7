"""DCCP (print-dccp.c, RFC 4340): ports, the packet type and its fields; -v the checksum, -vv the
sequence number and options."""

from __future__ import annotations

from ebcap.dissectors.cksum import in_cksum, pseudo_header, shouldbe
from ebcap.dissectors.errors import Truncated

TYPES = ("DCCP-Request", "DCCP-Response", "DCCP-Data", "DCCP-Ack", "DCCP-DataAck", "DCCP-CloseReq",
         "DCCP-Close", "DCCP-Reset", "DCCP-Sync", "DCCP-SyncAck")
REQUEST, RESPONSE, DATA, RESET = 0, 1, 2, 7
# bytes after the generic header each type needs (its acknowledgement subheader, service code, ...)
EXTRA = {REQUEST: 4, RESPONSE: 12, 3: 8, 4: 8, 5: 8, 6: 8, RESET: 12, 8: 8, 9: 8}
RESET_CODES = ("unspecified", "closed", "aborted", "no_connection", "packet_error", "option_error",
               "mandatory_error", "connection_refused", "bad_service_code", "too_busy", "bad_init_cookie",
               "aggression_penalty")
FEATURES = ("reserved", "ccid", "allow_short_seqno", "sequence_window", "ecn_incapable", "ack_ratio",
            "send_ack_vector", "send_ndp_count", "minimum checksum coverage", "check data checksum")
OPTIONS = {0: "nop", 1: "mandatory", 2: "slowreceiver", 32: "change_l", 33: "confirm_l", 34: "change_r",
           35: "confirm_r", 36: "initcookie", 37: "ndp_count", 38: "ack_vector0", 39: "ack_vector1",
           40: "data_dropped", 41: "timestamp", 42: "timestamp_echo", 43: "elapsed_time", 44: "data_checksum"}


def dccp_print(nd, data: bytes, off: int, length: int, ip: tuple, fragmented) -> None:
    out = nd.out
    nd.proto = "dccp"
    if off + 12 > len(data):
        raise Truncated
    if length < 12:
        out.append("truncated-dccp - %u bytes missing!" % (12 - length))
        return
    x = data[off + 8] & 1
    fixed = 16 if x else 12
    if length < fixed:
        out.append("truncated-dccp - %u bytes missing!" % (fixed - length))
        return
    if off + fixed > len(data):
        raise Truncated
    sport, dport = int.from_bytes(data[off:off + 2], "big"), int.from_bytes(data[off + 2:off + 4], "big")
    hlen = data[off + 4] * 4
    out.append("%s.%u > %s.%u: DCCP" % (ip[3], sport, ip[4], dport))
    if nd.quiet:
        out.append(" %u" % ((length - hlen) & 0xFFFFFFFF))
        if hlen > length:
            out.append(" [bad hdr length %u - too long, > %u]" % (hlen, length))
        return
    cscov = data[off + 5] & 0xF
    if nd.verbose:
        out.append(" (CCVal %u, CsCov %u" % (data[off + 5] >> 4, cscov))
        if off + length <= len(data):
            csum = int.from_bytes(data[off + 6:off + 8], "big")
            cov = length if cscov == 0 else min(length, (data[off + 4] + cscov - 1) * 4)
            s = in_cksum(pseudo_header(ip[0], ip[1], ip[2], 33, length) + data[off:off + cov])
            out.append(", cksum 0x%04x " % csum)
            out.append("(incorrect -> 0x%04x)" % shouldbe(csum, s) if s else "(correct)")
        out.append(")")
    out.append(" ")
    ptype = (data[off + 8] >> 1) & 0xF
    name = TYPES[ptype] if ptype < len(TYPES) else ""
    if ptype in EXTRA:
        fixed += EXTRA[ptype]
        if length < fixed:
            out.append("truncated-%s - %u bytes missing!" % (name, fixed - length))
            return
    sub = off + (16 if x else 12)
    if ptype in (REQUEST, RESPONSE, RESET) and off + fixed > len(data):
        raise Truncated         # ND_TCHECK_SIZE of the type's subheader, before its name
    if ptype == REQUEST:
        out.append("%s (service=%u) " % (name, _be(data, sub, 4)))
    elif ptype == RESPONSE:
        out.append("%s (service=%u) " % (name, _be(data, sub + 8, 4)))
    elif ptype == RESET:
        code = _be(data, sub + 8, 1)
        out.append("%s (code=%s) " % (name, RESET_CODES[code] if code < len(RESET_CODES) else "invalid"))
    elif ptype < len(TYPES):
        out.append(name + " ")
    else:
        out.append("unknown-type-%u " % ptype)
    if ptype not in (DATA, REQUEST):
        ack = _be(data, sub + 2, 6) if x else _be(data, sub + 1, 3)
        out.append("(ack=%u) " % ack)
    if nd.verbose < 2:
        return
    out.append("seq %u" % (_be(data, off + 10, 6) if x else _be(data, off + 9, 3)))
    if hlen > fixed:
        cp = off + fixed
        hlen -= fixed
        out.append(" <")
        while True:
            optlen = _option(out, data, cp, hlen)
            if not optlen or hlen <= optlen:
                break
            hlen -= optlen
            cp += optlen
            out.append(", ")
        out.append(">")


def _be(data: bytes, at: int, n: int) -> int:
    if at + n > len(data):
        raise IndexError
    return int.from_bytes(data[at:at + n], "big")


def _option(out: list, data: bytes, cp: int, hlen: int) -> int:
    kind = _be(data, cp, 1)
    name = OPTIONS.get(kind, "Option %u" % kind)
    if kind >= 32:
        optlen = _be(data, cp + 1, 1)
        if optlen < 2:
            out.append("CCID option %u optlen too short" % kind if kind >= 128 else "%s optlen too short" % name)
            return 0
    else:
        optlen = 1
    if hlen < optlen:
        out.append("CCID option %u optlen goes past header length" % kind if kind >= 128
                   else "%s optlen goes past header length" % name)
        return 0
    if cp + optlen > len(data):
        out.append(" [|dccp]")
        return 0
    body = data[cp + 2:cp + optlen]
    if kind >= 128:
        out.append("CCID option %u" % kind)
        if optlen in (4, 6):
            out.append(" %u" % int.from_bytes(body, "big"))
        return optlen
    out.append(name)
    if 32 <= kind <= 35:
        if optlen < 3:
            out.append(" optlen too short")
        elif body[0] < 10:
            out.append(" " + FEATURES[body[0]] + "".join(" %u" % b for b in body[1:]))
    elif kind in (36, 38, 39, 40):
        if body:
            out.append(" 0x" + body.hex())
    elif kind == 37:
        out.append("".join(" %u" % b for b in body))
    elif kind == 41:
        out.append(" %u" % int.from_bytes(body, "big") if optlen == 6 else " [optlen != 6]")
    elif kind == 42:
        if optlen == 6:
            out.append(" %u" % int.from_bytes(body, "big"))
        elif optlen in (8, 10):
            out.append(" %u (elapsed time %u)" % (int.from_bytes(body[:4], "big"), int.from_bytes(body[4:], "big")))
        else:
            out.append(" [optlen != 6 or 8 or 10]")
    elif kind == 43:
        out.append(" %u" % int.from_bytes(body, "big") if optlen in (4, 6) else " [optlen != 4 or 6]")
    elif kind == 44:
        if body:
            out.append(" " + body.hex())
    return optlen
