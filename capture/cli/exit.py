"""ebcap's exit statuses: the one table every entry point uses (ebcap, its subcommands, the
Wireshark extcap). tcpdump's conventions: 0 done, 1 for anything the user can act on."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    SUCCESS = 0
    ERROR = 1               # bad input, missing privileges or kernel features, output errors
    INTERNAL_ERROR = 2      # a bug: one line, the traceback with --debug
    INTERRUPTED = 130       # 128 + SIGINT: interrupted before the work could stop cleanly
