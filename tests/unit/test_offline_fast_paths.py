"""`ebcap -r`'s fast paths give what the normal paths give.

- dissectors/fastpath.py: every line of the print fixtures (all families) and of the fixture
  corpus, and of every Ethernet frame cut at each length up to its end, is the same with the
  fast path as with the layered printers alone, with and without -n, in two time styles.
- capture/pcapng/reader.py's read-ahead: the same packets whatever the stream's read sizes.
- capture/kernel/_testrun.c without a filter (no kernel needed), pcap and pcapng: the same
  packets, EPBs and stops as the Python reader. With the kernel: tests/integration/test_offline_paths.py.
"""

from __future__ import annotations

import io
import struct

import pytest

from ebcap.capture.packet import Direction, Interface, LinkType, Packet
from ebcap.capture.pcapng.reader import CaptureFileReader
from ebcap.capture.pcapng.writer import PcapngWriter, encode_epb
from ebcap.dissectors import PrintOptions, TimestampMode, fastpath
from ebcap.dissectors.line import LinePrinter
from ebcap.capture.session import offline_fast

from tests.helpers.paths import FIXTURES, PRINT_CORPUS
from tests.helpers.printing import read_pcap

ETHERNET_FILES = [p for p in sorted(PRINT_CORPUS.glob("*.pcap")) + sorted(
    (FIXTURES / "corpus").glob("*.pcap")) if read_pcap(p)[0] == LinkType.ETHERNET]
OPTION_SETS = {
    "-n -tt": PrintOptions(numeric=True, timestamp_mode=TimestampMode.EPOCH),
    "default": PrintOptions(),
    "-n -S": PrintOptions(numeric=True, absolute_seq=True),
}


def printers(options: PrintOptions, monkeypatch) -> tuple[LinePrinter, LinePrinter]:
    fast = LinePrinter(options, [Interface("eth0", LinkType.ETHERNET)], io.StringIO())
    with monkeypatch.context() as patch:
        patch.setattr(fastpath, "usable", lambda _options: False)
        slow = LinePrinter(options, [Interface("eth0", LinkType.ETHERNET)], io.StringIO())
    assert fast._fast and not slow._fast
    return fast, slow


def cut_variants(packets: list[Packet]) -> list[Packet]:
    """Each frame, then each frame cut at every length (the wire length kept): every boundary
    the fast path checks falls somewhere in these."""
    out = []
    for p in packets:
        out.append(p)
        out += [p._replace(data=p.data[:n]) for n in range(1, min(len(p.data), 140))]
    return out


def test_the_fixtures_have_what_the_fast_path_takes():
    assert len(ETHERNET_FILES) >= 20
    packets = [p for path in ETHERNET_FILES for p in read_pcap(path)[1]]
    fast, _slow = printers(OPTION_SETS["-n -tt"], pytest.MonkeyPatch())
    taken = 0
    for p in packets:
        fast._nd.out = []
        try:
            fastpath.ether_fast(fast._nd, p.data, p.wirelen)
        except Exception:       # an application printer's truncation: the line printer's
            pass
        taken += bool(fast._nd.out)
    assert taken >= 100 and taken < len(packets)     # both paths are exercised


@pytest.mark.parametrize("flags", OPTION_SETS)
@pytest.mark.parametrize("path", ETHERNET_FILES, ids=[p.name for p in ETHERNET_FILES])
def test_fast_lines_equal_layered_lines(path, flags, monkeypatch):
    _linktype, packets = read_pcap(path)
    fast, slow = printers(OPTION_SETS[flags], monkeypatch)
    for n, p in enumerate(cut_variants(packets)):
        assert fast.format(p) == slow.format(p), (path.name, n, len(p.data))


@pytest.mark.parametrize("flag", ["link_header", "verbose", "quiet", "hex", "hex_ascii", "ascii"])
def test_options_that_change_the_text_leave_the_fast_path(flag):
    assert fastpath.usable(PrintOptions())
    assert not fastpath.usable(PrintOptions(**{flag: 1}))


def test_a_frame_the_fast_path_declines_is_left_untouched():
    printer = LinePrinter(PrintOptions(numeric=True), [Interface("eth0", LinkType.ETHERNET)],
                          io.StringIO())
    nd = printer._nd
    vlan = bytes(12) + b"\x81\x00" + bytes(60)
    nd.out = ["ts "]
    assert not fastpath.ether_fast(nd, vlan, len(vlan))
    assert nd.out == ["ts "]


# --- the read-ahead and the C loop without a filter -------------------------------------------

class ShortReads(io.RawIOBase):
    """A pipe that hands out at most 7 bytes a read."""

    def __init__(self, data: bytes):
        self._data, self._pos = data, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        chunk = self._data[self._pos:self._pos + min(len(buffer), 7)]
        buffer[:len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


def pcap_file(frames: list[bytes], caplens: list[int] | None = None) -> bytes:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)]
    for n, frame in enumerate(frames):
        caplen = caplens[n] if caplens else len(frame)
        out.append(struct.pack("<IIII", 1_700_000_000 + n, n * 1000, caplen, len(frame) + 4))
        out.append(frame)
    return b"".join(out)


