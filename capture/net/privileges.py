"""-Z USER: give up root once the programs are attached, before any output file is opened."""

from __future__ import annotations

import os
import pwd

from ebcap.capture.errors import EbcapError


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
