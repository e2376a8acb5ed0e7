"""Privileges: whether this process may capture at all, and -Z USER, which gives up root once
the programs are attached, before any output file is opened (docs/security.md)."""

from __future__ import annotations

import ctypes
import errno
import os
import pwd
import re
from pathlib import Path

from ebcap.capture.errors import EbcapError, PrivilegeError

CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF = 12, 21, 39
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4


def effective_capabilities() -> int:
    """This process's CapEff bits (0 when /proc says nothing)."""
    try:
        text = Path("/proc/self/status").read_text()
        return int(re.search(r"CapEff:\s*([0-9a-f]+)", text).group(1), 16)
    except (OSError, AttributeError):
        return 0


def check_bpf_privileges() -> None:
    """Fail early with one line when BPF cannot work at all for this user."""
    if os.geteuid() == 0:
        return
    caps = effective_capabilities()
    has = lambda cap: bool(caps & (1 << cap))  # noqa: E731
    if not (has(CAP_NET_ADMIN) and (has(CAP_BPF) or has(CAP_SYS_ADMIN))):
        raise PrivilegeError("you don't have permission to capture: loading BPF programs "
                             "needs root (CAP_BPF and CAP_NET_ADMIN)")


def drop_to(user: str) -> None:
    """Become `user` for good: empty the capability bounding and ambient sets (while root may
    still change them; tcpdump does the same with libcap-ng), then groups, gid and uid. Leaving
    uid 0 clears the permitted and effective sets; no capability can come back, not even
    through a set-uid or file-capability program the process might run."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise EbcapError(f"Couldn't find user '{user}'") from None
    try:
        _clear_capability_sets()
        os.initgroups(entry.pw_name, entry.pw_gid)
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    except OSError as exc:
        raise EbcapError(f"Couldn't change to '{user}': {exc.strerror}") from None


def _clear_capability_sets() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                           ctypes.c_ulong]
    if libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        if err != errno.EINVAL:             # EINVAL: a kernel without ambient capabilities
            raise OSError(err, os.strerror(err))
    for cap in range(_last_capability() + 1):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _last_capability() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 40                           # CAP_CHECKPOINT_RESTORE, Linux 5.9
