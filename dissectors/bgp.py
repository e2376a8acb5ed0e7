"""BGP (print-bgp.c; tcp 179): tcpdump's line says `: BGP`. (-v's messages are not decoded.)"""

from __future__ import annotations


def bgp_print(nd, _data: bytes, _pay: int, _length: int) -> None:
    nd.proto = "bgp"
    nd.out.append(": BGP")
