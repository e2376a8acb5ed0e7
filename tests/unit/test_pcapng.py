"""pcapng blocks: read back by ebcap's reader, by dpkt, and checked by tshark."""

import io
import os
import shutil
import subprocess

import dpkt
import pytest

from ebcap.capture.packet import Direction, Interface, Packet
from ebcap.capture.pcapng.writer import InterfaceStats, PcapngWriter, encode_epb
from ebcap.capture.pcapng.reader import CaptureFileReader
from ebcap.capture.pcapng.format import split_blocks

FRAME = bytes.fromhex("ffffffffffff0200000000010800") + bytes(range(47))   # 61 bytes: padding


def write(packets, stats=True):
    out = io.BytesIO()
    writer = PcapngWriter(out, [Interface("veth0", filter="tcp port 443"), Interface("lo")])
    for p in packets:
        writer.write(p)
    writer.close([InterfaceStats(1, 2, 10, 5, 1, 4), InterfaceStats(1, 2, 0, 0, 0, 0)]
                 if stats else None)
    return out.getvalue()


PACKETS = [Packet(1_764_000_000_123_456_789, 0, Direction.IN, 61, FRAME),
           Packet(1_764_000_000_223_456_789, 1, Direction.OUT, 1500, FRAME[:20])]


def test_epb_is_padded_and_self_describing():
    block = encode_epb(PACKETS[0])
    assert len(block) % 4 == 0
    assert int.from_bytes(block[4:8], "little") == len(block) == int.from_bytes(block[-4:], "little")


def test_roundtrip_keeps_ns_interfaces_and_direction():
    reader = CaptureFileReader(io.BytesIO(write(PACKETS)), "x")
    assert list(reader) == PACKETS
    assert [i.name for i in reader.interfaces] == ["veth0", "lo"]


def test_dpkt_reads_it():
    packets = list(dpkt.pcapng.Reader(io.BytesIO(write(PACKETS))))
    assert [buf for _, buf in packets] == [FRAME, FRAME[:20]]


@pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")
def test_tshark_reads_it_without_warnings(tmp_path):
    path = tmp_path / "x.pcapng"
    path.write_bytes(write(PACKETS))
    proc = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.interface_name",
                           "-e", "frame.packet_flags_direction", "-e", "frame.time_epoch"],
                          capture_output=True, text=True)
    assert proc.returncode == 0
    assert [l for l in proc.stderr.splitlines() if "Running as user" not in l] == []
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert [(r[0], int(r[1], 16)) for r in rows] == [("veth0", 1), ("lo", 2)]
    assert rows[0][2] == "1764000000.123456789"
    info = subprocess.run(["capinfos", str(path)], capture_output=True, text=True).stdout
    assert "Filter string = tcp port 443" in info
    assert "Capture application: ebcap" in info


def test_isb_carries_the_kernel_counters():
    import struct
    from ebcap.capture.pcapng.format import BT_ISB, iter_options, walk_blocks
    isbs = [block.body for block in walk_blocks(write(PACKETS)) if block.type == BT_ISB]
    assert len(isbs) == 2
    options = dict(iter_options(isbs[0], 12))       # after interface id and timestamp
    counters = {code: struct.unpack("<Q", options[code])[0] for code in (4, 6, 7, 8)}
    assert counters == {4: 10, 6: 5, 7: 1, 8: 4}   # ifrecv, filteraccept, osdrop, usrdeliv
    assert set(options) == {2, 3, 4, 6, 7, 8}


def test_pcap_files_are_read_with_their_resolution(tmp_path):
    out = io.BytesIO()
    w = dpkt.pcap.Writer(out, nano=True)
    w.writepkt(FRAME, ts=1.5)
    reader = CaptureFileReader(io.BytesIO(out.getvalue()), "n")
    (packet,) = list(reader)
    assert packet.ts_ns == 1_500_000_000 and packet.data == FRAME


def test_split_blocks_recovers_each_block_of_a_joined_batch():
    from ebcap.capture.pcapng.format import split_blocks
    blocks = [encode_epb(p) for p in PACKETS]
    assert split_blocks(b"".join(blocks)) == blocks


class FullDisk(io.FileIO):
    """A file that takes `room` bytes, then fails as a full disk does (a short write, then
    ENOSPC); truncating and seeking work as on a real disk."""

    def __init__(self, path, room):
        super().__init__(path, "w+")
        self.room = room

    def write(self, data):
        if self.tell() >= self.room:
            raise OSError(28, "No space left on device")
        return super().write(bytes(data)[:self.room - self.tell()])


