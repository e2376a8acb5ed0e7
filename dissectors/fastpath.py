"""The fast path of the line printer for the frames most files are made of: Ethernet, then IPv4
(not a fragment) or IPv6 (no extension header), then TCP (options nop, eol, mss, wscale,
sackOK, TS) or UDP, printed with the default options (no -e, -v, -q, no dumps).

Why: `ebcap -r` prints a file at most as fast as it formats a line, and the layered printers
(ethernet.py -> ipv4.py -> ipdemux.py -> tcp.py) cost ~10 us a frame in calls, unpacks and
appends; this path reads each header with one unpack and writes the line in one append.
It decides before it writes anything: a frame with anything else in it (a VLAN tag, IP options
under -v, a fragment, an unusual TCP option, a length that does not add up, a cut short
capture) returns False untouched, and the layered printers print it. What comes after the
transport header (the port table's application printers, the TCP trailers) is the layered
path's own code, called the same way. tests/unit/test_offline_fast_paths.py checks that every
line of the fixture corpora and the offline bench's corpus is the same both ways.
"""

from __future__ import annotations

import socket
import struct

from ebcap.dissectors.names import numeric_port
from ebcap.dissectors.nfs import NFS_PORT
from ebcap.dissectors.tcp import TH_ACK, TH_URG, _FLAG_TEXT, _relative_seq

_ETHER_IP4 = struct.Struct("!12xHBBHHHBBH4s4s").unpack_from     # ethertype, then the IPv4 header
_ETHER_IP6 = struct.Struct("!12xHIHBB16s16s").unpack_from       # ethertype, then the IPv6 header
_TCP = struct.Struct("!HHIIBBHHH").unpack_from
_UDP = struct.Struct("!HHH").unpack_from
_MSS = struct.Struct("!H").unpack_from
_TS = struct.Struct("!II").unpack_from
_inet_ntoa = socket.inet_ntoa
_inet_ntop = socket.inet_ntop
_AF_INET6 = socket.AF_INET6
ETHER_HLEN = 14
TH_FSR = 0x07                   # FIN, SYN, RST: the segment's seq is printed


def usable(options) -> bool:
    """Whether these print options leave lines to the fast path (its text is the default's)."""
    return not (options.link_header or options.verbose or options.quiet or options.hex
                or options.hex_ascii or options.ascii)


def ether_fast(nd, data: bytes, length: int) -> bool:
    """LINKTYPE_ETHERNET's line after the timestamp, or False with nothing written."""
    caplen = len(data)
    if caplen < ETHER_HLEN + 40 or length < caplen:
        return False
    etype = data[12] << 8 | data[13]
    if etype == 0x0800:
        (_etype, vhl, _tos, total, _ident, frag, ttl, proto, _sum, src,
         dst) = _ETHER_IP4(data, 0)
        hlen = (vhl & 0x0F) * 4
        if (vhl >> 4 != 4 or hlen < 20 or frag & 0x1FFF or total < hlen
                or length - ETHER_HLEN < total or caplen < ETHER_HLEN + hlen):
            return False
        end = ETHER_HLEN + total
        if end < caplen:
            data = data[:end]       # tcpdump cuts the snapshot at the end of the IP datagram
        ip = (4, src, dst, _inet_ntoa(src), _inet_ntoa(dst), ttl, proto)
        off, left, fragmented = ETHER_HLEN + hlen, total - hlen, frag & 0x2000
        prefix = "IP "
    elif etype == 0x86DD:
        _etype, flow, plen, proto, hlim, src, dst = _ETHER_IP6(data, 0)
        total = plen + 40
        if flow >> 28 != 6 or not plen or length - ETHER_HLEN < total:
            return False
        end = ETHER_HLEN + total
        if end < caplen:
            data = data[:end]
        if ETHER_HLEN + 40 >= len(data):
            return False
        ip = (6, src, dst, _inet_ntop(_AF_INET6, src), _inet_ntop(_AF_INET6, dst), hlim, proto)
        off, left, fragmented = ETHER_HLEN + 40, plen, False
        prefix = "IP6 "
    else:
        return False
    if proto == 6:
        done = _tcp(nd, data, off, left, ip, prefix)
    elif proto == 17:
        done = _udp(nd, data, off, left, ip, prefix, fragmented)
    else:
        return False
    if done:
        nd.ll_len = ETHER_HLEN
    return done


