"""ebcap --drops end to end: drops provoked for real in namespaces the tests make, found in the
file with the kernel's reason and a plausible place; delivered packets never appear."""

from __future__ import annotations

import re
import signal
import struct
import subprocess
import sys
import time

import pytest

from ebcap.capture.packet import LinkType
from ebcap.capture.packet import Direction
from tests.helpers.drops import (drop_ingress, drops_in_file, inject_corrupt_udp, nft_drop,
                                 receiver, send_frames, static_ipv4_neighbour, statistics_in_file)
from tests.helpers.kernel_state import bpf_ids_held_by
from tests.helpers.paths import EBCAP, FIXTURES
from tests.helpers.processes import ebcap, read_packets, tshark

pytestmark = pytest.mark.kernel

LOCATION = re.compile(r"^Location: [A-Za-z_][\w.]*\+0x[0-9a-f]+$")


def udp_ports(data: bytes, linktype: int) -> tuple[int, int]:
    ip = data[14:] if linktype == LinkType.ETHERNET else data
    ihl = (ip[0] & 0xF) * 4
    return struct.unpack_from("!HH", ip, ihl)


def checked_drops(path, count: int, reason: str | None = None, linktype: int = LinkType.ETHERNET):
    """The drops in the file at `path`: `count` of them, of `linktype`, each with a reason (the
    one given, if any) and a place in the kernel. Returns them as drops_in_file() does."""
    drops = drops_in_file(path)
    assert len(drops) == count
    for got, comments, _data in drops:
        assert got == linktype
        if reason:
            assert comments[0] == f"Drop: {reason}", comments
        else:
            assert comments[0].startswith("Drop: "), comments
        assert LOCATION.match(comments[1]), comments
    return drops


def test_udp_to_a_closed_port_is_no_socket(testbed, tmp_path):
    tb, out = testbed, tmp_path / "drops.pcapng"
    cap = ebcap(tb, tb.left, "--drops", "-w", str(out), "udp")
    got = receiver(tb, tb.left, "127.0.0.1", 5555, 3)
    tb.udp_packets(tb.left, "127.0.0.1", 5555, count=3)       # delivered: never a drop
    got.wait(timeout=10)
    tb.udp_packets(tb.left, "127.0.0.1", 9, count=3)          # nobody listens: NO_SOCKET
    time.sleep(0.3)
    status, err = cap.stop()
    assert status == 0, err

    for linktype, comments, data in checked_drops(out, 3, "NO_SOCKET"):
        assert "udp" in comments[1], comments
        assert udp_ports(data, linktype)[1] == 9
    assert "3 packets captured" in err and "NO_SOCKET: 3 packets" in err
    assert [p[4] for p in read_packets(out)] == [Direction.IN] * 3     # received on lo
    # at the end, an ISB: with no -i, the kernel's counts are of every interface, left out
    assert statistics_in_file(out) == {0: {"usrdeliv": 3}}

    proc = tshark("-r", str(out), "-T", "fields", "-e", "frame.comment", "-e", "udp.dstport")
    assert proc.returncode == 0 and proc.warnings == []
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert len(rows) == 3
    assert all(row[0].startswith("Drop: NO_SOCKET,Location: ") and row[1] == "9" for row in rows)

    # ebcap -r prints tcpdump's lines of the file, each naming its drop; --json has the object
    ours = subprocess.run([str(EBCAP), "-r", str(out), "-n"], capture_output=True, text=True)
    theirs = subprocess.run(["tcpdump", "-r", str(out), "-n"], capture_output=True, text=True)
    assert ours.returncode == 0 and theirs.returncode == 0, ours.stderr
    want = [line + " [drop NO_SOCKET at __udp4_lib_rcv]" for line in theirs.stdout.splitlines()]
    assert len(want) == 3 and ours.stdout.splitlines() == want
    import json
    ours = subprocess.run([str(EBCAP), "-r", str(out), "--json"], capture_output=True, text=True)
    records = [json.loads(line) for line in ours.stdout.splitlines()]
    assert [r["drop"]["reason"] for r in records] == ["NO_SOCKET"] * 3
    assert all(LOCATION.match("Location: " + r["drop"]["location"]) for r in records)


