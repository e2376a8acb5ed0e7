"""`ebcap -r`'s C loop (capture/session/offline_fast.py) over a pcap and a pcapng file gives what
its Python loop gives on the same packets, and what tcpdump prints, on real traffic captured on
a testbed (capture/bench/corpus.py), through the real kernel program. The Python loop's file is
a pcapng file in units of 10^-7 s, which the C loop leaves to it."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess

import pytest

from ebcap.capture.bench.corpus import capture_seed
from ebcap.capture.packet import Interface
from ebcap.capture.pcapng.reader import CaptureFileReader
from ebcap.capture.pcapng.format import (BT_EPB, BT_IDB, EPB_HEAD, EPB_TAIL, OPT_ENDOFOPT,
                                         OPT_EPB_FLAGS, OPT_IF_TSRESOL, PADS, encode_block,
                                         encode_options)
from ebcap.capture.pcapng.writer import PcapngWriter, encode_shb
from tests.helpers.paths import EBCAP

pytestmark = pytest.mark.kernel

needs_tcpdump = pytest.mark.skipif(not shutil.which("tcpdump"), reason="needs tcpdump")


def tenth_us_pcapng(path, packets, linktype) -> None:
    """The packets in a pcapng file whose interface counts in 10^-7 s (exact: the seed's
    timestamps are microseconds)."""
    idb = struct.pack("<HHI", linktype, 0, 262144) + encode_options([(OPT_IF_TSRESOL, b"\x07")])
    blocks = [encode_shb(), encode_block(BT_IDB, idb)]
    for p in packets:
        ticks, caplen = p.ts_ns // 100, len(p.data)
        total = EPB_HEAD.size + caplen + (-caplen % 4) + EPB_TAIL.size
        blocks += [EPB_HEAD.pack(BT_EPB, total, 0, ticks >> 32, ticks & 0xFFFFFFFF, caplen,
                                 p.wirelen), p.data, PADS[caplen & 3],
                   EPB_TAIL.pack(OPT_EPB_FLAGS, 4, 0, OPT_ENDOFOPT, total)]
    path.write_bytes(b"".join(blocks))


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    """(the seed as tcpdump wrote it, the same packets as pcapng, and in 10^-7 s units)"""
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
    slow = tmp / "seed-slow.pcapng"
    tenth_us_pcapng(slow, packets, linktype)
    assert len(packets) > 3000
    return pcap, pcapng, slow


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(EBCAP), *args], capture_output=True, text=True, timeout=300)


def packets_of(path) -> list[tuple]:
    with open(path, "rb") as stream:
        return [(p.ts_ns, p.wirelen, p.data) for p in CaptureFileReader(stream, str(path))]


@pytest.mark.parametrize("args", [("-n", "tcp or udp"), ("-n", "-tt"), ("udp port 53",),
                                  ("-n", "-c", "1000", "tcp"), ("-n", "-s", "80", "ip6"),
                                  ("-n", "greater 200"), ("-n", "-tt", "len < 100 and tcp")])
def test_print_is_the_same_from_pcap_pcapng_and_the_python_loop(seed, args):
    pcap, pcapng, slow_file = seed
    slow = run("-r", str(slow_file), *args)
    assert slow.returncode == 0, slow.stderr
    assert slow.stdout.count("\n") > 100
    for path in (pcap, pcapng):
        fast = run("-r", str(path), *args)
        assert fast.returncode == 0, fast.stderr
        assert fast.stdout == slow.stdout


@needs_tcpdump
@pytest.mark.parametrize("expression", ["tcp or udp", "icmp or arp or icmp6", ""])
def test_print_is_tcpdumps(seed, expression):
    pcap = seed[0]
    ours = run("-r", str(pcap), "-n", "-tt", *([expression] if expression else []))
    theirs = subprocess.run(["tcpdump", "-r", str(pcap), "-n", "-tt",
                             *([expression] if expression else [])],
                            capture_output=True, text=True, timeout=300)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()


@pytest.mark.parametrize("args", [("tcp",), ("-s", "100", "udp"), ("-c", "777", "tcp"), (),
                                  ("less 100",)])
def test_write_is_the_same_from_pcap_pcapng_and_the_python_loop(seed, tmp_path, args):
    pcap, pcapng, slow_file = seed
    slow_out = tmp_path / "slow.pcapng"
    slow = run("-r", str(slow_file), "-w", str(slow_out), *args)
    assert slow.returncode == 0, slow.stderr
    expected = packets_of(slow_out)
    assert len(expected) > 100
    for path in (pcap, pcapng):
        fast_out = tmp_path / "fast.pcapng"
        fast = run("-r", str(path), "-w", str(fast_out), *args)
        assert fast.returncode == 0, fast.stderr
        assert fast.stderr.splitlines()[1:] == slow.stderr.splitlines()[1:]     # the counts
        assert packets_of(fast_out) == expected


def test_a_bad_record_mid_file_ends_as_the_python_reader_ends(seed, tmp_path):
    """The C loop stops before a record claiming 4 GiB: the reader's one line, exit 1, and the
    packets before it written."""
    pcap = seed[0]
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


@needs_tcpdump
def test_bench_offline_runs_both_cases_and_leaves_nothing(tmp_path):
    """`ebcap bench --offline` on a tiny corpus (timings not asserted): both cases, both tools,
    the JSON's ratios, the corpus cached in $TMPDIR and nothing else left there."""
    report = tmp_path / "offline.json"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = subprocess.run([str(EBCAP), "bench", "--offline", "--packets", "3000", "--rounds",
                             "1", "--json", str(report)], capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("x (CPU ") == 2 and "target 0.2x" in result.stdout
    data = json.loads(report.read_text())
    assert set(data["cases"]) == {"print", "write"}
    for case in data["cases"].values():
        assert case["ratio"] > 0 and not case["ebcap"]["error"] and not case["tcpdump"]["error"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ebcap-offline-corpus-3000.pcap",
                                                          "offline.json"]
