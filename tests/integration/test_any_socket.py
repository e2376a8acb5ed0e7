"""-i any by packet socket (capture/kernel/packet_socket.py): one ETH_P_ALL socket per link type
with bpf/ebcap.c's ebcap_socket as its filter, instead of a tcx link per interface. In a
namespace with ~300 interfaces, against tcpdump -i any on the same traffic."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ebcap.capture.pcapng.format import (BT_ISB, ISB_FILTERACCEPT, ISB_USRDELIV, iter_options,
                                         walk_blocks)
from ebcap.capture.pcapng.reader import CaptureFileReader
from tests.helpers.kernel_state import bpf_ids_held_by, ebcap_programs, tcx_links
from tests.helpers.paths import EBCAP
from tests.helpers.processes import ebcap, read_packets, tcpdump

pytestmark = pytest.mark.kernel

IDLE_PAIRS = 140        # veth pairs inside the namespace: with PAIRS, lo and the testbed's
                        # veth, ~300 interfaces (no dummy module on this kernel)
PAIRS = 8
ECHO = "icmp[icmptype] = icmp-echo or icmp[icmptype] = icmp-echoreply"
SLL2_HEADER = struct.Struct("!HHIHBB8s")    # protocol, reserved, ifindex, hatype, pkttype...
PACKET_OUTGOING = 4


def _batch(netns: str, lines: list[str]) -> None:
    subprocess.run(["ip", "-n", netns, "-batch", "-"], input="\n".join(lines) + "\n",
                   text=True, check=True)


@pytest.fixture
def crowded(testbed):
    """The testbed with IDLE_PAIRS veth pairs inside the left namespace and PAIRS more to the
    right side (198.18.(10+n).1 <-> .2), all up. The namespaces, and with them the interfaces,
    go with the testbed."""
    tb = testbed
    _batch(tb.left.netns, [line for n in range(IDLE_PAIRS) for line in
                           (f"link add a{n} type veth peer name b{n}", f"link set a{n} up",
                            f"link set b{n} up")])
    lines = []
    for n in range(PAIRS):
        lines += [f"link add p{n} type veth peer name q{n} netns {tb.right.netns}",
                  f"addr add 198.18.{10 + n}.1/24 dev p{n}", f"link set p{n} up"]
    _batch(tb.left.netns, lines)
    _batch(tb.right.netns, [line for n in range(PAIRS) for line in
                            (f"addr add 198.18.{10 + n}.2/24 dev q{n}", f"link set q{n} up")])
    return tb


def _names_by_index(tb, host) -> dict[int, str]:
    out = tb.run(host, ["ip", "-j", "link", "show"], capture_output=True, text=True).stdout
    return {link["ifindex"]: link["ifname"] for link in json.loads(out)}


def _ours(path: Path) -> list[tuple[str, str, bytes]]:
    """(interface, In/Out, bytes from the IP header on) of each packet of an ebcap file."""
    with open(path, "rb") as f:
        reader = CaptureFileReader(f, str(path))
        packets = list(reader)
        names = [i.name for i in reader.interfaces]
    return sorted((names[p.interface], "Out" if p.direction == 2 else "In", bytes(p.data[14:42]))
                  for p in packets)


def _theirs(path: Path, names: dict[int, str]) -> list[tuple[str, str, bytes]]:
    """The same for tcpdump -i any's LINUX_SLL2 file."""
    out = []
    for _ts, _caplen, _wirelen, data, _direction in read_packets(path):
        _proto, _res, ifindex, _hatype, pkttype, _alen, _addr = SLL2_HEADER.unpack_from(data)
        out.append((names[ifindex], "Out" if pkttype == PACKET_OUTGOING else "In",
                    bytes(data[20:48])))
    return sorted(out)


def _isb_counts(path: Path) -> tuple[list[str], dict[int, dict[int, int]]]:
    """(interface names, interface id -> {isb option code: value}) of an ebcap file."""
    data = path.read_bytes()
    with open(path, "rb") as f:
        reader = CaptureFileReader(f, str(path))
        list(reader)
        names = [i.name for i in reader.interfaces]
    stats = {}
    for block in walk_blocks(data):
        if block.type == BT_ISB:
            stats[struct.unpack_from("<I", block.body)[0]] = {
                code: struct.unpack("<Q", value)[0]
                for code, value in iter_options(block.body, 12) if len(value) == 8}
    return names, stats


