"""Run the bench: every scenario with no capture and with each tool, on one throwaway testbed.

One measurement (a scenario with one tool) goes:
  1. a slow ticker (1 frame per ms, matching every filter) starts, then the capture tool, in a
     cgroup of its own from its first instruction;
  2. once the tool prints "listening on" (its start-up CPU is read then), and a settling pause
     later, the ticker stops;
  3. counters are read, the scenario's traffic runs for `duration` seconds (bounded in count);
  4. counters are read again; after a pause to drain, the tool gets SIGINT and its exit statistics
     are taken; the tool's per-packet CPU counts from 3 to the SIGINT, its exit CPU from there
     to the end of its exit; the whole machine's only while the traffic ran (the machine has
     other users);
  5. its file is counted: the traffic's packets against those the filter should have let through,
     and the first packet's timestamp against the tool's start (the ticker's job).
Within a round the order of the measurements rotates from scenario to scenario and round to
round (scenarios.round_order). Every figure comes from the same run; rate ratios and the CPU a
capture adds to the machine compare with "no capture" in the same scenario and round, and each
figure is then summed up over the rounds as its median, min and max.
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
                                         machine_cpu_seconds, parse_exit_stats,
                                         process_cpu_seconds)
from ebcap.capture.bench.scenarios import NO_CAPTURE, Scenario, Tool, round_order
from ebcap.capture.bench.traffic import (BLACKHOLE_DST, MAIN_SPORT, MATCHES, TICKER_GAP,
                                         TICKER_SPORT, Flow, LinkCounters, SocketUdp, TcpStream,
                                         Trafgen, add_blackhole, quiet_links)
from ebcap.capture.bench.testbed import Host, Testbed

# Every result has exactly these keys (None where a figure does not apply): the JSON's schema.
FIGURES = {
    "packets_sent": "packets the sender sent during the traffic: trafgen's or the socket "
                    "sender's own count; for the TCP stream the sender veth's tx_packets, "
                    "where a GSO super-packet is one",
    "duration_s": "how long the traffic ran, s",
    "packets_per_s": "packets/s the receiver got",
    "bits_per_s": "bit/s the receiver got (frame bytes, no FCS)",
    "rate_ratio": "packets_per_s as a share of the no-capture run's in the same round",
    "bit_rate_ratio": "bits_per_s as a share of the no-capture run's in the same round",
    "cpu_startup_s": "CPU of the capture process (and anything it starts) from its exec to its "
                     "'listening on' line: a fixed cost per run, s",
    "cpu_capture_s": "CPU of the capture process and anything it starts from the traffic's "
                     "start to its SIGINT (the traffic and the drain pause; start-up and exit "
                     "not included), s",
    "cpu_capture_per_mpkt": "cpu_capture_s per million packets_sent (= microseconds per packet)",
    "cpu_exit_s": "CPU of the capture process from SIGINT to the end of its exit: a fixed cost "
                  "per run, not per packet (statistics, closing, tearing the process down), s",
    "cpu_machine_s": "whole machine busy time (user, nice, system, irq, softirq; idle, iowait "
                     "and steal left out) while the traffic ran, s",
    "cpu_machine_per_mpkt": "cpu_machine_s per million packets_sent",
    "cpu_machine_added_per_mpkt": "cpu_machine_per_mpkt less the no-capture run's in the same "
                                  "round: the machine CPU a capture adds per million packets",
    "captured": "the tool's own exit statistics: packets captured",
    "received_by_filter": "the tool's own exit statistics: packets received by filter",
    "dropped_by_kernel": "the tool's own exit statistics: packets dropped by kernel",
    "expected_in_file": "packets of the traffic the filter should let through",
    "packets_in_file": "packets of the traffic found in the file",
    "missing_in_file": "expected_in_file - packets_in_file",
    "largest_packet": "the longest packet of the traffic in the file, as on the wire, bytes "
                      "(above 1514: GSO super-packets)",
    "file_bytes": "size of the file written, bytes",
    "bytes_per_packet": "file_bytes per packet in the file",
    "ready_s": "tool start to its 'listening on' banner, s",
    "first_packet_s": "tool start to the timestamp of the first packet in its file, s",
    "error": "why a figure is missing, or null",
}
# How a figure over the rounds is summed up, in the JSON: each of these holds FIGURES' keys.
SUMMARIES = ("median", "min", "max")
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
    """Collects a process's stderr on a thread and notices its ready banner; `on_ready` runs on
    that thread as the banner is read (the start-up CPU clock), before anyone is woken."""

    def __init__(self, proc: subprocess.Popen, on_ready: Callable[[], object] | None = None):
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.ready_at: float | None = None
        self.ready_value: object = None
        self._on_ready = on_ready
        self._thread = threading.Thread(target=self._read, args=(proc.stderr,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line)
            if not self.ready.is_set() and "listening on" in line:
                self.ready_at = time.time()
                if self._on_ready is not None:
                    self.ready_value = self._on_ready()
                self.ready.set()
        stream.close()

    def text(self) -> str:
        self._thread.join(5)
        return "".join(self.lines)

    def tail(self) -> str:
        """The last lines, on one line: for an error message."""
        return " | ".join(line.strip() for line in self.text().splitlines()[-3:])


# Runs in the capture side's namespace, before the tool: puts the shell (and so the tool it
# becomes) into the bench's cgroup through the group's cgroup.procs, open for writing as the
# shell's stdin (a descriptor, since `ip netns exec` mounts a sysfs of its own where the cgroup2
# mount is not; stdin, since dash redirects no descriptor above 9), then gives the tool
# /dev/null as stdin. The tool's clock then starts at its exec (plus the shell's ~1 ms), and
# `ip netns exec`'s own ~2 ms of mount work stays out.
_JOIN_GROUP = 'echo $$ >&0 && exec "$@" </dev/null'


class _CaptureClock:
    """The capture tool's CPU clock. From a cgroup of its own where the machine has cgroup v2:
    that counts the tool from its exec to the end of its exit, and its children. Else its
    threads' schedstat plus its reaped children's ticks, and wait4()'s rusage (which holds the
    reaped children) at the end; the start-up then counts from when the clock was made."""

    def __init__(self):
        self.pid: int | None = None
        self.group = CpuGroup.create(f"ebcap-bench-{os.getpid()}")
        self._procs_fd: int | None = None
        if self.group is not None:
            try:
                self._procs_fd = os.open(os.path.join(self.group.path, "cgroup.procs"),
                                         os.O_WRONLY)
            except OSError:
                self.group.remove()
                self.group = None

    def popen(self, testbed: Testbed, host: Host, argv: list[str], **kwargs) -> subprocess.Popen:
        """Start the tool in `host`'s namespace on this clock, with /dev/null as its stdin."""
        if self._procs_fd is None:
            proc = testbed.popen(host, argv, stdin=subprocess.DEVNULL, **kwargs)
        else:
            proc = testbed.popen(host, ["sh", "-c", _JOIN_GROUP, "sh", *argv],
                                 stdin=self._procs_fd, **kwargs)
            os.close(self._procs_fd)
            self._procs_fd = None
        self.pid = proc.pid
        return proc

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
        if self._procs_fd is not None:
            os.close(self._procs_fd)
            self._procs_fd = None
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
    """One testbed, reused for every measurement. UDP goes to a blackhole route on the receiver,
    so it accepts the frames (its own MAC) and drops them right after IP routing, with no ICMP
    back; the TCP stream goes to an iperf3 server on the receiver."""

    def __init__(self, testbed: Testbed, workdir: str):
        self.testbed = testbed
        self.workdir = workdir
        add_blackhole(testbed)
        quiet_links(testbed)
        self._flows: dict[int, Flow] = {}

    def flow(self, frame_len: int) -> Flow:
        """UDP frames of `frame_len` bytes to the blackhole."""
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
                self._per_mpkt(result)
            else:
                self._measure_capture(scenario, tool, duration, result)
        except Exception as exc:  # one failing tool must not sink the whole bench
            result["error"] = f"{type(exc).__name__}: {exc}"
        return result

    def _measure_traffic(self, scenario: Scenario, duration: float, result: dict,
                         clock: _CaptureClock | None = None) -> float | None:
        """Run the scenario's traffic and fill in the rate, count and machine CPU figures.
        Returns the capture process's CPU clock at the start."""
        tb = self.testbed
        stream = None
        if scenario.traffic == "tcp":  # to the receiver's own address, not the blackhole
            stream = TcpStream(tb, Flow.across(tb, 1514), duration=duration)
        try:
            if stream is not None:
                stream.wait_ready()
            before = LinkCounters.read(tb.left), LinkCounters.read(tb.right)
            machine0 = machine_cpu_seconds()
            capture0 = clock.now() if clock is not None else None
            start = time.monotonic()
            sender = self._start_sender(scenario, duration, stream)
            try:
                sender.wait(duration)
            finally:
                sent = sender.stop()
            elapsed = time.monotonic() - start
            result["cpu_machine_s"] = machine_cpu_seconds() - machine0
        finally:
            if stream is not None:
                stream.close()
        left, right = (LinkCounters.read(tb.left) - before[0],
                       LinkCounters.read(tb.right) - before[1])
        if sent is None:  # the sender did not say (iperf3 never does): the sender veth's count
            sent = left.tx_packets
        # Packets the veth pair dropped never reached the receiver's hooks.
        seen = sent if scenario.side == "egress" else sent - left.tx_dropped - right.rx_dropped
        result.update(
            packets_sent=sent,
            duration_s=elapsed,
            packets_per_s=right.rx_packets / elapsed,
            bits_per_s=right.rx_bytes * 8 / elapsed,
            expected_in_file=_matches(seen, scenario.match_share),
        )
        return capture0

    def _start_sender(self, scenario: Scenario, duration: float,
                      stream: TcpStream | None) -> Trafgen | SocketUdp | TcpStream:
        """The main traffic, started: each sender has wait(timeout) and stop() -> its count."""
        if stream is not None:
            stream.start()
            return stream
        count = max(1, int(duration * RATE_CAP))
        flow = self.flow(scenario.frame_len)
        if scenario.traffic == "socket":
            return SocketUdp(self.testbed, flow, duration=duration, count=count)
        return Trafgen(self.testbed, flow, sport=MAIN_SPORT, spread=True, count=count)

    @staticmethod
    def _per_mpkt(result: dict) -> None:
        mpkt = result["packets_sent"] / 1e6 if result["packets_sent"] else None
        for key in ("cpu_machine", "cpu_capture"):
            if result[f"{key}_s"] is not None and mpkt:
                result[f"{key}_per_mpkt"] = result[f"{key}_s"] / mpkt

    def _measure_capture(self, scenario: Scenario, tool: Tool, duration: float,
                         result: dict) -> None:
        tb, host = self.testbed, self.capture_host(scenario)
        path = os.path.join(self.workdir, "capture.out")
        argv = tool.argv(host.ifname, path, scenario.filter)
        proc = ticker = None
        clock = _CaptureClock()
        try:
            ticker = Trafgen(tb, self.flow(scenario.frame_len or 64), sport=TICKER_SPORT,
                             spread=False, count=int(READY_TIMEOUT * 1000) + 1000, gap=TICKER_GAP)
            started = time.time()
            proc = clock.popen(tb, host, argv, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, errors="replace")
            watcher = _StderrWatcher(proc, on_ready=clock.now)
            deadline = time.monotonic() + READY_TIMEOUT
            while not watcher.ready.wait(0.05):
                if proc.poll() is not None or time.monotonic() > deadline:
                    why = "exited" if proc.poll() is not None else "did not get ready"
                    raise RuntimeError(f"{tool.name} {why}: {watcher.tail()}")
            result["ready_s"] = watcher.ready_at - started
            result["cpu_startup_s"] = watcher.ready_value
            time.sleep(SETTLE)
            ticker.stop()
            ticker = None
            capture0 = self._measure_traffic(scenario, duration, result, clock=clock)
            time.sleep(DRAIN)
            stopping = clock.now()
            proc.send_signal(signal.SIGINT)
            ended = clock.after_exit(_wait_rusage(proc, STOP_TIMEOUT))
            if stopping is not None and capture0 is not None:
                result["cpu_capture_s"] = stopping - capture0
            if ended is not None and stopping is not None:
                result["cpu_exit_s"] = ended - stopping
            self._per_mpkt(result)
            result.update(parse_exit_stats(watcher.text()))
            if proc.returncode not in (0, -signal.SIGINT):
                raise RuntimeError(f"{tool.name} exited with {proc.returncode}: {watcher.tail()}")
            self._count_file(path, started, MATCHES[scenario.traffic], result)
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            if ticker is not None:
                ticker.stop()
            clock.close()
            if os.path.exists(path):
                os.unlink(path)

    @staticmethod
    def _count_file(path: str, started: float, match, result: dict) -> None:
        if not os.path.exists(path):
            raise RuntimeError(f"no output file {path}")
        count = count_capture_file(path, match)
        result.update(
            packets_in_file=count.packets_matched,
            missing_in_file=result["expected_in_file"] - count.packets_matched,
            largest_packet=count.largest_matched,
            file_bytes=count.size,
            bytes_per_packet=count.size / count.packets if count.packets else None,
            first_packet_s=count.first_ts - started if count.first_ts is not None else None,
        )


