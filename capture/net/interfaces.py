"""Network interfaces: lookup, link types, tcpdump's -D listing, promiscuous mode.

Every interface at once comes from one RTM_GETLINK dump (links()), which has each one's index,
name, flags and hardware type; a few named ones from ioctls."""

from __future__ import annotations

import _socket
import fcntl
import os
import struct
from collections import namedtuple

from ebcap.capture.errors import InterfaceError
from ebcap.capture.packet import LinkType

ARPHRD_ETHER, ARPHRD_LOOPBACK, ARPHRD_NONE = 1, 772, 0xFFFE
IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x1, 0x8, 0x40
SIOCGIFFLAGS, SIOCGIFHWADDR, SIOCGIFINDEX = 0x8913, 0x8927, 0x8933
SIOCGIFADDR, SIOCGIFNETMASK = 0x8915, 0x891b
SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC = 263, 1, 1

# uapi/linux/netlink.h, rtnetlink.h, if_link.h
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
IFLA_IFNAME, IFLA_EXT_MASK = 3, 29
RTEXT_FILTER_SKIP_STATS = 1 << 3     # the dump leaves out the counters (Linux 4.20)
_NLMSGHDR = struct.Struct("=IHHII")             # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")           # family, type (ARPHRD), index, flags, change
_RTATTR = struct.Struct("=HH")                  # len, type
_DUMP_REQUEST = (_NLMSGHDR.pack(_NLMSGHDR.size + _IFINFOMSG.size + 8, RTM_GETLINK,
                                NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
                 + _IFINFOMSG.pack(_socket.AF_UNSPEC, 0, 0, 0, 0)
                 + _RTATTR.pack(8, IFLA_EXT_MASK) + struct.pack("=I", RTEXT_FILTER_SKIP_STATS))

# libpcap's pcap_datalink_val_to_name() and _description(), which tcpdump prints; LINKTYPE_RAW
# (101) reads as DLT_RAW, and 14 (OpenBSD's DLT_RAW, unknown to libpcap on Linux) as raw IP too.
LINKTYPE_NAMES = {
    LinkType.NULL: ("NULL", "BSD loopback"),
    LinkType.ETHERNET: ("EN10MB", "Ethernet"),
    LinkType.PPP: ("PPP", "PPP"),
    LinkType.BSD_RAW_12: ("RAW", "Raw IP"),
    LinkType.BSD_RAW_14: ("RAW", "Raw IP"),
    LinkType.PPP_ETHER: ("PPP_ETHER", "PPPoE"),
    LinkType.RAW: ("RAW", "Raw IP"),
    LinkType.IEEE802_11: ("IEEE802_11", "802.11"),
    LinkType.LOOP: ("LOOP", "OpenBSD loopback"),
    LinkType.LINUX_SLL: ("LINUX_SLL", "Linux cooked v1"),
    LinkType.IEEE802_11_RADIO: ("IEEE802_11_RADIO", "802.11 plus radiotap header"),
    LinkType.IPV4: ("IPV4", "Raw IPv4"),
    LinkType.IPV6: ("IPV6", "Raw IPv6"),
    LinkType.NFLOG: ("NFLOG", "Linux netfilter log messages"),
    LinkType.LINUX_SLL2: ("LINUX_SLL2", "Linux cooked v2"),
}


class _Socket(_socket.socket):
    """socket.socket's `with`, without socket.py: its import makes four enums, ~4 ms of a warm
    start's main thread (benchmarks/startup.py), for nothing an ioctl or netlink read needs."""

    __slots__ = ()

    def __enter__(self) -> "_Socket":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def ioctl_socket() -> _Socket:
    """A socket for many interface ioctls in a row (-i any over hundreds of interfaces: a socket
    per ioctl cost ~70 ms at 300). Of the current network namespace: close it before leaving."""
    return _Socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)


def _ifreq(name: str, request: int, sock: _Socket | None = None) -> bytes:
    """An ioctl on a socket of this process's current network namespace (unlike /sys/class/net,
    which shows the namespace sysfs was mounted in: wrong after --netns)."""
    if sock is None:
        with ioctl_socket() as own:
            return _ifreq(name, request, own)
    try:
        return fcntl.ioctl(sock, request, struct.pack("16s16x", name.encode()[:15]))
    except OSError:
        raise InterfaceError(f"{name}: No such device exists") from None


