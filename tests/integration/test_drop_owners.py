"""ebcap --drops with owners, against real processes in namespaces the tests make: a drop whose
socket has an owner carries it (the receiving socket for a full receive buffer, the sender's
socket for a drop on the way out), in the file as ptcpdump's comments after the drop's, printed
back by -r and --json; --pid, --comm and --run choose drops in the kernel, 100% of the chosen
process's and none of another's at the same time; a UDP datagram to a closed port has no owner
(its skb lost its socket on the way in); nothing is left in the kernel after SIGKILL."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ebcap.capture.bench import testbed as testbeds
from ebcap.capture.pcapng.reader import CaptureFileReader
from tests.helpers.drops import drop_ingress, static_ipv4_neighbour
from tests.helpers import owner_senders
from tests.helpers.kernel_state import bpf_ids_held_by
from tests.helpers.owner_senders import finish, send_together, start_listening, stop_listening
from tests.helpers.paths import EBCAP
from tests.helpers.processes import tshark

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

# A UDP socket with the smallest receive buffer, bound to 127.0.0.1:PORT by a process that names
# its thread first (the hooks record the name the socket is made under) and never reads; at
# "end" it prints how many datagrams the kernel dropped on it (/proc/net/udp's last column).
FULL_RECEIVER = """
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, sys.argv[2].encode(), 0, 0, 0)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True); sys.stdin.readline()
port = "%04X" % int(sys.argv[1])
for line in open("/proc/net/udp").read().splitlines()[1:]:
    fields = line.split()
    if fields[1].endswith(":" + port):
        print(fields[-1], flush=True)
"""

_STARTED: list[subprocess.Popen] = []


@pytest.fixture
def testbed():
    with testbeds.Testbed("dwn") as tb:        # namespaces of this file's own
        yield tb
        for proc in _STARTED:                   # a failed test's ebcap goes too
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        _STARTED.clear()


def start_ebcap(tb, out: Path, *extra: str) -> subprocess.Popen:
    proc = start_listening([EBCAP, "--drops", "--netns", tb.left.netns, "-n", "-U", "-w", str(out),
                            *extra])
    _STARTED.append(proc)
    return proc


def stop_ebcap(proc: subprocess.Popen) -> str:
    return stop_listening(proc, settle=0.5)


def full_receiver(tb, port: int, name: str) -> subprocess.Popen:
    proc = tb.popen(tb.left, [sys.executable, "-I", "-c", FULL_RECEIVER, str(port), name],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def dropped_on(proc: subprocess.Popen) -> int:
    """A full_receiver's socket's drop count, and the receiver gone."""
    proc.stdin.write("end\n")
    proc.stdin.flush()
    count = int(proc.stdout.readline())
    proc.wait(timeout=10)
    return count


def sender(tb, addr: str, port: int, count: int, name: str, size: int = 1000) -> subprocess.Popen:
    return owner_senders.sender(tb, tb.left, addr, port, count, name, size, gap=0.003)


def drops(path: Path) -> list:
    """(reason, UDP destination port, the packet) of each drop in the file."""
    with open(path, "rb") as stream:
        packets = list(CaptureFileReader(stream, str(path)))
    out = []
    for p in packets:
        reason = next(c[len("Drop: "):] for c in p.comments if c.startswith("Drop: "))
        ip = p.data[14:]
        dport = int.from_bytes(ip[(ip[0] & 0xF) * 4 + 2:][:2], "big") if ip[9] == 17 else 0
        out.append((reason, dport, p))
    return out


def test_drops_carry_the_owner_of_their_socket(testbed, tmp_path):
    """A full receive buffer's drops name the receiver, whose socket it is; a closed port's
    have no socket, so no owner; the file's comments are ptcpdump's, after the drop's."""
    tb, out = testbed, tmp_path / "owners.pcapng"
    ebcap = start_ebcap(tb, out, "--owners", "udp")
    receiver = full_receiver(tb, 6100, "dwn-slow")
    loud = sender(tb, "127.0.0.1", 6100, 60, "dwn-loud")
    closed = sender(tb, "127.0.0.1", 9, 3, "dwn-closed", size=20)
    send_together(loud, closed)
    dropped = dropped_on(receiver)
    err = stop_ebcap(ebcap)
    finish(loud, closed)

    found = drops(out)
    full = [p for reason, dport, p in found if reason == "SOCKET_RCVBUFF" and dport == 6100]
    assert dropped > 0 and len(full) == dropped, err       # every drop on that socket
    assert {(p.owner.pid, p.owner.thread) for p in full} == {(receiver.pid, "dwn-slow")}
    netns = os.stat(f"/run/netns/{tb.left.netns}").st_ino
    first = full[0]
    assert first.comments[0] == "Drop: SOCKET_RCVBUFF"
    assert first.comments[1].startswith("Location: udp")
    assert first.comments[2].startswith(f"PID: {receiver.pid}\nCmd: ")
    assert first.comments[3] == f"ThreadId: {receiver.pid}\nThreadName: dwn-slow"
    assert f"NetNs: {netns}" in first.comments
    unreachable = [p for reason, dport, p in found if dport == 9]
    assert [reason for reason, dport, _p in found if dport == 9] == ["NO_SOCKET"] * 3
    assert all(p.owner is None for p in unreachable)
    assert len(found) == dropped + 3

    proc = tshark("-r", str(out), "-T", "fields", "-e", "frame.comment")
    assert proc.returncode == 0 and proc.warnings == []
    assert sum(f"PID: {receiver.pid}\\nCmd: " in line for line in proc.stdout.splitlines()) \
        == dropped
    lines = subprocess.run([str(EBCAP), "-r", str(out), "-n"], capture_output=True,
                           text=True, check=True).stdout.splitlines()
    owned = [line for line in lines if f".{receiver.pid} " in line]
    assert len(owned) == dropped
    assert all(line.endswith("[drop SOCKET_RCVBUFF at udp_queue_rcv_one_skb]") for line in owned)
    records = [json.loads(line) for line in subprocess.run(
        [str(EBCAP), "-r", str(out), "--json"], capture_output=True, text=True,
        check=True).stdout.splitlines()]
    assert sum(r.get("owner", {}).get("pid") == receiver.pid
               and r["drop"]["reason"] == "SOCKET_RCVBUFF" for r in records) == dropped


