"""DHCP options (print-bootp.c's rfc1048_print), -v: each option's name, length and value.
(The FQDN, User-Class and Agent-Information options are named but their values not decoded.)"""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.names import ip4
from ebcap.dissectors.text import printable

# tcpdump's tag2str: the first character says how the value prints (see _value).
TAGS = {
        0: " PAD", 1: "iSubnet-Mask", 2: "LTime-Zone", 3: "iDefault-Gateway", 4: "iTime-Server", 5:
        "iIEN-Name-Server", 6: "iDomain-Name-Server", 7: "iLOG", 8: "iCS", 9: "iLPR-Server", 10: "iIM",
        11: "iRL", 12: "aHostname", 13: "sBS", 255: " END", 14: "aDP", 15: "aDomain-Name", 16: "iSS",
        17: "aRP", 18: "aEP", 19: "BIPF", 20: "BSRT", 21: "pPF", 22: "sRSZ", 23: "bTTL", 24:
        "lMTU-Timeout", 25: "sMTU-Table", 26: "sMTU", 27: "BLSN", 28: "iBR", 29: "BMD", 30: "BMS", 31:
        "BRouter-Discovery", 32: "iRSA", 33: "pStatic-Route", 34: "BUT", 35: "lAT", 36: "BIE", 37:
        "bTT", 38: "lKI", 39: "BKG", 40: "aYD", 41: "iYS", 42: "iNTP", 43: "bVendor-Option", 44:
        "iNetbios-Name-Server", 45: "iWDD", 46: "$Netbios-Node", 47: "aNetbios-Scope", 48: "iXFS", 49:
        "iXDM", 64: "sN+D", 65: "iN+S", 68: "iMH", 69: "iSMTP", 70: "iPOP3", 71: "iNNTP", 72: "iWWW",
        73: "iFG", 74: "iIRC", 75: "iSTS", 76: "iSTDA", 50: "iRequested-IP", 51: "lLease-Time", 52:
        "$OO", 66: "aTFTP", 67: "aBF", 53: " DHCP-Message", 54: "iServer-ID", 55: "bParameter-Request",
        56: "aMSG", 57: "sMSZ", 58: "lRN", 59: "lRB", 60: "aVendor-Class", 61: "$Client-ID", 98: "aUAP",
        116: "BNOAUTO", 78: "bSLP-DA", 79: "bSLP-SCOPE", 117: "sNSSEARCH", 77: "$User-Class", 118:
        "iSUBNET", 121: "$Classless-Static-Route", 249: "$Classless-Static-Route-Microsoft", 150:
        "iTFTP-Server-Address", 80: "aSLP-NA", 81: "$FQDN", 82: "$Agent-Information", 83: "bARMT", 88:
        "aTZSTR", 89: "bFQDNS", 90: "bAUTH", 91: "LLast-Transaction-Time", 92: "iAssociated-IP", 93:
        "sARCH", 94: "bNDI", 97: "bGUID", 95: "aLDAP", 100: "aPOSIX-TZ", 101: "aTZ-Name", 112: "iNI",
        113: "aNITAG", 114: "aURL", 161: "aMUD-URL",
}
MESSAGES = {1: "Discover", 2: "Offer", 3: "Request", 4: "Decline", 5: "ACK", 6: "NACK", 7: "Release",
            8: "Inform", 10: "LeaseQuery", 11: "LeaseUnassigned", 12: "LeaseUnknown", 13: "LeaseActive"}
HARDWARE = {1: "ether", 6: "ieee802", 7: "arcnet", 15: "frelay", 23: "strip", 24: "ieee1394"}
NETBIOS_NODES = {1: "b-node", 2: "p-node", 4: "m-node", 8: "h-node"}
OVERLOAD = {1: "file", 2: "sname", 3: "file+sname"}
PAD, END, MESSAGE, PARAMETER_REQUEST = 0, 255, 53, 55


