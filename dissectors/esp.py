"""ESP (print-esp.c, RFC 4303; IP protocol 50): SPI and sequence number. (No -E decryption.)"""

from __future__ import annotations

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u32_pair


def esp_print(nd, data: bytes, off: int, length: int, _ip: tuple, _fragmented) -> None:
    nd.proto = "esp"
    if len(data) <= off + 8:
        raise Truncated
    spi, seq = u32_pair(data, off)
    nd.out.append("ESP(spi=0x%08x,seq=0x%x), length %u" % (spi, seq, length))
