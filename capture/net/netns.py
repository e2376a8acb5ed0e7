"""--netns: capture inside another network namespace (a container's) without nsenter."""

from __future__ import annotations

import ctypes
import fcntl
import os
from pathlib import Path

from ebcap.capture.errors import InterfaceError, PrivilegeError

CLONE_NEWNET = 0x40000000
NS_GET_NSTYPE = 0xB703          # ioctl on a namespace file: its CLONE_NEW* type (Linux 4.11)
NETNS_RUN_DIR = Path("/run/netns")


def resolve(spec: str) -> Path:
    """A name from `ip netns` (/run/netns/NAME), a path (/proc/PID/ns/net), or a PID."""
    if spec.isdigit():
        return Path(f"/proc/{spec}/ns/net")
    if "/" in spec:
        return Path(spec)
    return NETNS_RUN_DIR / spec


def enter(spec: str) -> None:
    """Move this process into the network namespace; interfaces, sockets and BPF attachments
    made afterwards belong to it."""
    path = resolve(spec)
    try:
        # O_NONBLOCK: a FIFO planted under the name must not block the open
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InterfaceError(f"network namespace {spec}: {exc.strerror}") from None
    try:
        try:
            kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
        except OSError:
            kind = None
        if kind != CLONE_NEWNET:
            raise InterfaceError(f"network namespace {spec}: {path} is not a network namespace")
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            if err == 1:
                raise PrivilegeError(f"entering network namespace {spec} needs CAP_SYS_ADMIN")
            raise InterfaceError(f"network namespace {spec}: {os.strerror(err)}")
    finally:
        os.close(fd)
