"""RingReader.drain_into (ebcap.capture.kernel._ringdrain in C, or its Python fallback) walks the ring exactly
as RingReader.drain_blocks' Python loop does.

The rings are synthetic, laid out as ebcap maps them (capture/kernel/ring.py): the producer page, then
the data area once, so that the payload of a record near its end wraps to its start.
"""

import ctypes
import mmap
import struct
from array import array

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import ebcap.capture.kernel.ring as ring
from ebcap.capture.packet import Direction, Packet
from ebcap.capture.pcapng.writer import encode_epb
from ebcap.capture.kernel.ring import RINGBUF_BUSY_BIT, RINGBUF_DISCARD_BIT, RingReader
from ebcap.capture.pcapng.format import parse_epb

PAGE = 4096
SIZE = 4096                 # the data area; a power of two, as the kernel requires

needs_c = pytest.mark.skipif(ring._ringdrain is None, reason="ebcap.capture.kernel._ringdrain not built")


class SyntheticRing:
    """Records written at increasing positions from `start`, as a producer would."""

    def __init__(self, start: int = 0):
        self.data = bytearray(SIZE)
        self.start = self.prod = start

    def put(self, epb: bytes, spare: int = 0, flags: int = 0) -> None:
        """One record whose payload is `epb` and `spare` bytes more (the kernel's size classes:
        a zero head where a next block's would be, then bytes nobody wrote)."""
        length = len(epb) + spare
        record = (struct.pack("<II", length | flags, 0) + epb + b"\0" * min(spare, 8)
                  + b"\xee" * max(spare - 8, 0))
        record += b"\0" * (-len(record) % 8)
        for i, byte in enumerate(record):
            self.data[(self.prod + i) % SIZE] = byte
        self.prod += len(record)

    def put_batch(self, epbs: list[bytes], flags: int = 0) -> None:
        """One record holding several blocks back to back (bpf/ebcap.c's staging buffer)."""
        self.put(b"".join(epbs), flags=flags)

    def buffer(self) -> bytes:
        page = struct.pack("<Q", self.prod).ljust(PAGE, b"\0")
        return page + bytes(self.data)

    def reader(self, pages=None) -> RingReader:
        reader = RingReader.__new__(RingReader)
        reader._pages = self.buffer() if pages is None else pages
        reader._mask = SIZE - 1
        reader._data_base = PAGE
        reader.batched = True
        reader._consumer_page = bytearray(struct.pack("<Q", self.start))
        reader._consumer = ctypes.c_uint64.from_buffer(reader._consumer_page)
        return reader


def epb(n: int, size: int) -> bytes:
    return encode_epb(Packet(1_700_000_000_000_000_000 + n, n % 3, Direction.IN, size + 4,
                             bytes((n + i) % 256 for i in range(size))))


def python_drain(synthetic: SyntheticRing, limit: int):
    reader = synthetic.reader()
    blocks: list[bytes] = []
    count = reader.drain_blocks(blocks, limit)
    return blocks, reader._consumer.value, count


def drain_into(synthetic: SyntheticRing, limit: int, room: int = 1 << 16, pages=None):
    """drain_into with `room` bytes free after 5 bytes already in the buffer."""
    reader = synthetic.reader(pages)
    out = bytearray(b"\xaa" * (5 + room))
    end, count = reader.drain_into(out, 5, limit)
    assert out[:5] == b"\xaa" * 5 and out[end:] == b"\xaa" * (len(out) - end)
    return bytes(out[5:end]), reader._consumer.value, count


def assert_same(synthetic: SyntheticRing, limit: int, monkeypatch) -> list[bytes]:
    blocks, cons, count = python_drain(synthetic, limit)
    assert count == len(blocks)
    expected = (b"".join(blocks), cons, count)
    if ring._ringdrain is not None:
        assert drain_into(synthetic, limit) == expected
    with monkeypatch.context() as patched:
        patched.setattr(ring, "_ringdrain", None)
        assert drain_into(synthetic, limit) == expected
    return blocks


def test_sizes_and_size_classes(monkeypatch):
    synthetic = SyntheticRing()
    sizes = [0, 1, 3, 4, 14, 60, 96, 257, 1500]
    for n, size in enumerate(sizes):
        synthetic.put(epb(n, size), spare=(n * 13) % 40)
    blocks = assert_same(synthetic, 0, monkeypatch)
    assert [len(parse_epb(b)[4]) for b in blocks] == sizes


