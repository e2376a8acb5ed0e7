"""bpf/drop_record.h from the Python side: the drop record, the counters and the config, and
the comments a dropped packet's EPB carries (tests/unit/test_drop_record.py compares the
layouts with the header)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from ebcap.capture.errors import EbcapError
from ebcap.capture.kernel.owners import OWNER
from ebcap.capture.packet import Direction

DROP_KIND = 0x44524F50          # EBCAP_DROP_KIND
DROP_RAW = 1                    # EBCAP_DROP_RAW
DROP_OWNED = 2                  # EBCAP_DROP_OWNED: the owner (kernel/owners.py's OWNER) follows
DROP_DIR_SHIFT = 8              # EBCAP_DROP_DIR_SHIFT

# struct ebcap_drop_record: kind, total_length, ts, location, reason, ifindex, caplen,
# wirelen, flags, pad
RECORD = struct.Struct("<IIQQIIIIII")
OWNER_SIZE = OWNER.size         # struct ebcap_owner (record.h)


class _MapLayout(NamedTuple):
    name: str
    layout: struct.Struct

    def pack(self, *values) -> bytes:
        return self.layout.pack(*values)


# struct ebcap_drop_counters: foreign, unowned, considered, matched, lost
COUNTERS = _MapLayout("counters", struct.Struct("<QQQQQ"))
REASON_BITS = 1024              # EBCAP_REASON_BITS
# struct ebcap_drop_config: netns_inum, ifindex, other_reasons, direction, reasons bitmap
CONFIG = _MapLayout("drop_config", struct.Struct(f"<IIII{REASON_BITS // 64}Q"))


class DropRecord(NamedTuple):
    ts_ns: int
    location: int
    reason: int
    ifindex: int
    wirelen: int
    raw: bool                   # no link header: the data starts with the IP header
    data: bytes
    direction: Direction = Direction.UNKNOWN
    owner: bytes = b""          # struct ebcap_owner's bytes (DROP_OWNED), b"": none asked for


def parse_record(record: bytes) -> DropRecord:
    """One ring record (bpf/drops.c); ValueError for anything that is not a drop record."""
    if len(record) < RECORD.size:
        raise ValueError(f"a drop record of {len(record)} bytes")
    kind, total, ts, location, reason, ifindex, caplen, wirelen, flags, _pad = \
        RECORD.unpack_from(record)
    owned = OWNER_SIZE if flags & DROP_OWNED else 0
    if kind != DROP_KIND or total != RECORD.size + owned + caplen or len(record) < total:
        raise ValueError("not a drop record")
    direction = (flags >> DROP_DIR_SHIFT) & 3
    return DropRecord(ts, location, reason, ifindex, wirelen, bool(flags & DROP_RAW),
                      bytes(record[RECORD.size + owned:total]),
                      Direction(direction) if direction < 3 else Direction.UNKNOWN,
                      bytes(record[RECORD.size:RECORD.size + owned]))


@dataclass
class DropCounters:
    foreign: int = 0
    unowned: int = 0
    considered: int = 0
    matched: int = 0
    lost: int = 0

    @classmethod
    def sum(cls, per_cpu: list[bytes]) -> "DropCounters":
        rows = [COUNTERS.layout.unpack(value) for value in per_cpu]
        return cls(*(sum(column) for column in zip(*rows))) if rows else cls()

    def __add__(self, other: "DropCounters") -> "DropCounters":
        return DropCounters(*(a + b for a, b in zip(vars(self).values(), vars(other).values())))


def drop_comments(reason: str, location: str) -> tuple[str, ...]:
    """The EPB comments of a dropped packet, one opt_comment each, in the `Key: value` form of
    the owner comments (ptcpdump's): reason by the kernel's own name, where by kernel symbol."""
    return (f"{DROP_KEY}{reason}", f"{LOCATION_KEY}{location}")


DROP_KEY, LOCATION_KEY = "Drop: ", "Location: "


def drop_of(comments: tuple[str, ...]) -> tuple[str, str] | None:
    """(reason, location) from a packet's comments, drop_comments()'s as a file has them back
    (the location '?' if a file lost it); None for a packet that was not dropped."""
    reason = location = None
    for text in comments:
        if text.startswith(DROP_KEY) and reason is None:
            reason = text[len(DROP_KEY):]
        elif text.startswith(LOCATION_KEY) and location is None:
            location = text[len(LOCATION_KEY):]
    return None if reason is None else (reason, location or "?")


@dataclass(frozen=True)
class ReasonSelection:
    """What --drop-reason chose: the reasons below REASON_BITS one by one, the rest together."""

    chosen: frozenset
    others: bool

    def words(self) -> list[int]:
        """The bitmap of struct ebcap_drop_config's reasons, as 64-bit words."""
        words = [0] * (REASON_BITS // 64)
        for value in self.chosen:
            words[value // 64] |= 1 << (value % 64)
        return words


def select_reasons(specs: tuple[str, ...], reasons: dict[str, int]) -> ReasonSelection:
    """--drop-reason NAME (repeatable; `!NAME` leaves one out) against the running kernel's
    reasons by name (btf.drop_reasons()): the names given, or all but the ones left out. A
    name is the kernel's, in any case, with or without SKB_DROP_REASON_."""
    chosen, left_out = set(), set()
    for spec in specs:
        negated = spec.startswith("!")
        name = spec[1:] if negated else spec
        key = name.upper().removeprefix("SKB_DROP_REASON_")
        if key not in reasons:
            import difflib
            close = difflib.get_close_matches(key, list(reasons), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise EbcapError(f"unknown drop reason {name}: not one of this kernel's{hint}")
        (left_out if negated else chosen).add(reasons[key])
    every = {value for value in reasons.values() if 0 <= value < REASON_BITS}
    base = chosen or every
    return ReasonSelection(frozenset(v for v in base - left_out if v < REASON_BITS),
                           others=not chosen)


def reason_name(reasons: dict[int, str], value: int) -> str:
    """The running kernel's name of a reason value (btf.drop_reasons(), inverted)."""
    return reasons.get(value, f"REASON_{value}")
