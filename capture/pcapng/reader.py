"""Reads pcap and pcapng files into `Packet`s, keeping what ebcap must carry to its output.

Hand-written rather than dpkt's readers: those yield a float timestamp (which loses nanoseconds:
a double holds ~240 ns at today's epoch) and drop the interface id and epb_flags of each packet,
all of which ebcap -r must keep.

Nothing read from the file is trusted: every length is checked against what holds it and
against libpcap's limits (capture/pcapng/format.py) before it is used, and each malformation
is one InputError worded as libpcap words it, so `ebcap -r` on a hostile file ends like
`tcpdump -r` (one line, exit 1), within bounded memory. Interfaces cost little each: identical
IDBs share one `Interface`, so each costs the reader 9 bytes (a list slot and its if_tsresol
byte): a file of 300,000 of them takes 5 MB here rather than 60.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Iterator

from ebcap.capture.errors import InputError, MalformedBlock
from ebcap.capture.filter.libpcap import MAXIMUM_SNAPLEN
from ebcap.capture.packet import Direction, Interface, Packet
from ebcap.capture.owner import owner_from_comments
from ebcap.capture.pcapng.format import (BT_EPB, BT_IDB, BT_PB, BT_SHB, BT_SPB, OPT_COMMENT,
                                         OPT_EPB_FLAGS,
                                         OPT_IF_DESCRIPTION, OPT_IF_NAME, OPT_IF_TSRESOL,
                                         PCAP_FILE_HEADER, PCAP_MAGICS, PCAP_RECORD,
                                         TSRESOL_DEFAULT, adjust_snaplen, block_name,
                                         iter_options, read_blocks, read_exactly,
                                         tsresol_byte_units)

_SHB_MAGIC = struct.pack("<I", BT_SHB)
_FIXED = {BT_IDB: 8, BT_EPB: 20, BT_PB: 20, BT_SPB: 4}      # fixed fields of each block's body
_SHARED_INTERFACES = 64         # distinct IDBs remembered for sharing (each up to ~64 KiB)


def caplen_error(caplen: int) -> str:
    return (f"invalid packet capture length {caplen}, bigger than snaplen of "
            f"{MAXIMUM_SNAPLEN}")


READ_AHEAD = 256 * 1024       # bytes read from the file at a time


class ReadAhead:
    """The file in READ_AHEAD pieces: `buf[pos:]` is what is read and not yet taken. One read a
    chunk rather than two per record; memory stays one chunk and the largest record. The reads
    start at 4 bytes and double up to READ_AHEAD: a file refused at its first record (a hostile
    length) has been read no further than libpcap reads it. A record larger than READ_AHEAD
    (a pcapng block up to 16 MiB) is read on its own, into one bytearray: held once."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.buf = b""
        self.pos = 0
        self.eof = False
        self._read_size = 4

    def read(self, n: int) -> bytes:
        """A stream's read(): capture/pcapng/format.py's read_blocks reads through this."""
        return self.take(n)

    def take(self, n: int) -> bytes:
        """The next `n` bytes (fewer only at the end of the file)."""
        pos = self.pos
        if len(self.buf) - pos < n:
            if n > READ_AHEAD:
                return self._take_large(n)
            self.fill(n)
            pos = 0
        self.pos = pos + n
        return self.buf[pos:pos + n]

    def fill(self, n: int = 1) -> bool:
        """Make at least `n` bytes past pos available, if the file has them; False at its end."""
        rest = self.buf[self.pos:]
        pieces, have = [rest], len(rest)
        while have < n and not self.eof:
            more = self.stream.read(max(self._read_size, n - have))
            self._read_size = min(2 * self._read_size, READ_AHEAD)
            if not more:
                self.eof = True
                break
            pieces.append(more)
            have += len(more)
        self.buf, self.pos = b"".join(pieces), 0
        return have >= n

    def _take_large(self, n: int) -> bytearray:
        out = bytearray(n)
        rest = self.buf[self.pos:]
        out[:len(rest)] = rest
        self.buf, self.pos, got = b"", 0, len(rest)
        view = memoryview(out)
        readinto = getattr(self.stream, "readinto", None)
        while got < n:
            if readinto is not None:
                count = readinto(view[got:])
            else:
                more = self.stream.read(n - got)
                count = len(more or b"")
                view[got:got + count] = more or b""
            if not count:
                self.eof = True
                del view
                return out[:got]
            got += count
        del view
        return out