def test_discarded_records_are_skipped(monkeypatch):
    synthetic = SyntheticRing()
    for n in range(8):
        synthetic.put(epb(n, 40 + n), flags=RINGBUF_DISCARD_BIT if n % 3 == 1 else 0)
    blocks = assert_same(synthetic, 0, monkeypatch)
    assert [parse_epb(b)[2] - 4 for b in blocks] == [40, 42, 43, 45, 46]


def test_stops_at_a_busy_record(monkeypatch):
    synthetic = SyntheticRing()
    synthetic.put(epb(0, 60))
    synthetic.put(epb(1, 60), flags=RINGBUF_DISCARD_BIT)
    busy_at = synthetic.prod
    synthetic.put(epb(2, 60), flags=RINGBUF_BUSY_BIT)
    synthetic.put(epb(3, 60))
    assert len(assert_same(synthetic, 0, monkeypatch)) == 1
    assert python_drain(synthetic, 0)[1] == busy_at


def test_record_that_wraps(monkeypatch):
    synthetic = SyntheticRing(start=3 * SIZE - 56)
    for n in range(4):
        synthetic.put(epb(n, 70))
    assert synthetic.start % SIZE > synthetic.prod % SIZE
    blocks = assert_same(synthetic, 0, monkeypatch)
    assert [parse_epb(b)[4] for b in blocks] == [parse_epb(epb(n, 70))[4] for n in range(4)]


@pytest.mark.parametrize("before_end", [8, 16, 24, 64, 72])
@pytest.mark.parametrize("size", [0, 3, 20, 61])
def test_payload_that_wraps_at_every_point(before_end, size, monkeypatch):
    """The header in the data area's last 8 bytes (the payload, its length word included, at
    its start), or the payload cut anywhere: every block comes out whole."""
    synthetic = SyntheticRing(start=5 * SIZE - before_end)
    for n in range(3):
        synthetic.put(epb(n, size + n))
    blocks = assert_same(synthetic, 0, monkeypatch)
    assert blocks == [epb(n, size + n) for n in range(3)]


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 6, 100])
def test_limit(limit, monkeypatch):
    synthetic = SyntheticRing()
    for n in range(6):
        synthetic.put(epb(n, 20), flags=RINGBUF_DISCARD_BIT if n in (1, 3) else 0)
        synthetic.put(epb(n, 30))
    assert len(assert_same(synthetic, limit, monkeypatch)) == min(limit, 10)


def test_empty_ring(monkeypatch):
    synthetic = SyntheticRing(start=SIZE + 8)
    assert assert_same(synthetic, 0, monkeypatch) == []
    synthetic.put(epb(0, 10), flags=RINGBUF_DISCARD_BIT)
    assert assert_same(synthetic, 0, monkeypatch) == []


@pytest.mark.parametrize("c", [True, False])
def test_stops_where_the_next_block_does_not_fit(c, monkeypatch):
    if c and ring._ringdrain is None:
        pytest.skip("ebcap.capture.kernel._ringdrain not built")
    if not c:
        monkeypatch.setattr(ring, "_ringdrain", None)
    synthetic = SyntheticRing()
    for n in range(4):
        synthetic.put(epb(n, 50), flags=RINGBUF_DISCARD_BIT if n == 1 else 0)
    blocks, _cons, _count = python_drain(synthetic, 0)
    size = len(blocks[0])
    for room, fits in [(0, 0), (size - 1, 0), (size, 1), (2 * size + 7, 2), (3 * size, 3)]:
        data, cons, count = drain_into(synthetic, 0, room)
        assert (data, count) == (b"".join(blocks[:fits]), fits)
        # the consumer stops at the first block not taken: the next call starts there
        assert python_drain(_from(synthetic, cons), 0)[0] == blocks[fits:]


def _from(synthetic: SyntheticRing, cons: int) -> SyntheticRing:
    moved = SyntheticRing(cons)
    moved.data, moved.prod = synthetic.data, synthetic.prod
    return moved


@needs_c
def test_read_only_mmap(tmp_path):
    synthetic = SyntheticRing()
    for n in range(3):
        synthetic.put(epb(n, 50))
    path = tmp_path / "ring"
    path.write_bytes(synthetic.buffer())
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as pages:
        data, _cons, count = drain_into(synthetic, 0, pages=pages)
        pages.close()       # the extension released its view of the mapping
    assert count == 3
    assert data == b"".join(python_drain(synthetic, 0)[0])


