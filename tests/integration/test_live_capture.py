"""Live capture end to end: ebcap and tcpdump on the same veth at the same time."""

from __future__ import annotations

import os
import re
import select
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest

from ebcap.capture.pcapng.format import (BT_ISB, ISB_FILTERACCEPT, ISB_IFRECV, ISB_USRDELIV,
                                         iter_options, walk_blocks)
from tests.helpers.processes import ebcap, in_time_order, read_packets, tcpdump, tshark
from tests.helpers.kernel_state import bpf_ids_held_by, ebcap_programs, tcx_links

pytestmark = pytest.mark.kernel


def noise(tb):
    """Traffic the filter `tcp port 443` must not select: TCP 80, UDP, ICMP, IPv6."""
    tb.tcp_exchange(tb.right, tb.left, tb.right.ipv4, 80, rounds=2)
    tb.udp_packets(tb.left, tb.right.ipv4, 5353)
    tb.udp_packets(tb.left, tb.right.ipv4, 443)          # UDP 443: not TCP
    tb.ping(tb.left, tb.right.ipv4)
    tb.ping(tb.left, tb.right.ipv6)


def test_same_packets_as_tcpdump_and_valid_for_tshark(testbed, tmp_path):
    tb = testbed
    ours, theirs = tmp_path / "ebcap.pcapng", tmp_path / "tcpdump.pcap"
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-w", str(ours), "tcp", "port", "443")
    ref = tcpdump(tb, tb.left, "-i", tb.left.ifname, "-s", "0", "-w", str(theirs),
                  "tcp port 443")
    noise(tb)
    tb.tcp_exchange(tb.right, tb.left, tb.right.ipv4, 443)
    noise(tb)
    tb.tcp_exchange(tb.right, tb.left, tb.right.ipv6, 443, rounds=2)
    time.sleep(0.3)
    status, err = cap.stop()
    ref.stop()
    assert status == 0, err

    got, want = in_time_order(read_packets(ours)), in_time_order(read_packets(theirs))
    assert len(want) >= 20
    assert len(got) == len(want)
    for (_, caplen, wirelen, data, _), (_, _, ref_len, ref_data, _) in zip(got, want):
        assert wirelen == ref_len
        assert data == ref_data[:caplen]           # the same packet, headers only
    assert f"{len(got)} packets captured" in err
    assert f"{len(got)} packets received by filter" in err
    assert "0 packets dropped by kernel" in err

    proc = tshark("-r", str(ours), "-T", "fields", "-e", "frame.interface_name",
                  "-e", "frame.packet_flags_direction", "-e", "tcp.port")
    assert proc.returncode == 0 and proc.warnings == []
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert len(rows) == len(got)
    assert {r[0] for r in rows} == {tb.left.ifname}
    assert {int(r[1], 16) for r in rows} == {1, 2}   # inbound and outbound, on every packet
    assert all("443" in r[2] for r in rows)
    info = subprocess.run(["capinfos", str(ours)], capture_output=True, text=True).stdout
    assert "Filter string = tcp port 443" in info
    assert "nanoseconds (9)" in info
    assert "Capture application: ebcap" in info


def _transport_end(data: bytes) -> int:
    """End of the transport header of an Ethernet frame (independent of bpf/ebcap.c)."""
    ethertype = struct.unpack_from("!H", data, 12)[0]
    if ethertype == 0x0800:
        ihl = (data[14] & 0xF) * 4
        proto, l4 = data[23], 14 + ihl
    else:
        proto, l4 = data[20], 54
        # Hop-by-hop, routing and destination options (the kernel's MLD reports carry a
        # hop-by-hop header; a capture that starts soon after the veth comes up sees them)
        while proto in (0, 43, 60) and l4 + 2 <= len(data):
            proto, l4 = data[l4], l4 + (data[l4 + 1] + 1) * 8
    if proto == 6:
        return l4 + (data[l4 + 12] >> 4) * 4
    return l4 + 8


