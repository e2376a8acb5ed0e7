"""Each classic instruction, translated and run in the kernel (BPF_PROG_TEST_RUN through the
offline program), decides like libpcap's own interpreter on frames that exercise the peek, the
loads past it, the end of the packet and the arithmetic corner cases: once as the program runs
(the in-place filter deciding what it can), once with the in-place filter made to decide
nothing, so that the copying filter decides every packet, as it does for paged headers."""

from __future__ import annotations

from unittest import mock

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from ebcap.capture.filter.libpcap import Insn, offline_match
from ebcap.capture.filter.translate import MAX_BACKWARD_JUMPS, UNDECIDED
from ebcap.capture.kernel import bpfsys, program as kernel_program
from ebcap.capture.kernel.program import load_program
from ebcap.capture.kernel.splice import DIRECT_STUB
from ebcap.capture.kernel.ring import RingReader
from ebcap.capture.kernel.source import INGRESS, ProgramSpec

pytestmark = pytest.mark.kernel

RET_A, RET_K = (0x16, 0, 0, 0), (0x06, 0, 0, 1)
FRAMES = [bytes(f) for f in (
    Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=443, dport=40000, flags="S"),
    Ether() / IP(ihl=6, options=b"\x01\x01\x01\x01") / UDP(dport=53) / Raw(b"x" * 300),
    Ether() / IPv6() / IPv6ExtHdrHopByHop() / UDP(dport=9) / Raw(b"\xff" * 200),
    Ether() / ARP() / Raw(bytes(20)),
    Ether() / IP() / ICMP() / Raw(bytes(range(256)) * 5),
    Ether(type=0x0800) / Raw(b"\x45\x00\x00" + bytes(51)),           # an IP header cut short
    bytes(14) + bytes(range(1, 200)),
)]
# BPF_PROG_TEST_RUN takes frames of 54 to 1518 bytes for sure (capture/session/offline.py)
assert all(54 <= len(frame) <= 1518 for frame in FRAMES)
# programs: classic BPF ending in a return; A (or the jump) depends on the frame. Linux's
# ancillary loads are not here: libpcap's interpreter knows none (the live tests cover them)
PROGRAMS = {
    "ld abs peek": [(0x20, 0, 0, 26), (0x54, 0, 0, 0x80000001), RET_A],
    "ldh last in peek": [(0x28, 0, 0, 126), RET_A],
    "ldh straddling the peek": [(0x28, 0, 0, 127), RET_A],
    "ld far": [(0x20, 0, 0, 1000), RET_A],
    "ldb past the end": [(0x30, 0, 0, 5000), RET_K],
    "ldh ind": [(0x01, 0, 0, 100), (0x48, 0, 0, 14), RET_A],
    "ld ind past the peek": [(0x01, 0, 0, 130), (0x40, 0, 0, 2), RET_A],
    "msh": [(0xB1, 0, 0, 14), (0x87, 0, 0, 0), (0x15, 0, 1, 20), RET_K, (0x06, 0, 0, 0)],
    "len": [(0x80, 0, 0, 0), (0x25, 0, 1, 300), RET_K, (0x06, 0, 0, 0)],
    "ldx len": [(0x81, 0, 0, 0), (0x87, 0, 0, 0), (0x54, 0, 0, 0x7), RET_A],
    "mem": [(0x20, 0, 0, 12), (0x02, 0, 0, 7), (0x00, 0, 0, 0), (0x60, 0, 0, 7), RET_A],
    "div x": [(0x30, 0, 0, 23), (0x07, 0, 0, 0), (0x00, 0, 0, 1000), (0x3C, 0, 0, 0), RET_A],
    "mod x": [(0x30, 0, 0, 23), (0x07, 0, 0, 0), (0x00, 0, 0, 1000), (0x9C, 0, 0, 0), RET_A],
    "div by x = 0": [(0x01, 0, 0, 0), (0x00, 0, 0, 7), (0x3C, 0, 0, 0), RET_K],
    "div k": [(0x28, 0, 0, 16), (0x34, 0, 0, 256), RET_A],
    "lsh x 32+": [(0x30, 0, 0, 23), (0x07, 0, 0, 0), (0x00, 0, 0, 1), (0x6C, 0, 0, 0), RET_A],
    "rsh x": [(0x30, 0, 0, 20), (0x54, 0, 0, 31), (0x07, 0, 0, 0), (0x20, 0, 0, 26),
              (0x7C, 0, 0, 0), RET_A],
    "neg": [(0x30, 0, 0, 23), (0x84, 0, 0, 0), (0x25, 0, 1, 0xFFFFFF00), RET_K,
            (0x06, 0, 0, 0)],
    "mul overflow": [(0x20, 0, 0, 26), (0x24, 0, 0, 0x10001), (0x45, 0, 1, 0x80000000), RET_K,
                     (0x06, 0, 0, 0)],
    "jgt large k": [(0x20, 0, 0, 26), (0x25, 0, 1, 0xA0000000), RET_K, (0x06, 0, 0, 0)],
    "jge x": [(0x30, 0, 0, 23), (0x07, 0, 0, 0), (0x30, 0, 0, 14), (0x3D, 0, 1, 0), RET_K,
              (0x06, 0, 0, 0)],
    "jset x": [(0x01, 0, 0, 0x10), (0x30, 0, 0, 47), (0x4D, 0, 1, 0), RET_K, (0x06, 0, 0, 0)],
}
# A += 1 until A >= N, by a jump back (as libpcap's protochain loops; its own interpreter
# cannot run these on a 64-bit host: it adds the jump's k to a pointer)
LOOP = [(0x00, 0, 0, 0), (0x04, 0, 0, 1), (0x35, 1, 0, 0), (0x05, 0, 0, 0xFFFFFFFD), RET_A]


