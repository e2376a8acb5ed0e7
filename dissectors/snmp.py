"""SNMP v1/v2c (print-snmp.c; udp 161/162), as tcpdump -n prints it without libsmi: community,
PDU, request fields and variable bindings, numeric OIDs. (SNMPv3's message header is not decoded,
and without -n tcpdump abbreviates well-known OID prefixes, which ebcap does not.)"""

from __future__ import annotations

from ebcap.dissectors import asn1
from ebcap.dissectors.asn1 import Stop, element_text, parse

VERSIONS = ("SNMPv1", "SNMPv2c", "SNMPv2u", "SNMPv3")
ERRORS = ("noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess", "wrongType",
          "wrongLength", "wrongEncoding", "wrongValue", "noCreation", "inconsistentValue",
          "resourceUnavailable", "commitFailed", "undoFailed", "authorizationError", "notWritable",
          "inconsistentName")
GENERIC_TRAPS = ("coldStart", "warmStart", "linkDown", "linkUp", "authenticationFailure", "egpNeighborLoss",
                 "enterpriseSpecific")
GETREQ, GETNEXTREQ, GETRESP, SETREQ, TRAP, GETBULKREQ, INFORMREQ, V2TRAP, REPORT = range(9)
REQUESTS = (GETREQ, GETNEXTREQ, GETBULKREQ)
NOT_RESPONSES = (GETREQ, GETNEXTREQ, SETREQ, INFORMREQ, V2TRAP, REPORT)


def snmp_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "snmp"
    out = nd.out
    out.append(" ")
    try:
        _message(nd, data, pay, length)
    except Stop:
        pass


def _nested(printer, *args) -> None:
    """A part whose failure ends only that part: tcpdump's caller goes on to close its braces."""
    try:
        printer(*args)
    except Stop:
        pass


def _expect(out: list[str], data: bytes, p: int, length: int, kind: int, complaint: str):
    """The next element, which must be of this type; else the complaint and the element, and stop."""
    e, count = parse(out, data, p, length)
    if e.type != kind:
        out.append(complaint + element_text(data, e))
        raise Stop
    return e, count


def _message(nd, data: bytes, p: int, length: int) -> None:
    out = nd.out
    e, count = _expect(out, data, p, length, asn1.SEQ, "[!init SEQ]")
    if count < length:
        out.append("[%d extra after iSEQ]" % (length - count))
    p, length = e.at, e.asnlen
    e, count = _expect(out, data, p, length, asn1.INT, "[version!=INT]")
    version = e.value
    if version not in (0, 1, 3):
        out.append("SNMP [version = %d]" % version)
        return
    if nd.verbose:
        out.append("{ %s " % VERSIONS[version])
    if version != 3:
        _nested(_community, nd, data, p + count, length - count, version)
    if nd.verbose:
        out.append("} ")


def _community(nd, data: bytes, p: int, length: int, version: int) -> None:
    out = nd.out
    e, count = _expect(out, data, p, length, asn1.STR, "[comm!=STR]")
    if data[e.at:e.at + e.asnlen] != b"public":
        out.append("C=%s " % element_text(data, e))
    _pdu(nd, data, p + count, length - count, version)


def _pdu(nd, data: bytes, p: int, length: int, version: int) -> None:
    out = nd.out
    pdu, count = parse(out, data, p, length)
    if pdu.type != asn1.PDU:
        out.append("[no PDU]")
        return
    if count < length:
        out.append("[%d extra after PDU]" % (length - count))
    if nd.verbose:
        out.append("{ ")
    out.append(element_text(data, pdu) + " ")
    if version == 0 and pdu.id in (GETBULKREQ, INFORMREQ, V2TRAP, REPORT):
        out.append("[v2 PDU in v1 message]")
        return
    if version == 1 and pdu.id == TRAP:
        out.append("[v1 PDU in v2 message]")
        return
    if pdu.id == TRAP:
        _nested(_trap, nd, data, pdu.at, pdu.asnlen)
    else:
        _nested(_request, nd, pdu.id, data, pdu.at, pdu.asnlen)
    if nd.verbose:
        out.append(" } ")


