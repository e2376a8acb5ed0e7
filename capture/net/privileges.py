"""Privileges: whether this process may capture at all, and -Z USER, which gives up root once
the programs are attached, before any output file is opened (docs/security.md)."""

from __future__ import annotations

import os
import pwd
import re
from pathlib import Path

from ebcap.capture.errors import EbcapError, PrivilegeError

CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF = 12, 21, 39


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
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise EbcapError(f"Couldn't find user '{user}'") from None
    try:
        os.initgroups(entry.pw_name, entry.pw_gid)
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    except OSError as exc:
        raise EbcapError(f"Couldn't change to '{user}': {exc.strerror}") from None