def test_headers_only_caplen(testbed, tmp_path):
    tb = testbed
    ours, theirs = tmp_path / "e.pcapng", tmp_path / "t.pcap"
    # The test's own traffic only: link-local chatter when the veth comes up (MLD reports, from
    # fe80:: or ::) reaches whichever tool is listening first, and ebcap, with a cached program,
    # is often ready before tcpdump.
    traffic = f"ip host {tb.left.ipv4} or ip6 host {tb.left.ipv6}"
    cap = ebcap(tb, tb.right, "-i", tb.right.ifname, "-w", str(ours), traffic)
    ref = tcpdump(tb, tb.right, "-i", tb.right.ifname, "-s", "0", "-w", str(theirs), traffic)
    tb.tcp_exchange(tb.right, tb.left, tb.right.ipv4, 5000)
    tb.tcp_exchange(tb.right, tb.left, tb.right.ipv6, 5001)
    tb.udp_packets(tb.left, tb.right.ipv4, 53, size=300)
    tb.udp_packets(tb.left, tb.right.ipv6, 53, size=300)
    tb.ping(tb.left, tb.right.ipv4)
    tb.ping(tb.left, tb.right.ipv6)
    time.sleep(0.3)
    cap.stop()
    ref.stop()
    ip_packets = [p for p in read_packets(ours) if p[3][12:14] in (b"\x08\x00", b"\x86\xdd")]
    assert len(ip_packets) == len(read_packets(theirs)) >= 30
    protos = set()
    for _, caplen, wirelen, data, _ in ip_packets:
        expected = _transport_end(data)
        assert caplen == min(expected, wirelen), data.hex()
        protos.add((data[12:14], data[23] if data[12:14] == b"\x08\x00" else data[20]))
    # TCP (with options), UDP, ICMP over IPv4 and TCP, UDP, ICMPv6 over IPv6 were all checked
    assert protos >= {(b"\x08\x00", 6), (b"\x08\x00", 17), (b"\x08\x00", 1),
                      (b"\x86\xdd", 6), (b"\x86\xdd", 17), (b"\x86\xdd", 58)}


ECHO = "icmp[icmptype] = icmp-echo or icmp[icmptype] = icmp-echoreply"


def test_snaplen_count_and_direction(testbed, tmp_path):
    tb = testbed
    snap, count, inbound, outbound = (tmp_path / n for n in ("s", "c", "in", "out"))
    caps = [
        ebcap(tb, tb.left, "-i", tb.left.ifname, "-s", "100", "-w", str(snap), "udp"),
        ebcap(tb, tb.left, "-i", tb.left.ifname, "-c", "5", "-w", str(count), "icmp"),
        ebcap(tb, tb.left, "-i", tb.left.ifname, "-Q", "in", "-w", str(inbound), ECHO),
        ebcap(tb, tb.left, "-i", tb.left.ifname, "-Q", "out", "-w", str(outbound), ECHO),
    ]
    tb.udp_packets(tb.left, tb.right.ipv4, 9999, count=3, size=500)
    tb.udp_packets(tb.left, tb.right.ipv4, 9999, count=2, size=20)
    tb.ping(tb.left, tb.right.ipv4, count=4)
    time.sleep(0.3)
    # -c 5 ends by itself after 5 of the 8 ICMP packets
    _, err = caps[1].proc.communicate(timeout=10)
    assert caps[1].proc.returncode == 0
    for cap in caps[:1] + caps[2:]:
        assert cap.stop()[0] == 0
    sizes = [(caplen, wirelen) for _, caplen, wirelen, *_ in read_packets(snap)]
    assert sizes == [(100, 542)] * 3 + [(62, 62)] * 2
    assert len(read_packets(count)) == 5
    assert [p[4] for p in read_packets(inbound)] == [1] * 4
    assert [p[4] for p in read_packets(outbound)] == [2] * 4
    assert "5 packets captured" in err.decode()


def test_file_holds_a_trickle_of_packets_while_the_capture_runs(testbed, tmp_path):
    """Below the ring's wake-up mark nothing wakes the reader: a -w capture drains and flushes
    once a second (capture/session/drain.py), so a few packets are in the file, whole, within about
    a second, with ebcap still running."""
    tb = testbed
    path = tmp_path / "trickle.pcapng"
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-w", str(path), "udp port 9999")
    tb.udp_packets(tb.left, tb.right.ipv4, 9999, count=3)
    deadline = time.monotonic() + 3.0
    packets = []
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if path.stat().st_size > 0:
            packets = read_packets(path)
            if len(packets) == 3:
                break
    assert cap.proc.poll() is None
    assert len(packets) == 3
    assert cap.stop()[0] == 0


