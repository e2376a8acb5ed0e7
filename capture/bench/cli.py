"""`ebcap bench`: click only; the work is in runner.py, the output in report.py."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time

import click

from ebcap.capture.bench.scenarios import (DEFAULT_TOOLS, QUICK_SCENARIOS, all_scenarios,
                                           parse_scenario, parse_tool, quick_scenarios)
from ebcap.capture.errors import EbcapError

QUICK_DURATION, QUICK_ROUNDS = 0.8, 1      # 8 scenarios, 32 measurements: under two minutes
FULL_DURATION, FULL_ROUNDS = 5.0, 3


class _Progress:
    """One line on stderr, rewritten in place on a terminal, one line per measurement otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()

    def __call__(self, done: int, total: int, scenario, tool: str, result: dict | None) -> None:
        elapsed = time.monotonic() - self.started
        eta = f", ~{elapsed / done * (total - done):.0f} s left" if done else ""
        if result is None:
            if self.tty:
                self._write(f"[{done + 1}/{total}] {scenario.name}: {tool}...{eta}")
            return
        if result["error"]:
            summary = "failed"
        else:
            # The ratio to no capture comes once the scenario's round is complete.
            summary = (f"{result['packets_per_s'] / 1e3:.0f} kpkt/s, "
                       f"{result['bits_per_s'] / 1e6:.0f} Mbit/s")
        line = f"[{done}/{total}] {scenario.name}: {tool}: {summary}"
        if self.tty:
            self._write(line)
        else:
            print(line, file=self.stream, flush=True)

    def _write(self, text: str) -> None:
        self.stream.write("\r\033[K" + text[:200])
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _offline(json_path, rounds, workdir, packets) -> int:
    import json

    from ebcap.capture.bench.offline import DEFAULT_PACKETS, offline_table, run_offline_bench

    if os.geteuid() != 0:
        raise EbcapError("bench --offline needs root (ebcap -r runs its filter in the kernel, "
                         "and the corpus is captured in network namespaces)")
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        results = run_offline_bench(packets or DEFAULT_PACKETS, rounds or FULL_ROUNDS, workdir,
                                    lambda text: click.echo(text, err=True))
    except RuntimeError as exc:
        raise EbcapError(f"bench --offline: {exc}") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo(offline_table(results))
    if json_path:
        with open(json_path, "w") as stream:
            json.dump(results, stream, indent=1)
    return 0


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt  # so every `with` and `finally` removes its namespaces and files


@click.command(help="Measure capture overhead: no capture, tcpdump -w and ebcap -w on a throwaway "
               "veth testbed, with trafgen, socket and TCP traffic, all in one run.")
@click.option("--quick", is_flag=True,
              help=f"{QUICK_DURATION:g} s per measurement, {QUICK_ROUNDS} round, "
                   f"{len(QUICK_SCENARIOS)} scenarios (under two minutes).")
@click.option("--json", "json_path", metavar="FILE", help="Also write the results as JSON.")
@click.option("--plot", "plot_path", metavar="FILE.png", help="Also draw a chart (matplotlib).")
@click.option("--duration", type=click.FloatRange(min=0.1, max=600), metavar="SECONDS",
              help=f"Traffic time per measurement [{FULL_DURATION:g}; --quick {QUICK_DURATION:g}].")
@click.option("--rounds", type=click.IntRange(1, 20),
              help=f"Repeat everything, each round in a rotated order; figures are medians with "
                   f"min..max [{FULL_ROUNDS}; --quick {QUICK_ROUNDS}].")
@click.option("--scenario", "scenario_names", multiple=True, metavar="NAME",
              help="Only this scenario, e.g. 'ingress 1% 1400B', 'egress all 64B socket', "
                   "'ingress all tcp' (repeatable) [all "
                   f"{len(all_scenarios())}; --quick {len(QUICK_SCENARIOS)}].")
@click.option("--tool", "tool_specs", multiple=True, metavar="NAME[=COMMAND]",
              help="A capture tool to compare (repeatable): a default name or NAME=COMMAND with "
                   "{iface} {file} {filter} {bindir} [" + ", ".join(t.name for t in DEFAULT_TOOLS)
                   + "].")
@click.option("--dir", "workdir", type=click.Path(file_okay=False, exists=True),
              help="Where the capture files are written (one at a time) [$TMPDIR].")
@click.option("--offline", is_flag=True,
              help="Instead: reading a file (-r), ebcap against tcpdump, printing and -w, on a "
                   "corpus of everyday traffic captured on a testbed and repeated "
                   "(cached in $TMPDIR).")
@click.option("--packets", type=click.IntRange(1000, 50_000_000), metavar="N",
              help="--offline: packets in the corpus [1,000,000].")
def bench(quick, json_path, plot_path, duration, rounds, scenario_names, tool_specs, workdir,
          offline, packets):
    if offline:
        return _offline(json_path, rounds, workdir, packets)
    if packets:
        raise click.BadParameter("--packets goes with --offline")
    from ebcap.capture.bench.report import document, plot, table, write_json
    from ebcap.capture.bench.runner import BenchConfig, run_bench
    from ebcap.capture.bench.traffic import missing_program, sender_commands

    if os.geteuid() != 0:
        raise EbcapError("bench needs root (it creates network namespaces)")
    if not shutil.which("trafgen"):
        raise EbcapError("bench needs trafgen: apt-get install netsniff-ng")
    try:
        scenarios = ([parse_scenario(n) for n in scenario_names]
                     or (quick_scenarios() if quick else all_scenarios()))
        tools = [parse_tool(t) for t in tool_specs] or list(DEFAULT_TOOLS)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    # A scenario whose traffic needs a program this machine lacks is left out, and said so.
    skipped = {s.name: why for s in scenarios if (why := missing_program(s.traffic))}
    for name, why in skipped.items():
        click.echo(f"bench: skipping {name!r}: {why}", err=True)
    scenarios = [s for s in scenarios if s.name not in skipped]
    if not scenarios:
        raise EbcapError("bench: no scenario left to run")
    config = BenchConfig(
        scenarios=scenarios, tools=tools,
        duration=duration or (QUICK_DURATION if quick else FULL_DURATION),
        rounds=rounds or (QUICK_ROUNDS if quick else FULL_ROUNDS),
        workdir=workdir)

    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    progress = _Progress()
    try:
        results = run_bench(config, progress)
    finally:
        progress.close()
        signal.signal(signal.SIGTERM, previous)

    click.echo(table(results, skipped))
    if json_path:
        write_json(json_path, document(config, results, sender_commands(), skipped))
    if plot_path:
        plot(plot_path, results)
    return 0
