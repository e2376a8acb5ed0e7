"""What starting and stopping a capture costs: time to `listening on`, the capture process's RSS
while it captures, and the CPU it spends from SIGINT to exit. On an idle veth of a throwaway
testbed; run as root from the repository:

    .venv/bin/python benchmarks/startup.py --runs 5   # cold, warm, used before, new filter
    /other/checkout/.venv/bin/python benchmarks/startup.py --no-cache   # another checkout
    .venv/bin/python benchmarks/startup.py --launch ebcap.capture.cli.main   # no prefetch

Exit CPU is measured two ways: os.wait4's rusage minus /proc/PID/task/*/schedstat summed just
before SIGINT ("wait4"), and the zombie's own /proc/PID/schedstat (read after waitid(WNOWAIT),
before reaping) minus the same sum ("zombie"). wait4's rusage also holds the CPU of children the
process reaped, such as the compiler child of a cold start, so only "zombie" is right there; for a
single-threaded process without children the two agree. Only ratios measured in one run on one
host mean anything.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ebcap.capture.bench.testbed import Testbed

LAUNCH = "import sys; from {} import main; sys.argv[0] = 'ebcap'; main()"
CONSOLE_SCRIPT = "ebcap.capture.cli.launch"


def _threads_cpu_ns(pid: int) -> int:
    return sum(int((task / "schedstat").read_text().split()[0])
               for task in Path(f"/proc/{pid}/task").iterdir())


def _start(argv: list[str], env: dict | None) -> tuple[subprocess.Popen, float]:
    """Start ebcap (ip netns exec keeps the pid) and wait for "listening on": (process, s)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, env=env)
    err = b""
    while b"listening on" not in err:
        if proc.poll() is not None:
            raise RuntimeError(f"ebcap exited: {err + proc.stderr.read()!r}")
        if select.select([proc.stderr], [], [], 0.05)[0]:
            err += os.read(proc.stderr.fileno(), 4096)
    return proc, time.monotonic() - start


def one_run(tb: Testbed, env: dict, out: Path, idle: float,
            expression: str = "tcp port 443", launch: str = CONSOLE_SCRIPT) -> dict:
    argv = tb.argv(tb.left, [sys.executable, "-I", "-c", LAUNCH.format(launch),
                             "-i", tb.left.ifname, "-w", str(out), expression])
    proc, ready = _start(argv, env)
    time.sleep(idle)
    status = Path(f"/proc/{proc.pid}/status").read_text()
    rss_kib = int(status.split("VmRSS:")[1].split()[0])
    threads = int(status.split("Threads:")[1].split()[0])
    before = _threads_cpu_ns(proc.pid)
    os.kill(proc.pid, signal.SIGINT)
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    zombie = int(Path(f"/proc/{proc.pid}/schedstat").read_text().split()[0])
    _pid, code, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(code)
    proc.stderr.close()
    after = int((usage.ru_utime + usage.ru_stime) * 1e9)
    # CPU to SIGINT, threads that ended included (wait4 has them; schedstat only the living):
    # start-up and the idle wait; noisy neighbours move it less than they move ready_s
    return {"ready_s": ready, "start_cpu_ms": (after - (zombie - before)) / 1e6,
            "rss_mib": rss_kib / 1024, "threads": threads,
            "exit_cpu_ms": (zombie - before) / 1e6, "wait4_exit_cpu_ms": (after - before) / 1e6}


def many_interfaces(tb: Testbed, count: int, out: Path, idle: float = 3.0) -> dict:
    """`-i any` in a namespace holding `count` more interfaces (veth pairs, both ends inside):
    time to "listening on", and CPU per second while idle."""
    for n in range(count // 2):
        subprocess.run(["ip", "-n", tb.left.netns, "link", "add", f"ma{n}", "up", "type", "veth",
                        "peer", "name", f"mb{n}"], check=True)
        subprocess.run(["ip", "-n", tb.left.netns, "link", "set", f"mb{n}", "up"], check=True)
    argv = tb.argv(tb.left, [sys.executable, "-I", "-c", LAUNCH.format(CONSOLE_SCRIPT), "-i",
                             "any", "-w", str(out)])
    proc, ready = _start(argv, None)
    time.sleep(1.0)
    before = _threads_cpu_ns(proc.pid)
    time.sleep(idle)
    idle_ms = (_threads_cpu_ns(proc.pid) - before) / 1e6 / idle
    stop = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate()
    return {"interfaces": count + 2, "ready_s": ready, "idle_cpu_ms_per_s": idle_ms,
            "stop_s": time.monotonic() - stop}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=1.0, help="seconds captured before SIGINT")
    parser.add_argument("--no-cache", action="store_true", help="EBCAP_NO_CACHE=1 on every run")
    parser.add_argument("--launch", default=CONSOLE_SCRIPT, metavar="MODULE",
                        help="the module whose main() starts ebcap (the console script's)")
    parser.add_argument("--interfaces", type=int, metavar="N",
                        help="instead: -i any over N more interfaces (start, idle CPU, stop)")
    args = parser.parse_args()
    if args.interfaces:
        with Testbed("su") as tb, tempfile.TemporaryDirectory() as tmp:
            result = many_interfaces(tb, args.interfaces, Path(tmp) / "any.pcapng")
        print(f"-i any over {result['interfaces']} interfaces: ready {result['ready_s']:.2f} s, "
              f"idle {result['idle_cpu_ms_per_s']:.2f} ms CPU per s, stop {result['stop_s']:.2f} s")
        return
    results: dict[str, list[dict]] = {}
    with Testbed("su") as tb, tempfile.TemporaryDirectory() as tmp:
        for n in range(args.runs):
            cache = Path(tmp) / f"cache{n}"
            env = dict(os.environ, EBCAP_CACHE_DIR=str(cache))
            if args.no_cache:
                env["EBCAP_NO_CACHE"] = "1"
            # cold: nothing cached (first run after install); warm: the same command line
            # again (its kernel work prefetched, capture/kernel/prefetch.py); used before: the
            # same filter in another command line (another file: no prefetch, the compiled
            # program cached); new filter: one never used before, the compiled program cached
            for kind, expression, out in (
                    ("cold", "tcp port 443", "x.pcapng"), ("warm", "tcp port 443", "x.pcapng"),
                    ("used before", "tcp port 443", f"other{n}.pcapng"),
                    ("new filter", f"udp port {1000 + n} or icmp", "x.pcapng")):
                results.setdefault(kind, []).append(one_run(tb, env, Path(tmp) / out, args.idle,
                                                            expression, args.launch))
    for kind, runs in results.items():
        medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{kind}: ready {medians['ready_s']:.3f} s "
              f"({min(r['ready_s'] for r in runs):.3f}..{max(r['ready_s'] for r in runs):.3f})  "
              f"CPU to SIGINT {medians['start_cpu_ms']:.0f} ms  RSS {medians['rss_mib']:.1f} MiB  "
              f"threads {medians['threads']:.0f}  exit CPU {medians['exit_cpu_ms']:.1f} ms "
              f"(wait4: {medians['wait4_exit_cpu_ms']:.1f} ms)  medians of {len(runs)}; "
              f"exit CPU runs: {', '.join(format(r['exit_cpu_ms'], '.1f') for r in runs)}")


if __name__ == "__main__":
    main()
