"""Filter semantics that only a live interface can show: VLAN tags held in skb metadata, raw-IP
(tun) and loopback interfaces."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.helpers.processes import ebcap, in_time_order, read_packets, tcpdump

pytestmark = pytest.mark.kernel

SEND_TAGGED = r"""
import sys
from scapy.all import Ether, Dot1Q, IP, UDP, sendp
dst, iface = sys.argv[1], sys.argv[2]
frames = []
for vid in (10, 20, 10, 30, 10):
    frames.append(Ether(dst=dst) / Dot1Q(vlan=vid, prio=3) / IP(src="198.18.0.1", dst="198.18.0.2")
                  / UDP(sport=1000 + vid, dport=7) / (b"v" * 40))
frames.append(Ether(dst=dst) / IP(src="198.18.0.1", dst="198.18.0.2") / UDP(dport=7) / b"plain")
sendp(frames, iface=iface, verbose=False)
"""


@pytest.mark.parametrize("expression, expected", [
    ("vlan 10", 3), ("vlan", 5), ("vlan 20 and udp", 1), ("udp port 7 and not vlan", 1),
    # libpcap: the first `vlan` shifts the offsets of everything after it, even under `not`
    ("not vlan and udp port 7", 0),
])
def test_vlan_tag_in_skb_metadata_matches_like_tcpdump(testbed, tmp_path, expression, expected):
    """veth-r's receive path moves the tag into skb metadata before TC sees the packet."""
    tb = testbed
    ours, theirs = tmp_path / "e.pcapng", tmp_path / "t.pcap"
    cap = ebcap(tb, tb.right, "-i", tb.right.ifname, "-Q", "in", "-s", "0", "-w", str(ours),
                expression)
    ref = tcpdump(tb, tb.right, "-i", tb.right.ifname, "-Q", "in", "-s", "0", "-w",
                  str(theirs), expression)
    tb.run(tb.left, [sys.executable, "-I", "-c", SEND_TAGGED, tb.mac(tb.right), tb.left.ifname])
    time.sleep(0.3)
    cap.stop()
    ref.stop()
    got, want = in_time_order(read_packets(ours)), in_time_order(read_packets(theirs))
    assert len(want) == expected
    # the same frames, with the tag back in the bytes as libpcap puts it
    assert [(p[2], p[3]) for p in got] == [(p[2], p[3]) for p in want]


TUN = r"""
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"tun0", 0x0001 | 0x1000))  # TUNSETIFF TUN|NO_PI
print("ready", flush=True)
time.sleep(float(sys.argv[1]))
"""


def test_raw_ip_tun_interface(testbed, tmp_path):
    tb = testbed
    holder = tb.popen(tb.left, [sys.executable, "-I", "-c", TUN, "30"], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"ready"
    tb.run(tb.left, ["ip", "addr", "add", "198.18.9.1/24", "dev", "tun0"])
    tb.run(tb.left, ["ip", "link", "set", "tun0", "up"])
    ours, theirs = tmp_path / "e.pcapng", tmp_path / "t.pcap"
    cap = ebcap(tb, tb.left, "-i", "tun0", "-s", "0", "-w", str(ours), "icmp and dst host 198.18.9.7")
    ref = tcpdump(tb, tb.left, "-i", "tun0", "-s", "0", "-w", str(theirs),
                  "icmp and dst host 198.18.9.7")
    tb.run(tb.left, ["ping", "-c", "3", "-i", "0.05", "-W", "0.2", "198.18.9.7"], check=False,
           capture_output=True)
    tb.run(tb.left, ["ping", "-c", "2", "-i", "0.05", "-W", "0.2", "198.18.9.8"], check=False,
           capture_output=True)
    time.sleep(0.3)
    status, err = cap.stop()
    ref.stop()
    assert "link-type RAW (Raw IP)" in err
    got, want = in_time_order(read_packets(ours)), in_time_order(read_packets(theirs))
    assert len(want) == 3
    assert [p[3] for p in got] == [p[3] for p in want]
    assert all(p[3][0] >> 4 == 4 for p in got)           # starts with the IP header
    holder.kill()


def test_loopback(testbed, tmp_path):
    tb = testbed
    ours, theirs = tmp_path / "e.pcapng", tmp_path / "t.pcap"
    cap = ebcap(tb, tb.left, "-i", "lo", "-w", str(ours), "tcp port 8080")
    ref = tcpdump(tb, tb.left, "-i", "lo", "-s", "0", "-w", str(theirs), "tcp port 8080")
    tb.tcp_exchange(tb.left, tb.left, "127.0.0.1", 8080, rounds=2)
    time.sleep(0.3)
    cap.stop()
    ref.stop()
    got, want = in_time_order(read_packets(ours)), in_time_order(read_packets(theirs))
    assert len(got) == len(want) >= 10
    assert all(g[3] == w[3][:g[1]] for g, w in zip(got, want))


def test_very_long_expression_loads_and_matches_tcpdump(tmp_path):
    """~1,800 classic BPF instructions: within the verifier's limits, same packets as tcpdump.
    (libpcap's optimizer itself needs ~90 s for 1,000 hosts, in tcpdump too.)"""
    from tests.helpers.paths import FIXTURES
    from tests.helpers.paths import EBCAP
    corpus = FIXTURES / "corpus" / "ethernet.pcap"
    expression = " or ".join(f"host 10.{i // 250}.{i % 250}.1" for i in range(300))
    expression += " or host 10.0.0.1"
    ours, theirs = tmp_path / "e.pcapng", tmp_path / "t.pcap"
    subprocess.run([str(EBCAP), "-r", str(corpus), "-w", str(ours), expression], check=True,
                   capture_output=True)
    subprocess.run(["tcpdump", "-r", str(corpus), "-w", str(theirs), expression], check=True,
                   capture_output=True)
    want = read_packets(theirs)
    assert len(want) > 0
    assert [p[3] for p in read_packets(ours)] == [p[3] for p in want]


@pytest.mark.parametrize("qualifier, direction", [("inbound", 1), ("outbound", 2)])
def test_inbound_outbound_follow_the_hook(testbed, tmp_path, qualifier, direction):
    """libpcap compiles inbound/outbound to the packet type; at TC egress ebcap reports
    PACKET_OUTGOING as an AF_PACKET tap would see it."""
    tb = testbed
    out = tmp_path / "d.pcapng"
    cap = ebcap(tb, tb.left, "-i", tb.left.ifname, "-w", str(out), f"{qualifier} and icmp")
    tb.ping(tb.left, tb.right.ipv4, count=2)
    time.sleep(0.3)
    cap.stop()
    assert [p[4] for p in read_packets(out)] == [direction] * 2
