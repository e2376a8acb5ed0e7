"""Spanning tree BPDUs (print-stp.c): 802.1d config, 802.1w rapid, 802.1s MSTP and 802.1aq SPB BPDUs;
-v's timers and root, MSTP's CIST and MSTIs, SPB's agreement."""

from __future__ import annotations

import struct

from ebcap.dissectors.extract import u16, u32
from ebcap.dissectors.text import bits_text, printjn

VERSIONS = {0: "802.1d", 2: "802.1w", 3: "802.1s", 4: "802.1aq"}
BPDU_TYPES = {0x00: "Config", 0x02: "Rapid STP", 0x80: "Topology Change"}
FLAG_NAMES = ((0x01, "Topology change"), (0x02, "Proposal"), (0x10, "Learn"), (0x20, "Forward"),
              (0x40, "Agreement"), (0x80, "Topology change ACK"))
PORT_ROLES = ("Unknown", "Alternate", "Root", "Designated")
BPDU_LEN = 36
MSTP_MIN_LEN = 102
MST_V3LEN = 36     # the version 3 length's offset
MST_CONFIG_INFO_LEN, MSTI_OFFSET, MSTI_LEN = 64, 102, 16
SPB_MIN_LEN = 87
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
    """802.1s (and 802.1aq) BPDUs: the CIST flags, and with -v the CIST, every MSTI and SPB's part."""
    out = nd.out
    if length < MSTP_MIN_LEN or data[off + 35]:
        out.append(" (invalid)")
        return
    v3len = u16(data, off + MST_V3LEN)[0] + 2
    if length < BPDU_LEN + v3len:
        out.append(" (invalid)")
        return
    flags = data[off + 4]
    out.append(", CIST Flags [%s], length %u" % (bits_text(FLAG_NAMES, flags, "none"), length))
    if nd.verbose:
        _mstp_verbose(out, data, off, flags)
    if version == 4:
        spb_len = u16(data, off + MST_V3LEN + v3len)[0] + 2
        if length < BPDU_LEN + v3len + spb_len or spb_len < SPB_MIN_LEN:
            out.append(" (invalid)")
        elif nd.verbose:
            _spb_verbose(out, data, off + BPDU_LEN + v3len)


def _mstp_verbose(out: list[str], data: bytes, off: int, flags: int) -> None:
    (_pid, _v, _t, _f, root, cost, bridge, port, age, max_age, hello, delay) = _BPDU(data, off)
    p = off
    if len(data) < p + MSTI_OFFSET:
        raise IndexError
    digest = data[p + 73:p + 89].hex()
    out.append("\n\tport-role %s, CIST root-id %s, CIST ext-pathcost %u\n\tCIST regional-root-id %s, "
               "CIST port-id %04x,\n\tmessage-age %.2fs, max-age %.2fs, hello-time %.2fs, forwarding-delay %.2fs"
               "\n\tv3len %u, MCID Name %s, rev %u,\n\t\tdigest %s, CIST int-root-pathcost %u,"
               "\n\tCIST bridge-id %s, CIST remaining-hops %u" % (
                   PORT_ROLES[(flags & 0x0C) >> 2], _bridge_id(root), cost, _bridge_id(bridge), port, age / 256,
                   max_age / 256, hello / 256, delay / 256, u16(data, p + MST_V3LEN)[0], printjn(data[p + 39:p + 71]),
                   u16(data, p + 71)[0], digest, u32(data, p + 89)[0], _bridge_id(data[p + 93:p + 101]),
                   data[p + 101]))
    v3len = u16(data, p + MST_V3LEN)[0]
    if v3len <= MST_CONFIG_INFO_LEN:
        return
    left, at = v3len - MST_CONFIG_INFO_LEN, p + MSTI_OFFSET
    while left >= MSTI_LEN:
        if len(data) < at + MSTI_LEN:
            raise IndexError
        mflags = data[at]
        out.append("\n\tMSTI %u, Flags [%s], port-role %s\n\t\tMSTI regional-root-id %s, pathcost %u"
                   "\n\t\tMSTI bridge-prio %u, port-prio %u, hops %u" % (
                       u16(data, at + 1)[0] & 0x0FFF, bits_text(FLAG_NAMES, mflags, "none"),
                       PORT_ROLES[(mflags & 0x0C) >> 2], _bridge_id(data[at + 1:at + 9]), u32(data, at + 9)[0],
                       data[at + 13] >> 4, data[at + 14] >> 4, data[at + 15]))
        left -= MSTI_LEN
        at += MSTI_LEN


def _spb_verbose(out: list[str], data: bytes, at: int) -> None:
    if len(data) < at + SPB_MIN_LEN:
        raise IndexError
    agreement, fmt, con = data[at + 53], data[at + 55], data[at + 56]
    out.append("\n\tv4len %u, AUXMCID Name %s, Rev %u,\n\t\tdigest %s"
               "\n\tAgreement num %u, Discarded Agreement num %u, Agreement valid-flag %u,"
               "\n\tRestricted role-flag: %u, Format id %u cap %u, Convention id %u cap %u,"
               "\n\tEdge count %u, Agreement digest %s" % (
                   u16(data, at)[0], printjn(data[at + 3:at + 35]), u16(data, at + 35)[0], data[at + 37:at + 53].hex(),
                   agreement >> 6, agreement >> 4 & 3, agreement >> 3 & 1, agreement >> 2 & 1, fmt >> 4, fmt, con >> 4,
                   con, u16(data, at + 57)[0], data[at + 67:at + 87].hex()))


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
