"""UDP (print-udp.c): ports, length checks, -v's checksum, then the port table."""

from __future__ import annotations

from ebcap.dissectors.cksum import in_cksum, pseudo_header, shouldbe
from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u16
from ebcap.dissectors.ipdemux import ports
from ebcap.dissectors.nfs import NFS_PORT, nfs_message



def udp_print(nd, data: bytes, off: int, length: int, ip: tuple, fragmented) -> None:
    out = nd.out
    nd.proto = "udp"
    sport, dport, addrs = ports(nd, data, off, ip, "udp", 17, "%s > %s: ")
    if length < 8:
        out.append(addrs + "truncated-udp %u" % length)
        return
    if len(data) - off < 6:
        out.append(addrs)
        raise Truncated
    ulen = u16(data, off + 4)[0]
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
    # print-udp.c tries Sun RPC to or from NFS's port before the checksum and the port table
    if (sport == NFS_PORT or dport == NFS_PORT) and not nd.quiet and nfs_message(nd, data, pay, length,
                                                                                 sport, dport, ""):
        return
    if nd.verbose and not nd.no_checksum and not fragmented:
        _checksum(nd, data, off, length, ip)
    table = nd.udp_ports
    if not nd.quiet and (sport in table or dport in table):
        nd.udp_ip = ip
        table.lookup(sport, dport)(nd, data, pay, length)
    elif ulen > length and not fragmented:
        out.append("UDP, bad length %u > %u" % (ulen, length))
    else:
        out.append("UDP, length %u" % ulen)


def _checksum(nd, data: bytes, off: int, length: int, ip: tuple) -> None:
    """-v: IPv6's checksum, and with -vv IPv4's, when the whole datagram was captured."""
    version, src, dst = ip[:3]
    usum = u16(data, off + 6)[0]
    if version == 4:
        if nd.verbose < 2:
            return
        if usum == 0:
            nd.out.append("[no cksum] ")
            return
    if len(data) - off - 8 >= length:
        s = in_cksum(pseudo_header(version, src, dst, 17, length + 8) + data[off:off + 8 + length])
        nd.out.append("[bad udp cksum 0x%04x -> 0x%04x!] " % (usum, shouldbe(usum, s)) if s
                      else "[udp sum ok] ")
