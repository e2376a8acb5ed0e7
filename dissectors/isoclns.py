"""OSI network layer behind LLC SAP 0xFE (print-isoclns.c): IS-IS and ES-IS headlines, IP and IPv6
by NLPID, and tcpdump's text for the rest. With -v, IS-IS's PDU headers (LSP checksums verified) and
the everyday TLVs: area addresses, neighbours, padding, LSP entries, protocols, interface addresses,
TE router id, hostname. (Reachability, capability and other TLVs are dumped in hex; CLNP and -v's
ES-IS are not decoded.)"""

from __future__ import annotations

import struct

from ebcap.dissectors.hexdump import hex_dump
from ebcap.dissectors.names import ip4, ip6
from ebcap.dissectors.text import bits_text, printjn

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
        if nd.verbose > 1:
            out.append(hex_dump(data[off:off + COMMON_LEN]))
        return _isis_verbose(nd, data, off, length, pdu_type, fixed_len)
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


CIRCUIT_TYPES = {1: "Level 1 only", 2: "Level 2 only", 3: "Level 1, Level 2"}
LSP_IS_TYPES = ("Unused 0x0 (invalid)", "L1 IS", "Unused 0x2 (invalid)", "L2 IS")
TLVS = {1: "Area address(es)", 2: "IS Reachability", 3: "ES Neighbor(s)", 4: "Partition DIS", 5: "Prefix Neighbors",
        6: "IS Neighbor(s)", 7: "Instance Identifier", 8: "Padding", 9: "LSP entries", 10: "Authentication",
        12: "Checksum", 13: "Purge Originator Identifier", 14: "LSP Buffersize", 22: "Extended IS Reachability",
        24: "IS Alias ID", 42: "DECnet Phase IV", 66: "Lucent Proprietary", 128: "IPv4 Internal Reachability",
        129: "Protocols supported", 130: "IPv4 External Reachability", 131: "Inter-Domain Information Type",
        132: "IPv4 Interface address(es)", 133: "IPv4 authentication (deprecated)",
        134: "Traffic Engineering Router ID", 135: "Extended IPv4 Reachability", 138: "Shared Risk Link Group",
        143: "Multi-Topology-Aware Port Capability", 144: "Multi-Topology Capability", 176: "Nortel Proprietary",
        177: "Nortel Proprietary", 137: "Hostname", 211: "Restart Signaling", 222: "Multi Topology IS Reachability",
        229: "Multi Topology", 232: "IPv6 Interface address(es)", 235: "Multi-Topology IPv4 Reachability",
        236: "IPv6 reachability", 237: "Multi-Topology IP6 Reachability", 240: "Point-to-point Adjacency State",
        241: "Hello PDU Sequence Number", 242: "IS-IS Router Capability", 250: "Vendor Private"}


class _TlvTrunc(Exception):
    """print-isoclns.c's tlv_trunc: the TLV ends where it is, the walk goes on."""


def osi_checksum(data: bytes, offset: int, length: int) -> int:
    """checksum.c's create_osi_cksum: the Fletcher checksum the field at offset should hold."""
    c0 = c1 = 0
    for idx in range(length):
        if idx in (offset, offset + 1):
            c1 += c0
        else:
            c0 += data[idx]
            c1 += c0
    c0 %= 255
    c1 %= 255
    mul = (length - offset) * c0
    x, y = mul - c0 - c1, c1 - mul - 1
    if y >= 0:
        y += 1
    if x < 0:
        x -= 1
    x = int(x - 255 * int(x / 255))      # C's remainder keeps the dividend's sign
    y = int(y - 255 * int(y / 255))
    x = x or 255
    y = (y or 255) & 0xFF
    return (x << 8 | y) & 0xFFFF


