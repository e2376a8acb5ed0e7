"""What `-i any` costs per packet, by how it captures: ebcap's packet socket (the default), ebcap's
tcx links (EBCAP_ANY=tc), tcpdump -i any, and no capture. Run as root from the repository:

    .venv/bin/python benchmarks/any_cost.py --rounds 5 [--interfaces 300]

Each round runs every mode once, in turn. One UDP socket in the testbed's left namespace sends
COUNT 64-byte datagrams to the right end of its veth (no listener there), pinned to one CPU,
while the capture runs `-i any -w FILE udp`; reported per datagram:
  sender   the sending process's CPU (rusage of the sender), less no capture's in the same
           round: the egress work a capture adds (TC program, or the packet tap's clone and the
           socket filter). On veth the receiving side's softirq work may be charged to the
           sender or to ksoftirqd by chance: read the spread, not one round.
  capture  the capture process's CPU while the datagrams went by (schedstat), per datagram.
Only what one run measures on one host can be compared; the machine is shared, so medians and
their spread over rounds are printed."""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ebcap.capture.bench.testbed import Testbed, wait_listening

LAUNCH = "import sys; from ebcap.capture.cli.main import main; sys.argv[0] = 'ebcap'; main()"
SENDER = Path(__file__).resolve().parents[1] / "capture" / "bench" / "udpsend.py"
MODES = {"none": None, "ebcap": {}, "ebcap-tc": {"EBCAP_ANY": "tc"}, "tcpdump": "tcpdump"}


def _threads_cpu_ns(pid: int) -> int:
    return sum(int((task / "schedstat").read_text().split()[0])
               for task in Path(f"/proc/{pid}/task").iterdir())


def _start(argv: list[str], env: dict | None) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, env=env)
    wait_listening(proc)
    return proc


def _send(tb: Testbed, count: int) -> tuple[int, int]:
    """(datagrams sent, the sender's CPU ns)."""
    argv = tb.argv(tb.left, [sys.executable, "-I", str(SENDER), tb.left.ipv4, "40000",
                             tb.right.ipv4, "9000", "1", "64", "60", str(count), "1"])
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    out = proc.stdout.read()
    _pid, _status, usage = os.wait4(proc.pid, 0)
    return int(out.split()[0]), int((usage.ru_utime + usage.ru_stime) * 1e9)


def one_mode(tb: Testbed, mode: str, count: int, out: Path) -> dict:
    how = MODES[mode]
    proc = None
    if how == "tcpdump":
        proc = _start(tb.argv(tb.left, ["tcpdump", "-i", "any", "-w", str(out), "udp"]), None)
    elif how is not None:
        proc = _start(tb.argv(tb.left, [sys.executable, "-I", "-c", LAUNCH, "-i", "any", "-w",
                                        str(out), "udp"]), dict(os.environ, **how))
    time.sleep(0.5)
    before = _threads_cpu_ns(proc.pid) if proc else 0
    sent, sender_ns = _send(tb, count)
    time.sleep(0.5)                 # what the capture still drains
    capture_ns = _threads_cpu_ns(proc.pid) - before if proc else 0
    if proc:
        proc.send_signal(signal.SIGINT)
        proc.communicate()
    return {"sent": sent, "sender_ns": sender_ns / sent, "capture_ns": capture_ns / sent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=200_000, help="datagrams per run")
    parser.add_argument("--interfaces", type=int, default=0,
                        help="this many more interfaces in the namespace (veth pairs, idle)")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {mode: [] for mode in MODES}
    with Testbed("ac") as tb, tempfile.TemporaryDirectory() as tmp:
        lines = [line for n in range(args.interfaces // 2) for line in
                 (f"link add ma{n} type veth peer name mb{n}", f"link set ma{n} up",
                  f"link set mb{n} up")]
        if lines:
            subprocess.run(["ip", "-n", tb.left.netns, "-batch", "-"],
                           input="\n".join(lines) + "\n", text=True, check=True)
        for n in range(args.rounds):
            for mode in MODES:
                results[mode].append(one_mode(tb, mode, args.count, Path(tmp) / f"{mode}{n}"))
    base = [r["sender_ns"] for r in results["none"]]
    print(f"-i any, {args.count} UDP datagrams of 64 bytes per run, {args.interfaces} more "
          f"interfaces; medians (min..max) of {args.rounds} rounds, modes alternating:")
    for mode, runs in results.items():
        added = [r["sender_ns"] - b for r, b in zip(runs, base)]
        capture = [r["capture_ns"] for r in runs]
        print(f"  {mode:9} sender {statistics.median(r['sender_ns'] for r in runs):6.0f} ns"
              f" per datagram, capture added {statistics.median(added):+5.0f} "
              f"({min(added):+.0f}..{max(added):+.0f}); capture process "
              f"{statistics.median(capture):4.0f} ns ({min(capture):.0f}..{max(capture):.0f})")


if __name__ == "__main__":
    main()
