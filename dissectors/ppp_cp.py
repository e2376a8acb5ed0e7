"""PPP control protocols with -v (print-ppp.c's handle_ctrl_proto): the encoded length, LCP's and
IPCP's configure options, the magic numbers, rejected protocols and messages. (IPv6CP's, CCP's and
BACP's options are not decoded: their lines end after the encoded length.)"""

from __future__ import annotations

from ebcap.dissectors.extract import u16, u32
from ebcap.dissectors.hexdump import hex_dump
from ebcap.dissectors.names import ip4
from ebcap.dissectors.oui import OUIS
from ebcap.dissectors.text import printable

LCP, IPCP = 0xC021, 0x8021
VEXT, CONF_REQ, CONF_REJ, TERM_REQ, TERM_ACK, CODE_REJ, PROT_REJ = 0, 1, 4, 5, 6, 7, 8
ECHO_REQ, ECHO_RPL, DISC_REQ, IDENT, TIME_REM = 9, 10, 11, 12, 13
LCP_OPTIONS = ("Vend-Ext", "MRU", "ACCM", "Auth-Prot", "Qual-Prot", "Magic-Num", "deprecated(6)", "PFC", "ACFC",
               "FCS-Alt", "SDP", "Num-Mode", "deprecated(12)", "Call-Back", "deprecated(14)", "deprecated(15)",
               "deprecated(16)", "MRRU", "12-Bit seq #", "End-Disc", "Proprietary", "DCE-Id", "MP+", "Link-Disc",
               "LCP-Auth-Opt", "COBS", "Prefix-elision", "Multilink-header-Form", "I18N", "SDL-over-SONET/SDH",
               "PPP-Muxing")
IPCP_OPTIONS = {1: "IP-Addrs", 2: "IP-Comp", 3: "IP-Addr", 4: "Home-Addr", 129: "Pri-DNS", 130: "Pri-NBNS",
                131: "Sec-DNS", 132: "Sec-NBNS"}
IPCP_ADDRESS_OPTIONS = frozenset((3, 4, 129, 130, 131, 132))
AUTH_ALGS = {5: "MD5", 0x80: "MS-CHAPv1", 0x81: "MS-CHAPv2"}
PAP, CHAP, EAP, SPAP, SPAP_OLD, LQM, VJC = 0xC023, 0xC223, 0xC227, 0xC027, 0xC123, 0xC025, 0x002D
IPCOMP_NAMES = {VJC: "VJ-Comp", 0x61: "IPHC"}


class _Stop(Exception):
    """An option printer returned 0: no more options."""


def control_verbose(nd, proto: int, data: bytes, off: int, length: int, code: int, names: dict) -> None:
    """After the headline: `off` is the control packet's code byte, `length` its length."""
    out = nd.out
    encoded = u16(data, off + 2)[0]
    if encoded < 4:
        out.append("\n\tencoded length %u (< 4))" % encoded)
        return
    if encoded > length:
        out.append("\n\tencoded length %u (> packet length %u))" % (encoded, length))
        return
    captured = min(length, len(data) - off)     # the PPP packet's bytes (its layer below cuts there)
    length = encoded
    out.append("\n\tencoded length %u (=Option(s) length %u)" % (encoded, encoded - 4))
    if length == 4:
        return
    if nd.verbose > 1:
        out.append(hex_dump(data[off - 2:off + 4], "\n\t"))
    at = off + 4
    if code == VEXT:
        if length >= 11:
            oui = int.from_bytes(data[at + 4:at + 7], "big")
            out.append("\n\t  Magic-Num 0x%08x Vendor: %s (%u)" % (u32(data, at)[0], OUIS.get(oui, "Unknown"), oui))
    elif CONF_REQ <= code <= CONF_REJ:
        printer = {LCP: _lcp_option, IPCP: _ipcp_option}.get(proto)
        left = encoded - 4
        while printer is not None and left:
            try:
                advance = printer(nd, data, at, encoded, names)
            except _Stop:
                break
            if left < advance:
                out.append(" [remaining options length %u < %u] (invalid)" % (left, advance))
                break
            left -= advance
            at += advance
    elif code in (TERM_REQ, TERM_ACK, CODE_REJ):
        pass
    elif code == PROT_REJ:
        if length >= 6:
            rejected = u16(data, at)[0]
            out.append("\n\t  Rejected %s Protocol (0x%04x)" % (names.get(rejected, "unknown"), rejected))
            if encoded > 6:
                out.append("\n\t  Rejected Packet" + hex_dump(data[at + 2:at + encoded - 2], "\n\t    "))
    elif code in (ECHO_REQ, ECHO_RPL, DISC_REQ):
        if length >= 8:
            out.append("\n\t  Magic-Num 0x%08x" % u32(data, at)[0])
            if encoded > 8:
                trailing = data[at + 4:at + encoded - 4]
                if len(trailing) < encoded - 8:
                    raise IndexError
                out.append("\n\t  -----trailing data-----" + hex_dump(trailing, "\n\t  "))
    elif code == IDENT:
        if length >= 8:
            out.append("\n\t  Magic-Num 0x%08x" % u32(data, at)[0])
            if encoded > 8:
                # print-ppp.c prints length - 4 bytes from the message's start, 4 more than it has:
                # they run past the packet into the truncation marker, unless the capture goes on.
                end = min(at + 4 + encoded - 4, off + captured)
                out.append("\n\t  Message\n\t    " + printable(data[at + 4:end]))
                if end < at + encoded:
                    out.append("[|%s]" % names.get(proto, "unknown ctrl-proto (0x%04x)" % proto))
    elif code == TIME_REM:
        if length >= 12:
            out.append("\n\t  Magic-Num 0x%08x, Seconds-Remaining %us" % (u32(data, at)[0], u32(data, at + 4)[0]))
    elif nd.verbose <= 1:
        out.append(hex_dump(data[off - 2:off + length], "\n\t  "))