def _error_name(code: int) -> str:
    return ERRORS[code] if 0 <= code < len(ERRORS) else "err=%u" % (code & 0xFFFFFFFF)


def _request(nd, pduid: int, data: bytes, p: int, length: int) -> None:
    out = nd.out
    e, count = _expect(out, data, p, length, asn1.INT, "[reqId!=INT]")
    if nd.verbose:
        out.append("R=%d " % e.value)
    p, length = p + count, length - count
    e, count = _expect(out, data, p, length, asn1.INT, "[errorStatus!=INT]")
    status = 0
    if pduid in NOT_RESPONSES and e.value:
        out.append("[errorStatus(%s)!=0]" % _error_name(e.value))
    elif pduid == GETBULKREQ:
        out.append(" N=%d" % e.value)
    elif e.value:
        out.append(" " + _error_name(e.value))
        status = e.value
    p, length = p + count, length - count
    e, count = _expect(out, data, p, length, asn1.INT, "[errorIndex!=INT]")
    if pduid in NOT_RESPONSES and e.value:
        out.append("[errorIndex(%d)!=0]" % e.value)
    elif pduid == GETBULKREQ:
        out.append(" M=%d" % e.value)
    elif e.value:
        out.append("@%d" % e.value if status else "[errorIndex(%d) w/o errorStatus]" % e.value)
    elif status:
        out.append("[errorIndex==0]")
    _varbinds(nd, pduid, data, p + count, length - count)


def _trap(nd, data: bytes, p: int, length: int) -> None:
    out = nd.out
    out.append(" ")
    e, count = _expect(out, data, p, length, asn1.OID, "[enterprise!=OID]")
    out.append(element_text(data, e) + " ")
    p, length = p + count, length - count
    e, count = _expect(out, data, p, length, asn1.INETADDR, "[agent-addr!=INETADDR]")
    out.append(element_text(data, e))
    p, length = p + count, length - count
    e, count = _expect(out, data, p, length, asn1.INT, "[generic-trap!=INT]")
    generic = e.value
    out.append(" " + (GENERIC_TRAPS[generic] if 0 <= generic < len(GENERIC_TRAPS) else "gt=%d" % generic))
    p, length = p + count, length - count
    e, count = _expect(out, data, p, length, asn1.INT, "[specific-trap!=INT]")
    if generic != 6:
        if e.value:
            out.append("[specific-trap(%d)!=0]" % e.value)
    else:
        out.append(" s=%d" % e.value)
    out.append(" ")
    p, length = p + count, length - count
    e, count = _expect(out, data, p, length, asn1.UNS, "[time-stamp!=TIMETICKS]")
    out.append(element_text(data, e))
    _varbinds(nd, TRAP, data, p + count, length - count)


def _varbinds(nd, pduid: int, data: bytes, p: int, length: int) -> None:
    out = nd.out
    e, count = _expect(out, data, p, length, asn1.SEQ, "[!SEQ of varbind]")
    if count < length:
        out.append("[%d extra after SEQ of varbind]" % (length - count))
    p, length = e.at, e.asnlen
    while length:
        out.append(" ")
        e, count = _expect(out, data, p, length, asn1.SEQ, "[!varbind]")
        next_p, next_length = p + count, length - count
        p, length = e.at, e.asnlen
        e, count = _expect(out, data, p, length, asn1.OID, "[objName!=OID]")
        out.append(element_text(data, e))
        p, length = p + count, length - count
        if pduid not in REQUESTS:
            out.append("=")
        value, count = parse(out, data, p, length)
        if pduid in REQUESTS:
            if value.type != asn1.NULL:
                out.append("[objVal!=NULL]" + element_text(data, value))
        elif value.type != asn1.NULL:
            out.append(element_text(data, value))
        p, length = next_p, next_length
