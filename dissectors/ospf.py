"""OSPFv2 and OSPFv3 (print-ospf.c, print-ospf6.c; IP protocol 89): the headline. (-v's router and
area ids and the packet bodies are not decoded.)"""

from __future__ import annotations

from ebcap.dissectors.extract import u16

TYPES = {1: "Hello", 2: "Database Description", 3: "LS-Request", 4: "LS-Update", 5: "LS-Ack"}
AUTH_MD5, AUTH_MD5_LEN = 2, 16


def ospf_print(nd, data: bytes, off: int, length: int, ip: tuple, _fragmented) -> None:
    version, kind = data[off], data[off + 1]
    if ip[0] == 6:
        nd.proto = "ospf3"
        name = TYPES.get(kind, "unknown packet type (%u)" % kind)
    else:
        nd.proto = "ospf2"
        if u16(data, off + 14)[0] == AUTH_MD5:    # the MD5 trailer is not counted
            length -= AUTH_MD5_LEN
        name = TYPES.get(kind, "unknown LS-type %u" % kind)
    nd.out.append("OSPFv%u, %s, length %u" % (version, name, length))