def ifindex(name: str, sock: _Socket | None = None) -> int:
    if sock is not None:
        return struct.unpack_from("i", _ifreq(name, SIOCGIFINDEX, sock), 16)[0]
    try:
        return _socket.if_nametoindex(name)
    except OSError:
        raise InterfaceError(f"{name}: No such device exists") from None


def ipv4_address_and_netmask(name: str) -> tuple[bytes, bytes]:
    """The interface's IPv4 address and netmask as the kernel gives them to SIOCGIFADDR and
    SIOCGIFNETMASK with an AF_INET ifreq (its first address labelled `name`), network order.
    Raises OSError (EADDRNOTAVAIL: no IPv4 address)."""
    request = struct.pack("16sH14x", name.encode()[:15], _socket.AF_INET)
    with ioctl_socket() as sock:
        address = fcntl.ioctl(sock, SIOCGIFADDR, request)[20:24]
        netmask = fcntl.ioctl(sock, SIOCGIFNETMASK, request)[20:24]
    return address, netmask


def flags(name: str, sock: _Socket | None = None) -> int:
    """IFF_* flags as the kernel reports them (IFF_RUNNING included)."""
    return struct.unpack_from("H", _ifreq(name, SIOCGIFFLAGS, sock), 16)[0]


def linktype(name: str, sock: _Socket | None = None) -> int:
    """The link type a packet on this interface starts with, as TC sees it."""
    return _linktype(name, struct.unpack_from("H", _ifreq(name, SIOCGIFHWADDR, sock), 16)[0])


def _linktype(name: str, hwtype: int) -> int:
    if hwtype in (ARPHRD_ETHER, ARPHRD_LOOPBACK):
        return LinkType.ETHERNET
    if hwtype == ARPHRD_NONE:
        return LinkType.RAW
    raise InterfaceError(f"{name}: link type ARPHRD {hwtype} is not supported by ebcap")


def is_loopback(name: str, sock: _Socket | None = None) -> bool:
    return bool(flags(name, sock) & IFF_LOOPBACK)


def is_up(name: str, sock: _Socket | None = None) -> bool:
    try:
        return bool(flags(name, sock) & IFF_UP)
    except InterfaceError:
        return False


def describe_linktype(dlt: int) -> str:
    short, long = LINKTYPE_NAMES.get(dlt, (str(dlt), "unknown"))
    return f"{short} ({long})"


class InterfaceInfo(namedtuple("InterfaceInfo", "index name flags hwtype")):
    """One interface of this network namespace, as -D, the default choice and a capture see it:
    index, name, flags (IFF_*) and hwtype (ARPHRD_*), ints but the name. (A tuple: one for each
    of hundreds of interfaces costs a third of a frozen dataclass; collections', as capture/
    filter/libpcap.py's Insn says.)"""

    __slots__ = ()

    @property
    def linktype(self) -> int:
        """As linktype(): InterfaceError where ebcap does not capture."""
        return _linktype(self.name, self.hwtype)

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)

    @property
    def running(self) -> bool:
        return bool(self.flags & IFF_RUNNING)

    @property
    def loopback(self) -> bool:
        return bool(self.flags & IFF_LOOPBACK)


def links() -> list[InterfaceInfo]:
    """Every interface of the current network namespace, in the kernel's order, from one
    RTM_GETLINK dump: what socket.if_nameindex() dumps too, with the flags and hardware type
    it drops (three ioctls an interface on top of it cost ~7 ms of CPU at 300 interfaces)."""
    records = []
    with _Socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC,
                 _socket.NETLINK_ROUTE) as sock:
        sock.send(_DUMP_REQUEST)
        while True:
            for kind, data, offset, length in _messages(sock.recv(65536)):  # <= 32 KiB a read
                if kind == NLMSG_DONE:
                    return records
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, offset + _NLMSGHDR.size)[0]
                    raise InterfaceError(f"listing the interfaces failed: {os.strerror(code)}")
                if kind == RTM_NEWLINK and (record := _link(data, offset, length)) is not None:
                    records.append(record)


def _messages(data: bytes):
    """(type, data, offset, length) of each netlink message in one read."""
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind = _NLMSGHDR.unpack_from(data, offset)[:2]
        if length < _NLMSGHDR.size:
            return
        yield kind, data, offset, length
        offset += (length + 3) & ~3


