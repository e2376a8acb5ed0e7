"""pcapng, defined once: block types, option codes, the EPB layout, the option walk and the
block walk. The writer, the reader, the ring reader, the session and the bench all use these;
bpf/record.h is the kernel's copy of the EPB layout (tests/unit/test_record_layout.py compares).

Block codes and option codes are those of the pcapng specification (draft-ietf-opsawg-pcapng).
The classic pcap header and record, which the reader and the bench also read, are here too.
"""

from __future__ import annotations

import io
import struct
from collections import namedtuple
from collections.abc import Iterable, Iterator
from functools import cache

from ebcap.capture.errors import InputError, MalformedBlock
from ebcap.capture.filter.libpcap import MAXIMUM_SNAPLEN

# Classic pcap: magic -> (byte order, ns per timestamp fraction unit); then the file header
# (version, zone, sigfigs, snaplen, linktype) and per record (sec, frac, caplen, wirelen).
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000), b"\xa1\xb2\xc3\xd4": (">", 1000),       # microseconds
    b"\x4d\x3c\xb2\xa1": ("<", 1), b"\xa1\xb2\x3c\x4d": (">", 1),             # nanoseconds
}
PCAP_FILE_HEADER = "HHiIII"          # after the magic: 20 bytes
PCAP_RECORD = "IIII"                 # 16 bytes

# libpcap's limits, applied whatever the input (a file or a pipe), so that no length read from a
# file makes ebcap allocate more than this: a packet record holds at most MAXIMUM_SNAPLEN
# bytes, a pcapng block at most MAX_BLOCK (sf-pcapng.c's INITIAL_MAX_BLOCKSIZE) and a Section
# Header Block at most SHB_MAX (BT_SHB_INSANE_MAX). SHB_MIN: type, length, byte-order magic,
# version, section length, trailing length.
MAX_BLOCK = 16 * 1024 * 1024
SHB_MIN, SHB_MAX = 28, 1024 * 1024

# Block types
BT_SHB = 0x0A0D0D0A          # Section Header Block
BT_IDB = 1                   # Interface Description Block
BT_PB = 2                    # Packet Block (obsolete; read, never written)
BT_SPB = 3                   # Simple Packet Block
BT_ISB = 5                   # Interface Statistics Block
BT_EPB = 6                   # Enhanced Packet Block
BYTE_ORDER_MAGIC = 0x1A2B3C4D
BLOCK_NAMES = {BT_SHB: "Section Header Block", BT_IDB: "Interface Description Block",
               BT_PB: "Packet Block", BT_SPB: "Simple Packet Block",
               BT_ISB: "Interface Statistics Block", BT_EPB: "Enhanced Packet Block"}
_BOM_LITTLE, _BOM_BIG = struct.pack("<I", BYTE_ORDER_MAGIC), struct.pack(">I", BYTE_ORDER_MAGIC)

# Options, by the block they belong to
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
OPT_SHB_OS, OPT_SHB_USERAPPL = 3, 4
OPT_IF_NAME, OPT_IF_DESCRIPTION, OPT_IF_TSRESOL, OPT_IF_FILTER, OPT_IF_OS = 2, 3, 9, 11, 12
OPT_EPB_FLAGS = 2
ISB_STARTTIME, ISB_ENDTIME, ISB_IFRECV, ISB_FILTERACCEPT, ISB_OSDROP, ISB_USRDELIV = 2, 3, 4, 6, 7, 8
TSRESOL_NS = 9               # if_tsresol: 10^-9 s (what ebcap writes)
TSRESOL_DEFAULT = 6          # microseconds, when an IDB has no if_tsresol

# The EPB ebcap writes, and the kernel builds (bpf/record.h's struct ebcap_epb_head/_tail):
#   type, total length, interface id, ts high, ts low, caplen, wirelen | data, pad to 4 |
#   epb_flags option (code, length 4, value), end of options, total length.
EPB_HEAD = struct.Struct("<IIIIIII")
EPB_TAIL = struct.Struct("<HHIII")
EPB_FIXED = EPB_HEAD.size + EPB_TAIL.size
PADS = [b"", b"\0\0\0", b"\0\0", b"\0"]       # padding after `n` bytes: PADS[n & 3]


# --- encoding -------------------------------------------------------------------------------

