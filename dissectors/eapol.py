"""EAPOL / 802.1X (print-eap.c; ethertype 0x888e): frame type, version and length; -v's EAP packet."""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u16
from ebcap.dissectors.text import printjn

FRAME_TYPES = {0: "EAP packet", 1: "EAPOL start", 2: "EAPOL logoff", 3: "EAPOL key", 4: "Encapsulated ASF alert"}
CODES = {1: "Request", 2: "Response", 3: "Success", 4: "Failure"}
EAP_TYPES = {0: "No proposed", 1: "Identity", 2: "Notification", 3: "Nak", 4: "MD5-challenge", 5: "OTP",
             6: "GTC", 13: "TLS", 18: "SIM", 21: "TTLS", 23: "AKA", 43: "FAST", 254: "Expanded types",
             255: "Experimental"}
_FRAME = struct.Struct("!BBH").unpack_from


def eapol_print(nd, data: bytes, off: int, _length: int) -> None:
    nd.proto = "eap"
    version, kind, elen = _FRAME(data, off)
    nd.out.append("%s (%u) v%u, len %u" % (FRAME_TYPES.get(kind, "unknown"), kind, version, elen))
    if nd.verbose and kind == 0:
        if elen == 0:
            raise Truncated
        nd.out.append(", ")
        eap_print(nd.out, data, off + 4, elen)


def eap_print(out: list[str], data: bytes, cp: int, length: int) -> None:
    """An EAP packet's code, id and type; an identity or notification's text. (The method-specific
    fields of TLS, TTLS, FAST, SIM and AKA are not decoded.)"""
    code = data[cp]
    elen = u16(data, cp + 2)[0]
    if elen != length:
        out.append("EAP fragment?")
        return
    out.append("%s (%u), id %u, len %u" % (CODES.get(code, "unknown"), code, data[cp + 1], elen))
    if elen < 4:
        out.append(" (too short for EAP header)")
        return
    if len(data) < cp + elen:
        raise Truncated
    if code not in (1, 2):
        return
    if elen < 5:
        out.append(" (too short for EAP request/response)")
        return
    kind = data[cp + 4]
    out.append("\n\t\t Type %s (%u)" % (EAP_TYPES.get(kind, "unknown"), kind))
    if kind == 1 and elen > 5:
        out.append(", Identity: " + printjn(data[cp + 5:cp + elen]))
    elif kind == 2:
        if elen < 6:
            out.append(" (too short for EAP Notification request/response)")
            return
        out.append(", Notification: " + printjn(data[cp + 5:cp + elen]))