def test_a_drop_on_the_way_out_names_its_sender(testbed, tmp_path):
    """The skb's own socket: TC egress drops every datagram two senders send; --pid chooses one
    sender's, --comm the other's, each 100% of them and none of the other's."""
    tb = testbed
    by_pid, by_comm = tmp_path / "pid.pcapng", tmp_path / "comm.pcapng"
    static_ipv4_neighbour(tb, tb.left, tb.right)
    dropper = drop_ingress(tb, tb.left, "egress")
    first = sender(tb, tb.right.ipv4, 7600, 40, "dwn-first", size=64)
    second = sender(tb, tb.right.ipv4, 7601, 40, "dwn-second", size=64)
    pid_cap = start_ebcap(tb, by_pid, "--pid", str(first.pid))
    comm_cap = start_ebcap(tb, by_comm, "--comm", "dwn-second", "udp")
    send_together(first, second)
    stop_ebcap(pid_cap)
    stop_ebcap(comm_cap)
    finish(first, second)
    dropper.kill()
    dropper.wait()

    chosen = drops(by_pid)
    assert len(chosen) == 40 and {d for _r, d, _p in chosen} == {7600}
    assert {r for r, _d, _p in chosen} == {"TC_EGRESS"}
    assert {(p.owner.pid, p.owner.thread) for _r, _d, p in chosen} == {(first.pid, "dwn-first")}
    chosen = drops(by_comm)
    assert len(chosen) == 40 and {d for _r, d, _p in chosen} == {7601}
    assert {(p.owner.pid, p.owner.thread) for _r, _d, p in chosen} == {(second.pid, "dwn-second")}
    for path in (by_pid, by_comm):
        proc = tshark("-r", str(path))
        assert proc.returncode == 0 and proc.warnings == []


def test_pid_chooses_one_full_receiver_of_two(testbed, tmp_path):
    tb, out = testbed, tmp_path / "receivers.pcapng"
    wanted = full_receiver(tb, 6200, "dwn-wanted")
    other = full_receiver(tb, 6201, "dwn-other")
    ebcap = start_ebcap(tb, out, "--pid", str(wanted.pid))
    senders = [sender(tb, "127.0.0.1", port, 50, "dwn-send") for port in (6200, 6201)]
    send_together(*senders)
    counts = [dropped_on(wanted), dropped_on(other)]
    stop_ebcap(ebcap)
    finish(*senders)
    found = drops(out)
    assert counts[0] > 0 and counts[1] > 0
    assert len(found) == counts[0]
    assert {(r, d) for r, d, _p in found} == {("SOCKET_RCVBUFF", 6200)}
    assert {p.owner.pid for _r, _d, p in found} == {wanted.pid}


