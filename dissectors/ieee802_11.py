"""IEEE 802.11 (print-802_11.c), without -e: data frames print what their LLC/SNAP header
carries, control frames their name and address, the everyday management frames their name and
SSID. Radiotap (dissectors/radiotap.py) hands the frame on here."""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.ethernet import ethertype_print, ethertype_text
from ebcap.dissectors.ieee802_11_text import AUTH_ALG_TEXT, REASON_TEXT, STATUS_TEXT
from ebcap.dissectors.names import mac

T_MGMT, T_CTRL, T_DATA = 0, 1, 2
MGMT_HDRLEN = 24
# control subtypes: (name, header length, where the address printed after the name is, its label)
CTRL = {7: ("Control Wrapper", 10, None, ""), 8: ("BAR", 16, None, ""), 9: ("BA", 16, 4, "RA"),
        10: ("Power Save-Poll", 16, None, ""), 11: ("Request-To-Send", 16, 10, "TA"),
        12: ("Clear-To-Send", 10, 4, "RA"), 13: ("Acknowledgment", 10, 4, "RA"),
        14: ("CF-End", 16, 4, "RA"), 15: ("CF-End+CF-Ack", 16, 4, "RA")}
MGMT_NAMES = {0: "Assoc Request", 1: "Assoc Response", 2: "ReAssoc Request", 3: "ReAssoc Response",
              4: "Probe Request", 5: "Probe Response", 8: "Beacon", 9: "ATIM",
              10: "Disassociation", 11: "Authentication", 12: "DeAuthentication", 13: "Action"}
ST_PROBE_REQUEST, ST_PROBE_RESPONSE, ST_BEACON = 4, 5, 8
E_SSID, E_RATES, E_DS = 0, 1, 3
LLC_SNAP = b"\xaa\xaa\x03"


def ieee802_11_if_print(nd, data: bytes, length: int) -> None:
    nd.ll_len = ieee802_11_print(nd, data, 0, length, pad=False, fcslen=0)


def ieee802_11_print(nd, data: bytes, off: int, length: int, pad: bool, fcslen: int) -> int:
    """The frame at `off`; returns the length of its 802.11 (and LLC) header."""
    nd.proto = "802.11"
    caplen = len(data) - off
    if caplen < fcslen or length < fcslen:
        raise Truncated
    caplen, length = caplen - fcslen, length - fcslen
    if caplen < 2:
        raise Truncated
    fc = struct.unpack_from("<H", data, off)[0]
    kind, subtype = (fc >> 2) & 3, (fc >> 4) & 0xF
    hdrlen = _header_length(nd, kind, subtype, fc)
    if pad:
        hdrlen = (hdrlen + 3) & ~3
    if caplen < hdrlen:
        raise Truncated
    if nd.link_header:
        _header_print(nd, data, off, kind, subtype, fc)
    body, length, caplen = off + hdrlen, length - hdrlen, caplen - hdrlen
    if kind == T_MGMT:
        _mgmt_print(nd, data, body, subtype, caplen)
    elif kind == T_CTRL:
        _ctrl_print(nd, data, off, subtype)
    elif kind == T_DATA:
        if subtype & 0x04:              # a frame without data
            return hdrlen
        if fc & 0x4000:                 # protected: tcpdump's WEP line
            nd.out.append("Data")
            if caplen < 4:
                raise Truncated
            iv = data[body:body + 4]
            nd.out.append(" IV:%3x Pad %x KeyID %x" % (int.from_bytes(iv[:3], "big"),
                                                        iv[3] & 0x3F, iv[3] >> 6))
            return hdrlen
        return hdrlen + _llc_print(nd, data[:off + hdrlen + caplen], body, length)
    return hdrlen


def _header_length(nd, kind: int, subtype: int, fc: int) -> int:
    if kind == T_MGMT:
        return MGMT_HDRLEN
    if kind == T_CTRL:
        if subtype in CTRL:
            return CTRL[subtype][1]
        nd.out.append("unknown 802.11 ctrl frame subtype (%u)" % subtype)
        return 0
    if kind == T_DATA:
        hdrlen = 30 if fc & 0x0300 == 0x0300 else 24
        return hdrlen + 2 if subtype & 0x08 else hdrlen
    nd.out.append("unknown 802.11 frame type (%u)" % kind)
    return 0


