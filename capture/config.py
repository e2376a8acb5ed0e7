"""The typed options object the CLI builds; the capture session only reads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ebcap.capture.filter.libpcap import MAXIMUM_SNAPLEN

HEADERS_ONLY = 0           # snaplen value meaning "up to the end of the transport header"
HEADERS_MAX = 256          # the most a headers-only copy holds (bpf/ebcap.c gets it as a -D)
DIRECTIONS = ("in", "out", "inout")


@dataclass(frozen=True)
class CaptureConfig:
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


def parse_snaplen(value: int | None, reading: bool) -> int:
    """tcpdump's -s: 0 means the maximum. Without -s, live captures copy headers only and -r
    keeps whole packets."""
    if value is None:
        return MAXIMUM_SNAPLEN if reading else HEADERS_ONLY
    if value == 0 or value > MAXIMUM_SNAPLEN:
        return MAXIMUM_SNAPLEN
    return value
