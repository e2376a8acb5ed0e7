"""Headers only, for dropped packets: where a frame's headers end, as bpf/ebcap.c's
headers_end() decides for live capture (up to the end of the transport header; the first 64
bytes of a network layer ebcap does not know). bpf/drops.c copies the first 128 bytes (the
peek); this cuts them there, in user space: the header walk is ebcap.c's, which drops.c cannot
share without changing it, and tests/integration/test_drops.py checks that the two agree on
the fixture corpora."""

from __future__ import annotations

ETH_HLEN = 14
_VLAN_TPIDS = (0x8100, 0x88A8)
_ETH_IP, _ETH_IPV6, _ETH_ARP, _ETH_RARP = 0x0800, 0x86DD, 0x0806, 0x8035
_IPV6_EXTENSIONS = {0, 43, 60}          # hop-by-hop, routing, destination options
_FRAGMENT, _AH = 44, 51
_TRANSPORT_8 = {17, 136, 1, 58, 2}      # UDP, UDP-Lite, ICMP, ICMPv6, IGMP
_IPV6_EXT_MAX = 6


def headers_length(data: bytes, raw: bool) -> int:
    """Bytes of `data` up to the end of its transport header (or of the last header known);
    never more than len(data)."""
    try:
        return min(_headers_end(data, raw), len(data))
    except IndexError:              # a header cut short: keep what there is
        return len(data)


def _headers_end(data: bytes, raw: bool) -> int:
    if raw:
        off, proto = 0, _ETH_IPV6 if data[0] >> 4 == 6 else _ETH_IP
    else:
        off, proto = ETH_HLEN, int.from_bytes(data[12:14], "big")
        for _ in range(2):
            if proto not in _VLAN_TPIDS:
                break
            proto = int.from_bytes(data[off + 2:off + 4], "big")
            off += 4
    if proto == _ETH_IP:
        l4, frag = data[off + 9], int.from_bytes(data[off + 6:off + 8], "big")
        off += (data[off] & 0xF) * 4
        if frag & 0x1FFF:           # not the first fragment: no transport header
            return off
    elif proto == _ETH_IPV6:
        l4, off = data[off + 6], off + 40
        for _ in range(_IPV6_EXT_MAX):
            if l4 not in _IPV6_EXTENSIONS and l4 not in (_FRAGMENT, _AH):
                break
            following, length = data[off], data[off + 1]
            if l4 == _FRAGMENT:
                off += 8
                if int.from_bytes(data[off - 6:off - 4], "big") & 0xFFF8:
                    return off
            else:
                off += (length + 2) * 4 if l4 == _AH else (length + 1) * 8
            l4 = following
    elif proto in (_ETH_ARP, _ETH_RARP):
        return off + 28
    else:
        return off + 64
    if l4 == 6:
        return off + (data[off + 12] >> 4) * 4
    if l4 in _TRANSPORT_8:
        return off + 8
    if l4 == 132:
        return off + 12             # SCTP's common header
    if l4 == 47:
        return off + 4              # GRE
    return off
