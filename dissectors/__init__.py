"""Packet printing: tcpdump-style lines, Scapy layer trees and ndjson.

`import dissectors` stays cheap: the line printer uses only the standard library, and Scapy is
imported only when a tree or JSON printer is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TextIO

from ebcap.dissectors.options import PrintOptions, TimestampMode

if TYPE_CHECKING:
    from ebcap.capture.packet import Interface, Packet


class Printer(Protocol):
    def print(self, packet: "Packet") -> None:
        """Write the formatted output for one packet to the printer's stream."""


def make_printer(options: PrintOptions, interfaces: "list[Interface]", stream: TextIO) -> Printer:
    """The printer for these options; `interfaces` is indexed by Packet.interface."""
    if options.json:
        from ebcap.dissectors.tree import JsonPrinter
        return JsonPrinter(options, interfaces, stream)
    if options.tree:
        from ebcap.dissectors.tree import TreePrinter
        return TreePrinter(options, interfaces, stream)
    from ebcap.dissectors.line import LinePrinter
    return LinePrinter(options, interfaces, stream)


__all__ = ["PrintOptions", "Printer", "TimestampMode", "make_printer"]
