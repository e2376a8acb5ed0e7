"""--comm, --cgroup and --run against real processes in namespaces the tests make: each captures
every packet of the chosen process (and, for --cgroup and --run, its children) and none of
another process sending at the same time; --run exits with the command's status and leaves no
cgroup behind; bad input is one line and exit 1; nothing is left in the kernel after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ebcap.capture.bench import testbed as testbeds
from ebcap.capture.kernel.owners import cgroup2_mount
from ebcap.capture.pcapng.reader import CaptureFileReader
from tests.helpers import owner_senders
from tests.helpers.kernel_state import bpf_ids_held_by
from tests.helpers.owner_senders import finish, send_together, start_listening, stop_listening
from tests.helpers.paths import EBCAP
from tests.integration.test_owners import live_ids, ports

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

@pytest.fixture
def testbed():
    with testbeds.Testbed("own") as tb:         # namespaces ebcap-own-PID-N-l/-r: this file's own
        yield tb


@pytest.fixture
def cgroups():
    """Cgroups made under the v2 root for a test (parent, and a child below it), removed after."""
    root = cgroup2_mount()
    if root is None:
        pytest.skip("no cgroup v2 hierarchy")
    made: list[Path] = []

    def make(relative: str) -> Path:
        path = Path(root) / relative.lstrip("/")
        path.mkdir()
        made.append(path)
        return path
    yield make
    for path in reversed(made):
        for pid in (path / "cgroup.procs").read_text().split():
            try:          # back to the root, so that the directory can go
                (Path(root) / "cgroup.procs").write_text(pid)
            except OSError:
                pass
        path.rmdir()


def start_ebcap(testbed, out: Path, *extra: str) -> subprocess.Popen:
    return start_listening([EBCAP, "--netns", testbed.left.netns, "-i", testbed.left.ifname,
                            "-n", "-U", "-w", str(out), *extra])


def stop_ebcap(proc: subprocess.Popen) -> None:
    stop_listening(proc, settle=1.2)        # one drain and flush after the last packet


def sender(testbed, port: int, count: int, name: str = "") -> subprocess.Popen:
    return owner_senders.sender(testbed, testbed.left, testbed.right.ipv4, port, count, name)


def udp_packets(path: Path, direction: int = 2):
    """Egress (by default) UDP/IPv4 packets of the file, as (source port, dest port, packet)."""
    with open(path, "rb") as stream:
        packets = [p for p in CaptureFileReader(stream, str(path)) if p.direction == direction]
    return [(*ports(p.data), p) for p in packets
            if p.data[12:14] == b"\x08\x00" and p.data[23] == 17]


def test_comm_captures_that_thread_name_only(testbed, tmp_path):
    out = tmp_path / "comm.pcapng"
    wanted = sender(testbed, 7500, 30, "own-wanted")
    other = sender(testbed, 7501, 30, "own-other")
    # "udp": the pcap expression as well (the ICMP port unreachables about the datagrams are
    # the sender's too, and left out by it)
    ebcap = start_ebcap(testbed, out, "--comm", "own-wanted", "udp")
    send_together(wanted, other)
    stop_ebcap(ebcap)
    finish(wanted, other)
    packets = udp_packets(out)
    assert len(packets) == 30
    assert {dport for _s, dport, _p in packets} == {7500}
    assert {(p.owner.pid, p.owner.thread) for _s, _d, p in packets} == {(wanted.pid, "own-wanted")}
    # nothing else either: the file holds the chosen process's packets only
    with open(out, "rb") as stream:
        assert len(list(CaptureFileReader(stream, str(out)))) == 30


def test_cgroup_captures_it_and_below_only(testbed, tmp_path, cgroups):
    """A sender in a cgroup below --cgroup's is captured; one outside it is not."""
    out = tmp_path / "cgroup.pcapng"
    parent = cgroups(f"ebcap-own-{os.getpid()}")
    child = cgroups(f"ebcap-own-{os.getpid()}/inner")
    wanted = sender(testbed, 7510, 30)
    other = sender(testbed, 7511, 30)
    (child / "cgroup.procs").write_text(str(wanted.pid))
    ebcap = start_ebcap(testbed, out, "--cgroup", "/" + parent.name, "udp")
    send_together(wanted, other)
    stop_ebcap(ebcap)
    finish(wanted, other)
    packets = udp_packets(out)
    assert len(packets) == 30
    assert {dport for _s, dport, _p in packets} == {7510}
    assert {p.owner.pid for _s, _d, p in packets} == {wanted.pid}
    assert {p.owner.cgroup for _s, _d, p in packets} == {f"/{parent.name}/inner"}
    # tshark shows the comments, ebcap's Cgroup and NetNs among them
    netns = os.stat(f"/run/netns/{testbed.left.netns}").st_ino
    shown = subprocess.run(["tshark", "-r", str(out), "-T", "fields", "-e", "frame.comment"],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    assert f"PID: {wanted.pid}\\nCmd: " in shown
    assert f"Cgroup: /{parent.name}/inner" in shown and f"NetNs: {netns}" in shown
    found = subprocess.run(["tshark", "-r", str(out), "-Y",
                            f'frame.comment contains "PID: {wanted.pid}"'],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    assert len(found.splitlines()) == 30


RUN_CODE = """
import socket, subprocess, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(20):
    s.sendto(b"r" * 32, (sys.argv[1], int(sys.argv[2]))); time.sleep(0.005)
child = "import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); " \\
        "[s.sendto(b'c' * 32, (sys.argv[1], int(sys.argv[2]))) for _ in range(10)]"
subprocess.run([sys.executable, "-I", "-c", child, sys.argv[1], str(int(sys.argv[2]) + 2)],
               check=True)
sys.exit(7)
"""


def run_command(testbed, port: int) -> str:
    import shlex
    return shlex.join([sys.executable, "-I", "-c", RUN_CODE, testbed.right.ipv4, str(port)])


def run_cgroups(pid: int) -> list[str]:
    return [name for name in os.listdir(cgroup2_mount()) if name == f"ebcap-run-{pid}"]


def test_run_captures_the_command_and_its_children_only(testbed, tmp_path):
    out = tmp_path / "run.pcapng"
    other = sender(testbed, 7521, 600)
    other.stdin.write("go\n")      # sending all along (~3 s): while ebcap starts, the command runs
    other.stdin.flush()
    ebcap = subprocess.Popen([EBCAP, "--netns", testbed.left.netns, "-i", testbed.left.ifname,
                              "-n", "-w", str(out), "--run", run_command(testbed, 7520)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _out, err = ebcap.communicate(timeout=60)
    assert other.stdout.readline().strip() == "sent"
    finish(other)
    assert ebcap.returncode == 7, err           # the command's exit status
    assert "listening on" in err
    by_port = {}
    for _sport, dport, packet in udp_packets(out):
        by_port.setdefault(dport, []).append(packet)
    assert sorted(by_port) == [7520, 7522]       # the command's, its child's; not 7521's
    assert len(by_port[7520]) == 20 and len(by_port[7522]) == 10
    command_pids = {p.owner.pid for p in by_port[7520]}
    child_pids = {p.owner.pid for p in by_port[7522]}
    assert len(command_pids) == 1 and len(child_pids) == 1 and command_pids != child_pids
    assert {p.owner.cgroup for p in by_port[7520] + by_port[7522]} == {f"/ebcap-run-{ebcap.pid}"}
    assert not (Path(cgroup2_mount()) / f"ebcap-run-{ebcap.pid}").exists()
    # and ebcap -r prints them back: comm.pid (one interface: no interface name, as tcpdump)
    printed = subprocess.run([EBCAP, "-r", str(out), "-n"], capture_output=True, text=True,
                             check=True).stdout
    (pid,) = command_pids
    exe = os.path.basename(os.path.realpath(sys.executable))    # read when it started
    assert printed.count(f"{exe}.{pid} IP {testbed.left.ipv4}.") == 20


def run_cgroups_left() -> list[str]:
    """--run cgroups of ebcaps that are no longer running."""
    left = []
    for name in os.listdir(cgroup2_mount()):
        if name.startswith("ebcap-run-"):
            pid = int(name.rsplit("-", 1)[1])
            if not os.path.exists(f"/proc/{pid}"):
                left.append(name)
    return left


def test_run_prints_and_jsons_owners_and_runs_as_z_user(testbed, tmp_path):
    """-Z nobody: the command runs as nobody; printed lines carry comm.pid, --json an owner."""
    code = ("import os, socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "s.sendto(b'j' * 8, (sys.argv[1], 7530)); print('uid', os.getuid(), flush=True)")
    import shlex
    command = shlex.join([sys.executable, "-I", "-c", code, testbed.right.ipv4])
    base = [EBCAP, "--netns", testbed.left.netns, "-i", testbed.left.ifname, "-n", "-Z", "nobody"]
    printed = subprocess.run([*base, "--run", command, "udp"], capture_output=True, text=True,
                             timeout=60)
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert "uid 65534" in lines
    packet_lines = [line for line in lines if " Out IP " in line]
    assert len(packet_lines) == 1 and f"> {testbed.right.ipv4}.7530: UDP" in packet_lines[0]
    label = packet_lines[0].split()[2]              # "veth-l python3.11.PID Out IP ..."
    assert label.rsplit(".", 1)[1].isdigit()
    as_json = subprocess.run([*base, "--json", "--run", command, "udp"], capture_output=True,
                             text=True, timeout=60)
    assert as_json.returncode == 0, as_json.stderr
    records = [json.loads(line) for line in as_json.stdout.splitlines() if line.startswith("{")]
    assert len(records) == 1
    owner = records[0]["owner"]
    assert owner["uid"] == 65534 and owner["pid"] > 0 and owner["thread"]
    assert owner["netns"] == os.stat(f"/run/netns/{testbed.left.netns}").st_ino
    assert run_cgroups_left() == []


@pytest.mark.parametrize("argv, message", [
    (["--run", "ebcap-own-no-such-command --flag"],
     "ebcap: --run: ebcap-own-no-such-command: command not found"),
    (["--run", ""], "ebcap: --run needs a command"),
    (["--cgroup", "/ebcap-own-no-such-cgroup"],
     "ebcap: --cgroup /ebcap-own-no-such-cgroup: no such cgroup"),
    (["--pid", "4194303"], "ebcap: --pid 4194303: no such process"),
])
def test_bad_owner_filters_are_one_line_and_attach_nothing(testbed, argv, message):
    proc = subprocess.Popen([EBCAP, "--netns", testbed.left.netns, "-i", testbed.left.ifname,
                             *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err.strip().splitlines() == [message]
    attached = testbed.run(testbed.left, ["bpftool", "-j", "net", "show", "dev",
                                          testbed.left.ifname], capture_output=True, text=True)
    assert "ebcap_" not in attached.stdout
    assert run_cgroups_left() == []


def test_run_failing_command_leaves_nothing(testbed, tmp_path):
    ebcap = start_ebcap(testbed, tmp_path / "f.pcapng", "--run", "sh -c 'sleep 1; exit 3'")
    progs, links = bpf_ids_held_by(ebcap.pid)
    assert len(links) >= 7
    cgroup = Path(cgroup2_mount()) / f"ebcap-run-{ebcap.pid}"
    assert cgroup.is_dir()
    _out, err = ebcap.communicate(timeout=60)
    assert ebcap.returncode == 3, err
    assert not cgroup.exists()
    assert not progs & live_ids("prog") and not links & live_ids("link")
    assert run_cgroups_left() == []


def test_no_program_link_or_cgroup_left_after_sigkill(testbed, tmp_path):
    """SIGKILL: the links go with ebcap's fds; the --run cgroup is removed by its guard once
    the command, still running, has exited."""
    ebcap = start_ebcap(testbed, tmp_path / "killed.pcapng", "--run", "sleep 30")
    progs, links = bpf_ids_held_by(ebcap.pid)
    assert len(links) >= 7          # tcx ingress, egress and the five socket hooks
    cgroup = Path(cgroup2_mount()) / f"ebcap-run-{ebcap.pid}"
    (sleeper,) = (cgroup / "cgroup.procs").read_text().split()
    ebcap.send_signal(signal.SIGKILL)
    ebcap.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (progs & live_ids("prog") or links & live_ids("link")):
        time.sleep(0.2)
    assert not progs & live_ids("prog") and not links & live_ids("link")
    assert cgroup.exists()          # the command runs on: its cgroup stays while it does
    os.kill(int(sleeper), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and cgroup.exists():
        time.sleep(0.1)
    assert not cgroup.exists()


@pytest.mark.parametrize("family", ["4", "6"])
@pytest.mark.parametrize("kind", ["raw", "ping socket"])
def test_ping_requests_and_replies_carry_the_pinger(testbed, tmp_path, family, kind):
    """An echo reply has no socket the kernel's lookup helpers find: it is given the owner of
    the request that left with its peer and identifier. --comm ping keeps both directions.
    iputils ping uses an ICMP datagram socket when net.ipv4.ping_group_range lets it, else a
    raw socket (a fresh namespace's range lets nobody)."""
    if kind == "ping socket":
        testbed.run(testbed.left, ["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"])
    out = tmp_path / "ping.pcapng"
    ebcap = start_ebcap(testbed, out, "--comm", "ping")
    peer = testbed.right.ipv4 if family == "4" else testbed.right.ipv6
    pinger = testbed.popen(testbed.left, ["ping", f"-{family}", "-n", "-c", "5", "-i", "0.2",
                                          peer], stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    table = "/proc/net/icmp" if family == "4" else "/proc/net/icmp6"
    ping_sockets = testbed.run(testbed.left, ["cat", table], capture_output=True,
                               text=True).stdout.splitlines()[1:]
    assert len(ping_sockets) == (1 if kind == "ping socket" else 0)
    assert pinger.wait(timeout=30) == 0
    other = sender(testbed, 7540, 10)
    send_together(other)
    finish(other)
    stop_ebcap(ebcap)
    with open(out, "rb") as stream:
        packets = list(CaptureFileReader(stream, str(out)))
    icmp_type = {"4": lambda d: d[14 + (d[14] & 0xF) * 4] if d[23] == 1 else None,
                 "6": lambda d: d[54] if d[20] == 58 else None}[family]
    requests = [p for p in packets if p.direction == 2 and icmp_type(p.data) in (8, 128)]
    replies = [p for p in packets if p.direction == 1 and icmp_type(p.data) in (0, 129)]
    assert len(requests) == 5 and len(replies) == 5 and len(packets) == 10
    assert {p.owner.pid for p in requests + replies} == {pinger.pid}


@pytest.mark.parametrize("family", ["4", "6"])
def test_icmp_errors_carry_the_socket_they_are_about(testbed, tmp_path, family):
    """Port unreachable for a UDP datagram: the error quotes it, and its socket is found from
    the quoted header; --pid keeps the sender's datagrams and the errors about them."""
    for sysctl in ("net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0"):
        testbed.run(testbed.right, ["sysctl", "-qw", sysctl])
    peer = testbed.right.ipv4 if family == "4" else testbed.right.ipv6
    wanted = owner_senders.sender(testbed, testbed.left, peer, 7560, 5)    # IPv6 to an IPv6 peer
    out = tmp_path / "unreachable.pcapng"
    ebcap = start_ebcap(testbed, out, "--pid", str(wanted.pid))
    send_together(wanted)
    stop_ebcap(ebcap)
    finish(wanted)
    with open(out, "rb") as stream:
        packets = list(CaptureFileReader(stream, str(out)))
    if family == "4":
        errors = [p for p in packets if p.direction == 1 and p.data[23] == 1
                  and p.data[14 + (p.data[14] & 0xF) * 4] == 3]
    else:
        errors = [p for p in packets if p.direction == 1 and p.data[20] == 58 and p.data[54] == 1]
    sent = [p for p in packets if p.direction == 2]
    assert len(sent) == 5 and len(errors) == 5 and len(packets) == 10
    assert {p.owner.pid for p in packets} == {wanted.pid}
