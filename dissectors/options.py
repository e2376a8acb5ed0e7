"""The print flags, one frozen object built once at the CLI boundary."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class TimestampMode(enum.IntEnum):
    """tcpdump's -t count; the values are the number of -t letters (tcpdump's ndo_tflag)."""

    DEFAULT = 0        # local time, HH:MM:SS.frac
    NONE = 1           # -t
    EPOCH = 2          # -tt     seconds.frac since the epoch
    DELTA = 3          # -ttt    delta to the previous packet
    DATE = 4           # -tttt   local date and time
    DELTA_FIRST = 5    # -ttttt  delta to the first packet


@dataclass(frozen=True)
class PrintOptions:
    """Every tcpdump print flag ebcap honours. Counts are the number of times a letter was given."""

    numeric: bool = False                  # -n: no port (or host) name lookups
    timestamp_mode: TimestampMode = TimestampMode.DEFAULT   # -t count
    link_header: bool = False              # -e
    quiet: bool = False                    # -q
    verbose: int = 0                       # -v count
    hex: int = 0                           # -x count: 1 from the network header, 2 with the link header
    hex_ascii: int = 0                     # -X count, same meaning
    ascii: int = 0                         # -A count (tcpdump has no -AA flag; 2 includes the link header)
    absolute_seq: bool = False             # -S
    no_checksum: bool = False              # -K
    tree: bool = False                     # -V: full Scapy layer tree, like tshark -V
    json: bool = False                     # --json: one JSON object per packet per line
    nano: bool = False                     # --nano: nanosecond timestamps
    show_interface: bool = False           # "IFNAME In/Out" prefix, as with tcpdump -i any

    def __post_init__(self) -> None:
        # Accept the plain -t count from the CLI.
        if not isinstance(self.timestamp_mode, TimestampMode):
            object.__setattr__(self, "timestamp_mode", TimestampMode(min(int(self.timestamp_mode), 5)))
        if self.tree and self.json:
            raise ValueError("tree and json output are exclusive")