def _matches(packets: int, share: float) -> int:
    """How many of `packets` consecutive bench packets a filter matching `share` of them lets
    through. The senders step the port counter before each frame, so the first frame carries 1
    and the matching value 0 comes every 100th frame (measured: tcpdump's file agrees exactly)."""
    return packets // round(1 / share)


def summarize(rounds: list[dict]) -> dict[str, dict]:
    """A figure's median, min and max over the rounds (None where no round has it); the first
    error any round met."""
    summary: dict[str, dict] = {}
    for name, pick in (("median", statistics.median), ("min", min), ("max", max)):
        summary[name] = {}
        for key in FIGURES:
            numbers = [r[key] for r in rounds if isinstance(r[key], (int, float))]
            summary[name][key] = pick(numbers) if numbers else None
        summary[name]["error"] = next((r["error"] for r in rounds if r["error"]), None)
    return summary


Progress = Callable[[int, int, Scenario, str, dict | None], None]


def run_bench(config: BenchConfig, progress: Progress | None = None) -> dict[str, dict[str, dict]]:
    """{scenario name: {tool name: {"median"|"min"|"max": figures, "rounds": [figures...]}}};
    tool NO_CAPTURE is the baseline."""
    names = [NO_CAPTURE] + [t.name for t in config.tools]
    tools = {t.name: t for t in config.tools}
    per_round: dict[tuple[str, str], list[dict]] = {}
    total, done = len(config.scenarios) * len(names) * config.rounds, 0
    with tempfile.TemporaryDirectory(prefix="ebcap-bench-", dir=config.workdir) as workdir, \
            Testbed("bench") as testbed:
        bench = Bench(testbed, workdir)
        for round_index in range(config.rounds):
            for scenario_index, scenario in enumerate(config.scenarios):
                results = {}
                for name in round_order(names, round_index, scenario_index):
                    if progress:
                        progress(done, total, scenario, name, None)
                    results[name] = bench.measure(scenario, tools.get(name), config.duration)
                    done += 1
                    if progress:
                        progress(done, total, scenario, name, results[name])
                for name in names:
                    compare_with_baseline(results[name], results[NO_CAPTURE])
                    per_round.setdefault((scenario.name, name), []).append(results[name])
    return {s.name: {n: {**summarize(per_round[(s.name, n)]), "rounds": per_round[(s.name, n)]}
                     for n in names}
            for s in config.scenarios}


def compare_with_baseline(result: dict, baseline: dict) -> None:
    """The figures that compare a measurement with no capture in the same scenario and round."""
    for key, ratio in (("packets_per_s", "rate_ratio"), ("bits_per_s", "bit_rate_ratio")):
        if baseline[key] and result[key] is not None:
            result[ratio] = result[key] / baseline[key]
    if result is not baseline and result["cpu_machine_per_mpkt"] is not None \
            and baseline["cpu_machine_per_mpkt"] is not None:
        result["cpu_machine_added_per_mpkt"] = (result["cpu_machine_per_mpkt"]
                                                - baseline["cpu_machine_per_mpkt"])
