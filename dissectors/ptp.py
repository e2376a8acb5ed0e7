"""PTP, IEEE 1588 (print-ptp.c; udp 319 and 320, ethertype 0x88F7): tcpdump prints every field of
a version 2 header and of the message body on one line, at every verbosity."""

from __future__ import annotations

import struct

from ebcap.dissectors.text import bits_text

MSG_TYPES = {0x0: "sync msg", 0x1: "delay req msg", 0x2: "peer delay req msg", 0x3: "peer delay resp msg",
             0x8: "follow up msg", 0x9: "delay resp msg", 0xA: "pdelay resp fup msg",
             0xB: "announce msg", 0xC: "signalling msg", 0xD: "management msg"}
CONTROL = {0: "Sync", 1: "Delay_Req", 2: "Follow_Up", 3: "Delay_Resp", 4: "Management", 5: "Other"}
FLAGS = ((0x1, "l1 61"), (0x2, "l1 59"), (0x4, "utc reasonable"), (0x8, "timescale"),
         (0x10, "time tracable"), (0x20, "frequency tracable"), (0x100, "alternate master"),
         (0x200, "two step"), (0x400, "unicast"), (0x1000, "profile specific 1"),
         (0x2000, "profile specific 2"), (0x4000, "security mask"), (0x18C0, "unknown"))
HDR_LEN = 34
# type, version, length, domain, reserved1, flags, correction (48 + 16 bits), reserved2, clock id,
# port id, sequence id, control, log message interval
_HDR = struct.Struct("!BBHBBH6sHIQHHBB")
_TS = struct.Struct("!6sI")                  # seconds (48 bits), nanoseconds
_TS_ID = struct.Struct("!6sIQH")             # and a port identity
_ANNOUNCE = struct.Struct("!6sIHBBBBHBQHB")
_PORT_ID = struct.Struct("!QH")


def ptp_print(nd, data: bytes, off: int, length: int) -> None:
    """The ethertype row; the UDP rows call it with the payload's offset."""
    nd.proto = "ptp"
    out = nd.out
    if length < HDR_LEN:
        out.append(" (invalid)")
        return
    version = data[off + 1]
    out.append("PTPv%u" % version)
    if version == 1:
        out.append(" (not implemented)")
    elif version == 2:
        _v2(out, data, off)


def _v2(out: list[str], data: bytes, off: int) -> None:
    (foct, _, msg_len, domain, rsvd1, flags, ns_corr, sns_corr, rsvd2, clk_id, port_id, seq_id, control,
     lm_int) = _HDR.unpack_from(data, off)
    msg_type = foct & 0x0F
    out.append(", v1 compat : %s, msg type : %s, length : %u, domain : %u, reserved1 : %u, Flags [%s]"
               ", NS correction : %u, sub NS correction : %u, reserved2 : %u, clock identity : 0x%x"
               ", port id : %u, seq id : %u, control : %u (%s), log message interval : %u" % (
                   "yes" if foct & 0x10 else "no", MSG_TYPES.get(msg_type, "Reserved"), msg_len, domain,
                   rsvd1, bits_text(FLAGS, flags, "none"), int.from_bytes(ns_corr, "big"), sns_corr,
                   rsvd2, clk_id, port_id, seq_id, control, CONTROL.get(control, "Reserved"), lm_int))
    body = off + HDR_LEN
    if msg_type in (0x0, 0x1):
        _timestamp(out, data, body, "originTimeStamp")
    elif msg_type == 0x8:
        _timestamp(out, data, body, "preciseOriginTimeStamp")
    elif msg_type in (0x2, 0xA):
        _timestamp_identity(out, data, body, "preciseOriginTimeStamp")
    elif msg_type in (0x3, 0x9):
        _timestamp_identity(out, data, body, "receiveTimeStamp")
    elif msg_type == 0xB:
        _announce(out, data, body)
    elif msg_type in (0xC, 0xD):
        out.append(", port identity : 0x%x, port id : %u" % _PORT_ID.unpack_from(data, body))
        if msg_type == 0xD:
            # print-ptp.c never moves past the target port identity: its four one-byte fields all
            # print the identity's first byte, each name with a ", " of its own.
            first = data[body]
            out.append(", , start boundary hops  %u, , boundary hops  %u, , flags  0x%x, , reserved  0x%x"
                       % (first, first, first, first))


def _timestamp(out: list[str], data: bytes, at: int, name: str) -> None:
    secs, nsecs = _TS.unpack_from(data, at)
    out.append(", %s : %u seconds, %u nanoseconds" % (name, int.from_bytes(secs, "big"), nsecs))


def _timestamp_identity(out: list[str], data: bytes, at: int, name: str) -> None:
    secs, nsecs, identity, port = _TS_ID.unpack_from(data, at)
    out.append(", %s : %u seconds, %u nanoseconds, port identity : 0x%x, port id : %u" % (
        name, int.from_bytes(secs, "big"), nsecs, identity, port))


def _announce(out: list[str], data: bytes, at: int) -> None:
    (secs, nsecs, utc, rsvd, prio1, clk_cls, clk_acc, clk_var, prio2, gm_id, steps,
     time_src) = _ANNOUNCE.unpack_from(data, at)
    out.append(", originTimeStamp : %u seconds %u nanoseconds, origin cur utc :%u, rsvd : %u"
               ", gm priority_1 : %u, gm clock class : %u, gm clock accuracy : %u, gm clock variance : %u"
               ", gm priority_2 : %u, gm clock id : 0x%x, steps removed : %u, time source : 0x%x" % (
                   int.from_bytes(secs, "big"), nsecs, utc, rsvd, prio1, clk_cls, clk_acc, clk_var, prio2,
                   gm_id, steps, time_src))
