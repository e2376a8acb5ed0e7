"""Spanning tree BPDUs (print-stp.c): 802.1d config and 802.1w rapid BPDUs; -v's timers and root."""

from __future__ import annotations

import struct

from ebcap.dissectors.text import bits_text

VERSIONS = {0: "802.1d", 2: "802.1w", 3: "802.1s", 4: "802.1aq"}
BPDU_TYPES = {0x00: "Config", 0x02: "Rapid STP", 0x80: "Topology Change"}
FLAG_NAMES = ((0x01, "Topology change"), (0x02, "Proposal"), (0x10, "Learn"), (0x20, "Forward"),
              (0x40, "Agreement"), (0x80, "Topology change ACK"))
PORT_ROLES = ("Unknown", "Alternate", "Root", "Designated")
BPDU_LEN = 36
MSTP_MIN_LEN = 102
MST_V3LEN = 36     # the version 3 length's offset
_BPDU = struct.Struct("!HBBB8sI8sHHHHH").unpack_from


def stp_print(nd, data: bytes, off: int, length: int) -> None:
    nd.proto = "stp"
    out = nd.out
    if length < 4:
        out.append(" (invalid)")
        return
    if data[off] or data[off + 1]:
        out.append("unknown STP version, length %u" % length)
        return
    version, kind = data[off + 2], data[off + 3]
    out.append("STP " + VERSIONS.get(version, "Unknown STP protocol (0x%02x)" % version))
    if version not in VERSIONS:
        return
    out.append(", " + BPDU_TYPES.get(kind, "Unknown BPDU Type (0x%02x)" % kind))
    if kind == 0x00 or (kind == 0x02 and version == 2):
        if length < BPDU_LEN - (kind == 0):
            out.append(" (invalid)")
            return
        _config(nd, data, off, length, version)
    elif kind == 0x02:
        _mstp(nd, data, off, length, version)


def _mstp(nd, data: bytes, off: int, length: int, version: int) -> None:
    """802.1s (and 802.1aq) BPDUs: the CIST flags. (-v's MSTI records and SPB's are not decoded.)"""
    if length < MSTP_MIN_LEN or data[off + 35]:
        nd.out.append(" (invalid)")
        return
    v3len = int.from_bytes(data[off + MST_V3LEN:off + MST_V3LEN + 2], "big") + 2
    if len(data) < off + MST_V3LEN + 2:
        raise IndexError
    if length < BPDU_LEN + v3len:
        nd.out.append(" (invalid)")
        return
    nd.out.append(", CIST Flags [%s], length %u" % (bits_text(FLAG_NAMES, data[off + 4], "none"), length))


def _bridge_id(b: bytes) -> str:
    return "%s.%s" % (b[:2].hex(), b[2:].hex(":"))


def _config(nd, data: bytes, off: int, length: int, version: int) -> None:
    out = nd.out
    (_pid, _v, _t, flags, root, cost, bridge, port, age, max_age, hello,
     delay) = _BPDU(data, off)
    out.append(", Flags [%s], bridge-id %s.%04x, length %u" % (
        bits_text(FLAG_NAMES, flags, "none"), _bridge_id(bridge), port, length))
    if not nd.verbose:
        return
    out.append("\n\tmessage-age %.2fs, max-age %.2fs, hello-time %.2fs, forwarding-delay %.2fs" % (
        age / 256, max_age / 256, hello / 256, delay / 256))
    out.append("\n\troot-id %s, root-pathcost %u" % (_bridge_id(root), cost))
    if version == 2:
        out.append(", port-role " + PORT_ROLES[(flags & 0x0C) >> 2])
