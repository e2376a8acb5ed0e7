"""PPP frames inside other protocols (print-ppp.c's ppp_print: GRE v1, PPPoE session): the
address/control bytes, the protocol, then IP, IPv6, MPLS or a control protocol's headline."""

from __future__ import annotations

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u16
from ebcap.dissectors.hexdump import hex_dump
from ebcap.dissectors.ppp_cp import control_verbose

PROTOCOLS = {
    0x0021: "IP", 0x0023: "OSI", 0x0025: "NS", 0x0027: "DECNET", 0x0029: "APPLE", 0x002B: "IPX",
    0x002D: "VJC IP", 0x002F: "VJNC IP", 0x0031: "BRPDU", 0x0033: "STII", 0x0035: "VINES",
    0x0281: "MPLS", 0x0283: "MPLS", 0x00FD: "Compressed", 0x003D: "MLPPP", 0x0057: "IP6",
    0x0201: "HELLO", 0x0231: "LUXCOM", 0x0233: "SNS", 0x8021: "IPCP", 0x8023: "OSICP", 0x8025: "NSCP",
    0x8027: "DECNETCP", 0x8029: "APPLECP", 0x802B: "IPXCP", 0x8033: "STIICP", 0x8035: "VINESCP",
    0x8057: "IP6CP", 0x8281: "MPLSCP", 0xC021: "LCP", 0xC023: "PAP", 0xC025: "LQM", 0xC223: "CHAP",
    0xC227: "EAP", 0xC027: "SPAP", 0xC123: "Old-SPAP", 0xC02B: "BACP", 0xC02D: "BAP", 0x80FD: "CCP",
}
CONTROL_CODES = {0: "Vendor-Extension", 1: "Conf-Request", 2: "Conf-Ack", 3: "Conf-Nack",
                 4: "Conf-Reject", 5: "Term-Request", 6: "Term-Ack", 7: "Code-Reject", 8: "Prot-Reject",
                 9: "Echo-Request", 10: "Echo-Reply", 11: "Disc-Req", 12: "Ident", 13: "Time-Rem",
                 14: "Reset-Req", 15: "Reset-Ack"}
CONTROL_PROTOCOLS = (0xC021, 0x8021, 0x8023, 0x8281, 0x8057, 0x80FD, 0xC02B)
# PPP protocol -> the ethertype whose printer decodes it.
NETWORK_PROTOCOLS = {0x0021: 0x0800, 0x002F: 0x0800, 0x0800: 0x0800, 0x0057: 0x86DD, 0x86DD: 0x86DD,
                     0x0281: 0x8847, 0x0283: 0x8847}


def ppp_print(nd, data: bytes, off: int, length: int) -> None:
    nd.proto = "ppp"
    out = nd.out
    olen = length
    if length < 2:
        raise Truncated
    header = u16(data, off)[0]
    if header in (0x3E03, 0x3F03, 0xFF03):     # pppd's In/Out markers, HDLC address+control
        if nd.link_header and header != 0xFF03:
            out.append("In  " if header == 0x3E03 else "Out ")
        off, length = off + 2, length - 2
    if length < 2:
        raise Truncated
    if data[off] & 1:
        proto, off, length = data[off], off + 1, length - 1
    else:
        proto, off, length = u16(data, off)[0], off + 2, length - 2
    if nd.link_header:
        name = PROTOCOLS.get(proto, "unknown")
        out.append("%s (0x%04x), length %u" % (name, proto, olen))
        if name == "unknown":
            return
        out.append(": ")
    _protocol(nd, proto, data, off, length)


def _protocol(nd, proto: int, data: bytes, off: int, length: int) -> None:
    out = nd.out
    etype = NETWORK_PROTOCOLS.get(proto)
    if etype is not None and etype in nd.ethertypes:
        nd.ethertypes[etype](nd, data, off, length)
    elif proto in CONTROL_PROTOCOLS:
        out.append(PROTOCOLS.get(proto, "unknown ctrl-proto (0x%04x)" % proto) + ", ")
        if length < 4:
            raise Truncated
        code = data[off]
        out.append("%s (0x%02x), id %u, length %u" % (
            CONTROL_CODES.get(code, "Unknown Opcode"), code, data[off + 1], length + 2))
        if nd.verbose:
            control_verbose(nd, proto, data, off, length, code, PROTOCOLS)
    elif proto == 0x00FD:
        out.append("compressed PPP data")
    else:
        out.append(PROTOCOLS.get(proto, "unknown PPP protocol (0x%04x)" % proto) + " ")
        out.append(hex_dump(data[off:off + length]))     # print_unknown_data


def ppp_if_print(nd, data: bytes, length: int) -> None:
    """LINKTYPE_PPP: the frame starts with the address and control bytes (or pppd's direction
    marker), then the protocol."""
    nd.ll_len = 4
    ppp_print(nd, data, 0, length)
