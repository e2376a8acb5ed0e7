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

`--profile socket|trafgen` instead samples the sending CPU (`perf record -e cpu-clock -g`) for
[SECONDS] while `ebcap ... udp` (its reader on another CPU) takes that traffic, with bpf_stats
off, [ROUNDS] times, this checkout's and each `--compare`'s in rotating order, and prints what
the program costs a packet (its samples, helpers included, times the sampling period, over the
packets the veth sent in the window): unlike bpf_stats this includes the stage's flushes by the
timer's callback, which runs outside the program's statistics. Then, for this checkout, the
shares of its functions and of the helpers they call, and its hottest offsets; `--profile-dir DIR` keeps the
JIT's image (`ebcap_egress.bin`, disassemble with `objdump -D -b binary -mi386:x86-64`), the
functions' addresses and the samples per offset, for mapping the offsets onto the C by hand
(the README's fifth pass did so).
"""

from __future__ import annotations

import argparse
import bisect
import collections
import ctypes
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ebcap.capture.bench.testbed import Testbed, wait_listening
from ebcap.capture.bench.traffic import (MAIN_SPORT, SENDER_CPU, Flow, SocketUdp, Trafgen,
                                         add_blackhole, quiet_links)
from ebcap.capture.kernel import bpfsys

EBCAP = Path(sys.executable).parent / "ebcap"
BPF_ENABLE_STATS, BPF_STATS_RUN_TIME = 32, 0
BPF_PROG_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD = 13, 15
PROFILE_HZ = 20000
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


def prog_ids(pid: int) -> set[int]:
    """The ids of the BPF programs process `pid` holds (Debian's bpftool shows no pids)."""
    ids = set()
    for fdinfo in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            for line in fdinfo.read_text().splitlines():
                if line.startswith("prog_id:"):
                    ids.add(int(line.split()[1]))
        except OSError:
            continue
    return ids


def prog_stats(pid: int, name: str) -> tuple[int, int]:
    """(run_time_ns, run_cnt) summed over the programs called `name` that process `pid` holds."""
    ns = cnt = 0
    for prog_id in prog_ids(pid):
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


class JitImage:
    """A loaded program's functions as the JIT made them (bpf_prog_info: jited_prog_insns,
    jited_ksyms, jited_func_lens): the entry first, then its subprograms in the kernel's order
    (the spliced filters, the flush callback)."""

    def __init__(self, prog_id: int):
        attr = ctypes.create_string_buffer(16)
        struct.pack_into("<I", attr, 0, prog_id)
        fd = bpfsys.bpf(BPF_PROG_GET_FD_BY_ID, attr)
        try:
            counts = self._info(fd, ctypes.create_string_buffer(232))
            jited_len, = struct.unpack_from("<I", counts, 16)
            nr_ksyms, nr_lens = struct.unpack_from("<II", counts, 104)
            image = ctypes.create_string_buffer(jited_len)
            ksyms = ctypes.create_string_buffer(8 * nr_ksyms)
            lens = ctypes.create_string_buffer(4 * nr_lens)
            info = ctypes.create_string_buffer(232)
            struct.pack_into("<IIQ", info, 16, jited_len, 0, ctypes.addressof(image))
            struct.pack_into("<IIQQ", info, 104, nr_ksyms, nr_lens, ctypes.addressof(ksyms),
                             ctypes.addressof(lens))
            self._info(fd, info)
        finally:
            os.close(fd)
        self.image = image.raw
        self.name = counts[64:80].split(b"\0")[0].decode()
        self.functions = list(zip(struct.unpack(f"<{nr_ksyms}Q", ksyms.raw),
                                  struct.unpack(f"<{nr_lens}I", lens.raw)))

    @staticmethod
    def _info(fd: int, info: ctypes.Array) -> ctypes.Array:
        attr = ctypes.create_string_buffer(16)
        struct.pack_into("<IIQ", attr, 0, fd, len(info), ctypes.addressof(info))
        bpfsys.bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
        return info

    def where(self, ip: int) -> tuple[int, int] | None:
        """(function index, offset in it) of a code address, or None outside the program."""
        for index, (start, length) in enumerate(self.functions):
            if start <= ip < start + length:
                return index, ip - start
        return None


class KernelSymbols:
    def __init__(self):
        rows = []
        with open("/proc/kallsyms") as kallsyms:
            for line in kallsyms:
                addr, kind, name = line.split()[:3]
                if kind in "tTwW":
                    rows.append((int(addr, 16), name))
        rows.sort()
        self._addrs = [addr for addr, _ in rows]
        self._names = [name for _, name in rows]

    def name(self, ip: int) -> str:
        index = bisect.bisect_right(self._addrs, ip) - 1
        return self._names[index] if index >= 0 else "?"


def call_chains(perf_data: str) -> list[list[int]]:
    """Each sample's call chain, innermost first, as code addresses."""
    out = subprocess.run(["perf", "script", "-i", perf_data, "-F", "ip"], capture_output=True,
                         text=True, check=True).stdout
    chains, chain = [], []
    for line in out.splitlines() + [""]:
        word = line.strip()
        if word:
            chain.append(int(word, 16))
        elif chain:
            chains.append(chain)
            chain = []
    return chains


def tx_packets(testbed: Testbed, host) -> int:
    out = testbed.run(host, ["ip", "-s", "-j", "link", "show", host.ifname], capture_output=True,
                      text=True).stdout
    return json.loads(out)[0]["stats64"]["tx"]["packets"]


def profile_once(testbed: Testbed, flow: Flow, kind: str, seconds: float, ebcap: Path,
                 scratch: str) -> tuple[float, collections.Counter, JitImage]:
    """One matching capture by `ebcap` under perf: (ns a packet, samples by (function, offset,
    helper called or None), the egress program's image)."""
    host = flow.src
    capture_cpu = 1 if SENDER_CPU == 0 else 0
    proc = testbed.popen(host, ["taskset", "-c", str(capture_cpu), str(ebcap), "-i",
                                host.ifname, "-Q", "out", "-w", "/dev/null", MATCHING],
                         stderr=subprocess.PIPE)
    try:
        wait_listening(proc)
        # an ebcap launched through a script is its child: the programs are the process's
        holders = [proc.pid, *map(int, subprocess.run(["pgrep", "-P", str(proc.pid)],
                                                      capture_output=True,
                                                      text=True).stdout.split())]
        images = [JitImage(prog_id) for pid in holders for prog_id in prog_ids(pid)]
        image = next(i for i in images if i.name == "ebcap_egress")
        symbols = KernelSymbols()
        if kind == "socket":
            sender = SocketUdp(testbed, flow, duration=seconds + 3, count=100_000_000)
        else:
            sender = Trafgen(testbed, flow, sport=MAIN_SPORT, spread=True,
                             count=int(300_000 * (seconds + 3)))
        time.sleep(1)
        perf_data = os.path.join(scratch, "perf.data")
        sent = tx_packets(testbed, host)
        subprocess.run(["perf", "record", "-q", "-F", str(PROFILE_HZ), "-e", "cpu-clock", "-C",
                        str(SENDER_CPU), "-g", "-o", perf_data, "--", "sleep", str(seconds)],
                       check=True)
        sent = tx_packets(testbed, host) - sent
        sender.stop()
    finally:
        proc.send_signal(2)
        proc.wait(timeout=30)
    sites = collections.Counter()
    for chain in call_chains(perf_data):
        for depth, ip in enumerate(chain):
            place = image.where(ip)
            if place is not None:
                helper = symbols.name(chain[depth - 1]) if depth else None
                sites[place + (helper,)] += 1
                break
    return sum(sites.values()) * 1e9 / PROFILE_HZ / max(sent, 1), sites, image


def profile(kind: str, rounds: int, seconds: float, others: list[Path],
            keep: Path | None) -> int:
    """The matching path's profile on the sending CPU (see the module's docstring); with other
    builds, each profiled in the same rounds, the order rotating."""
    tools = [EBCAP, *others]
    per_packet = {tool: [] for tool in tools}
    sites, image = collections.Counter(), None
    with Testbed("tcprof") as testbed, tempfile.TemporaryDirectory() as scratch:
        add_blackhole(testbed)
        quiet_links(testbed)
        flow = Flow.across(testbed, FRAME)
        for r in range(rounds):
            for tool in tools[r % len(tools):] + tools[:r % len(tools)]:
                ns, found, found_image = profile_once(testbed, flow, kind, seconds, tool, scratch)
                per_packet[tool].append(ns)
                if tool == EBCAP:
                    sites.update(found)
                    image = found_image
            print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    inside = sum(sites.values())
    print(f"{kind}, '{MATCHING}' matching, perf on CPU {SENDER_CPU} ({PROFILE_HZ} Hz, "
          f"{rounds} x {seconds:g} s): ns a packet in the egress program, its helpers and its "
          "flush callback, median [min..max] over rounds:")
    for tool in tools:
        line = f"  {str(tool):40} {statistics.median(per_packet[tool]):5.0f} {spread(per_packet[tool])}"
        if tool != EBCAP:
            line += f"  this one {paired(per_packet[EBCAP], per_packet[tool], '+')}"
        print(line)
    by_part = collections.Counter()
    for (function, _offset, helper), count in sites.items():
        by_part[function, helper] += count
    names = ["the entry", *(f"subprogram {i}" for i in range(1, len(image.functions)))]
    print(f"this one's {inside} samples by function, and the helper it called (that helper's "
          "callees included):")
    for (function, helper), count in by_part.most_common():
        print(f"  {100 * count / inside:5.1f} %  {names[function]:13} {helper or '(own code)'}")
    print("the entry's hottest offsets (a sample lands after the instruction that stalled; a "
          "helper's samples on the return address of its call):")
    entry = collections.Counter()
    for (function, offset, helper), count in sites.items():
        if function == 0:
            entry[offset, helper] += count
    for (offset, helper), count in entry.most_common(15):
        print(f"  {100 * count / inside:5.1f} %  +0x{offset:04x} {helper or ''}")
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / "ebcap_egress.bin").write_bytes(image.image)
        (keep / "functions.json").write_text(json.dumps(image.functions))
        (keep / "samples.json").write_text(json.dumps(
            [[function, offset, helper, count] for (function, offset, helper), count
             in sorted(sites.items(), key=lambda item: item[0][:2])]))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rounds", nargs="?", type=int, default=5)
    parser.add_argument("seconds", nargs="?", type=float, default=1.5)
    parser.add_argument("--compare", metavar="EBCAP", action="append", default=[],
                        help="another ebcap (e.g. a checkout's .venv/bin/ebcap) measured in the "
                             "same rounds")
    parser.add_argument("--option", metavar="FLAG", action="append", default=[],
                        help="a flag for every ebcap run (--option=--owners); repeatable")
    parser.add_argument("--profile", choices=("socket", "trafgen"),
                        help="perf on the sending CPU while a matching capture takes this traffic "
                             "(see above), instead of the rounds")
    parser.add_argument("--profile-dir", metavar="DIR", type=Path,
                        help="with --profile: keep the JIT's image and the samples here")
    args = parser.parse_args()
    if args.profile:
        return profile(args.profile, args.rounds, args.seconds,
                       [Path(path) for path in args.compare], args.profile_dir)
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