def _header_print(nd, data: bytes, off: int, kind: int, subtype: int, fc: int) -> None:
    """-e: the addresses, named by what they are in this kind of frame (tcpdump's
    ieee_802_11_hdr_print, without -v's flags)."""
    def addr(n: int) -> str:
        return mac(data[off + 4 + 6 * n:off + 10 + 6 * n])
    out = nd.out
    if kind == T_MGMT:
        out.append("BSSID:%s DA:%s SA:%s " % (addr(2), addr(0), addr(1)))
    elif kind == T_DATA:
        if subtype & 0x0B:              # CF-Ack, CF-Poll, QoS
            cf = {1: "Ack", 2: "Poll", 3: "Ack/Poll"}.get(subtype & 3, "")
            out.append("CF %s%s " % (cf, "+QoS" if subtype & 0x08 else ""))
        names = {0x0000: ("DA", "SA", "BSSID"), 0x0200: ("DA", "BSSID", "SA"),
                 0x0100: ("BSSID", "SA", "DA"), 0x0300: ("RA", "TA", "DA", "SA")}[fc & 0x0300]
        out.append("".join("%s:%s " % (name, addr(n)) for n, name in enumerate(names)))
    elif kind == T_CTRL:
        if subtype in (9, 12, 13):      # BA, CTS, ACK
            out.append("RA:%s " % addr(0))
        elif subtype in (8, 11):        # BAR, RTS
            out.append("RA:%s TA:%s " % (addr(0), addr(1)))
            if subtype == 8 and len(data) >= off + 20:
                out.append("CTL(%x) SEQ(%u) " % struct.unpack_from("<HH", data, off + 16))
        elif subtype == 10:             # PS-Poll
            out.append("BSSID:%s TA:%s " % (addr(0), addr(1)))
        elif subtype in (14, 15):       # CF-End, CF-End+CF-Ack
            out.append("RA:%s BSSID:%s " % (addr(0), addr(1)))


def _ctrl_print(nd, data: bytes, off: int, subtype: int) -> None:
    name, _hdrlen, addr, label = CTRL.get(subtype, ("Unknown Ctrl Subtype", 0, None, ""))
    nd.out.append(name)
    if nd.link_header:
        return
    if addr is not None:
        nd.out.append(" %s:%s " % (label, mac(data[off + addr:off + addr + 6])))
    elif subtype == 10:
        nd.out.append(" AID(%x)" % struct.unpack_from("<H", data, off + 2)[0])


def _mgmt_print(nd, data: bytes, body: int, subtype: int, caplen: int) -> None:
    name = MGMT_NAMES.get(subtype)
    if name is None:
        nd.out.append("Unhandled Management subtype(%x)" % subtype)
        return
    nd.out.append(name)
    if subtype in BODY_PRINTERS:
        BODY_PRINTERS[subtype](nd, data, body, caplen)
        return
    if subtype not in (ST_PROBE_REQUEST, ST_PROBE_RESPONSE, ST_BEACON):
        return
    fixed = 0 if subtype == ST_PROBE_REQUEST else 12    # timestamp, interval, capabilities
    if caplen < fixed:
        raise Truncated
    capability = struct.unpack_from("<H", data, body + 10)[0] if fixed else 0
    ssid, rates, channel = _elements(data, body + fixed, body + caplen)
    nd.out.append(" (%s)" % ssid)
    if rates:
        nd.out.append(" [" + " ".join("%2.1f%s" % (0.5 * (r & 0x7F), "*" if r & 0x80 else "")
                                      for r in rates) + " Mbit]")
    if subtype == ST_BEACON:
        nd.out.append(" %s" % ("ESS" if capability & 0x0001 else "IBSS"))
    if fixed:
        if channel is not None:
            nd.out.append(" CH: %u" % channel)
        if capability & 0x0010:
            nd.out.append(", PRIVACY")


def _rates_text(rates: list[int]) -> str:
    return " [" + " ".join("%2.1f%s" % (0.5 * (r & 0x7F), "*" if r & 0x80 else "") for r in rates) + " Mbit]"


def _status(code: int) -> str:
    return STATUS_TEXT[code] if code < len(STATUS_TEXT) else "n/a"


def _reason(code: int) -> str:
    return REASON_TEXT[code] if code < len(REASON_TEXT) else "Reserved"


def _need(caplen: int, n: int) -> None:
    if caplen < n:
        raise Truncated


