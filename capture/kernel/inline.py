"""The filters put into the entry function itself, where bpf/ebcap.c calls them, instead of
appended as subprograms (capture/kernel/splice.py): every packet a TC hook sees runs the
in-place one (and the copying one where that cannot decide), and a BPF-to-BPF call costs the x86 JIT's call, a second prologue and epilogue (the callee-saved
registers pushed and popped) and a return, through the return thunk on hosts with retbleed/SRSO
mitigations. Measured on an AMD EPYC VM with bpf_stats: an empty program calling an empty
subprogram ran 8 [2..14] ns longer than the empty program itself, where ebcap's refused packet
costs the floor + 26-30 (README, "seventh pass").

The call becomes a jump to the filter's instructions, placed after the entry's last one (the
compiled program is that one function: what splice() appends after it are subprograms), and
each of the filter's exits a jump back to the instruction after the call, through code that
gives the caller its registers back. A filter is a subprogram by its calling convention: it
keeps its state in r6-r9 (capture/filter/translate.py) and a stack frame of its own below r10;
inlined, those are the caller's. So the registers among r6-r9 that hold a value where the call
was (known by a walk of the program: written on every path there) are stored below the
caller's stack frame and loaded back at the exits, and the filter's frame goes below them: its
r10 offsets move down by the caller's depth plus the saved registers. Anything this cannot be
sure of (an r10 use it does not know, a filter that calls a subprogram, a frame too deep, a
jump too long) leaves the filter a subprogram, as before."""

from __future__ import annotations

import struct

INSN = struct.Struct("<BBhi")
_LD, _LDX, _ST, _STX, _ALU, _JMP, _JMP32, _ALU64 = range(8)
_MODE_MEM_LIKE = (0x60, 0x80, 0xC0)     # MEM, MEMSX (loads), ATOMIC (stores)
_JA, _CALL, _EXIT = 0x00, 0x80, 0x90
_DW_STX, _DW_LDX = 0x7B, 0x79           # BPF_STX|BPF_MEM|BPF_DW, BPF_LDX|BPF_MEM|BPF_DW
_MOV64_X, _ADD64_K = 0xBF, 0x07
_FP = 10
_SAVED = (6, 7, 8, 9)                   # the caller's registers a subprogram must keep
_BPF_FETCH, _BPF_CMPXCHG = 0x01, 0xF0 | 0x01
STACK_LIMIT = 512                       # MAX_BPF_STACK
# what an inlined frame leaves for a filter the entry still calls as a subprogram: its frame
# (capture/filter/translate.py: down to FP_MEM - 4 * 15, 104 bytes) and the verifier's
# rounding, on a call chain whose frames may sum to STACK_LIMIT
CALLEE_ROOM = 128


def _slots(program: bytes) -> list[tuple[int, int, int, int]]:
    return list(INSN.iter_unpack(program))


def _is_wide(code: int) -> bool:
    return code == 0x18                 # ld_imm64: two slots, the second with code 0


def stack_offsets(program: bytes) -> list[int] | None:
    """The r10 offsets `program` addresses (loads, stores and pointers to the stack), or None
    when it uses r10 in a way these do not cover (then the frame's depth is unknown)."""
    slots = _slots(program)
    offsets = []
    index = 0
    while index < len(slots):
        code, regs, off, imm = slots[index]
        dst, src, cls = regs & 0x0F, regs >> 4, code & 0x07
        if _is_wide(code):
            if dst == _FP:
                return None
            index += 2
            continue
        if cls == _LDX and src == _FP or cls in (_ST, _STX) and dst == _FP:
            if (code & 0xE0) not in _MODE_MEM_LIKE:
                return None
            offsets.append(off)
        elif code == _MOV64_X and src == _FP:
            # clang's pointer to a stack object: rX = r10; rX += off
            if dst == _FP or index + 1 >= len(slots):
                return None
            ncode, nregs, _noff, nimm = slots[index + 1]
            if ncode != _ADD64_K or nregs & 0x0F != dst:
                return None
            offsets.append(nimm)
        elif dst == _FP and cls != _JMP and cls != _JMP32:
            return None                 # r10 written, or a load/store through it not above
        elif src == _FP and (cls == _STX or cls in (_ALU, _ALU64, _JMP, _JMP32) and code & 0x08
                             or cls == _LD):
            return None                 # the frame's address stored, computed with, compared
        elif dst == _FP and code & 0xF0 not in (_JA, _CALL, _EXIT):
            return None                 # compared with something
        index += 1
    return offsets


