"""The bench's traffic across a testbed's veth pair, of three kinds:

- "trafgen": UDP/IPv4 frames written byte by byte and sent by trafgen (netsniff-ng). It is as
  fast as any generator Debian offers on this machine (generators.py measures them) and the only
  one that lets the bench write every byte, so it knows exactly what is on the wire: the
  destination port's low byte counts 0..99, so `udp dst port 9984` matches exactly one frame in
  a hundred, and the source port tells main traffic from the start-up ticker.
- "socket": the same datagrams (ports, sizes) sent by a program with sendto() on a UDP socket
  (udpsend.py), as a host's applications send them: built by the kernel's stack, headers in the
  skb's linear part where trafgen's are paged.
- "tcp": one iperf3 TCP stream; the sender's stack hands the veth GSO super-packets of up to
  64 KB, which both capture tools see as single packets.
All of them, and their receivers, run on CPU 0, leaving the other core to the capture.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ebcap.capture.bench.measure import Match
from ebcap.capture.bench.testbed import Host, Testbed, wait_listening

MAIN_SPORT = 4321      # source port of the measured traffic
TICKER_SPORT = 4322    # source port of the slow ticker that times a capture's start-up
DPORT_BASE = 9984      # 0x2700: the destination port is DPORT_BASE + (frame number % DPORT_SPREAD)
DPORT_SPREAD = 100
ETH_IPV4_UDP = 14 + 20 + 8
MIN_FRAME = 60         # shortest Ethernet frame without FCS
TICKER_GAP = "1ms"     # the ticker's inter-frame gap, so start-up is timed to about 1 ms
# The receiver takes frames for BLACKHOLE_DST in (its own MAC) and drops them right after IP
# routing: no ICMP back, no socket. Sending to its own address instead costs about a third of the
# rate in "port unreachable" work.
BLACKHOLE_NET = "198.18.1.0/24"
BLACKHOLE_DST = "198.18.1.2"
SENDER_CPU = 0         # where every sender runs: trafgen's -P 1 pins itself there too
IPERF_PORT = 5201      # iperf3's default: both its control and its data connection go to it
UDPSEND = Path(__file__).with_name("udpsend.py")

TRAFFIC_KINDS = ("trafgen", "socket", "tcp")
# What each kind needs on the machine besides the bench itself: (program, Debian package).
_PROGRAMS = {"trafgen": ("trafgen", "netsniff-ng"), "socket": None, "tcp": ("iperf3", "iperf3")}
# Which packets in a capture file are the measured traffic's. The TCP kind's are everything the
# sender sends to iperf3's port: its data stream and its few control packets, which is exactly
# what the sender's veth counts as sent (quiet_links() keeps anything else off the link).
MATCHES = {"trafgen": Match(17, MAIN_SPORT), "socket": Match(17, MAIN_SPORT),
           "tcp": Match(6, IPERF_PORT, dst=True)}


def missing_program(kind: str) -> str | None:
    """Why traffic of `kind` cannot run on this machine, or None if it can."""
    need = _PROGRAMS[kind]
    if need is None or shutil.which(need[0]):
        return None
    return f"needs {need[0]}, not installed (Debian package {need[1]})"


@dataclass(frozen=True)
class Flow:
    """One direction of UDP over the testbed: who sends, who receives, and the frame size."""

    src: Host
    dst: Host
    src_mac: str
    dst_mac: str
    frame_len: int

    @classmethod
    def across(cls, testbed: Testbed, frame_len: int) -> "Flow":
        if not MIN_FRAME <= frame_len <= 1514:
            raise ValueError(f"frame length {frame_len} outside {MIN_FRAME}..1514")
        return cls(testbed.left, testbed.right, testbed.mac(testbed.left),
                   testbed.mac(testbed.right), frame_len)


def add_blackhole(testbed: Testbed) -> None:
    """Route BLACKHOLE_NET to a blackhole on the receiver, and via the receiver on the sender."""
    testbed.run(testbed.right, ["ip", "route", "replace", "blackhole", BLACKHOLE_NET])
    testbed.run(testbed.left, ["ip", "route", "replace", BLACKHOLE_NET, "via", testbed.right.ipv4])


def quiet_links(testbed: Testbed) -> None:
    """Nothing on the veth pair but the bench's traffic: static ARP entries both ways (else the
    first datagrams of a socket sender wait for, or are dropped behind, an ARP exchange) and no
    IPv6 (router and multicast listener messages that would show in the counters)."""
    for host, peer in ((testbed.left, testbed.right), (testbed.right, testbed.left)):
        testbed.run(host, ["ip", "neigh", "replace", peer.ipv4, "lladdr", testbed.mac(peer),
                           "dev", host.ifname, "nud", "permanent"])
        testbed.run(host, ["sysctl", "-qw", f"net.ipv6.conf.{host.ifname}.disable_ipv6=1"])


def _bytes(text: str, sep: str) -> str:
    return ", ".join(f"0x{int(part, 16 if sep == ':' else 10):02x}" for part in text.split(sep))


def trafgen_config(flow: Flow, sport: int, spread: bool) -> str:
    """A trafgen packet description of one frame; with `spread` the destination port counts."""
    ip_len = flow.frame_len - 14
    udp_len = ip_len - 20
    dport_low = f"dinc(0, {DPORT_SPREAD - 1}, 1)" if spread else "0x00"
    # UDP checksum 0 means "none" in IPv4, so counting ports needs no per-frame checksum.
    return "\n".join([
        "{",
        f"  {_bytes(flow.dst_mac, ':')}, {_bytes(flow.src_mac, ':')}, c16(0x0800),",
        f"  0x45, 0x00, c16({ip_len}), c16(0), c16(0x4000), 64, 17, csumip(14, 33),",
        f"  {_bytes(flow.src.ipv4, '.')}, {_bytes(flow.dst.ipv4, '.')},",
        f"  c16({sport}), 0x{DPORT_BASE >> 8:02x}, {dport_low}, c16({udp_len}), c16(0),",
        f"  fill(0x00, {udp_len - 8}),",
        "}",
        "",
    ])


def trafgen_argv(iface: str, conf: str, count: int, gap: str | None = None) -> list[str]:
    """One sending process (-P 1) through the qdisc path (-q), leaving host tuning alone.

    -q matters: trafgen's default qdisc bypass hands frames straight to the driver, so neither
    TC egress (where ebcap hooks) nor the AF_PACKET taps (tcpdump) would see them.
    -A and -Q keep it from changing global socket-memory sysctls and IRQ affinities.
    """
    argv = ["trafgen", "-o", iface, "-i", conf, "-n", str(count), "-P", "1", "-q", "--no-sock-mem", "-Q", "-C"]
    if gap:
        argv += ["-t", gap]
    return argv


class _Sender:
    """A sending process, bounded by its own count or duration."""

    proc: subprocess.Popen

    def wait(self, timeout: float) -> None:
        """Until it has sent all it was told to, or `timeout` seconds have passed."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass


