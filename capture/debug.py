"""--debug's notes on stderr: what ebcap did that is worth knowing when something goes wrong
(where its BPF program came from, for one). Without --debug, stderr stays as tcpdump's."""

from __future__ import annotations

import sys

enabled = False


def note(message: str) -> None:
    if enabled:
        print(f"ebcap: debug: {message}", file=sys.stderr, flush=True)