RUN_CODE = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[3])):
    s.sendto(b"r" * 32, (sys.argv[1], int(sys.argv[2]))); time.sleep(0.003)
sys.exit(5)
"""


def test_run_captures_the_commands_drops_and_exits_with_its_status(testbed, tmp_path):
    tb, out = testbed, tmp_path / "run.pcapng"
    static_ipv4_neighbour(tb, tb.left, tb.right)
    dropper = drop_ingress(tb, tb.left, "egress")
    other = sender(tb, tb.right.ipv4, 7701, 400, "dwn-other", size=32)
    other.stdin.write("go\n")       # sending all along, while ebcap starts and the command runs
    other.stdin.flush()
    command = shlex.join([sys.executable, "-I", "-c", RUN_CODE, tb.right.ipv4, "7700", "30"])
    proc = subprocess.run([EBCAP, "--drops", "--netns", tb.left.netns, "-n", "-w", str(out),
                           "--run", command], capture_output=True, text=True, timeout=60)
    assert other.stdout.readline().strip() == "sent"
    finish(other)
    dropper.kill()
    dropper.wait()
    assert proc.returncode == 5, proc.stderr
    found = drops(out)
    assert len(found) == 30 and {(r, d) for r, d, _p in found} == {("TC_EGRESS", 7700)}
    assert len({p.owner.pid for _r, _d, p in found}) == 1


def _link_exists(link_id: int) -> bool:
    return subprocess.run(["bpftool", "link", "show", "id", str(link_id)],
                          capture_output=True).returncode == 0


def link_and_program_types(links) -> list[tuple[str, str]]:
    kinds = []
    for link_id in links:
        shown = json.loads(subprocess.run(["bpftool", "-j", "link", "show", "id", str(link_id)],
                                          capture_output=True, text=True, check=True).stdout)
        prog = json.loads(subprocess.run(["bpftool", "-j", "prog", "show", "id",
                                          str(shown["prog_id"])],
                                         capture_output=True, text=True, check=True).stdout)
        kinds.append((shown["type"], prog["type"]))
    return kinds


def test_a_killed_ebcap_leaves_no_program_or_link(testbed, tmp_path):
    tb = testbed
    ebcap = start_ebcap(tb, tmp_path / "killed.pcapng", "--comm", "dwn-nobody")
    try:
        progs, links = bpf_ids_held_by(ebcap.pid)
        kinds = link_and_program_types(links)
    finally:
        ebcap.send_signal(signal.SIGKILL)
        ebcap.wait()
    # the BTF tracepoint program (its link is made by BPF_RAW_TRACEPOINT_OPEN) and the hooks
    assert sorted(kinds) == [("cgroup", "cgroup_sock")] + [("cgroup", "cgroup_sock_addr")] * 4 \
        + [("raw_tracepoint", "tracing")], kinds
    deadline = time.monotonic() + 5
    while any(_link_exists(i) for i in links) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_link_exists(i) for i in links)
    # a tracing program is freed after an RCU tasks-trace grace period, which can take seconds
    # on a busy host: wait for it, as for the links
    deadline = time.monotonic() + 15
    while True:
        shown = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
        left = [i for i in progs if re.search(rf"^{i}: ", shown, re.M)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not left, shown


def test_doctor_says_drop_owners_work():
    proc = subprocess.run([str(EBCAP), "doctor"], capture_output=True, text=True)
    assert proc.returncode == 0
    line = next(l for l in proc.stdout.splitlines() if l.startswith("drop owners (--owners)"))
    assert line.endswith("yes (tp_btf/kfree_skb with socket-local storage)"), line


def test_bad_owner_input_is_one_line_and_attaches_nothing():
    for args, message in ((["--pid", "999999999"], "--pid 999999999: no such process"),
                          (["--cgroup", "/ebcap-no-such"], "--cgroup /ebcap-no-such: no such cgroup"),
                          (["--run", "ebcap-no-such-command"],
                           "--run: ebcap-no-such-command: command not found")):
        proc = subprocess.run([str(EBCAP), "--drops", *args], capture_output=True, text=True)
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines() == [f"ebcap: {message}"]
