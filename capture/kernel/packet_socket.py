"""-i any's one attachment for every interface: an unbound AF_PACKET socket for all protocols
(ETH_P_ALL), as tcpdump's `any` opens, with bpf/ebcap.c's ebcap_socket as its filter
(SO_ATTACH_BPF). The filter writes matching packets into the same ring buffer as the TC hooks
and returns 0, so nothing is ever queued on the socket and it is never read.

One socket replaces a tcx link per interface and direction (~8.5 ms each to make, and as much
to close, serialised in the kernel), and sees interfaces that appear later without a syscall.
The socket holds the program: both go when its fd closes, when ebcap exits at the latest,
SIGKILL included. It is on no device, so no interface is made promiscuous."""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct

from ebcap.capture.errors import KernelFeatureError, PrivilegeError

ETH_P_ALL = 0x0003
SO_ATTACH_BPF = 50              # uapi/asm-generic/socket.h
# struct sockaddr_ll: family, protocol (network order), ifindex (0: every interface), hatype,
# pkttype, halen, addr[8]
_SOCKADDR_LL = struct.Struct("<H2siHBB8s")

_libc = ctypes.CDLL(None, use_errno=True)


class FilterTooLong(KernelFeatureError):
    """The program is bigger than a socket may hold (net.core.optmem_max): the caller attaches
    at TC instead."""


class PacketSocket:
    def __init__(self, prog_fd: int):
        # Protocol 0 until bound: on no packet tap yet, so nothing arrives before the filter.
        try:
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                       0)
        except PermissionError as exc:
            raise PrivilegeError("capturing on any needs CAP_NET_RAW (run as root)") from exc
        try:
            self._attach(prog_fd)
            self._bind_all()
        except BaseException:
            self._sock.close()
            raise

    def _attach(self, prog_fd: int) -> None:
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, prog_fd)
        except OSError as exc:
            if exc.errno == errno.ENOMEM:   # sk_filter_charge(): over net.core.optmem_max
                raise FilterTooLong("the capture program is too long for a socket "
                                    "(net.core.optmem_max)") from exc
            raise KernelFeatureError(f"attaching the socket filter failed: "
                                     f"{os.strerror(exc.errno)}") from exc

    def _bind_all(self) -> None:
        # Python's AF_PACKET addresses name an interface; ifindex 0 (all of them) needs the
        # raw sockaddr_ll.
        address = _SOCKADDR_LL.pack(socket.AF_PACKET, struct.pack("!H", ETH_P_ALL), 0, 0, 0, 0,
                                    b"")
        buf = ctypes.create_string_buffer(address, len(address))
        if _libc.bind(self._sock.fileno(), buf, len(address)) != 0:
            err = ctypes.get_errno()
            raise KernelFeatureError(f"binding the packet socket failed: {os.strerror(err)}")

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()
