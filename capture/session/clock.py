"""The kernel stamps packets with bpf_ktime_get_ns() (CLOCK_MONOTONIC); pcapng wants wall-clock
time. ebcap hands the kernel the offset between the two, and checks it at every flush so that a
clock step (NTP, date -s) shows within a second.

REALTIME - MONOTONIC moves only when the wall clock is stepped (NTP's slewing changes both
clocks' rate alike), so the check at a flush is nearly always "unchanged", and that is what it
is made cheap for."""

from __future__ import annotations

import time

# A smaller change of the offset is not written to the kernel: readings scatter by ~25 ns hot and
# by a few us after the reader slept, and a map update costs ~90 us of CPU then (cold caches on
# this VM), against ~30 us for a check.
WALL_CLOCK_TOLERANCE_NS = 1000
READINGS = 5            # the most paired readings taken: when the offset moved, the best of them


def monotonic_to_wall_offset(previous: int | None = None) -> int:
    """ns to add to CLOCK_MONOTONIC for CLOCK_REALTIME.

    Each paired reading (monotonic, wall, monotonic) brackets the wall reading: the true offset
    lies within half the bracket of the reading's. With `previous` (the offset the kernel has),
    `previous` itself is returned as soon as one reading proves the offset still within
    WALL_CLOCK_TOLERANCE_NS of it: after the reader slept, the first reading's bracket is ~2 us
    (cold caches) and usually does not, the second's (~0.3-0.7 us) does, so 6 clock reads where
    the best of five took 15. Otherwise (the first offset, or a step) the best of five readings,
    the one with the tightest bracket."""
    best_bracket = best_offset = None
    for _ in range(READINGS):
        before = time.monotonic_ns()
        wall = time.time_ns()
        after = time.monotonic_ns()
        bracket, offset = after - before, wall - (before + after) // 2
        if previous is not None and abs(offset - previous) + bracket // 2 <= WALL_CLOCK_TOLERANCE_NS:
            return previous
        if best_bracket is None or bracket < best_bracket:
            best_bracket, best_offset = bracket, offset
    return best_offset


def offset_moved(offset: int, previous: int | None) -> bool:
    """Whether `offset` must be written to the kernel, which has `previous`."""
    return previous is None or abs(offset - previous) > WALL_CLOCK_TOLERANCE_NS