W0_UNDECIDED_EXIT = bytes([0xB4, 0, 0, 0]) + UNDECIDED.to_bytes(4, "little") + \
    bytes([0x95]) + bytes(7)
real_tc_filters = kernel_program.tc_filters


def copying_only(insns, offline):
    return {**real_tc_filters(insns, offline), DIRECT_STUB: W0_UNDECIDED_EXIT}


@pytest.fixture(scope="module", params=["in place", "copying"])
def run_in_kernel(request):
    loaded = []
    filters = real_tc_filters if request.param == "in place" else copying_only

    def run(program: list[tuple], frame: bytes) -> bool:
        with mock.patch.object(kernel_program, "tc_filters", filters):
            kernel = load_program([Insn(*i) for i in program],
                                  ProgramSpec(offline=True, ring_bytes=1 << 20))
        loaded.append(kernel)
        ring = RingReader(kernel.maps.ring_fd, 1 << 20)
        try:
            bpfsys.TestRunner(kernel.loaded.program_fd(INGRESS)).run(frame, len(frame))
            return ring.drain_blocks([]) == 1
        finally:
            ring.close()
            kernel.close()
    return run


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_decides_like_libpcap(run_in_kernel, name):
    program = PROGRAMS[name]
    insns = [Insn(*i) for i in program]
    got = [run_in_kernel(program, frame) for frame in FRAMES]
    want = [offline_match(insns, frame, len(frame)) for frame in FRAMES]
    assert got == want


@pytest.mark.parametrize("rounds, match", [(5, True), (MAX_BACKWARD_JUMPS + 1, True),
                                           (MAX_BACKWARD_JUMPS + 2, False), (50, False)])
def test_a_loop_gives_up_after_the_bound(run_in_kernel, rounds, match):
    """N rounds take N - 1 jumps back; past MAX_BACKWARD_JUMPS the filter gives up, no match
    (protochain never needs more than a few)."""
    program = [insn if n != 2 else (0x35, 1, 0, rounds) for n, insn in enumerate(LOOP)]
    assert run_in_kernel(program, FRAMES[0]) == match