def encode_option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def encode_options(pairs: Iterable[tuple[int, bytes]]) -> bytes:
    """The options, then opt_endofopt."""
    return (b"".join(encode_option(code, value) for code, value in pairs)
            + encode_option(OPT_ENDOFOPT, b""))


def encode_block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def ts_words(ts_ns: int) -> tuple[int, int]:
    """A 64-bit timestamp as pcapng stores it: high word, low word."""
    return ts_ns >> 32, ts_ns & 0xFFFFFFFF


# --- decoding -------------------------------------------------------------------------------

def block_name(block_type: int) -> str:
    return BLOCK_NAMES.get(block_type, f"block of type {block_type}")


def iter_options(body, offset: int, order: str = "<",
                 block_type: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(code, value) of each option in `body` from `offset` up to opt_endofopt or the end.
    Raises MalformedBlock for an option that runs past the end of `body` (the body of a block
    of `block_type`, which the message names)."""
    end = len(body)
    while offset + 4 <= end:
        code, length = struct.unpack_from(order + "HH", body, offset)
        if code == OPT_ENDOFOPT:
            return
        if offset + 4 + length > end:
            where = block_name(block_type) if block_type is not None else "block"
            raise MalformedBlock(f"option {code} of length {length} runs past the end of "
                                 f"its {where}")
        yield code, bytes(body[offset + 4:offset + 4 + length])
        offset += 4 + length + (-length % 4)


def tsresol_units(value: bytes) -> tuple[int, int]:
    """(multiplier, divisor) turning an IDB's timestamp units into ns, from its if_tsresol
    value (b"" for none: microseconds). Finer than 10^-19 or 2^-63 s is refused, as libpcap
    does (its units must fit 64 bits)."""
    return tsresol_byte_units(value[0] if value else TSRESOL_DEFAULT)


@cache
def tsresol_byte_units(raw: int) -> tuple[int, int]:
    """tsresol_units of one if_tsresol byte (cached: the reader keeps one byte an interface)."""
    if raw & 0x80:
        if raw & 0x7F > 63:
            raise MalformedBlock(f"if_tsresol option resolution 2^-{raw & 0x7F} is too high")
        units = 2 ** (raw & 0x7F)
    else:
        if raw > 19:
            raise MalformedBlock(f"if_tsresol option resolution 10^-{raw} is too high")
        units = 10 ** raw
    return (10 ** 9 // units, 1) if units <= 10 ** 9 else (1, units // 10 ** 9)


def adjust_snaplen(snaplen: int) -> int:
    """A file's snapshot length as libpcap takes it: 0 or more than the maximum is the maximum."""
    return MAXIMUM_SNAPLEN if snaplen == 0 or snaplen > MAXIMUM_SNAPLEN else snaplen


class Block(namedtuple("Block", "type body order")):
    """One block: its type (int), its body (bytes, between the length words) and the section's
    byte order (str). (collections' named tuple: capture/filter/libpcap.py's Insn says why.)"""

    __slots__ = ()


def read_blocks(stream: io.BufferedIOBase, name: str, first: bytes = b"") -> Iterator[Block]:
    """The blocks of a pcapng stream. `first` holds bytes already read from its start (the
    magic). Section headers are yielded too (body after the byte-order magic).

    Raises InputError, worded as libpcap's, for a block whose length is out of libpcap's
    bounds (checked before anything is read past the length: a pipe claiming 4 GiB costs
    nothing), cut short, or whose trailing length differs from the leading one."""
    order = "<"
    pending = first
    while True:
        head = pending + read_exactly(stream, 8 - len(pending))
        pending = b""
        if not head:
            return
        if head[:4] == _SHB_TYPE:
            head += read_exactly(stream, 12 - len(head))       # with the byte-order magic
            if len(head) < 12:
                raise _truncated(name, 12, len(head))
            order = _section_order(head[8:12], name)
            total = struct.unpack(order + "I", head[4:8])[0]
            if not SHB_MIN <= total <= SHB_MAX:
                raise InputError(f"{name}: Section Header Block has an invalid length {total} "
                                 f"({SHB_MIN} to {SHB_MAX} allowed)")
        else:
            if len(head) < 8:
                raise _truncated(name, 8, len(head))
            total = struct.unpack(order + "I", head[4:8])[0]
            _check_block_length(total, name)
        wanted = total - len(head)
        body = read_exactly(stream, wanted - 4)
        trailer = read_exactly(stream, 4) if len(body) == wanted - 4 else b""
        if len(body) + len(trailer) < wanted:
            raise _truncated(name, wanted, len(body) + len(trailer))
        if struct.unpack(order + "I", trailer)[0] != total:
            raise InputError(f"{name}: block total length in header and trailer don't match")
        yield Block(struct.unpack(order + "I", head[:4])[0], body, order)


_SHB_TYPE = struct.pack("<I", BT_SHB)         # the same bytes in either byte order


def _section_order(bom: bytes, name: str) -> str:
    if bom == _BOM_LITTLE:
        return "<"
    if bom == _BOM_BIG:
        return ">"
    raise InputError(f"{name}: bad pcapng byte-order magic 0x{bom.hex()}")


def _check_block_length(total: int, name: str) -> None:
    if total < 12:
        raise InputError(f"{name}: block in pcapng dump file has a length of {total} < 12")
    if total % 4:
        raise InputError(f"{name}: block in pcapng dump file has a length of {total} that is "
                         "not a multiple of 4")
    if total > MAX_BLOCK:
        raise InputError(f"{name}: pcapng block size {total} > maximum {MAX_BLOCK}")


def _truncated(name: str, wanted: int, got: int) -> InputError:
    return InputError(f"{name}: truncated pcapng dump file; tried to read {wanted} bytes, "
                      f"only got {got}")


def walk_blocks(data: bytes) -> Iterator[Block]:
    """The blocks of a whole pcapng file in memory."""
    return read_blocks(io.BytesIO(data), "pcapng data")


def scan_blocks(data) -> Iterator[tuple[int, int, int, str]]:
    """(type, body start, body end, byte order) of each whole block in a buffer (an mmap'd
    file), without copying: the bench counts files of millions of packets this way, where
    read_blocks' two reads and a copy per block cost ~2 µs each. Stops at a block cut short."""
    order, at, end = "<", 0, len(data)
    while at + 12 <= end:
        if data[at:at + 4] == b"\x0a\x0d\x0d\x0a":
            order = "<" if data[at + 8:at + 12] == _BOM_LITTLE else ">"
        btype, total = struct.unpack_from(order + "II", data, at)
        if total < 12 or at + total > end:
            return
        yield btype, at + 8, at + total - 4, order
        at += total


def split_blocks(chunk) -> list[bytes]:
    """The blocks in a run of whole little-endian blocks (the writer's pending buffer), each
    as bytes; a block cut short at the end is left out."""
    blocks, offset = [], 0
    while offset + 8 <= len(chunk):
        total = struct.unpack_from("<I", chunk, offset + 4)[0]
        if total < 12 or offset + total > len(chunk):
            break
        blocks.append(bytes(chunk[offset:offset + total]))
        offset += total
    return blocks


def parse_epb(block: bytes) -> tuple[int, int, int, int, bytes]:
    """(interface_id, ts_ns, wirelen, direction, data) of an EPB as ebcap and the kernel build
    it (EPB_HEAD, data, EPB_TAIL; nanosecond timestamps)."""
    _type, _total, iid, high, low, caplen, wirelen = EPB_HEAD.unpack_from(block)
    data = block[EPB_HEAD.size:EPB_HEAD.size + caplen]
    flags = EPB_TAIL.unpack_from(block, EPB_HEAD.size + ((caplen + 3) & ~3))[2]
    return iid, (high << 32) | low, wirelen, flags & 3, data


def epb_interface_id(block: bytes) -> int:
    """The interface id of one of ebcap's EPBs, without parsing the rest."""
    return int.from_bytes(block[8:12], "little")


def read_exactly(stream: io.BufferedIOBase, n: int) -> bytes:
    """Up to `n` bytes: fewer only at the end of the stream (a raw pipe may return less)."""
    if n <= 0:
        return b""
    data = stream.read(n) or b""
    if len(data) in (0, n):
        return data
    chunks, got = [data], len(data)
    while got < n:
        more = stream.read(n - got)
        if not more:
            break
        chunks.append(more)
        got += len(more)
    return b"".join(chunks)
