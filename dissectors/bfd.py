"""BFD (print-bfd.c, RFC 5880/5881/5883; udp 3784, 4784, 6784 control, 3785 echo): the headline,
and with -v the diagnostic, timers and discriminators. (The authentication section is not decoded.)
tcpdump picks BFD by destination port only; the port table also matches the source port."""

from __future__ import annotations

import struct

from ebcap.dissectors.hexdump import hex_dump
from ebcap.dissectors.text import bits_text

V0_FLAGS = ((0x80, "I Hear You"), (0x40, "Demand"), (0x20, "Poll"), (0x10, "Final"),
            (0x08, "Control Plane Independent"), (0x04, "Authentication Present"), (0x02, "Reserved"),
            (0x01, "Reserved"))
V1_FLAGS = ((0x20, "Poll"), (0x10, "Final"), (0x08, "Control Plane Independent"),
            (0x04, "Authentication Present"), (0x02, "Demand"), (0x01, "Multipoint"))
STATES = ("AdminDown", "Down", "Init", "Up")
DIAGNOSTICS = ("No Diagnostic", "Control Detection Time Expired", "Echo Function Failed",
               "Neighbor Signaled Session Down", "Forwarding Plane Reset", "Path Down", "Concatenated Path Down",
               "Administratively Down", "Reverse Concatenated Path Down")
HEADER_LEN = 24
_HEADER = struct.Struct("!BBBBIIIII")


def _control(nd, data: bytes, pay: int, length: int, kind: str) -> None:
    nd.proto = "bfd"
    if len(data) < pay + HEADER_LEN:
        raise IndexError
    version, flags = data[pay] >> 5, data[pay + 1]
    out = nd.out
    if version == 0:
        names = bits_text(V0_FLAGS, flags, "none")
        if not nd.verbose:
            out.append("BFDv0, Control, Flags: [%s], length: %u" % (names, length))
            return
        out.append("BFDv0, length: %u\n\tControl, Flags: [%s]" % (length, names))
    elif version == 1:
        state, names = STATES[flags >> 6], bits_text(V1_FLAGS, flags & 0x3F, "none")
        if not nd.verbose:
            out.append("BFDv1, %s, State %s, Flags: [%s], length: %u" % (kind, state, names, length))
            return
        out.append("BFDv1, length: %u\n\t%s, State %s, Flags: [%s]" % (length, kind, state, names))
    else:
        out.append("BFDv%u, Control, length: %u" % (version, length))
        if nd.verbose:
            out.append(hex_dump(data[pay:pay + length]))
        return
    version_diag, _, mult, bfd_len, mine, yours, tx, rx, echo = _HEADER.unpack_from(data, pay)
    diag = version_diag & 0x1F
    out.append(", Diagnostic: %s (0x%02x)\n\tDetection Timer Multiplier: %u (%u ms Detection time), BFD Length: %u"
               "\n\tMy Discriminator: 0x%08x, Your Discriminator: 0x%08x"
               "\n\t  Desired min Tx Interval:    %4u ms\n\t  Required min Rx Interval:   %4u ms"
               "\n\t  Required min Echo Interval: %4u ms" % (
                   DIAGNOSTICS[diag] if diag < len(DIAGNOSTICS) else "unknown", diag, mult,
                   (mult * tx & 0xFFFFFFFF) // 1000, bfd_len, mine, yours, tx // 1000, rx // 1000, echo // 1000))


def bfd_control_print(nd, data: bytes, pay: int, length: int) -> None:
    _control(nd, data, pay, length, "Control")


def bfd_multihop_print(nd, data: bytes, pay: int, length: int) -> None:
    _control(nd, data, pay, length, "Multihop")


def bfd_lag_print(nd, data: bytes, pay: int, length: int) -> None:
    _control(nd, data, pay, length, "Lag")


def bfd_echo_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "bfd"
    nd.out.append("BFD, Echo, length: %u" % length)
    if nd.verbose:
        nd.out.append(hex_dump(data[pay:pay + length]))
