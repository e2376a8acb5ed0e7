"""Daily tcpdump workflows: several interfaces and -i any, rotation, -Z, --netns, -F."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
import re
import struct
import subprocess
import time

import pytest

from ebcap.capture.pcapng.reader import CaptureFileReader
from tests.helpers.processes import ebcap, read_packets, tcpdump, tshark
from tests.helpers.paths import EBCAP

pytestmark = pytest.mark.kernel

ECHO = "icmp[icmptype] = icmp-echo or icmp[icmptype] = icmp-echoreply"


def interfaces_and_packets(path):
    with open(path, "rb") as f:
        reader = CaptureFileReader(f, str(path))
        packets = list(reader)
        return [i.name for i in reader.interfaces], packets


def test_any_includes_interfaces_that_appear_during_the_capture(testbed, tmp_path):
    tb = testbed
    ours, theirs = tmp_path / "any.pcapng", tmp_path / "any.pcap"
    cap = ebcap(tb, tb.left, "-i", "any", "-w", str(ours), ECHO)
    ref = tcpdump(tb, tb.left, "-i", "any", "-w", str(theirs), ECHO)
    tb.ping(tb.left, tb.right.ipv4, count=2)
    # a new veth pair appears while both captures run
    tb.run(tb.left, ["ip", "link", "add", "new-l", "type", "veth", "peer", "name", "new-r",
                     "netns", tb.right.netns])
    tb.run(tb.left, ["ip", "addr", "add", "198.18.7.1/24", "dev", "new-l"])
    tb.run(tb.right, ["ip", "addr", "add", "198.18.7.2/24", "dev", "new-r"])
    tb.run(tb.left, ["ip", "link", "set", "new-l", "up"])
    tb.run(tb.right, ["ip", "link", "set", "new-r", "up"])
    time.sleep(2.5)                         # ebcap looks for new interfaces every second
    tb.ping(tb.left, "198.18.7.2", count=3)
    time.sleep(0.3)
    status, err = cap.stop()
    ref.stop()
    assert status == 0 and "listening on any" in err
    names, packets = interfaces_and_packets(ours)
    assert {"lo", tb.left.ifname, "new-l"} <= set(names)
    per_iface = {}
    for p in packets:
        per_iface[names[p.interface]] = per_iface.get(names[p.interface], 0) + 1
    assert per_iface == {tb.left.ifname: 4, "new-l": 6}
    # tcpdump -i any (LINUX_SLL2) saw the same ICMP packets, the same bytes from IP on
    ours_ip = sorted(p.data[14:] for p in packets)
    theirs_ip = sorted(p[3][20:] for p in read_packets(theirs))
    assert [d[:28] for d in ours_ip] == [d[:28] for d in theirs_ip]
    proc = tshark("-r", str(ours))
    assert proc.returncode == 0 and proc.warnings == []


def test_several_interfaces_and_printed_lines_name_them(testbed):
    tb = testbed
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-i", "lo", "-n", "-l", ECHO,
                stdout=subprocess.PIPE)
    tb.ping(tb.left, tb.right.ipv4, count=1)
    tb.ping(tb.left, "127.0.0.1", count=1)
    time.sleep(0.3)
    cap.proc.send_signal(2)
    out, _ = cap.proc.communicate(timeout=10)
    lines = out.decode().splitlines()
    assert len(lines) == 4
    prefixes = [re.split(r"\s+", line)[1:3] for line in lines]    # tcpdump -i any's columns
    assert sorted(prefixes) == sorted([[tb.left.ifname, "Out"], [tb.left.ifname, "In"],
                                       ["lo", "In"], ["lo", "In"]])


def send_udp(tb, count, size=1400):
    tb.udp_packets(tb.left, tb.right.ipv4, 9, count=count, size=size)


def test_size_rotation_names_and_no_loss(testbed, tmp_path):
    tb = testbed
    ebcap_dir, tcpdump_dir = tmp_path / "e", tmp_path / "t"
    ebcap_dir.mkdir(), tcpdump_dir.mkdir()
    os.chmod(tcpdump_dir, 0o777)            # tcpdump may drop to its own user for -C files
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-s", "0", "-C", "1",
                "-w", str(ebcap_dir / "out"), "udp port 9")
    ref = tcpdump(tb, tb.left, "-i", tb.left.ifname, "-s", "0", "-C", "1", "-Z", "root",
                  "-w", str(tcpdump_dir / "out"), "udp port 9")
    for _ in range(5):
        send_udp(tb, 600)
    time.sleep(0.5)
    cap.stop()
    ref.stop()
    ours = sorted((p.name for p in ebcap_dir.iterdir()), key=lambda n: (len(n), n))
    theirs = sorted((p.name for p in tcpdump_dir.iterdir()), key=lambda n: (len(n), n))
    # 3000 x 1442 bytes: five files, named as tcpdump names them (tcpdump itself may drop
    # some of these packets at full snaplen, so it can end with fewer files)
    assert ours == ["out", "out1", "out2", "out3", "out4"]
    assert len(theirs) >= 2 and theirs == ours[:len(theirs)]
    total = 0
    for name in ours:
        path = ebcap_dir / name
        proc = tshark("-r", str(path))
        assert proc.returncode == 0 and proc.warnings == []
        assert path.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"           # its own SHB
        assert struct.pack("<I", 5) in path.read_bytes()[-120:]       # and its own ISB
        total += len(read_packets(path))
    assert total == 3000                    # nothing lost or duplicated across rotations


def test_size_ring_with_W(testbed, tmp_path):
    tb = testbed
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-s", "0", "-C", "1", "-W", "2",
                "-w", str(tmp_path / "ring"), "udp port 9")
    for _ in range(5):
        send_udp(tb, 600)
    time.sleep(0.5)
    cap.stop()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ring0", "ring1"]


def test_time_rotation_stops_after_W_files(testbed, tmp_path):
    tb = testbed
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-G", "1", "-W", "2",
                "-w", str(tmp_path / "t-%s.pcapng"), "udp port 9")
    deadline = time.monotonic() + 15
    while cap.proc.poll() is None and time.monotonic() < deadline:
        send_udp(tb, 5, size=50)
        time.sleep(0.2)
    assert cap.proc.wait(timeout=5) == 0
    files = sorted(tmp_path.iterdir())
    assert len(files) == 2 and all(f.name.startswith("t-1") for f in files)
    for f in files:
        assert tshark("-r", str(f)).returncode == 0


def test_Z_drops_privileges_before_opening_files(testbed):
    tb = testbed
    shared = Path(tempfile.mkdtemp(prefix="ebcap-Z-"))     # reachable by nobody, unlike tmp_path
    os.chmod(shared, 0o777)
    out = shared / "z.pcapng"
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-Z", "nobody", "-w", str(out), "icmp")
    status_lines = dict(line.split(":", 1) for line in
                        Path(f"/proc/{cap.proc.pid}/status").read_text().splitlines())
    assert status_lines["Uid"].split() == ["65534"] * 4
    for capability_set in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status_lines[capability_set], 16) == 0, capability_set
    assert status_lines["NoNewPrivs"].strip() == "1"
    tb.ping(tb.left, tb.right.ipv4, count=1)
    time.sleep(0.3)
    status, err = cap.stop()
    assert status == 0, err
    assert out.stat().st_uid == 65534
    assert len(read_packets(out)) == 2
    assert "2 packets received by filter" in err     # counters still readable after the drop
    shutil.rmtree(shared)


def test_netns_flag_captures_in_another_namespace(testbed, tmp_path):
    tb = testbed
    out = tmp_path / "ns.pcapng"
    proc = subprocess.Popen([str(EBCAP), "--netns", tb.left.netns, "-i", tb.left.ifname,
                             "-w", str(out), "icmp"], stderr=subprocess.PIPE)
    try:
        line = proc.stderr.readline().decode()
        assert "listening on veth-l" in line
        tb.ping(tb.left, tb.right.ipv4, count=1)
        time.sleep(0.3)
        proc.send_signal(2)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert len(read_packets(out)) == 2


def test_filter_from_file(testbed, tmp_path):
    tb = testbed
    rules = tmp_path / "filter"
    rules.write_text("# echo replies only\nicmp[icmptype] = icmp-echoreply  # from the peer\n")
    out = tmp_path / "f.pcapng"
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-F", str(rules), "-w", str(out))
    tb.ping(tb.left, tb.right.ipv4, count=2)
    time.sleep(0.3)
    cap.stop()
    assert len(read_packets(out)) == 2


def test_list_and_choose_link_types_like_tcpdump(testbed):
    tb = testbed
    listing = ["-L", "-i", tb.left.ifname]
    ours = tb.run(tb.left, [str(EBCAP), *listing], capture_output=True, text=True)
    theirs = tb.run(tb.left, ["tcpdump", *listing], capture_output=True, text=True)
    # tcpdump also offers DOCSIS on Ethernet devices; at TC only the device's own type exists
    assert ours.stderr.splitlines() == theirs.stderr.splitlines()[:2]
    for argv in (["-y", "FOO", "-i", tb.left.ifname, "-d", "ip"],
                 ["-y", "LINUX_SLL", "-i", tb.left.ifname, "-d", "ip"]):
        ours = tb.run(tb.left, [str(EBCAP), *argv], check=False, capture_output=True, text=True)
        theirs = tb.run(tb.left, ["tcpdump", *argv], check=False, capture_output=True, text=True)
        assert ours.returncode == theirs.returncode
        assert ours.stdout == theirs.stdout
        assert ours.stderr.replace("ebcap:", "tcpdump:") == theirs.stderr
