"""Reads the BPF ring buffer straight from its mmap'd pages, in batches.

BCC's ring_buffer_poll() calls a ctypes callback per record; draining the pages directly costs one
struct unpack per record instead (kernel/bpf/ringbuf.c fixes the layout):
  page 0 (read-write)       consumer_pos
  page 1 (read-only)        producer_pos
  page 2.. (read-only)      data, mapped twice so a record that wraps is contiguous
Each record: u32 len (bit 31 busy, bit 30 discard), u32 page offset, payload, padded to 8.
epoll on the map fd reports readable when records are waiting (the session polls all rings).
The payload is `struct ebcap_record` from bpf/record.h (RECORD below; a unit test compares them).
"""

from __future__ import annotations

import ctypes
import mmap
import struct
from typing import Callable

from capture.packet import Direction

RINGBUF_BUSY_BIT = 1 << 31
RINGBUF_DISCARD_BIT = 1 << 30
RINGBUF_HDR_SZ = 8
_LEN_MASK = RINGBUF_DISCARD_BIT - 1

# struct ebcap_record: ts_ns, ifindex, wirelen, caplen, direction, then data.
RECORD = struct.Struct("<QIIII")

_u32 = struct.Struct("<I").unpack_from
_u64 = struct.Struct("<Q").unpack_from

# (ts_ns monotonic, ifindex, wirelen, direction, data)
RawRecord = tuple[int, int, int, Direction, bytes]


class RingReader:
    """Consumer side of one BPF_MAP_TYPE_RINGBUF map."""

    def __init__(self, map_fd: int, size: int):
        page = mmap.PAGESIZE
        self._mask = size - 1
        self._data_base = page            # data area offset inside self._pages
        self._consumer_page = mmap.mmap(map_fd, page, mmap.MAP_SHARED,
                                        mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._pages = mmap.mmap(map_fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ,
                                offset=page)
        # One aligned 8-byte store publishes consumer_pos, as the kernel expects.
        self._consumer = ctypes.c_uint64.from_buffer(self._consumer_page)

    def pending(self) -> bool:
        return self._consumer.value < _u64(self._pages, 0)[0]

    def drain(self, handle: Callable[[int, int, int, int, bytes], None], limit: int = 0) -> int:
        """Call handle(ts_ns, ifindex, wirelen, direction, data) for each record; returns the count.

        Stops after `limit` records when limit > 0. The consumer position is published once, at
        the end of the batch.
        """
        pages, mask, base = self._pages, self._mask, self._data_base
        cons = self._consumer.value
        prod = _u64(pages, 0)[0]
        unpack = RECORD.unpack_from
        hdr_size = RECORD.size
        count = 0
        while cons < prod:
            off = base + (cons & mask)
            header = _u32(pages, off)[0]
            if header & RINGBUF_BUSY_BIT:
                break
            length = header & _LEN_MASK
            if not header & RINGBUF_DISCARD_BIT:
                ts, ifindex, wirelen, caplen, direction = unpack(pages, off + RINGBUF_HDR_SZ)
                start = off + RINGBUF_HDR_SZ + hdr_size
                handle(ts, ifindex, wirelen, direction, pages[start:start + caplen])
                count += 1
            cons += (length + RINGBUF_HDR_SZ + 7) & ~7
            if limit and count >= limit:
                break
        self._consumer.value = cons
        return count

    def close(self) -> None:
        del self._consumer
        self._consumer_page.close()
        self._pages.close()
