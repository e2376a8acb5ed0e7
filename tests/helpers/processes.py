"""Capture processes (ebcap, tcpdump) in a testbed's namespaces, tshark, and reading their files."""

from __future__ import annotations

import select
import signal
import subprocess
import time
from pathlib import Path

from ebcap.capture.bench.testbed import Testbed
from tests.helpers.paths import EBCAP


class Capturer:
    """A capture process (ebcap or tcpdump) in a namespace, started and waited for until ready."""

    def __init__(self, tb: Testbed, host, argv: list[str], ready: str = "listening on",
                 timeout: float = 30.0, **popen):
        self.argv = argv
        self.proc = tb.popen(host, argv, stderr=subprocess.PIPE, **popen)
        self.stderr = b""
        deadline = time.monotonic() + timeout
        while ready.encode() not in self.stderr:
            if self.proc.poll() is not None:
                self.stderr += self.proc.stderr.read()
                raise AssertionError(f"{argv[0]} exited {self.proc.returncode}: "
                                     f"{self.stderr.decode(errors='replace')}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{argv} not ready: {self.stderr!r}")
            rlist, _, _ = select.select([self.proc.stderr], [], [], 0.2)
            if rlist:
                self.stderr += self.proc.stderr.read1(4096)

    def stop(self, sig=signal.SIGINT, timeout: float = 20.0) -> tuple[int, str]:
        self.proc.send_signal(sig)
        try:
            _out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self.stderr += err or b""
        return self.proc.returncode, self.stderr.decode(errors="replace")


def ebcap(tb, host, *args, **kw) -> Capturer:
    return Capturer(tb, host, [str(EBCAP), *args], **kw)


def tcpdump(tb, host, *args, **kw) -> Capturer:
    return Capturer(tb, host, ["tcpdump", "--immediate-mode", *args], **kw)


def read_packets(path: Path):
    """(ts_ns, caplen, wirelen, data, direction) for each packet, via ebcap's own reader."""
    from ebcap.capture.pcapng.reader import CaptureFileReader
    with open(path, "rb") as f:
        reader = CaptureFileReader(f, str(path))
        return [(p.ts_ns, len(p.data), p.wirelen, p.data, p.direction) for p in reader]


def in_time_order(packets: list) -> list:
    """read_packets' tuples by timestamp (a stable sort). ebcap's blocks are in time order per
    CPU and, across CPUs, within the kernel's staging bound (2 ms, bpf/ebcap.c's
    EBCAP_STAGE_NS): a comparison with another tool's packets orders both by time first."""
    return sorted(packets, key=lambda packet: packet[0])


def tshark(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=60)
    proc.warnings = [line for line in proc.stderr.splitlines()
                     if line.strip() and "Running as user" not in line]
    return proc
