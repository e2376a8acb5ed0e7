"""OSI network layer behind LLC SAP 0xFE (print-isoclns.c): IS-IS and ES-IS headlines, IP and IPv6
by NLPID, and tcpdump's text for the rest. (-v's IS-IS TLVs and CLNP are not decoded.)"""

from __future__ import annotations

import struct

from ebcap.dissectors.hexdump import hex_dump

NLPID_NULLNS, NLPID_CLNP, NLPID_ESIS, NLPID_ISIS, NLPID_IP, NLPID_IP6 = 0x00, 0x81, 0x82, 0x83, 0xCC, 0x8E
NLPIDS = {0x00: "NULL", 0x08: "Q.933", 0x09: "LMI", 0x80: "SNAP", 0x81: "CLNP", 0x82: "ES-IS", 0x83: "IS-IS",
          0x84: "CONS", 0x85: "IDRP", 0xC1: "ISIS_SPB", 0xB1: "FRF.15", 0xCC: "IPv4", 0xCF: "PPP",
          0x8A: "X25 ES-IS", 0x8E: "IPv6"}
VERSION = 1
SYSTEM_ID_LEN, NODE_ID_LEN, LSP_ID_LEN = 6, 7, 8
COMMON_LEN = 8
L1_LAN_IIH, L2_LAN_IIH, PTP_IIH, L1_LSP, L2_LSP = 15, 16, 17, 18, 20
L1_CSNP, L2_CSNP, L1_PSNP, L2_PSNP = 24, 25, 26, 27
PDUS = {L1_LAN_IIH: "L1 Lan IIH", L2_LAN_IIH: "L2 Lan IIH", PTP_IIH: "p2p IIH", L1_LSP: "L1 LSP",
        L2_LSP: "L2 LSP", L1_CSNP: "L1 CSNP", L2_CSNP: "L2 CSNP", L1_PSNP: "L1 PSNP", L2_PSNP: "L2 PSNP"}
# PDU type -> its fixed header's length after the common header
FIXED_LEN = {L1_LAN_IIH: 19, L2_LAN_IIH: 19, PTP_IIH: 12, L1_LSP: 19, L2_LSP: 19, L1_CSNP: 25,
             L2_CSNP: 25, L1_PSNP: 9, L2_PSNP: 9}
ESIS_PDUS = {6: "redirect", 2: "ESH", 4: "ISH"}
_COMMON = struct.Struct("!BBBBBBBB")
_LSP = struct.Struct("!HH8sIHB")             # PDU length, lifetime, LSP id, sequence, checksum, type block


def isoclns_print(nd, data: bytes, off: int, length: int) -> None:
    nd.proto = "isoclns"
    out = nd.out
    nlpid = data[off]
    e = nd.link_header
    if e:
        out.append("OSI NLPID %s (0x%02x): " % (NLPIDS.get(nlpid, "Unknown"), nlpid))
    if nlpid == NLPID_ISIS:
        if not _isis(nd, data, off, length):
            out.append(hex_dump(data[off:off + length]))
    elif nlpid == NLPID_ESIS:
        _esis(nd, data, off, length)
    elif nlpid == NLPID_NULLNS:
        out.append("%slength: %u" % ("" if e else ", ", length))
    elif nlpid == NLPID_IP:
        nd.ethertypes[0x0800](nd, data, off + 1, length - 1)
    elif nlpid == NLPID_IP6:
        nd.ethertypes[0x86DD](nd, data, off + 1, length - 1)
    else:
        if not e:
            out.append("OSI NLPID 0x%02x unknown" % nlpid)
        out.append("%slength: %u" % ("" if e else ", ", length))
        if length > 1:
            out.append(hex_dump(data[off:off + length]))


def system_id(b: bytes) -> str:
    """isis_print_id: 0000.0000.0001, with .NN for a node id and -NN for an LSP id."""
    h = b[:SYSTEM_ID_LEN].hex()
    text = "%s.%s.%s" % (h[0:4], h[4:8], h[8:12])
    if len(b) >= NODE_ID_LEN:
        text += ".%02x" % b[6]
    if len(b) == LSP_ID_LEN:
        text += "-%02x" % b[7]
    return text


