"""HSRP v0/v1 (print-hsrp.c, RFC 2281; udp 1985): op code, state, group, virtual address; -v's timers,
priority and authentication text."""

from __future__ import annotations

from ebcap.dissectors.names import ip4_at
from ebcap.dissectors.text import printjn, relts

OP_CODES = ("hello", "coup", "resign")
STATES = {0: "initial", 1: "learn", 2: "listen", 4: "speak", 8: "standby", 16: "active"}
AUTH, VIRTUAL_ADDRESS = 8, 16     # offsets


def hsrp_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "hsrp"
    out = nd.out
    version = data[pay]
    out.append("HSRPv%u" % version)
    if version != 0:
        return
    op, state = data[pay + 1], data[pay + 2]
    out.append("-%s %u: state=%s group=%u " % (
        OP_CODES[op] if op < len(OP_CODES) else "unknown (%u)" % op, length,
        STATES.get(state, "Unknown (%u)" % state), data[pay + 6]))
    if data[pay + 7]:
        out.append("[reserved=%u!] " % data[pay + 7])
    out.append("addr=" + ip4_at(data, pay + VIRTUAL_ADDRESS))
    if nd.verbose:
        auth = data[pay + AUTH:pay + AUTH + 8]
        out.append(' hellotime=%s holdtime=%s priority=%u auth="%s"' % (
            relts(data[pay + 3]), relts(data[pay + 4]), data[pay + 5], printjn(auth)))
