"""Property test: no frame, however broken, makes any output mode raise.

10,000 frames (100 examples of 100) reach every line-mode flag combination, and another 10,000 reach
the Scapy tree and JSON modes: random bytes, and corpus frames (and the real-daemon captures' packets)
with random byte mutations, truncations, broken length fields and wrong wire lengths, on every link
type (and an unknown one).
"""

from __future__ import annotations

import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ebcap.capture.packet import Direction, Interface, LinkType, Packet
from ebcap.dissectors import PrintOptions, TimestampMode, make_printer, registry
from ebcap.dissectors.null import LINKTYPE_LOOP
from tests.helpers.paths import PRINT_CORPUS as CORPUS
from tests.helpers.printing import FAMILIES, read_pcap

SEEDS = [p.data for fam in FAMILIES for p in read_pcap(CORPUS / f"{fam}.pcap")[1]]
SEEDS += [p.data for pcap in sorted((CORPUS / "captures").glob("*.pcap")) for p in read_pcap(pcap)[1]]
# every link type a printer is registered for, the ones -r reads without one, and an unknown one
LINKTYPES = sorted({*registry.LINK_TYPES, *LinkType, LINKTYPE_LOOP}) + [999]
INTERFACES = [Interface(f"if{lt}", lt) for lt in LINKTYPES]

LINE_MODES = [
    PrintOptions(),
    PrintOptions(numeric=True, timestamp_mode=TimestampMode.EPOCH),
    PrintOptions(numeric=True, link_header=True, show_interface=True, timestamp_mode=TimestampMode.DATE),
    PrintOptions(numeric=True, verbose=1, timestamp_mode=TimestampMode.DELTA),
    PrintOptions(numeric=True, verbose=3, link_header=True, timestamp_mode=TimestampMode.DELTA_FIRST),
    PrintOptions(numeric=True, quiet=True, link_header=True, nano=True),
    PrintOptions(numeric=True, hex=1, absolute_seq=True),
    PrintOptions(numeric=True, hex=2, verbose=2, no_checksum=True),
    PrintOptions(numeric=True, hex_ascii=1, timestamp_mode=TimestampMode.NONE),
    PrintOptions(numeric=True, hex_ascii=2, verbose=2),
    PrintOptions(numeric=True, ascii=1),
]
SCAPY_MODES = [PrintOptions(tree=True, hex_ascii=1), PrintOptions(json=True, nano=True)]
FRAMES_PER_EXAMPLE = 100


@st.composite
def frames(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        data = draw(st.binary(min_size=0, max_size=200))
    else:
        data = bytearray(draw(st.sampled_from(SEEDS)))
        for _ in range(draw(st.integers(0, 6))):
            if data:
                i = draw(st.integers(0, len(data) - 1))
                data[i] = draw(st.integers(0, 255))
        if kind == 2 and data:
            data = data[:draw(st.integers(0, len(data)))]
        if kind == 3 and len(data) > 20:   # lengths and header-length fields are where parsers break
            for off in (16, 17, 46, 38, 39, 18, 19):
                if off < len(data):
                    data[off] = draw(st.sampled_from([0, 1, 5, 0x0F, 0x40, 0x50, 0xF0, 0xFF]))
        data = bytes(data)
    wirelen = len(data) + draw(st.sampled_from([0, 0, 1, 1400, -1]))
    return Packet(draw(st.integers(-2**40, 2**63)), draw(st.integers(-1, len(INTERFACES))),
                  Direction(draw(st.integers(0, 2))), max(wirelen, 0), data)


def run(options: PrintOptions, packets) -> str:
    out = io.StringIO()
    printer = make_printer(options, INTERFACES, out)
    for p in packets:
        printer.print(p)
    return out.getvalue()


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(frames(), min_size=FRAMES_PER_EXAMPLE, max_size=FRAMES_PER_EXAMPLE))
def test_line_modes_never_raise(packets):
    for options in LINE_MODES:
        text = run(options, packets)
        assert text.count("\n") >= len(packets)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(frames(), min_size=FRAMES_PER_EXAMPLE, max_size=FRAMES_PER_EXAMPLE))
def test_tree_and_json_never_raise(packets):
    for options in SCAPY_MODES:
        text = run(options, packets)
        if options.json:
            for line in text.splitlines():
                json.loads(line)
