"""Kernel text addresses as `symbol+0xoff`, from /proc/kallsyms.

A kfree_skb tracepoint reports where a packet was freed as a bare return address; people read
`__udp4_lib_rcv+0x8ea`. /proc/kallsyms lists every kernel symbol with its address, but shows the
addresses as zeros to a reader without CAP_SYSLOG (kernel.kptr_restrict, or perf_event_paranoid
>= 2 as here): load it while ebcap is still root. The table is a snapshot: symbols of modules
and BPF programs loaded later are missing from it.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass
from pathlib import Path

from ebcap.capture.errors import KernelFeatureError

KALLSYMS = Path("/proc/kallsyms")
_TEXT_TYPES = frozenset(b"tTwW")   # code, global or local; weak symbols are code here too


@dataclass(frozen=True)
class Symbol:
    name: str
    offset: int
    module: str | None     # None for the kernel image itself

    def __str__(self) -> str:
        return f"{self.name}+0x{self.offset:x}"


class Kallsyms:
    """The text symbols, sorted by address. Building keeps each line as bytes and sorts them as
    they are: addresses are printed at a fixed width, so bytes order is address order, and only
    the line that is found is ever converted. A regular expression and int() per address
    measured 47 + 13 ms for 122,000 symbols here; splitting, filtering and sorting ~25 ms."""

    def __init__(self, text: bytes, source: str = str(KALLSYMS)):
        self.source = source
        self._width = max(text.find(b" "), 0)
        type_at = self._width + 1
        self._lines = [line for line in text.split(b"\n")
                       if len(line) > type_at + 2 and line[type_at] in _TEXT_TYPES]
        self._lines.sort()      # vmlinux comes sorted; module and BPF symbols need it
        self._hidden = bool(self._lines) and not self._lines[-1][:self._width].strip(b"0")

    @classmethod
    def load(cls, path: Path = KALLSYMS) -> Kallsyms:
        """Reading costs ~50 ms of kernel CPU here (it expands 122,000 compressed names), whatever
        the read size; building the table ~25 ms more."""
        try:
            text = Path(path).read_bytes()
        except OSError as err:
            raise KernelFeatureError(f"cannot read {path}: {err.strerror}") from None
        return cls(text, str(path))

    def __len__(self) -> int:
        return len(self._lines)

    def lookup(self, addr: int) -> Symbol | None:
        """The text symbol at or below `addr`, or None below the first one."""
        if self._hidden:
            raise KernelFeatureError(
                f"{self.source} shows every address as 0 to this process: without CAP_SYSLOG the "
                f"kernel hides them (kernel.kptr_restrict, kernel.perf_event_paranoid); read it as root")
        if not self._lines or addr < 0:
            return None
        width = self._width
        key = f"{addr:0{width}x}".encode()
        at = bisect.bisect_right(self._lines, key, key=lambda line: line[:width])
        if at == 0:
            return None
        fields = self._lines[at - 1].split()
        module = fields[3].strip(b"[]").decode() if len(fields) > 3 else None
        return Symbol(fields[2].decode(), addr - int(fields[0], 16), module)

    def symbolize(self, addr: int) -> str:
        """`symbol+0xoff`, or the bare hex address where no symbol covers it."""
        symbol = self.lookup(addr)
        return str(symbol) if symbol else f"0x{addr:x}"


@functools.lru_cache(maxsize=1)
def kernel_symbols() -> Kallsyms:
    """/proc/kallsyms read once per process, on first use."""
    return Kallsyms.load()


def symbolize(addr: int) -> str:
    return kernel_symbols().symbolize(addr)