def ring_fill(blocks):
    """A stand-in for RingReader.drain_into: whole blocks while they fit, in order."""
    pending = list(blocks)

    def fill(buffer, offset, limit):
        count = 0
        while pending and len(pending[0]) <= len(buffer) - offset and not (limit and count >= limit):
            block = pending.pop(0)
            buffer[offset:offset + len(block)] = block
            offset += len(block)
            count += 1
        return offset, count
    return fill


def epbs(n, size):
    return [encode_epb(Packet(1_764_000_000_000_000_000 + i, 0, Direction.IN, size,
                              bytes([i % 256]) * size)) for i in range(n)]


def test_fill_from_writes_every_block_in_order_across_chunks():
    from ebcap.capture.pcapng.writer import WRITE_CHUNK
    blocks = epbs(3000, 200) + epbs(2, 262144) + epbs(5, 60)
    out = io.BytesIO()
    writer = PcapngWriter(out, [Interface("veth0")])
    header = out.getvalue()
    assert writer.fill_from(ring_fill(blocks[:10]), limit=4) == 4
    assert writer.fill_from(ring_fill(blocks[4:])) == len(blocks) - 4
    assert len(out.getvalue()) - len(header) >= len(b"".join(blocks)) - WRITE_CHUNK
    writer.close()
    assert out.getvalue() == header + b"".join(blocks)


def ring_fill_write(blocks):
    """A stand-in for RingReader.drain_write, from ring_fill: writes each time the buffer holds
    write_at bytes, until the blocks run out."""
    fill = ring_fill(blocks)

    def fill_write(buffer, offset, fd, write_at, limit):
        count = written = 0
        while True:
            offset, n = fill(buffer, offset, limit - count if limit else 0)
            count += n
            if offset < write_at or (limit and count >= limit):
                return offset, count, written
            written += os.write(fd, buffer[:offset])
            offset = 0
    return fill_write


@pytest.mark.parametrize("plain", [True, False], ids=["file", "BytesIO"])
def test_fill_through_writes_every_block_in_order(tmp_path, plain):
    """Into a plain file the fill writes the chunks itself (and the writer counts them as
    good), into any other stream the writer does."""
    blocks = epbs(3000, 200) + epbs(2, 262144) + epbs(5, 60)
    path = tmp_path / "out.pcapng"
    with open(path, "wb", buffering=0) if plain else io.BytesIO() as out:
        writer = PcapngWriter(out, [Interface("veth0")])
        assert writer.fill_through(ring_fill_write(blocks[:10]), limit=4) == 4
        assert writer.fill_through(ring_fill_write(blocks[4:])) == len(blocks) - 4
        writer.close()
        data = path.read_bytes() if plain else out.getvalue()
        if plain:
            assert writer._good == len(data)
    assert split_blocks(data)[2:] == blocks


def test_fill_from_on_a_full_disk_keeps_whole_blocks(tmp_path):
    from ebcap.capture.errors import OutputError
    from ebcap.capture.pcapng.format import split_blocks
    blocks = epbs(5000, 100)
    with FullDisk(tmp_path / "out.pcapng", room=300_000) as out:
        writer = PcapngWriter(out, [Interface("veth0")])
        with pytest.raises(OutputError, match="No space left on device"):
            writer.fill_from(ring_fill(blocks))
            writer.flush()
    data = (tmp_path / "out.pcapng").read_bytes()
    written = split_blocks(data)
    assert len(b"".join(written)) == len(data)                # ends on a block boundary
    assert written[2:] == blocks[:len(written) - 2]           # after SHB and IDB, in order
    assert len(written) - 2 == (300_000 - len(b"".join(written[:2]))) // len(blocks[0])


def test_the_pending_buffer_always_has_room_for_the_largest_block():
    """The ring is drained into the writer's buffer only while whole blocks fit, and the buffer
    is written out once it holds WRITE_CHUNK: below that it must take the largest EPB a capture
    makes, or a record that fits nowhere would stall the capture for good."""
    from ebcap.capture.filter.libpcap import MAXIMUM_SNAPLEN
    from ebcap.capture.pcapng.format import EPB_FIXED
    from ebcap.capture.pcapng.writer import CHUNK_CAPACITY, WRITE_CHUNK
    assert CHUNK_CAPACITY - WRITE_CHUNK >= EPB_FIXED + MAXIMUM_SNAPLEN + 3