def _ping_every_pair(tb) -> None:
    tb.ping(tb.left, tb.right.ipv4, count=1)
    for n in range(PAIRS):
        tb.ping(tb.left, f"198.18.{10 + n}.2", count=1)
    tb.ping(tb.left, "127.0.0.1", count=1)


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _packet_sockets(tb, host) -> dict[int, int]:
    """inode -> protocol of the namespace's packet sockets (/proc/net/packet)."""
    out = tb.run(host, ["cat", "/proc/net/packet"], capture_output=True, text=True).stdout
    rows = [line.split() for line in out.splitlines()[1:]]
    return {int(row[8]): int(row[3], 16) for row in rows}


def test_same_packets_as_tcpdump_any_over_300_interfaces(crowded, tmp_path):
    tb = crowded
    ours, theirs = tmp_path / "any.pcapng", tmp_path / "any.pcap"
    cap = ebcap(tb, tb.left, "-i", "any", "-w", str(ours), ECHO)
    ref = tcpdump(tb, tb.left, "-i", "any", "-w", str(theirs), ECHO)
    _ping_every_pair(tb)
    time.sleep(0.3)
    status, err = cap.stop()
    ref.stop()
    assert status == 0 and "listening on any" in err, err
    captured = _ours(ours)
    # every pair's request out and reply in, and lo's two once each (as they come in)
    assert len(captured) == 2 * (PAIRS + 1) + 2
    assert captured == _theirs(theirs, _names_by_index(tb, tb.left))
    # each interface's ISB: what its packets were (the ring walk counts them per interface),
    # and what the kernel accepted for it (the interfaces past slot 256 are in the hash)
    per_name: dict[str, int] = {}
    for name, _way, _ in captured:
        per_name[name] = per_name.get(name, 0) + 1
    names, stats = _isb_counts(ours)
    delivered = {names[i]: c[ISB_USRDELIV] for i, c in stats.items() if c[ISB_USRDELIV]}
    accepted = {names[i]: c[ISB_FILTERACCEPT] for i, c in stats.items() if c[ISB_FILTERACCEPT]}
    assert delivered == per_name and accepted == per_name
    assert len(stats) == len(names) >= 2 * IDLE_PAIRS + PAIRS + 2


def test_one_packet_socket_and_no_tcx_link(crowded, tmp_path):
    tb = crowded
    cap = ebcap(tb, tb.left, "-i", "any", "-w", str(tmp_path / "a"))
    progs, links = bpf_ids_held_by(cap.proc.pid)
    kinds = {p["name"]: p["type"] for p in ebcap_programs() if p["id"] in progs}
    assert kinds == {"ebcap_socket": "socket_filter"}
    assert links == set() and tcx_links() == []
    held = _packet_sockets(tb, tb.left).keys() & _socket_inodes(cap.proc.pid)
    assert [_packet_sockets(tb, tb.left)[i] for i in held] == [0x0003]     # ETH_P_ALL
    status, _err = cap.stop()
    assert status == 0


@pytest.mark.parametrize("extra,env", [([], {"EBCAP_ANY": "tc"}), (["--owners"], {})],
                         ids=["EBCAP_ANY=tc", "--owners"])
def test_tc_where_asked_or_owners_need_it(testbed, tmp_path, extra, env):
    """--netns rather than ip netns exec, which hides the cgroup v2 mount --owners needs."""
    tb = testbed
    proc = subprocess.Popen([str(EBCAP), "--netns", tb.left.netns, "-i", "any", "-w",
                             str(tmp_path / "a"), *extra], stderr=subprocess.PIPE,
                            env=dict(os.environ, **env))
    try:
        line = proc.stderr.readline().decode()
        assert "listening on any" in line, line + proc.stderr.read().decode()
        progs, links = bpf_ids_held_by(proc.pid)
        names = {p["name"] for p in ebcap_programs() if p["id"] in progs}
        assert "ebcap_socket" not in names and "ebcap_ingress" in names
        assert len(links) >= 3      # lo's one hook, the veth's two (and --owners' cgroup links)
        tb.ping(tb.left, tb.right.ipv4, count=1)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_too_long_for_optmem_max_goes_to_tc(testbed, tmp_path):
    """net.core.optmem_max is per namespace: in the capture's, too small for the program."""
    tb = testbed
    tb.run(tb.left, ["sysctl", "-qw", "net.core.optmem_max=2048"])
    out = tmp_path / "a.pcapng"
    cap = ebcap(tb, tb.left, "-i", "any", "-w", str(out), ECHO)
    _progs, links = bpf_ids_held_by(cap.proc.pid)
    assert len(links) == 3
    tb.ping(tb.left, tb.right.ipv4, count=1)
    time.sleep(0.3)
    status, err = cap.stop()
    assert status == 0, err
    assert len(read_packets(out)) == 2


