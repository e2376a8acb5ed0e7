"""The kernel stamps packets with bpf_ktime_get_ns() (CLOCK_MONOTONIC); pcapng wants wall-clock
time. ebcap hands the kernel the offset between the two, and refreshes it at every flush so
that a clock step (NTP) shows within a second."""

from __future__ import annotations

import time


def monotonic_to_wall_offset() -> int:
    """ns to add to CLOCK_MONOTONIC for CLOCK_REALTIME: the best of five paired readings."""
    best = None
    for _ in range(5):
        before = time.monotonic_ns()
        wall = time.time_ns()
        after = time.monotonic_ns()
        if best is None or after - before < best[0]:
            best = (after - before, wall - (before + after) // 2)
    return best[1]
