"""What `ebcap --drops` costs per dropped packet: the time to send N UDP datagrams to a closed
loopback port (each one dropped as NO_SOCKET by the receiving softirq, on the sending CPU) in a
namespace of its own, without ebcap, with ebcap whose filter rejects them, and with ebcap
writing them to a file; then the same with --owners (the BTF tracepoint program, which looks
the drop's socket's owner up), and with --pid of a process that sends nothing (rejected by the
owner filter, before the frame is read). With --full-receiver, a socket that never reads, with
the smallest receive buffer, listens on the port: the drops are SOCKET_RCVBUFF, each with a
socket (rx_sk) whose owner is looked up. With --connected (only with --full-receiver: a closed
port's ICMP error fails a connected socket's next send), the sender connects once and sends
with send(), so that no cgroup sendmsg hook runs per datagram and the rows differ by the drop
program alone. Needs root:

    sudo .venv/bin/python benchmarks/drops_cost.py [N [ROUNDS]] [--full-receiver [--connected]]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ebcap.capture.bench.testbed import wait_listening

EBCAP = Path(sys.executable).parent / "ebcap"
NETNS = f"ebcap-dropcost-{os.getpid()}"
# CPU time, not wall time: the host is shared, and the receive softirq of loopback traffic
# (where the drop, and so the tracepoint, happens) runs on the sending CPU, charged to it.
SENDER = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = int(sys.argv[1])
if sys.argv[2] == "connected":
    s.connect(("127.0.0.1", 9))
    send = lambda: s.send(b"x" * 64)
else:
    send = lambda: s.sendto(b"x" * 64, ("127.0.0.1", 9))
start = time.process_time()
for _ in range(n):
    send()
print(time.process_time() - start)
"""


def in_ns(*argv: str) -> list[str]:
    return ["ip", "netns", "exec", NETNS, *argv]


def send(n: int) -> float:
    mode = "connected" if "--connected" in sys.argv else "sendto"
    out = subprocess.run(in_ns(sys.executable, "-I", "-c", SENDER, str(n), mode), check=True,
                         capture_output=True, text=True).stdout
    return float(out)


FULL_RECEIVER = r"""
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
s.bind(("127.0.0.1", 9))
print("ready", flush=True)
time.sleep(3600)
"""


def with_ebcap(n: int, expression: str, runs: int, *extra: str) -> tuple[list[float], str]:
    proc = subprocess.Popen(in_ns(str(EBCAP), "--drops", "-w", "/dev/null", *extra, expression),
                            stderr=subprocess.PIPE)
    try:
        err = wait_listening(proc)
    except RuntimeError as exc:
        raise SystemExit(f"ebcap {' '.join(extra)} failed: {exc}") from None
    times = [send(n) for _ in range(runs)]
    proc.send_signal(2)
    _out, rest = proc.communicate(timeout=30)
    return times, (err + rest).decode()


CONFIGS = (("", ()), (" --owners", ("--owners",)), (" --pid (another)", ("--pid", "IDLE")))


def main() -> int:
    """Rounds interleaved (each round runs every configuration once), medians over rounds: the
    host is shared, and its load drifts more between minutes than between runs of a round."""
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 50_000
    rounds = int(args[1]) if len(args) > 1 else 5
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    receiver = idle = None
    try:
        subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
        if "--full-receiver" in sys.argv:
            receiver = subprocess.Popen(in_ns(sys.executable, "-I", "-c", FULL_RECEIVER),
                                        stdout=subprocess.PIPE)
            receiver.stdout.readline()
        send(1000)                                                # warm up
        idle = subprocess.Popen(["sleep", "3600"])                # --pid's: sends nothing
        rows: dict[str, list[float]] = {"no ebcap": []}
        err = ""
        for _round in range(rounds):
            rows["no ebcap"].append(send(n))
            for label, extra in CONFIGS:
                extra = tuple(str(idle.pid) if a == "IDLE" else a for a in extra)
                for what, expression in ((", not matching", "udp port 10"),
                                         (" -w /dev/null", "udp port 9")):
                    times, err = with_ebcap(n, expression, 1, *extra)
                    rows.setdefault(f"--drops{label}{what}", []).extend(times)
        per = lambda t: t / n * 1e9                               # noqa: E731
        kind = "SOCKET_RCVBUFF" if receiver else "NO_SOCKET"
        print(f"{n} {kind} drops per run, median (min..max) of {rounds} interleaved rounds, "
              "sender CPU ns per sent-and-dropped datagram:")
        base = per(statistics.median(rows["no ebcap"]))
        for label, times in rows.items():
            median = per(statistics.median(times))
            extra = f"  (+{median - base:.0f})" if label != "no ebcap" else ""
            print(f"  {label:<36} {median:6.0f} ({per(min(times)):.0f}..{per(max(times)):.0f})"
                  f"{extra}")
        print("  last: " + " / ".join(line for line in err.splitlines()[1:4]))
    finally:
        for proc in (receiver, idle):
            if proc is not None:
                proc.kill()
        subprocess.run(["ip", "netns", "del", NETNS])
    return 0


if __name__ == "__main__":
    sys.exit(main())