def test_interfaces_sharing_a_counter_slot_keep_their_ids_and_counts(testbed, tmp_path):
    """The kernel finds an interface's pcapng id and counters in slot ifindex % IFACE_SLOTS, or
    in a hash when another captured interface holds that slot: here a second veth whose ifindex
    is the first one's plus IFACE_SLOTS."""
    import json
    from ebcap.capture.kernel.maps import IFACE_SLOTS
    tb = testbed
    out = tb.run(tb.left, ["ip", "-j", "link", "show", tb.left.ifname],
                 capture_output=True, text=True).stdout
    index = json.loads(out)[0]["ifindex"] + IFACE_SLOTS
    subprocess.run(["ip", "-n", tb.left.netns, "link", "add", "slot-a", "index", str(index),
                    "type", "veth", "peer", "name", "slot-b", "netns", tb.right.netns], check=True)
    for host, name, addr in ((tb.left, "slot-a", "198.18.77.1"), (tb.right, "slot-b", "198.18.77.2")):
        subprocess.run(["ip", "-n", host.netns, "addr", "add", f"{addr}/24", "dev", name], check=True)
        subprocess.run(["ip", "-n", host.netns, "link", "set", name, "up"], check=True)
    path = tmp_path / "two.pcapng"
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-i", "slot-a", "-w", str(path), "icmp")
    tb.ping(tb.left, tb.right.ipv4, count=2)
    tb.ping(tb.left, "198.18.77.2", count=3)
    code, err = cap.stop()
    assert code == 0, err
    fields = tshark("-r", str(path), "-T", "fields", "-e", "frame.interface_name", "-e", "ip.dst")
    rows = sorted(tuple(line.split("\t")) for line in fields.stdout.splitlines())
    assert rows == sorted([(tb.left.ifname, tb.right.ipv4), (tb.left.ifname, tb.left.ipv4)] * 2
                          + [("slot-a", "198.18.77.2"), ("slot-a", "198.18.77.1")] * 3)
    assert "10 packets captured" in err and "10 packets received by filter" in err
    stats = _isb_counts(path.read_bytes())
    assert [stats[i][ISB_FILTERACCEPT] for i in (0, 1)] == [4, 6]
    assert [stats[i][ISB_USRDELIV] for i in (0, 1)] == [4, 6]
    assert stats[0][ISB_IFRECV] >= 4 and stats[1][ISB_IFRECV] >= 6


def _isb_counts(data: bytes) -> dict[int, dict[int, int]]:
    """interface id -> {isb option code: value} for the 64-bit counters of each ISB."""
    out = {}
    for block in walk_blocks(data):
        if block.type == BT_ISB:                # interface id, timestamp, options
            out[struct.unpack_from("<I", block.body)[0]] = {
                code: struct.unpack("<Q", value)[0]
                for code, value in iter_options(block.body, 12) if len(value) == 8}
    return out


def test_promiscuous_mode_reverts(testbed, tmp_path):
    tb = testbed

    def promiscuity():
        out = tb.run(tb.left, ["ip", "-d", "-j", "link", "show", tb.left.ifname],
                     capture_output=True, text=True).stdout
        import json
        return json.loads(out)[0]["promiscuity"]

    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-w", str(tmp_path / "p"))
    assert promiscuity() == 1
    cap.proc.kill()                       # even SIGKILL: the kernel drops the membership
    cap.proc.wait()
    assert promiscuity() == 0
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-p", "-w", str(tmp_path / "q"))
    assert promiscuity() == 0
    cap.stop()


def test_sigkill_leaves_nothing_attached_and_file_opens(testbed, tmp_path):
    tb = testbed
    out = tmp_path / "killed.pcapng"
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-w", str(out), "icmp")
    ours, links = bpf_ids_held_by(cap.proc.pid)
    assert len(ours) == 2 and len(links) == 2
    assert {link["prog_id"] for link in tcx_links() if link["id"] in links} == ours
    tb.ping(tb.left, tb.right.ipv4, count=3)
    time.sleep(1.5)                       # past one flush interval
    cap.proc.send_signal(signal.SIGKILL)
    cap.proc.wait()

    def left_behind():
        return ours & ({p["id"] for p in ebcap_programs()} |
                       {link["prog_id"] for link in tcx_links()})

    deadline = time.monotonic() + 5
    while left_behind() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left_behind() == set()
    proc = tshark("-r", str(out))
    assert proc.returncode == 0 and proc.warnings == []
    assert len(proc.stdout.splitlines()) == 6


def test_sigterm_writes_statistics_block(testbed, tmp_path):
    tb = testbed
    out = tmp_path / "t.pcapng"
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-w", str(out), "icmp")
    tb.ping(tb.left, tb.right.ipv4, count=2)
    time.sleep(0.2)
    status, err = cap.stop(signal.SIGTERM)
    assert status == 0
    assert "4 packets captured" in err
    proc = tshark("-r", str(out), "-Y", "frame", "-T", "fields", "-e", "frame.number")
    assert proc.returncode == 0 and len(proc.stdout.split()) == 4
    info = subprocess.run(["capinfos", "-a", "-e", str(out)], capture_output=True, text=True)
    assert info.returncode == 0
    blocks = out.read_bytes()
    assert struct.pack("<I", 5) in blocks[-200:]          # an ISB at the end


