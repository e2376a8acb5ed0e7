"""PIM (print-pim.c, RFC 7761; IP protocol 103): version, message type and length. (-v's PIMv2 bodies
are not decoded.)"""

from __future__ import annotations

TYPES = ("Hello", "Register", "Register Stop", "Join / Prune", "Bootstrap", "Assert", "Graft",
         "Graft Acknowledgement", "Candidate RP Advertisement", "Prune Refresh", "DF Election", "ECMP Redirect")


def pim_print(nd, data: bytes, off: int, length: int, _ip: tuple, _fragmented) -> None:
    nd.proto = "pim"
    version, kind = data[off] >> 4, data[off] & 0x0F
    if version == 2:
        nd.out.append("PIMv2, %s, length %u" % (TYPES[kind] if kind < len(TYPES) else "Unknown Type", length))
    else:
        nd.out.append("PIMv%u, length %u" % (version, length))
