"""What `ebcap --drops` costs per dropped packet: the time to send N UDP datagrams to a closed
loopback port (each one dropped as NO_SOCKET by the receiving softirq, on the sending CPU) in a
namespace of its own, without ebcap, with ebcap whose filter rejects them, and with ebcap
writing them to a file. Also the programs' load (verify) time. Needs root:

    sudo .venv/bin/python benchmarks/drops_cost.py [N]
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


def with_ebcap(n: int, expression: str, runs: int) -> tuple[list[float], str]:
    proc = subprocess.Popen(in_ns(str(EBCAP), "--drops", "-w", "/dev/null", expression),
                            stderr=subprocess.PIPE)
    err = b""
    while b"listening on" not in err:
        err += proc.stderr.read1(4096)
    times = [send(n) for _ in range(runs)]
    proc.send_signal(2)
    _out, rest = proc.communicate(timeout=30)
    return times, (err + rest).decode()


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    runs = 5
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    try:
        subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
        send(1000)                                                # warm up
        base = [send(n) for _ in range(runs)]
        rejected, _ = with_ebcap(n, "udp port 10", runs)
        written, err = with_ebcap(n, "udp port 9", runs)
        per = lambda times: statistics.median(times) / n * 1e9   # noqa: E731
        print(f"{n} drops per run, median of {runs} runs, sender CPU ns per sent-and-dropped "
              "datagram:")
        print(f"  no ebcap               {per(base):8.0f}")
        print(f"  --drops, not matching  {per(rejected):8.0f}  (+{per(rejected) - per(base):.0f})")
        print(f"  --drops -w /dev/null   {per(written):8.0f}  (+{per(written) - per(base):.0f})")
        print("  " + " / ".join(line for line in err.splitlines()[1:4]))
    finally:
        subprocess.run(["ip", "netns", "del", NETNS])
    return 0


if __name__ == "__main__":
    sys.exit(main())
