"""What starting and stopping a capture costs: time to `listening on`, the capture process's RSS
while it captures, and the CPU it spends from SIGINT to exit. On an idle veth of a throwaway
testbed; run as root from the repository:

    .venv/bin/python benchmarks/startup.py --runs 5   # cold, warm, used before, new filter
    .venv/bin/python benchmarks/startup.py --interfaces 300 --runs 3  # -i any: socket, tcx, tcpdump
    .venv/bin/python benchmarks/startup.py --interfaces 2,300 --tools ebcap \
        --compare /work/main/.venv/bin/ebcap --load 2   # 4 and 302: before/after, loaded
    /other/checkout/.venv/bin/python benchmarks/startup.py --no-cache   # another checkout
    .venv/bin/python benchmarks/startup.py --launch ebcap.capture.cli.main   # no prefetch
    .venv/bin/python benchmarks/startup.py --runs 9 --compare /work/main/.venv/bin/ebcap --chrt
        # before/after: another checkout's ebcap in the same rounds, alternating with this one
    .venv/bin/python benchmarks/startup.py --script --kinds warm --compare /work/main/.venv/bin/ebcap
        # the console scripts themselves (interpreter flags and site included), as users start them

With --compare, each round runs every kind with this checkout's interpreter, then with the
other's (the interpreter named in its console script's first line), each with its own cache;
which one goes first alternates from round to round. --chrt runs the measured process under
`chrt -f 10` (not preempted by the machine's other work; its threads neither), without it the
scheduling is plain.

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
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from ebcap.capture.bench.testbed import Testbed, wait_listening

LAUNCH = "import sys; from {} import main; sys.argv[0] = 'ebcap'; main()"
CONSOLE_SCRIPT = "ebcap.capture.cli.launch"


def _threads_cpu_ns(pid: int) -> int:
    return sum(int((task / "schedstat").read_text().split()[0])
               for task in Path(f"/proc/{pid}/task").iterdir())


def _start(argv: list[str], env: dict | None) -> tuple[subprocess.Popen, float]:
    """Start ebcap (ip netns exec keeps the pid) and wait for "listening on": (process, s)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, env=env)
    wait_listening(proc)
    return proc, time.monotonic() - start


def one_run(tb: Testbed, env: dict, out: Path, idle: float,
            expression: str = "tcp port 443", launch: str = CONSOLE_SCRIPT,
            python: str = sys.executable, chrt: bool = False, script: str | None = None) -> dict:
    start = [script] if script else [python, "-I", "-c", LAUNCH.format(launch)]
    argv = tb.argv(tb.left, [*start, "-i", tb.left.ifname, "-w", str(out), expression])
    if chrt:
        argv = ["chrt", "-f", "10", *argv]
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


# A sender that tries a datagram every 2 ms to a late interface's neighbour (its veth peer, in
# the same namespace, has no address and drops it), failing quietly until the route is there;
# it stops on SIGTERM.
_LATE_SENDER = ("import socket,time,sys;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                "while True:\n try: s.sendto(b'late',(sys.argv[1],9))\n"
                " except OSError: pass\n time.sleep(0.002)")
TOOLS = {"ebcap": {}, "ebcap-tc": {"EBCAP_ANY": "tc"}, "tcpdump": None}
COMPARE = "compare"             # --compare's checkout, as "ebcap" runs this one
_BUSY = "while True: pass"      # --load: a process that wants a CPU all the time


