"""Cisco's other SNAP protocols (print-dtp.c, print-udld.c): DTP and UDLD headlines. (-v's TLVs are not
decoded.)"""

from __future__ import annotations

from ebcap.dissectors.text import bits_text

UDLD_CODES = {0: "Reserved", 1: "Probe message", 2: "Echo message", 3: "Flush message"}
UDLD_FLAGS = tuple((1 << i, name) for i, name in enumerate(("RT", "RSY", "MBZ-2", "MBZ-3", "MBZ-4", "MBZ-5",
                                                             "MBZ-6", "MBZ-7")))
UDLD_HEADER_LEN = 4


def _need(data: bytes, end: int) -> None:
    """ND_TCHECK of the rest, as a longjmp: tcpdump's [|proto] with the dumps from the frame start."""
    if len(data) < end:
        raise IndexError


def dtp_print(nd, data: bytes, off: int, length: int) -> None:
    nd.proto = "dtp"
    if length < 1:
        nd.out.append("[zero packet length] (invalid)")
        _need(data, off + length)
        return
    nd.out.append("DTPv%u, length %u" % (data[off], length))


def udld_print(nd, data: bytes, off: int, length: int) -> None:
    nd.proto = "udld"
    if length < UDLD_HEADER_LEN:
        nd.out.append(" (invalid)")
        _need(data, off + length)
        return
    first, flags = data[off], data[off + 1]
    nd.out.append("UDLDv%u, Code %s (%x), Flags [%s] (0x%02x), length %u" % (
        first >> 5, UDLD_CODES.get(first & 0x1F, "Reserved"), first & 0x1F, bits_text(UDLD_FLAGS, flags, "none"),
        flags, length))
    if not nd.verbose:
        _need(data, off + length)