def _isis(nd, data: bytes, off: int, length: int) -> bool:
    """The headline; False where tcpdump dumps the PDU after it."""
    nd.proto = "isis"
    out = nd.out
    if len(data) < off + COMMON_LEN or length < COMMON_LEN:
        raise IndexError
    _, fixed_len, version, id_length, pdu_type, pdu_version, _, max_area = _COMMON.unpack_from(data, off)
    if not nd.link_header:
        out.append("IS-IS")
    if version != VERSION or pdu_version != VERSION:
        out.append("version %u packet not supported" % (version if version != VERSION else pdu_version))
        return False
    if id_length not in (SYSTEM_ID_LEN, 0):
        out.append("system ID length of %u is not supported" % id_length)
        return False
    if length < fixed_len:
        out.append("fixed header length %u > packet length %u" % (fixed_len, length))
        return False
    if fixed_len < COMMON_LEN:
        out.append("fixed header length %u < minimum header size %u" % (fixed_len, COMMON_LEN))
        return False
    if max_area == 255:
        out.append("bad packet -- 255 areas")
        return False
    sep = "" if nd.link_header else ", "
    if nd.verbose:
        out.append("%slength %u" % (sep, length))
        out.append("\n\t%s, hlen: %u, v: %u, pdu-v: %u, sys-id-len: %u (%u), max-area: %u (%u)" % (
            PDUS.get(pdu_type, "unknown, type %u" % pdu_type), fixed_len, version, pdu_version, 6, id_length,
            max_area or 3, max_area))
        return True
    out.append(sep + PDUS.get(pdu_type, "unknown PDU-Type %u" % pdu_type))
    fixed = FIXED_LEN.get(pdu_type)
    if fixed is None:
        return True
    if fixed_len != COMMON_LEN + fixed:
        out.append(", bogus fixed header length %u should be %u" % (
            fixed_len, fixed if pdu_type in (L1_LSP, L2_LSP) else COMMON_LEN + fixed))
        return False
    p = off + COMMON_LEN
    if len(data) < p + fixed or length < COMMON_LEN + fixed:
        raise IndexError
    if pdu_type in (L1_LAN_IIH, L2_LAN_IIH):
        out.append(", src-id %s, lan-id %s, prio %u" % (
            system_id(data[p + 1:p + 7]), system_id(data[p + 12:p + 19]), data[p + 11]))
    elif pdu_type == PTP_IIH:
        out.append(", src-id %s" % system_id(data[p + 1:p + 7]))
    elif pdu_type in (L1_LSP, L2_LSP):
        _, lifetime, lsp_id, seq, _, _ = _LSP.unpack_from(data, p)
        out.append(", lsp-id %s, seq 0x%08x, lifetime %5us" % (system_id(lsp_id), seq, lifetime))
    else:
        out.append(", src-id %s" % system_id(data[p + 2:p + 9]))
    out.append(", length %u" % length)
    return True


def _esis(nd, data: bytes, off: int, length: int) -> None:
    nd.proto = "esis"
    out = nd.out
    if not nd.link_header:
        out.append("ES-IS")
    if length <= 2:
        out.append("bad pkt!" if nd.quiet else "no header at all!")
        return
    if len(data) < off + 9:
        raise IndexError
    li, version, pdu_type = data[off + 1], data[off + 2], data[off + 4] & 0x1F
    if version != VERSION:
        out.append(" version %u packet not supported" % version)
    elif li > length:
        out.append(" length indicator(%u) > PDU size (%u)!" % (li, length))
    elif li < 11:
        out.append(" length indicator %u < min PDU size:%s" % (li, data[off:].hex().upper()))
    else:
        out.append("%s%s, length %u" % ("" if nd.link_header else ", ",
                                        ESIS_PDUS.get(pdu_type, "unknown type (%u)" % pdu_type), length))
