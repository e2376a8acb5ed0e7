"""What `ebcap --drops` costs per dropped packet: the time to send N UDP datagrams to a closed
loopback port (each one dropped as NO_SOCKET by the receiving softirq, on the sending CPU) in a
namespace of its own, without ebcap, with ebcap whose filter rejects them, and with ebcap
writing them to a file; then the same with --owners (the BTF tracepoint program, which looks
the drop's socket's owner up), and with --pid of a process that sends nothing (rejected by the
owner filter, before the frame is read). With --full-receiver, a socket that never reads, with
the smallest receive buffer, listens on the port: the drops are SOCKET_RCVBUFF, each with a
socket (rx_sk) whose owner is looked up. Needs root:

    sudo .venv/bin/python benchmarks/drops_cost.py [N] [--full-receiver]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

EBCAP = Path(sys.executable).parent / "ebcap"
NETNS = f"ebcap-dropcost-{os.getpid()}"
# CPU time, not wall time: the host is shared, and the receive softirq of loopback traffic
# (where the drop, and so the tracepoint, happens) runs on the sending CPU, charged to it.
SENDER = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = int(sys.argv[1])
start = time.process_time()
for _ in range(n):
    s.sendto(b"x" * 64, ("127.0.0.1", 9))
print(time.process_time() - start)
"""


def in_ns(*argv: str) -> list[str]:
    return ["ip", "netns", "exec", NETNS, *argv]


def send(n: int) -> float:
    out = subprocess.run(in_ns(sys.executable, "-I", "-c", SENDER, str(n)), check=True,
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
    err = b""
    while b"listening on" not in err:
        more = proc.stderr.read1(4096)
        if not more:
            raise SystemExit(f"ebcap {' '.join(extra)} failed: {err.decode().strip()}")
        err += more
    times = [send(n) for _ in range(runs)]
    proc.send_signal(2)
    _out, rest = proc.communicate(timeout=30)
    return times, (err + rest).decode()


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 50_000
    runs = 5
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    receiver = None
    try:
        subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
        if "--full-receiver" in sys.argv:
            receiver = subprocess.Popen(in_ns(sys.executable, "-I", "-c", FULL_RECEIVER),
                                        stdout=subprocess.PIPE)
            receiver.stdout.readline()
        send(1000)                                                # warm up
        idle = subprocess.Popen(["sleep", "3600"])                # --pid's: sends nothing
        rows = [("no ebcap", [send(n) for _ in range(runs)], "")]
        for label, extra in (("", ()), (" --owners", ("--owners",)),
                             (" --pid (another)", ("--pid", str(idle.pid)))):
            rows.append((f"--drops{label}, not matching",
                         *with_ebcap(n, "udp port 10", runs, *extra)))
            rows.append((f"--drops{label} -w /dev/null",
                         *with_ebcap(n, "udp port 9", runs, *extra)))
        idle.kill()
        per = lambda times: statistics.median(times) / n * 1e9   # noqa: E731
        what = "SOCKET_RCVBUFF" if receiver else "NO_SOCKET"
        print(f"{n} {what} drops per run, median of {runs} runs, sender CPU ns per "
              "sent-and-dropped datagram:")
        base = per(rows[0][1])
        for label, times, err in rows:
            extra = f"  (+{per(times) - base:.0f})" if err else ""
            print(f"  {label:<36} {per(times):8.0f}{extra}")
        print("  " + " / ".join(line for line in rows[2][2].splitlines()[1:4]))
    finally:
        if receiver is not None:
            receiver.kill()
        subprocess.run(["ip", "netns", "del", NETNS])
    return 0


if __name__ == "__main__":
    sys.exit(main())
