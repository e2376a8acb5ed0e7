"""Network interfaces: lookup, link types, tcpdump's -D listing, promiscuous mode."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from capture.errors import InterfaceError
from capture.packet import LinkType

SYS_NET = Path("/sys/class/net")
ARPHRD_ETHER, ARPHRD_LOOPBACK, ARPHRD_NONE = 1, 772, 0xFFFE
IFF_UP, IFF_LOOPBACK = 0x1, 0x8
SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC = 263, 1, 1

LINKTYPE_NAMES = {
    LinkType.ETHERNET: ("EN10MB", "Ethernet"),
    LinkType.RAW: ("RAW", "Raw IP"),
    LinkType.LINUX_SLL2: ("LINUX_SLL2", "Linux cooked v2"),
}


def ifindex(name: str) -> int:
    try:
        return socket.if_nametoindex(name)
    except OSError:
        raise InterfaceError(f"{name}: No such device exists") from None


def linktype(name: str) -> int:
    """The DLT a packet on this interface starts with, as TC sees it."""
    try:
        hwtype = int((SYS_NET / name / "type").read_text())
    except (OSError, ValueError):
        raise InterfaceError(f"{name}: No such device exists") from None
    if hwtype in (ARPHRD_ETHER, ARPHRD_LOOPBACK):
        return LinkType.ETHERNET
    if hwtype == ARPHRD_NONE:
        return LinkType.RAW
    raise InterfaceError(f"{name}: link type ARPHRD {hwtype} is not supported by ebcap")


def is_loopback(name: str) -> bool:
    return bool(_flags(name) & IFF_LOOPBACK)


def describe_linktype(dlt: int) -> str:
    short, long = LINKTYPE_NAMES.get(dlt, (str(dlt), "unknown"))
    return f"{short} ({long})"


def _flags(name: str) -> int:
    try:
        return int((SYS_NET / name / "flags").read_text(), 16)
    except (OSError, ValueError):
        return 0


def list_interfaces() -> list[str]:
    """tcpdump -D lines: `1.eth0 [Up, Running, Connected]`."""
    lines = []
    for number, (_index, name) in enumerate(sorted(socket.if_nameindex()), start=1):
        flags = _flags(name)
        try:   # sysfs flags lack IFF_RUNNING; the kernel derives it from up + carrier
            carrier = (SYS_NET / name / "carrier").read_text().strip() == "1"
        except OSError:
            carrier = False
        words = [w for on, w in ((flags & IFF_UP, "Up"), (flags & IFF_UP and carrier, "Running"),
                                 (flags & IFF_LOOPBACK, "Loopback")) if on]
        if not flags & IFF_LOOPBACK:
            words.append("Connected" if carrier else "Disconnected")
        lines.append(f"{number}.{name} [{', '.join(words)}]")
    return lines


class Promiscuous:
    """Promiscuous mode held by a socket, as libpcap does it: the kernel counts the membership
    and drops it when the socket closes, so it reverts by itself when ebcap exits, however.

    The socket has protocol 0, so it is never on the device's packet taps: it receives nothing
    and costs nothing per packet.
    """

    def __init__(self, index: int):
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        mreq = struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b"")
        try:
            self._sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        except OSError:
            self._sock.close()
            raise

    def close(self) -> None:
        self._sock.close()
