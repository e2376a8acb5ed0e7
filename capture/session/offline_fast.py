"""The fast loop of `ebcap -r`: whole chunks of pcap records or pcapng EPBs in C.

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
from ebcap.capture.pcapng.format import TSRESOL_DEFAULT, TSRESOL_NS
from ebcap.capture.pcapng.reader import PcapngRecords, PcapRecords

try:
    from ebcap.capture.kernel import _testrun       # setup.py: optional
except ImportError:
    _testrun = None

NEED_DATA, SLOW, OUT_FULL, LIMIT = range(4)       # _testrun.scan's status
_UNITS = {TSRESOL_NS: 1, TSRESOL_DEFAULT: 2}       # if_tsresol -> _testrun.scan's units code
_DIRECTIONS = (Direction.UNKNOWN, Direction.IN, Direction.OUT, Direction.UNKNOWN)
# After this many calls in a row that took no record, the next PAUSE_RECORDS go to the Python
# loop without asking: a file whose records are all for it pays ~1/16 of a call a record.
MISSES_BEFORE_PAUSE, PAUSE_RECORDS = 16, 256


class FastReader:
    """Runs one filter (offline._KernelFilter or _Unfiltered) over the records of a file: all
    of a pcap file's, a pcapng file's EPBs on the interfaces of `linktype`."""

    def __init__(self, records: PcapRecords | PcapngRecords, kernel_filter, linktype: int):
        self.records = records
        self.filter = kernel_filter
        self.linktype = linktype
        self.pcapng = isinstance(records, PcapngRecords)
        self._section: tuple | None = None       # the interfaces `units` was made for
        self.units = b""
        runner = getattr(kernel_filter, "runner", None)
        if runner is None:          # no expression: nothing to run, only the cut
            self.kernel = (-1, bytearray(4), 0, 0, -1, 0, None, 0, 0, None)
            self.cut = kernel_filter.cut
        else:                       # the kernel's record says what to keep
            xdp = getattr(kernel_filter, "xdp", None)   # capture/kernel/xdp_offline.py
            self.kernel = runner.batch_args() + ((xdp.fd, xdp.cut) if xdp else (-1, 0)) + \
                kernel_filter.ring.batch_args()
            self.cut = MAXIMUM_SNAPLEN
        self.status = NEED_DATA
        self._misses = self._skip = 0

    def _units(self) -> bytes:
        """pcapng: per interface of the section, 0 where the Python loop must read its EPBs
        (another link type, another filter; an if_tsresol other than us or ns)."""
        interfaces, resolutions = self.records.interfaces()
        if self._section != (id(interfaces), len(interfaces)):
            self._section = (id(interfaces), len(interfaces))
            self.units = bytes(_UNITS.get(resolutions[n], 0)
                               if iface.linktype == self.linktype else 0
                               for n, iface in enumerate(interfaces))
        return self.units

    def _scan(self, out, used: int, packets, limit: int) -> tuple[int, int, int]:
        """One pass over what the read-ahead holds: (output used, seen, matched)."""
        chunks, records = self.records.chunks, self.records
        prog_fd, ctx, wire_off, max_wire, xdp_fd, xdp_cut, pages, base, mask, consumer = \
            self.kernel
        if self.pcapng:
            units, ts_mult = self._units(), 0
        else:
            units, ts_mult = b"", records.ts_mult
        chunks.pos, used, seen, matched, self.status = _testrun.scan(
            self.pcapng, chunks.buf, chunks.pos, len(chunks.buf), records.swapped, ts_mult,
            units, self.iface_base, prog_fd, ctx, wire_off, max_wire, xdp_fd, xdp_cut, pages,
            base, mask, consumer, self.cut, out, used, packets, Packet, _DIRECTIONS, limit)
        self.filter.matched += matched
        return used, seen, matched

    def run(self, sinks, limit: int = 0, iface_base: int = 0) -> tuple[int, int]:
        """Filter records until one is for the Python path (or the file ends, or `limit`
        packets were written when limit > 0); returns (seen, written). Output interface ids
        are `iface_base` + the file's (offline.py's _OutputInterfaces)."""
        self.iface_base = iface_base
        seen_all = written_all = 0
        if self._skip or (self.pcapng and not any(self._units())):
            # nothing here for the C loop (another link type, other units), or lately none of
            # the records were (every EPB with comments: a --drops or --owners file)
            self._skip = max(self._skip - 1, 0)
            return 0, 0
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
            self._misses = self._misses + 1 if not seen_all else 0
            if self._misses >= MISSES_BEFORE_PAUSE:
                self._misses, self._skip = 0, PAUSE_RECORDS
            return seen_all, written_all


def fast_reader(reader, kernel_filter, linktype: int) -> FastReader | None:
    """The fast loop for this reader and the filter of `linktype` (the file's first), or None
    where there is none (the C extension not built)."""
    if _testrun is None:
        return None
    records = reader.pcap or reader.pcapng
    return FastReader(records, kernel_filter, linktype) if records is not None else None
