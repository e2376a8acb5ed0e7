"""What the wall-clock check at a flush costs (capture/session/clock.py's monotonic_to_wall_offset
with the kernel's offset known, as refresh_clock calls it), against another tree's, alternating
the two call by call in the same process. A flush comes after the reader slept, so each call here
follows a sleep (cold caches) and, as in the drain loop (capture/session/drain.py), a
time.monotonic() just before it: on this VM the first clock read after a sleep costs ~10-14 us
and the drain's pays it, the reads after it ~0.3 us. Each call is timed with perf_counter_ns
around it, and the clock reads it made are counted (after a sleep too). No root needed:

    .venv/bin/python benchmarks/clock_cost.py [CALLS] [--compare /work/main] [--sleep SECONDS]
                                              [--map]

Prints medians with p10..p90 over the calls, and the median of the paired differences. With
--map (root), also what writing the offset costs after a sleep: one update of a one-entry BPF
array map, as maps.set_wall_clock makes (a flush whose offset stands no longer makes it; the
map is this script's own and goes with its fd).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def load(tree: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, tree / "capture/session/clock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def counted_reads(function, previous) -> int:
    """The clock reads one call makes, counted through wrapped clocks."""
    reads = [0]
    real_monotonic, real_wall = time.monotonic_ns, time.time_ns

    def monotonic_ns():
        reads[0] += 1
        return real_monotonic()

    def time_ns():
        reads[0] += 1
        return real_wall()

    time.monotonic_ns, time.time_ns = monotonic_ns, time_ns
    try:
        try:
            function(previous)
        except TypeError:           # a tree whose function takes no previous offset
            function()
    finally:
        time.monotonic_ns, time.time_ns = real_monotonic, real_wall
    return reads[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("calls", nargs="?", type=int, default=200)
    parser.add_argument("--compare", type=Path, default=None, help="another tree (its clock.py)")
    parser.add_argument("--sleep", type=float, default=0.05)
    parser.add_argument("--map", action="store_true", help="also time a map update (root)")
    args = parser.parse_args()
    trees = {"this": load(HERE, "clock_this")}
    if args.compare:
        trees["other"] = load(args.compare, "clock_other")
    calls = {}
    for name, module in trees.items():
        previous = module.monotonic_to_wall_offset()
        try:
            module.monotonic_to_wall_offset(previous)
            calls[name] = lambda f=module.monotonic_to_wall_offset, p=previous: f(p)
        except TypeError:
            calls[name] = module.monotonic_to_wall_offset
    times: dict[str, list[int]] = {name: [] for name in trees}
    for round_ in range(args.calls):
        order = list(calls.items())
        for name, call in order[round_ % 2:] + order[:round_ % 2]:
            time.sleep(args.sleep)
            time.monotonic()                # the drain loop's `now`
            start = time.perf_counter_ns()
            call()
            times[name].append(time.perf_counter_ns() - start)
    for name, module in trees.items():
        values = times[name]
        deciles = statistics.quantiles(values, n=10)
        previous = module.monotonic_to_wall_offset()
        reads = []
        for _ in range(50):
            time.sleep(args.sleep)
            time.monotonic()
            reads.append(counted_reads(module.monotonic_to_wall_offset, previous))
        print("%-5s %6.2f us (p10 %.2f .. p90 %.2f)  clock reads: median %d, max %d"
              % (name, statistics.median(values) / 1000, deciles[0] / 1000, deciles[-1] / 1000,
                 statistics.median(reads), max(reads)))
    if len(times) == 2:
        pairs = [a - b for a, b in zip(times["this"], times["other"])]
        deciles = statistics.quantiles(pairs, n=10)
        print("this - other, paired: %.2f us (p10 %.2f .. p90 %.2f)"
              % (statistics.median(pairs) / 1000, deciles[0] / 1000, deciles[-1] / 1000))
    if args.map:
        map_update(args.calls, args.sleep)


def map_update(calls: int, sleep: float) -> None:
    from ebcap.capture.kernel import bpfsys
    spec = bpfsys.MapSpec("wall_clock", 2, 4, 8, 1)     # BPF_MAP_TYPE_ARRAY
    table = bpfsys.BpfMap(bpfsys.map_create(spec), spec)
    try:
        values = []
        for n in range(calls):
            time.sleep(sleep)
            time.monotonic()
            start = time.perf_counter_ns()
            table.update(bytes(4), n.to_bytes(8, "little"))
            values.append(time.perf_counter_ns() - start)
    finally:
        table.close()
    deciles = statistics.quantiles(values, n=10)
    print("map update %6.2f us (p10 %.2f .. p90 %.2f)"
          % (statistics.median(values) / 1000, deciles[0] / 1000, deciles[-1] / 1000))


if __name__ == "__main__":
    main()
