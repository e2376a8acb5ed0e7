"""The BER subset SNMP uses (print-snmp.c's asn1_parse and asn1_print, with -n: numeric OIDs)."""

from __future__ import annotations

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.text import printable

UNIVERSAL = ("U-0", "Boolean", "Integer", "Bitstring", "String", "Null", "ObjID", "ObjectDes", "U-8", "U-9",
             "U-10", "U-11", "U-12", "U-13", "U-14", "U-15", "Sequence", "Set")
APPLICATION = ("IpAddress", "Counter", "Gauge", "TimeTicks", "Opaque", "C-5", "Counter64")
CONTEXT = ("GetRequest", "GetNextRequest", "GetResponse", "SetRequest", "Trap", "GetBulk", "Inform",
           "V2Trap", "Report")
EXCEPTIONS = ("noSuchObject", "noSuchInstance", "endOfMibView")
CLASSES = (UNIVERSAL, APPLICATION, CONTEXT, ("P-0",))
FORMS = "PC"
CLASS_NAME = "x"    # tcpdump's defineCLASS puts the literal "x" where it meant the class's name

# Element types (tcpdump's BE_*).
OCTET, NULL, OID, INT, UNS, UNS64, STR, SEQ, INETADDR, PDU, EXCEPTION, ANY = range(12)


class Stop(Exception):
    """asn1_parse failed after printing why; the SNMP printer prints no more."""


class Element:
    __slots__ = ("type", "id", "asnlen", "at", "value")

    def __init__(self, kind: int, ident: int, asnlen: int, at: int, value=None) -> None:
        self.type, self.id, self.asnlen, self.at, self.value = kind, ident, asnlen, at, value


def parse(out: list[str], data: bytes, p: int, length: int) -> tuple[Element, int]:
    """One element at p within length bytes: (element, bytes it takes with its header)."""
    if length < 1:
        out.append("[nothing to parse]")
        raise Stop
    b = data[p]
    ident, form, cls = b & 0x1F, (b & 0x20) >> 5, (b & 0xC0) >> 6
    p, length, hdr = p + 1, length - 1, 1
    if ident == 0x1F:
        ident = 0
        while data[p] & 0x80:
            if length < 1:
                out.append("[Xtagfield?]")
                raise Stop
            ident = (ident << 7) | (data[p] & 0x7F)
            p, length, hdr = p + 1, length - 1, hdr + 1
        if length < 1:
            out.append("[Xtagfield?]")
            raise Stop
        ident = ((ident << 7) | data[p]) & 0xFF
        p, length, hdr = p + 1, length - 1, hdr + 1
    if length < 1:
        out.append("[no asnlen]")
        raise Stop
    asnlen = data[p]
    p, length, hdr = p + 1, length - 1, hdr + 1
    if asnlen & 0x80:
        noct = asnlen % 0x80
        if length < noct:
            out.append("[asnlen? %d<%d]" % (length, noct))
            raise Stop
        if len(data) < p + noct:
            raise Truncated
        asnlen = int.from_bytes(data[p:p + noct], "big") & 0xFFFFFFFF
        p, length, hdr = p + noct, length - noct, hdr + noct
    if length < asnlen:
        out.append("[len%d<asnlen%u]" % (length, asnlen))
        raise Stop
    if ident >= len(CLASSES[cls]):
        out.append("[id?%s/%s/%d]" % (FORMS[form], CLASS_NAME, ident))
        raise Stop
    if len(data) < p + asnlen:
        raise Truncated
    return _element(out, data, p, asnlen, form, cls, ident), asnlen + hdr


def _element(out: list[str], data: bytes, p: int, asnlen: int, form: int, cls: int, ident: int) -> Element:
    name = CLASSES[cls][ident]
    raw = data[p:p + asnlen]
    if form == 1:
        if cls == 0 and ident == 16:
            return Element(SEQ, ident, asnlen, p)
        if cls == 2:
            return Element(PDU, ident, asnlen, p)
        out.append("C/%s/%s" % ("U" if cls == 0 else CLASS_NAME, name))
        return Element(OCTET, ident, asnlen, p)
    if cls == 0:
        if ident == 4:
            return Element(STR, ident, asnlen, p)
        if ident == 2:
            if asnlen == 0:
                out.append("[asnlen=0]")
                raise Stop
            value = int.from_bytes(raw, "big", signed=True) & 0xFFFFFFFF
            return Element(INT, ident, asnlen, p, value - (1 << 32) if value >= 1 << 31 else value)
        if ident == 6:
            return Element(OID, ident, asnlen, p)
        if ident == 5:
            return Element(NULL, ident, asnlen, p)
        out.append("[P/U/%s]" % name)
        return Element(OCTET, ident, asnlen, p)
    if cls == 1:
        if ident == 0:
            return Element(INETADDR, ident, asnlen, p)
        if ident in (1, 2, 3):
            return Element(UNS, ident, asnlen, p, int.from_bytes(raw, "big") & 0xFFFFFFFF)
        if ident == 6:
            return Element(UNS64, ident, asnlen, p, int.from_bytes(raw, "big") & 0xFFFFFFFFFFFFFFFF)
        out.append("[P/A/%s]" % name)
        return Element(OCTET, ident, asnlen, p)
    if cls == 2:
        return Element(EXCEPTION if ident < 3 else ANY, ident, asnlen, p)
    out.append("[P/%s/%s]" % (CLASS_NAME, name))
    return Element(OCTET, ident, asnlen, p)


def element_text(data: bytes, e: Element) -> str:
    """asn1_print (with -n) for an element parse() returned."""
    raw = data[e.at:e.at + e.asnlen]
    kind = e.type
    if kind == INT or kind == UNS or kind == UNS64:
        return "%d" % e.value
    if kind == OID:
        return oid_text(raw)
    if kind == STR:
        return string_text(raw)
    if kind == OCTET:
        return "".join("_%02x" % c for c in raw)
    if kind == NULL:
        return ""
    if kind == SEQ:
        return "Seq(%u)" % e.asnlen
    if kind == INETADDR:
        return ("" if e.asnlen == 4 else "[inetaddr len!=4]") + ".".join("%u" % c for c in raw)
    if kind == EXCEPTION:
        return "[%s]" % EXCEPTIONS[e.id]
    if kind == PDU:
        return "%s(%u)" % (CONTEXT[e.id], e.asnlen)
    return "[BE_ANY!?]"


def oid_text(raw: bytes) -> str:
    parts = []
    o = 0
    for c in raw:
        o = ((o << 7) + (c & 0x7F)) & 0xFFFFFFFF
        if c & 0x80:
            continue
        if not parts:
            s = min(o // 40, 2)
            parts.append(s)
            o -= s * 40
        parts.append(o & 0xFFFFFFFF)
        o = 0
    return "".join(".%u" % x for x in parts)


def string_text(raw: bytes) -> str:
    if all(0x20 <= c <= 0x7E for c in raw):
        return '"%s"' % printable(raw)
    return "_".join("%02x" % c for c in raw)
