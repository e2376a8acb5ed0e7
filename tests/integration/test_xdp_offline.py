"""capture/kernel/xdp_offline.py: -r's XDP filter, test-run as capture/kernel/_testrun.c runs
it (the file's wire length in the 4 bytes before the frame), answers as libpcap does on every
Ethernet frame of the fixture corpus, or says UNDECIDED; and it exists only where it can."""

from __future__ import annotations

import ctypes
import struct

import pytest

from ebcap.capture.filter.libpcap import compile_filter, offline_match
from ebcap.capture.kernel import bpfsys
from ebcap.capture.kernel.xdp_offline import UNDECIDED, load_xdp_filter
from ebcap.capture.packet import LinkType

from tests.helpers.paths import FIXTURES, PRINT_CORPUS
from tests.helpers.printing import read_pcap

BPF_PROG_TEST_RUN = 10
FILTERS = ["tcp", "udp port 53", "tcp[tcpflags] & tcp-syn != 0", "ip6 and tcp", "len > 100",
           "vlan", "ether broadcast", "icmp or arp", "ip[2:2] > 500"]


def frames() -> list[tuple[bytes, int]]:
    out = []
    for path in sorted(PRINT_CORPUS.glob("*.pcap")) + sorted((FIXTURES / "corpus").glob("*.pcap")):
        linktype, packets = read_pcap(path)[:2]
        if linktype == LinkType.ETHERNET:
            out += [(p.data, p.wirelen) for p in packets if 14 <= len(p.data) <= 3000]
    return out


def xdp_run(fd: int, data: bytes, wirelen: int) -> int:
    buf = ctypes.create_string_buffer(struct.pack("<I", wirelen) + data)
    attr = ctypes.create_string_buffer(80)
    struct.pack_into("<IIIIQQII", attr, 0, fd, 0, len(data) + 4, 0, ctypes.addressof(buf), 0,
                     1, 0)
    assert bpfsys._bpf(BPF_PROG_TEST_RUN, attr) >= 0
    return struct.unpack_from("<I", attr, 4)[0]


@pytest.mark.parametrize("expression", FILTERS)
def test_xdp_filter_answers_as_libpcap(expression):
    insns = compile_filter(expression, LinkType.ETHERNET)
    xdp = load_xdp_filter(insns, 262144)
    assert xdp is not None
    try:
        answers = {0: 0, 1: 0, UNDECIDED: 0}
        for data, wirelen in frames():
            verdict = xdp_run(xdp.fd, data, wirelen)
            answers[verdict] += 1
            if verdict != UNDECIDED:
                assert verdict == int(offline_match(insns, data, wirelen)), (expression, data)
        assert answers[0] + answers[1] > answers[UNDECIDED]     # it decides most of them
    finally:
        xdp.close()


def test_no_xdp_filter_where_it_cannot_answer():
    assert load_xdp_filter(compile_filter("tcp", LinkType.ETHERNET), 0) is None   # headers only
    assert load_xdp_filter(compile_filter("inbound", LinkType.ETHERNET), 262144) is None
