"""Real captures in network namespaces made (and removed) by each test."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capture.testbed import Testbed

EBCAP = Path(sys.executable).parent / "ebcap"
pytestmark = pytest.mark.kernel


@pytest.fixture
def testbed():
    with Testbed("it") as tb:
        yield tb


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
    from capture.pcapread import CaptureFileReader
    with open(path, "rb") as f:
        reader = CaptureFileReader(f, str(path))
        return [(p.ts_ns, len(p.data), p.wirelen, p.data, p.direction) for p in reader]


def tshark(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=60)
    proc.warnings = [line for line in proc.stderr.splitlines()
                     if line.strip() and "Running as user" not in line]
    return proc


BPF_LINK_TYPE_TCX = 11


def ebcap_programs() -> list[dict]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout
    return [p for p in json.loads(out or "[]") if p.get("name", "").startswith("ebcap_")]


def bpf_ids_held_by(pid: int) -> tuple[set[int], set[int]]:
    """(program ids, link ids) of the BPF objects a process holds fds to (from fdinfo)."""
    progs, links = set(), set()
    fdinfo = Path(f"/proc/{pid}/fdinfo")
    for entry in fdinfo.iterdir():
        try:
            text = entry.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key == "prog_id":
                progs.add(int(value))
            elif key == "link_id":
                links.add(int(value))
    return progs, links


def tcx_links() -> list[dict]:
    """tcx links that hold an ebcap program (bpftool names the type "tcx" or 11)."""
    ours = {p["id"] for p in ebcap_programs()}
    out = subprocess.run(["bpftool", "-j", "link", "show"], capture_output=True, text=True).stdout
    return [l for l in json.loads(out or "[]")
            if l.get("type") in ("tcx", BPF_LINK_TYPE_TCX) and l.get("prog_id") in ours]