def test_the_expression_selects_drops_as_it_selects_packets(testbed):
    tb = testbed
    # ether[150] is past the 128-byte peek: read from the frame by bpf_probe_read_kernel
    cap = ebcap(tb, tb.left, "--drops", "-n", "-l", "udp port 9 and ether[150] = 0x75",
                stdout=subprocess.PIPE)
    tb.udp_packets(tb.left, "127.0.0.1", 10, count=2, size=200)
    tb.udp_packets(tb.left, "127.0.0.1", 9, count=2, size=100)   # too short for ether[150]
    tb.udp_packets(tb.left, "127.0.0.1", 9, count=2, size=200)   # payload b"u" * 200
    time.sleep(0.5)
    cap.proc.send_signal(signal.SIGINT)
    out, err = cap.proc.communicate(timeout=20)
    err = (cap.stderr + err).decode()
    lines = out.decode().splitlines()
    assert cap.proc.returncode == 0, err
    assert len(lines) == 2, lines
    for line in lines:
        assert re.search(r"IP 127\.0\.0\.1\.\d+ > 127\.0\.0\.1\.9: UDP, length 200 "
                         r"\[drop NO_SOCKET at __udp4_lib_rcv\]$", line), line
    assert "2 packets captured" in err
    # every drop in the namespace reaches the filter (6 UDP, and the odd one of its own)
    assert int(re.search(r"(\d+) packets received by filter", err).group(1)) >= 6


def test_tc_ingress_drop_seen_in_its_namespace_only(testbed, tmp_path):
    tb = testbed
    here, there = tmp_path / "right.pcapng", tmp_path / "left.pcapng"
    static_ipv4_neighbour(tb, tb.left, tb.right)
    right = ebcap(tb, tb.right, "--drops", "-i", tb.right.ifname, "-w", str(here), "udp")
    left = ebcap(tb, tb.left, "--drops", "-w", str(there), "udp")
    dropper = drop_ingress(tb, tb.right)
    tb.udp_packets(tb.left, tb.right.ipv4, 7777, count=3)
    time.sleep(0.3)
    dropper.kill()
    for cap in (right, left):
        status, err = cap.stop()
        assert status == 0, err
    for linktype, comments, data in checked_drops(here, 3, "TC_INGRESS"):
        assert udp_ports(data, linktype)[1] == 7777
    assert [p[4] for p in read_packets(here)] == [Direction.IN] * 3
    assert drops_in_file(there) == []          # the left namespace dropped nothing


def test_nftables_drop_rule_is_netfilter_drop(testbed, tmp_path):
    tb, out = testbed, tmp_path / "nft.pcapng"
    nft_drop(tb, tb.right, "udp dport 7100 drop")
    cap = ebcap(tb, tb.right, "--drops", "-w", str(out), "udp portrange 7100-7101")
    got = receiver(tb, tb.right, tb.right.ipv4, 7101, 3)
    tb.udp_packets(tb.left, tb.right.ipv4, 7101, count=3)      # delivered: never a drop
    got.wait(timeout=10)
    assert got.returncode == 0
    tb.udp_packets(tb.left, tb.right.ipv4, 7100, count=3)      # the rule drops them
    time.sleep(0.3)
    status, err = cap.stop()
    assert status == 0, err
    for linktype, comments, data in checked_drops(out, 3, "NETFILTER_DROP"):
        # nf_hook_slow, or nf_tables' own verdict code, which frees with the reason itself
        assert re.match(r"Location: nft?_", comments[1]), comments
        assert udp_ports(data, linktype)[1] == 7100
    assert [p[4] for p in read_packets(out)] == [Direction.IN] * 3
    assert "NETFILTER_DROP: 3 packets" in err