def test_write_to_stdout_pipes_into_tshark(testbed):
    tb = testbed
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-w", "-", "-c", "4", "icmp",
                stdout=subprocess.PIPE)
    tb.ping(tb.left, tb.right.ipv4, count=2)
    data, _ = cap.proc.communicate(timeout=10)
    assert cap.proc.returncode == 0
    proc = subprocess.run(["tshark", "-r", "-"], input=data, capture_output=True, timeout=30)
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 4


def test_disk_full_leaves_valid_file(testbed, tmp_path):
    tb = testbed
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], check=True)
    try:
        out = mnt / "full.pcapng"
        cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-s", "0", "-U", "-w", str(out), "udp")
        tb.udp_packets(tb.left, tb.right.ipv4, 7, count=200, size=1000)
        status = cap.proc.wait(timeout=20)
        err = cap.stderr.decode() + cap.proc.stderr.read().decode()
        assert status == 1
        assert f"ebcap: {out}: No space left on device" in err
        proc = tshark("-r", str(out))
        assert proc.returncode == 0 and proc.warnings == []
        assert len(proc.stdout.splitlines()) > 10
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL])
def test_clsact_fallback_cleans_up_even_after_sigkill(testbed, tmp_path, stop):
    """Kernels before 6.6 have no tcx: clsact filters, removed by a guard process when ebcap
    ends however it ends. EBCAP_ATTACH=clsact takes that path on this kernel."""
    tb = testbed

    def tc_state():
        filters = tb.run(tb.left, ["tc", "filter", "show", "dev", tb.left.ifname, "ingress"],
                         capture_output=True, text=True).stdout
        qdiscs = tb.run(tb.left, ["tc", "qdisc", "show", "dev", tb.left.ifname],
                        capture_output=True, text=True).stdout
        return "ebcap_ingress" in filters, "clsact" in qdiscs

    out = tmp_path / "c.pcapng"
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-w", str(out), "icmp",
                env={**os.environ, "EBCAP_ATTACH": "clsact"})
    assert tc_state() == (True, True)
    tb.ping(tb.left, tb.right.ipv4, count=2)
    time.sleep(1.5)
    if stop == signal.SIGKILL:
        cap.proc.send_signal(stop)
        cap.proc.wait()
    else:
        assert cap.stop(stop)[0] == 0
    deadline = time.monotonic() + 5
    while tc_state() != (False, False) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tc_state() == (False, False)
    assert len(read_packets(out)) == 4


def _clsact_filters(tb) -> list[str]:
    """ebcap's clsact filters on the left veth: one `pref ... handle ...` line each."""
    lines = []
    for parent in ("ingress", "egress"):
        out = tb.run(tb.left, ["tc", "filter", "show", "dev", tb.left.ifname, parent],
                     capture_output=True, text=True).stdout
        lines += [line for line in out.splitlines() if "ebcap pid=" in line]
    return lines


def _guard_of(pid: int) -> int:
    """The clsact guard ebcap `pid` started (its only child once attached)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    (guard,) = [int(c) for c in children]
    return guard


def test_clsact_fallback_two_captures_and_orphans(testbed, tmp_path):
    """With clsact, two ebcaps on one interface both capture everything and each removes only
    its own filters; filters left by an ebcap killed together with its guard are removed by the
    next ebcap on that interface, and a live one's never are."""
    tb = testbed
    env = {**os.environ, "EBCAP_ATTACH": "clsact"}
    first = ebcap(tb, tb.left, "-i", tb.left.ifname, "-w", str(tmp_path / "1.pcapng"), "icmp",
                  env=env)
    second = ebcap(tb, tb.left, "-i", tb.left.ifname, "-w", str(tmp_path / "2.pcapng"), "icmp",
                   env=env)
    assert len(_clsact_filters(tb)) == 4                # two hooks each
    tb.ping(tb.left, tb.right.ipv4, count=3)
    time.sleep(1.5)
    assert second.stop()[0] == 0
    assert len(_clsact_filters(tb)) == 2                # the first capture's are still there
    tb.ping(tb.left, tb.right.ipv4, count=2)
    time.sleep(1.5)
    # ebcap and its guard die together: their filters stay behind...
    guard = _guard_of(first.proc.pid)
    os.kill(guard, signal.SIGKILL)
    first.proc.kill()
    first.proc.wait()
    time.sleep(0.5)
    assert len(_clsact_filters(tb)) == 2
    assert len(read_packets(tmp_path / "2.pcapng")) == 6
    assert len(read_packets(tmp_path / "1.pcapng")) == 10      # flushed before the kill
    # ...until the next ebcap on the interface removes them, and then its own at exit
    third = ebcap(tb, tb.left, "-i", tb.left.ifname, "-w", str(tmp_path / "3.pcapng"), "icmp",
                  env=env)
    assert len(_clsact_filters(tb)) == 2 and all(
        f"pid={third.proc.pid} " in line for line in _clsact_filters(tb))
    tb.ping(tb.left, tb.right.ipv4, count=1)
    time.sleep(1.5)
    assert third.stop()[0] == 0
    assert len(read_packets(tmp_path / "3.pcapng")) == 2
    deadline = time.monotonic() + 5
    while _clsact_filters(tb) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _clsact_filters(tb) == []


