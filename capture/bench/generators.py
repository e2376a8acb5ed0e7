"""Measure the traffic generators Debian offers, to justify the bench's choice of trafgen.

    python -m ebcap.capture.bench.generators [--seconds 3]

Each candidate sends 64-byte UDP frames (22 bytes of payload) from the left to the right end of a
fresh testbed for a few seconds, bounded in time and count; the rate is the receiver's rx_packets
over the wall time. All of them send to the receiver's own address (no listener, so the kernel
answers with rate-limited ICMP), except the last trafgen row, which sends to a blackhole route as
the bench does.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from ebcap.capture.bench.traffic import (BLACKHOLE_DST, MAIN_SPORT, Flow, LinkCounters, add_blackhole,
                                   trafgen_argv, trafgen_config)
from ebcap.capture.bench.testbed import Testbed

PAYLOAD = 22
MAX_PACKETS = 20_000_000


def _candidates(tb: Testbed, conf: str, conf_bh: str, seconds: float):
    """(name, binary, sender argv, receiver argv or None)."""
    dst = tb.right.ipv4
    yield ("trafgen, 1 process", "trafgen", trafgen_argv(tb.left.ifname, conf, MAX_PACKETS), None)
    two = trafgen_argv(tb.left.ifname, conf, MAX_PACKETS)
    two[two.index("-P") + 1] = "2"
    yield ("trafgen, 2 processes", "trafgen", two, None)
    yield ("mausezahn", "mausezahn",
           ["mausezahn", tb.left.ifname, "-q", "-c", str(MAX_PACKETS), "-d", "0",
            "-b", tb.mac(tb.right), "-A", tb.left.ipv4, "-B", dst,
            "-t", "udp", f"sp={MAIN_SPORT},dp=9984", "-P", "x" * PAYLOAD], None)
    yield ("iperf3 -u -b 0", "iperf3",
           ["iperf3", "-c", dst, "-u", "-b", "0", "-l", str(PAYLOAD), "-t", str(int(seconds))],
           ["iperf3", "-s", "-1", "-B", dst])
    yield ("hping3 --flood", "hping3",
           ["hping3", "--udp", "-q", "-p", "9984", "-s", str(MAIN_SPORT), "-d", str(PAYLOAD),
            "--flood", dst], None)
    yield ("nping --rate 1e6", "nping",
           ["nping", "--udp", "-p", "9984", "-g", str(MAIN_SPORT), "--data-length", str(PAYLOAD),
            "--rate", "1000000", "-c", str(MAX_PACKETS), "-N", "-H", "-q", dst], None)
    yield ("sockperf throughput", "sockperf",
           ["sockperf", "throughput", "-i", dst, "-p", "11111", "-m", str(PAYLOAD),
            "-t", str(int(seconds))],
           ["sockperf", "server", "-i", dst, "-p", "11111"])
    yield ("trafgen, 1 process, to a blackhole route", "trafgen",
           trafgen_argv(tb.left.ifname, conf_bh, MAX_PACKETS), None)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(seconds: float) -> list[tuple[str, float | None]]:
    rates = []
    with Testbed("gen") as tb, tempfile.TemporaryDirectory(prefix="ebcap-gen-") as tmp:
        add_blackhole(tb)
        flow = Flow.across(tb, 14 + 20 + 8 + PAYLOAD)
        conf, conf_bh = f"{tmp}/udp.trafgen", f"{tmp}/blackhole.trafgen"
        with open(conf, "w") as f:
            f.write(trafgen_config(flow, MAIN_SPORT, spread=True))
        bh = dataclasses.replace(flow, dst=dataclasses.replace(flow.dst, ipv4=BLACKHOLE_DST))
        with open(conf_bh, "w") as f:
            f.write(trafgen_config(bh, MAIN_SPORT, spread=True))
        for name, binary, sender, receiver in _candidates(tb, conf, conf_bh, seconds):
            if not shutil.which(binary):
                rates.append((name, None))
                continue
            server = None
            if receiver:
                server = tb.popen(tb.right, receiver, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
                time.sleep(0.5)
            before, start = LinkCounters.read(tb.right), time.monotonic()
            proc = tb.popen(tb.left, sender, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                proc.wait(seconds + 0.5)  # iperf3 and sockperf stop by themselves after -t
            except subprocess.TimeoutExpired:
                pass
            _stop(proc)
            elapsed = time.monotonic() - start
            got = (LinkCounters.read(tb.right) - before).rx_packets
            if server:
                _stop(server)
            rates.append((name, got / elapsed))
            print(f"{name:42s} {got / elapsed:12,.0f} packets/s", file=sys.stderr)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    for name, rate in measure(args.seconds):
        print(f"{name:42s} {'not installed' if rate is None else f'{rate:12,.0f} packets/s'}")


if __name__ == "__main__":
    main()
