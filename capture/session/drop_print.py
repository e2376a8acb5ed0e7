"""Printing dropped packets: the usual printers, each line with the drop appended
(` [drop NO_SOCKET at __udp4_lib_rcv]`), a `drop` object in --json, and the per-reason count
after tcpdump's statistics lines."""

from __future__ import annotations

import sys
from collections import Counter

from ebcap.capture.config import CaptureConfig
from ebcap.capture.packet import Interface, LinkType, Packet

# The line printer is handed one interface per link type, not the session's interfaces (which
# appear as drops are met): it takes its link types from its list when it is made. The tree
# and JSON printers look interfaces up per packet, and get the session's list.
PRINT_INTERFACES = [Interface("drops", LinkType.ETHERNET), Interface("drops", LinkType.RAW)]
PRINT_INDEX = {LinkType.ETHERNET: 0, LinkType.RAW: 1}


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
    def __init__(self, config: CaptureConfig, interfaces: list[Interface]):
        from ebcap.dissectors import make_printer
        from ebcap.dissectors.options import PrintOptions
        self._options = config.print_options or PrintOptions()
        self._out = sys.stdout if config.write_to != "-" else sys.stderr
        self._by_linktype = not (self._options.json or self._options.tree)
        self._printer = make_printer(self._options, PRINT_INTERFACES if self._by_linktype
                                     else interfaces, self._out)
        self._line_buffered = config.line_buffered

    def print(self, packet: Packet, linktype: int, reason: str, location: str) -> None:
        if self._by_linktype:
            packet = packet._replace(interface=PRINT_INDEX[linktype])
        if self._options.json:
            import json
            record = self._printer.record(packet)
            record["drop"] = {"reason": reason, "location": location}
            self._out.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
        elif self._options.tree:
            self._printer.print(packet)
            self._out.write(f"Drop: {reason}\nLocation: {location}\n\n")
        else:
            self._out.write(with_suffix(self._printer.format(packet),
                                        f" [drop {reason} at {function_of(location)}]"))
        if self._line_buffered:
            self._out.flush()

    def flush(self) -> None:
        self._out.flush()


def print_reasons(reasons: Counter, stream=None) -> None:
    """One line per reason, the most frequent first: `NO_SOCKET: 3 packets`."""
    stream = stream or sys.stderr
    for name, count in reasons.most_common():
        print(f"{name}: {count} packet{'' if count == 1 else 's'}", file=stream)
    stream.flush()