def rfc1048_print(nd, data: bytes, bp: int) -> None:
    out = nd.out
    out.append("\n\t  Vendor-rfc1048 Extensions\n\t    Magic Cookie 0x%08x" % struct.unpack_from("!I", data, bp)[0])
    bp += 4
    verbose = nd.verbose
    while bp < len(data):
        tag = data[bp]
        bp += 1
        if tag in (PAD, END) and verbose < 3:
            if tag == END:
                return
            continue
        desc = TAGS.get(tag, "?Unknown")
        length = 0 if tag in (PAD, END) else data[bp]
        if tag not in (PAD, END):
            bp += 1
        out.append("\n\t    %s (%u), length %u%s" % (desc[1:], tag, length, ": " if length else ""))
        if tag == PAD:
            run = 1
            while bp < len(data) and data[bp] == PAD:
                bp, run = bp + 1, run + 1
            if run > 1:
                out.append(", occurs %u" % run)
        if len(data) < bp + length:
            raise Truncated
        value = data[bp:bp + length]
        bp += length
        if tag == MESSAGE and length == 1:
            out.append(MESSAGES.get(value[0], "Unknown (%u)" % value[0]))
        elif tag == PARAMETER_REQUEST:
            for i, inner in enumerate(value):
                out.append(("\n\t      " if i % 4 == 0 else ", ") + "%s (%u)" % (
                    TAGS.get(inner, "?Unknown")[1:], inner))
        else:
            left = _value(out, desc[0], tag, value)
            if left:
                out.append("\n\t  trailing data length %u" % left)


def _value(out: list[str], c: str, tag: int, v: bytes) -> int:
    """The value in the tag's format; returns the bytes left over."""
    n = len(v)
    if c == "?":
        c = "b" if n & 1 else "s" if n & 2 else "l"
    if c == "a":
        out.append('"%s"' % printable(v))
        return 0
    if c in "ilL":
        fmt = {"i": lambda w: ip4(w), "l": lambda w: "%u" % struct.unpack("!I", w)[0],
               "L": lambda w: "%d" % struct.unpack("!i", w)[0]}[c]
        out.append(",".join(fmt(v[i:i + 4]) for i in range(0, n - 3, 4)))
        return n % 4
    if c == "p":
        out.append(",".join("(%s:%s)" % (ip4(v[i:i + 4]), ip4(v[i + 4:i + 8])) for i in range(0, n - 7, 8)))
        return n % 8
    if c == "s":
        out.append(",".join("%u" % struct.unpack_from("!H", v, i)[0] for i in range(0, n - 1, 2)))
        return n % 2
    if c == "B":
        out.append(",".join("N" if b == 0 else "Y" if b == 1 else "%u?" % b for b in v))
        return 0
    if c == "$":
        return _special(out, tag, v)
    out.append((":" if c == "x" else ".").join(("%02x" if c == "x" else "%u") % b for b in v))
    return 0


def _special(out: list[str], tag: int, v: bytes) -> int:
    if tag in (46, 52, 61) and not v:
        out.append("[ERROR: length < 1 bytes]")
        return 0
    if tag == 46:
        out.append(NETBIOS_NODES.get(v[0], "#%d" % v[0]))
        return len(v) - 1
    if tag == 52:
        out.append(OVERLOAD.get(v[0], "#%d" % v[0]))
        return len(v) - 1
    if tag == 61:
        if v[0] == 0:
            out.append('"%s"' % printable(v[1:]))
        else:
            out.append("%s %s" % (HARDWARE.get(v[0], "hardware-type %u," % v[0]), v[1:].hex(":")))
        return 0
    if tag in (121, 249):
        _classless_routes(out, v)
        return 0
    return 0


def _classless_routes(out: list[str], v: bytes) -> None:
    if len(v) < 5:
        out.append("[ERROR: length < 5 bytes]")
        return
    i, routes = 0, []
    while i < len(v):
        width = v[i]
        i += 1
        if width > 32:
            routes.append("[ERROR: Mask width (%u) > 32]" % width)
            break
        octets = (width + 7) // 8
        if len(v) - i < octets + 4:
            routes.append("[ERROR: Remaining length (%u) < %u bytes]" % (len(v) - i, octets + 4))
            break
        if width == 0:
            net = "default"
        else:
            net = ".".join("%u" % b for b in v[i:i + octets]) + ".0" * (4 - octets) + "/%u" % width
        routes.append("(%s:%s)" % (net, ip4(v[i + octets:i + octets + 4])))
        i += octets + 4
    out.append(",".join(routes))
