"""sFlow v5 (print-sflow.c, udp 6343): the datagram's headline; -v its header and each sample's type
and length. (The samples' records are not decoded: -v lists the samples, not their contents.)"""

from __future__ import annotations

import struct

from ebcap.dissectors.names import ip4, ip6
from ebcap.dissectors.hexdump import unknown_data

SAMPLE_FORMATS = {1: "flow sample", 2: "counter sample", 3: "expanded flow sample", 4: "expanded counter sample"}
V4_HEADER, V6_HEADER = 28, 40


def sflow_print(nd, data: bytes, pay: int, length: int) -> None:
    out = nd.out
    nd.proto = "sflow"
    version, ip_version = struct.unpack_from("!II", data, pay)
    if (length < V4_HEADER and ip_version == 1) or (length < V6_HEADER and ip_version == 2):
        out.append("sFlowv%u [length %u < %u] (invalid)" % (version, length, V4_HEADER))
        return
    if pay + V4_HEADER > len(data):
        raise IndexError        # print-sflow.c's TCHECKs longjmp
    if version != 5:
        out.append("sFlow version %u packet not supported" % version)
        return
    if ip_version == 1:
        agent = ip4(data[pay + 8:pay + 12])
        agent_id, seqnum, uptime, nsamples = struct.unpack_from("!IIII", data, pay + 12)
        header = V4_HEADER
    else:
        agent = ip6(_need(data, pay + 8, 16))
        agent_id, seqnum, uptime, nsamples = struct.unpack_from("!IIII", data, pay + 24)
        header = V6_HEADER
    family = "IPv4" if ip_version == 1 else "IPv6"
    if not nd.verbose:
        out.append("sFlowv%u, %s agent %s, agent-id %u, length %u" % (version, family, agent, agent_id, length))
        return
    out.append("sFlowv%u, %s agent %s, agent-id %u, seqnum %u, uptime %u, samples %u, length %u" % (
        version, family, agent, agent_id, seqnum, uptime, nsamples, length))
    cp, left = pay + header, length - header
    while nsamples > 0 and left > 0:
        fmt, slen = struct.unpack_from("!II", data, cp)
        stype = fmt & 0x0FFF
        if left < 8:
            return _invalid(out, data, cp, left)
        cp += 8
        left -= 8
        out.append("\n\t%s (%u), length %u," % (SAMPLE_FORMATS.get(stype, "Unknown"), stype, slen))
        if stype == 0 or slen == 0:
            return
        if left < slen:
            return _invalid(out, data, cp, left)
        _need(data, cp, slen)
        if stype not in SAMPLE_FORMATS and nd.verbose <= 1:
            out.append(unknown_data(data, cp, "\n\t    ", slen))
        cp += slen
        left -= slen
        nsamples -= 1


def _need(data: bytes, at: int, n: int) -> bytes:
    if at + n > len(data):
        raise IndexError
    return data[at:at + n]


def _invalid(out: list, data: bytes, cp: int, left: int) -> None:
    out.append(" (invalid)")
    _need(data, cp, left)
