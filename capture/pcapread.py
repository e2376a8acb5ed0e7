"""Reads pcap and pcapng files into `Packet`s, keeping what ebcap must carry to its output.

Hand-written rather than dpkt's readers: those yield a float timestamp (which loses nanoseconds:
a double holds ~240 ns at today's epoch) and drop the interface id and epb_flags of each packet,
all of which ebcap -r must keep.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Iterator

from capture.errors import InputError
from capture.packet import Direction, Interface, Packet

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000), b"\xa1\xb2\xc3\xd4": (">", 1000),       # microseconds
    b"\x4d\x3c\xb2\xa1": ("<", 1), b"\xa1\xb2\x3c\x4d": (">", 1),             # nanoseconds
}
SHB_TYPE = 0x0A0D0D0A
BT_IDB, BT_PB, BT_SPB, BT_EPB = 1, 2, 3, 6
OPT_IF_NAME, OPT_IF_DESCRIPTION, OPT_IF_TSRESOL = 2, 3, 9
OPT_EPB_FLAGS = 2


def _read(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    return data if data is not None else b""


def _options(body: bytes, offset: int, order: str) -> Iterator[tuple[int, bytes]]:
    while offset + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, offset)
        if code == 0:
            return
        yield code, body[offset + 4:offset + 4 + length]
        offset += 4 + length + (-length % 4)


def _tsresol_ns(value: bytes) -> tuple[int, int]:
    """(multiplier, divisor) turning timestamp units into ns."""
    raw = value[0] if value else 6
    if raw & 0x80:
        units = 2 ** (raw & 0x7F)
    else:
        units = 10 ** raw
    return (10 ** 9 // units, 1) if units <= 10 ** 9 else (1, units // 10 ** 9)


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
        elif magic == struct.pack("<I", SHB_TYPE):
            self._packets = self._pcapng()
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
        _vmaj, _vmin, _zone, _sigfigs, snaplen, linktype = struct.unpack(order + "HHiIII", header)
        self.interfaces.append(Interface(name=self.name, linktype=linktype & 0xFFFF,
                                         snaplen=snaplen))
        record = struct.Struct(order + "IIII")
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

    def _pcapng(self) -> Iterator[Packet]:
        order = "<"
        block_type = SHB_TYPE
        first = True
        while True:
            if first:
                head = b"\x0a\x0d\x0d\x0a" + _read(self.stream, 4)
                first = False
            else:
                head = _read(self.stream, 8)
                if not head:
                    return
            if len(head) < 8:
                raise self._truncated()
            if block_type == SHB_TYPE or head[:4] == b"\x0a\x0d\x0d\x0a":
                bom = _read(self.stream, 4)
                if bom == b"\x4d\x3c\x2b\x1a":
                    order = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    order = ">"
                else:
                    raise InputError(f"{self.name}: bad pcapng byte-order magic")
                total = struct.unpack(order + "I", head[4:])[0]
                body = _read(self.stream, total - 12)
                if len(body) < total - 12:
                    raise self._truncated()
                block_type = None
                self.interfaces, self._ts_units = [], []        # a new section
                continue
            btype, total = struct.unpack(order + "II", head)
            if total < 12:
                raise InputError(f"{self.name}: bad pcapng block length {total}")
            body = _read(self.stream, total - 8)
            if len(body) < total - 8:
                raise self._truncated()
            body = body[:-4]
            if btype == BT_IDB:
                self._idb(body, order)
            elif btype in (BT_EPB, BT_PB):
                yield self._epb(body, order, btype)
            elif btype == BT_SPB:
                wirelen = struct.unpack_from(order + "I", body, 0)[0]
                caplen = min(wirelen, self.interfaces[0].snaplen or wirelen)
                yield Packet(0, 0, Direction.UNKNOWN, wirelen, body[4:4 + caplen])

    def _idb(self, body: bytes, order: str) -> None:
        linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body, 0)
        name, description, resol = f"{self.name}#{len(self.interfaces)}", "", b"\x06"
        for code, value in _options(body, 8, order):
            if code == OPT_IF_NAME:
                name = value.decode(errors="replace").rstrip("\0")
            elif code == OPT_IF_DESCRIPTION:
                description = value.decode(errors="replace").rstrip("\0")
            elif code == OPT_IF_TSRESOL:
                resol = value
        self.interfaces.append(Interface(name=name, linktype=linktype, snaplen=snaplen,
                                         description=description))
        self._ts_units.append(_tsresol_ns(resol))

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
        for code, value in _options(body, 20 + caplen + (-caplen % 4), order):
            if code == OPT_EPB_FLAGS and len(value) >= 4:
                bits = struct.unpack(order + "I", value[:4])[0] & 3
                direction = Direction(bits) if bits < 3 else Direction.UNKNOWN
        ts = ((high << 32) | low) * mult // div
        return Packet(ts, iface, direction, wirelen, data)
