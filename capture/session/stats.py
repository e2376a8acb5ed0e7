"""tcpdump's exit statistics lines."""

from __future__ import annotations

import sys


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def print_statistics(captured: int, received: int, dropped: int | None, stream=None) -> None:
    stream = stream or sys.stderr
    print(f"{_plural(captured, 'packet')} captured", file=stream)
    print(f"{_plural(received, 'packet')} received by filter", file=stream)
    if dropped is not None:
        print(f"{_plural(dropped, 'packet')} dropped by kernel", file=stream)
    stream.flush()
