"""`ebcap bench --offline`: reading a capture file, ebcap against tcpdump in the same run.

Two cases on the corpus of corpus.py (about a million packets of everyday traffic):
  print   `-r F -n 'tcp or udp'`, lines to /dev/null
  write   `-r F -w OUT tcp`
Each round runs every (case, tool) pair once, tools in alternating order; each run is one
process, measured by wait4(): wall time, its own CPU time (user + system) and its peak RSS.
Throughput is packets read per wall second; the ratio is ebcap's over tcpdump's, of medians over
rounds. The CPU ratio is given too: on a shared machine other work stretches wall times, not
CPU times.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ebcap.capture.bench.corpus import build_corpus

DEFAULT_PACKETS = 1_000_000
GNU_TIME = "/usr/bin/time"
CASES = {
    "print": lambda tool, corpus, out: [*tool, "-r", corpus, "-n", "tcp or udp"],
    "write": lambda tool, corpus, out: [*tool, "-r", corpus, "-w", out, "tcp"],
}
# The floors issue 15 sets: ebcap's throughput over tcpdump's.
TARGETS = {"print": 0.2, "write": 0.1}


def ebcap_command() -> list[str]:
    script = Path(sys.executable).with_name("ebcap")
    return [str(script)] if script.exists() else ["ebcap"]


def measure(argv: list[str]) -> dict:
    """One run: wall seconds, CPU seconds, peak RSS in MB, exit status. The peak comes from GNU
    time (Debian's `time` package) where it is installed, else it is left out: the kernel
    counts in a child's peak the pages it shared with the bench before exec (~18 MB of Python)."""
    with tempfile.NamedTemporaryFile() as errors, tempfile.NamedTemporaryFile("r") as peak:
        wrapped = argv
        if os.access(GNU_TIME, os.X_OK):
            wrapped = [GNU_TIME, "-q", "-f", "%M", "-o", peak.name, *argv]
        actions = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                   (os.POSIX_SPAWN_DUP2, errors.fileno(), 2)]
        started = time.monotonic()
        pid = os.posix_spawnp(wrapped[0], wrapped, os.environ, file_actions=actions)
        _pid, status, usage = os.wait4(pid, 0)
        wall = time.monotonic() - started
        errors.seek(0)
        stderr = errors.read().decode(errors="replace").strip()
        kib = peak.read().split()
    code = os.waitstatus_to_exitcode(status)
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "rss_mb": int(kib[-1]) / 1024 if kib and kib[-1].isdigit() else None,
            "status": code, "error": stderr.splitlines()[-1] if code and stderr else None}


def run_offline_bench(packets: int = DEFAULT_PACKETS, rounds: int = 3,
                      workdir: str | None = None, progress=None) -> dict:
    if not shutil.which("tcpdump"):
        raise RuntimeError("the offline bench compares with tcpdump: apt-get install tcpdump")
    corpus = str(build_corpus(packets))
    tools = {"tcpdump": ["tcpdump"], "ebcap": ebcap_command()}
    runs: dict[str, dict[str, list[dict]]] = {c: {t: [] for t in tools} for c in CASES}
    with tempfile.TemporaryDirectory(dir=workdir, prefix="ebcap-offline-") as tmp:
        out = str(Path(tmp) / "out")
        for n in range(rounds):
            for case, argv in CASES.items():
                order = list(tools) if n % 2 == 0 else list(reversed(tools))
                for tool in order:
                    result = measure(argv(tools[tool], corpus, out))
                    runs[case][tool].append(result)
                    if progress:
                        progress(f"round {n + 1}/{rounds} {case} {tool}: "
                                 f"{result['wall_s']:.2f} s, CPU {result['cpu_s']:.2f} s")
                    Path(out).unlink(missing_ok=True)
    return {"packets": packets, "corpus": corpus, "rounds": rounds,
            "cases": {case: summarize(packets, by_tool) for case, by_tool in runs.items()}}


def summarize(packets: int, by_tool: dict[str, list[dict]]) -> dict:
    summary = {}
    for tool, results in by_tool.items():
        wall = statistics.median(r["wall_s"] for r in results)
        cpu = statistics.median(r["cpu_s"] for r in results)
        summary[tool] = {
            "kpkt_per_s": packets / wall / 1e3,
            "kpkt_per_s_min": packets / max(r["wall_s"] for r in results) / 1e3,
            "kpkt_per_s_max": packets / min(r["wall_s"] for r in results) / 1e3,
            "cpu_us_per_pkt": cpu / packets * 1e6,
            "rss_mb": max((r["rss_mb"] for r in results if r["rss_mb"] is not None),
                          default=None),
            "error": next((r["error"] for r in results if r["status"]), None),
            "rounds": results,
        }
    base, ours = summary["tcpdump"], summary["ebcap"]
    summary["ratio"] = ours["kpkt_per_s"] / base["kpkt_per_s"]
    summary["cpu_ratio"] = base["cpu_us_per_pkt"] / ours["cpu_us_per_pkt"]
    return summary


def offline_table(results: dict) -> str:
    head = ["case", "tool", "kpkt/s (min..max)", "CPU us/pkt", "peak MB", "ebcap/tcpdump"]
    rows = []
    for case, summary in results["cases"].items():
        for i, tool in enumerate(("tcpdump", "ebcap")):
            s = summary[tool]
            ratio = ""
            if tool == "ebcap":
                ratio = (f"{summary['ratio']:.2f}x (CPU {summary['cpu_ratio']:.2f}x; "
                         f"target {TARGETS[case]}x)")
            rows.append([case if i == 0 else "", tool,
                         f"{s['kpkt_per_s']:.0f} ({s['kpkt_per_s_min']:.0f}.."
                         f"{s['kpkt_per_s_max']:.0f})",
                         f"{s['cpu_us_per_pkt']:.2f}",
                         "-" if s["rss_mb"] is None else f"{s['rss_mb']:.0f}", ratio])
            if s["error"]:
                rows[-1][-1] += f" error: {s['error']}"
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"{results['packets']:,} packets ({results['corpus']}); medians over "
                 f"{results['rounds']} round(s); ratio = throughput over tcpdump's (wall "
                 "clock), CPU = tcpdump's CPU time per packet over ebcap's")
    return "\n".join(lines)
