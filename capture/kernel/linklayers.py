"""What the kernel program needs to know of each link type: where the network header starts and
how to tell its protocol, for the headers-only cut (bpf/ebcap.c's headers_end()).

The filter needs none of this: libpcap compiles it for the file's link type, so its offsets are
the file's, and the program hands it the file's bytes from offset 0. BPF_PROG_TEST_RUN hands a
sched_cls program every byte from offset 0 too, whatever the link type (it only reads bytes 12-13
as an ethertype for skb->protocol, which the program never looks at).

The kinds are bpf/ebcap.c's EBCAP_LINK_* values:
  ETHERNET   an Ethernet header, then up to two VLAN tags
  ETHERTYPE  a fixed-length header holding an ethertype at `proto_offset` (Linux cooked)
  IP         a fixed-length header, then IPv4 or IPv6 told by the version nibble
  OPAQUE     a header ebcap does not walk (802.11, radiotap, NFLOG): headers-only keeps the
             first HEADERS_MAX bytes, which hold the link, IP and transport headers of
             everyday frames
"""

from __future__ import annotations

from collections import namedtuple

from ebcap.capture.packet import LinkType

ETHERNET, ETHERTYPE, IP, OPAQUE = 0, 1, 2, 3


class LinkLayout(namedtuple("LinkLayout", [
        "kind",                 # int: ETHERNET, ETHERTYPE, IP or OPAQUE
        "header_length",        # int (0): bytes before the network header
        "proto_offset",         # int (0): ETHERTYPE, where the 16-bit ethertype is
        ], defaults=(0, 0))):
    """(collections' named tuple: capture/filter/libpcap.py's Insn says why.)"""

    __slots__ = ()


LAYOUTS: dict[int, LinkLayout] = {
    LinkType.ETHERNET: LinkLayout(ETHERNET, 14, 12),
    LinkType.LINUX_SLL: LinkLayout(ETHERTYPE, 16, 14),
    LinkType.LINUX_SLL2: LinkLayout(ETHERTYPE, 20, 0),
    # NULL's address family is in the writer's byte order, LOOP's in network order; both are
    # followed by the IP header, whose version nibble says the same as the family for IP.
    LinkType.NULL: LinkLayout(IP, 4),
    LinkType.LOOP: LinkLayout(IP, 4),
    LinkType.RAW: LinkLayout(IP),
    LinkType.BSD_RAW_12: LinkLayout(IP),
    LinkType.BSD_RAW_14: LinkLayout(IP),
    LinkType.IPV4: LinkLayout(IP),
    LinkType.IPV6: LinkLayout(IP),
    # libpcap's own fixed offsets: PPP's address, control and protocol (4 bytes, as in its
    # DLT_PPP code), PPPoE's session header and the PPP protocol (8)
    LinkType.PPP: LinkLayout(IP, 4),
    LinkType.PPP_ETHER: LinkLayout(IP, 8),
    LinkType.IEEE802_11: LinkLayout(OPAQUE),
    LinkType.IEEE802_11_RADIO: LinkLayout(OPAQUE),
    LinkType.NFLOG: LinkLayout(OPAQUE),
}


def layout_of(linktype: int) -> LinkLayout | None:
    return LAYOUTS.get(linktype)
