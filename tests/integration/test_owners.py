"""--owners and --pid against real processes in namespaces the tests make: every egress packet
of a UDP sender, a TCP client and a TCP server (its SYN-ACK and accepted socket) carries the
right pid and comm; tshark shows the comments; --pid keeps one process's packets and none of
another's sending at the same time; nothing is left in the kernel after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ebcap.capture.pcapng.reader import CaptureFileReader
from tests.helpers.kernel_state import bpf_ids_held_by
from tests.helpers.paths import EBCAP

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

# Each sender says "ready" once its socket exists, sends when told (a line on stdin), then stays
# alive until told again, so that ebcap reads its /proc entry while it still exists.
UDP_SENDER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("ready", flush=True); sys.stdin.readline()
for _ in range(int(sys.argv[3])):
    s.sendto(b"u" * 32, (sys.argv[1], int(sys.argv[2])))
print("sent", flush=True); sys.stdin.readline()
"""
TCP_CLIENT = """
import socket, sys
print("ready", flush=True); sys.stdin.readline()
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
c.sendall(b"hello" * 10); c.recv(100); c.close()
print("sent", flush=True); sys.stdin.readline()
"""
TCP_SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen()
print("ready", flush=True)
c, _ = s.accept(); c.sendall(c.recv(100)); c.close()
print("sent", flush=True); sys.stdin.readline()
"""


def start_ebcap(testbed, out: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([EBCAP, "--netns", testbed.left.netns, "-i", testbed.left.ifname,
                             "-n", "-U", "-w", str(out), *extra],
                            stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    assert "listening on" in line, line + proc.stderr.read()
    return proc


def stop_ebcap(proc: subprocess.Popen) -> str:
    time.sleep(1.2)                 # one drain and flush after the last packet
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return err


def script(testbed, host, code: str, *args: str) -> subprocess.Popen:
    proc = testbed.popen(host, [sys.executable, "-I", "-c", code, *args],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def step(proc: subprocess.Popen, expect: str = "sent") -> None:
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == expect


def finish(proc: subprocess.Popen) -> None:
    proc.stdin.write("end\n")
    proc.stdin.flush()
    proc.wait(timeout=10)


def comm_of(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def egress_packets(path: Path):
    with open(path, "rb") as stream:
        return [p for p in CaptureFileReader(stream, str(path)) if p.direction == 2]


def ports(data: bytes) -> tuple[int, int]:
    """(source, destination) port of an Ethernet + IPv4 frame."""
    ihl = (data[14] & 0xF) * 4
    off = 14 + ihl
    return int.from_bytes(data[off:off + 2], "big"), int.from_bytes(data[off + 2:off + 4], "big")


def test_udp_sender_tcp_client_and_server_carry_their_owner(testbed, tmp_path):
    out = tmp_path / "owners.pcapng"
    left, right = testbed.left, testbed.right
    server_right = script(testbed, right, TCP_SERVER, right.ipv4, "7001")
    ebcap = start_ebcap(testbed, out, "--owners")
    server_left = script(testbed, left, TCP_SERVER, left.ipv4, "7002")
    udp = script(testbed, left, UDP_SENDER, right.ipv4, "7000", "5")
    client = script(testbed, left, TCP_CLIENT, right.ipv4, "7001")
    comms = {udp.pid: comm_of(udp.pid), client.pid: comm_of(client.pid)}
    step(udp)
    step(client)
    # a client in the other namespace: the left server's SYN-ACK and replies leave veth-l
    subprocess.run(testbed.argv(right, [sys.executable, "-I", "-c", TCP_CLIENT.replace(
        'print("ready", flush=True); sys.stdin.readline()', "").replace(
        'print("sent", flush=True); sys.stdin.readline()', ""), left.ipv4, "7002"]),
        check=True, timeout=20)
    assert server_left.stdout.readline().strip() == "sent"
    comms[server_left.pid] = comm_of(server_left.pid)
    stop_ebcap(ebcap)
    for proc in (udp, client, server_left, server_right):
        finish(proc)

    owners = {}         # local port -> set of (pid, thread name)
    for packet in egress_packets(out):
        if len(packet.data) < 38 or packet.data[12:14] != b"\x08\x00" or packet.data[23] not in (6, 17):
            continue
        sport, _dport = ports(packet.data)
        owner = packet.owner
        assert owner is not None, f"an egress packet from port {sport} has no owner"
        owners.setdefault(sport, set()).add((owner.pid, owner.thread, owner.tid))
    by_pid = {pid for entries in owners.values() for pid, _t, _tid in entries}
    assert {udp.pid, client.pid, server_left.pid} <= by_pid
    for entries in owners.values():
        assert len(entries) == 1, entries           # every packet of a flow: one owner
        ((pid, thread, tid),) = entries
        assert thread == comms[pid] and tid == pid
    assert owners[7002] == {(server_left.pid, comms[server_left.pid], server_left.pid)}

    # tshark reads the file without a warning and shows ptcpdump's comments
    result = subprocess.run(["tshark", "-r", str(out), "-T", "fields", "-e", "frame.comment"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    warnings = [line for line in result.stderr.splitlines() if "Running as user" not in line]
    assert warnings == []
    assert f"PID: {udp.pid}\\nCmd: " in result.stdout
    assert f"ThreadName: {comms[udp.pid]}" in result.stdout and "UserId: 0" in result.stdout

    # ebcap -r prints the owners back, after the interface as ptcpdump does
    printed = subprocess.run([EBCAP, "-r", str(out), "-n"], capture_output=True, text=True,
                             check=True).stdout
    assert f".{udp.pid} IP {left.ipv4}." in printed


def test_pid_captures_that_process_only(testbed, tmp_path):
    out = tmp_path / "pid.pcapng"
    left, right = testbed.left, testbed.right
    wanted = script(testbed, left, UDP_SENDER, right.ipv4, "7100", "20")
    other = script(testbed, left, UDP_SENDER, right.ipv4, "7101", "20")
    ebcap = start_ebcap(testbed, out, "--pid", str(wanted.pid))
    for proc in (wanted, other):            # both send at the same time
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in (wanted, other):
        assert proc.stdout.readline().strip() == "sent"
    stop_ebcap(ebcap)
    finish(wanted)
    finish(other)
    packets = egress_packets(out)
    assert len(packets) == 20
    assert {p.owner.pid for p in packets} == {wanted.pid}
    assert {ports(p.data)[1] for p in packets} == {7100}


def test_pid_of_no_such_process(tmp_path):
    result = subprocess.run([EBCAP, "-i", "lo", "--pid", "4194303"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["ebcap: --pid 4194303: no such process"]


def test_no_program_or_cgroup_link_left_after_sigkill(testbed, tmp_path):
    ebcap = start_ebcap(testbed, tmp_path / "killed.pcapng", "--owners")
    progs, links = bpf_ids_held_by(ebcap.pid)
    assert len(links) >= 6          # tcx ingress, egress and the five socket hooks
    ebcap.send_signal(signal.SIGKILL)
    ebcap.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alive_progs, alive_links = live_ids("prog"), live_ids("link")
        if not (progs & alive_progs or links & alive_links):
            break
        time.sleep(0.2)
    assert not progs & live_ids("prog") and not links & live_ids("link")


def live_ids(kind: str) -> set[int]:
    import json
    out = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True).stdout
    return {entry["id"] for entry in json.loads(out or "[]")}


def test_server_listening_before_ebcap_is_attributed(testbed, tmp_path):
    """Its listener passed no hook of ebcap's: seeded from /proc/PID/fd at start (pidfd_getfd)."""
    out = tmp_path / "seeded.pcapng"
    left, right = testbed.left, testbed.right
    server = script(testbed, left, TCP_SERVER, left.ipv4, "7200")
    udp = script(testbed, left, UDP_SENDER, right.ipv4, "7201", "3")   # socket made before too
    ebcap = start_ebcap(testbed, out, "--owners")
    step(udp)
    client = TCP_CLIENT.replace('print("ready", flush=True); sys.stdin.readline()', "").replace(
        'print("sent", flush=True); sys.stdin.readline()', "")
    testbed.run(right, [sys.executable, "-I", "-c", client, left.ipv4, "7200"], timeout=20)
    assert server.stdout.readline().strip() == "sent"
    stop_ebcap(ebcap)
    finish(server)
    finish(udp)
    owners = {}
    for packet in egress_packets(out):
        if packet.data[12:14] == b"\x08\x00" and packet.data[23] in (6, 17):
            owners.setdefault(ports(packet.data)[0], set()).add(
                packet.owner.pid if packet.owner else None)
    assert owners[7200] == {server.pid}        # SYN-ACK (listener) and the accepted socket
    assert set().union(*(v for k, v in owners.items() if k != 7200)) == {udp.pid}