def test_tc_egress_drop_is_outbound(testbed, tmp_path):
    tb, out = testbed, tmp_path / "egress.pcapng"
    static_ipv4_neighbour(tb, tb.left, tb.right)
    cap = ebcap(tb, tb.left, "--drops", "-i", tb.left.ifname, "-w", str(out), "udp port 7200")
    # -Q chooses by direction in the kernel: these drops all go out
    ins = ebcap(tb, tb.left, "--drops", "-Q", "in", "-n", "udp", stdout=subprocess.PIPE)
    outs = ebcap(tb, tb.left, "--drops", "-Q", "out", "-n", "udp", stdout=subprocess.PIPE)
    # and so does the filter's `inbound` (libpcap's packet type test), as in live capture
    inbound = ebcap(tb, tb.left, "--drops", "-n", "inbound and udp", stdout=subprocess.PIPE)
    dropper = drop_ingress(tb, tb.left, "egress")
    tb.udp_packets(tb.left, tb.right.ipv4, 7200, count=3)
    tb.udp_packets(tb.left, "127.0.0.1", 9, count=2)           # in on lo: NO_SOCKET
    time.sleep(0.3)
    dropper.kill()
    status, err = cap.stop()
    assert status == 0, err
    lines = []
    for queue in (ins, outs, inbound):
        queue.proc.send_signal(signal.SIGINT)
        printed, _err = queue.proc.communicate(timeout=20)
        assert queue.proc.returncode == 0
        lines.append(printed.decode().splitlines())
    assert len(lines[0]) == 2 and all("9: UDP" in l and "[drop NO_SOCKET" in l for l in lines[0])
    assert [l.split(" ", 1)[1] for l in lines[2]] == [l.split(" ", 1)[1] for l in lines[0]]
    assert len(lines[1]) == 3 and all(".7200: UDP" in l and "[drop TC_EGRESS" in l
                                      for l in lines[1])
    for linktype, comments, data in checked_drops(out, 3, "TC_EGRESS"):
        assert udp_ports(data, linktype)[1] == 7200
    assert [p[4] for p in read_packets(out)] == [Direction.OUT] * 3
    # -i: the kernel's counts are the interface's (it may drop the odd IPv6 report too)
    (counts,) = statistics_in_file(out).values()
    assert counts["usrdeliv"] == counts["filteraccept"] == 3 and counts["osdrop"] == 0
    assert counts["ifrecv"] >= 3
    proc = tshark("-r", str(out), "-T", "fields", "-e", "frame.packet_flags_direction")
    assert proc.returncode == 0 and proc.warnings == []
    assert proc.stdout.split() == ["0x00000002"] * 3             # outbound


@pytest.mark.parametrize("corrupt, reason", [("udp", "UDP_CSUM"), ("ip", "IP_CSUM"),
                                             ("ihl", "IP_INHDR")])
def test_corrupted_checksums(testbed, tmp_path, corrupt, reason):
    tb, out = testbed, tmp_path / "csum.pcapng"
    # udp: the veth also drops the odd IPv6 multicast listener report of its own
    cap = ebcap(tb, tb.right, "--drops", "-i", tb.right.ifname, "-w", str(out), "udp")
    inject_corrupt_udp(tb, 7000, corrupt)
    time.sleep(0.3)
    status, err = cap.stop()
    assert status == 0, err
    for linktype, comments, data in checked_drops(out, 3, reason):
        if corrupt == "ihl":
            assert data[14] == 0x44 and data[14 + 20:14 + 24] == struct.pack("!HH", 40000, 7000)
        else:
            assert udp_ports(data, linktype) == (40000, 7000)
        assert [p[4] for p in read_packets(out)] == [Direction.IN] * 3


def test_frames_without_a_link_header_are_raw(testbed, tmp_path):
    tb, out = testbed, tmp_path / "raw.pcapng"
    # a tun device nobody has open: no carrier, so its queue drops what is sent to it
    for argv in (["tuntap", "add", "dev", "tun0", "mode", "tun"],
                 ["addr", "add", "198.18.9.1/24", "dev", "tun0"], ["link", "set", "tun0", "up"]):
        subprocess.run(["ip", "-n", tb.left.netns, *argv], check=True)
    cap = ebcap(tb, tb.left, "--drops", "-w", str(out), "udp port 4444")
    tb.udp_packets(tb.left, "198.18.9.2", 4444, count=2)
    time.sleep(0.3)
    status, err = cap.stop()
    assert status == 0, err
    for linktype, comments, data in checked_drops(out, 2, linktype=LinkType.RAW):
        assert data[0] >> 4 == 4
        assert udp_ports(data, linktype)[1] == 4444
    proc = tshark("-r", str(out), "-T", "fields", "-e", "frame.interface_name", "-e", "udp.dstport")
    assert proc.returncode == 0 and proc.warnings == []
    assert proc.stdout.split() == ["tun0", "4444", "tun0", "4444"]
    assert [p[4] for p in read_packets(out)] == [Direction.OUT] * 2  # sent, never received


