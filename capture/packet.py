"""What a captured packet is, once it has left the kernel: shared by the writers and dissectors/."""

from __future__ import annotations

import enum
from collections import namedtuple


class Direction(enum.IntEnum):
    """Packet direction; the values are pcapng's epb_flags bits 0-1 and bpf/record.h's EBCAP_DIR_*."""

    UNKNOWN = 0
    IN = 1
    OUT = 2


class LinkType(enum.IntEnum):
    """The DLT/LINKTYPE values ebcap writes and reads."""

    NULL = 0                  # BSD loopback: a 4-byte address family in the writer's byte order
    ETHERNET = 1
    PPP = 9
    BSD_RAW_12 = 12           # raw IP under the BSDs' DLT_RAW values (12; 14 on OpenBSD)
    BSD_RAW_14 = 14
    PPP_ETHER = 51            # PPPoE session header, no Ethernet header
    RAW = 101
    IEEE802_11 = 105
    LOOP = 108                # OpenBSD loopback: the address family in network byte order
    LINUX_SLL = 113
    IEEE802_11_RADIO = 127    # radiotap header, then 802.11
    IPV4 = 228
    IPV6 = 229
    NFLOG = 239
    LINUX_SLL2 = 276


class Interface(namedtuple("Interface", [
        "name",                     # str
        "linktype",                 # int (LinkType.ETHERNET)
        "snaplen",                  # int (262144)
        "filter",                   # str ("")
        "ifindex",                  # int (0)
        "description",              # str ("")
        ], defaults=(LinkType.ETHERNET, 262144, "", 0, ""))):
    """One capture interface: one pcapng IDB. A tuple: a file may declare 300,000 of them; of
    collections', not typing's, as capture/filter/libpcap.py's Insn says."""

    __slots__ = ()


class Packet(namedtuple("Packet", [
        "ts_ns",         # int: wall clock, nanoseconds since the epoch
        "interface",     # int: index into the session's list of Interface (the pcapng
                         # interface id)
        "direction",     # Direction
        "wirelen",       # int: length on the wire
        "data",          # bytes: captured bytes, starting at the link-layer header
        "comments",      # tuple[str, ...] (()): opt_comment options of its EPB (--drops:
                         # reason, location)
        "owner",         # capture/owner.Owner (None) of the packet's socket (--owners, or a
                         # file's comments)
        ], defaults=((), None))):
    """One captured packet. `data` may be shorter than `wirelen` (headers only, -s)."""

    __slots__ = ()
