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


SERVER = r"""
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8)
print("ready", flush=True)
for _ in range(int(sys.argv[3])):
    c, _ = s.accept()
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.close()
"""

CLIENT = r"""
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
for i in range(int(sys.argv[3])):
    msg = (b"hello %d " % i) * 20
    c.sendall(msg)
    got = b""
    while len(got) < len(msg):
        got += c.recv(65536)
c.close()
"""


def tcp_exchange(tb, server_host, client_host, addr: str, port: int, rounds: int = 3) -> None:
    """A real TCP connection (handshake, data both ways, FIN) from client_host to server_host."""
    server = tb.popen(server_host, [sys.executable, "-c", SERVER, addr, str(port), "1"],
                      stdout=subprocess.PIPE)
    assert server.stdout.readline().strip() == b"ready"
    tb.run(client_host, [sys.executable, "-c", CLIENT, addr, str(port), str(rounds)],
           timeout=20)
    server.wait(timeout=10)


def udp_packets(tb, host, addr: str, port: int, count: int = 3, size: int = 100) -> None:
    code = ("import socket,sys;f=socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET;"
            "s=socket.socket(f,socket.SOCK_DGRAM);"
            "[s.sendto(b'u'*int(sys.argv[4]),(sys.argv[1],int(sys.argv[2]))) "
            "for _ in range(int(sys.argv[3]))]")
    tb.run(host, [sys.executable, "-c", code, addr, str(port), str(count), str(size)])


def ping(tb, host, addr: str, count: int = 2) -> None:
    tb.run(host, ["ping", "-c", str(count), "-i", "0.05", "-W", "1", addr],
           stdout=subprocess.DEVNULL)


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


def tcx_links() -> list[dict]:
    """tcx links that hold an ebcap program (bpftool names the type "tcx" or 11)."""
    ours = {p["id"] for p in ebcap_programs()}
    out = subprocess.run(["bpftool", "-j", "link", "show"], capture_output=True, text=True).stdout
    return [l for l in json.loads(out or "[]")
            if l.get("type") in ("tcx", BPF_LINK_TYPE_TCX) and l.get("prog_id") in ours]
