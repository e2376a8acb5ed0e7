"""The default one-line printer: tcpdump 4.99's text, byte for byte where ebcap decodes the protocol.

Speed is the design constraint here. Live printing has to keep up with at least 20,000 packets/s on a
2-core machine, so this path never builds Scapy objects: every header is read with
struct.unpack_from on the captured bytes. Measured on this machine (2 cores, shared, same run) on a
100,000-frame mix of the fixture corpus: Scapy's `Ether(data)` alone costs ~350 us a frame and with
`summary()` ~425 us (~2,400 frames/s), before any tcpdump formatting; this printer formats a frame in
~17 us (~59,000 frames/s; tcpdump -n on the same file: ~131,000 frames/s).

Truncation follows tcpdump: a read past the captured bytes raises (struct.error, IndexError or
Truncated) and the line ends with ` [|proto]`, proto being the layer that was being decoded.
"""

from __future__ import annotations

import socket
import struct
from typing import TextIO

from ebcap.capture.packet import Direction, Interface, LinkType, Packet
from ebcap.dissectors import dns, hexdump, http, tls
from ebcap.dissectors.cksum import in_cksum, pseudo_header, shouldbe
from ebcap.dissectors.errors import StopPacket, Truncated, trunc
from ebcap.dissectors.names import ServiceNames, ip4, ip4_at, ip6, ip6_at, mac, numeric_port, protocol_name
from ebcap.dissectors.options import PrintOptions
from ebcap.dissectors.timefmt import TimestampFormatter

_u16 = struct.Struct("!H").unpack_from
_u32 = struct.Struct("!I").unpack_from
_IP4 = struct.Struct("!BBHHHBBH4s4s").unpack_from
_TCP = struct.Struct("!HHIIBBHHH").unpack_from

ETHERTYPES = {
    0x0800: "IPv4", 0x0806: "ARP", 0x86DD: "IPv6", 0x8100: "802.1Q", 0x88A8: "802.1Q-QinQ",
    0x9100: "802.1Q-9100", 0x9200: "802.1Q-9200", 0x8035: "Reverse ARP", 0x8847: "MPLS unicast",
    0x8848: "MPLS multicast", 0x888E: "EAPOL", 0x88CC: "LLDP", 0x8863: "PPPoE D", 0x8864: "PPPoE S",
    0x88E5: "802.1AE MACsec", 0x88F7: "PTP", 0x8809: "Slow Protocols", 0x9000: "Loopback",
    0x88B5: "IEEE 802.1 Local Experimental", 0x6558: "TEB", 0x80F3: "AARP", 0x809B: "Appletalk",
    0x8137: "IPX", 0x0842: "Wake-on-LAN",
}
VLAN_TYPES = (0x8100, 0x88A8, 0x9100, 0x9200)
IPPROTO_NAMES = {
    0: "Options", 1: "ICMP", 2: "IGMP", 4: "IPIP", 6: "TCP", 8: "EGP", 9: "IGRP", 17: "UDP", 33: "DCCP",
    41: "IPv6", 43: "Routing", 44: "Fragment", 46: "RSVP", 47: "GRE", 50: "ESP", 51: "AH", 55: "Mobile IP",
    58: "ICMPv6", 62: "Mobile IP (old)", 88: "EIGRP", 89: "OSPF", 103: "PIM", 108: "Compressed IP",
    112: "VRRP", 113: "PGM", 132: "SCTP", 135: "Mobility", 143: "Ethernet",
}
_TCP_FLAGS = tuple((bit, ch) for bit, ch in ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"),
                                             (0x10, "."), (0x20, "U"), (0x40, "E"), (0x80, "W")))
_FLAG_TEXT = ["".join(ch for bit, ch in _TCP_FLAGS if f & bit) or "none" for f in range(256)]
_TCP_OPT_NAMES = {0: "eol", 1: "nop", 2: "mss", 3: "wscale", 4: "sackOK", 5: "sack", 6: "echo",
                  7: "echoreply", 8: "TS", 11: "cc", 12: "ccnew", 13: "", 19: "md5", 20: "scps",
                  28: "uto", 29: "tcp-ao", 30: "mptcp", 34: "tfo", 254: "exp"}
_SLL_PKTTYPES = {0: "In", 1: "B", 2: "M", 3: "P", 4: "Out"}
_DIRECTION_TEXT = {Direction.IN: "In", Direction.OUT: "Out"}

# TCP ports whose payload tcpdump hands to a decoder ebcap does not have: it prints the payload
# differently there, so ebcap prints nothing extra (a known difference, listed in the README).
_HTTP_PORTS = (80, 8080)
_DNS_PORT = 53
_NTP_PORT = 123
_MDNS_PORT = 5353

_ICMP_UNREACH = {
    0: "net %s unreachable", 1: "host %s unreachable", 5: "%s unreachable - source route failed",
    6: "net %s unreachable - unknown", 7: "host %s unreachable - unknown",
    8: "%s unreachable - source host isolated", 9: "net %s unreachable - admin prohibited",
    10: "host %s unreachable - admin prohibited", 11: "net %s unreachable - tos prohibited",
    12: "host %s unreachable - tos prohibited", 13: "host %s unreachable - admin prohibited filter",
    14: "host %s unreachable - host precedence violation", 15: "host %s unreachable - precedence cutoff",
}
_ICMP_SIMPLE = {0: "echo reply", 4: "source quench", 8: "echo request", 10: "router solicitation",
                13: "time stamp request", 14: "time stamp reply", 15: "information request",
                16: "information reply", 17: "address mask request"}
