"""bpf/record.h is the one definition of the kernel's records; the Python side must agree."""

import re

from ebcap.bpf import SOURCE_DIR
from ebcap.capture.packet import Direction
from ebcap.capture.pcapng.format import OPT_EPB_FLAGS
from ebcap.capture.pcapng.writer import encode_epb
from ebcap.capture.packet import Packet
from ebcap.capture.pcapng.format import EPB_HEAD, EPB_TAIL, parse_epb

C_TYPES = {"__u64": "Q", "__u32": "I", "__u16": "H", "__u8": "B"}


def header():
    return (SOURCE_DIR / "record.h").read_text()


def struct_format(name):
    body = re.search(rf"struct {name} \{{(.*?)\}};", header(), re.S).group(1)
    fields = re.findall(r"^\s*(__u\d+)\s+(\w+);", body, re.M)
    return "<" + "".join(C_TYPES[ctype] for ctype, _ in fields), [n for _, n in fields]


def test_epb_head_and_tail_match_header():
    fmt, names = struct_format("ebcap_epb_head")
    assert EPB_HEAD.format == fmt
    assert names[:2] == ["block_type", "total_length"] and names[-2:] == ["caplen", "wirelen"]
    fmt, names = struct_format("ebcap_epb_tail")
    assert EPB_TAIL.format == fmt and names[-1] == "total_length"


def test_constants_match_pcapng():
    assert re.search(r"#define EBCAP_BT_EPB 6\b", header())
    assert re.search(rf"#define EBCAP_OPT_EPB_FLAGS {OPT_EPB_FLAGS}\b", header())


def test_directions_match_header():
    values = dict(re.findall(r"EBCAP_DIR_(\w+) = (\d+)", header()))
    assert {k: int(v) for k, v in values.items()} == {d.name: d.value for d in Direction}


def test_python_encoder_and_kernel_layout_agree():
    """A block as the kernel lays it out parses back, and equals what pcapng.py writes."""
    packet = Packet(0x1234_5678_9ABC, 3, Direction.OUT, 99, b"\x01\x02\x03\x04\x05")
    block = encode_epb(packet)
    assert parse_epb(block) == (3, 0x1234_5678_9ABC, 99, 2, b"\x01\x02\x03\x04\x05")


def test_interface_state_matches_header():
    """capture/kernel/maps.py writes and reads struct ebcap_iface in the per-CPU `slots` and
    `interfaces` maps."""
    from ebcap.capture.kernel.maps import IFACE
    fmt, names = struct_format("ebcap_iface")
    assert IFACE.format == fmt
    assert names == ["accepted", "lost", "interface_id", "ifindex"]
