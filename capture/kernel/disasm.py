"""eBPF instructions as text, in the kernel verifier's notation (`ebcap --dump-ebpf`): what the
kernel gets, the compiled program with the filter spliced in."""

from __future__ import annotations

import struct

INSN = struct.Struct("<BBhi")
_CLASSES = {0: "ld", 1: "ldx", 2: "st", 3: "stx", 4: "alu", 5: "jmp", 6: "jmp32", 7: "alu64"}
_SIZES = {0x00: "u32", 0x08: "u16", 0x10: "u8", 0x18: "u64"}
_ALU = {0x00: "+=", 0x10: "-=", 0x20: "*=", 0x30: "/=", 0x40: "|=", 0x50: "&=", 0x60: "<<=",
        0x70: ">>=", 0x90: "%=", 0xA0: "^=", 0xB0: "=", 0xC0: "s>>="}
_JMP = {0x10: "==", 0x20: ">", 0x30: ">=", 0x40: "&", 0x50: "!=", 0x60: "s>", 0x70: "s>=",
        0xA0: "<", 0xB0: "<=", 0xC0: "s<", 0xD0: "s<="}


def instruction(insns: bytes, index: int) -> str:
    code, regs, off, imm = INSN.unpack_from(insns, index * INSN.size)
    dst, src = regs & 0xF, regs >> 4
    cls, op, size, source = code & 0x07, code & 0xF0, code & 0x18, code & 0x08
    name = _CLASSES[cls]
    if name in ("alu", "alu64"):
        reg = "w" if name == "alu" else "r"
        if op == 0x80:
            return f"{reg}{dst} = -{reg}{dst}"
        if op == 0xD0:
            return f"{reg}{dst} = {'be' if source else 'le'}{imm} {reg}{dst}"
        operand = f"{reg}{src}" if source else str(imm)
        return f"{reg}{dst} {_ALU.get(op, f'op{op:#x}')} {operand}"
    if name in ("jmp", "jmp32"):
        if op == 0x80:
            return f"call pc{imm:+d}" if src == 1 else f"call {imm}"
        if op == 0x90:
            return "exit"
        if op == 0x00:
            return f"goto pc{off:+d}"
        reg = "w" if name == "jmp32" else "r"
        operand = f"{reg}{src}" if source else str(imm)
        return f"if {reg}{dst} {_JMP.get(op, f'op{op:#x}')} {operand} goto pc{off:+d}"
    if name == "ldx":
        return f"r{dst} = *({_SIZES[size]} *)(r{src} {off:+d})"
    if name == "stx":
        return f"*({_SIZES[size]} *)(r{dst} {off:+d}) = r{src}"
    if name == "st":
        return f"*({_SIZES[size]} *)(r{dst} {off:+d}) = {imm}"
    if code == 0x18:                            # ld_imm64: two slots
        high = INSN.unpack_from(insns, (index + 1) * INSN.size)[3] if (
            (index + 1) * INSN.size < len(insns)) else 0
        what = "map_fd " if src == 1 else ""
        return f"r{dst} = {what}{(high << 32) | (imm & 0xFFFFFFFF):#x} ll"
    return f"code {code:#04x} dst r{dst} src r{src} off {off} imm {imm}"


def listing(insns: bytes) -> str:
    """One line per instruction, numbered as the verifier numbers them."""
    lines, index, count = [], 0, len(insns) // INSN.size
    while index < count:
        lines.append(f"{index:5d}: {instruction(insns, index)}")
        index += 2 if insns[index * INSN.size] == 0x18 else 1
    return "\n".join(lines)
