"""The committed filter corpus is exactly what fixtures/make_corpus.py writes."""

import struct
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CORPUS = FIXTURES / "corpus"
SCRIPT = FIXTURES / "make_corpus.py"
LINKTYPE_SCRIPT = FIXTURES / "make_linktype_corpus.py"      # the same directory, the other link types
PCAP_HEADER = struct.Struct("<IHHiIII")
RECORD_HEADER = struct.Struct("<IIII")


def pcap_records(path: Path) -> tuple[int, list[tuple[int, int, int, int]]]:
    """The linktype and (seconds, microseconds, caplen, wirelen) of every record."""
    data = path.read_bytes()
    magic, _, _, _, _, _, linktype = PCAP_HEADER.unpack_from(data)
    assert magic == 0xA1B2C3D4
    records, offset = [], PCAP_HEADER.size
    while offset < len(data):
        sec, usec, caplen, wirelen = RECORD_HEADER.unpack_from(data, offset)
        records.append((sec, usec, caplen, wirelen))
        offset += RECORD_HEADER.size + caplen
    assert offset == len(data)
    return linktype, records


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("corpus")
    for script in (SCRIPT, LINKTYPE_SCRIPT):
        subprocess.run([sys.executable, "-I", str(script), str(outdir)], check=True, capture_output=True)
    return outdir


def test_regeneration_is_byte_identical(regenerated):
    written = sorted(p.name for p in regenerated.iterdir())
    assert written == sorted(p.name for p in CORPUS.glob("*.pcap"))
    for name in written:
        assert (regenerated / name).read_bytes() == (CORPUS / name).read_bytes(), f"{name} differs: rerun {SCRIPT} and {LINKTYPE_SCRIPT}"


def test_two_runs_agree(regenerated, tmp_path):
    for script in (SCRIPT, LINKTYPE_SCRIPT):
        subprocess.run([sys.executable, "-I", str(script), str(tmp_path)], check=True, capture_output=True)
    for path in regenerated.iterdir():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes()


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.pcap")))
def test_timestamps_are_distinct_and_increasing(name):
    _, records = pcap_records(CORPUS / name)
    stamps = [(sec, usec) for sec, usec, _, _ in records]
    assert stamps == sorted(set(stamps))


def test_corpus_covers_edge_sizes_and_linktypes():
    linktypes, caplens, truncated = set(), [], 0
    for path in CORPUS.glob("*.pcap"):
        linktype, records = pcap_records(path)
        linktypes.add(linktype)
        caplens += [caplen for _, _, caplen, _ in records]
        truncated += sum(caplen < wirelen for _, _, caplen, wirelen in records)
    assert linktypes == {1, 101, 113, 276, 0, 108, 9, 51, 12, 228, 229, 105, 127, 239}
    assert min(caplens) < 14 and max(caplens) >= 9000
    assert truncated >= 5
    assert sum(p.stat().st_size for p in CORPUS.glob("*.pcap")) < 2_000_000
