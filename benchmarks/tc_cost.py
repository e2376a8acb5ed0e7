"""What ebcap's TC program costs per packet, as the kernel's bpf_stats count it (run_time_ns /
run_cnt, the clock reads bpf_stats adds included): a headers-only capture on the sender's veth
egress, with a filter that refuses every packet and one (`udp`) that takes them all, and the
floor, an empty TC program (`r0 = TCX_NEXT; exit`) on the same traffic in the same round. Two
kinds of traffic, from capture/bench: 64-byte UDP datagrams sent by a socket (headers in the
skb's linear part) and trafgen's 64-byte frames (headers in its paged part). Stats are on only
while this runs (BPF_ENABLE_STATS: a file descriptor, so nothing is left on). Needs root:

    sudo .venv/bin/python benchmarks/tc_cost.py [ROUNDS] [SECONDS] [--compare OTHER/ebcap]
                                                [--option=--owners ...]

Each figure is the median over the rounds with its min..max; the order of the runs rotates
from round to round. The machine is shared: read differences from the floor, not absolutes.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import struct
import subprocess
import sys
from pathlib import Path

from ebcap.capture.bench.testbed import Testbed, wait_listening
from ebcap.capture.bench.traffic import (MAIN_SPORT, Flow, SocketUdp, Trafgen, add_blackhole,
                                         quiet_links)
from ebcap.capture.kernel import bpfsys

EBCAP = Path(sys.executable).parent / "ebcap"
BPF_ENABLE_STATS, BPF_STATS_RUN_TIME = 32, 0
FRAME = 64
REFUSED, MATCHING = "udp dst port 7", "udp"

# Loads r0 = -1 (TCX_NEXT); exit as a tcx egress program and waits for its stdin to close.
_FLOOR = r"""
import os, struct, sys
from ebcap.capture.kernel import bpfsys
insns = struct.pack("<BBhi", 0xb4, 0, 0, -1) + struct.pack("<BBhi", 0x95, 0, 0, 0)
fd = bpfsys.prog_load(insns, "ebcap_floor")
link = bpfsys.tcx_attach(fd, int(open(f"/sys/class/net/{sys.argv[1]}/ifindex").read()), 47)
print("ready", flush=True)
sys.stdin.read()
"""


def enable_stats() -> int:
    attr = ctypes.create_string_buffer(8)
    struct.pack_into("<I", attr, 0, BPF_STATS_RUN_TIME)
    return bpfsys.bpf(BPF_ENABLE_STATS, attr)


def prog_stats(pid: int, name: str) -> tuple[int, int]:
    """(run_time_ns, run_cnt) summed over the programs called `name` that process `pid` holds."""
    ids = set()
    for fdinfo in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            for line in fdinfo.read_text().splitlines():
                if line.startswith("prog_id:"):
                    ids.add(int(line.split()[1]))
        except OSError:
            continue
    ns = cnt = 0
    for prog_id in ids:
        info = json.loads(subprocess.run(["bpftool", "-j", "prog", "show", "id", str(prog_id)],
                                         capture_output=True, text=True, check=True).stdout)
        if info.get("name") == name:
            ns += info.get("run_time_ns", 0)
            cnt += info.get("run_cnt", 0)
    return ns, cnt


def send(testbed: Testbed, flow: Flow, kind: str, seconds: float) -> None:
    if kind == "socket":
        sender = SocketUdp(testbed, flow, duration=seconds, count=10_000_000)
        sender.wait(seconds + 5)
    else:
        sender = Trafgen(testbed, flow, sport=MAIN_SPORT, spread=True, count=int(250_000 * seconds))
        sender.wait(seconds + 5)
    sender.stop()


def measure(testbed: Testbed, flow: Flow, kind: str, what: str, seconds: float,
            options: tuple[str, ...] = (), ebcap: Path | None = None) -> float:
    """ns per run of the egress program for `what` ("floor" or a filter) on `kind` traffic;
    `options` go to `ebcap` (this one's by default) before the filter (-B 1024, ...)."""
    host = flow.src
    if what == "floor":
        proc = testbed.popen(host, [sys.executable, "-c", _FLOOR, host.ifname],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the floor program did not attach")
        pid, name = proc.pid, "ebcap_floor"
    else:
        proc = testbed.popen(host, [str(ebcap or EBCAP), "-i", host.ifname, "-Q", "out", "-w",
                                    "/dev/null", *options, what], stderr=subprocess.PIPE)
        wait_listening(proc)
        pid, name = proc.pid, "ebcap_egress"
    try:
        ns0, cnt0 = prog_stats(pid, name)
        send(testbed, flow, kind, seconds)
        ns1, cnt1 = prog_stats(pid, name)
    finally:
        if what == "floor":
            proc.stdin.close()
        else:
            proc.send_signal(2)
        proc.wait(timeout=30)
    if cnt1 - cnt0 < 1000:
        raise RuntimeError(f"{what} on {kind}: only {cnt1 - cnt0} runs counted")
    return (ns1 - ns0) / (cnt1 - cnt0)


def spread(xs: list[float]) -> str:
    return f"[{min(xs):.0f}..{max(xs):.0f}]"


def paired(xs: list[float], ys: list[float], sign: str = "") -> str:
    """The median of xs - ys round by round (both measured in the same rounds), and its spread:
    the VM's slow and quick rounds move both, so the difference is steadier than either."""
    diffs = [x - y for x, y in zip(xs, ys)]
    return f"{statistics.median(diffs):{sign}.0f} {spread(diffs)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rounds", nargs="?", type=int, default=5)
    parser.add_argument("seconds", nargs="?", type=float, default=1.5)
    parser.add_argument("--compare", metavar="EBCAP", action="append", default=[],
                        help="another ebcap (e.g. a checkout's .venv/bin/ebcap) measured in the "
                             "same rounds")
    parser.add_argument("--option", metavar="FLAG", action="append", default=[],
                        help="a flag for every ebcap run (--option=--owners); repeatable")
    args = parser.parse_args()
    tools = [EBCAP, *(Path(path) for path in args.compare)]
    # (label, ebcap, filter); the order rotates from round to round
    runs = [("empty program", None, "floor")]
    for tool in tools:
        suffix = "" if tool == EBCAP else f" ({tool})"
        runs += [(f"ebcap '{REFUSED}'{suffix}", tool, REFUSED),
                 (f"ebcap '{MATCHING}'{suffix}", tool, MATCHING)]
    results = {(kind, label): [] for kind in ("socket", "trafgen") for label, _, _ in runs}
    label_of = {(tool, what): label for label, tool, what in runs}
    stats_fd = enable_stats()
    try:
        with Testbed("tccost") as testbed:
            add_blackhole(testbed)
            quiet_links(testbed)
            flow = Flow.across(testbed, FRAME)
            for r in range(args.rounds):
                order = runs[r % len(runs):] + runs[:r % len(runs)]
                for kind in ("socket", "trafgen"):
                    for label, tool, what in order:
                        results[kind, label].append(
                            measure(testbed, flow, kind, what, args.seconds,
                                    tuple(args.option), ebcap=tool))
                print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        os.close(stats_fd)
    print(f"ns per run of the egress TC program (bpf_stats), {FRAME}-byte UDP, headers-only "
          f"capture{' ' + ' '.join(args.option) if args.option else ''}, median of "
          f"{args.rounds} rounds [min..max]; floor+ and 'this one' (this checkout's minus the other's) are the medians [min..max] of "
          "the differences within each round:")
    for kind in ("socket", "trafgen"):
        floors = results[kind, "empty program"]
        for label, tool, what in runs:
            xs = results[kind, label]
            line = f"  {kind:8} {label:40} {statistics.median(xs):6.0f} {spread(xs)}"
            if tool is not None:
                line += f"  floor+{paired(xs, floors)}"
            if tool not in (None, EBCAP):
                line += f"  this one {paired(results[kind, label_of[EBCAP, what]], xs, '+')}"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
