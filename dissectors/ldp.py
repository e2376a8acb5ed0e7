"""LDP (print-ldp.c, RFC 5036; udp and tcp 646): the PDU headline. (-v's messages and TLVs are not
decoded: the headline is printed on a line of its own, as tcpdump does, and nothing after it.)"""

from __future__ import annotations

import struct

from ebcap.dissectors.names import ip4

VERSION = 1
COMMON_LEN, MSG_LEN = 10, 8
_COMMON = struct.Struct("!HH4sH")            # version, PDU length, LSR id, label space


def ldp_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "ldp"
    if length <= COMMON_LEN + MSG_LEN:
        return
    version, pdu_len, lsr_id, label_space = _COMMON.unpack_from(data, pay)
    sep = "\n\t" if nd.verbose else ""
    if version != VERSION:
        nd.out.append("%sLDP version %u packet not supported" % (sep, version))
    elif pdu_len < COMMON_LEN - 4:
        nd.out.append("%sLDP, pdu-length: %u (too short, < %u)" % (sep, pdu_len, COMMON_LEN - 4))
    else:
        nd.out.append("%sLDP, Label-Space-ID: %s:%u, pdu-length: %u" % (sep, ip4(lsr_id), label_space, pdu_len))
