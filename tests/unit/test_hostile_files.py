"""Hostile capture files: every one is an InputError naming the file and what is wrong, worded
as libpcap words it, and nothing read from a file makes the reader allocate past libpcap's
limits (fixtures/hostile/make_hostile.py builds the corpus; tests/integration/ runs ebcap on it)."""

from __future__ import annotations

import io
import struct
import tracemalloc

import pytest

from ebcap.capture.errors import InputError, MalformedBlock
from ebcap.capture.pcapng.format import MAX_BLOCK, iter_options, read_blocks
from ebcap.capture.pcapng.reader import CaptureFileReader
from tests.helpers.hostile import hostile_script

CORPUS = hostile_script().corpus()


class Pipe(io.RawIOBase):
    """A non-seekable stream returning at most `chunk` bytes a read, as a pipe does."""

    def __init__(self, data: bytes, chunk: int = 7):
        self._data, self._at, self._chunk = data, 0, chunk

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self._chunk, len(self._data) - self._at)
        buffer[:n] = self._data[self._at:self._at + n]
        self._at += n
        return n


def read_all(stream, name="hostile"):
    return list(CaptureFileReader(stream, name))


@pytest.mark.parametrize("hostile", CORPUS, ids=[h.name for h in CORPUS])
def test_each_hostile_file_is_one_input_error(hostile):
    with pytest.raises(InputError) as caught:
        read_all(io.BytesIO(hostile.data), hostile.name)
    assert str(caught.value) == f"{hostile.name}: {hostile.message}"
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("hostile", CORPUS, ids=[h.name for h in CORPUS])
def test_same_error_through_a_pipe_that_returns_short_reads(hostile):
    with pytest.raises(InputError) as caught:
        read_all(Pipe(hostile.data), "-")
    assert str(caught.value) == f"-: {hostile.message}"


def test_the_corpus_covers_what_the_issue_lists():
    names = {h.name for h in CORPUS}
    assert len(names) == len(CORPUS) >= 40
    for wanted in ("pcap-caplen-4g.pcap", "block-length-4g.pcapng", "block-length-8.pcapng",
                   "epb-empty.pcapng", "spb-before-idb.pcapng", "epb-caplen-beyond-block.pcapng",
                   "shb-length-11.pcapng", "block-length-16m-plus-4.pcapng"):
        assert wanted in names


def test_a_claimed_length_is_refused_before_anything_is_read():
    """A pipe claiming a 4 GiB record: the reader reads the 16-byte header and no further."""
    script = hostile_script()
    stream = io.BytesIO(script.pcap_header() + script.pcap_record(b"", caplen=script.HUGE)
                        + b"\0" * 100_000)
    with pytest.raises(InputError, match="invalid packet capture length 4294967280"):
        read_all(stream)
    assert stream.tell() == 24 + 16


def test_a_block_of_16_mib_is_read_and_one_more_byte_is_not():
    script = hostile_script()
    body = b"\0" * (MAX_BLOCK - 12)
    ok = script.shb() + script.idb() + script.block(0x0BAD, body) + script.epb()
    tracemalloc.start()
    try:
        assert len(read_all(io.BytesIO(ok))) == 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MAX_BLOCK + (2 << 20)         # the block once, not copied again
    with pytest.raises(InputError, match=f"pcapng block size {MAX_BLOCK + 4} > maximum"):
        read_all(io.BytesIO(script.shb() + script.idb() + script.block(0x0BAD, body + b"1234")))


def test_300000_interfaces_cost_little_each():
    script = hostile_script()
    data = script.many_interfaces(300_000)
    tracemalloc.start()
    try:
        reader = CaptureFileReader(io.BytesIO(data), "many")
        packets = list(reader)
        current, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(reader.interfaces) == 300_000 and packets[0].interface == 299_999
    assert reader.interfaces[0] is reader.interfaces[-1]          # one record, shared
    assert current < 8 << 20                # ~16 bytes an interface (two list slots)


def test_distinct_interfaces_are_not_merged():
    script = hostile_script()
    data = (script.shb() + script.idb(opts=script.options((2, b"eth0")))
            + script.idb(opts=script.options((2, b"eth1"))) + script.idb(snaplen=96)
            + script.idb(opts=script.options((9, b"\x09"))) + script.epb(iface=3))
    reader = CaptureFileReader(io.BytesIO(data), "f")
    packet, = list(reader)
    assert [(i.name, i.snaplen) for i in reader.interfaces] == [
        ("eth0", 262144), ("eth1", 262144), ("f", 96), ("f", 262144)]
    assert packet.ts_ns == 1764000000          # if_tsresol 9 on interface 3: nanoseconds


def test_options_running_past_their_block_are_malformed():
    body = struct.pack("<HH", 2, 9) + b"12345678"
    with pytest.raises(MalformedBlock, match="option 2 of length 9 runs past the end of its "
                                             "Interface Description Block"):
        list(iter_options(body, 0, "<", 1))
    assert list(iter_options(struct.pack("<HH", 2, 8) + b"12345678", 0)) == [(2, b"12345678")]


def test_read_blocks_names_the_stream():
    with pytest.raises(InputError, match="^cap: block in pcapng dump file has a length of 8 < 12$"):
        list(read_blocks(io.BytesIO(struct.pack("<II", 1, 8)), "cap"))


def test_a_second_section_in_the_other_byte_order_is_read():
    script = hostile_script()
    data = (script.shb() + script.idb() + script.epb()
            + script.shb(">") + script.idb(order=">") + script.epb(order=">"))
    packets = read_all(io.BytesIO(data))
    assert [p.data for p in packets] == [script.FRAME, script.FRAME]
