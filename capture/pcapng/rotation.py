"""-C / -G / -W: a capture split over several files, each a complete pcapng (SHB, IDBs, ISB).

File names follow tcpdump: with -C the first file has the -w name and later ones a counter
appended (`out`, `out1`, `out2`...); with -W the counter is zero-padded to the width of N and
wraps (`out0`..`outN-1`, a ring); with -G the -w name goes through strftime at each rotation.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ebcap.capture.errors import EbcapError
from ebcap.capture.packet import Interface, Packet
from ebcap.capture.pcapng.output import open_output_file
from ebcap.capture.pcapng.writer import InterfaceStats, PcapngWriter, encode_epb


class CaptureComplete(Exception):
    """-G with -W: the last file is done; the capture ends normally (tcpdump exits 0)."""


def file_name(template: str, index: int, *, size_rotation: bool, max_files: int | None,
              when: float | None) -> str:
    base = time.strftime(template, time.localtime(when)) if when is not None else template
    if not size_rotation and not max_files:
        return base
    width = len(str(max_files)) if max_files else 0
    if index == 0 and width == 0:
        return base
    return f"{base}{index:0{width}d}"


class RotatingWriter:
    def __init__(self, template: str, interfaces: list[Interface], *, size_limit: int | None,
                 seconds: int | None, max_files: int | None,
                 stats: Callable[[], list[InterfaceStats]],
                 open_file: Callable = open_output_file):
        if template == "-":
            raise EbcapError("-C and -G need a file name with -w, not '-'")
        self.template = template
        self.interfaces = interfaces
        self.size_limit = size_limit
        self.seconds = seconds
        self.max_files = max_files
        self._stats = stats
        self._open_file = open_file
        self._index = 0            # counter in the name (-C)
        self._files = 0            # files opened so far
        self._file = None
        self.writer: PcapngWriter | None = None
        self.size = 0
        self._open(time.time())

    def _open(self, now: float) -> None:
        name = file_name(self.template, self._index, size_rotation=bool(self.size_limit),
                         max_files=self.max_files, when=now if self.seconds else None)
        self._file = self._open_file(name)
        self.writer = PcapngWriter(self._file, self.interfaces, name)
        self._files += 1
        self._started = time.monotonic()
        self.size = 0

    def _close_current(self) -> None:
        self.writer.close(self._stats())
        self._file.close()

    def _rotate(self, by_time: bool) -> None:
        if by_time and self.max_files and self._files >= self.max_files:
            raise CaptureComplete
        self._close_current()
        if by_time:
            self._index = 0
        else:
            self._index += 1
            if self.max_files and self._index >= self.max_files:
                self._index = 0
        self._open(time.time())

    def add_interface(self, iface: Interface) -> None:
        self.writer.add_interface(iface)

    def write(self, packet: Packet) -> None:
        self.write_blocks([encode_epb(packet)])

    def write_blocks(self, blocks: list[bytes]) -> None:
        """tcpdump's order: before each packet, rotate if the file is due, then write it."""
        for block in blocks:
            if self.seconds and time.monotonic() - self._started >= self.seconds:
                self._rotate(by_time=True)
            if self.size_limit and self.size > self.size_limit:
                self._rotate(by_time=False)
            self.size += len(block)
            self.writer.write_blocks([block])

    def flush(self) -> None:
        self.writer.flush()

    def close(self, stats: list[InterfaceStats] | None = None) -> None:
        self.writer.close(stats)

    @property
    def stream(self):
        return self._file