@needs_c
@pytest.mark.parametrize("corrupt", ["epb_longer_than_record", "record_past_buffer",
                                     "record_shorter_than_epb_head"])
def test_corrupt_lengths_raise(corrupt):
    synthetic = SyntheticRing()
    synthetic.put(epb(0, 50))
    if corrupt == "epb_longer_than_record":
        synthetic.data[8 + 4:8 + 8] = struct.pack("<I", 200)
    elif corrupt == "record_past_buffer":
        synthetic.data[0:4] = struct.pack("<I", 3 * SIZE)
    else:
        synthetic.data[0:4] = struct.pack("<I", 4)
    with pytest.raises(ValueError):
        ring._ringdrain.drain_into(synthetic.buffer(), PAGE, SIZE - 1, 0, synthetic.prod, 0,
                                   bytearray(4096), 0)


@needs_c
def test_offsets_outside_buffers():
    with pytest.raises(ValueError):
        ring._ringdrain.drain_into(b"\0" * 64, 128, 63, 0, 8, 0, bytearray(64), 0)
    with pytest.raises(ValueError):
        ring._ringdrain.drain_into(b"\0" * 64, 0, 63, 0, 8, 0, bytearray(64), 65)


@needs_c
def test_read_only_output_refused():
    with pytest.raises(TypeError):
        ring._ringdrain.drain_into(b"\0" * 64, 0, 63, 0, 0, 0, b"\0" * 64, 0)


records = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 24),
                             st.sampled_from([0, 0, 0, RINGBUF_DISCARD_BIT]),
                             st.sampled_from([1, 1, 2, 5])), max_size=12)


@settings(max_examples=200, deadline=None)
@given(start=st.integers(0, 2**40), recs=records, limit=st.integers(0, 14),
       busy=st.booleans())
def test_random_rings_agree(start, recs, limit, busy):
    """Single blocks in size classes and batched records, mixed, anywhere in the ring."""
    start -= start % 8
    synthetic = SyntheticRing(start)
    for n, (size, spare, flags, blocks) in enumerate(recs):
        if blocks == 1:
            synthetic.put(epb(n, size), spare=spare, flags=flags)
        else:
            synthetic.put_batch([epb(n * 8 + i, size + i) for i in range(blocks)], flags=flags)
    if busy:
        synthetic.put(epb(99, 10), flags=RINGBUF_BUSY_BIT)
    assume(synthetic.prod - start <= SIZE)          # no record written over another
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert_same(synthetic, limit, monkeypatch)


@pytest.fixture(params=["C", "Python"])
def walk(request, monkeypatch):
    """The ring walk under test: _ringdrain's C, or ring.py's Python fallback."""
    if request.param == "C" and ring._ringdrain is None:
        pytest.skip("ebcap.capture.kernel._ringdrain not built")
    if request.param == "Python":
        monkeypatch.setattr(ring, "_ringdrain", None)
    return request.param


def test_counts_blocks_per_interface_id(walk):
    """-i any into one file (capture/session/drain.py): each block adds one at its interface id
    (epb() gives packet n the id n % 3); ids past the array's end are not counted, and a limit
    counts only what it took."""
    from array import array
    synthetic = SyntheticRing(start=SIZE - 40)      # the first records wrap
    for n in range(10):
        synthetic.put(epb(n, 20 + n))
    counts = array("Q", [0, 0])                     # id 2 not yet known
    reader = synthetic.reader()
    out = bytearray(1 << 16)
    _end, count = reader.drain_into(out, 0, 7, counts=counts)
    assert count == 7 and list(counts) == [3, 2]    # ids 0,1,2,0,1,2,0
    _end, count = reader.drain_into(out, 0, 0, counts=counts)
    assert count == 3 and list(counts) == [4, 3]


@pytest.mark.parametrize("write_at", [1, 300, 1 << 20])
def test_drain_write_writes_each_chunk_and_keeps_the_rest(tmp_path, walk, write_at):
    """drain_write: the same blocks as drain_blocks, in order, those written to the file up to
    the last time the buffer reached write_at and the rest still in it; the consumer position
    published as far as it took."""
    synthetic = SyntheticRing(start=SIZE - 40)      # the first records wrap
    for n in range(30):
        synthetic.put(epb(n, 20 + 3 * n), flags=RINGBUF_DISCARD_BIT if n % 7 == 3 else 0)
    expected, cons, _count = python_drain(synthetic, 0)
    reader = synthetic.reader()
    out = bytearray(b"\xaa" * 4096)
    out[:5] = b"start"
    with open(tmp_path / "f", "wb", buffering=0) as f:
        end, count, written = reader.drain_write(out, 5, f.fileno(), write_at)
    data = (tmp_path / "f").read_bytes()
    assert len(data) == written and count == len(expected)
    assert data + bytes(out[:end]) == b"start" + b"".join(expected)
    assert (end < write_at) and (written == 0) == (write_at > len(b"".join(expected)) + 5)
    assert reader._consumer.value == cons


