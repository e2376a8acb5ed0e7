"""-r's cheaper kernel call: the in-place filter alone, in an XDP program, for
capture/kernel/_testrun.c to test-run before the SCHED_CLS program (bpf/ebcap.c, EBCAP_OFFLINE).

Why: BPF_PROG_TEST_RUN of a SCHED_CLS program allocates an skb (and a socket) per call, ~2.0 µs
of system time even for an empty program with a context; an XDP program's test run costs
~1.0 µs (no skb, no context passed). Measured from C on a 200-byte frame, median of 5 rounds of
200,000 calls on this VM: XDP 0.99, XDP with ctx_in 1.46, SOCKET_FILTER 1.75, SCHED_CLS 1.79,
SCHED_CLS with ctx_in 2.03 µs a call.

The program gets the record's bytes from the 4 before its frame: in a pcap record header and in
a pcapng EPB both are the file's wire length (the C loop checks), which becomes libpcap's `len`.
So no context is passed at all. It answers with its return value, never a ring record:
NO_MATCH, MATCH (_testrun.c cuts the file's bytes at the snap length, as the kernel program
would), or UNDECIDED (a load past the frame: the SCHED_CLS program decides, as today). Only a
filter that reads no skb metadata has this program (translation in the "offline-xdp" context
fails for the others), and only with a snap length (headers-only needs the kernel's header walk).
"""

from __future__ import annotations

import os

from ebcap.capture.errors import TranslateError
from ebcap.capture.filter.assembler import (
    EBPF_ALU64, EBPF_JMP, EBPF_LDX, EBPF_MEM, EBPF_STX, INSN, ADD, CALL, EXIT, JGT, MOV)
from ebcap.capture.filter.libpcap import Insn
from ebcap.capture.filter.translate import BPF_K as _K, BPF_W as _W, BPF_X as _X, UNDECIDED, \
    translate
from ebcap.capture.kernel import bpfsys

_PSEUDO_CALL = 1                            # a call's src_reg: to a subprogram, imm insns on
DIR_IN = 1                                  # bpf/record.h EBCAP_DIR_IN (ebcap_ingress's)


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return INSN.pack(code, (src << 4) | dst, off, imm)


def _wrapper() -> bytes:
    """r0 = filter(&wirelen, data + 4, data_end, DIR_IN, 0), wirelen the frame's first u32."""
    code = [
        _insn(EBPF_LDX | EBPF_MEM | _W, 2, 1, 0),          # r2 = ctx->data
        _insn(EBPF_LDX | EBPF_MEM | _W, 3, 1, 4),          # r3 = ctx->data_end
        _insn(EBPF_ALU64 | MOV | _X, 4, 2),                # r4 = r2
        _insn(EBPF_ALU64 | ADD | _K, 4, imm=4),            # r4 += 4
        _insn(EBPF_JMP | JGT | _X, 4, 3, off=9),           # if r4 > r3: undecided
        _insn(EBPF_LDX | EBPF_MEM | _W, 5, 2, 0),          # r5 = wirelen
        _insn(EBPF_STX | EBPF_MEM | _W, 10, 5, -8),        # *(u32 *)(fp - 8) = r5
        _insn(EBPF_ALU64 | MOV | _X, 1, 10),               # r1 = fp
        _insn(EBPF_ALU64 | ADD | _K, 1, imm=-8),           # r1 = &wirelen
        _insn(EBPF_ALU64 | MOV | _X, 2, 4),                # r2 = the frame
        _insn(EBPF_ALU64 | MOV | _K, 4, imm=DIR_IN),
        _insn(EBPF_ALU64 | MOV | _K, 5, imm=0),
        _insn(EBPF_JMP | CALL, src=_PSEUDO_CALL, imm=3),   # the filter, after these 16
        _insn(EBPF_JMP | EXIT),
        _insn(EBPF_ALU64 | MOV | _K, 0, imm=UNDECIDED),
        _insn(EBPF_JMP | EXIT),
    ]
    return b"".join(code)


def xdp_program(insns: list[Insn]) -> bytes | None:
    """The XDP program's instructions for this filter, None when it reads skb metadata."""
    try:
        return _wrapper() + translate(insns, context="offline-xdp")
    except TranslateError:
        return None


class XdpFilter:
    """The loaded program: `fd` and `cut` for _testrun.scan; close() frees it."""

    def __init__(self, fd: int, cut: int):
        self.fd, self.cut = fd, cut

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def load_xdp_filter(insns: list[Insn], snaplen: int) -> XdpFilter | None:
    """The XDP filter for -r, or None where the SCHED_CLS program must do everything (no snap
    length, skb metadata, or a kernel that refuses the program)."""
    if not snaplen:
        return None
    program = xdp_program(insns)
    if program is None:
        return None
    try:
        fd = bpfsys.prog_load(program, "ebcap_xdp_r", prog_type=bpfsys.BPF_PROG_TYPE_XDP)
    except bpfsys.ProgramRefused:
        return None
    return XdpFilter(fd, snaplen)