def test_interfaces_that_appear_later_are_captured(crowded, tmp_path):
    tb = crowded
    out = tmp_path / "late.pcapng"
    cap = ebcap(tb, tb.left, "-i", "any", "-w", str(out), ECHO)
    _batch(tb.left.netns, [f"link add late type veth peer name late-r netns {tb.right.netns}",
                           "addr add 198.18.99.1/24 dev late", "link set late up"])
    _batch(tb.right.netns, ["addr add 198.18.99.2/24 dev late-r", "link set late-r up"])
    time.sleep(1.0)                 # the netlink notification is handled well within this
    tb.ping(tb.left, "198.18.99.2", count=3)
    time.sleep(0.3)
    status, err = cap.stop()
    assert status == 0, err
    captured = _ours(out)
    assert [(name, way) for name, way, _ in captured] == \
        [("late", "In")] * 3 + [("late", "Out")] * 3


@pytest.mark.parametrize("direction", ["in", "out"])
def test_direction_from_the_packet_type(crowded, tmp_path, direction):
    tb = crowded
    out = tmp_path / "q.pcapng"
    cap = ebcap(tb, tb.left, "-i", "any", "-Q", direction, "-w", str(out), ECHO)
    _ping_every_pair(tb)
    time.sleep(0.3)
    status, err = cap.stop()
    assert status == 0, err
    captured = _ours(out)
    way = "In" if direction == "in" else "Out"
    # one of each pair's two, and on lo (every packet leaves and comes back) both, once
    assert len(captured) == PAIRS + 1 + 2
    assert {w for _name, w, _ in captured} == {way}
    assert sum(1 for name, _w, _ in captured if name == "lo") == 2


def test_no_interface_becomes_promiscuous(crowded, tmp_path):
    tb = crowded
    cap = ebcap(tb, tb.left, "-i", "any", "-w", str(tmp_path / "a"))
    out = tb.run(tb.left, ["ip", "-d", "-j", "link", "show"], capture_output=True,
                 text=True).stdout
    links = json.loads(out)
    assert len(links) >= 2 * IDLE_PAIRS + PAIRS + 2
    assert [link["ifname"] for link in links if link.get("promiscuity")] == []
    cap.stop()


