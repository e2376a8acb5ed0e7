"""Printing dropped packets: the usual printers, each line with the drop appended
(` [drop NO_SOCKET at __udp4_lib_rcv]`), a `drop` object in --json, `Drop:` and `Location:`
lines after a -V tree, and the per-reason count after tcpdump's statistics lines. The drop is
read from the packet's comments, so live drops (ebcap --drops) and a file's (-r) print alike."""

from __future__ import annotations

import sys
from collections import Counter
from typing import TextIO

from ebcap.capture.config import CaptureConfig
from ebcap.capture.kernel.drop_record import drop_of
from ebcap.capture.packet import Interface, Packet


def function_of(location: str) -> str:
    """`__udp4_lib_rcv` of `__udp4_lib_rcv+0x4bc`: lines name the function, the file the place."""
    return location.split("+", 1)[0]


def with_suffix(text: str, suffix: str) -> str:
    """`text` (a packet's lines) with `suffix` at the end of its decode: of its last line
    before a hex dump (-x, -X: lines starting with a tab and 0x), which -v may make the second."""
    lines = text.split("\n")
    end = next((i for i, line in enumerate(lines) if i and line.startswith("\t0x")),
               len(lines) - 1 if len(lines) > 1 and lines[-1] == "" else len(lines))
    lines[end - 1] += suffix
    return "\n".join(lines)


class DropPrinter:
    """A printer (dissectors.make_printer's) that names the drop of a packet that has one; other
    packets it hands to that printer as they are."""

    def __init__(self, printer, options, stream: TextIO, line_buffered: bool = False):
        self._printer = printer
        self._json = options.json
        self._tree = options.tree and not options.json
        self._out = stream
        self._line_buffered = line_buffered

    def print_batch(self, packets: list[Packet]) -> None:
        """Packets of a file: handed on together when none of them has a comment (no drop)."""
        batch = getattr(self._printer, "print_batch", None)
        if batch is None or any(packet.comments for packet in packets):
            for packet in packets:
                self.print(packet)
        else:
            batch(packets)

    def print(self, packet: Packet) -> None:
        drop = drop_of(packet.comments) if packet.comments else None
        if drop is None:
            self._printer.print(packet)
            return
        reason, location = drop
        if self._json:
            import json
            record = self._printer.record(packet)
            record["drop"] = {"reason": reason, "location": location}
            self._out.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
        elif self._tree:
            self._printer.print(packet)
            self._out.write(f"Drop: {reason}\nLocation: {location}\n\n")
        else:
            self._out.write(with_suffix(self._printer.format(packet),
                                        f" [drop {reason} at {function_of(location)}]"))
        if self._line_buffered:
            self._out.flush()

    def flush(self) -> None:
        self._out.flush()


def drop_printer(config: CaptureConfig, interfaces: list[Interface]) -> DropPrinter:
    """The printer of `ebcap --drops`; `interfaces` is the session's list, which grows as drops
    on new interfaces are met (every printer looks a packet's interface up as it comes)."""
    from ebcap.dissectors import make_printer
    from ebcap.dissectors.options import PrintOptions
    options = config.print_options or PrintOptions()
    out = sys.stdout if config.write_to != "-" else sys.stderr
    return DropPrinter(make_printer(options, interfaces, out), options, out,
                       config.line_buffered)


def print_reasons(reasons: Counter, stream=None) -> None:
    """One line per reason, the most frequent first: `NO_SOCKET: 3 packets`."""
    stream = stream or sys.stderr
    for name, count in reasons.most_common():
        print(f"{name}: {count} packet{'' if count == 1 else 's'}", file=stream)
    stream.flush()
