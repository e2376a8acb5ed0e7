"""The rarer ICMPv6 messages (print-icmp6.c): node information query and reply (RFC 4620), router
renumbering (RFC 2894) and RPL's headline (RFC 6550). Each returns the text after the type's name."""

from __future__ import annotations

import struct

from ebcap.dissectors.names import ip4, ip6
from ebcap.dissectors.text import char_text

NI_QUERY, NI_REPLY = 139, 140
QTYPE_NOOP, QTYPE_SUPTYPES, QTYPE_FQDN, QTYPE_NODEADDR = 0, 1, 2, 3
SUBJ_IPV6, SUBJ_FQDN, SUBJ_IPV4 = 0, 1, 2
_NODEADDR_FLAGS = ((0x40, "a"), (0x20, "G"), (0x10, "S"), (0x08, "L"), (0x04, "C"), (0x02, "A"))
_NI_HEADER = 16                 # the ICMPv6 header and the nonce
_TRUNC = " [|icmp6]"
_SUBJECT_ADDRESSES = {SUBJ_IPV6: (16, ip6), SUBJ_IPV4: (4, ip4)}    # subject code -> (its size, its text)


def nodeinfo_text(data: bytes, off: int, length: int, verbose: int) -> str:
    siz = len(data) - off
    if siz < 0:
        return ""
    out: list[str] = []
    if data[off] == NI_QUERY:
        if siz == 8 + 4:
            return " who-are-you request"
        out.append(" node information query")
        if siz < _NI_HEADER:
            return "".join(out) + _TRUNC
        out.append(" (")
        qtype, flags = struct.unpack_from("!HH", data, off + 4)
        out.append(_qtype(qtype, flags, query=True))
        if qtype in (QTYPE_NOOP, QTYPE_SUPTYPES):
            if siz != _NI_HEADER and verbose:
                out.append(", invalid len")
            return "".join(out) + ")"
        if siz == _NI_HEADER:
            return "".join(out) + ", 03 draft)"
        cp = off + _NI_HEADER
        code = data[off + 1]
        if code in _SUBJECT_ADDRESSES:
            size, text = _SUBJECT_ADDRESSES[code]
            if siz == _NI_HEADER + size:
                out.append(", subject=%s" % text(data[cp:cp + size]))
            elif siz > _NI_HEADER + size and verbose:
                out.append(", invalid subject len")
        elif code == SUBJ_FQDN:
            out.append(", subject=DNS name")
            out.append(_name(data, cp, verbose))
        else:
            out.append(", unknown subject")
        return "".join(out) + ")"
    if length > siz:
        return _TRUNC
    if siz < _NI_HEADER:
        return _TRUNC
    out.append(" node information reply (")
    code = data[off + 1]
    comma = False
    if code == 0:
        if verbose:
            out.append("success")
            comma = True
    elif code in (1, 2):
        out.append("refused" if code == 1 else "unknown")
        comma = True
        if siz != _NI_HEADER and verbose:
            out.append(", invalid length")
    if code != 0:
        return "".join(out) + ")"
    qtype, flags = struct.unpack_from("!HH", data, off + 4)
    if comma:
        out.append(", ")
    if qtype == QTYPE_NOOP:
        out.append("noop")
        if siz != _NI_HEADER and verbose:
            out.append(", invalid length")
    elif qtype == QTYPE_SUPTYPES:
        out.append(_qtype(qtype, flags, query=False))
    elif qtype == QTYPE_FQDN:
        out.append("DNS name")
        out.append(_name(data, off + _NI_HEADER + 4, verbose))
        if flags & 1:
            out.append(" [TTL=%u]" % struct.unpack_from("!I", data, off + _NI_HEADER)[0])
    elif qtype == QTYPE_NODEADDR:
        out.append("node addresses")
        i = _NI_HEADER
        while i + 20 <= siz:
            out.append(" %s(%u)" % (ip6(data[off + i + 4:off + i + 20]),
                                    struct.unpack_from("!I", data, off + i)[0]))
            i += 20
        if flags:
            out.append(" [%s%s]" % ("".join(c for bit, c in _NODEADDR_FLAGS if flags & bit),
                                    "T" if flags & 1 else ""))
    else:
        out.append("unknown")
    return "".join(out) + ")"


