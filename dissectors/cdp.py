"""CDP (print-cdp.c; SNAP, Cisco OUI, PID 0x2000): version, ttl, the Device-ID, length; with -v the
checksum and every TLV. (-v's Prefixes, ATA-186 and Physical Location values are dumped in hex.)"""

from __future__ import annotations

from ebcap.dissectors.extract import u16, u16_pair, u32
from ebcap.dissectors.hexdump import hex_dump
from ebcap.dissectors.names import ip4, ip6
from ebcap.dissectors.text import bits_text, char_text, printable

HEADER_LEN = TLV_HEADER_LEN = 4
DEVICE_ID = 0x01
T_MAX = 0x17
NAMES = {0x01: "Device-ID", 0x02: "Address", 0x03: "Port-ID", 0x04: "Capability", 0x05: "Version String",
         0x06: "Platform", 0x07: "Prefixes", 0x08: "Protocol-Hello option", 0x09: "VTP Management Domain",
         0x0A: "Native VLAN ID", 0x0B: "Duplex", 0x0E: "ATA-186 VoIP VLAN assignment",
         0x0F: "ATA-186 VoIP VLAN request", 0x10: "power consumption", 0x11: "MTU",
         0x12: "AVVID trust bitmap", 0x13: "AVVID untrusted ports CoS", 0x14: "System Name",
         0x15: "System Object ID (not decoded)", 0x16: "Management Addresses", 0x17: "Physical Location"}

CAPABILITIES = ((0x01, "Router"), (0x02, "Transparent Bridge"), (0x04, "Source Route Bridge"), (0x08, "L2 Switch"),
                (0x10, "L3 capable"), (0x20, "IGMP snooping"), (0x40, "L1 capable"))
# type -> (min length, max length) of the value where print-cdp.c checks it (-1: no bound)
BOUNDS = {0x04: (4, 4), 0x0A: (2, 2), 0x0B: (1, 1), 0x0E: (3, 3), 0x0F: (2, 3), 0x10: (1, 3), 0x11: (4, 4),
          0x12: (1, 1), 0x13: (1, 1), 0x16: (4, -1), 0x17: (1, -1)}
NO_PRINTER = frozenset((0x08, 0x15))
STRINGS = frozenset((0x01, 0x03, 0x06, 0x09, 0x14))
PT_NLPID, PT_IEEE_802_2 = 1, 2
LLC_SNAP_IPV6 = bytes.fromhex("aaaa0300000086dd")


def _invalid(nd, data: bytes, cp: int, length: int) -> None:
    nd.out.append(" (invalid)")
    if len(data) < cp + length:
        raise IndexError


def cdp_print(nd, data: bytes, off: int, length: int) -> None:
    nd.proto = "cdp"
    out = nd.out
    orig = length
    if length < HEADER_LEN:
        out.append(" (packet length %u < %u)" % (length, HEADER_LEN))
        _invalid(nd, data, off, length)
        return
    out.append("CDPv%u, ttl: %us" % (data[off], data[off + 1]))
    if len(data) < off + 4:
        raise IndexError
    verbose = nd.verbose
    if verbose:
        out.append(", checksum: 0x%04x (unverified), length %u" % (u16(data, off + 2)[0], orig))
    cp, length = off + HEADER_LEN, length - HEADER_LEN
    while length:
        if length < TLV_HEADER_LEN:
            out.append(" (remaining packet length %u < %u)" % (length, TLV_HEADER_LEN))
            _invalid(nd, data, cp, length)
            return
        kind, tlen = u16_pair(data, cp)
        name = NAMES.get(kind, "unknown field type")
        if tlen < TLV_HEADER_LEN:
            if verbose:
                out.append("\n\t%s (0x%02x), TLV length: %u byte%s (too short)" % (
                    name, kind, tlen, "" if tlen == 1 else "s"))
            else:
                out.append(", %s TLV length %u too short" % (name, tlen))
            _invalid(nd, data, cp, length)
            return
        if tlen > length:
            out.append(" (TLV length %u > %u)" % (tlen, length))
            _invalid(nd, data, cp, length)
            return
        cp, length, tlen = cp + TLV_HEADER_LEN, length - TLV_HEADER_LEN, tlen - TLV_HEADER_LEN
        value = data[cp:cp + tlen]
        if not verbose and kind == DEVICE_ID:
            out.append(", Device-ID ")
        elif verbose:
            out.append("\n\t%s (0x%02x), value length: %u byte%s: " % (name, kind, tlen, "" if tlen == 1 else "s"))
        if len(value) < tlen:
            if kind in STRINGS and (verbose or kind == DEVICE_ID):
                out.append("'" + printable(value))     # nd_printn's text up to where the capture ends
            raise IndexError
        covered = False
        if kind in NAMES:
            low, high = BOUNDS.get(kind, (-1, -1))
            if (low > 0 and tlen < low) or (high > 0 and tlen > high):
                out.append(" (malformed TLV)")
            elif verbose or kind == DEVICE_ID:
                covered = _value(out, kind, value)
        if not covered:
            # tcpdump 4.99 dumps every other TLV's bytes without -v (print_unknown_data).
            out.append(hex_dump(value, "\n\t  "))
        cp, length = cp + tlen, length - tlen
    if not verbose:
        out.append(", length %u" % orig)