def test_drain_write_leaves_a_failed_write_to_the_caller(walk):
    """A write that fails (here: no such descriptor) writes nothing and keeps every block taken
    in the buffer, the consumer position past them: the writer's flush writes them again."""
    synthetic = SyntheticRing()
    for n in range(6):
        synthetic.put(epb(n, 40))
    expected, cons, _count = python_drain(synthetic, 4)
    reader = synthetic.reader()
    out = bytearray(4096)
    end, count, written = reader.drain_write(out, 0, -1, 64, limit=4)
    assert (count, written) == (4, 0) and bytes(out[:end]) == b"".join(expected)
    assert reader._consumer.value == cons


def test_batched_records(walk, monkeypatch):
    """Records of several blocks (the kernel's staging buffer), among single ones and wrapping:
    every block comes out, in order, from the C walk, the Python one and drain_blocks alike."""
    synthetic = SyntheticRing(start=SIZE - 200)
    expected = []
    for n in range(6):
        blocks = [epb(10 * n + i, 20 + 7 * i) for i in range(n + 1)]
        if n % 2:
            synthetic.put_batch(blocks)
        else:
            for block in blocks:
                synthetic.put(block, spare=16)
        expected += blocks
    blocks = assert_same(synthetic, 0, monkeypatch)
    assert blocks == expected
    data, _cons, count = drain_into(synthetic, 0)
    assert (data, count) == (b"".join(expected), len(expected))


@pytest.mark.parametrize("limit", [1, 2, 3, 4])
def test_limit_inside_a_batched_record(walk, limit):
    """-c that ends inside a record: its first blocks up to the limit are taken, the rest of the
    record is passed over (the capture ends there)."""
    synthetic = SyntheticRing()
    blocks = [epb(n, 30) for n in range(5)]
    synthetic.put_batch(blocks[:3])
    synthetic.put_batch(blocks[3:])
    reader = synthetic.reader()
    out = bytearray(4096)
    end, count = reader.drain_into(out, 0, limit)
    assert (bytes(out[:end]), count) == (b"".join(blocks[:limit]), limit)
    taken: list[bytes] = []
    assert synthetic.reader().drain_blocks(taken, limit) == limit and taken == blocks[:limit]
    first_record = 8 + len(b"".join(blocks[:3]))
    assert reader._consumer.value == (first_record + 7 & ~7 if limit <= 3 else synthetic.prod)


def test_counts_blocks_of_batched_records(walk):
    synthetic = SyntheticRing(start=SIZE - 64)
    synthetic.put_batch([epb(n, 10) for n in (0, 3, 6)])       # id 0
    synthetic.put_batch([epb(n, 10) for n in (1, 4)])          # id 1
    counts = array("Q", [0, 0, 0])
    _end, count = synthetic.reader().drain_into(bytearray(4096), 0, 0, counts=counts)
    assert count == 5 and list(counts) == [3, 2, 0]


def test_a_block_that_overruns_its_batch_raises(walk):
    synthetic = SyntheticRing()
    first, second = epb(0, 20), bytearray(epb(1, 20))
    second[4:8] = struct.pack("<I", len(second) + 4)
    synthetic.put_batch([first, bytes(second)])
    with pytest.raises(ValueError):
        synthetic.reader().drain_into(bytearray(4096), 0)
    with pytest.raises(ValueError):
        synthetic.reader().drain_blocks([])


def test_single_block_records_ignore_what_follows_the_block():
    """drops.c's records (RingReader(batched=False)): the bytes after the block are not read."""
    synthetic = SyntheticRing()
    for n in range(3):
        synthetic.put(epb(n, 40) + b"\xee" * 24)
    reader = synthetic.reader()
    reader.batched = False
    blocks: list[bytes] = []
    assert reader.drain_blocks(blocks) == 3 and blocks == [epb(n, 40) for n in range(3)]