def _isis_verbose(nd, data: bytes, off: int, length: int, pdu_type: int, fixed_len: int) -> bool:
    out = nd.out
    fixed = FIXED_LEN.get(pdu_type)
    if fixed is None:
        out.append(hex_dump(data[off + COMMON_LEN:off + length], "\n\t  "))
        return True
    if fixed_len != COMMON_LEN + fixed:
        out.append("%s bogus fixed header length %u should be %u" % (
            "-" if pdu_type in (L1_PSNP, L2_PSNP) else ",", fixed_len,
            fixed if pdu_type in (L1_LSP, L2_LSP) else COMMON_LEN + fixed))
        return True
    p = off + COMMON_LEN
    if len(data) < p + fixed or length < COMMON_LEN + fixed:
        raise IndexError
    pdu_len = struct.unpack_from("!H", data, p + (9 if pdu_type in (L1_LAN_IIH, L2_LAN_IIH, PTP_IIH) else 0))[0]
    packet_len = min(length, pdu_len)
    if pdu_type in (L1_LAN_IIH, L2_LAN_IIH):
        out.append("\n\t  source-id: %s,  holding time: %us, Flags: [%s]"
                   "\n\t  lan-id:    %s, Priority: %u, PDU length: %u" % (
            system_id(data[p + 1:p + 7]), struct.unpack_from("!H", data, p + 7)[0],
            CIRCUIT_TYPES.get(data[p], "unknown circuit type 0x%02x" % data[p]), system_id(data[p + 12:p + 19]),
            data[p + 11] & 0x7F, pdu_len))
    elif pdu_type == PTP_IIH:
        out.append("\n\t  source-id: %s, holding time: %us, Flags: [%s]\n\t  circuit-id: 0x%02x, PDU length: %u" % (
            system_id(data[p + 1:p + 7]), struct.unpack_from("!H", data, p + 7)[0],
            CIRCUIT_TYPES.get(data[p], "unknown circuit type 0x%02x" % data[p]), data[p + 11], pdu_len))
    elif pdu_type in (L1_LSP, L2_LSP):
        _, lifetime, lsp_id, seq, checksum, block = _LSP.unpack_from(data, p)
        out.append("\n\t  lsp-id: %s, seq: 0x%08x, lifetime: %5us\n\t  chksum: 0x%04x" % (
            system_id(lsp_id), seq, lifetime, checksum))
        covered = packet_len - 12
        base = p + 4
        if not checksum or covered < 12 or len(data) < base + covered:
            out.append(" (unverified)")
        else:
            should = osi_checksum(data[base:base + covered], 12, covered)
            out.append(" (correct)" if should == checksum else " (incorrect should be 0x%04x)" % should)
        flags = ["Overload bit set, " if block & 0x04 else ""]
        if block & 0x78:
            flags += ["default " if block & 0x08 else "", "delay " if block & 0x10 else "",
                      "expense " if block & 0x20 else "", "error " if block & 0x40 else "", "ATT bit set, "]
        flags.append("P bit set, " if block & 0x80 else "")
        out.append(", PDU length: %u, Flags: [ %s%s ]" % (pdu_len, "".join(flags), LSP_IS_TYPES[block & 0x03]))
    elif pdu_type in (L1_CSNP, L2_CSNP):
        out.append("\n\t  source-id:    %s, PDU length: %u\n\t  start lsp-id: %s\n\t  end lsp-id:   %s" % (
            system_id(data[p + 2:p + 9]), pdu_len, system_id(data[p + 9:p + 17]), system_id(data[p + 17:p + 25])))
    else:
        out.append("\n\t  source-id:    %s, PDU length: %u" % (system_id(data[p + 2:p + 9]), pdu_len))
    if nd.verbose > 1:
        out.append(hex_dump(data[p:p + fixed], "\n\t  "))
    if packet_len < COMMON_LEN + fixed:
        out.append(" (invalid)")
        return True
    _tlvs(nd, data, p + fixed, packet_len - COMMON_LEN - fixed)
    return True


def _tlvs(nd, data: bytes, at: int, left: int) -> None:
    out = nd.out
    while left > 0:
        if left < 2 or len(data) < at + 2:
            raise IndexError
        kind, tlen = data[at], data[at + 1]
        at, left = at + 2, left - 2
        out.append("\n\t    %s TLV #%u, length: %u" % (TLVS.get(kind, "unknown"), kind, tlen))
        if left < tlen:
            raise IndexError
        v = data[at:at + tlen]
        if len(v) < tlen:
            raise IndexError
        try:
            _tlv(nd, out, kind, v)
        except _TlvTrunc:
            pass
        if nd.verbose > 1:
            out.append(hex_dump(v, "\n\t      "))
        at, left = at + tlen, left - tlen


