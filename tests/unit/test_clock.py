"""capture/session/clock.py: the monotonic-to-wall offset, with scripted clocks (the readings'
brackets and offsets chosen) and with the real ones."""

from __future__ import annotations

import time

import pytest

from ebcap.capture.session import clock

OFFSET = 1_764_000_000_000_000_000


def scripted(monkeypatch, readings: list[tuple[int, int]]) -> list[str]:
    """Clocks that give these (bracket, offset) paired readings in turn; returns the reads made."""
    reads: list[str] = []
    state = {"now": 10_000, "at": 0}

    def monotonic_ns() -> int:
        reads.append("monotonic")
        bracket, _offset = readings[state["at"]]
        if len(reads) % 3 == 1:
            return state["now"]
        state["now"] += bracket
        state["at"] += 1
        return state["now"]

    def time_ns() -> int:
        reads.append("wall")
        bracket, offset = readings[state["at"]]
        return state["now"] + bracket // 2 + offset

    monkeypatch.setattr(time, "monotonic_ns", monotonic_ns)
    monkeypatch.setattr(time, "time_ns", time_ns)
    return reads


def test_first_offset_is_the_tightest_of_five(monkeypatch):
    reads = scripted(monkeypatch, [(2000, OFFSET + 700), (400, OFFSET + 90), (300, OFFSET - 40),
                                   (350, OFFSET + 60), (320, OFFSET + 10)])
    assert clock.monotonic_to_wall_offset() == OFFSET - 40
    assert len(reads) == 15


def test_an_offset_that_stands_is_proved_by_the_first_tight_reading(monkeypatch):
    # the first reading after a sleep: its bracket leaves room for a change above the tolerance
    reads = scripted(monkeypatch, [(2000, OFFSET + 300), (400, OFFSET + 100)] + [(300, OFFSET)] * 3)
    assert clock.monotonic_to_wall_offset(OFFSET) == OFFSET
    assert len(reads) == 6
    reads = scripted(monkeypatch, [(200, OFFSET - 500)] * 5)
    assert clock.monotonic_to_wall_offset(OFFSET) == OFFSET
    assert len(reads) == 3


def test_a_step_is_read_as_the_best_of_five(monkeypatch):
    step = OFFSET + 3_600_000_000_000
    reads = scripted(monkeypatch, [(2000, step + 900), (300, step + 20), (250, step - 10),
                                   (400, step), (260, step + 5)])
    offset = clock.monotonic_to_wall_offset(OFFSET)
    assert offset == step - 10 and clock.offset_moved(offset, OFFSET)
    assert len(reads) == 15


def test_loose_readings_near_the_old_offset_do_not_move_it(monkeypatch):
    # never proved within the tolerance, but the best reading is: the kernel's offset stands
    scripted(monkeypatch, [(2400, OFFSET + 300)] * 5)
    offset = clock.monotonic_to_wall_offset(OFFSET)
    assert offset == OFFSET + 300 and not clock.offset_moved(offset, OFFSET)


@pytest.mark.parametrize("previous", [False, True])
def test_real_clocks(previous):
    first = clock.monotonic_to_wall_offset()
    offset = clock.monotonic_to_wall_offset(first) if previous else first
    for _ in range(20):     # a reading as careful as the function's, but not from it
        before, wall, after = time.monotonic_ns(), time.time_ns(), time.monotonic_ns()
        if after - before < 5000:
            break
    # a sanity bound (sign, units, which clock): wide, as a loaded VM may preempt any reading
    assert abs(offset - (wall - (before + after) // 2)) < 100_000