_ICMP_ERRTYPES = (3, 4, 5, 11, 12)
_ICMP6_TYPES = {
    1: "destination unreachable", 2: "packet too big", 3: "time exceeded in-transit",
    4: "parameter problem", 128: "echo request", 129: "echo reply", 130: "multicast listener query",
    131: "multicast listener report", 132: "multicast listener done", 133: "router solicitation",
    134: "router advertisement", 135: "neighbor solicitation", 136: "neighbor advertisement",
    137: "redirect", 138: "router renumbering", 141: "inverse neighbor solicitation",
    142: "inverse neighbor advertisement", 143: "multicast listener report v2",
    144: "ha discovery request", 145: "ha discovery reply", 146: "mobile router solicitation",
    147: "mobile router advertisement", 139: "node information query", 140: "node information reply",
    200: "mtrace response", 201: "mtrace message", 155: "RPL",
}
_ICMP6_UNREACH = {0: "unreachable route", 1: " unreachable prohibited", 2: "beyond scope",
                  3: "unreachable address", 4: "unreachable port"}
_ARP_OPS = {1: "Request", 2: "Reply", 3: "Reverse Request", 4: "Reverse Reply",
            8: "Inverse Request", 9: "Inverse Reply", 10: "NACK Reply"}
_ARP_HRD = {1: "Ethernet", 6: "TokenRing", 15: "FrameRelay", 19: "ATM", 24: "IEEE1394", 32: "InfiniBand",
            772: "Loopback", 2: "Experimental Ethernet", 7: "ARCNet", 11: "LocalTalk"}


class _Frame:
    """Per-packet decoding state: output pieces, current protocol name, link header length."""

    __slots__ = ("out", "proto", "ll_len")

    def __init__(self) -> None:
        self.out: list[str] = []
        self.proto = ""
        self.ll_len = 0


