"""IEEE 802.3 slow protocols (print-slow.c; ethertype 0x8809): LACP, Marker and OAM headlines, and with
-v LACP's and Marker's TLVs. (-v's OAM body is not decoded.)"""

from __future__ import annotations

import struct

from ebcap.dissectors.hexdump import hex_dump
from ebcap.dissectors.names import mac
from ebcap.dissectors.text import bits_text

SUBTYPES = {1: "LACP", 2: "MARKER", 3: "OAM"}
VERSIONED = (1, 2)      # LACP and Marker carry version 1 after the subtype
LACP, MARKER = 1, 2
TERMINATOR = 0
# (subtype, TLV type) -> name
TLVS = {(LACP, 0): "Terminator", (LACP, 1): "Actor Information", (LACP, 2): "Partner Information",
        (LACP, 3): "Collector Information", (MARKER, 0): "Terminator", (MARKER, 1): "Marker Information"}
STATE_FLAGS = ((0x01, "Activity"), (0x02, "Timeout"), (0x04, "Aggregation"), (0x08, "Synchronization"),
               (0x10, "Collecting"), (0x20, "Distributing"), (0x40, "Default"), (0x80, "Expired"))
_ACTOR = struct.Struct("!H6sHHHB3x")         # system priority, system, key, port priority, port, state
_MARKER = struct.Struct("!H6sI2x")           # requester port, system, transaction id


def slow_print(nd, data: bytes, off: int, length: int) -> None:
    nd.proto = "slow"
    out = nd.out
    if length < 1:
        out.append(" (packet is too short)" if not nd.verbose else "\n\t\t packet is too short")
        return
    subtype = data[off]
    name = SUBTYPES.get(subtype, "unknown (%u)" % subtype)
    if subtype in VERSIONED:
        if length < 2:
            out.append(" (packet is too short)" if not nd.verbose else "\n\t\t packet is too short")
            return
        version = data[off + 1]
        if version != 1:
            out.append("%s version %u packet not supported" % (name, version))
            return
        out.append("%sv%u, length %u" % (name, version, length))
        if nd.verbose:
            _tlvs(nd, data, off + 2, length - 2, subtype)
    else:
        out.append("%s, length %u" % (name, length))
        if subtype not in SUBTYPES:
            out.append(hex_dump(data[off:off + length]))     # print_unknown_data


def _tlvs(nd, data: bytes, at: int, left: int, subtype: int) -> None:
    """slow_marker_lacp_print."""
    out = nd.out
    while left > 0:
        if left < 2:
            out.append("\n\t\t packet is too short")
            return
        kind, tlen = data[at], data[at + 1]
        out.append("\n\t%s TLV (0x%02x), length %u" % (TLVS.get((subtype, kind), "Unknown"), kind, tlen))
        if kind == TERMINATOR:
            return
        if tlen < 2:
            out.append("\n\t    ERROR: illegal length - should be >= 2")
            return
        if left < tlen:
            out.append("\n\t\t packet is too short")
            return
        if len(data) < at + tlen:
            raise IndexError
        body, blen = at + 2, tlen - 2
        key = (subtype, kind)
        if key in ((LACP, 1), (LACP, 2)):
            if blen != _ACTOR.size:
                out.append("\n\t    ERROR: illegal length - should be %u" % (2 + _ACTOR.size))
            else:
                prio, system, key_, port_prio, port, state = _ACTOR.unpack_from(data, body)
                out.append("\n\t  System %s, System Priority %u, Key %u, Port %u, Port Priority %u"
                           "\n\t  State Flags [%s]" % (mac(system), prio, key_, port, port_prio,
                                                       bits_text(STATE_FLAGS, state, "none")))
        elif key == (LACP, 3):
            if blen != 14:
                out.append("\n\t    ERROR: illegal length - should be 16")
            else:
                out.append("\n\t  Max Delay %u" % struct.unpack_from("!H", data, body)[0])
        elif key == (MARKER, 1):
            if blen != _MARKER.size:
                out.append("\n\t    ERROR: illegal length - should be %u" % (2 + _MARKER.size))
            else:
                port, system, trans = _MARKER.unpack_from(data, body)
                out.append("\n\t  Request System %s, Request Port %u, Request Transaction ID 0x%08x" % (
                    mac(system), port, trans))
        elif nd.verbose <= 1:
            out.append(hex_dump(data[body:body + blen], "\n\t  "))
        if nd.verbose > 1:
            out.append(hex_dump(data[body:body + blen], "\n\t  "))
        at += tlen
        left -= tlen