def _tlv(nd, out: list[str], kind: int, v: bytes) -> None:
    n = len(v)
    if kind == 1:
        i = 0
        while i < n:
            alen = v[i]
            i += 1
            if n - i < alen:
                raise _TlvTrunc
            out.append("\n\t      Area address (length: %u): %s" % (alen, nsap_text(v[i:i + alen])))
            i += alen
    elif kind == 6:
        for i in range(0, n, 6):
            if n - i < 6:
                raise _TlvTrunc
            out.append("\n\t      SNPA: %s" % system_id(v[i:i + 6]))
    elif kind == 8:
        pass
    elif kind == 9:
        for i in range(0, n, 16):
            if n - i < 16:
                raise _TlvTrunc
            lifetime, lsp_id, seq, checksum = struct.unpack_from("!H8sIH", v, i)
            out.append("\n\t      lsp-id: %s, seq: 0x%08x, lifetime: %5ds, chksum: 0x%04x" % (
                system_id(lsp_id), seq, lifetime, checksum))
    elif kind == 129:
        out.append("\n\t      NLPID(s): " + ", ".join("%s (0x%02x)" % (NLPIDS.get(b, "unknown"), b) for b in v))
    elif kind in (132, 232):
        size, name = (4, "IPv4") if kind == 132 else (16, "IPv6")
        for i in range(0, n, size):
            if n - i < size:
                raise _TlvTrunc
            out.append("\n\t      %s interface address: %s" % (name, (ip4 if size == 4 else ip6)(v[i:i + size])))
    elif kind == 134:
        if n < 4:
            raise _TlvTrunc
        out.append("\n\t      Traffic Engineering Router ID: %s" % ip4(v[:4]))
    elif kind == 137:
        out.append("\n\t      Hostname: " + printjn(v))
    elif kind == 22:
        i = 0
        while i < n:
            i += _ext_is_reach(out, v, i)
    elif kind in (135, 236):
        i = 0
        while i < n:
            used = _extd_ip_reach(out, v, i, 4 if kind == 135 else 16)
            if not used:
                raise IndexError
            if n - i < used:
                out.append(" [remaining tlv length %u < %u] (invalid)" % (n - i, used))
                break
            i += used
    elif kind == 242:
        if n < 5:
            out.append(" [object length %u < 5] (invalid)" % n)
            return
        out.append("\n\t      Router-ID %s, Flags [%s]" % (ip4(v[:4]), bits_text(ROUTER_CAP_FLAGS, v[4], "none")))
        if n > 5:
            out.append(hex_dump(v[5:], "\n\t\t"))     # its sub-TLVs are not decoded
    elif nd.verbose <= 1:
        out.append(hex_dump(v, "\n\t\t"))


def nsap_text(b: bytes) -> str:
    """isonsap_string: 49.0001.0203..."""
    if not 1 <= len(b) <= 20:
        return "isonsap_string: illegal length"
    h = b.hex()
    parts = [h[0:2]] + [h[i:i + 4] for i in range(2, len(h), 4)]
    return ".".join(parts)


ROUTER_CAP_FLAGS = ((0x01, "S bit"), (0x02, "D bit"))


def _ext_is_reach(out: list[str], v: bytes, i: int) -> int:
    """isis_print_ext_is_reach without sub-TLV decoding (their bytes are dumped)."""
    if len(v) - i < 11:
        raise IndexError
    metric = int.from_bytes(v[i + 7:i + 10], "big")
    sub_len = v[i + 10]
    out.append("\n\t      IS Neighbor: %s, Metric: %u, %ssub-TLVs present" % (
        system_id(v[i:i + 7]), metric, "" if sub_len else "no "))
    if sub_len:
        out.append(" (%u)" % sub_len + hex_dump(v[i + 11:i + 11 + sub_len], "\n\t\t    "))
    return 11 + sub_len


def _extd_ip_reach(out: list[str], v: bytes, i: int, size: int) -> int:
    """isis_print_extd_ip_reach (sub-TLVs dumped)."""
    metric = int.from_bytes(v[i:i + 4], "big")
    if len(v) < i + 5:
        raise IndexError
    status = v[i + 4]
    if size == 4:
        plen, at = status & 0x3F, i + 5
        if plen > 32:
            out.append("\n\t      IPv4 prefix: bad bit length %u" % plen)
            return 0
    else:
        if len(v) < i + 6:
            raise IndexError
        plen, at = v[i + 5], i + 6
        if plen > 128:
            out.append("\n\t      IPv6 prefix: bad bit length %u" % plen)
            return 0
    nbytes = (plen + 7) // 8
    prefix = v[at:at + nbytes]
    if len(prefix) < nbytes:
        raise IndexError
    addr = prefix + bytes(size - nbytes)
    if size == 4:
        out.append("\n\t      IPv4 prefix: %15s/%u" % (ip4(addr), plen))
    else:
        out.append("\n\t      IPv6 prefix: %s/%u" % (ip6(addr), plen))
    out.append(", Distribution: %s, Metric: %u" % ("down" if status & 0x80 else "up", metric))
    sub = status & 0x40 if size == 4 else status & 0x20
    if size == 4 and sub:
        out.append(", sub-TLVs present")
    elif size == 16:
        out.append(", %s%s" % ("External" if status & 0x40 else "Internal", ", sub-TLVs present" if sub else ""))
    used = at + nbytes - i
    if sub:
        sub_len = v[at + nbytes]
        out.append(" (%u)" % sub_len + hex_dump(v[at + nbytes + 1:at + nbytes + 1 + sub_len], "\n\t\t    "))
        used += 1 + sub_len
    return used