class LinePrinter:
    """tcpdump-style lines; keeps the per-connection state relative sequence numbers need."""

    def __init__(self, options: PrintOptions, interfaces: list[Interface], stream: TextIO) -> None:
        self._o = options
        self._interfaces = interfaces
        self._stream = stream
        self._timestamp = TimestampFormatter(options)
        self._tcp_isn: dict[tuple, list[int]] = {}
        self._v = options.verbose
        self._q = options.quiet
        self._e = options.link_header
        self._port = numeric_port if options.numeric else ServiceNames().port
        self._dump = None
        if options.hex_ascii:
            self._dump = (hexdump.hex_ascii_dump, options.hex_ascii > 1)
        elif options.hex:
            self._dump = (hexdump.hex_dump, options.hex > 1)
        elif options.ascii:
            self._dump = (hexdump.ascii_dump, options.ascii > 1)

    def print(self, packet: Packet) -> None:
        self._stream.write(self.format(packet))

    def format(self, packet: Packet) -> str:
        """The full text for one packet, ending in a newline."""
        f = _Frame()
        out = f.out
        out.append(self._timestamp(packet.ts_ns))
        data = packet.data
        wirelen = packet.wirelen
        caplen = len(data)
        bad = self._invalid_header(caplen, wirelen)
        if bad:
            return out[0] + bad + "\n"
        linktype = self._linktype(packet.interface)
        try:
            if self._o.show_interface and linktype != LinkType.LINUX_SLL2:
                out.append(self._interface_prefix(packet))
            if linktype == LinkType.ETHERNET:
                self._ether(f, data, wirelen)
            elif linktype == LinkType.RAW:
                if self._e:
                    out.append("ip: ")
                self._ip_any(f, data, 0, wirelen)
            elif linktype == LinkType.LINUX_SLL2:
                self._sll2(f, data, wirelen)
            elif linktype == LinkType.LINUX_SLL:
                self._sll(f, data, wirelen)
            elif linktype == LinkType.NULL:
                self._null(f, data, wirelen)
            else:
                f.out.append("[unsupported link type %u]" % linktype)
        except StopPacket:
            pass
        except Truncated:
            # tcpdump's local `goto trunc`: the link layer returned normally, its length stands.
            out.append(trunc(f.proto))
        except (struct.error, IndexError, ValueError, OSError):
            # tcpdump's longjmp out of a GET_ macro: the dumps then start at the link header.
            out.append(trunc(f.proto))
            f.ll_len = 0
        if self._dump is not None:
            dump, with_link = self._dump
            body = data if with_link else data[f.ll_len:]
            if with_link or caplen > f.ll_len:
                out.append(dump(body))
        out.append("\n")
        return "".join(out)

    # -- link layers -------------------------------------------------------------------------------

    @staticmethod
    def _invalid_header(caplen: int, wirelen: int) -> str:
        problems = []
        if caplen == 0:
            problems.append(" caplen==0")
        if wirelen == 0:
            problems.append(" len==0")
        elif wirelen < caplen:
            problems.append(" len(%u) < caplen(%u)" % (wirelen, caplen))
        if caplen > 262144:
            problems.append(" caplen(%u) > 262144" % caplen)
        if wirelen > 262144:
            problems.append(" len(%u) > 262144" % wirelen)
        if not problems:
            return ""
        return "[Invalid header:" + ",".join(problems) + "]"

    def _linktype(self, index: int) -> int:
        if 0 <= index < len(self._interfaces):
            return self._interfaces[index].linktype
        return LinkType.ETHERNET

    def _interface_prefix(self, packet: Packet) -> str:
        if 0 <= packet.interface < len(self._interfaces):
            name = self._interfaces[packet.interface].name
        else:
            name = "?"
        return "%-5s %-3s " % (name, _DIRECTION_TEXT.get(packet.direction, "?"))

    def _ether(self, f: _Frame, data: bytes, length: int) -> None:
        f.proto = "ether"
        caplen = len(data)
        if length < caplen:
            f.out.append("[length %u < caplen %u] (invalid)" % (length, caplen))
            return
        if caplen < 14:
            f.out.append(trunc("ether"))
            f.ll_len = caplen
            return
        out = self._e and f.out
        orig_length = length
        if out:
            out.append("%s > %s, " % (mac(data[6:12]), mac(data[0:6])))
        off = 12
        etype = _u16(data, off)[0]
        off += 2
        length -= 14
        printed_length = False
        while etype in VLAN_TYPES:
            if caplen - off < 4 or length < 4:
                f.proto = "vlan"
                f.out.append(trunc("vlan"))
                f.ll_len = min(caplen, off + length)
                return
            if out:
                out.append(self._ethertype_text(etype))
                if not printed_length:
                    out.append(", length %u: " % orig_length)
                    printed_length = True
                else:
                    out.append(", ")
                tci = _u16(data, off)[0]
                out.append(self._tci(tci) + ", ")
            etype = _u16(data, off + 2)[0]
            off += 4
            length -= 4
        f.ll_len = off
        if etype <= 1500:
            # 802.3 length field + LLC: not decoded on the line path.
            if out:
                out.append("802.3")
                if not printed_length:
                    out.append(", length %u: " % min(etype, length))
            f.out.append("LLC, length %u" % min(etype, length) if not out else "")
            self._default_print(f, data[off:])
            return
        if out:
            out.append(self._ethertype_text(etype))
            out.append(", length %u: " % orig_length if not printed_length else ", ")
        if not self._ethertype(f, etype, data, off, length):
            if not self._e:
                f.out.append("%s > %s, %s, length %u: " % (
                    mac(data[6:12]), mac(data[0:6]), self._ethertype_text(etype), orig_length))
            self._default_print(f, data[off:])

    def _ethertype_text(self, etype: int) -> str:
        if self._q:
            return ETHERTYPES.get(etype, "Unknown Ethertype (0x%04x)" % etype)
        return "ethertype %s (0x%04x)" % (ETHERTYPES.get(etype, "Unknown"), etype)

    @staticmethod
    def _tci(tci: int) -> str:
        text = "vlan %u, p %u" % (tci & 0xFFF, tci >> 13)
        if tci & 0x1000:
            text += ", DEI"
        return text

    def _default_print(self, f: _Frame, payload: bytes) -> None:
        if self._dump is None and payload:
            f.out.append(hexdump.hex_ascii_dump(payload))

    def _ethertype(self, f: _Frame, etype: int, data: bytes, off: int, length: int) -> bool:
        if etype == 0x0800:
            self._ip4(f, data, off, length)
        elif etype == 0x86DD:
            self._ip6(f, data, off, length)
        elif etype == 0x0806:
            self._arp(f, data, off, length)
        else:
            return False
        return True

    def _sll(self, f: _Frame, data: bytes, length: int) -> None:
        f.proto = "sll"
        if len(data) < 16:
            raise Truncated
        pkttype, _hatype, halen = struct.unpack_from("!HHH", data)
        etype = _u16(data, 14)[0]
        if self._e:
            f.out.append("%3s " % _SLL_PKTTYPES.get(pkttype, "?"))
            if halen == 6:
                f.out.append(mac(data[6:12]) + " ")
            if not self._q:
                f.out.append(self._sll_type_text(etype) + ", length %u: " % length)
        self._sll_payload(f, data, 16, length - 16, etype)

    def _sll2(self, f: _Frame, data: bytes, length: int) -> None:
        f.proto = "sll2"
        if len(data) < 20:
            raise Truncated
        etype, _res, ifindex, _hatype, pkttype, halen = struct.unpack_from("!HHIHBB", data)
        try:
            ifname = socket.if_indextoname(ifindex)
        except OSError:
            ifname = "?"
        f.out.append("%-5s %-3s " % (ifname, _SLL_PKTTYPES.get(pkttype, "?")))
        if self._e:
            f.out.append("ifindex %u " % ifindex)
            if halen == 6:
                f.out.append(mac(data[12:18]) + " ")
            if not self._q:
                f.out.append(self._sll_type_text(etype) + ", length %u: " % length)
        self._sll_payload(f, data, 20, length - 20, etype)

    def _sll_type_text(self, etype: int) -> str:
        if etype <= 1500:
            return {1: "802.3", 4: "802.2"}.get(etype, "ethertype Unknown (0x%04x)" % etype)
        return "ethertype %s (0x%04x)" % (ETHERTYPES.get(etype, "Unknown"), etype)

    def _sll_payload(self, f: _Frame, data: bytes, off: int, length: int, etype: int) -> None:
        while etype == 0x8100:
            if len(data) - off < 4:
                f.proto = "vlan"
                raise Truncated
            if self._e:
                f.out.append(self._tci(_u16(data, off)[0]) + ", ")
            etype = _u16(data, off + 2)[0]
            if etype <= 1500:
                etype = 4
            if not self._q:
                f.out.append("ethertype %s, " % ETHERTYPES.get(etype, "Unknown"))
            off += 4
            length -= 4
        f.ll_len = off
        if etype <= 1500 or not self._ethertype(f, etype, data, off, length):
            self._default_print(f, data[off:])

    def _null(self, f: _Frame, data: bytes, length: int) -> None:
        f.proto = "null"
        if len(data) < 4:
            raise Truncated
        family = struct.unpack_from("=I", data)[0]
        f.ll_len = 4
        if family == 2:
            self._ip4(f, data, 4, length - 4)
        elif family in (10, 24, 28, 30):
            self._ip6(f, data, 4, length - 4)
        else:
            f.out.append("AF %u" % family)
            self._default_print(f, data[4:])

    # -- network layers ----------------------------------------------------------------------------

    def _ip_any(self, f: _Frame, data: bytes, off: int, length: int) -> None:
        f.proto = "ip"
        version = data[off] >> 4
        if version == 6:
            self._ip6(f, data, off, length)
        else:
            self._ip4(f, data, off, length)

    def _ip4(self, f: _Frame, data: bytes, off: int, length: int) -> None:
        out = f.out
        f.proto = "ip"
        vhl = data[off]
        if vhl >> 4 != 4:
            if vhl >> 4 == 6:
                out.append("IP6, wrong link-layer encapsulation (invalid)")
            else:
                out.append("IP%u (invalid)" % (vhl >> 4))
            return
        if not self._e:
            out.append("IP ")
        if len(data) - off < 20:
            raise Truncated
        if length < 20:
            out.append("truncated-ip %u" % length)
            return
        _vhl, tos, total, ident, frag, ttl, proto, _sum, src, dst = _IP4(data, off)
        hlen = (vhl & 0x0F) * 4
        if hlen < 20:
            out.append("bad-hlen %u" % hlen)
            return
        if length < total:
            out.append("truncated-ip - %u bytes missing! " % (total - length))
        if total < hlen:
            out.append("bad-len %u" % total)
            return
        end = off + total
        if end < len(data):
            data = data[:end]   # tcpdump cuts the snapshot at the end of the IP datagram
        src_s = ip4(src)
        dst_s = ip4(dst)
        if self._v:
            self._ip4_verbose(f, data, off, hlen, tos, total, ident, frag, ttl, proto)
        payload_len = total - hlen
        if frag & 0x1FFF == 0:
            if proto not in (6, 17, 132, 33):
                out.append("%s > %s: " % (src_s, dst_s))
            if len(data) < off + hlen:
                out.append(" [remaining caplen(%u) < header length(%u)]" % (len(data) - off, hlen))
                raise IndexError
            self._ip_demux(f, data, off + hlen, payload_len, proto, frag & 0x2000, (4, src, dst, src_s, dst_s))
        else:
            out.append("%s > %s:" % (src_s, dst_s))
            name = None if self._o.numeric else protocol_name(proto)
            out.append(" %s" % name if name else " ip-proto-%u" % proto)

    def _ip4_verbose(self, f, data, off, hlen, tos, total, ident, frag, ttl, proto) -> None:
        out = f.out
        out.append("(tos 0x%x" % tos)
        ecn = tos & 3
        if ecn:
            out.append((None, ",ECT(1)", ",ECT(0)", ",CE")[ecn])
        if ttl >= 1:
            out.append(", ttl %u" % ttl)
        flags = ", ".join(name for bit, name in ((0x2000, "+"), (0x4000, "DF"), (0x8000, "rsvd")) if frag & bit)
        out.append(", id %u, offset %u, flags [%s], proto %s (%u)" % (
            ident, (frag & 0x1FFF) * 8, flags or "none", IPPROTO_NAMES.get(proto, "unknown"), proto))
        out.append(", length %u" % total)
        if hlen > 20:
            out.append(", options (")
            out.append(self._ip_options(data[off + 20:off + hlen], hlen - 20))
            out.append(")")
        if not self._o.no_checksum and off + hlen <= len(data):
            s = in_cksum(data[off:off + hlen])
            if s != 0:
                ip_sum = _u16(data, off + 10)[0]
                out.append(", bad cksum %x (->%x)!" % (ip_sum, shouldbe(ip_sum, s)))
        out.append(")\n    ")

    @staticmethod
    def _ip_options(opts: bytes, length: int) -> str:
        names = {0: "EOL", 1: "NOP", 7: "RR", 68: "TS", 130: "security", 131: "LSRR", 137: "SSRR",
                 148: "RA", 136: "SATID"}
        parts = []
        i = 0
        while i < len(opts):
            opt = opts[i]
            if opt in (0, 1):
                parts.append(names[opt])
                i += 1
                if opt == 0:
                    break
                continue
            if i + 1 >= len(opts):
                parts.append(names.get(opt, "unknown %u" % opt) + " [bad length]")
                break
            olen = opts[i + 1]
            parts.append(names.get(opt, "unknown %u" % opt) + ("" if olen >= 2 else " [bad length %u]" % olen))
            if olen < 2:
                break
            i += olen
        return ",".join(parts)

    def _ip6(self, f: _Frame, data: bytes, off: int, length: int) -> None:
        out = f.out
        f.proto = "ip6"
        if len(data) - off < 40:
            raise Truncated
        if length < 40:
            out.append("truncated-ip6 %u" % length)
            return
        if not self._e:
            out.append("IP6 ")
        flow, plen, nh, hlim = struct.unpack_from("!IHBB", data, off)
        if flow >> 28 != 6:
            out.append("version error: %u != 6" % (flow >> 28))
            return
        if plen:
            total = plen + 40
            if length < total:
                out.append("truncated-ip6 - %u bytes missing!" % (total - length))
        else:
            total = length + 40
        if self._v:
            out.append("(")
            if flow & 0x0FF00000:
                out.append("class 0x%02x, " % ((flow & 0x0FF00000) >> 20))
            if flow & 0x000FFFFF:
                out.append("flowlabel 0x%05x, " % (flow & 0x000FFFFF))
            out.append("hlim %u, next-header %s (%u) payload length: %u) " % (
                hlim, IPPROTO_NAMES.get(nh, "unknown"), nh, plen))
        end = off + total
        if end < len(data):
            data = data[:end]
        src = data[off + 8:off + 24]
        dst = data[off + 24:off + 40]
        src_s = ip6(src)
        dst_s = ip6(dst)
        if off + 40 >= len(data):
            return     # tcpdump's extension-header loop stops at the end of the capture
        cp = off + 40
        remaining = total - 40
        if nh not in (6, 17, 33, 132):
            out.append("%s > %s: " % (src_s, dst_s))
        fragmented = False
        # Skip extension headers; tcpdump prints them (HBH, DSTOPT, frag) - ebcap names them briefly.
        while nh in (0, 43, 60, 44):
            if cp + 8 > len(data):
                raise Truncated
            if nh == 44:
                offlg, ident = struct.unpack_from("!HI", data, cp + 2)
                out.append("frag (0x%08x:%u|%u) " % (ident, offlg & 0xFFF8, remaining - 8))
                fragmented = True
                nxt = data[cp]
                adv = 8
                if offlg & 0xFFF8:
                    return
            else:
                nxt = data[cp]
                adv = (data[cp + 1] + 1) * 8
                out.append({0: "HBH ", 43: "srcrt ", 60: "DSTOPT "}[nh])
            cp += adv
            remaining -= adv
            nh = nxt
        self._ip_demux(f, data, cp, remaining, nh, fragmented, (6, src, dst, src_s, dst_s))

    def _ip_demux(self, f: _Frame, data: bytes, off: int, length: int, proto: int, fragmented, ip) -> None:
        if proto == 6:
            self._tcp(f, data, off, length, ip, fragmented)
        elif proto == 17:
            self._udp(f, data, off, length, ip, fragmented)
        elif proto == 1:
            if ip[0] == 4:
                self._icmp(f, data, off, length, fragmented)
            else:
                f.out.append("[ICMP requires IPv4] (invalid)")
        elif proto == 58:
            if ip[0] == 6:
                self._icmp6(f, data, off, length, ip, fragmented)
            else:
                f.out.append("[ICMPv6 requires IPv6] (invalid)")
        elif proto == 4:
            self._ip4(f, data, off, length)
        elif proto == 41:
            self._ip6(f, data, off, length)
        elif proto == 59:
            f.out.append("no next header")
        else:
            name = None if self._o.numeric else protocol_name(proto)
            f.out.append(" %s %u" % (name, length) if name else " ip-proto-%u %u" % (proto, length))

    # -- transport ---------------------------------------------------------------------------------

    def _tcp(self, f: _Frame, data: bytes, off: int, length: int, ip, fragmented) -> None:
        out = f.out
        f.proto = "tcp"
        version, src, dst, src_s, dst_s = ip
        if len(data) - off < 4:
            out.append("%s > %s:" % (src_s, dst_s))
            raise Truncated
        sport, dport = struct.unpack_from("!HH", data, off)
        out.append("%s.%s > %s.%s: " % (src_s, self._port(sport, "tcp"), dst_s, self._port(dport, "tcp")))
        if len(data) - off < 20:
            raise Truncated
        _sp, _dp, seq, ack, offx, flags, win, tsum, urp = _TCP(data, off)
        hlen = (offx >> 4) * 4
        if hlen < 20:
            out.append(" tcp %u [bad hdr length %u - too short, < 20]" % (length - hlen, hlen))
            return
        if self._q:
            out.append("tcp %u" % (length - hlen))
            if hlen > length:
                out.append(" [bad hdr length %u - too long, > %u]" % (hlen, length))
            return
        out.append("Flags [%s]" % _FLAG_TEXT[flags])
        thseq = thack = 0
        rev = False
        if not self._o.absolute_seq and flags & 0x10:
            rev = sport > dport or (sport == dport and src > dst)
            key = (dst, src, dport, sport) if rev else (src, dst, sport, dport)
            state = self._tcp_isn.get(key)
            if state is None or flags & 0x02:
                if rev:
                    state = [(ack - 1) & 0xFFFFFFFF, seq]
                else:
                    state = [seq, (ack - 1) & 0xFFFFFFFF]
                self._tcp_isn[key] = state
            else:
                if rev:
                    seq = (seq - state[1]) & 0xFFFFFFFF
                    ack = (ack - state[0]) & 0xFFFFFFFF
                else:
                    seq = (seq - state[0]) & 0xFFFFFFFF
                    ack = (ack - state[1]) & 0xFFFFFFFF
            thseq, thack = state
        if hlen > length:
            out.append(" [bad hdr length %u - too long, > %u]" % (hlen, length))
            return
        if self._v and not self._o.no_checksum and not fragmented and len(data) - off >= length:
            s = in_cksum(pseudo_header(version, src, dst, 6, length) + data[off:off + length])
            if s != 0:
                out.append(", cksum 0x%04x (incorrect -> 0x%04x)" % (tsum, shouldbe(tsum, s)))
            else:
                out.append(", cksum 0x%04x (correct)" % tsum)
        length -= hlen
        if self._v > 1 or length > 0 or flags & 0x07:
            out.append(", seq %u" % seq)
            if length > 0:
                out.append(":%u" % ((seq + length) & 0xFFFFFFFF))
        if flags & 0x10:
            out.append(", ack %u" % ack)
        out.append(", win %u" % win)
        if flags & 0x20:
            out.append(", urg %u" % urp)
        if hlen > 20:
            self._tcp_options(f, data, off + 20, hlen - 20, rev, thseq, thack)
        out.append(", length %u" % length)
        if length == 0:
            return
        if len(data) < off + hlen:
            out.append(" [remaining caplen(%u) < header length(%u)]" % (len(data) - off, hlen))
            raise IndexError
        pay = off + hlen
        if flags & 0x04 and self._v:
            self._rst_data(f, data, pay, length)
            return
        if sport in _HTTP_PORTS or dport in _HTTP_PORTS:
            out.append(": ")
            f.proto = "http"
            try:
                out.append(http.http_text(data[pay:pay + length], length, self._v))
            except http.Short as short:
                out.append(short.partial)
                raise
        elif sport == _DNS_PORT or dport == _DNS_PORT:
            self._dns_over_tcp(f, data, pay, length)
        if sport == 443 or dport == 443 or tls.looks_like_handshake(data, pay):
            summary = tls.client_hello_summary(data[pay:pay + length])
            if summary:
                out.append(" " + summary)

    def _dns_over_tcp(self, f: _Frame, data: bytes, pay: int, length: int) -> None:
        f.proto = "domain"
        if length < 2:
            f.out.append(" [DNS over TCP: length %u < 2] (invalid)" % length)
            return
        prefix = _u16(data, pay)[0]
        if prefix != length - 2:
            f.out.append(" [prefix length(%u) != length(%u)] (invalid)" % (prefix, length - 2))
            return
        f.out.append(" " + dns.domain_line(data[pay + 2:pay + length], length - 2, self._v))

    def _rst_data(self, f: _Frame, data: bytes, pay: int, length: int) -> None:
        body = data[pay:pay + length]
        f.out.append(" [RST")
        if len(body) < length:
            f.out.append(" %s%s]" % (_rst_text(body), trunc("tcp")))
        else:
            f.out.append(" %s]" % _rst_text(body))

    def _tcp_options(self, f: _Frame, data: bytes, cp: int, hlen: int, rev: bool, thseq: int, thack: int) -> None:
        out = f.out
        out.append(", options [")
        sep = ""
        try:
            while hlen > 0:
                out.append(sep)
                opt = data[cp]
                cp += 1
                if opt in (0, 1):
                    length = 1
                else:
                    length = data[cp]
                    cp += 1
                    if length < 2 or length > hlen:
                        out.append("[bad opt]")
                        if sep:
                            out.append("]")
                        return
                    hlen -= 1
                hlen -= 1
                out.append(_TCP_OPT_NAMES.get(opt, "unknown-%u" % opt))
                datalen = 0
                if opt == 2:
                    datalen = 2
                    _lencheck(datalen, hlen, data, cp)
                    out.append(" %u" % _u16(data, cp)[0])
                elif opt == 3:
                    datalen = 1
                    _lencheck(datalen, hlen, data, cp)
                    out.append(" %u" % data[cp])
                elif opt == 5:
                    datalen = length - 2
                    if datalen % 8:
                        out.append(" invalid sack")
                    else:
                        out.append(" %u " % (datalen // 8))
                        for i in range(0, datalen, 8):
                            _lencheck(i + 8, hlen, data, cp)
                            s, e = struct.unpack_from("!II", data, cp + i)
                            base = thseq if rev else thack
                            out.append("{%u:%u}" % ((s - base) & 0xFFFFFFFF, (e - base) & 0xFFFFFFFF))
                elif opt in (6, 7, 11, 12, 13):
                    datalen = 4
                    _lencheck(datalen, hlen, data, cp)
                    out.append(" %u" % _u32(data, cp)[0])
                elif opt == 8:
                    datalen = 8
                    _lencheck(datalen, hlen, data, cp)
                    out.append(" val %u ecr %u" % struct.unpack_from("!II", data, cp))
                elif opt in (0, 1, 4):
                    pass
                elif opt == 28:
                    datalen = 2
                    _lencheck(datalen, hlen, data, cp)
                    uto = _u16(data, cp)[0]
                    out.append(" 0x%x %u" % (uto, (uto >> 1) * 60 if uto & 1 else uto >> 1))
                elif opt == 20:
                    datalen = 2
                    _lencheck(datalen, hlen, data, cp)
                    out.append(" cap %02x id %u" % (data[cp], data[cp + 1]))
                else:
                    datalen = length - 2
                    if datalen:
                        out.append(" 0x")
                    for i in range(datalen):
                        _lencheck(i + 1, hlen, data, cp)
                        out.append("%02x" % data[cp + i])
                cp += datalen
                hlen -= datalen
                datalen += 1 if opt in (0, 1) else 2
                if datalen != length:
                    out.append("[len %u]" % length)
                sep = ","
                if opt == 0:
                    break
        except _BadOption:
            out.append("[bad opt]")
            if sep:
                out.append("]")
            raise StopPacket from None
        out.append("]")

    def _udp(self, f: _Frame, data: bytes, off: int, length: int, ip, fragmented) -> None:
        out = f.out
        f.proto = "udp"
        version, src, dst, src_s, dst_s = ip
        if len(data) - off < 4:
            out.append("%s > %s: " % (src_s, dst_s))
            raise Truncated
        sport, dport = struct.unpack_from("!HH", data, off)
        addrs = "%s.%s > %s.%s: " % (src_s, self._port(sport, "udp"), dst_s, self._port(dport, "udp"))
        if length < 8:
            out.append(addrs + "truncated-udp %u" % length)
            return
        if len(data) - off < 6:
            out.append(addrs)
            raise Truncated
        ulen = _u16(data, off + 4)[0]
        if ulen == 0 and length > 65535:
            ulen = length
        if ulen < 8:
            out.append(addrs + "truncated-udplength %u" % ulen)
            return
        ulen -= 8
        length -= 8
        if ulen < length:
            length = ulen
        out.append(addrs)
        if len(data) < off + 8:
            raise Truncated
        pay = off + 8
        if self._v and not self._o.no_checksum and not fragmented:
            usum = _u16(data, off + 6)[0]
            if version == 4 and self._v > 1:
                if usum == 0:
                    out.append("[no cksum] ")
                elif len(data) - pay >= length:
                    s = in_cksum(pseudo_header(4, src, dst, 17, length + 8) + data[off:pay + length])
                    out.append("[bad udp cksum 0x%04x -> 0x%04x!] " % (usum, shouldbe(usum, s)) if s
                               else "[udp sum ok] ")
            elif version == 6 and len(data) - pay >= length:
                s = in_cksum(pseudo_header(6, src, dst, 17, length + 8) + data[off:pay + length])
                out.append("[bad udp cksum 0x%04x -> 0x%04x!] " % (usum, shouldbe(usum, s)) if s
                           else "[udp sum ok] ")
        if self._q:
            out.append("UDP, length %u" % length)
            return
        if sport == _DNS_PORT or dport == _DNS_PORT:
            out.append(dns.domain_line(data[pay:pay + length], length, self._v))
        elif sport == _NTP_PORT or dport == _NTP_PORT:
            f.proto = "ntp"
            status = data[pay]
            mode = status & 7
            out.append("NTPv%u, %s, length %u" % ((status >> 3) & 7, _NTP_MODES[mode], length))
        else:
            out.append("UDP, length %u" % length)

    # -- ICMP --------------------------------------------------------------------------------------

    def _icmp(self, f: _Frame, data: bytes, off: int, plen: int, fragmented) -> None:
        out = f.out
        f.proto = "icmp"
        itype = data[off]
        code = data[off + 1]
        if itype in (0, 8):
            ident, seq = struct.unpack_from("!HH", data, off + 4)
            text = "echo %s, id %u, seq %u" % ("request" if itype == 8 else "reply", ident, seq)
        elif itype == 3:
            inner_dst = off + 8 + 16
            if code == 3:
                _ = data[off + 8 + 9]
                ihl = (data[off + 8] & 0x0F) * 4
                dport = _u16(data, off + 8 + ihl + 2)[0]
                iproto = data[off + 8 + 9]
                dst_s = ip4_at(data, inner_dst)
                if iproto == 6:
                    text = "%s tcp port %s unreachable" % (dst_s, self._port(dport, "tcp"))
                elif iproto == 17:
                    text = "%s udp port %s unreachable" % (dst_s, self._port(dport, "udp"))
                else:
                    text = "%s protocol %u port %u unreachable" % (dst_s, iproto, dport)
            elif code == 2:
                text = "%s protocol %u unreachable" % (ip4_at(data, inner_dst), data[off + 8 + 9])
            elif code == 4:
                mtu = _u16(data, off + 6)[0]
                dst_s = ip4_at(data, inner_dst)
                text = ("%s unreachable - need to frag (mtu %u)" % (dst_s, mtu) if mtu
                        else "%s unreachable - need to frag" % dst_s)
            elif code in _ICMP_UNREACH:
                text = _ICMP_UNREACH[code] % ip4_at(data, inner_dst)
            else:
                text = "%s unreachable - #%u" % (ip4_at(data, inner_dst), code)
        elif itype == 5:
            names = {0: "redirect %s to net %s", 1: "redirect %s to host %s",
                     2: "redirect-tos %s to net %s", 3: "redirect-tos %s to host %s"}
            dst_s = ip4_at(data, off + 8 + 16)
            gw = ip4_at(data, off + 4)
            text = names[code] % (dst_s, gw) if code in names else "redirect-#%u %s to %s" % (code, dst_s, gw)
        elif itype == 11:
            ip4_at(data, off + 8 + 16)
            text = {0: "time exceeded in-transit", 1: "ip reassembly time exceeded"}.get(
                code, "time exceeded-#%u" % code)
        elif itype == 12:
            text = ("parameter problem - code %u" % code if code
                    else "parameter problem - octet %u" % data[off + 4])
        elif itype == 18:
            text = "address mask is 0x%08x" % _u32(data, off + 12)[0]
        elif itype == 13:
            text = "time stamp query id %u seq %u" % struct.unpack_from("!HH", data, off + 4)
        elif itype == 9:
            text = self._icmp_router_advert(data, off)
        else:
            text = _ICMP_SIMPLE.get(itype, "type-#%u" % itype)
        out.append("ICMP %s, length %u" % (text, plen))
        if self._v and not fragmented and len(data) - off >= plen:
            s = in_cksum(data[off:off + plen])
            if s:
                isum = _u16(data, off + 2)[0]
                out.append(" (wrong icmp cksum %x (->%x)!)" % (isum, shouldbe(isum, s)))
        if self._v and itype in _ICMP_ERRTYPES:
            inner = off + 8
            out.append("\n\t")
            ilen = _u16(data, inner + 2)[0]
            self._ip4(f, data[:inner + ilen], inner, ilen)

    @staticmethod
    def _icmp_router_advert(data: bytes, off: int) -> str:
        num, size, lifetime = struct.unpack_from("!BBH", data, off + 4)
        if lifetime < 60:
            life = "%u" % lifetime
        elif lifetime < 3600:
            life = "%u:%02u" % (lifetime // 60, lifetime % 60)
        else:
            life = "%u:%02u:%02u" % (lifetime // 3600, (lifetime % 3600) // 60, lifetime % 60)
        text = "router advertisement lifetime %s %u:" % (life, num)
        if size != 2:
            return text + " [size %u]" % size
        for i in range(num):
            p = off + 8 + 8 * i
            text += " {%s %u}" % (ip4_at(data, p), _u32(data, p + 4)[0])
        return text

    def _icmp6(self, f: _Frame, data: bytes, off: int, length: int, ip, fragmented) -> None:
        out = f.out
        f.proto = "icmp6"
        _version, src, dst, _s, _d = ip
        if length == 0:
            out.append("ICMP6, length 0 (invalid)")
            return
        if self._v and not fragmented and len(data) - off >= length:
            isum = _u16(data, off + 2)[0]
            s = in_cksum(pseudo_header(6, src, dst, 58, length) + data[off:off + length])
            out.append("[bad icmp6 cksum 0x%04x -> 0x%04x!] " % (isum, shouldbe(isum, s)) if s
                       else "[icmp6 sum ok] ")
        itype = data[off]
        out.append("ICMP6, %s" % _ICMP6_TYPES.get(itype, "unknown icmp6 type (%u)" % itype))
        if self._v and itype in (133, 134, 135, 136, 137, 145, 147):
            out.append(", length %u" % length)
        code = data[off + 1]
        inner = off + 8
        if itype == 1:
            out.append(", %s" % _ICMP6_UNREACH.get(code, "unknown unreach code (%u)" % code))
            if code in (0, 1, 3):
                out.append(" %s" % ip6_at(data, inner + 24))
            elif code == 2:
                out.append(" %s, source address %s" % (ip6_at(data, inner + 24), ip6_at(data, inner + 8)))
            elif code == 4:
                dst_s = ip6_at(data, inner + 24)
                nxt = data[inner + 6]
                dport = _u16(data, inner + 40 + 2)[0]
                if nxt == 6:
                    out.append(", %s tcp port %s" % (dst_s, self._port(dport, "tcp")))
                elif nxt == 17:
                    out.append(", %s udp port %s" % (dst_s, self._port(dport, "udp")))
                else:
                    out.append(", %s protocol %u port %u unreachable" % (dst_s, nxt, dport))
            elif self._v <= 1:
                out.append(hexdump.hex_ascii_dump(data[off:off + length]))
                return
        elif itype == 2:
            out.append(", mtu %u" % _u32(data, off + 4)[0])
        elif itype == 3:
            if code == 0:
                out.append(" for %s" % ip6_at(data, inner + 24))
            elif code == 1:
                out.append(" (reassembly)")
            else:
                out.append(", unknown code (%u)" % code)
        elif itype == 4:
            ip6_at(data, inner + 24)
            what = {0: "erroneous", 1: "next header", 2: "option", 3: "incomplete header chain"}
            if code in what:
                out.append(", %s - octet %u" % (what[code], _u32(data, off + 4)[0]))
            else:
                out.append(", code-#%u" % code)
        elif itype in (128, 129):
            out.append(", id %u, seq %u" % struct.unpack_from("!HH", data, off + 4))
        elif itype == 135:
            out.append(", who has %s" % ip6_at(data, off + 8))
            if self._v:
                self._nd_options(f, data, off + 24, length - 24)
        elif itype == 136:
            out.append(", tgt is %s" % ip6_at(data, off + 8))
            if self._v:
                flags = data[off + 4]
                names = [n for bit, n in ((0x80, "router"), (0x40, "solicited"), (0x20, "override")) if flags & bit]
                out.append(", Flags [%s]" % (", ".join(names) or "none"))
                self._nd_options(f, data, off + 24, length - 24)
        elif itype == 133:
            if self._v:
                self._nd_options(f, data, off + 8, length - 8)
        elif itype == 134:
            if self._v:
                hop, flags, life, reach, retrans = struct.unpack_from("!BBHII", data, off + 4)
                fl = [n for bit, n in ((0x80, "managed"), (0x40, "other stateful"), (0x20, "Home Agent"),
                                       (0x04, "proxy")) if flags & bit]
                pref = {0: "medium", 1: "high", 2: "rsv", 3: "low"}[(flags >> 3) & 3]
                out.append("\n\thop limit %u, Flags [%s], pref %s, router lifetime %us, reachable time %ums,"
                           " retrans timer %ums" % (hop, ", ".join(fl) or "none", pref, life, reach, retrans))
                self._nd_options(f, data, off + 16, length - 16)
        elif itype in (130, 131, 132, 143):
            # MLD decodes are not on ebcap's line path; print what tcpdump prints for unknown types.
            out.append(", length %u" % length)
            return
        else:
            out.append(", length %u" % length)
            if self._v <= 1:
                out.append(hexdump.hex_ascii_dump(data[off:off + length]))
            return
        if not self._v:
            out.append(", length %u" % length)

    def _nd_options(self, f: _Frame, data: bytes, cp: int, length: int) -> None:
        out = f.out
        names = {1: "source link-address", 2: "destination link-address", 3: "prefix info",
                 4: "redirected header", 5: "mtu", 25: "rdnss", 31: "dnssl", 24: "route info"}
        end = cp + length
        while cp < end:
            otype, olen = data[cp], data[cp + 1]
            if olen == 0:
                return
            out.append("\n\t  %s option (%u), length %u (%u)" % (
                names.get(otype, "unknown option"), otype, olen * 8, olen))
            body = data[cp + 2:cp + olen * 8]
            if len(body) < olen * 8 - 2:
                raise Truncated
            if otype in (1, 2):
                out.append(": " + body[:6].hex(":") if len(body) >= 6 else ": " + body.hex(":"))
            elif otype == 5:
                out.append(": %u" % _u32(body, 2)[0])
            elif otype == 3:
                plen, fl, valid, pref = struct.unpack_from("!BBII", body, 0)
                prefix = ip6(body[14:30])
                flags = [n for bit, n in ((0x80, "onlink"), (0x40, "auto"), (0x20, "router")) if fl & bit]
                out.append(": %s/%u, Flags [%s], valid time %s, pref. time %s" % (
                    prefix, plen, ", ".join(flags) or "none", _lifetime(valid), _lifetime(pref)))
            elif self._v <= 1:
                out.append(hexdump.hex_dump(body, "\n\t    "))
            if self._v > 1:
                out.append(hexdump.hex_dump(body, "\n\t    "))
            cp += olen * 8

    # -- ARP ---------------------------------------------------------------------------------------

    def _arp(self, f: _Frame, data: bytes, off: int, length: int) -> None:
        out = f.out
        f.proto = "arp"
        hrd, pro, hln, pln, op = struct.unpack_from("!HHBBH", data, off)
        sha = off + 8
        spa = sha + hln
        tha = spa + pln
        tpa = tha + hln
        if len(data) < tpa + pln:
            raise IndexError
        if not self._e:
            out.append("ARP, ")
        if pro not in (0x0800, 0x1000) or pln != 4 or hln == 0 or self._v:
            out.append("%s (len %u), %s (len %u)" % (
                _ARP_HRD.get(hrd, "Unknown Hardware (%u)" % hrd), hln,
                ETHERTYPES.get(pro, "Unknown Protocol (0x%04x)" % pro), pln))
            if not self._v:
                out.append(", length %u" % length)
                return
        out.append("%s%s " % (", " if self._v else "", _ARP_OPS.get(op, "Unknown (%u)" % op)))

        def paddr(at: int) -> str:
            if pro not in (0x0800, 0x1000) or pln != 4:
                return "<wrong proto type>" if pro not in (0x0800, 0x1000) else "<wrong len>"
            return ip4(data[at:at + 4])

        def haddr(at: int) -> str:
            return data[at:at + hln].hex(":") if hln else "<empty>"

        if op == 1:
            out.append("who-has " + paddr(tpa))
            if any(data[tha:tha + hln]):
                out.append(" (%s)" % haddr(tha))
            out.append(" tell " + paddr(spa))
        elif op == 2:
            out.append("%s is-at %s" % (paddr(spa), haddr(sha)))
        elif op in (3, 8):
            out.append("who-is %s tell %s" % (haddr(tha), haddr(sha)))
        elif op == 4:
            out.append("%s at %s" % (haddr(tha), paddr(tpa)))
        elif op == 9:
            out.append("%s at %s" % (haddr(sha), paddr(spa)))
        else:
            self._default_print(f, data[off:])
            return
        out.append(", length %u" % length)


class _BadOption(Exception):
    pass


_NTP_MODES = ("unspecified", "symmetric active", "symmetric passive", "Client", "Server", "Broadcast",
              "Control Message", "Reserved")


def _lencheck(n: int, hlen: int, data: bytes, cp: int) -> None:
    if n > hlen:
        raise _BadOption
    if cp + n > len(data):
        raise IndexError


def _lifetime(v: int) -> str:
    return "infinity" if v == 0xFFFFFFFF else dns.relts(v)


def _rst_text(body: bytes) -> str:
    return "".join(chr(c) if 0x20 <= c < 0x7F else "." for c in body)