def _link_exists(link_id: int) -> bool:
    return subprocess.run(["bpftool", "link", "show", "id", str(link_id)],
                          capture_output=True).returncode == 0


def test_count_snaplen_and_a_full_ring(testbed, tmp_path):
    tb, out = testbed, tmp_path / "flood.pcapng"
    cap = ebcap(tb, tb.left, "--drops", "-c", "2", "-n", "udp", stdout=subprocess.PIPE)
    tb.udp_packets(tb.left, "127.0.0.1", 9, count=5)
    out_lines, err = cap.proc.communicate(timeout=20)
    assert cap.proc.returncode == 0 and len(out_lines.decode().splitlines()) == 2
    # a one-page ring holds one record of up to 2048 bytes: most of a burst is lost, and said
    cap = ebcap(tb, tb.left, "--drops", "-B", "4", "-s", "1500", "-w", str(out), "udp")
    tb.udp_packets(tb.left, "127.0.0.1", 9, count=2000, size=1600)
    time.sleep(0.3)
    status, err = cap.stop()
    assert status == 0, err
    captured = int(re.search(r"(\d+) packets? captured", err).group(1))
    lost = int(re.search(r"(\d+) packets? dropped by kernel", err).group(1))
    assert captured + lost == 2000 and lost > 0, err
    assert {len(data) for _lt, _c, data in drops_in_file(out)} == {1500}


def test_rotated_files_each_end_with_their_statistics(testbed, tmp_path):
    tb = testbed
    # 16 MiB of ring: 2500 records of 2 KiB (the size class of 1042 bytes) fit without a reader
    cap = ebcap(tb, tb.left, "--drops", "-B", "16384", "-s", "0", "-C", "1", "-w",
                str(tmp_path / "r.pcapng"), "udp port 9")
    tb.udp_packets(tb.left, "127.0.0.1", 9, count=2500, size=1000)
    time.sleep(1)
    status, err = cap.stop()
    assert status == 0 and "2500 packets captured" in err, err
    files = sorted(tmp_path.iterdir(), key=lambda f: f.stat().st_mtime_ns)
    assert len(files) >= 3
    written = 0
    for path in files:
        drops = drops_in_file(path)
        assert drops and all(c[0] == "Drop: NO_SOCKET" for _lt, c, _d in drops)
        written += len(drops)
        # as live capture's: the count written so far, at the end of each file
        assert statistics_in_file(path) == {0: {"usrdeliv": written}}
        proc = tshark("-r", str(path), "-T", "fields", "-e", "frame.comment")
        assert proc.returncode == 0 and proc.warnings == []
    assert written == 2500


def test_tracepoint_links_go_with_a_killed_ebcap(testbed, tmp_path):
    tb = testbed
    cap = ebcap(tb, tb.left, "--drops", "-w", str(tmp_path / "killed.pcapng"))
    _progs, links = bpf_ids_held_by(cap.proc.pid)
    assert len(links) == 1
    for link_id in links:
        shown = subprocess.run(["bpftool", "link", "show", "id", str(link_id)],
                               capture_output=True, text=True).stdout
        assert "raw_tracepoint" in shown and "kfree_skb" in shown, shown
    cap.proc.send_signal(signal.SIGKILL)
    cap.proc.wait()
    deadline = time.monotonic() + 5
    while any(_link_exists(i) for i in links) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_link_exists(i) for i in links)