def _tcp(nd, data: bytes, off: int, length: int, ip: tuple, prefix: str) -> bool:
    if len(data) - off < 20:
        return False
    sport, dport, seq, ack, offx, flags, win, _sum, urp = _TCP(data, off)
    hlen = (offx >> 4) * 4
    if hlen < 20 or hlen > length or len(data) < off + hlen:
        return False
    options = ""
    if hlen > 20:
        options = _options(data, off + 20, off + hlen)
        if options is None:
            return False
    port = nd.port
    if port is numeric_port:        # -n: no call a port
        text = ["%s%s.%u > %s.%u: Flags [%s]" % (prefix, ip[3], sport, ip[4], dport,
                                                 _FLAG_TEXT[flags])]
    else:
        text = ["%s%s.%s > %s.%s: Flags [%s]" % (prefix, ip[3], port(sport, "tcp"), ip[4],
                                                 port(dport, "tcp"), _FLAG_TEXT[flags])]
    if not nd.absolute_seq and flags & TH_ACK:
        seq, ack, _sack_base = _relative_seq(nd, ip, sport, dport, seq, ack, flags)
    length -= hlen
    if length > 0:
        text.append(", seq %u:%u" % (seq, (seq + length) & 0xFFFFFFFF))
    elif flags & TH_FSR:
        text.append(", seq %u" % seq)
    if flags & TH_ACK:
        text.append(", ack %u, win %u" % (ack, win))
    else:
        text.append(", win %u" % win)
    if flags & TH_URG:
        text.append(", urg %u" % urp)
    text.append("%s, length %u" % (options, length))
    nd.out.append("".join(text))
    if length == 0:
        return True
    nd.proto = "tcp"        # what a truncated payload's marker names, as in tcp.py
    pay = off + hlen
    table = nd.tcp_ports
    if sport in table or dport in table:
        table.lookup(sport, dport)(nd, data, pay, length)
    for trailer in nd.tcp_trailers:
        trailer(nd, data, pay, length, sport, dport)
    return True


def _options(data: bytes, cp: int, end: int) -> str | None:
    """The `, options [...]` text of the usual options, None for anything else (tcp.py's)."""
    if end > len(data):
        return None
    parts = []
    while cp < end:
        opt = data[cp]
        if opt == 1:
            parts.append("nop")
            cp += 1
            continue
        if opt == 0:
            parts.append("eol")
            break
        if cp + 1 >= end:
            return None
        olen = data[cp + 1]
        if opt == 8 and olen == 10 and cp + 10 <= end:
            parts.append("TS val %u ecr %u" % _TS(data, cp + 2))
        elif opt == 2 and olen == 4 and cp + 4 <= end:
            parts.append("mss %u" % _MSS(data, cp + 2))
        elif opt == 4 and olen == 2:
            parts.append("sackOK")
        elif opt == 3 and olen == 3 and cp + 3 <= end:
            parts.append("wscale %u" % data[cp + 2])
        else:
            return None
        cp += olen
    return ", options [%s]" % ",".join(parts)


def _udp(nd, data: bytes, off: int, length: int, ip: tuple, prefix: str, fragmented) -> bool:
    if length < 8 or len(data) - off < 8:
        return False
    sport, dport, ulen = _UDP(data, off)
    if ulen < 8 or sport == NFS_PORT or dport == NFS_PORT:
        return False                # NFS is tried before the port table (udp.py): its path
    ulen -= 8
    length -= 8
    if ulen < length:
        length = ulen
    port = nd.port
    if port is numeric_port:
        addrs = "%s%s.%u > %s.%u: " % (prefix, ip[3], sport, ip[4], dport)
    else:
        addrs = "%s%s.%s > %s.%s: " % (prefix, ip[3], port(sport, "udp"), ip[4],
                                       port(dport, "udp"))
    table = nd.udp_ports
    if sport in table or dport in table:
        nd.out.append(addrs)
        nd.proto = "udp"
        nd.udp_ip = ip
        table.lookup(sport, dport)(nd, data, off + 8, length)
    elif ulen > length and not fragmented:
        nd.out.append(addrs + "UDP, bad length %u > %u" % (ulen, length))
    else:
        nd.out.append(addrs + "UDP, length %u" % ulen)
    return True
