"""Throwaway network testbeds: network namespaces joined by veth pairs.

Used by `make demo`, `ebcap bench` and the integration tests. Traffic on a testbed never leaves
it: both ends of every veth live in namespaces the testbed created, and leaving the `with` block
deletes them (which destroys the veths too), also when the body raised.
Addresses come from 198.18.0.0/15 and fd00:ebca::/64, the ranges reserved for benchmarking and
unique-local use, so they cannot collide with a real network.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass

_serial = itertools.count()

# Traffic programs run with this Python inside a namespace: an echo server and its client. They
# run isolated (-I): a child started by root imports nothing from the working directory.
_SERVER = r"""
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

_CLIENT = r"""
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

_UDP = ("import socket,sys;f=socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET;"
        "s=socket.socket(f,socket.SOCK_DGRAM);"
        "[s.sendto(b'u'*int(sys.argv[4]),(sys.argv[1],int(sys.argv[2]))) "
        "for _ in range(int(sys.argv[3]))]")


@dataclass(frozen=True)
class Host:
    """One end of the veth pair: its namespace, interface and addresses."""

    netns: str
    ifname: str
    ipv4: str
    ipv6: str


def wait_listening(proc: subprocess.Popen, timeout: float = 60.0, stream=None) -> bytes:
    """Until `proc` prints "listening on" on `stream` (default its stderr, a pipe), as tcpdump
    and ebcap do once they capture and an iperf3 server once it listens; returns what it read.
    Raises RuntimeError with that text when the process ends first or `timeout` seconds pass.
    Reads the pipe's fd itself, so the file object buffers nothing and a later communicate() or
    read() gets the rest."""
    deadline = time.monotonic() + timeout
    fd, err = (stream or proc.stderr).fileno(), b""
    command = " ".join(map(str, proc.args))
    while b"listening on" not in err:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError(f"{command} did not start in {timeout:g} s: {err.decode()}")
        if select.select([fd], [], [], min(left, 0.05))[0]:
            chunk = os.read(fd, 4096)
            if not chunk:       # its stderr closed: it has ended, or is ending
                raise RuntimeError(f"{command} ended before it listened: {err.decode()}")
            err += chunk
    return err


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Testbed:
    """Two namespaces, `left` and `right`, joined by one veth pair (left.ifname <-> right.ifname)."""

    def __init__(self, tag: str = "t"):
        base = f"ebcap-{tag}-{os.getpid()}-{next(_serial)}"
        self.left = Host(f"{base}-l", "veth-l", "198.18.0.1", "fd00:ebca::1")
        self.right = Host(f"{base}-r", "veth-r", "198.18.0.2", "fd00:ebca::2")
        self._children: list[subprocess.Popen] = []

    def __enter__(self) -> "Testbed":
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _create(self) -> None:
        for host in (self.left, self.right):
            _ip("netns", "add", host.netns)
            _ip("-n", host.netns, "link", "set", "lo", "up")
            # No duplicate address detection: link-local addresses would otherwise stay
            # tentative for ~2 s and delay the first IPv6 packets.
            subprocess.run(["ip", "netns", "exec", host.netns, "sysctl", "-qw",
                            "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0"],
                           check=True)
        _ip("link", "add", self.left.ifname, "netns", self.left.netns, "type", "veth",
            "peer", "name", self.right.ifname, "netns", self.right.netns)
        for host in (self.left, self.right):
            _ip("-n", host.netns, "addr", "add", f"{host.ipv4}/24", "dev", host.ifname)
            _ip("-n", host.netns, "addr", "add", f"{host.ipv6}/64", "dev", host.ifname, "nodad")
            _ip("-n", host.netns, "link", "set", host.ifname, "up")
        # Static IPv6 neighbours: the first neighbour solicitation on a fresh veth is answered
        # about a second late, which would stall the first IPv6 packets of every test.
        for host, peer in ((self.left, self.right), (self.right, self.left)):
            _ip("-n", host.netns, "-6", "neigh", "replace", peer.ipv6, "lladdr", self.mac(peer),
                "dev", host.ifname, "nud", "permanent")

    def mac(self, host: Host) -> str:
        out = subprocess.run(["ip", "-n", host.netns, "-j", "link", "show", host.ifname],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)[0]["address"]

    def argv(self, host: Host, argv: list[str]) -> list[str]:
        """`argv` prefixed so that it runs inside `host`'s namespace."""
        return ["ip", "netns", "exec", host.netns, *argv]

    def run(self, host: Host, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("check", True)
        return subprocess.run(self.argv(host, argv), **kwargs)

    def popen(self, host: Host, argv: list[str], **kwargs) -> subprocess.Popen:
        """Start a process in `host`'s namespace; the testbed kills it on close if still running."""
        proc = subprocess.Popen(self.argv(host, argv), **kwargs)
        self._children.append(proc)
        return proc

    def tcp_exchange(self, server: Host, client: Host, addr: str, port: int,
                     rounds: int = 3) -> None:
        """One real TCP connection (handshake, `rounds` echoes, FIN) from client to server."""
        proc = self.popen(server, [sys.executable, "-I", "-c", _SERVER, addr, str(port), "1"],
                          stdout=subprocess.PIPE)
        if proc.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"echo server on port {port} did not start")
        self.run(client, [sys.executable, "-I", "-c", _CLIENT, addr, str(port), str(rounds)],
                 timeout=20)
        proc.wait(timeout=10)

    def udp_packets(self, host: Host, addr: str, port: int, count: int = 3,
                    size: int = 100) -> None:
        self.run(host, [sys.executable, "-I", "-c", _UDP, addr, str(port), str(count), str(size)])

    def ping(self, host: Host, addr: str, count: int = 2) -> None:
        self.run(host, ["ping", "-c", str(count), "-i", "0.05", "-W", "1", addr],
                 stdout=subprocess.DEVNULL)

    def close(self) -> None:
        for proc in self._children:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for host in (self.left, self.right):
            subprocess.run(["ip", "netns", "del", host.netns],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