def test_a_lone_packet_is_not_held_back(testbed):
    """The kernel stages blocks per CPU (bpf/ebcap.c): its flush timer hands a lone packet over
    within 2 ms, so the line appears while the capture goes on, not at its end."""
    tb = testbed
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-n", "-l", "icmp", stdout=subprocess.PIPE)
    try:
        tb.ping(tb.left, tb.right.ipv4, count=1)
        deadline = time.monotonic() + 10
        line = b""
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([cap.proc.stdout], [], [], 0.2)
            if ready:
                line += cap.proc.stdout.read1(4096)
        assert b"ICMP echo request" in line, line
        assert cap.proc.poll() is None              # still capturing
    finally:
        status, err = cap.stop()
    assert status == 0, err


def test_a_burst_arrives_whole_in_batched_records(testbed, tmp_path):
    """Thousands of datagrams, staged many to a ring record: every one is in the file, and
    the counts agree with them."""
    tb = testbed
    out = tmp_path / "burst.pcapng"
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-w", str(out), "udp", "port", "9999")
    tb.udp_packets(tb.left, tb.right.ipv4, 9999, count=3000, size=60)
    time.sleep(0.2)
    status, err = cap.stop()
    assert status == 0, err
    packets = read_packets(out)
    assert len(packets) == 3000
    assert "3000 packets captured" in err and "0 packets dropped by kernel" in err


def test_the_rest_of_a_burst_arrives_while_the_capture_runs(testbed, tmp_path):
    """A burst fills stages faster than the flush timer fires; a timer still pending is left
    alone (bpf/ebcap.c's arm_flush) and hands over the last, partly filled stage: -c with the
    burst's exact count ends by itself, with every datagram, long before the burst could be
    taken by the final drain at a stop. 2,777 is not a whole number of stages of 88-byte
    blocks (186 to a 16 KiB stage)."""
    tb = testbed
    out = tmp_path / "rest.pcapng"
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-c", "2777", "-w", str(out), "udp", "port",
                "9999")
    tb.udp_packets(tb.left, tb.right.ipv4, 9999, count=2777, size=60)
    try:
        assert cap.proc.wait(timeout=10) == 0
    finally:
        status, err = cap.stop()
    assert status == 0, err
    assert len(read_packets(out)) == 2777
    assert "2777 packets captured" in err


@pytest.mark.parametrize("kib", ["4", "8"])
def test_a_small_ring_still_takes_staged_records(testbed, tmp_path, kib):
    """-B 4 and -B 8: rings smaller than a 16 KiB stage; the stage is a quarter of the ring
    (bpf/ebcap.c's EBCAP_STAGE_BYTES), so its records fit and packets arrive, and whatever a
    ring that small loses is counted as dropped."""
    tb = testbed
    out = tmp_path / "small.pcapng"
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-B", kib, "-w", str(out), "udp", "port",
                "9999")
    tb.udp_packets(tb.left, tb.right.ipv4, 9999, count=2000, size=60)
    time.sleep(0.2)
    status, err = cap.stop()
    assert status == 0, err
    captured = int(re.search(r"(\d+) packets? captured", err).group(1))
    received = int(re.search(r"(\d+) packets? received by filter", err).group(1))
    dropped = int(re.search(r"(\d+) packets? dropped by kernel", err).group(1))
    assert received == 2000 and captured + dropped == 2000, err
    assert captured >= 1000, err
    assert len(read_packets(out)) == captured
