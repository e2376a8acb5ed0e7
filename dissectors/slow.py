"""IEEE 802.3 slow protocols (print-slow.c; ethertype 0x8809): LACP, Marker and OAM headlines.
(-v's TLVs are not decoded.)"""

from __future__ import annotations

from ebcap.dissectors.hexdump import hex_dump

SUBTYPES = {1: "LACP", 2: "MARKER", 3: "OAM"}
VERSIONED = (1, 2)      # LACP and Marker carry version 1 after the subtype


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
    else:
        out.append("%s, length %u" % (name, length))
        if subtype not in SUBTYPES:
            out.append(hex_dump(data[off:off + length]))     # print_unknown_data
