"""The fast loop of `ebcap -r` over a classic pcap file: whole chunks of records in C.

capture/kernel/_testrun.c walks the records of the reader's read-ahead chunk and, for each,
runs the same kernel program as the Python path (BPF_PROG_TEST_RUN) and takes its record from
the same ring; matches become EPBs straight in the writer's pending buffer (-w alone) or
Packets for the sinks. It stops before any record the Python path must see for itself (a
length libpcap refuses, a frame the kernel refuses to test-run, the end of the file): offline.py
then reads that one record the usual way and comes back here. So the two paths give the same
packets (tests/integration/test_offline_paths.py), and the hostile-file checks stay the reader's.
"""

from __future__ import annotations

from ebcap.capture.filter.libpcap import MAXIMUM_SNAPLEN
from ebcap.capture.packet import Direction, Packet
from ebcap.capture.pcapng.reader import PcapRecords

try:
    from ebcap.capture.kernel import _testrun       # setup.py: optional
except ImportError:
    _testrun = None

NEED_DATA, SLOW, OUT_FULL, LIMIT = range(4)       # _testrun.scan_pcap's status


class FastPcap:
    """Runs one filter (offline._KernelFilter or _Unfiltered) over the records of a pcap file."""

    def __init__(self, records: PcapRecords, kernel_filter):
        self.records = records
        self.filter = kernel_filter
        runner = getattr(kernel_filter, "runner", None)
        if runner is None:          # no expression: nothing to run, only the cut
            self.kernel = (-1, bytearray(4), 0, 0, None, 0, 0, None)
            self.cut = kernel_filter.cut
        else:                       # the kernel's record says what to keep
            self.kernel = runner.batch_args() + kernel_filter.ring.batch_args()
            self.cut = MAXIMUM_SNAPLEN
        self.status = NEED_DATA

    def _scan(self, out, used: int, packets, limit: int) -> tuple[int, int, int]:
        """One pass over what the read-ahead holds: (output used, seen, matched)."""
        chunks, records = self.records.chunks, self.records
        prog_fd, ctx, wire_off, max_wire, pages, base, mask, consumer = self.kernel
        chunks.pos, used, seen, matched, self.status = _testrun.scan_pcap(
            chunks.buf, chunks.pos, len(chunks.buf), records.swapped, records.ts_mult,
            prog_fd, ctx, wire_off, max_wire, pages, base, mask, consumer, self.cut,
            out, used, packets, Packet, Direction.UNKNOWN, limit)
        self.filter.matched += matched
        return used, seen, matched

    def run(self, sinks, limit: int = 0) -> tuple[int, int]:
        """Filter records until one is for the Python path (or the file ends, or `limit`
        packets were written when limit > 0); returns (seen, written)."""
        seen_all = written_all = 0
        writer = sinks.writer if sinks.plain_file else None
        chunks = self.records.chunks
        while True:
            left = limit - written_all if limit else 0
            if writer is not None:
                seen = 0

                def fill(buffer, offset, fill_limit):
                    nonlocal seen
                    used, n, matched = self._scan(buffer, offset, None, fill_limit)
                    seen += n
                    return used, matched
                written = writer.fill_from(fill, left)
            else:
                packets: list[Packet] = []
                _used, seen, written = self._scan(None, 0, packets, left)
                sinks.packets(packets)
            seen_all += seen
            written_all += written
            if self.status == NEED_DATA:
                before = len(chunks.buf) - chunks.pos
                if chunks.fill(before + 1):
                    continue
            # SLOW, LIMIT, or the file's last bytes (a truncated record or none): offline.py's
            return seen_all, written_all


def fast_pcap(reader, kernel_filter) -> FastPcap | None:
    """The fast loop for this reader, or None where it does not apply (pcapng input, the C
    extension not built)."""
    if _testrun is None or reader.pcap is None:
        return None
    return FastPcap(reader.pcap, kernel_filter)