def add_interfaces(tb: Testbed, count: int) -> None:
    """`count` more interfaces in the left namespace: veth pairs with both ends inside, up."""
    lines = [line for n in range(count // 2) for line in
             (f"link add ma{n} type veth peer name mb{n}", f"link set ma{n} up",
              f"link set mb{n} up")]
    subprocess.run(["ip", "-n", tb.left.netns, "-batch", "-"], input="\n".join(lines) + "\n",
                   text=True, check=True)


def _late_interface(tb: Testbed, n: int) -> tuple[str, float]:
    """A new interface, up with an address and a static neighbour: (its name, when it was up)."""
    name, subnet = f"late{n}", f"198.19.{n % 250}"
    lines = [f"link add {name} type veth peer name {name}p", f"addr add {subnet}.1/24 dev {name}",
             f"link set {name} up", f"link set {name}p up",
             f"neigh replace {subnet}.2 lladdr 02:00:00:00:00:02 dev {name} nud permanent"]
    subprocess.run(["ip", "-n", tb.left.netns, "-batch", "-"], input="\n".join(lines) + "\n",
                   text=True, check=True)
    return name, time.time()


def _first_packet_on(path: Path, name: str) -> float | None:
    """The timestamp (s) of the first packet on interface `name` in ebcap's pcapng file."""
    from ebcap.capture.pcapng.reader import CaptureFileReader
    with open(path, "rb") as f:
        reader = CaptureFileReader(f, str(path))
        packets = list(reader)
        names = [i.name for i in reader.interfaces]
    times = [p.ts_ns / 1e9 for p in packets if names[p.interface] == name]
    return min(times) if times else None


def many_interfaces(tb: Testbed, tool: str, out: Path, serial: int, idle: float = 3.0,
                    python: str = sys.executable) -> dict:
    """`-i any` with the left namespace's interfaces (add_interfaces()): time to "listening on"
    and the CPU the process spent until then, CPU per second while idle, how long after a new
    interface is up its first packet is captured (ebcap only: its file says which interface),
    and time from SIGINT to exit. `python` runs ebcap (another checkout's for --compare)."""
    env = TOOLS[tool]
    command = (["tcpdump", "-i", "any", "-w", str(out)] if env is None else
               [python, "-I", "-c", LAUNCH.format(CONSOLE_SCRIPT), "-i", "any", "-w", str(out)])
    proc, ready = _start(tb.argv(tb.left, command),
                         None if env is None else dict(os.environ, **env))
    ready_cpu_ms = _threads_cpu_ns(proc.pid) / 1e6     # less at the mercy of other load
    time.sleep(1.0)
    before = _threads_cpu_ns(proc.pid)
    time.sleep(idle)
    idle_ms = (_threads_cpu_ns(proc.pid) - before) / 1e6 / idle
    late_ms = None
    if env is not None:
        subnet = f"198.19.{serial % 250}"
        sender = subprocess.Popen(tb.argv(tb.left, [sys.executable, "-I", "-c", _LATE_SENDER,
                                                    f"{subnet}.2"]))
        name, up = _late_interface(tb, serial)
        time.sleep(1.5)
        sender.terminate()
        sender.wait()
    stop = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate()
    stop_s = time.monotonic() - stop
    if env is not None:
        first = _first_packet_on(out, name)
        late_ms = None if first is None else (first - up) * 1e3
    return {"ready_s": ready, "ready_cpu_ms": ready_cpu_ms, "idle_cpu_ms_per_s": idle_ms,
            "stop_s": stop_s, "late_ms": late_ms}


def _interfaces_report(count: int, results: dict[str, list[dict]]) -> None:
    def spread(values: list[float], unit: str, digits: int) -> str:
        if not values:
            return "-"
        median = statistics.median(values)
        return (f"{median:.{digits}f} {unit} ({min(values):.{digits}f}..{max(values):.{digits}f})"
                if len(values) > 1 else f"{median:.{digits}f} {unit}")
    rounds = max(len(runs) for runs in results.values())
    print(f"-i any over {count} interfaces, medians (min..max) of {rounds} rounds, tools "
          "alternating within each round:")
    for tool, runs in results.items():
        late = [r["late_ms"] for r in runs if r["late_ms"] is not None]
        print(f"  {tool:9} ready {spread([r['ready_s'] for r in runs], 's', 2)} (its CPU "
              f"{spread([r['ready_cpu_ms'] for r in runs], 'ms', 0)}), idle "
              f"{spread([r['idle_cpu_ms_per_s'] for r in runs], 'ms CPU per s', 2)}, stop "
              f"{spread([r['stop_s'] for r in runs], 's', 2)}, new interface's first packet "
              f"captured {spread(late, 'ms after it was up', 0)}"
              + (f" (none captured in {len(runs) - len(late)} rounds)"
                 if len(late) < len(runs) and tool != "tcpdump" else ""))


def _paired_report(results: dict[str, list[dict]]) -> None:
    """Each tool against the first one in the same round (the rounds' load moves both alike)."""
    first, *others = results
    for tool in others:
        pairs = list(zip(results[first], results[tool]))
        cpu = [b["ready_cpu_ms"] - a["ready_cpu_ms"] for a, b in pairs]
        ready = [(b["ready_s"] - a["ready_s"]) * 1e3 for a, b in pairs]
        print(f"  {tool} - {first}, round by round: its CPU to listening "
              f"{statistics.median(cpu):+.0f} ms ({min(cpu):+.0f}..{max(cpu):+.0f}), ready "
              f"{statistics.median(ready):+.0f} ms ({min(ready):+.0f}..{max(ready):+.0f})")


def _interfaces_main(args) -> None:
    """--interfaces N[,M...]: a testbed for each count, and in each round every count with
    every tool, the order rotating from round to round."""
    counts = [int(n) for n in args.interfaces.split(",")]
    tools = args.tools.split(",") + ([COMPARE] if args.compare else [])
    pythons = {COMPARE: str(Path(args.compare).parent / "python")} if args.compare else {}
    TOOLS[COMPARE] = {}
    results = {count: {tool: [] for tool in tools} for count in counts}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        beds = {}
        for count in counts:
            tb = beds[count] = stack.enter_context(Testbed("su"))
            add_interfaces(tb, count)
        seen = {count: len(subprocess.run(tb.argv(tb.left, ["ip", "-o", "link"]), text=True,
                                          capture_output=True, check=True).stdout.splitlines())
                for count, tb in beds.items()}
        busy = [subprocess.Popen([sys.executable, "-c", _BUSY]) for _ in range(args.load)]
        try:
            runs = [(count, tool) for count in counts for tool in tools]
            for count, tool in runs:    # not counted: bytecode caches, the program cache
                many_interfaces(beds[count], tool, tmp / f"warm-{count}-{tool}",
                                200 + tools.index(tool), idle=0.1,
                                python=pythons.get(tool, sys.executable))
            for n in range(args.runs):
                for count, tool in runs[n % len(runs):] + runs[:n % len(runs)]:
                    results[count][tool].append(many_interfaces(
                        beds[count], tool, tmp / f"any-{count}-{tool}-{n}",
                        len(tools) * n + tools.index(tool),
                        python=pythons.get(tool, sys.executable)))
            load = os.getloadavg()[0]
        finally:
            for proc in busy:
                proc.kill()
                proc.wait()
    for count in counts:
        _interfaces_report(seen[count], results[count])
        _paired_report(results[count])
    if args.load:
        print(f"with {args.load} busy-loop processes; load average {load:.1f} at the end")


# cold: nothing cached (first run after install); warm: the same command line again (its kernel
# work prefetched, capture/kernel/prefetch.py); used before: the same filter in another command
# line (another file: no prefetch, the compiled program cached); new filter: one never used
# before, the compiled program cached. (expression, output file) for each.
KINDS = {"cold": ("tcp port 443", "x-{label}.pcapng"), "warm": ("tcp port 443", "x-{label}.pcapng"),
         "used before": ("tcp port 443", "other{n}-{label}.pcapng"),
         "new filter": ("udp port {port} or icmp", "x-{label}.pcapng")}


def _interpreter(console_script: str) -> str:
    """The Python a console script runs with: its first line's interpreter."""
    first = Path(console_script).read_text().splitlines()[0]
    if not first.startswith("#!"):
        raise SystemExit(f"{console_script}: not a console script")
    return first[2:].split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=1.0, help="seconds captured before SIGINT")
    parser.add_argument("--no-cache", action="store_true", help="EBCAP_NO_CACHE=1 on every run")
    parser.add_argument("--launch", default=CONSOLE_SCRIPT, metavar="MODULE",
                        help="the module whose main() starts ebcap (the console script's)")
    parser.add_argument("--compare", metavar="EBCAP",
                        help="another checkout's console script (its venv's bin/ebcap): "
                             "before/after in the same rounds (with --interfaces: as "
                             "'compare')")
    parser.add_argument("--chrt", action="store_true",
                        help="run the measured process under chrt -f 10")
    parser.add_argument("--script", action="store_true",
                        help="run each checkout's console script (its venv's bin/ebcap, as a "
                             "user does: its interpreter flags, its site) instead of "
                             "python -I -c with --launch's main()")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help=f"which of {', '.join(KINDS)} (default all; cold always runs, "
                             "it fills the cache)")
    parser.add_argument("--interfaces", metavar="N[,M...]",
                        help="instead: -i any over N more interfaces (start, idle CPU, a late "
                             "interface, stop), --runs rounds; with several counts, a testbed "
                             "each, alternating")
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help=f"with --interfaces: which of {', '.join(TOOLS)} (default all)")
    parser.add_argument("--load", type=int, default=0, metavar="N",
                        help="with --interfaces: N busy-loop processes run throughout (a "
                             "loaded machine; ready CPU should not move, ready time will)")
    args = parser.parse_args()
    if args.interfaces:
        _interfaces_main(args)
        return
    pythons = {"this": sys.executable}
    scripts = {"this": str(Path(sys.executable).parent / "ebcap"), "other": args.compare}
    if args.compare:
        pythons["other"] = _interpreter(args.compare)
    kinds = ["cold", *(k for k in args.kinds.split(",") if k != "cold")]
    results: dict[str, list[dict]] = {}
    # PYTHONDONTWRITEBYTECODE would leave every start compiling the modules it imports
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with Testbed("su") as tb, tempfile.TemporaryDirectory() as tmp:
        for n in range(args.runs):
            order = list(pythons.items())
            for label, python in order[n % len(order):] + order[:n % len(order)]:
                cache = Path(tmp) / f"cache{n}-{label}"
                env = dict(environ, EBCAP_CACHE_DIR=str(cache))
                if args.no_cache:
                    env["EBCAP_NO_CACHE"] = "1"
                for kind in kinds:
                    expression, out = KINDS[kind]
                    name = kind if label == "this" else f"{kind} (other)"
                    results.setdefault(name, []).append(one_run(
                        tb, env, Path(tmp) / out.format(n=n, label=label), args.idle,
                        expression.format(port=1000 + n), args.launch, python, args.chrt,
                        scripts[label] if args.script else None))
    print(f"{'chrt -f 10' if args.chrt else 'plain scheduling'}"
          f"{', console scripts' if args.script else ''}, load average "
          f"{os.getloadavg()[0]:.1f}" + (f"; other = {args.compare}" if args.compare else ""))
    for kind, runs in results.items():
        medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{kind}: ready {medians['ready_s']:.3f} s "
              f"({min(r['ready_s'] for r in runs):.3f}..{max(r['ready_s'] for r in runs):.3f})  "
              f"CPU to SIGINT {medians['start_cpu_ms']:.0f} ms  RSS {medians['rss_mib']:.1f} MiB  "
              f"threads {medians['threads']:.0f}  exit CPU {medians['exit_cpu_ms']:.1f} ms "
              f"(wait4: {medians['wait4_exit_cpu_ms']:.1f} ms)  medians of {len(runs)}; "
              f"exit CPU runs: {', '.join(format(r['exit_cpu_ms'], '.1f') for r in runs)}")
    for kind in kinds if args.compare else ():
        # the same round's two runs met the same load: their difference is the steadier figure
        pairs = list(zip(results[kind], results[f"{kind} (other)"]))
        for key, unit, scale in (("ready_s", "ms", 1e3), ("start_cpu_ms", "ms CPU", 1)):
            diffs = sorted((this[key] - other[key]) * scale for this, other in pairs)
            print(f"{kind}: this - other, round by round: {key} median "
                  f"{statistics.median(diffs):+.1f} {unit} ({diffs[0]:+.1f}..{diffs[-1]:+.1f}), "
                  f"this lower in {sum(d < 0 for d in diffs)} of {len(diffs)}")


if __name__ == "__main__":
    main()