def test_drops_refuses_what_it_cannot_do():
    # the owner flags work with --drops (test_drop_owners.py); their bad input is as live's
    for args, message in ((["-r", "x.pcap"], "--drops cannot be used with -r"),
                          (["--pid", "999999999"], "--pid 999999999: no such process"),
                          (["--run", "true", "--cgroup", "/"],
                           "--run and --cgroup cannot be used together (--run captures the "
                           "cgroup it makes for the command)")):
        proc = subprocess.run([str(EBCAP), "--drops", *args], capture_output=True, text=True)
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines() == [f"ebcap: {message}"]


def test_full_receive_buffer_is_socket_rcvbuff(testbed, tmp_path):
    tb, out = testbed, tmp_path / "rcvbuf.pcapng"
    cap = ebcap(tb, tb.left, "--drops", "-w", str(out), "udp port 6000")
    # a socket that never reads, with the smallest receive buffer the kernel allows
    sleeper = tb.popen(tb.left, [sys.executable, "-I", "-c", _FULL_SOCKET],
                       stdout=subprocess.PIPE)
    assert sleeper.stdout.readline().strip() == b"ready"
    tb.udp_packets(tb.left, "127.0.0.1", 6000, count=50, size=1000)
    time.sleep(0.3)
    status, err = cap.stop()
    assert status == 0, err
    reasons = [comments[0] for _linktype, comments, _data in drops_in_file(out)]
    assert "Drop: SOCKET_RCVBUFF" in reasons
    assert set(reasons) == {"Drop: SOCKET_RCVBUFF"}       # the socket is still open


