"""The eBPF instructions the filter translation emits, named as the verifier prints them, and
a program of them with labels, whose jumps are placed once every instruction has its place."""

from __future__ import annotations

import struct
from collections import namedtuple

from ebcap.capture.errors import TranslateError

# eBPF (uapi/linux/bpf.h)
EBPF_LDX, EBPF_ST, EBPF_STX, EBPF_ALU, EBPF_JMP, EBPF_JMP32, EBPF_ALU64 = 1, 2, 3, 4, 5, 6, 7
EBPF_MEM = 0x60
EBPF_DW = 0x18
MOV, ADD, AND, LSH, NEG, END, XOR = 0xB0, 0x00, 0x50, 0x60, 0x80, 0xD0, 0xA0
TO_BE = 0x08
JA, JEQ, JGT, JGE, JSET, JNE, JLT = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0xA0
CALL, EXIT = 0x80, 0x90
FUNC_GET_PRANDOM_U32, FUNC_GET_SMP_PROCESSOR_ID, FUNC_SKB_LOAD_BYTES = 7, 8, 26
FUNC_PROBE_READ_KERNEL = 113
R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)
BPF_X = 0x08                                 # source operand: a register, not imm
INSN = struct.Struct("<BBhi")


def signed32(k: int) -> int:
    k &= 0xFFFFFFFF
    return k - (1 << 32) if k & 0x80000000 else k


class Jump(namedtuple("Jump", "code dst src imm label")):
    """A jump whose offset is known once every instruction has its place: four ints and the
    label it goes to. (collections' named tuple: capture/filter/libpcap.py's Insn says why.)"""

    __slots__ = ()


class Program:
    """Instructions, labels and the jumps between them."""

    def __init__(self):
        self.items: list = []               # (code, regs, off, imm) tuples and Jump
        self.labels: dict[object, int] = {}

    def emit(self, code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> None:
        self.items.append((code, (src << 4) | dst, off, signed32(imm)))

    def jump(self, code: int, label, dst: int = 0, src: int = 0, imm: int = 0) -> None:
        self.items.append(Jump(code, dst, src, signed32(imm), label))

    def label(self, name) -> None:
        self.labels[name] = len(self.items)

    def assemble(self) -> bytes:
        out = bytearray()
        for pos, item in enumerate(self.items):
            if isinstance(item, Jump):
                off = self.labels[item.label] - (pos + 1)
                if not -0x8000 <= off < 0x8000:
                    raise TranslateError("the filter is too large for eBPF jumps")
                item = (item.code, (item.src << 4) | item.dst, off, item.imm)
            out += INSN.pack(*item)
        return bytes(out)

    # the instructions the translation uses, named as the verifier prints them
    def mov32_imm(self, dst: int, imm: int) -> None:
        self.emit(EBPF_ALU | MOV, dst, imm=imm)

    def mov32(self, dst: int, src: int) -> None:
        self.emit(EBPF_ALU | MOV | BPF_X, dst, src)

    def mov64(self, dst: int, src: int) -> None:
        self.emit(EBPF_ALU64 | MOV | BPF_X, dst, src)

    def add64_imm(self, dst: int, imm: int) -> None:
        self.emit(EBPF_ALU64 | ADD, dst, imm=imm)

    def load(self, size_bits: int, dst: int, src: int, off: int) -> None:
        self.emit(EBPF_LDX | EBPF_MEM | size_bits, dst, src, off)

    def store(self, size_bits: int, dst: int, src: int, off: int) -> None:
        self.emit(EBPF_STX | EBPF_MEM | size_bits, dst, src, off)

    def store_imm(self, size_bits: int, dst: int, off: int, imm: int) -> None:
        self.emit(EBPF_ST | EBPF_MEM | size_bits, dst, off=off, imm=imm)

    def to_big_endian(self, dst: int, nbytes: int) -> None:
        if nbytes > 1:
            self.emit(EBPF_ALU | END | TO_BE, dst, imm=8 * nbytes)

    def call(self, helper: int) -> None:
        self.emit(EBPF_JMP | CALL, imm=helper)

    def exit(self) -> None:
        self.emit(EBPF_JMP | EXIT)
