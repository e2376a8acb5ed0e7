"""The typed options object the CLI builds; the capture session only reads it.

A named tuple, as the other records a warm start makes (capture/packet.py, capture/kernel/source.py
...): a repeated command line starts without importing dataclasses, whose import (inspect, ast,
tokenize) and per-class code generation took ~15 ms of the main thread's ~95 ms of CPU before
"listening on" (benchmarks/startup.py; the start waits on that thread, not on the verifier)."""

from __future__ import annotations

from typing import Any, NamedTuple

from ebcap.capture.filter.libpcap import MAXIMUM_SNAPLEN

HEADERS_ONLY = 0           # snaplen value meaning "up to the end of the transport header"
HEADERS_MAX = 256          # the most a headers-only copy holds (bpf/ebcap.c gets it as a -D)
DIRECTIONS = ("in", "out", "inout")


class CaptureConfig(NamedTuple):
    interfaces: tuple[str, ...] = ()
    expression: str = ""
    read_from: str | None = None          # -r FILE ("-" = stdin)
    write_to: str | None = None           # -w FILE ("-" = stdout)
    count: int = 0                        # -c, 0 = no limit
    snaplen: int = HEADERS_ONLY           # bytes to copy; HEADERS_ONLY = headers only
    direction: str = "inout"              # -Q
    promiscuous: bool = True              # -p turns it off
    buffer_kib: int | None = None         # -B
    packet_buffered: bool = False         # -U
    print_packets: bool = False           # --print (print while writing -w)
    print_options: Any = None             # dissectors.PrintOptions
    line_buffered: bool = False           # -l
    dump_level: int = 0                   # -d/-dd/-ddd
    dump_c: bool = False                  # --dump-c
    dump_ebpf: bool = False               # --dump-ebpf
    verbose: int = 0                      # -v (for "Got N")
    rotate_size: int | None = None        # -C, in bytes (tcpdump's unit is 1,000,000 bytes)
    rotate_seconds: int | None = None     # -G
    max_files: int | None = None          # -W
    user: str | None = None               # -Z
    netns: str | None = None              # --netns
    filters_from: str | None = None       # --filters-from LIST (with -r and --out-dir)
    out_dir: str | None = None            # --out-dir
    debug: bool = False
    drops: bool = False                   # --drops: packets the kernel drops, not the wire's
    drop_reasons: tuple[str, ...] = ()    # --drop-reason NAME / !NAME
    owners: bool = False                  # --owners (implied by --pid, --comm, --cgroup, --run)
    pids: tuple[int, ...] = ()            # --pid
    comms: tuple[str, ...] = ()           # --comm
    cgroup: str | None = None             # --cgroup PATH (relative to the v2 hierarchy's root)
    run: str | None = None                # --run 'CMD ARGS'

    @property
    def headers_only(self) -> bool:
        return self.snaplen == HEADERS_ONLY

    @property
    def record_snaplen(self) -> int:
        """The snaplen written in IDBs and the banner."""
        return HEADERS_MAX if self.headers_only else self.snaplen

    def to_record(self) -> dict | None:
        """This config as JSON values, for capture/kernel/prefetch.py's record; None when it
        holds print options (an object, and a printing start imports the printer anyway)."""
        if self.print_options is not None:
            return None
        return {name: value for name, value in self._asdict().items() if name != "print_options"}

    @classmethod
    def from_record(cls, data: dict) -> "CaptureConfig":
        """The inverse of to_record(); raises (KeyError, TypeError, ValueError) on anything else."""
        values = {}
        for name, default in cls._field_defaults.items():
            if name == "print_options":
                continue
            value = data[name]
            if isinstance(default, tuple):
                if not isinstance(value, (list, tuple)) or \
                        not all(isinstance(v, (str, int)) for v in value):
                    raise TypeError(f"{name}: not a list of plain values")
                value = tuple(value)
            elif value is not None and not isinstance(value, (str, int)):   # bool is an int
                raise TypeError(f"{name}: not a plain value")
            values[name] = value
        if len(data) != len(values):
            raise ValueError("fields differ")
        return cls(**values)


def parse_snaplen(value: int | None, reading: bool) -> int:
    """tcpdump's -s: 0 means the maximum. Without -s, live captures copy headers only and -r
    keeps whole packets."""
    if value is None:
        return MAXIMUM_SNAPLEN if reading else HEADERS_ONLY
    if value == 0 or value > MAXIMUM_SNAPLEN:
        return MAXIMUM_SNAPLEN
    return value