def _link(data: bytes, offset: int, length: int) -> InterfaceInfo | None:
    """An RTM_NEWLINK message's interface (None without a name, which the kernel always gives).
    rtnl_fill_ifinfo() puts IFLA_IFNAME first; the walk does not count on it."""
    _family, hwtype, index, flags_, _change = _IFINFOMSG.unpack_from(data, offset + _NLMSGHDR.size)
    end, at = offset + length, offset + _NLMSGHDR.size + _IFINFOMSG.size
    while at + _RTATTR.size <= end:
        size, kind = _RTATTR.unpack_from(data, at)
        if kind == IFLA_IFNAME:
            name = data[at + 4:at + size].split(b"\0", 1)[0].decode(errors="replace")
            return InterfaceInfo(index, name, flags_, hwtype)
        if size < _RTATTR.size:
            break
        at += (size + 3) & ~3
    return None


def lookup(name: str, sock: _Socket | None = None) -> InterfaceInfo:
    """One named interface (-i NAME), by ioctls: InterfaceError if there is none."""
    hwtype = struct.unpack_from("H", _ifreq(name, SIOCGIFHWADDR, sock), 16)[0]
    return InterfaceInfo(ifindex(name, sock), name, flags(name, sock), hwtype)


def interface_records() -> list[InterfaceInfo]:
    """Every interface, in ifindex order."""
    return sorted(links(), key=lambda record: record.index)


def default_interface() -> str:
    """tcpdump's choice without -i: the first interface that is up, running and not loopback."""
    for record in interface_records():
        if record.up and record.running and not record.loopback:
            return record.name
    raise InterfaceError("no suitable device found")


def list_interfaces() -> list[str]:
    """tcpdump -D lines: `1.eth0 [Up, Running, Connected]`."""
    lines = []
    for number, record in enumerate(interface_records(), start=1):
        words = [w for present, w in ((record.up, "Up"), (record.running, "Running"),
                                      (record.loopback, "Loopback")) if present]
        if not record.loopback:
            words.append("Connected" if record.running else "Disconnected")
        lines.append(f"{number}.{record.name} [{', '.join(words)}]")
    return lines


class Promiscuous:
    """Promiscuous mode held by a socket, as libpcap does it: the kernel counts the membership
    and drops it when the socket closes, so it reverts by itself when ebcap exits, however.

    The socket has protocol 0, so it is never on the device's packet taps: it receives nothing
    and costs nothing per packet.
    """

    def __init__(self, index: int):
        self._sock = _Socket(_socket.AF_PACKET, _socket.SOCK_RAW, 0)
        mreq = struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b"")
        try:
            self._sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        except OSError:
            self._sock.close()
            raise

    def close(self) -> None:
        self._sock.close()


class LinkWatcher:
    """A netlink socket that becomes readable when an interface appears, changes or goes
    (RTMGRP_LINK): `-i any` looks for new interfaces only then, so an idle capture costs
    nothing per interface (a look every second cost ~2.5 ms of CPU a second at 300). Each
    notification says how the interface is now, so a change costs no dump of all of them
    (~2 ms at 300) either, unless notifications were lost."""

    RTMGRP_LINK = 1

    def __init__(self):
        self._sock = _Socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_NONBLOCK
                             | _socket.SOCK_CLOEXEC, _socket.NETLINK_ROUTE)
        try:
            self._sock.bind((0, self.RTMGRP_LINK))
        except OSError:
            self._sock.close()
            raise
        self._changed: dict[int, InterfaceInfo] = {}     # ifindex -> as last notified
        self._lost = False

    def fileno(self) -> int:
        return self._sock.fileno()

    def drain(self) -> None:
        """Read the notifications waiting."""
        try:
            while data := self._sock.recv(65536):
                for kind, message, offset, length in _messages(data):
                    if kind == RTM_NEWLINK:
                        record = _link(message, offset, length)
                        if record is not None:
                            self._changed[record.index] = record
                    elif kind == RTM_DELLINK:
                        index = _IFINFOMSG.unpack_from(message, offset + _NLMSGHDR.size)[2]
                        self._changed.pop(index, None)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:             # ENOBUFS: more changes than the socket held
            self._lost = True

    def changed(self) -> list[InterfaceInfo] | None:
        """The interfaces that changed since the last call, as they are now (gone ones left
        out); None when notifications were lost: then only links() can tell."""
        changed, lost = list(self._changed.values()), self._lost
        self._changed, self._lost = {}, False
        return None if lost else changed

    def close(self) -> None:
        self._sock.close()