class PcapRecords:
    """What a fast reader of a classic pcap file needs: the read-ahead and the format."""

    def __init__(self, chunks: ReadAhead, swapped: bool, ts_mult: int):
        self.chunks, self.swapped, self.ts_mult = chunks, swapped, ts_mult


class PcapngRecords:
    """What a fast reader of a pcapng file needs: the read-ahead, and the reader, whose section
    (byte order, interfaces and their if_tsresol) is the one the next block belongs to."""

    def __init__(self, chunks: ReadAhead, reader: "CaptureFileReader"):
        self.chunks, self.reader = chunks, reader

    @property
    def swapped(self) -> bool:
        return self.reader._order == ">"

    def interfaces(self) -> tuple[list[Interface], bytes]:
        """The section's interfaces and each one's if_tsresol byte."""
        return self.reader.interfaces, bytes(self.reader._tsresol)


class CaptureFileReader:
    """Iterate packets; `interfaces` grows as IDBs are read (pcap files have exactly one)."""

    def __init__(self, stream: BinaryIO, name: str):
        self.stream = stream
        self.name = name
        self.interfaces: list[Interface] = []
        self._tsresol = bytearray()         # each interface's if_tsresol byte
        self._shared: dict[tuple, Interface] = {}
        self._seen_idb = False
        self.pcap: PcapRecords | None = None    # a classic pcap file's records, once read
        self.pcapng: PcapngRecords | None = None
        self._order = "<"
        self._chunks = ReadAhead(stream)
        magic = read_exactly(self._chunks, 4)
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

    def _error(self, message: str) -> InputError:
        return InputError(f"{self.name}: {message}")

    # --- classic pcap -----------------------------------------------------------------------

    def _pcap(self, magic: bytes) -> Iterator[Packet]:
        order, ts_mult = PCAP_MAGICS[magic]
        header = read_exactly(self._chunks, 20)
        if len(header) < 20:
            raise self._error(f"truncated dump file; tried to read 24 file header bytes, "
                              f"only got {4 + len(header)}")
        _vmaj, _vmin, _zone, _sigfigs, snaplen, linktype = struct.unpack(order + PCAP_FILE_HEADER, header)
        self.interfaces.append(Interface(name=self.name, linktype=linktype & 0xFFFF,
                                         snaplen=adjust_snaplen(snaplen)))
        self.pcap = PcapRecords(self._chunks, order == ">", ts_mult)
        take = self.pcap.chunks.take
        record = struct.Struct(order + PCAP_RECORD)
        while True:
            head = take(16)
            if not head:
                return
            if len(head) < 16:
                raise self._error(f"truncated dump file; tried to read 16 header bytes, "
                                  f"only got {len(head)}")
            sec, frac, caplen, wirelen = record.unpack(head)
            if caplen > MAXIMUM_SNAPLEN:
                raise self._error(caplen_error(caplen))
            data = take(caplen)
            if len(data) < caplen:
                raise self._error(f"truncated dump file; tried to read {caplen} captured bytes, "
                                  f"only got {len(data)}")
            yield Packet(sec * 10 ** 9 + frac * ts_mult, 0, Direction.UNKNOWN, wirelen, data)

    # --- pcapng -----------------------------------------------------------------------------

    def _pcapng(self, magic: bytes) -> Iterator[Packet]:
        self.pcapng = PcapngRecords(self._chunks, self)
        for block in read_blocks(self._chunks, self.name, first=magic):
            self._order = block.order
            try:
                packet = self._block(block.type, block.body, block.order)
            except MalformedBlock as exc:
                raise self._error(str(exc)) from None
            if packet is not None:
                yield packet

    def _block(self, btype: int, body: bytes, order: str) -> Packet | None:
        if btype in _FIXED and len(body) < _FIXED[btype]:
            raise MalformedBlock(f"{block_name(btype)} is too short: {len(body) + 12} bytes")
        if btype == BT_SHB:
            self._section(body, order)
        elif btype == BT_IDB:
            self._idb(body, order)
        elif btype in (BT_EPB, BT_PB):
            return self._epb(body, order, btype)
        elif btype == BT_SPB:
            return self._spb(body, order)
        return None

    def _section(self, body: bytes, order: str) -> None:
        major, minor = struct.unpack_from(order + "HH", body, 0)    # SHB_MIN: always there
        if major != 1 or minor not in (0, 2):      # libpcap's: 1.2 is read as 1.0
            raise MalformedBlock(f"unsupported pcapng savefile version {major}.{minor}")
        self.interfaces, self._tsresol = [], bytearray()

    def _idb(self, body: bytes, order: str) -> None:
        linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body, 0)
        name, description, resol = self.name, "", TSRESOL_DEFAULT
        for code, value in iter_options(body, 8, order, BT_IDB):
            if code == OPT_IF_NAME:
                name = value.decode(errors="replace").rstrip("\0")
            elif code == OPT_IF_DESCRIPTION:
                description = value.decode(errors="replace").rstrip("\0")
            elif code == OPT_IF_TSRESOL and value:
                resol = value[0]
        tsresol_byte_units(resol)                   # refuses a resolution libpcap refuses
        key = (linktype, snaplen, name, description)
        iface = self._shared.get(key)
        if iface is None:
            iface = Interface(name=name, linktype=linktype, snaplen=snaplen,
                              description=description)
            if len(self._shared) < _SHARED_INTERFACES:
                self._shared[key] = iface
        self.interfaces.append(iface)
        self._tsresol.append(resol)
        self._seen_idb = True

    def _check_interface(self, iface: int) -> None:
        if iface < len(self.interfaces):
            return
        if not self._seen_idb:
            raise MalformedBlock("the capture file has a packet block before any Interface "
                                 "Description Blocks")
        raise MalformedBlock(f"a packet arrived on interface {iface}, but there's no Interface "
                             "Description Block for that interface")

    def _epb(self, body: bytes, order: str, btype: int) -> Packet:
        if btype == BT_PB:      # obsolete Packet Block: u16 interface, u16 drops
            iface, _drops, high, low, caplen, wirelen = struct.unpack_from(order + "HHIIII", body)
        else:
            iface, high, low, caplen, wirelen = struct.unpack_from(order + "IIIII", body)
        self._check_interface(iface)
        if caplen > MAXIMUM_SNAPLEN:
            raise MalformedBlock(caplen_error(caplen))
        if 20 + caplen > len(body):
            raise MalformedBlock(f"captured length {caplen} runs past the end of its "
                                 f"{block_name(btype)} ({len(body) + 12} bytes)")
        mult, div = tsresol_byte_units(self._tsresol[iface])
        data = body[20:20 + caplen]
        if type(data) is not bytes:     # a block over READ_AHEAD comes as a bytearray
            data = bytes(data)
        direction = Direction.UNKNOWN
        comments = []
        for code, value in iter_options(body, 20 + caplen + (-caplen % 4), order, btype):
            if code == OPT_EPB_FLAGS and len(value) >= 4:
                bits = struct.unpack(order + "I", value[:4])[0] & 3
                direction = Direction(bits) if bits < 3 else Direction.UNKNOWN
            elif code == OPT_COMMENT:
                comments.append(value.decode("utf-8", "replace"))
        ts = ((high << 32) | low) * mult // div
        owner = owner_from_comments(comments) if comments else None     # ptcpdump's or ebcap's
        return Packet(ts, iface, direction, wirelen, data, tuple(comments), owner)

    def _spb(self, body: bytes, order: str) -> Packet:
        self._check_interface(0)
        wirelen = struct.unpack_from(order + "I", body, 0)[0]
        caplen = min(wirelen, adjust_snaplen(self.interfaces[0].snaplen))
        if 4 + caplen > len(body):
            raise MalformedBlock(f"captured length {caplen} runs past the end of its "
                                 f"{block_name(BT_SPB)} ({len(body) + 12} bytes)")
        return Packet(0, 0, Direction.UNKNOWN, wirelen, bytes(body[4:4 + caplen]))