def written_before(program: bytes, target: int) -> set[int] | None:
    """The registers that hold a value on every path from the start to instruction `target`
    (r1, the context, and r10 at the start; a call leaves r0 and clobbers r1-r5), or None when
    the walk finds something it does not follow."""
    slots = _slots(program)
    count = len(slots)
    state: list[set[int] | None] = [None] * count
    state[0] = {1, _FP}
    work = [0]
    while work:
        index = work.pop()
        have = set(state[index])
        code, regs, off, imm = slots[index]
        dst, src, cls = regs & 0x0F, regs >> 4, code & 0x07
        nexts = [index + 1]
        if _is_wide(code):
            have.add(dst)
            nexts = [index + 2]
        elif cls in (_ALU, _ALU64, _LDX):
            have.add(dst)
        elif cls == _LD:                    # legacy packet loads: r0, and a call's clobbering
            have -= {1, 2, 3, 4, 5}
            have.add(0)
        elif cls == _STX and (code & 0xE0) == 0xC0:
            if imm == _BPF_CMPXCHG:
                have.add(0)
            elif imm & _BPF_FETCH:
                have.add(src)
        elif cls in (_JMP, _JMP32):
            op = code & 0xF0
            if op == _EXIT:
                nexts = []
            elif op == _CALL:
                have -= {1, 2, 3, 4, 5}
                have.add(0)
            elif op == _JA:
                nexts = [index + 1 + (imm if cls == _JMP32 else off)]
            else:
                nexts = [index + 1, index + 1 + off]
        for nxt in nexts:
            if not 0 <= nxt < count:
                return None
            if state[nxt] is None:
                state[nxt] = have
                work.append(nxt)
            elif not state[nxt] <= have:
                state[nxt] &= have
                work.append(nxt)
    return state[target]


def _jump(code_at: int, to: int) -> bytes | None:
    off = to - (code_at + 1)
    if not -0x8000 <= off <= 0x7FFF:
        return None
    return INSN.pack(0x05, 0, off, 0)       # BPF_JMP | BPF_JA


def inline_call(program: bytes, index: int, filter_insns: bytes,
                callee_room: int = CALLEE_ROOM) -> bytes | None:
    """`program` (one function) with its call at `index` replaced by `filter_insns` in line,
    placed after its last instruction, its frame leaving `callee_room` bytes of the stack for
    subprograms the program calls; None when that cannot be done safely (see above)."""
    caller = stack_offsets(program)
    own = stack_offsets(filter_insns)
    have = written_before(program, index)
    if caller is None or own is None or have is None:
        return None
    depth = (-min([0, *caller]) + 7) & ~7
    saved = [reg for reg in _SAVED if reg in have]
    shift = depth + 8 * len(saved)
    if shift - min([0, *own]) > STACK_LIMIT - callee_room:
        return None
    start = len(program) // INSN.size
    body_start = start + len(saved)
    body = _slots(filter_insns)
    restore = body_start + len(body)
    out = bytearray(program)
    jump = _jump(index, start)
    if jump is None:
        return None
    out[index * INSN.size:(index + 1) * INSN.size] = jump
    block = [INSN.pack(_DW_STX, _FP | reg << 4, -(depth + 8 * (k + 1)), 0)
             for k, reg in enumerate(saved)]
    at = 0
    while at < len(body):
        code, regs, off, imm = body[at]
        dst, src, cls = regs & 0x0F, regs >> 4, code & 0x07
        if _is_wide(code):
            if src:                     # a map or a function named: not in a filter
                return None
            block += [INSN.pack(code, regs, off, imm), INSN.pack(*body[at + 1])]
            at += 2
            continue
        if cls in (_JMP, _JMP32) and code & 0xF0 == _CALL and src:
            return None                 # a BPF-to-BPF call: its offset would need moving
        if code == 0x95:
            jump = _jump(body_start + at, restore)
            if jump is None:
                return None
            block.append(jump)
        elif cls == _LDX and src == _FP or cls in (_ST, _STX) and dst == _FP:
            block.append(INSN.pack(code, regs, off - shift, imm))
        elif code == _ADD64_K and at and body[at - 1][0] == _MOV64_X \
                and body[at - 1][1] >> 4 == _FP and body[at - 1][1] & 0x0F == dst:
            block.append(INSN.pack(code, regs, off, imm - shift))
        else:
            block.append(INSN.pack(code, regs, off, imm))
        at += 1
    block += [INSN.pack(_DW_LDX, reg | _FP << 4, -(depth + 8 * (k + 1)), 0)
              for k, reg in enumerate(saved)]
    back = _jump(restore + len(saved), index + 1)
    if back is None:
        return None
    block.append(back)
    return bytes(out) + b"".join(block)