class Trafgen(_Sender):
    """A running trafgen in the sender's namespace; bounded by count, stopped early by stop().

    trafgen forks its sending worker(s), so it runs in a session of its own and stop() signals the
    whole process group: a SIGINT to the parent alone leaves the worker sending.
    """

    def __init__(self, testbed: Testbed, flow: Flow, *, sport: int, spread: bool, count: int,
                 gap: str | None = None):
        fd, self._conf = tempfile.mkstemp(prefix="ebcap-bench-", suffix=".trafgen")
        with os.fdopen(fd, "w") as f:
            f.write(trafgen_config(flow, sport, spread))
        self.proc = testbed.popen(flow.src, trafgen_argv(flow.src.ifname, self._conf, count, gap),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  start_new_session=True)
        self.sent: int | None = None  # trafgen's own count, known once stopped

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGINT (trafgen's own stop), then kill if it does not go; returns once it is gone,
        with the number of frames trafgen says it sent (None if it could not say)."""
        try:
            self._signal_group(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            self._signal_group(signal.SIGKILL)
            out, err = self.proc.communicate()
            if self.proc.returncode not in (0, -signal.SIGINT) and "rror" in err:
                raise RuntimeError(f"trafgen failed ({self.proc.returncode}): {err.strip()[-300:]}")
            m = _OUTGOING.search(out)
            self.sent = int(m.group(1)) if m else None
            return self.sent
        finally:
            os.unlink(self._conf)

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass


_OUTGOING = re.compile(r"(\d+) packets outgoing")


def udpsend_argv(src: str, dst: str, payload: int | str, seconds: str, count: str) -> list[str]:
    return [sys.executable, "-I", str(UDPSEND), src, str(MAIN_SPORT), dst, str(DPORT_BASE),
            str(DPORT_SPREAD), str(payload), seconds, count, str(SENDER_CPU)]


def iperf3_server_argv(addr: str) -> list[str]:
    # --forceflush: else its "Server listening" line waits in a pipe's stdio buffer.
    return ["iperf3", "-s", "-1", "--forceflush", "-B", addr, "-p", str(IPERF_PORT),
            "-A", str(SENDER_CPU)]


def iperf3_client_argv(addr: str, seconds: str) -> list[str]:
    return ["iperf3", "-c", addr, "-p", str(IPERF_PORT), "-t", seconds, "-A", str(SENDER_CPU)]


def sender_commands() -> dict[str, str]:
    """Each kind of traffic's command line, for the JSON's record of the run."""
    return {
        "trafgen": " ".join(trafgen_argv("IFACE", "CONF", 0)).replace(" -n 0", " -n COUNT"),
        "socket": " ".join(udpsend_argv("SRC", "DST", "PAYLOAD", "SECONDS", "COUNT")),
        "tcp": " ".join(iperf3_client_argv("DST", "SECONDS+5")) + ", stopped by SIGINT; "
               + " ".join(iperf3_server_argv("DST")),
    }


def _interrupt(proc: subprocess.Popen, timeout: float) -> tuple:
    """SIGINT to `proc` if it still runs, its output once it ends, killed after `timeout` s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


class SocketUdp(_Sender):
    """udpsend.py in the sender's namespace: the trafgen frames' ports and sizes, from a socket.

    It runs as `python -I` by path, so it imports nothing from the working directory, and stops
    by itself after `duration` (or `count` datagrams); stop() ends it early and takes its count.
    """

    def __init__(self, testbed: Testbed, flow: Flow, *, duration: float, count: int):
        argv = udpsend_argv(flow.src.ipv4, flow.dst.ipv4, flow.frame_len - ETH_IPV4_UDP,
                            str(duration), str(count))
        self.proc = testbed.popen(flow.src, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)

    def stop(self, timeout: float = 5.0) -> int | None:
        out, err = _interrupt(self.proc, timeout)
        if self.proc.returncode != 0:
            raise RuntimeError(f"udpsend failed ({self.proc.returncode}): {err.strip()[-300:]}")
        return int(out.split()[-1]) if out.split() else None


class TcpStream:
    """One iperf3 TCP stream from the sender to an iperf3 server on the receiver, both on
    SENDER_CPU. iperf3 counts time in whole seconds, so the client is told to run longer than
    `duration` and stopped by SIGINT; the bench counts packets off the sender's veth, where each
    GSO super-packet is one (stop() returns None: iperf3 does not count packets)."""

    def __init__(self, testbed: Testbed, flow: Flow, *, duration: float):
        self._testbed, self._flow = testbed, flow
        self.server = testbed.popen(flow.dst, iperf3_server_argv(flow.dst.ipv4),
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0)
        self.client = None
        self._seconds = math.ceil(duration) + 5

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Until the server listens: its "Server listening on" line."""
        wait_listening(self.server, timeout, self.server.stdout)

    def start(self) -> None:
        self.client = self._testbed.popen(
            self._flow.src, iperf3_client_argv(self._flow.dst.ipv4, str(self._seconds)),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait(self, timeout: float) -> None:
        try:
            self.client.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, timeout: float = 5.0) -> None:
        """SIGINT to the client (it then closes the stream) and the end of the server."""
        try:
            if self.client is not None:
                _, err = _interrupt(self.client, timeout)
                if "error" in err:
                    raise RuntimeError(f"iperf3 failed: {err.strip()[-300:]}")
        finally:
            self.close()

    def close(self) -> None:
        if self.server.poll() is None:
            try:
                self.server.wait(2.0)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        self.server.stdout.close()


@dataclass(frozen=True)
class LinkCounters:
    """An interface's packet counters at one moment (from `ip -s -j link`)."""

    rx_packets: int
    rx_bytes: int
    rx_dropped: int
    tx_packets: int
    tx_bytes: int
    tx_dropped: int

    @classmethod
    def read(cls, host: Host) -> "LinkCounters":
        out = subprocess.run(["ip", "-n", host.netns, "-s", "-j", "link", "show", host.ifname],
                             check=True, capture_output=True, text=True).stdout
        stats = json.loads(out)[0]["stats64"]
        rx, tx = stats["rx"], stats["tx"]
        return cls(rx["packets"], rx["bytes"], rx["dropped"],
                   tx["packets"], tx["bytes"], tx["dropped"])

    def __sub__(self, other: "LinkCounters") -> "LinkCounters":
        return LinkCounters(*(a - b for a, b in zip(self.__dict__.values(), other.__dict__.values())))
