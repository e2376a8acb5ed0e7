"""AH (print-ah.c, RFC 4302; IP protocol 51): SPI, sequence and ICV, then the next header."""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.ipdemux import ip_demux_print

_AH = struct.Struct("!BBHII").unpack_from


def ah_print(nd, data: bytes, off: int, length: int, ip: tuple, fragmented) -> None:
    if len(data) <= off:
        nd.proto = "ah"
        raise Truncated
    nd.proto = "ah"
    out = nd.out
    out.append("AH(")
    nh, ah_len, reserved, spi, seq = _AH(data, off)
    hdr_len = (ah_len + 2) * 4
    if nd.verbose:
        out.append("length=%u(%u-bytes)," % (ah_len, hdr_len))
    if reserved:
        out.append("reserved=0x%x[MustBeZero]," % reserved)
    out.append("spi=0x%08x,seq=0x%x,icv=0x" % (spi, seq))
    icv = data[off + 12:off + hdr_len]
    out.append(icv.hex())
    if len(icv) < hdr_len - 12:
        raise IndexError
    out.append("): ")
    ip_demux_print(nd, data, off + hdr_len, length - hdr_len, nh, fragmented, ip)
