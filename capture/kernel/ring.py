"""Reads the BPF ring buffer straight from its mmap'd pages, in batches.

BCC's ring_buffer_poll() calls a ctypes callback per record; draining the pages directly costs a
few ns a record in C (drain_into), one unpack and one slice in Python (drain_blocks). The layout
is kernel/bpf/ringbuf.c's:
  page 0 (read-write)       consumer_pos
  page 1 (read-only)        producer_pos
  page 2.. (read-only)      data
Each record: u32 len (bit 31 busy, bit 30 discard), u32 page offset, payload, padded to 8.
The kernel lets a reader map the data twice in a row, so that a record that wraps is contiguous
(libbpf does). ebcap maps it once and copies the rare record that wraps in two pieces: every
page mapped is a page-table entry the kernel fills at mmap() and clears at munmap(), and with
the second copy of the default 8 MiB ring a capture's exit took 5.6 ms of CPU against 4.0 ms
without it, and its RSS was 39 MB against 31 (benchmarks/startup.py, medians of 5 warm runs).
The payload is one or more complete pcapng EPBs built by the kernel, back to back (bpf/record.h
says where they end), whose layout is capture/pcapng/format.py's (tests/unit/test_record_layout.py
compares the two).
epoll on the map fd reports readable when records are waiting (the session polls all rings).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct

try:
    from ebcap.capture.kernel import _ringdrain         # the loop of drain_into in C (setup.py, optional)
except ImportError:
    _ringdrain = None

RINGBUF_BUSY_BIT = 1 << 31
RINGBUF_DISCARD_BIT = 1 << 30
_LEN_MASK = RINGBUF_DISCARD_BIT - 1

_u32 = struct.Struct("<I").unpack_from
_u64 = struct.Struct("<Q").unpack_from
# the ring header's len word and the EPB's total_length (4 bytes into the payload), in one call
_len_and_block = struct.Struct("<I8xI").unpack_from


class RingReader:
    """Consumer side of one BPF_MAP_TYPE_RINGBUF map. `batched`: a record may hold several EPBs
    (ebcap.c's staging buffer); drops.c's records hold one, followed by bytes nobody wrote."""

    def __init__(self, map_fd: int, size: int, batched: bool = True):
        page = mmap.PAGESIZE
        self.fd = map_fd
        self.batched = batched
        self._mask = size - 1
        self._data_base = page            # data area offset inside self._pages
        self._consumer_page = mmap.mmap(map_fd, page, mmap.MAP_SHARED,
                                        mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._pages = mmap.mmap(map_fd, page + size, mmap.MAP_SHARED, mmap.PROT_READ,
                                offset=page)
        # One aligned 8-byte store publishes consumer_pos, as the kernel expects.
        self._consumer = ctypes.c_uint64.from_buffer(self._consumer_page)

    def drain_blocks(self, out: list, limit: int = 0) -> int:
        """Append each EPB (bytes) to `out`; returns how many. Stops after `limit` blocks when
        limit > 0, and then drops the rest of the record that held the last (-c ends the
        capture there). The consumer position is published once, after the batch.

        For callers that look at the blocks one by one (printing, several interfaces). Written
        for CPython's speed: locals only, one unpack and one slice per block, the rare busy,
        discard and wrapped cases off the main path.
        """
        pages, mask, base = self._pages, self._mask, self._data_base
        cons = self._consumer.value
        prod = _u64(pages, 0)[0]
        append = out.append
        before = len(out)
        special = RINGBUF_BUSY_BIT | RINGBUF_DISCARD_BIT
        busy = RINGBUF_BUSY_BIT
        data_end = base + mask + 1
        several = self.batched
        while cons < prod:
            off = base + (cons & mask)
            header = _u32(pages, off)[0]
            if header & special:
                if header & busy:
                    break
                cons += ((header & _LEN_MASK) + 15) & ~7      # discarded: skip
                continue
            src, start, end = pages, off + 8, off + 8 + header
            if end > data_end:              # the payload wraps to the start: copy it whole
                src, start, end = self._read(cons + 8, header), 0, header
            cons += (header + 15) & ~7                        # 8-byte header, 8-aligned
            while True:
                block_len = _u32(src, start + 4)[0]
                if not 12 <= block_len <= end - start:
                    raise ValueError(f"EPB of {block_len} bytes in a ring record with "
                                     f"{end - start} left")
                append(src[start:start + block_len])
                start += block_len
                if limit and len(out) - before >= limit:
                    self._consumer.value = cons
                    return limit
                if not several or end - start < 12 or not _u32(src, start + 4)[0]:
                    break
        self._consumer.value = cons
        return len(out) - before

    def drain_into(self, out: bytearray, offset: int, limit: int = 0,
                   counts=None) -> tuple[int, int]:
        """Copy the records' EPBs back to back into out[offset:] while whole records fit;
        returns (the new offset, how many blocks). Stops after `limit` blocks when limit > 0
        (dropping the rest of that record, as drain_blocks). With `counts` (an array('Q')),
        each block adds 1 at its interface id (ids past its end: not counted).

        The per-packet path of `ebcap -w`: the walk is ebcap.capture.kernel._ringdrain when it was built
        (this Python loop costs 0.6-0.76 µs a record here, the C one a few ns).
        """
        pages, mask, base = self._pages, self._mask, self._data_base
        cons = self._consumer.value
        prod = _u64(pages, 0)[0]
        if _ringdrain is not None:
            extra = () if counts is None else (counts,)
            offset, cons, count = _ringdrain.drain_into(pages, base, mask, cons, prod, limit,
                                                        out, offset, *extra)
            self._consumer.value = cons
            return offset, count
        count, end = 0, len(out)
        while cons < prod and not (limit and count >= limit):
            header = _u32(pages, base + (cons & mask))[0]
            if header & RINGBUF_BUSY_BIT:
                break
            if not header & RINGBUF_DISCARD_BIT:
                taken, n = self._blocks_in(cons, header & _LEN_MASK, limit - count if limit else 0)
                if taken > end - offset:
                    break
                out[offset:offset + taken] = self._read(cons + 8, taken)
                if counts is not None:
                    at = offset
                    for _ in range(n):
                        iid = _u32(out, at + 8)[0]
                        if iid < len(counts):
                            counts[iid] += 1
                        at += _u32(out, at + 4)[0]
                offset += taken
                count += n
            cons += ((header & _LEN_MASK) + 15) & ~7
        self._consumer.value = cons
        return offset, count

    def _blocks_in(self, cons: int, record_len: int, limit: int) -> tuple[int, int]:
        """(bytes, blocks) of the record at `cons`'s first blocks, at most `limit` (> 0)."""
        taken = n = 0
        while record_len - taken >= 12 and not (limit and n >= limit):
            block_len = self._u32_at(cons + 8 + taken + 4)
            if n and not block_len:
                break
            if not 12 <= block_len <= record_len - taken:
                raise ValueError(f"EPB of {block_len} bytes in a ring record with "
                                 f"{record_len - taken} left")
            taken += block_len
            n += 1
        if not n:
            raise ValueError(f"corrupt ring record of {record_len} bytes")
        return taken, n

    def drain_write(self, out: bytearray, offset: int, fd: int, write_at: int, limit: int = 0,
                    counts=None) -> tuple[int, int, int]:
        """drain_into, and each time out[:offset] reaches `write_at` bytes, one write(2) of it
        to `fd`, until the ring has no more; returns (the new offset, how many blocks, bytes
        written). A short or failed write stops it with the rest still at the start of `out`,
        for the caller's own write to finish (and report the error).

        The per-packet path of `ebcap -w` into a file: one C call per drain however many
        chunks it writes (ebcap.capture.kernel._ringdrain's drain_write says why)."""
        if _ringdrain is not None:
            extra = () if counts is None else (counts,)
            return _ringdrain.drain_write(self._pages, self._data_base, self._mask,
                                          self._consumer_page, limit, out, offset, fd, write_at,
                                          *extra)
        count = written = 0
        while True:
            offset, n = self.drain_into(out, offset, limit - count if limit else 0, counts)
            count += n
            if offset < write_at or (limit and count >= limit):
                return offset, count, written
            try:
                done = os.write(fd, memoryview(out)[:offset])
            except OSError:
                return offset, count, written
            written += done
            out[:offset - done] = out[done:offset]
            offset -= done
            if offset:
                return offset, count, written

    def _read(self, pos: int, n: int) -> bytes:
        """`n` bytes from ring position `pos` on, in two pieces if they wrap."""
        pages, base = self._pages, self._data_base
        start = base + (pos & self._mask)
        first = min(n, base + self._mask + 1 - start)
        if first == n:
            return pages[start:start + n]
        return pages[start:start + first] + pages[base:base + n - first]

    def _u32_at(self, pos: int) -> int:
        """The u32 at ring position `pos` (4-aligned: it never wraps)."""
        return _u32(self._pages, self._data_base + (pos & self._mask))[0]

    def batch_args(self) -> tuple:
        """(the read-only pages, the data area's offset in them, its mask, the writable page of
        consumer_pos) for a consumer in C (capture/kernel/_testrun.c)."""
        return self._pages, self._data_base, self._mask, self._consumer_page

    def close(self) -> None:
        del self._consumer
        self._consumer_page.close()
        self._pages.close()

