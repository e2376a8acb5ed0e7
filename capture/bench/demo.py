"""`make demo`: capture `tcp port 443` on a throwaway veth while TCP 443, TCP 80, UDP and ICMP
traffic runs beside it, then show what ebcap kept and how tshark reads the file."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ebcap.capture.bench.testbed import Testbed, wait_listening

EBCAP = str(Path(sys.executable).parent / "ebcap")
OUTPUT = Path("demo.pcapng")
FILTER = "tcp port 443"


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _wait_ready(proc: subprocess.Popen) -> None:
    try:
        sys.stderr.write(wait_listening(proc).decode())
    except RuntimeError as exc:
        raise SystemExit(f"demo: ebcap did not start: {exc}") from None


def main() -> int:
    with Testbed("demo") as tb:
        left, right = tb.left, tb.right
        _step(f"namespaces {left.netns} ({left.ipv4}) <-> {right.netns} ({right.ipv4}) "
              f"over {left.ifname}/{right.ifname}")
        _step(f"ebcap -i {left.ifname} '{FILTER}' -w {OUTPUT}")
        cap = tb.popen(left, [EBCAP, "-i", left.ifname, FILTER, "-w", str(OUTPUT.resolve())],
                       stderr=subprocess.PIPE)
        _wait_ready(cap)
        _step("traffic: TCP 443 (captured) beside TCP 80, UDP and ICMP (not captured)")
        tb.tcp_exchange(right, left, right.ipv4, 80, rounds=2)
        tb.udp_packets(left, right.ipv4, 5353, count=3)
        tb.ping(left, right.ipv4, count=2)
        tb.tcp_exchange(right, left, right.ipv4, 443, rounds=3)
        tb.ping(left, right.ipv6, count=2)
        time.sleep(0.3)
        cap.send_signal(signal.SIGINT)
        _out, err = cap.communicate(timeout=20)
        sys.stderr.write(err.decode())
    _step(f"ebcap -r {OUTPUT} -n   (headers only: payload bytes were never copied)")
    subprocess.run([EBCAP, "-r", str(OUTPUT), "-n"], check=False)
    if shutil.which("tshark"):
        _step(f"tshark -r {OUTPUT}")
        subprocess.run(["tshark", "-r", str(OUTPUT)], check=False, stderr=subprocess.DEVNULL)
        _step("capinfos: interface, filter, resolution, statistics")
        subprocess.run(["capinfos", "-I", "-i", "-z", str(OUTPUT)], check=False)
        subprocess.run(["tshark", "-r", str(OUTPUT), "-q", "-z", "io,stat,0"], check=False,
                       stderr=subprocess.DEVNULL)
    _step("namespaces removed; nothing is left attached (tcx links end with the process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
