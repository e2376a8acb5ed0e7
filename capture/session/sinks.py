"""Where captured packets go: a pcapng file (-w), the printer (no -w, or --print), or both."""

from __future__ import annotations

import os
import sys

from ebcap.capture.config import CaptureConfig
from ebcap.capture.errors import OutputError
from ebcap.capture.packet import Direction, Interface, Packet
from ebcap.capture.pcapng.output import open_output_file
from ebcap.capture.pcapng.writer import InterfaceStats, PcapngWriter
from ebcap.capture.pcapng.format import parse_epb


class Sinks:
    """`interfaces` is the session's own list: it grows when interfaces appear (-i any)."""

    def __init__(self, config: CaptureConfig, interfaces: list[Interface], stats=None,
                 owners=None):
        self.owners = owners            # session/owners.OwnerDirectory with --owners
        self.writer = None
        self.printer = None
        self._file = None
        if config.write_to is not None and (config.rotate_size or config.rotate_seconds):
            from ebcap.capture.pcapng.rotation import RotatingWriter
            self.writer = RotatingWriter(
                config.write_to, interfaces, size_limit=config.rotate_size,
                seconds=config.rotate_seconds, max_files=config.max_files,
                stats=stats or (lambda: []))
        elif config.write_to is not None:
            self._file = open_output_file(config.write_to)
            self.writer = PcapngWriter(self._file, interfaces, config.write_to)
        if config.write_to is None or config.print_packets:
            from ebcap.dissectors import make_printer
            from ebcap.dissectors.options import PrintOptions
            out = sys.stdout if config.write_to != "-" else sys.stderr
            options = config.print_options or PrintOptions()
            self.printer = make_printer(options, interfaces, out)
            if config.read_from is not None:    # a file ebcap --drops wrote: name the drops
                from ebcap.capture.session.drop_print import DropPrinter
                self.printer = DropPrinter(self.printer, options, out)
            self._out = out
            self._line_buffered = config.line_buffered
        self.writes_file = self.writer is not None and config.write_to != "-"
        # blocks go to one file untouched: no printing, no rotation checks per packet
        self.plain_file = (isinstance(self.writer, PcapngWriter) and self.printer is None
                           and owners is None)
        self.packet = self._choose_packet_path()

    def _choose_packet_path(self):
        if self.writer and not self.printer:
            return self.writer.write
        if self.printer and not self.writer:
            return self._print
        def both(packet: Packet) -> None:
            self.writer.write(packet)
            self._print(packet)
        return both

    def blocks(self, batch: list[bytes]) -> None:
        """Kernel-built EPBs (capture/kernel/ring.py): written as they are (with --owners, their
        owner option made comments), printed once parsed."""
        found = None
        if self.owners is not None:
            found = [self.owners.rewrite(block) for block in batch]
            batch = [block for block, _owner in found]
        if self.writer:
            self.writer.write_blocks(batch)
        if self.printer:
            for n, block in enumerate(batch):
                iid, ts, wirelen, direction, data = parse_epb(block)
                self._print(Packet(ts, iid, Direction(direction), wirelen, data,
                                   owner=found[n][1] if found else None))

    def packets(self, batch: list[Packet]) -> None:
        """Many packets, in order (`ebcap -r`'s fast loop): printed in one write where the
        printer can, unless every line must be flushed."""
        if self.writer or self._line_buffered or not hasattr(self.printer, "print_batch"):
            for packet in batch:
                self.packet(packet)
        else:
            self.printer.print_batch(batch)

    def _print(self, packet: Packet) -> None:
        self.printer.print(packet)
        if self._line_buffered:
            self._out.flush()

    def add_interface(self, iface: Interface) -> None:
        if self.writer:
            self.writer.add_interface(iface)

    def reader_gone(self) -> None:
        """Nobody reads stdout any more: drop what is pending and stop writing there."""
        self.writer = None
        self.printer = None
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        self._close_file()

    def flush(self) -> None:
        if self.writer:
            self.writer.flush()
        if self.printer:
            self._out.flush()

    def close(self, stats: list[InterfaceStats]) -> None:
        try:
            if self.writer:
                self.writer.close(stats)
            if self.printer:
                self._out.flush()
        finally:
            self._close_file()

    def abort(self) -> None:
        """On an error: keep what can be kept (pending blocks), then close."""
        try:
            if self.writer:
                self.writer.flush()
        except (OutputError, BrokenPipeError, ValueError):
            pass
        self._close_file()

    def _close_file(self) -> None:
        if self._file is None and self.writer is not None and hasattr(self.writer, "stream"):
            self._file = self.writer.stream          # the rotating writer's current file
        if self._file is not None and not self._file.closed:
            try:
                self._file.close()
            except OSError:
                pass


def open_sinks(config: CaptureConfig, interfaces: list[Interface], stats=None,
               owners=None) -> Sinks:
    return Sinks(config, interfaces, stats, owners)