def test_drop_reason_chooses_in_the_kernel(testbed):
    tb = testbed
    only = ebcap(tb, tb.left, "--drops", "-n", "--drop-reason", "SOCKET_RCVBUFF", "udp",
                 stdout=subprocess.PIPE)
    but = ebcap(tb, tb.left, "--drops", "-n", "--drop-reason", "!SOCKET_RCVBUFF", "udp",
                stdout=subprocess.PIPE)
    sleeper = tb.popen(tb.left, [sys.executable, "-I", "-c", _FULL_SOCKET],
                       stdout=subprocess.PIPE)
    assert sleeper.stdout.readline().strip() == b"ready"
    tb.udp_packets(tb.left, "127.0.0.1", 6000, count=20, size=1000)     # some: SOCKET_RCVBUFF
    tb.udp_packets(tb.left, "127.0.0.1", 9, count=2)                    # NO_SOCKET
    time.sleep(0.3)
    outputs = []
    for cap in (only, but):
        cap.proc.send_signal(signal.SIGINT)
        out, _err = cap.proc.communicate(timeout=20)
        assert cap.proc.returncode == 0
        outputs.append(out.decode().splitlines())
    assert outputs[0] and all(l.endswith("[drop SOCKET_RCVBUFF at udp_queue_rcv_one_skb]")
                              for l in outputs[0])
    assert len(outputs[1]) == 2 and all("[drop NO_SOCKET at" in l for l in outputs[1])
    proc = subprocess.run([str(EBCAP), "--drops", "--drop-reason", "NO_SOCKT"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        "ebcap: unknown drop reason NO_SOCKT: not one of this kernel's (did you mean NO_SOCKET?)"]


_FULL_SOCKET = r"""
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
s.bind(("127.0.0.1", 6000))
print("ready", flush=True)
time.sleep(60)
"""


def test_doctor_says_drop_capture_works():
    proc = subprocess.run([str(EBCAP), "doctor"], capture_output=True, text=True)
    assert proc.returncode == 0
    line = next(l for l in proc.stdout.splitlines() if l.startswith("drop capture (--drops)"))
    assert re.search(r"yes \(raw tracepoint skb:kfree_skb, \d+ drop reasons from BTF\)", line)


def test_a_failed_attach_is_one_line():
    """The path where the tracepoint cannot be attached: a name the kernel does not have."""
    from ebcap.capture.errors import KernelFeatureError
    from ebcap.capture.filter.libpcap import compile_filter
    from ebcap.capture.kernel import drop_program, tracepoint
    program = drop_program.DropProgram(compile_filter("udp", LinkType.ETHERNET),
                                       compile_filter("udp", LinkType.RAW),
                                       drop_program.DropSpec())
    try:
        fd = program.loaded.program_fd(drop_program.FUNCTION,
                                       tracepoint.BPF_PROG_TYPE_RAW_TRACEPOINT)
        with pytest.raises(KernelFeatureError) as failed:
            tracepoint.open_raw_tracepoint("ebcap_no_such_tracepoint", fd)
        assert str(failed.value) == "this kernel has no ebcap_no_such_tracepoint tracepoint"
    finally:
        program.close()


def test_json_has_a_drop_object(testbed):
    import json
    tb = testbed
    cap = ebcap(tb, tb.left, "--drops", "--json", "udp", stdout=subprocess.PIPE)
    tb.udp_packets(tb.left, "127.0.0.1", 9, count=1)
    time.sleep(0.3)
    cap.proc.send_signal(signal.SIGINT)
    out, _err = cap.proc.communicate(timeout=20)
    (record,) = [json.loads(line) for line in out.decode().splitlines()]
    assert record["interface"] == "lo"
    assert record["drop"]["reason"] == "NO_SOCKET"
    assert LOCATION.match("Location: " + record["drop"]["location"])


@pytest.mark.parametrize("name", ["print/ether", "print/tcp", "print/udp", "print/icmp",
                                  "print/icmp6", "print/ipv6", "print/arp", "print/vlan",
                                  "print/raw", "corpus/ethernet", "corpus/raw"])
def test_headers_only_cuts_where_live_capture_does(tmp_path, name):
    """A drop's headers end where bpf/ebcap.c's headers_end() says (here run by -r, the same
    kernel program as live capture, on the print corpus)."""
    from ebcap.capture.pcapng.reader import CaptureFileReader
    from ebcap.capture.session.drop_headers import headers_length
    from ebcap.capture.session.offline import TEST_RUN_SURE_MAX
    source, out = FIXTURES / f"{name}.pcap", tmp_path / "headers.pcapng"
    subprocess.run([str(EBCAP), "-r", str(source), "--headers-only", "-w", str(out)], check=True,
                   capture_output=True)
    with open(source, "rb") as f:
        frames = [p.data for p in CaptureFileReader(f, str(source))]
    with open(out, "rb") as f:
        cut = [len(p.data) for p in CaptureFileReader(f, str(out))]
    assert len(cut) == len(frames) > 0
    raw = name.endswith("raw")
    # The kernel copies at most 128 bytes of a drop (the peek): compare within them. Frames
    # longer than a test run surely takes are not the kernel program's to cut in -r.
    pairs = [(frame, n) for frame, n in zip(frames, cut) if len(frame) <= TEST_RUN_SURE_MAX]
    assert [headers_length(frame[:128], raw) for frame, _n in pairs] == \
        [min(n, len(frame), 128) for frame, n in pairs]


def _expressions(*lists: str, every: int = 1) -> list[str]:
    lines = []
    for name in lists:
        lines += [line.strip() for line in (FIXTURES / "filters" / name).read_text()
                  .splitlines() if line.strip() and not line.startswith("#")]
    usable = list(dict.fromkeys(line for line in lines if len(line) < 200))
    # every `every`th, and every one about VLANs: the receiving kernel moves the outer tag into
    # metadata, and drops.c puts it back as ebcap.c does
    return [line for n, line in enumerate(usable) if n % every == 0 or "vlan" in line]


def _untag_fails(frame: bytes) -> bool:
    """A tagged frame with less than the tag and an ethertype after it: the kernel frees it
    while untagging, before TC (skb_vlan_untag's pskb_may_pull)."""
    return frame[12:14] in (b"\x81\x00", b"\x88\xa8") and len(frame) < 14 + 4 + 2


def _frames(*corpora: str, shortest: int) -> list[bytes]:
    from ebcap.capture.pcapng.reader import CaptureFileReader
    frames = []
    for name in corpora:
        source = FIXTURES / "corpus" / f"{name}.pcap"
        with open(source, "rb") as f:
            frames += [p.data for p in CaptureFileReader(f, str(source))
                       if shortest <= len(p.data) <= 1514 and not _untag_fails(p.data)]
    return list(dict.fromkeys(frames))               # each frame once: compared as sets


def _tcpdump_selects(tmp_path, frames: list[bytes], linktype: int, expression: str) -> set:
    """The frames tcpdump itself keeps of a savefile of `frames` (-r ... -w ... EXPR)."""
    from ebcap.capture.pcapng.reader import CaptureFileReader
    source, kept = tmp_path / "frames.pcap", tmp_path / "kept.pcap"
    if not source.exists():
        source.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
                           + b"".join(struct.pack("<IIII", 0, 0, len(f), len(f)) + f
                                      for f in frames))
    subprocess.run(["tcpdump", "-r", str(source), "-w", str(kept), expression], check=True,
                   capture_output=True)
    with open(kept, "rb") as f:
        return {p.data for p in CaptureFileReader(f, str(kept))}


