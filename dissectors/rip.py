"""RIP v1/v2 (print-rip.c; udp 520): version, command and length. (-v's route entries are not
decoded.)"""

from __future__ import annotations

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.hexdump import hex_dump

COMMANDS = {1: "Request", 2: "Response", 3: "Trace on", 4: "Trace off", 5: "Poll", 6: "Poll Entry"}
HDR_LEN = 4


def rip_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "rip"
    out = nd.out
    if min(len(data) - pay, length) < HDR_LEN:
        raise Truncated
    version, command = data[pay + 1], data[pay]
    out.append("%sRIPv%u" % ("\n\t" if nd.verbose else "", version))
    if version == 0:
        # RFC 1058's version 0 is machine-specific: tcpdump dumps it.
        out.append(hex_dump(data[pay:pay + length]))
        return
    out.append(", %s, length: %u" % (COMMANDS.get(command, "unknown command (%u)" % command), length))
