"""Ethernet II and 802.1Q tags (print-ether.c, print-vlan.c); the ethertype table does the rest."""

from __future__ import annotations

from ebcap.dissectors.errors import trunc
from ebcap.dissectors.extract import u16
from ebcap.dissectors.llc import llc_print
from ebcap.dissectors.names import ETHERTYPE_NAMES, mac


VLAN_TYPES = (0x8100, 0x88A8, 0x9100, 0x9200)
ETHERTYPE_8021Q = 0x8100
ETHER_MAX_LEN_FIELD = 1500      # a type field up to this is an 802.3 length


def ether_print(nd, data: bytes, length: int) -> None:
    """LINKTYPE_ETHERNET: MACs and ethertype with -e, then the tags, then the ethertype's printer."""
    nd.proto = "ether"
    caplen = len(data)
    if length < caplen:
        nd.out.append("[length %u < caplen %u] (invalid)" % (length, caplen))
        return
    if caplen < 14:
        nd.out.append(trunc("ether"))
        nd.ll_len = caplen
        return
    out = nd.link_header and nd.out     # the -e text; False without -e
    orig_length = length
    if out:
        out.append("%s > %s, " % (mac(data[6:12]), mac(data[0:6])))
    etype = u16(data, 12)[0]
    off = 14
    length -= 14
    printed_length = False
    while etype in VLAN_TYPES:
        if caplen - off < 4 or length < 4:
            nd.proto = "vlan"
            nd.out.append(trunc("vlan"))
            nd.ll_len = min(caplen, off + length)
            return
        if out:
            out.append(ethertype_text(nd, etype))
            if not printed_length:
                out.append(", length %u: " % orig_length)
                printed_length = True
            else:
                out.append(", ")
            out.append(tci_text(u16(data, off)[0]) + ", ")
        etype = u16(data, off + 2)[0]
        off += 4
        length -= 4
    nd.ll_len = off
    if etype <= ETHER_MAX_LEN_FIELD:
        _ieee8023(nd, data, off, length, etype, out and not printed_length)
        return
    if out:
        out.append(ethertype_text(nd, etype))
        out.append(", length %u: " % orig_length if not printed_length else ", ")
    printer = nd.ethertypes.get(etype)
    if printer is not None:
        printer(nd, data, off, length)
        return
    if not nd.link_header:
        nd.out.append("%s > %s, %s, length %u: " % (
            mac(data[6:12]), mac(data[0:6]), ethertype_text(nd, etype), orig_length))
    nd.default_print(data[off:])


def _ieee8023(nd, data: bytes, off: int, length: int, etype: int, print_length: bool) -> None:
    """An 802.3 length field: the LLC header and what it carries, the frame cut at that length."""
    if etype < length:
        length = etype
        data = data[:off + length]
    if nd.link_header:
        nd.out.append("802.3")
        if print_length:
            nd.out.append(", length %u: " % length)
    hdrlen = llc_print(nd, data, off, length)
    if hdrlen < 0:
        nd.default_print(data[off:])
        hdrlen = -hdrlen
    nd.ll_len = off + hdrlen


def inner_ether_print(nd, data: bytes, off: int, length: int) -> None:
    """An Ethernet frame carried inside another packet (VXLAN, GRE's TEB): the hex dumps still start
    after the outer link header."""
    ll_len = nd.ll_len
    try:
        ether_print(nd, data[off:], length)
    finally:
        nd.ll_len = ll_len


def ethertype_print(nd, etype: int, data: bytes, off: int, length: int) -> bool:
    """The ethertype table's printer for what starts at off; False when there is none."""
    printer = nd.ethertypes.get(etype)
    if printer is None:
        return False
    printer(nd, data, off, length)
    return True


def ethertype_text(nd, etype: int) -> str:
    if nd.quiet:
        return ETHERTYPE_NAMES.get(etype, "Unknown Ethertype (0x%04x)" % etype)
    return "ethertype %s (0x%04x)" % (ETHERTYPE_NAMES.get(etype, "Unknown"), etype)


def tci_text(tci: int) -> str:
    """An 802.1Q tag's VLAN id, priority and DEI bit."""
    text = "vlan %u, p %u" % (tci & 0xFFF, tci >> 13)
    if tci & 0x1000:
        text += ", DEI"
    return text
