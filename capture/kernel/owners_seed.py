"""Sockets that existed before ebcap started (a long-running server) passed no hook of ours, so
the `owners` map knows nothing of them. Socket-local storage can be written from user space
with a socket fd of the writer's own as the key: each process's inet sockets are found in
/proc/PID/fd, copied into ebcap with pidfd_getfd(2) (Linux 5.6; needs ptrace access, which root
has), stored with the process's ids, and the copy closed (the socket stays its owner's).

BPF_NOEXIST: a socket the hooks have already seen (made or connected since the hooks were
attached) keeps what they stored, which names the thread as well. A seeded socket names the
process only: its thread id is the pid and its thread name the process's comm."""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import time

from ebcap.capture import debug
from ebcap.capture.kernel.bpfsys import BpfMap
from ebcap.capture.kernel.owners import OWNER, CgroupTarget

_SYS_PIDFD_GETFD = 438
_BPF_NOEXIST = 1
_libc = ctypes.CDLL(None, use_errno=True)


def seed_owners(table: BpfMap, cgroup_root: str | None,
                wanted: CgroupTarget | None = None) -> int:
    """Store the owner of every inet socket of every other process; returns how many. With
    `wanted` (--cgroup), an owner in that cgroup or below it is marked so, as the hooks do."""
    start = time.monotonic()
    seen: set[str] = set()
    count = 0
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        fds = _socket_fds(pid, seen)
        if not fds:
            continue
        value = _owner_value(pid, cgroup_root, wanted)
        if value is None:
            continue
        count += _store(table, pid, fds, value)
    debug.note(f"--owners: {count} existing sockets seeded in "
               f"{(time.monotonic() - start) * 1000:.1f} ms")
    return count


def _socket_fds(pid: int, seen: set[str]) -> list[int]:
    """The fd numbers of `pid`'s sockets not met before (a socket shared after a fork is
    stored once, for the first process that has it)."""
    fds = []
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return fds
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:[") and target not in seen:
            seen.add(target)
            fds.append(int(name))
    return fds


def _owner_value(pid: int, cgroup_root: str | None,
                 wanted: CgroupTarget | None) -> bytes | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            status = dict(line.split(":", 1) for line in handle if ":" in line)
        comm = open(f"/proc/{pid}/comm", "rb").read().rstrip(b"\n")[:15]
        uid, gid = int(status["Uid"].split()[0]), int(status["Gid"].split()[0])
    except (OSError, KeyError, ValueError):
        return None
    cgroup, in_cgroup = 0, 0
    if cgroup_root:
        try:
            for line in open(f"/proc/{pid}/cgroup"):
                if line.startswith("0::"):
                    path = line[3:].rstrip("\n")
                    cgroup = os.stat(cgroup_root + path).st_ino
                    if wanted is not None and (wanted.path == "/" or path == wanted.path
                                               or path.startswith(wanted.path + "/")):
                        in_cgroup = 1
        except OSError:
            pass
    return OWNER.pack(pid, pid, uid, gid, cgroup & 0xFFFFFFFF, cgroup >> 32, comm, in_cgroup)


def _store(table: BpfMap, pid: int, fds: list[int], value: bytes) -> int:
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return 0
    stored = 0
    try:
        for number in fds:
            fd = _libc.syscall(_SYS_PIDFD_GETFD, pidfd, number, 0)
            if fd < 0:
                continue
            try:
                if _is_inet(fd):
                    table.update(struct.pack("<i", fd), value, _BPF_NOEXIST)
                    stored += 1
            except OSError:
                pass            # EEXIST: the hooks saw it first
            finally:
                os.close(fd)
    finally:
        os.close(pidfd)
    return stored


def _is_inet(fd: int) -> bool:
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return False
    try:
        return sock.family in (socket.AF_INET, socket.AF_INET6)
    finally:
        sock.close()
