"""bpf/record.h is the one definition of the ring record; the Python side must agree with it."""

import re
import struct

from capture.bpf import SOURCE_DIR
from capture.packet import Direction
from capture.ring import RECORD

C_TYPES = {"__u64": "Q", "__u32": "I", "__u16": "H", "__u8": "B"}


def header():
    return (SOURCE_DIR / "record.h").read_text()


def test_record_struct_matches_header():
    body = re.search(r"struct ebcap_record \{(.*?)\};", header(), re.S).group(1)
    fields = re.findall(r"^\s*(__u\d+)\s+(\w+)(\[\])?;", body, re.M)
    fixed = [(ctype, name) for ctype, name, flexible in fields if not flexible]
    assert [name for _, name in fixed] == ["ts_ns", "ifindex", "wirelen", "caplen", "direction"]
    assert RECORD.format == "<" + "".join(C_TYPES[ctype] for ctype, _ in fixed)
    assert fields[-1][1:] == ("data", "[]")
    assert RECORD.size == struct.calcsize(RECORD.format) == 24


def test_directions_match_header():
    values = dict(re.findall(r"EBCAP_DIR_(\w+) = (\d+)", header()))
    assert {k: int(v) for k, v in values.items()} == {d.name: d.value for d in Direction}