def _option_header(data: bytes, at: int, length: int) -> tuple[int, int]:
    if length < 2:
        raise _Stop
    if len(data) < at + 2:
        raise IndexError
    opt, olen = data[at], data[at + 1]
    if length < olen:
        raise _Stop
    return opt, olen


def _lcp_option(nd, data: bytes, at: int, length: int, names: dict) -> int:
    """print_lcp_config_options; returns the option's length."""
    out = nd.out
    opt, olen = _option_header(data, at, length)
    known = opt < len(LCP_OPTIONS)
    if olen < 2:
        out.append("\n\t  %s Option (0x%02x), length %u (length bogus, should be >= 2)" % (LCP_OPTIONS[opt], opt, olen)
                   if known else "\n\tunknown LCP option 0x%02x" % opt)
        raise _Stop
    if not known:
        out.append("\n\tunknown LCP option 0x%02x" % opt)
        return olen
    out.append("\n\t  %s Option (0x%02x), length %u" % (LCP_OPTIONS[opt], opt, olen))
    if len(data) < at + olen:
        raise IndexError
    v = data[at + 2:at + olen]

    def bogus(text: str, stop: bool) -> int:
        out.append(" (length bogus, should be %s)" % text)
        if stop:
            raise _Stop
        return olen

    if opt == 0:
        if olen < 6:
            return bogus(">= 6", False)
        oui = int.from_bytes(v[:3], "big")
        out.append(": Vendor: %s (%u)" % (OUIS.get(oui, "Unknown"), oui))
    elif opt == 1:
        if olen != 4:
            return bogus("= 4", False)
        out.append(": %u" % u16(v, 0)[0])
    elif opt == 2:
        if olen != 6:
            return bogus("= 6", False)
        out.append(": 0x%08x" % u32(v, 0)[0])
    elif opt == 3:
        if olen < 4:
            return bogus(">= 4", False)
        auth = u16(v, 0)[0]
        out.append(": %s" % names.get(auth, "Unknown Auth Proto (0x04x)"))
        if auth == CHAP:
            alg = data[at + 4]      # read whatever the option's length, as print-ppp.c does
            out.append(", %s" % AUTH_ALGS.get(alg, "Unknown Auth Alg %u" % alg))
        elif auth not in (PAP, EAP, SPAP, SPAP_OLD):
            out.append(hex_dump(data[at:at + olen], "\n\t"))
    elif opt == 4:
        if olen < 4:
            return bogus(">= 4", True)
        out.append(": LQR" if u16(v, 0)[0] == LQM else ": unknown")
    elif opt == 5:
        if olen != 6:
            return bogus("= 6", True)
        out.append(": 0x%08x" % u32(v, 0)[0])
    elif opt in (7, 8):
        pass
    elif opt == 23:
        if olen != 4:
            return bogus("= 4", True)
        out.append(": 0x%04x" % u16(v, 0)[0])
    elif opt == 17:
        if olen != 4:
            return bogus("= 4", True)
        out.append(": %u" % u16(v, 0)[0])
    elif nd.verbose < 2:
        out.append(hex_dump(v, "\n\t    "))
    if nd.verbose > 1:
        out.append(hex_dump(v, "\n\t    "))
    return olen


def _ipcp_option(nd, data: bytes, at: int, length: int, _names: dict) -> int:
    """print_ipcp_config_options (IP-Comp's header compression parameters are not decoded)."""
    out = nd.out
    opt, olen = _option_header(data, at, length)
    name = IPCP_OPTIONS.get(opt, "unknown")
    if olen < 2:
        out.append("\n\t  %s Option (0x%02x), length %u (length bogus, should be >= 2)" % (name, opt, olen))
        raise _Stop
    out.append("\n\t  %s Option (0x%02x), length %u" % (name, opt, olen))
    if len(data) < at + olen:
        raise IndexError
    v = data[at + 2:at + olen]
    if opt == 1:
        if olen != 10:
            out.append(" (length bogus, should be = 10)")
            return olen
        out.append(": src %s, dst %s" % (ip4(v[:4]), ip4(v[4:8])))
    elif opt == 2:
        if olen < 4:
            out.append(" (length bogus, should be >= 4)")
            raise _Stop
        comp = u16(v, 0)[0]
        out.append(": %s (0x%02x):" % (IPCOMP_NAMES.get(comp, "Unknown"), comp))
    elif opt in IPCP_ADDRESS_OPTIONS:
        if olen != 6:
            out.append(" (length bogus, should be = 6)")
            raise _Stop
        out.append(": %s" % ip4(v[:4]))
    elif nd.verbose < 2:
        out.append(hex_dump(v, "\n\t    "))
    if nd.verbose > 1:
        out.append(hex_dump(v, "\n\t    "))
    return olen