def _assoc_request(nd, data: bytes, body: int, caplen: int) -> None:
    _need(caplen, 4)
    ssid, rates, _ = _elements(data, body + 4, body + caplen, present=True)
    if ssid is not None:
        nd.out.append(" (%s)" % ssid)
    if rates:
        nd.out.append(_rates_text(rates))


def _assoc_response(nd, data: bytes, body: int, caplen: int) -> None:
    _need(caplen, 6)
    capability, status, aid = struct.unpack_from("<HHH", data, body)
    nd.out.append(" AID(%x) :%s: %s" % (aid & 0x3FFF, " PRIVACY " if capability & 0x0010 else "", _status(status)))


def _reassoc_request(nd, data: bytes, body: int, caplen: int) -> None:
    _need(caplen, 10)
    ssid, _, _ = _elements(data, body + 10, body + caplen, present=True)
    if ssid is not None:
        nd.out.append(" (%s)" % ssid)
    nd.out.append(" AP : %s" % mac(data[body + 4:body + 10]))


def _disassoc(nd, data: bytes, body: int, caplen: int) -> None:
    _need(caplen, 2)
    nd.out.append(": %s" % _reason(struct.unpack_from("<H", data, body)[0]))


def _auth(nd, data: bytes, body: int, caplen: int) -> None:
    _need(caplen, 6)
    alg, seq, status = struct.unpack_from("<HHH", data, body)
    alg_text = AUTH_ALG_TEXT[alg] if alg < len(AUTH_ALG_TEXT) else "Reserved"
    status_text = _status(status) if seq % 2 else ""
    if alg == 1 and seq in (2, 3):
        nd.out.append(" (%s)-%x [Challenge Text] %s" % (alg_text, seq, status_text))
    else:
        nd.out.append(" (%s)-%x: %s" % (alg_text, seq, status_text))


def _deauth(nd, data: bytes, body: int, caplen: int) -> None:
    _need(caplen, 2)
    reason = _reason(struct.unpack_from("<H", data, body)[0])
    if nd.link_header:
        nd.out.append(": %s" % reason)
    else:
        nd.out.append(" (%s): %s" % (mac(data[body - MGMT_HDRLEN + 10:body - MGMT_HDRLEN + 16]), reason))


def _atim(nd, data: bytes, body: int, caplen: int) -> None:
    pass


BODY_PRINTERS = {0: _assoc_request, 1: _assoc_response, 2: _reassoc_request, 3: _assoc_response, 9: _atim,
                 10: _disassoc, 11: _auth, 12: _deauth}


def _elements(data: bytes, off: int, end: int, present: bool = False) -> tuple[str | None, list[int], int | None]:
    """The SSID, supported rates and DS channel of the information elements in [off, end); with
    `present`, no SSID element gives None (PRINT_SSID's ssid_present) rather than ''."""
    ssid, rates, channel = (None if present else ""), [], None
    while off + 2 <= end:
        eid, elen = data[off], data[off + 1]
        value = data[off + 2:off + 2 + elen]
        if len(value) < elen:
            break
        if eid == E_SSID and elen <= 32:
            ssid = "".join(chr(c) if 0x20 <= c < 0x7F else "." for c in value)
        elif eid == E_RATES:
            rates += list(value)
        elif eid == E_DS and elen >= 1:
            channel = value[0]
        off += 2 + elen
    return ssid, rates, channel


def _llc_print(nd, data: bytes, off: int, length: int) -> int:
    """LLC/SNAP with an ethertype (what 802.11 data carries); other LLC as raw bytes."""
    nd.proto = "llc"
    if len(data) - off < 3:
        raise Truncated
    if data[off:off + 3] != LLC_SNAP:
        nd.default_print(data[off:])
        return 0
    if len(data) - off < 8:
        raise Truncated
    etype = struct.unpack_from(">H", data, off + 6)[0]
    if nd.link_header:
        nd.out.append("LLC, dsap SNAP (0xaa) Individual, ssap SNAP (0xaa) Command, ctrl 0x03: "
                      "oui Ethernet (0x000000), %s, length %u: " % (ethertype_text(nd, etype),
                                                                     length - 8))
    if data[off + 3:off + 6] != b"\0\0\0" or not ethertype_print(nd, etype, data, off + 8, length - 8):
        nd.default_print(data[off + 8:])
    return 8
