"""BFD (print-bfd.c, RFC 5880/5881/5883; udp 3784, 4784, 6784 control, 3785 echo): the headline.
(-v's timers and discriminators are not decoded.) tcpdump picks BFD by destination port only; the
port table also matches the source port."""

from __future__ import annotations

from ebcap.dissectors.text import bits_text

V0_FLAGS = ((0x80, "I Hear You"), (0x40, "Demand"), (0x20, "Poll"), (0x10, "Final"),
            (0x08, "Control Plane Independent"), (0x04, "Authentication Present"), (0x02, "Reserved"),
            (0x01, "Reserved"))
V1_FLAGS = ((0x20, "Poll"), (0x10, "Final"), (0x08, "Control Plane Independent"),
            (0x04, "Authentication Present"), (0x02, "Demand"), (0x01, "Multipoint"))
STATES = ("AdminDown", "Down", "Init", "Up")
HEADER_LEN = 24


def _control(nd, data: bytes, pay: int, length: int, kind: str) -> None:
    nd.proto = "bfd"
    if len(data) < pay + HEADER_LEN:
        raise IndexError
    version, flags = data[pay] >> 5, data[pay + 1]
    if version == 0:
        nd.out.append("BFDv0, Control, Flags: [%s], length: %u" % (bits_text(V0_FLAGS, flags, "none"), length))
    elif version == 1:
        nd.out.append("BFDv1, %s, State %s, Flags: [%s], length: %u" % (
            kind, STATES[flags >> 6], bits_text(V1_FLAGS, flags & 0x3F, "none"), length))
    else:
        nd.out.append("BFDv%u, Control, length: %u" % (version, length))


def bfd_control_print(nd, data: bytes, pay: int, length: int) -> None:
    _control(nd, data, pay, length, "Control")


def bfd_multihop_print(nd, data: bytes, pay: int, length: int) -> None:
    _control(nd, data, pay, length, "Multihop")


def bfd_lag_print(nd, data: bytes, pay: int, length: int) -> None:
    _control(nd, data, pay, length, "Lag")


def bfd_echo_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "bfd"
    nd.out.append("BFD, Echo, length: %u" % length)
