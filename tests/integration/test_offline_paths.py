"""`ebcap -r` on a pcap file (the C loop, capture/session/offline_fast.py) gives what it gives on
the same packets in a pcapng file (the Python loop) and what tcpdump prints, on real traffic
captured on a testbed (capture/bench/corpus.py), through the real kernel program."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from ebcap.capture.bench.corpus import capture_seed
from ebcap.capture.packet import Interface
from ebcap.capture.pcapng.reader import CaptureFileReader
from ebcap.capture.pcapng.writer import PcapngWriter
from tests.helpers.paths import EBCAP

pytestmark = pytest.mark.kernel

needs_tcpdump = pytest.mark.skipif(not shutil.which("tcpdump"), reason="needs tcpdump")


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    """(the seed as tcpdump wrote it, the same packets as pcapng)"""
    if not shutil.which("tcpdump"):
        pytest.skip("the corpus is captured by tcpdump")
    tmp = tmp_path_factory.mktemp("offline")
    pcap, pcapng = tmp / "seed.pcap", tmp / "seed.pcapng"
    capture_seed(pcap)
    with open(pcap, "rb") as stream:
        reader = CaptureFileReader(stream, str(pcap))
        packets = list(reader)
        linktype = reader.interfaces[0].linktype
    with open(pcapng, "wb") as stream:
        writer = PcapngWriter(stream, [Interface("seed", linktype, 262144)])
        for p in packets:
            writer.write(p)
        writer.close()
    assert len(packets) > 3000
    return pcap, pcapng


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(EBCAP), *args], capture_output=True, text=True, timeout=300)


def packets_of(path) -> list[tuple]:
    with open(path, "rb") as stream:
        return [(p.ts_ns, p.wirelen, p.data) for p in CaptureFileReader(stream, str(path))]


@pytest.mark.parametrize("args", [("-n", "tcp or udp"), ("-n", "-tt"), ("udp port 53",),
                                  ("-n", "-c", "1000", "tcp"), ("-n", "-s", "80", "ip6")])
def test_print_is_the_same_from_pcap_and_pcapng(seed, args):
    pcap, pcapng = seed
    fast, slow = run("-r", str(pcap), *args), run("-r", str(pcapng), *args)
    assert fast.returncode == slow.returncode == 0, fast.stderr + slow.stderr
    assert fast.stdout == slow.stdout and fast.stdout.count("\n") > 100


@needs_tcpdump
@pytest.mark.parametrize("expression", ["tcp or udp", "icmp or arp or icmp6", ""])
def test_print_is_tcpdumps(seed, expression):
    pcap, _ = seed
    ours = run("-r", str(pcap), "-n", "-tt", *([expression] if expression else []))
    theirs = subprocess.run(["tcpdump", "-r", str(pcap), "-n", "-tt",
                             *([expression] if expression else [])],
                            capture_output=True, text=True, timeout=300)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()


@pytest.mark.parametrize("args", [("tcp",), ("-s", "100", "udp"), ("-c", "777", "tcp"), ()])
def test_write_is_the_same_from_pcap_and_pcapng(seed, tmp_path, args):
    pcap, pcapng = seed
    fast_out, slow_out = tmp_path / "fast.pcapng", tmp_path / "slow.pcapng"
    fast = run("-r", str(pcap), "-w", str(fast_out), *args)
    slow = run("-r", str(pcapng), "-w", str(slow_out), *args)
    assert fast.returncode == slow.returncode == 0, fast.stderr + slow.stderr
    assert fast.stderr.splitlines()[1:] == slow.stderr.splitlines()[1:]     # the counts
    ours = packets_of(fast_out)
    assert ours == packets_of(slow_out) and len(ours) > 100


def test_a_bad_record_mid_file_ends_as_the_python_reader_ends(seed, tmp_path):
    """The C loop stops before a record claiming 4 GiB: the reader's one line, exit 1, and the
    packets before it written."""
    pcap, _ = seed
    data = pcap.read_bytes()
    offset, kept = 24, 0
    while kept < 2000:
        offset += 16 + struct.unpack_from("<I", data, offset + 8)[0]
        kept += 1
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(data[:offset] + struct.pack("<IIII", 0, 0, 0xFFFFFFF0, 60) + bytes(64))
    out = tmp_path / "out.pcapng"
    result = run("-r", str(bad), "-w", str(out))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (f"ebcap: {bad}: invalid packet capture length "
                                              "4294967280, bigger than snaplen of 262144")
    assert "Traceback" not in result.stderr
    assert len(packets_of(out)) == kept
    filtered = run("-r", str(bad), "-n", "tcp")
    assert filtered.returncode == 1 and filtered.stdout.count("\n") > 500
    truncated = tmp_path / "truncated.pcap"
    truncated.write_bytes(data[:offset - 5])
    result = run("-r", str(truncated), "-n", "tcp or udp")
    assert result.returncode == 1 and "truncated dump file" in result.stderr.splitlines()[-1]