def _value(out: list[str], kind: int, v: bytes) -> bool:
    """The TLV's value as print-cdp.c's printer for its type shows it; False where it is dumped."""
    if kind in STRINGS:
        out.append("'%s'" % printable(v))
    elif kind in (0x02, 0x16):
        _addresses(out, v)
    elif kind == 0x04:
        val = u32(v, 0)[0]
        out.append("(0x%08x): %s" % (val, bits_text(CAPABILITIES, val, "none")))
    elif kind == 0x05:
        out.append("\n\t  " + "".join("\n\t  " if c == 0x0A else char_text(c) for c in v))
    elif kind == 0x0A:
        out.append("%u" % u16(v, 0)[0])
    elif kind == 0x0B:
        out.append("full" if v[0] else "half")
    elif kind == 0x10:
        out.append("%1.2fW" % (int.from_bytes(v, "big") / 1000.0))
    elif kind == 0x11:
        out.append("%u bytes" % u32(v, 0)[0])
    elif kind in (0x12, 0x13):
        out.append("0x%02x" % v[0])
    elif kind in NO_PRINTER:
        pass
    else:
        return False
    return True


def _addresses(out: list[str], v: bytes) -> None:
    """cdp_print_addr: IPv4 and IPv6 addresses by name, others as their bytes."""
    if len(v) < 4:
        out.append(" (not enough space for num)")
        return
    num, p, left = u32(v, 0)[0], 4, len(v) - 4
    while num:
        if left < 2:
            out.append(" (not enough space for PT+PL)")
            return
        pt, pl = v[p], v[p + 1]
        p, left = p + 2, left - 2
        if left < pl + 2:
            out.append(" (not enough space for P+AL)")
            return
        al = u16(v, p + pl)[0]
        proto = v[p:p + pl]
        if (pt == PT_NLPID and proto == b"\xcc" and al == 4) or (pt == PT_IEEE_802_2 and proto == LLC_SNAP_IPV6
                                                               and al == 16):
            p, left = p + pl + 2, left - pl - 2
            if left < al:
                out.append(" (not enough space for A)")
                return
            out.append("IPv4 (%u) %s" % (num, ip4(v[p:p + 4])) if al == 4 else "IPv6 (%u) %s" % (num, ip6(v[p:p + 16])))
        else:
            out.append("pt=0x%02x, pl=%u, pb=%s, al=%u, a=" % (pt, pl, "".join(" %02x" % b for b in proto), al))
            p, left = p + pl + 2, left - pl - 2
            if left < al:
                out.append(" (not enough space for A)")
                return
            out.append("".join(" %02x" % b for b in v[p:p + al]))
        p, left = p + al, left - al
        num -= 1
        if num:
            out.append(" ")
    if left:
        out.append(" (%u bytes of stray data)" % left)