def _qtype(qtype: int, flags: int, query: bool) -> str:
    if qtype == QTYPE_NOOP:
        return "noop"
    if qtype == QTYPE_SUPTYPES:
        return "supported qtypes" + (" [%s]" % ("C" if flags & 1 else "") if flags else "")
    if qtype == QTYPE_FQDN:
        return "DNS name"
    if qtype == QTYPE_NODEADDR and query:
        text = "node addresses"
        if flags:
            text += " [%s]" % "".join(c for bit, c in _NODEADDR_FLAGS if flags & bit)
        return text
    return "unknown"


def _name(data: bytes, cp: int, verbose: int) -> str:
    """The subject or reply name: a pascal string (icmp-name-lookup-03) or DNS labels, no pointers."""
    ep = len(data)
    if cp >= ep:
        raise IndexError
    if data[cp] == ep - cp - 1:
        return (", 03 draft" if verbose else "") + ', "%s"' % "".join(char_text(c) for c in data[cp + 1:ep])
    out = [', "']
    while cp < ep:
        n = data[cp]
        cp += 1
        if n:
            if n > ep - cp:
                out.append("???")
                break
            out.append("".join(char_text(c) for c in data[cp:cp + n]))
            cp += n
            if cp + 1 < ep and data[cp]:
                out.append(".")
        else:
            if cp == ep:
                out.append(".")
            elif not (cp + 1 == ep and data[cp] == 0):
                out.append("???")
            break
    out.append('"')
    return "".join(out)


def rrenum_text(data: bytes, off: int, verbose: int) -> str:
    if off + 16 > len(data):
        return _TRUNC           # ND_TCHECK_4(rr_reserved): a local trunc, the length still follows
    code, seq, seg, flags, maxdelay, reserved = data[off + 1], *struct.unpack_from("!IBBHI", data, off + 4)
    out = [{0: ", command", 1: ", result", 255: ", sequence number reset"}.get(code, ", code-#%u" % code)]
    out.append(", seq=%u" % seq)
    if verbose:
        out.append("[")
        if flags:
            out.append("".join(c for bit, c in ((0x80, "T"), (0x40, "R"), (0x20, "A"), (0x10, "S"), (0x08, "P"))
                               if flags & bit) + ",")
        out.append("seg=%u,maxdelay=%u" % (seg, maxdelay))
        if reserved:
            out.append("rsvd=0x%x" % reserved)
        out.append("]")
    if code != 0:
        return "".join(out)
    cp = off + 16
    if cp + 24 > len(data):
        return "".join(out) + _TRUNC
    mcode, mlen, ordinal, matchlen, minlen, maxlen = data[cp], data[cp + 1], data[cp + 2], data[cp + 3], \
        data[cp + 4], data[cp + 5]
    out.append("\n\t" if verbose > 1 else " ")
    out.append("match(" + {1: "add", 2: "change", 3: "setglobal"}.get(mcode, "#%u" % mcode))
    if verbose:
        out.append(",ord=%u,min=%u,max=%u" % (ordinal, minlen, maxlen))
    out.append(",%s/%u)" % (ip6(data[cp + 8:cp + 24]), matchlen))
    n = mlen - 3
    if n % 4:
        return "".join(out) + _TRUNC
    cp += 24
    for _ in range(n // 4):
        if cp + 32 > len(data):
            return "".join(out) + _TRUNC
        uselen, keeplen, ramask, raflags, vltime, pltime, uflags = struct.unpack_from("!BBBBIII", data, cp)
        out.append("\n\t" if verbose > 1 else " ")
        out.append("use(")
        uflag_byte = uflags >> 24
        if uflag_byte:
            out.append("%s%s," % ("V" if uflag_byte & 0x80 else "", "P" if uflag_byte & 0x40 else ""))
        if verbose:
            out.append("mask=0x%x,raflags=0x%x," % (ramask, raflags))
            out.append("vltime=infty," if vltime == 0xFFFFFFFF else "vltime=%u," % vltime)
            out.append("pltime=infty," if pltime == 0xFFFFFFFF else "pltime=%u," % pltime)
        out.append("%s/%u/%u)" % (ip6(data[cp + 16:cp + 32]), uselen, keeplen))
        cp += 32
    return "".join(out)


RPL_CODES = {0: "DODAG Information Solicitation", 1: "DODAG Information Object",
             2: "Destination Advertisement Object", 3: "Destination Advertisement Object Ack"}


def rpl_text(code: int) -> str:
    """The headline only: -v's DIO, DAO and DAO-ACK bodies are not decoded."""
    if code & 0x80:
        return ", (SEC) [worktodo]"
    return ", (CLR)" + RPL_CODES.get(code & 0x7F, "RPL message, unknown code %u" % code)
