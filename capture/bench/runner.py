"""Run the bench: every scenario with no capture and with each tool, on one throwaway testbed.

One measurement (a scenario with one tool) goes:
  1. a slow ticker (1 frame per ms, matching every filter) starts, then the capture tool;
  2. once the tool prints "listening on", and a settling pause later, the ticker stops;
  3. counters are read, trafgen sends the main traffic for `duration` seconds (bounded in count);
  4. counters are read again; after a pause to drain, the tool gets SIGINT and its exit statistics
     are taken; the tool's CPU time counts from 3 to the end of its exit (draining, writing and
     tearing down included), the whole machine's only while the traffic ran (the machine has
     other users);
  5. its file is counted: main-traffic frames against those the filter should have let through,
     and the first packet's timestamp against the tool's start (the ticker's job).
Every figure comes from the same run; rate ratios compare with "no capture" in the same round.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ebcap.capture.bench.measure import (CpuGroup, children_cpu_seconds, count_capture_file,
                                   machine_cpu_seconds, parse_exit_stats, process_cpu_seconds)
from ebcap.capture.bench.scenarios import NO_CAPTURE, Scenario, Tool
from ebcap.capture.bench.traffic import (BLACKHOLE_DST, MAIN_SPORT, TICKER_GAP, TICKER_SPORT, Flow,
                                   LinkCounters, Trafgen, add_blackhole)
from ebcap.capture.bench.testbed import Host, Testbed

# Every result has exactly these keys (None where a figure does not apply): the JSON's schema.
FIGURES = {
    "packets_sent": "frames trafgen sent (its own count) during the traffic",
    "duration_s": "how long the traffic ran, s",
    "packets_per_s": "frames/s the receiver got",
    "bits_per_s": "bit/s the receiver got (frame bytes, no FCS)",
    "rate_ratio": "packets_per_s as a share of the no-capture run's",
    "bit_rate_ratio": "bits_per_s as a share of the no-capture run's",
    "cpu_capture_s": "CPU of the capture process and anything it starts, from traffic start "
                     "to the end of its exit, s",
    "cpu_capture_per_mpkt": "cpu_capture_s per million packets_sent",
    "cpu_exit_s": "the part of cpu_capture_s from SIGINT to the end of the exit: a fixed cost "
                  "per run, not per packet (statistics, closing, tearing the process down), s",
    "cpu_machine_s": "whole machine busy time (user, nice, system, irq, softirq; steal left out) "
                     "while the traffic ran, s",
    "cpu_machine_per_mpkt": "cpu_machine_s per million packets_sent",
    "captured": "the tool's own exit statistics: packets captured",
    "received_by_filter": "the tool's own exit statistics: packets received by filter",
    "dropped_by_kernel": "the tool's own exit statistics: packets dropped by kernel",
    "expected_in_file": "main-traffic frames the filter should let through",
    "packets_in_file": "main-traffic frames found in the file",
    "missing_in_file": "expected_in_file - packets_in_file",
    "file_bytes": "size of the file written, bytes",
    "bytes_per_packet": "file_bytes per packet in the file",
    "ready_s": "tool start to its 'listening on' banner, s",
    "first_packet_s": "tool start to the timestamp of the first packet in its file, s",
    "error": "why a figure is missing, or null",
}
RATE_CAP = 5_000_000        # packets/s: bounds the main traffic's count, well above this machine
READY_TIMEOUT = 60.0        # a tool that compiles BPF may take a while, but not forever
SETTLE = 0.3                # ticker time after "listening on", in case capture starts a bit later
# After the traffic and before SIGINT: libpcap hands over a partly filled TPACKET_V3 block only
# when its 1 s timeout retires it, and tcpdump drops what it holds on SIGINT; without this pause
# a short run would count that last block as lost.
DRAIN = 1.1
STOP_TIMEOUT = 30.0


def empty_result() -> dict:
    return dict.fromkeys(FIGURES)


@dataclass
class BenchConfig:
    scenarios: Sequence[Scenario]
    tools: Sequence[Tool]
    duration: float
    rounds: int = 1
    workdir: str | None = None


class _StderrWatcher:
    """Collects a process's stderr on a thread and notices its ready banner."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.ready_at: float | None = None
        self._thread = threading.Thread(target=self._read, args=(proc.stderr,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line)
            if not self.ready.is_set() and "listening on" in line:
                self.ready_at = time.time()
                self.ready.set()
        stream.close()

    def text(self) -> str:
        self._thread.join(5)
        return "".join(self.lines)

    def tail(self) -> str:
        """The last lines, on one line: for an error message."""
        return " | ".join(line.strip() for line in self.text().splitlines()[-3:])


class _CaptureClock:
    """The capture tool's CPU clock. From a cgroup of its own where the machine has cgroup v2:
    that counts the tool's exit to its end and nothing from before step 3. Else its threads'
    schedstat plus its reaped children's ticks at the start, wait4()'s rusage (which holds the
    reaped children) at the end."""

    def __init__(self, proc: subprocess.Popen):
        self.pid = proc.pid
        self.group = CpuGroup.create(f"ebcap-bench-{os.getpid()}")
        if self.group is not None and not self.group.add(proc.pid):
            self.group.remove()
            self.group = None

    def now(self) -> float | None:
        if self.group is not None:
            return self.group.cpu_seconds()
        own = process_cpu_seconds(self.pid)
        return None if own is None else own + children_cpu_seconds(self.pid)

    def after_exit(self, rusage_total: float | None) -> float | None:
        """The clock once the tool has been reaped (`rusage_total`: wait4's user+sys)."""
        if rusage_total is None:
            return None
        return self.group.cpu_seconds() if self.group is not None else rusage_total

    def close(self) -> None:
        if self.group is not None:
            self.group.remove()


def _wait_rusage(proc: subprocess.Popen, timeout: float) -> float | None:
    """Reap `proc` ourselves (os.wait4) to get its user+sys seconds; kill it after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return rusage.ru_utime + rusage.ru_stime
        if time.monotonic() > deadline:
            proc.kill()
            _, status, rusage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return None
        time.sleep(0.01)


class Bench:
    """One testbed, reused for every measurement; frames go to a blackhole route on the receiver,
    so it accepts them (its own MAC) and drops them right after IP routing, with no ICMP back."""

    def __init__(self, testbed: Testbed, workdir: str):
        self.testbed = testbed
        self.workdir = workdir
        add_blackhole(testbed)
        self._flows: dict[int, Flow] = {}

    def flow(self, frame_len: int) -> Flow:
        if frame_len not in self._flows:
            flow = Flow.across(self.testbed, frame_len)
            self._flows[frame_len] = dataclasses.replace(
                flow, dst=dataclasses.replace(flow.dst, ipv4=BLACKHOLE_DST))
        return self._flows[frame_len]

    def capture_host(self, scenario: Scenario) -> Host:
        return self.testbed.left if scenario.side == "egress" else self.testbed.right

    def measure(self, scenario: Scenario, tool: Tool | None, duration: float) -> dict:
        result = empty_result()
        try:
            if tool is None:
                self._measure_traffic(scenario, duration, result)
                self._close_cpu(result)
            else:
                self._measure_capture(scenario, tool, duration, result)
        except Exception as exc:  # one failing tool must not sink the whole bench
            result["error"] = f"{type(exc).__name__}: {exc}"
        return result

    def _measure_traffic(self, scenario: Scenario, duration: float, result: dict,
                         clock: _CaptureClock | None = None) -> float | None:
        """Send the main traffic and fill in the rate, count and machine CPU figures. Returns
        the capture process's CPU clock at the start: its window closes only when it exits."""
        flow, tb = self.flow(scenario.frame_len), self.testbed
        before = LinkCounters.read(tb.left), LinkCounters.read(tb.right)
        machine0 = machine_cpu_seconds()
        capture0 = clock.now() if clock is not None else None
        start = time.monotonic()
        sender = Trafgen(tb, flow, sport=MAIN_SPORT, spread=True,
                         count=max(1, int(duration * RATE_CAP)))
        try:
            sender.wait(duration)
        finally:
            sent = sender.stop()
        elapsed = time.monotonic() - start
        result["cpu_machine_s"] = machine_cpu_seconds() - machine0
        left, right = (LinkCounters.read(tb.left) - before[0],
                       LinkCounters.read(tb.right) - before[1])
        if sent is None:  # trafgen did not say: the sender's counter, which may hold a stray frame
            sent = left.tx_packets
        # Frames the veth pair dropped never reached the receiver's hooks.
        seen = sent if scenario.side == "egress" else sent - left.tx_dropped - right.rx_dropped
        result.update(
            packets_sent=sent,
            duration_s=elapsed,
            packets_per_s=right.rx_packets / elapsed,
            bits_per_s=right.rx_bytes * 8 / elapsed,
            expected_in_file=_matches(seen, scenario.match_share),
        )
        return capture0

    @staticmethod
    def _close_cpu(result: dict, capture0: float | None = None,
                   capture_total: float | None = None) -> None:
        mpkt = result["packets_sent"] / 1e6 if result["packets_sent"] else None
        if capture_total is not None and capture0 is not None:
            result["cpu_capture_s"] = capture_total - capture0
        for key in ("cpu_machine", "cpu_capture"):
            if result[f"{key}_s"] is not None and mpkt:
                result[f"{key}_per_mpkt"] = result[f"{key}_s"] / mpkt

    def _measure_capture(self, scenario: Scenario, tool: Tool, duration: float,
                         result: dict) -> None:
        tb, host = self.testbed, self.capture_host(scenario)
        path = os.path.join(self.workdir, "capture.out")
        argv = tool.argv(host.ifname, path, scenario.filter)
        ticker = Trafgen(tb, self.flow(scenario.frame_len), sport=TICKER_SPORT, spread=False,
                         count=int(READY_TIMEOUT * 1000) + 1000, gap=TICKER_GAP)
        proc = clock = None
        try:
            started = time.time()
            proc = tb.popen(host, argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, errors="replace")
            clock = _CaptureClock(proc)
            watcher = _StderrWatcher(proc)
            deadline = time.monotonic() + READY_TIMEOUT
            while not watcher.ready.wait(0.05):
                if proc.poll() is not None or time.monotonic() > deadline:
                    why = "exited" if proc.poll() is not None else "did not get ready"
                    raise RuntimeError(f"{tool.name} {why}: {watcher.tail()}")
            result["ready_s"] = watcher.ready_at - started
            time.sleep(SETTLE)
            ticker.stop()
            ticker = None
            capture0 = self._measure_traffic(scenario, duration, result, clock=clock)
            time.sleep(DRAIN)
            stopping = clock.now()
            proc.send_signal(signal.SIGINT)
            ended = clock.after_exit(_wait_rusage(proc, STOP_TIMEOUT))
            self._close_cpu(result, capture0, ended)
            if ended is not None and stopping is not None:
                result["cpu_exit_s"] = ended - stopping
            result.update(parse_exit_stats(watcher.text()))
            if proc.returncode not in (0, -signal.SIGINT):
                raise RuntimeError(f"{tool.name} exited with {proc.returncode}: {watcher.tail()}")
            self._count_file(path, started, result)
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            if ticker is not None:
                ticker.stop()
            if clock is not None:
                clock.close()
            if os.path.exists(path):
                os.unlink(path)

    @staticmethod
    def _count_file(path: str, started: float, result: dict) -> None:
        if not os.path.exists(path):
            raise RuntimeError(f"no output file {path}")
        count = count_capture_file(path, MAIN_SPORT)
        result.update(
            packets_in_file=count.packets_from_port,
            missing_in_file=result["expected_in_file"] - count.packets_from_port,
            file_bytes=count.size,
            bytes_per_packet=count.size / count.packets if count.packets else None,
            first_packet_s=count.first_ts - started if count.first_ts is not None else None,
        )


def _matches(frames: int, share: float) -> int:
    """How many of `frames` consecutive bench frames a filter matching `share` of them lets
    through. trafgen steps its counter before each frame, so the first frame carries 1 and the
    matching value 0 comes every 100th frame (measured: tcpdump's file agrees exactly)."""
    return frames // round(1 / share)


def _median(values: list) -> object:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(numbers) if numbers else None


def _merge_rounds(rounds: list[dict]) -> dict:
    merged = {key: _median([r[key] for r in rounds]) for key in FIGURES if key != "error"}
    merged["error"] = next((r["error"] for r in rounds if r["error"]), None)
    return merged


Progress = Callable[[int, int, Scenario, str, dict | None], None]


def run_bench(config: BenchConfig, progress: Progress | None = None) -> dict[str, dict[str, dict]]:
    """{scenario name: {tool name: figures}}; tool NO_CAPTURE is the baseline."""
    names = [NO_CAPTURE] + [t.name for t in config.tools]
    per_round: dict[tuple[str, str], list[dict]] = {}
    total, done = len(config.scenarios) * len(names) * config.rounds, 0
    with tempfile.TemporaryDirectory(prefix="ebcap-bench-", dir=config.workdir) as workdir, \
            Testbed("bench") as testbed:
        bench = Bench(testbed, workdir)
        for _round in range(config.rounds):
            for scenario in config.scenarios:
                baseline = None
                for tool in [None, *config.tools]:
                    name = tool.name if tool else NO_CAPTURE
                    if progress:
                        progress(done, total, scenario, name, None)
                    result = bench.measure(scenario, tool, config.duration)
                    if tool is None:
                        baseline = result
                    _add_ratios(result, baseline)
                    per_round.setdefault((scenario.name, name), []).append(result)
                    done += 1
                    if progress:
                        progress(done, total, scenario, name, result)
    return {s.name: {n: _merge_rounds(per_round[(s.name, n)]) for n in names}
            for s in config.scenarios}


def _add_ratios(result: dict, baseline: dict | None) -> None:
    for key, ratio in (("packets_per_s", "rate_ratio"), ("bits_per_s", "bit_rate_ratio")):
        if baseline and baseline[key] and result[key] is not None:
            result[ratio] = result[key] / baseline[key]
