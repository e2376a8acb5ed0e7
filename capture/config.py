"""The typed options object the CLI builds; the capture session only reads it.

A named tuple, as the other records a warm start makes (capture/packet.py, capture/kernel/source.py
...): a repeated command line starts without importing dataclasses, whose import (inspect, ast,
tokenize) and per-class code generation took ~15 ms of the main thread's ~95 ms of CPU before
"listening on" (benchmarks/startup.py; the start waits on that thread, not on the verifier)."""

from __future__ import annotations

from collections import namedtuple

from ebcap.capture.filter.libpcap import MAXIMUM_SNAPLEN

HEADERS_ONLY = 0           # snaplen value meaning "up to the end of the transport header"
HEADERS_MAX = 256          # the most a headers-only copy holds (bpf/ebcap.c gets it as a -D)
DIRECTIONS = ("in", "out", "inout")


_CONFIG_FIELDS = {              # name: default; the type, and what it holds
    "interfaces": (),           # tuple[str, ...]
    "expression": "",           # str
    "read_from": None,          # str | None, -r FILE ("-" = stdin)
    "write_to": None,           # str | None, -w FILE ("-" = stdout)
    "count": 0,                 # int, -c, 0 = no limit
    "snaplen": HEADERS_ONLY,    # int, bytes to copy; HEADERS_ONLY = headers only
    "direction": "inout",       # str, -Q
    "promiscuous": True,        # bool, -p turns it off
    "buffer_kib": None,         # int | None, -B
    "packet_buffered": False,   # bool, -U
    "print_packets": False,     # bool, --print (print while writing -w)
    "print_options": None,      # Any, dissectors.PrintOptions
    "line_buffered": False,     # bool, -l
    "dump_level": 0,            # int, -d/-dd/-ddd
    "dump_c": False,            # bool, --dump-c
    "dump_ebpf": False,         # bool, --dump-ebpf
    "verbose": 0,               # int, -v (for "Got N")
    "rotate_size": None,        # int | None, -C, in bytes (tcpdump's unit is 1,000,000 bytes)
    "rotate_seconds": None,     # int | None, -G
    "max_files": None,          # int | None, -W
    "user": None,               # str | None, -Z
    "netns": None,              # str | None, --netns
    "filters_from": None,       # str | None, --filters-from LIST (with -r and --out-dir)
    "out_dir": None,            # str | None, --out-dir
    "debug": False,             # bool
    "drops": False,             # bool, --drops: packets the kernel drops, not the wire's
    "drop_reasons": (),         # tuple[str, ...], --drop-reason NAME / !NAME
    "owners": False,            # bool, --owners (implied by --pid, --comm, --cgroup, --run)
    "pids": (),                 # tuple[int, ...], --pid
    "comms": (),                # tuple[str, ...], --comm
    "cgroup": None,             # str | None, --cgroup PATH (relative to the v2 hierarchy's root)
    "run": None,                # str | None, --run 'CMD ARGS'
}


class CaptureConfig(namedtuple("CaptureConfig", _CONFIG_FIELDS,
                               defaults=_CONFIG_FIELDS.values())):
    # collections' named tuple, not typing's: typing's import (~5 ms) and its per-class work
    # were on a warm start's main thread too (capture/filter/libpcap.py's Insn)
    __slots__ = ()

    @property
    def headers_only(self) -> bool:
        return self.snaplen == HEADERS_ONLY

    @property
    def record_snaplen(self) -> int:
        """The snaplen written in IDBs and the banner."""
        return HEADERS_MAX if self.headers_only else self.snaplen

    def to_record(self) -> dict | None:
        """This config as plain values, for capture/kernel/prefetch.py's record; None when it
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