FRAMES = [bytes([n % 256]) * (14 + n * 37 % 1400) for n in range(400)]


def test_read_ahead_gives_the_same_packets_whatever_the_reads():
    data = pcap_file(FRAMES)
    whole = list(CaptureFileReader(io.BytesIO(data), "f"))
    short = list(CaptureFileReader(ShortReads(data), "f"))
    assert whole == short and len(whole) == len(FRAMES)
    assert [p.data for p in whole] == FRAMES


class Unfiltered:
    cut = 100
    matched = 0


def scan_all(data: bytes, out=None, packets=None, limit=0):
    reader = CaptureFileReader(io.BytesIO(data), "f")
    first = next(iter(reader))
    fast = offline_fast.FastReader(reader.pcap or reader.pcapng, Unfiltered(), 1)
    chunks = (reader.pcap or reader.pcapng).chunks
    chunks.fill(len(data))
    fast.iface_base = 0
    used, seen, matched = fast._scan(out, 0, packets, limit)
    return first, fast, used, seen, matched


@pytest.mark.skipif(offline_fast._testrun is None, reason="_testrun not built")
def test_c_loop_makes_the_writers_epbs_and_the_readers_packets():
    data = pcap_file(FRAMES)
    out, packets = bytearray(1 << 20), []
    first, fast, used, seen, matched = scan_all(data, out, None)
    expected = [p._replace(data=p.data[:100]) for p in CaptureFileReader(io.BytesIO(data), "f")]
    assert first == list(CaptureFileReader(io.BytesIO(data), "f"))[0]
    # the first packet is the Python reader's; the C loop takes the rest, up to the read-ahead
    assert seen == matched and fast.status == offline_fast.NEED_DATA
    assert bytes(out[:used]) == b"".join(encode_epb(p) for p in expected[1:1 + seen])
    first, fast, used, seen, matched = scan_all(data, None, packets)
    assert packets == expected[1:1 + seen]
    assert all(type(p) is Packet and p.direction is Direction.UNKNOWN for p in packets)


@pytest.mark.skipif(offline_fast._testrun is None, reason="_testrun not built")
@pytest.mark.parametrize("bad", [{"caplen": 300000}, {"caplen": 13}])
def test_c_loop_stops_before_a_record_the_python_reader_must_judge(bad):
    caplens = [len(f) for f in FRAMES[:10]]
    caplens[5] = bad["caplen"]
    data = pcap_file(FRAMES[:10], caplens)
    packets = []
    _first, fast, _used, seen, _matched = scan_all(data, None, packets)
    assert fast.status == offline_fast.SLOW and seen == 4      # records 1-4; 5 is the Python's


@pytest.mark.skipif(offline_fast._testrun is None, reason="_testrun not built")
def test_c_loop_stops_at_the_limit_and_at_a_cut_off_record():
    data = pcap_file(FRAMES[:50])
    packets = []
    _first, fast, _used, seen, matched = scan_all(data, None, packets, limit=7)
    assert (fast.status, seen, matched, len(packets)) == (offline_fast.LIMIT, 7, 7, 7)
    packets = []
    _first, fast, _used, seen, _matched = scan_all(data[:-3], None, packets)
    assert (fast.status, seen) == (offline_fast.NEED_DATA, 48)


def pcapng_file(packets: list[Packet]) -> bytes:
    stream = io.BytesIO()
    writer = PcapngWriter(stream, [Interface("eth0", LinkType.ETHERNET, 262144),
                                   Interface("eth1", LinkType.ETHERNET, 262144)])
    for p in packets:
        writer.write(p)
    writer.flush()
    return stream.getvalue()


@pytest.mark.skipif(offline_fast._testrun is None, reason="_testrun not built")
def test_c_loop_reads_pcapng_epbs_as_the_reader_does():
    packets = [Packet(1_764_000_000_123_456_789 + n, n % 2, Direction(n % 3), len(f) + 9, f)
               for n, f in enumerate(FRAMES[:300])]
    packets[200] = packets[200]._replace(comments=("a comment",))
    data = pcapng_file(packets)
    expected = list(CaptureFileReader(io.BytesIO(data), "f"))
    assert [p.comments for p in expected] == [p.comments for p in packets]
    found = []
    _first, fast, _used, seen, _matched = scan_all(data, None, found)
    assert fast.status == offline_fast.SLOW and seen == 199      # the commented EPB: Python's
    assert found == [p._replace(data=p.data[:100]) for p in expected[1:200]]
    out = bytearray(1 << 20)
    _first, fast, used, seen, _matched = scan_all(data, out, None)
    assert bytes(out[:used]) == b"".join(encode_epb(p._replace(data=p.data[:100]))
                                         for p in expected[1:200])
