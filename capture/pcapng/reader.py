"""Reads pcap and pcapng files into `Packet`s, keeping what ebcap must carry to its output.

Hand-written rather than dpkt's readers: those yield a float timestamp (which loses nanoseconds:
a double holds ~240 ns at today's epoch) and drop the interface id and epb_flags of each packet,
all of which ebcap -r must keep.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Iterator

from ebcap.capture.errors import InputError
from ebcap.capture.packet import Direction, Interface, Packet
from ebcap.capture.pcapng.format import (BT_EPB, BT_IDB, BT_PB, BT_SHB, BT_SPB, OPT_EPB_FLAGS,
                                         OPT_IF_DESCRIPTION, OPT_IF_NAME, OPT_IF_TSRESOL,
                                         PCAP_FILE_HEADER, PCAP_MAGICS, PCAP_RECORD,
                                         iter_options, read_blocks, tsresol_units)

_SHB_MAGIC = struct.pack("<I", BT_SHB)


def _read(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    return data if data is not None else b""


class CaptureFileReader:
    """Iterate packets; `interfaces` grows as IDBs are read (pcap files have exactly one)."""

    def __init__(self, stream: BinaryIO, name: str):
        self.stream = stream
        self.name = name
        self.interfaces: list[Interface] = []
        self._ts_units: list[tuple[int, int]] = []
        magic = _read(stream, 4)
        if magic in PCAP_MAGICS:
            self._packets = self._pcap(magic)
        elif magic == _SHB_MAGIC:
            self._packets = self._pcapng(magic)
        elif not magic:
            raise InputError(f"{name}: file is empty")
        else:
            raise InputError(f"{name}: unknown file format")
        self._first = next(self._packets, None)

    def __iter__(self) -> Iterator[Packet]:
        if self._first is not None:
            yield self._first
            self._first = None
            yield from self._packets

    def _truncated(self) -> InputError:
        return InputError(f"{self.name}: truncated dump file")

    def _pcap(self, magic: bytes) -> Iterator[Packet]:
        order, ts_mult = PCAP_MAGICS[magic]
        header = _read(self.stream, 20)
        if len(header) < 20:
            raise self._truncated()
        _vmaj, _vmin, _zone, _sigfigs, snaplen, linktype = struct.unpack(order + PCAP_FILE_HEADER, header)
        self.interfaces.append(Interface(name=self.name, linktype=linktype & 0xFFFF,
                                         snaplen=snaplen))
        record = struct.Struct(order + PCAP_RECORD)
        while True:
            head = _read(self.stream, 16)
            if not head:
                return
            if len(head) < 16:
                raise self._truncated()
            sec, frac, caplen, wirelen = record.unpack(head)
            data = _read(self.stream, caplen)
            if len(data) < caplen:
                raise self._truncated()
            yield Packet(sec * 10 ** 9 + frac * ts_mult, 0, Direction.UNKNOWN, wirelen, data)

    def _pcapng(self, magic: bytes) -> Iterator[Packet]:
        for block in read_blocks(self.stream, self.name, first=magic):
            if block.type == BT_SHB:
                self.interfaces, self._ts_units = [], []        # a new section
            elif block.type == BT_IDB:
                self._idb(block.body, block.order)
            elif block.type in (BT_EPB, BT_PB):
                yield self._epb(block.body, block.order, block.type)
            elif block.type == BT_SPB:
                wirelen = struct.unpack_from(block.order + "I", block.body, 0)[0]
                caplen = min(wirelen, self.interfaces[0].snaplen or wirelen)
                yield Packet(0, 0, Direction.UNKNOWN, wirelen, block.body[4:4 + caplen])

    def _idb(self, body: bytes, order: str) -> None:
        linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body, 0)
        name, description, resol = f"{self.name}#{len(self.interfaces)}", "", b"\x06"
        for code, value in iter_options(body, 8, order):
            if code == OPT_IF_NAME:
                name = value.decode(errors="replace").rstrip("\0")
            elif code == OPT_IF_DESCRIPTION:
                description = value.decode(errors="replace").rstrip("\0")
            elif code == OPT_IF_TSRESOL:
                resol = value
        self.interfaces.append(Interface(name=name, linktype=linktype, snaplen=snaplen,
                                         description=description))
        self._ts_units.append(tsresol_units(resol))

    def _epb(self, body: bytes, order: str, btype: int) -> Packet:
        if btype == BT_PB:      # obsolete Packet Block: u16 interface, u16 drops
            iface, _drops, high, low, caplen, wirelen = struct.unpack_from(order + "HHIIII", body)
        else:
            iface, high, low, caplen, wirelen = struct.unpack_from(order + "IIIII", body)
        if iface >= len(self.interfaces):
            raise InputError(f"{self.name}: packet on undeclared interface {iface}")
        mult, div = self._ts_units[iface]
        data = body[20:20 + caplen]
        direction = Direction.UNKNOWN
        for code, value in iter_options(body, 20 + caplen + (-caplen % 4), order):
            if code == OPT_EPB_FLAGS and len(value) >= 4:
                bits = struct.unpack(order + "I", value[:4])[0] & 3
                direction = Direction(bits) if bits < 3 else Direction.UNKNOWN
        ts = ((high << 32) | low) * mult // div
        return Packet(ts, iface, direction, wirelen, data)
