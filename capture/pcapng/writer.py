"""pcapng output as dumpcap writes it: SHB, one IDB per interface, EPBs, an ISB per interface at close.

Every block is packed here with struct, not with dpkt's block classes (tests/unit/test_pcapng.py
reads the output back with dpkt and tshark):
- EPBs: the per-packet path runs at ring-drain rate, and building a dpkt EnhancedPacketBlockLE
  object per packet measured ~6.5 µs against ~0.6 µs for the struct below (Python 3.11, this
  machine); live captures do not even do that, the kernel builds them (bpf/record.h).
- SHB and IDB: `import dpkt.pcapng` runs dpkt's __init__, which imports its ~200 protocol
  modules: 40-60 ms of CPU at every start of a capture (python -X importtime, this machine),
  a sixth of the time to "listening on" with a cached program, and ~0.5 ms more at exit.
- ISB: dpkt has no Interface Statistics Block.
"""

from __future__ import annotations

import functools
import io
import os
import struct
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator

from ebcap.capture import __version__
from ebcap.capture.errors import OutputError
from ebcap.capture.packet import Interface, Packet
from ebcap.capture.pcapng.format import (BT_EPB, BT_IDB, BT_ISB, BT_SHB, BYTE_ORDER_MAGIC,
                                         EPB_FIXED, EPB_HEAD, EPB_TAIL, ISB_ENDTIME,
                                         ISB_FILTERACCEPT, ISB_IFRECV, ISB_OSDROP,
                                         ISB_STARTTIME, ISB_USRDELIV, OPT_COMMENT, OPT_ENDOFOPT,
                                         OPT_EPB_FLAGS, OPT_IF_DESCRIPTION, OPT_IF_FILTER,
                                         OPT_IF_NAME, OPT_IF_OS, OPT_IF_TSRESOL, OPT_SHB_OS,
                                         OPT_SHB_USERAPPL, PADS, TSRESOL_NS, encode_block,
                                         encode_option, encode_options, split_blocks, ts_words)

# Pending blocks are written once they reach this size (and at least once a second): written
# while still in the CPU cache, 88 MB cost ~0.1 s of system time; in 15 MB once-a-second
# batches, 0.27 s (strace -c, 1M headers-only packets).
WRITE_CHUNK = 256 * 1024
# The pending buffer: WRITE_CHUNK and room for the largest EPB a capture makes (262144-byte
# snapshot), so that a buffer too full to take the next block always holds WRITE_CHUNK.
CHUNK_CAPACITY = WRITE_CHUNK + 262144 + 4096


def encode_epb(packet: Packet) -> bytes:
    """One Enhanced Packet Block, timestamp in nanoseconds (all IDBs say if_tsresol = 9), with
    an opt_comment for each of the packet's comments before its epb_flags."""
    data = packet.data
    caplen = len(data)
    if packet.comments or packet.owner is not None:
        return _encode_epb_with_comments(packet)
    total = EPB_FIXED + caplen + (-caplen % 4)
    ts = packet.ts_ns
    return b"".join((
        EPB_HEAD.pack(BT_EPB, total, packet.interface, ts >> 32, ts & 0xFFFFFFFF, caplen,
                       packet.wirelen),
        data, PADS[caplen & 3],
        EPB_TAIL.pack(OPT_EPB_FLAGS, 4, packet.direction, OPT_ENDOFOPT, total),
    ))


@functools.lru_cache(maxsize=1024)
def _comment_options(comments: tuple[str, ...]) -> bytes:
    """The opt_comment options, encoded once per distinct set: a drop capture repeats the same
    few (reason, location) pairs, and encoding them was 40% of its per-packet time."""
    return b"".join(encode_option(OPT_COMMENT, text.encode("utf-8", "replace")) for text in comments)


def _encode_epb_with_comments(packet: Packet) -> bytes:
    # a file's comments (-r -w) are kept as they were; a live capture's owner becomes comments
    texts = packet.comments or tuple(packet.owner.comments())
    comments = _comment_options(texts)
    caplen = len(packet.data)
    total = EPB_FIXED + caplen + (-caplen % 4) + len(comments)
    ts = packet.ts_ns
    return b"".join((
        EPB_HEAD.pack(BT_EPB, total, packet.interface, ts >> 32, ts & 0xFFFFFFFF, caplen,
                      packet.wirelen),
        packet.data, PADS[caplen & 3], comments,
        EPB_TAIL.pack(OPT_EPB_FLAGS, 4, packet.direction, OPT_ENDOFOPT, total),
    ))


