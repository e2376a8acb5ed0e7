"""The default one-line printer: tcpdump 4.99's text, byte for byte where ebcap decodes the protocol.

Speed is the design constraint here. Live printing has to keep up with at least 20,000 packets/s on a
2-core machine, so this path never builds Scapy objects: every header is read with
struct.unpack_from on the captured bytes. Measured on this machine (2 cores, shared, same run) on a
100,000-frame mix of the fixture corpus: Scapy's `Ether(data)` alone costs ~350 us a frame and with
`summary()` ~425 us (~2,400 frames/s), before any tcpdump formatting; this printer formats a frame in
~17 us (~59,000 frames/s; tcpdump -n on the same file: ~131,000 frames/s).

This module is the frame loop only (tcpdump's print.c): the link type's printer comes from
dissectors/registry.py, and each protocol is a module of its own. Truncation follows tcpdump: a read
past the captured bytes raises (struct.error, IndexError or Truncated) and the line ends with
` [|proto]`, proto being the layer that was being decoded.
"""

from __future__ import annotations

import struct
from typing import TextIO

from ebcap.capture.packet import Direction, Interface, LinkType, Packet
from ebcap.dissectors import fastpath, hexdump, registry
from ebcap.dissectors.context import Context
from ebcap.dissectors.errors import StopPacket, Truncated, trunc
from ebcap.dissectors.options import PrintOptions
from ebcap.dissectors.timefmt import TimestampFormatter

_DIRECTION_TEXT = {Direction.IN: "In", Direction.OUT: "Out"}
MAX_SNAPLEN = 262144        # tcpdump's MAXIMUM_SNAPLEN: larger lengths are an invalid header


class LinePrinter:
    """tcpdump-style lines; keeps the per-connection state relative sequence numbers need."""

    def __init__(self, options: PrintOptions, interfaces: list[Interface], stream: TextIO) -> None:
        self._interfaces = interfaces
        self._stream = stream
        self._timestamp = TimestampFormatter(options).fast()
        self._nd = Context(options, registry)
        self._show_interface = options.show_interface
        # Per interface: (link type, its printer or None, whether to write the IFNAME In prefix).
        self._fast = fastpath.usable(options) and _with_fast_path(
            fastpath.ether_fast, registry.LINK_TYPES[LinkType.ETHERNET])
        self._links = [self._link(i.linktype) for i in interfaces]
        self._unknown_interface = self._link(LinkType.ETHERNET)
        self._dump = None
        if options.hex_ascii:
            self._dump = (hexdump.hex_ascii_dump, options.hex_ascii > 1)
        elif options.hex:
            self._dump = (hexdump.hex_dump, options.hex > 1)
        elif options.ascii:
            self._dump = (hexdump.ascii_dump, options.ascii > 1)

    def _link(self, linktype: int) -> tuple:
        prefix = self._show_interface and linktype not in registry.NAMES_INTERFACE
        printer = registry.LINK_TYPES.get(linktype)
        if self._fast and linktype == LinkType.ETHERNET:
            printer = self._fast          # one for all interfaces: a file may declare 300,000
        return linktype, printer, prefix

    def print(self, packet: Packet) -> None:
        self._stream.write(self.format(packet))

    def print_batch(self, packets: list[Packet]) -> None:
        """Many packets' lines in one write (`ebcap -r`'s fast loop hands them over by chunk)."""
        self._stream.write("".join(map(self.format, packets)))

    def format(self, packet: Packet) -> str:
        """The full text for one packet, ending in a newline."""
        ts = self._timestamp(packet.ts_ns)
        data = packet.data
        caplen = len(data)
        if not 0 < caplen <= packet.wirelen <= MAX_SNAPLEN:
            bad = invalid_header(caplen, packet.wirelen)
            if bad:
                return ts + bad + "\n"
        nd = self._nd
        out = nd.out = [ts]
        nd.proto = ""
        nd.ll_len = 0
        index = packet.interface
        if 0 <= index < len(self._links):
            linktype, printer, prefix = self._links[index]
        else:
            linktype, printer, prefix = self._new_interface(index)
        try:
            if prefix:
                out.append(self._interface_prefix(packet))
            elif packet.owner is not None:          # ptcpdump's "curl.3553", where it has one
                out.append(packet.owner.label + " ")
            if printer is None:
                out.append("[unsupported link type %u]" % linktype)
            else:
                printer(nd, data, packet.wirelen)
        except StopPacket:
            pass
        except Truncated:
            # tcpdump's local `goto trunc`: the link layer returned normally, its length stands.
            out.append(trunc(nd.proto))
        except (struct.error, IndexError, ValueError, OSError):
            # tcpdump's longjmp out of a GET_ macro: the dumps then start at the link header.
            out.append(trunc(nd.proto))
            nd.ll_len = 0
        if self._dump is not None:
            dump, with_link = self._dump
            ll_len = nd.ll_len
            if with_link:
                out.append(dump(data))
            elif caplen > ll_len:
                out.append(dump(data[ll_len:]))
        out.append("\n")
        return "".join(out)

    def _new_interface(self, index: int) -> tuple:
        """An interface declared since the last packet (the list is the session's, and grows:
        -i any, or a file's later IDBs)."""
        if 0 <= index < len(self._interfaces):
            self._links += [self._link(i.linktype) for i in self._interfaces[len(self._links):]]
            return self._links[index]
        return self._unknown_interface

    def _interface_prefix(self, packet: Packet) -> str:
        if 0 <= packet.interface < len(self._interfaces):
            name = self._interfaces[packet.interface].name
        else:
            name = "?"
        direction = _DIRECTION_TEXT.get(packet.direction, "?")
        if packet.owner is not None:                # ptcpdump: "eth0 curl.3553 Out"
            return "%-5s %s %-3s " % (name, packet.owner.label, direction)
        return "%-5s %-3s " % (name, direction)


def _with_fast_path(fast, printer):
    """The link type's printer, tried after the fast path (dissectors/fastpath.py) declines."""
    def print_frame(nd, data: bytes, length: int) -> None:
        if not fast(nd, data, length):
            printer(nd, data, length)
    return print_frame


def invalid_header(caplen: int, wirelen: int) -> str:
    """tcpdump's check of the record header's lengths; '' when they are sound."""
    problems = []
    if caplen == 0:
        problems.append(" caplen==0")
    if wirelen == 0:
        problems.append(" len==0")
    elif wirelen < caplen:
        problems.append(" len(%u) < caplen(%u)" % (wirelen, caplen))
    if caplen > MAX_SNAPLEN:
        problems.append(" caplen(%u) > %u" % (caplen, MAX_SNAPLEN))
    if wirelen > MAX_SNAPLEN:
        problems.append(" len(%u) > %u" % (wirelen, MAX_SNAPLEN))
    if not problems:
        return ""
    return "[Invalid header:" + ",".join(problems) + "]"