def test_sigkill_takes_the_socket_and_its_program_along(crowded, tmp_path):
    tb = crowded
    out = tmp_path / "killed.pcapng"
    cap = ebcap(tb, tb.left, "-i", "any", "-w", str(out), ECHO)
    progs, _links = bpf_ids_held_by(cap.proc.pid)
    sockets = _packet_sockets(tb, tb.left).keys() & _socket_inodes(cap.proc.pid)
    assert len(progs) == 1 and len(sockets) == 1
    _ping_every_pair(tb)
    time.sleep(1.5)                 # past one flush
    cap.proc.send_signal(signal.SIGKILL)
    cap.proc.wait()

    def left_behind():
        return (progs & {p["id"] for p in ebcap_programs()},
                sockets & _packet_sockets(tb, tb.left).keys())

    deadline = time.monotonic() + 5
    while left_behind() != (set(), set()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left_behind() == (set(), set())
    assert len(read_packets(out)) == 2 * (PAIRS + 1) + 2


def test_Z_keeps_capturing_interfaces_that_appear_later(testbed):
    """After -Z no privilege is left (docs/security.md); the socket opened before the drop sees
    a new interface, and registering it is a map update through a descriptor ebcap holds."""
    tb = testbed
    shared = Path(tempfile.mkdtemp(prefix="ebcap-Z-"))
    os.chmod(shared, 0o777)
    out = shared / "z.pcapng"
    try:
        cap = ebcap(tb, tb.left, "-i", "any", "-Z", "nobody", "-w", str(out), ECHO)
        status_lines = dict(line.split(":", 1) for line in
                            Path(f"/proc/{cap.proc.pid}/status").read_text().splitlines())
        assert int(status_lines["CapEff"], 16) == 0
        _batch(tb.left.netns, [f"link add late type veth peer name late-r netns "
                               f"{tb.right.netns}", "addr add 198.18.99.1/24 dev late",
                               "link set late up"])
        _batch(tb.right.netns, ["addr add 198.18.99.2/24 dev late-r", "link set late-r up"])
        time.sleep(1.0)
        tb.ping(tb.left, "198.18.99.2", count=2)
        time.sleep(0.3)
        status, err = cap.stop()
        assert status == 0, err
        assert "not captured" not in err
        assert out.stat().st_uid == 65534
        assert [name for name, _way, _ in _ours(out)] == ["late"] * 4
    finally:
        shutil.rmtree(shared)


def test_dumps_show_what_any_loads():
    """-d compiles for Ethernet (each link type of -i any gets its own program); --dump-ebpf
    shows the socket filter, or the TC hooks with EBCAP_ANY=tc."""
    def run(*args, **env):
        return subprocess.run([str(EBCAP), "-i", "any", *args, "udp"], capture_output=True,
                              text=True, timeout=120, env=dict(os.environ, **env))
    classic = run("-d")
    assert classic.returncode == 0 and classic.stdout.startswith("(000) ldh      [12]")
    programs = [line.split(":")[0] for line in run("--dump-ebpf").stdout.splitlines()
                if line.startswith("; ebcap_")]
    assert programs == ["; ebcap_socket"]
    programs = [line.split(":")[0] for line in run("--dump-ebpf", EBCAP_ANY="tc").stdout
                .splitlines() if line.startswith("; ebcap_")]
    assert programs == ["; ebcap_ingress", "; ebcap_egress"]


# A tun device held open (so it has a carrier and what is routed to it leaves through it) for as
# long as this runs; it prints "ready" once the device exists.
_TUN_HOLDER = r"""
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
# TUNSETIFF: IFF_TUN | IFF_NO_PI
fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", b"anytun", 0x0001 | 0x1000))
print("ready", flush=True)
time.sleep(60)
"""


def test_two_link_types_two_sockets(testbed, tmp_path):
    """A raw-IP tun beside the Ethernet veth: each link type has its program and its socket, and
    each socket's filter takes only its own link type's interfaces."""
    tb = testbed
    holder = tb.popen(tb.left, [sys.executable, "-I", "-c", _TUN_HOLDER], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"ready"
    _batch(tb.left.netns, ["addr add 198.18.50.1/24 dev anytun", "link set anytun up"])
    out = tmp_path / "two.pcapng"
    cap = ebcap(tb, tb.left, "-i", "any", "-w", str(out), "udp port 4444")
    assert "EN10MB (Ethernet), RAW (Raw IP)" in cap.stderr.decode()
    held = _packet_sockets(tb, tb.left).keys() & _socket_inodes(cap.proc.pid)
    assert len(held) == 2
    tb.udp_packets(tb.left, "198.18.50.2", 4444, count=2)
    tb.udp_packets(tb.left, tb.right.ipv4, 4444, count=3)
    time.sleep(0.3)
    status, err = cap.stop()
    assert status == 0, err
    with open(out, "rb") as f:
        reader = CaptureFileReader(f, str(out))
        packets = list(reader)
        interfaces = reader.interfaces
    seen = sorted((interfaces[p.interface].name, interfaces[p.interface].linktype,
                   p.data[0] >> 4 if interfaces[p.interface].linktype == 101 else p.data[14] >> 4)
                  for p in packets)
    assert seen == [("anytun", 101, 4)] * 2 + [(tb.left.ifname, 1, 4)] * 3
    holder.kill()


def test_interfaces_that_come_up_later_or_in_a_crowd_are_captured(crowded, tmp_path):
    """A link notification says how the interface is now (capture/net/interfaces.py's
    LinkWatcher): one that was down at the start is captured once it comes up, and a hundred
    made at once are all registered, also should their notifications overflow the socket (a
    dump then)."""
    tb = crowded
    out = tmp_path / "crowd.pcapng"
    _batch(tb.left.netns, [f"link add sleepy type veth peer name sleepy-r netns "
                           f"{tb.right.netns}", "addr add 198.18.98.1/24 dev sleepy"])
    _batch(tb.right.netns, ["addr add 198.18.98.2/24 dev sleepy-r", "link set sleepy-r up"])
    cap = ebcap(tb, tb.left, "-i", "any", "-w", str(out), ECHO)
    _batch(tb.left.netns, [line for n in range(50) for line in
                           (f"link add c{n} type veth peer name d{n}", f"link set c{n} up",
                            f"link set d{n} up")] + ["link set sleepy up"])
    time.sleep(1.0)
    tb.ping(tb.left, "198.18.98.2", count=2)
    time.sleep(0.3)
    status, err = cap.stop()
    assert status == 0, err
    names, _stats = _isb_counts(out)
    crowd = {f"{side}{n}" for side in "cd" for n in range(50)}
    assert crowd <= set(names) and len(names) == len(set(names))
    assert [(name, way) for name, way, _ in _ours(out)] == \
        [("sleepy", "In")] * 2 + [("sleepy", "Out")] * 2