class InterfaceStats(namedtuple("InterfaceStats", [
        "start_ns",             # int
        "end_ns",               # int
        # int | None: isb_ifrecv; live, the packets the filter accepted, as libpcap on Linux
        # counts them (bpf/ebcap.c's filter_in_place); -r, the packets read
        "received",
        "accepted",             # int | None: isb_filteraccept
        "dropped",              # int | None: isb_osdrop, accepted but lost (ring buffer full)
        "delivered",            # int: isb_usrdeliv, written
        ])):
    """What the ISB says about one interface (pcapng isb_* options). None: not known for this
    interface, and left out (--drops counts in the kernel for all interfaces together).
    (collections' named tuple: capture/filter/libpcap.py's Insn says why.)"""

    __slots__ = ()


def encode_isb(interface_id: int, stats: InterfaceStats) -> bytes:
    high, low = ts_words(stats.end_ns)
    body = struct.pack("<III", interface_id, high, low) + b"".join(
        encode_option(code, struct.pack("<II", *ts_words(ts)))
        for code, ts in ((ISB_STARTTIME, stats.start_ns), (ISB_ENDTIME, stats.end_ns))
    ) + b"".join(
        encode_option(code, struct.pack("<Q", value))
        for code, value in ((ISB_IFRECV, stats.received), (ISB_FILTERACCEPT, stats.accepted),
                            (ISB_OSDROP, stats.dropped), (ISB_USRDELIV, stats.delivered))
        if value is not None
    ) + encode_option(OPT_ENDOFOPT, b"")
    return encode_block(BT_ISB, body)


_OS = f"{os.uname().sysname} {os.uname().release}".encode()    # platform.system(), release()


def encode_idb(iface: Interface) -> bytes:
    opts = [(OPT_IF_NAME, iface.name.encode())]
    if iface.description:
        opts.append((OPT_IF_DESCRIPTION, iface.description.encode()))
    opts.append((OPT_IF_TSRESOL, bytes([TSRESOL_NS])))
    if iface.filter:
        opts.append((OPT_IF_FILTER, b"\0" + iface.filter.encode()))   # 0: libpcap syntax
    opts.append((OPT_IF_OS, _OS))
    # link type, reserved, snaplen
    return encode_block(BT_IDB, struct.pack("<HHI", iface.linktype, 0, iface.snaplen) + encode_options(opts))


def encode_shb() -> bytes:
    # byte-order magic, version 1.0, section length not given (-1)
    return encode_block(BT_SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + encode_options([
        (OPT_SHB_OS, _OS),
        (OPT_SHB_USERAPPL, f"ebcap {__version__}".encode()),
    ]))


def header_blocks(interfaces: Iterable[Interface]) -> Iterator[bytes]:
    """SHB, then one IDB per interface; equal neighbours are encoded once (a file read with -r
    may declare 300,000 identical interfaces)."""
    yield encode_shb()
    last, block = None, b""
    for iface in interfaces:
        if iface != last:
            last, block = iface, encode_idb(iface)
        yield block


def encode_header(interfaces: list[Interface]) -> bytes:
    """SHB followed by one IDB per interface."""
    return b"".join(header_blocks(interfaces))


