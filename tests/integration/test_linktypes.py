"""`ebcap -r` on every link type of fixtures/corpus/ (fixtures/make_linktype_corpus.py): the
banner names the link type as tcpdump does, the headers-only cut ends at the transport header
after each link header, and without an expression any link type reads (no kernel needed).
What ebcap's kernel program cannot filter gets one line naming the link type.

Which packets a filter selects on each link type: tests/integration/test_filter_differential.py."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from ebcap.capture.pcapng.reader import CaptureFileReader
from tests.helpers.paths import EBCAP, FIXTURES

CORPUS = FIXTURES / "corpus"
TCPDUMP = shutil.which("tcpdump") or "/usr/bin/tcpdump"
# link header length of each corpus file (the headers-only cut starts after it)
LINK_HEADER = {"ethernet": 14, "linux_sll": 16, "linux_sll2": 20, "null": 4, "loop": 4, "ppp": 4,
               "ppp_ether": 8, "raw12": 0, "ipv4": 0, "raw": 0}


def ebcap(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(EBCAP), *args], capture_output=True, text=True, timeout=120)


def read(path: Path):
    with path.open("rb") as f:
        reader = CaptureFileReader(f, str(path))
        packets = list(reader)
        return reader.interfaces, packets


def pcap_file(path: Path, linktype: int, frames: list[bytes]) -> Path:
    parts = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for i, data in enumerate(frames):
        parts += [struct.pack("<IIII", 1764000000, i, len(data), len(data)), data]
    path.write_bytes(b"".join(parts))
    return path


@pytest.mark.parametrize("name", sorted(LINK_HEADER))
def test_banner_is_tcpdumps(name):
    path = CORPUS / f"{name}.pcap"
    want = subprocess.run([TCPDUMP, "-r", str(path), "-c", "1"], capture_output=True,
                          text=True).stderr.splitlines()[0]
    got = ebcap("-r", str(path), "-c", "1").stderr.splitlines()[0]
    assert got == want


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(LINK_HEADER))
def test_headers_only_cuts_after_the_transport_header(name, tmp_path):
    """IPv4 TCP: the cut is the link header, the IP header and the TCP header, whatever the
    link type (bpf/ebcap.c's headers_end() with the link's -D constants)."""
    path, out = CORPUS / f"{name}.pcap", tmp_path / "out.pcapng"
    run = ebcap("-r", str(path), "--headers-only", "-w", str(out), "ip and tcp")
    assert run.returncode == 0, run.stderr
    _, inputs = read(path)
    full = {p.ts_ns: p.data for p in inputs}
    _, packets = read(out)
    assert packets
    hlen = LINK_HEADER[name]
    for p in packets:
        data = full[p.ts_ns]
        if len(data) < hlen + 20:
            continue
        ihl = (data[hlen] & 0xF) * 4
        first_fragment = struct.unpack_from(">H", data, hlen + 6)[0] & 0x1FFF == 0
        doff = 0
        if first_fragment and len(data) > hlen + ihl + 12:
            doff = (data[hlen + ihl + 12] >> 4) * 4     # a later fragment has no TCP header
        assert p.data == data[:min(len(data), hlen + ihl + doff)]


def test_no_expression_needs_no_kernel_and_reads_any_link_type(tmp_path):
    """LINKTYPE_USER0 (147): nothing to filter, so every packet is written as it is."""
    frames = [b"\x01\x02\x03", bytes(range(60)), bytes(2000)]
    path, out = pcap_file(tmp_path / "user0.pcap", 147, frames), tmp_path / "out.pcapng"
    run = ebcap("-r", str(path), "-w", str(out))
    assert run.returncode == 0, run.stderr
    interfaces, packets = read(out)
    assert [i.linktype for i in interfaces] == [147]
    assert [p.data for p in packets] == frames
    run = ebcap("-r", str(path), "-s", "10", "-w", str(out))
    assert [p.data for p in read(out)[1]] == [f[:10] for f in frames]


@pytest.mark.kernel
def test_an_expression_on_an_unknown_link_type_is_one_line(tmp_path):
    path = pcap_file(tmp_path / "user0.pcap", 147, [bytes(60)])
    run = ebcap("-r", str(path), "link[0] = 0")
    assert run.returncode == 1
    assert run.stderr.splitlines()[1:] == [
        "ebcap: link type 147 (unknown) is not supported by ebcap's kernel program"]