def test_ingress_packets_carry_the_receiving_socket_owner(testbed, tmp_path):
    """At ingress the socket is looked up (bpf_sk_lookup_tcp/udp): the SYN finds the listener,
    the rest of the connection the accepted socket (its owner cloned from the listener)."""
    out = tmp_path / "ingress.pcapng"
    left, right = testbed.left, testbed.right
    ebcap = start_ebcap(testbed, out, "--owners")
    server = script(testbed, left, TCP_SERVER, left.ipv4, "7300")
    client = TCP_CLIENT.replace('print("ready", flush=True); sys.stdin.readline()', "").replace(
        'print("sent", flush=True); sys.stdin.readline()', "")
    testbed.run(right, [sys.executable, "-I", "-c", client, left.ipv4, "7300"], timeout=20)
    assert server.stdout.readline().strip() == "sent"
    stop_ebcap(ebcap)
    finish(server)
    with open(out, "rb") as stream:
        ingress = [p for p in CaptureFileReader(stream, str(out)) if p.direction == 1]
    to_server = [p for p in ingress if p.data[12:14] == b"\x08\x00" and p.data[23] == 6
                 and ports(p.data)[1] == 7300]
    assert to_server and to_server[0].owner is not None          # the SYN: the listener's
    owners = {p.owner.pid for p in to_server if p.owner is not None}
    assert owners == {server.pid}
    assert sum(p.owner is not None for p in to_server) >= len(to_server) - 1   # the last ACK may find none