class PcapngWriter:
    """Writes whole blocks to an unbuffered binary stream, so the file is valid up to its last
    complete block at any moment.

    Blocks are collected and written in batches; `flush()` pushes them out. When a write fails
    (disk full), a regular file is cut back to its last complete block before the error goes up.
    """

    def __init__(self, stream: io.BufferedIOBase, interfaces: list[Interface], name: str = "-"):
        self.stream = stream
        self.name = name
        self.interfaces = list(interfaces)
        # Blocks wait here, back to back, until WRITE_CHUNK of them are in: one buffer reused
        # for the whole capture, which the ring is drained into directly (fill_from).
        self._chunk = bytearray(CHUNK_CAPACITY)
        self._used = 0
        # fill_through writes to the descriptor itself, which only a plain file object leaves
        # to the kernel as it is (a subclass may write otherwise: tests' full disk)
        self._fd = stream.fileno() if type(stream) is io.FileIO else None
        try:
            self._good = stream.tell() if stream.seekable() else None
        except OSError:
            self._good = None
        self._write_stream(header_blocks(interfaces))

    def _write_now(self, data: bytes) -> None:
        try:
            self._write_all(data)
        except BrokenPipeError:
            raise
        except OSError as exc:
            self._cut_back()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise OutputError(f"{self.name}: {reason}") from exc

    def _write_stream(self, blocks: Iterable[bytes]) -> None:
        """Write many blocks now, WRITE_CHUNK at a time: never all of them in memory at once."""
        batch, size = [], 0
        for block in blocks:
            batch.append(block)
            size += len(block)
            if size >= WRITE_CHUNK:
                self._write_now(b"".join(batch))
                batch, size = [], 0
        if batch:
            self._write_now(b"".join(batch))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self.stream.write(view)
            view = view[written if written is not None else len(view):]
        if self._good is not None:
            self._good += len(data)

    def _cut_back(self) -> None:
        if self._good is not None:
            try:
                os.ftruncate(self.stream.fileno(), self._good)
                self.stream.seek(self._good)
            except OSError:
                pass

    def write(self, packet: Packet) -> None:
        self.write_blocks([encode_epb(packet)])

    def add_interface(self, iface: Interface) -> None:
        """An IDB for an interface that appeared during the capture (-i any)."""
        self.interfaces.append(iface)
        self.write_blocks([encode_idb(iface)])

    def write_blocks(self, blocks: list[bytes]) -> None:
        for block in blocks:
            if len(block) > CHUNK_CAPACITY - self._used:
                self.flush()
                if len(block) > CHUNK_CAPACITY:
                    self._write_now(block)
                    continue
            self._chunk[self._used:self._used + len(block)] = block
            self._used += len(block)
        if self._used >= WRITE_CHUNK:
            self.flush()

    def fill_from(self, fill: Callable[[bytearray, int, int], tuple[int, int]],
                  limit: int = 0) -> int:
        """Let `fill(buffer, offset, limit) -> (offset, blocks)` (RingReader.drain_into) put
        whole blocks straight into the pending buffer, writing out each WRITE_CHUNK, until it
        has nothing more; returns how many blocks it gave."""
        total = 0
        while True:
            self._used, count = fill(self._chunk, self._used, limit - total if limit else 0)
            total += count
            if self._used < WRITE_CHUNK or (limit and total >= limit):
                return total
            self.flush()        # more may wait: the buffer only stops fill past WRITE_CHUNK

    def fill_through(self, fill_write: Callable[[bytearray, int, int, int, int],
                                                tuple[int, int, int]], limit: int = 0) -> int:
        """fill_from for a `fill_write(buffer, offset, fd, write_at, limit) -> (offset, blocks,
        written)` (RingReader.drain_write) that also writes the pending buffer to the file
        itself each time it holds WRITE_CHUNK: the whole drain in one call. Anything it left
        unwritten (a short or failed write, or a stream with no descriptor of its own) goes
        through flush(), and so through its error handling."""
        fd, write_at = (self._fd, WRITE_CHUNK) if self._fd is not None else (-1, CHUNK_CAPACITY + 1)
        total = 0
        while True:
            self._used, count, written = fill_write(self._chunk, self._used, fd, write_at,
                                                    limit - total if limit else 0)
            if self._good is not None:
                self._good += written
            total += count
            if self._used < WRITE_CHUNK or (limit and total >= limit):
                return total
            self.flush()

    def flush(self) -> None:
        if not self._used:
            return
        pending, self._used = memoryview(self._chunk)[:self._used], 0
        try:
            self._write_all(pending)
        except BrokenPipeError:
            raise
        except OSError:
            # Disk full (or similar) part-way through a batch: keep every block that still fits.
            self._cut_back()
            for block in split_blocks(pending):
                self._write_now(block)

    def close(self, stats: list[InterfaceStats] | None = None) -> None:
        """Flush, append one ISB per interface. Leaves the stream open."""
        self.flush()
        if stats:
            self._write_stream(encode_isb(i, s) for i, s in enumerate(stats))