def _tun_without_reader(tb, host):
    """A tun device nobody has open, up: no carrier, so its queue (noop) drops all it is sent."""
    import dataclasses
    for argv in (["tuntap", "add", "dev", "tun0", "mode", "tun"], ["link", "set", "tun0", "up"]):
        subprocess.run(["ip", "-n", host.netns, *argv], check=True)
    return dataclasses.replace(host, ifname="tun0")


# (link type, the corpora's frames, the expression lists, every how many, the reason)
DIFFERENTIAL = {
    "ethernet": (LinkType.ETHERNET, ("ethernet",), ("accepted.txt",), 6, "TC_INGRESS"),
    "raw": (LinkType.RAW, ("raw", "ipv4", "ipv6", "raw12"), ("raw.txt", "ip_links.txt"), 1,
            "QDISC_DROP"),
}


@pytest.mark.parametrize("site", list(DIFFERENTIAL))
def test_drops_are_filtered_as_tcpdump_filters_the_frames(testbed, tmp_path, site):
    """The corpus's frames sent where the kernel drops them all: onto a veth whose far side
    drops everything at TC ingress (Ethernet), or onto a tun device nobody reads (no link
    header). For each expression, `--drops EXPR` records exactly the frames tcpdump selects
    from a file of the same frames (and libpcap's own interpreter agrees)."""
    from ebcap.capture.filter.libpcap import compile_filter, offline_match
    tb = testbed
    linktype, corpora, lists, every, reason = DIFFERENTIAL[site]
    frames = _frames(*corpora, shortest=14 if linktype == LinkType.ETHERNET else 1)
    expressions = _expressions(*lists, every=every)
    assert len(frames) > 150 and len(expressions) > 30
    if linktype == LinkType.ETHERNET:
        sender, receiver_side = tb.left, tb.right
        dropper = drop_ingress(tb, tb.right)
    else:
        sender = receiver_side = _tun_without_reader(tb, tb.left)
        dropper = None
    selected = []
    batch = 8                       # ebcap processes at once (memory: ~30 MB each)
    for first in range(0, len(expressions), batch):
        running = []
        for n, expression in enumerate(expressions[first:first + batch]):
            out = tmp_path / f"{first + n}.pcapng"
            running.append((expression, out, ebcap(tb, receiver_side, "--drops", "-s", "0",
                                                   "-i", receiver_side.ifname,
                                                   "--drop-reason", reason, "-w",
                                                   str(out), expression)))
        send_frames(tb, sender, frames)
        time.sleep(0.5)
        for expression, out, cap in running:
            status, err = cap.stop()
            assert status == 0 and "0 packets dropped by kernel" in err, (expression, err)
            drops = drops_in_file(out)
            assert {lt for lt, _c, _d in drops} <= {linktype}, expression
            got = {data for _lt, _comments, data in drops} & set(frames)
            want = _tcpdump_selects(tmp_path, frames, linktype, expression)
            insns = compile_filter(expression, linktype)
            assert want == {f for f in frames if offline_match(insns, f, len(f))}, expression
            assert got == want, (expression, len(got), len(want))
            selected.append(len(want))
    if dropper is not None:
        dropper.kill()
    # most expressions select some frames, none selects them all
    assert sum(1 for n in selected if 0 < n < len(frames)) > len(expressions) // 2
