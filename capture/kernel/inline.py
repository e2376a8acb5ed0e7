"""The filters put into the entry function itself, where bpf/ebcap.c calls them, instead of
appended as subprograms (capture/kernel/splice.py): every packet a TC hook sees runs the
in-place one (and the copying one where that cannot decide), and a BPF-to-BPF call costs
the x86 JIT's call, a second prologue and epilogue (the callee-saved registers pushed and
popped) and a return, through the return thunk on hosts with retbleed/SRSO mitigations. Measured on an AMD EPYC VM with bpf_stats: an empty program calling an empty
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
jump too long) leaves the filter a subprogram, as before. Both filters' frames (and the
registers each call keeps) share one region below the caller's frame: they never run at once.

The facts about the caller come from the compiled function alone, one pass each (its frame's
depth, and the registers written on every path to each instruction, as bit masks): the
transformation runs at every start. Its first version, with sets and a walk per filter over
the program with the other filter already in line, took 4-8 ms a TC program; this one 1-2 ms
(measured: splice() of ebcap_ingress and ebcap_egress with "udp dst port 7" and with a
99-port filter)."""

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


Slot = tuple[int, int, int, int]


def _is_wide(code: int) -> bool:
    return code == 0x18                 # ld_imm64: two slots, the second with code 0


# regs bytes that name r10 as dst or src -> 1 (bytes.translate finds them without a loop)
_NAMES_FP = bytes(1 if r & 0x0F == _FP or r >> 4 == _FP else 0 for r in range(256))


def _fp_slots(program: bytes) -> list[int]:
    """The slots whose dst or src field is 10, by bytes.translate and find (C speed)."""
    marks = program[1::INSN.size].translate(_NAMES_FP)
    found = []
    at = marks.find(1)
    while at >= 0:
        found.append(at)
        at = marks.find(1, at + 1)
    return found


def stack_offsets(slots: list[Slot], program: bytes) -> list[int] | None:
    """The r10 offsets `program` (its `slots`) addresses (loads, stores and pointers to the
    stack), or None when it uses r10 in a way these do not cover (then the frame's depth is
    unknown). The second slot of an ld_imm64 has no register fields that name r10 (0, 0)."""
    offsets = []
    count = len(slots)
    for index in _fp_slots(program):
        code, regs, off, _imm = slots[index]
        dst, src, cls = regs & 0x0F, regs >> 4, code & 0x07
        if _is_wide(code):
            return None
        if cls == _LDX and src == _FP and dst != _FP or cls in (_ST, _STX) and dst == _FP \
                and not (cls == _STX and src == _FP):
            if (code & 0xE0) not in _MODE_MEM_LIKE:
                return None
            offsets.append(off)
        elif code == _MOV64_X and src == _FP and dst != _FP and index + 1 < count \
                and slots[index + 1][0] == _ADD64_K and slots[index + 1][1] & 0x0F == dst:
            offsets.append(slots[index + 1][3])     # clang's pointer: rX = r10; rX += off
        elif cls in (_JMP, _JMP32) and code & 0xF0 in (_JA, _CALL, _EXIT):
            pass                            # src/dst fields that name no register
        else:
            return None     # r10 written, copied, stored, computed with or compared
    return offsets


_ARGS = 0b111110                        # r1-r5, which a call clobbers
_START = 1 << 1 | 1 << _FP              # r1 (the context) and r10 at the start


def written_before(slots: list[Slot]) -> list[int | None] | None:
    """For each instruction, the registers (a bit each) that hold a value on every path from
    the start to it (None: unreachable); None when the walk finds a jump out of the program.
    In order, so that with forward jumps only (clang's unrolled code) each instruction is
    taken once; one that a backward jump changes is taken again, with what follows it."""
    count = len(slots)
    state: list[int | None] = [None] * count
    state[0] = _START
    taken = [False] * count
    work = list(range(count - 1, -1, -1))
    while work:
        index = work.pop()
        have = state[index]
        taken[index] = True
        if have is None:
            continue
        code, regs, off, imm = slots[index]
        cls = code & 0x07
        step, jump = 1, None
        if code == 0x18:
            have |= 1 << (regs & 0x0F)
            step = 2
        elif cls in (_ALU, _ALU64, _LDX):
            have |= 1 << (regs & 0x0F)
        elif cls == _LD:                    # legacy packet loads: r0, and a call's clobbering
            have = have & ~_ARGS | 1
        elif cls == _STX and (code & 0xE0) == 0xC0:
            if imm == _BPF_CMPXCHG:
                have |= 1
            elif imm & _BPF_FETCH:
                have |= 1 << (regs >> 4)
        elif cls in (_JMP, _JMP32):
            op = code & 0xF0
            if op == _EXIT:
                step = None
            elif op == _CALL:
                have = have & ~_ARGS | 1
            elif op == _JA:
                step, jump = None, index + 1 + (imm if cls == _JMP32 else off)
            else:
                jump = index + 1 + off
        for nxt in (index + step if step else None, jump):
            if nxt is None:
                continue
            if not 0 <= nxt < count:
                return None
            old = state[nxt]
            if old is None or old & have != old:
                state[nxt] = have if old is None else old & have
                if taken[nxt]:
                    work.append(nxt)
    return state


def _jump(code_at: int, to: int) -> bytes | None:
    off = to - (code_at + 1)
    if not -0x8000 <= off <= 0x7FFF:
        return None
    return INSN.pack(0x05, 0, off, 0)       # BPF_JMP | BPF_JA


def _in_line(body: list[Slot], at_slot: int, restore: int, shift: int) -> list[bytes] | None:
    """The filter's instructions placed from slot `at_slot`: exits jump to `restore`, r10
    offsets moved down by `shift`; None if it holds what cannot go in line."""
    out = []
    at = 0
    while at < len(body):
        code, regs, off, imm = body[at]
        dst, src, cls = regs & 0x0F, regs >> 4, code & 0x07
        if _is_wide(code):
            if src:                     # a map or a function named: not in a filter
                return None
            out += [INSN.pack(code, regs, off, imm), INSN.pack(*body[at + 1])]
            at += 2
            continue
        if cls in (_JMP, _JMP32) and code & 0xF0 == _CALL and src:
            return None                 # a BPF-to-BPF call: its offset would need moving
        if code == 0x95:
            jump = _jump(at_slot + at, restore)
            if jump is None:
                return None
            out.append(jump)
        elif cls == _LDX and src == _FP or cls in (_ST, _STX) and dst == _FP:
            out.append(INSN.pack(code, regs, off - shift, imm))
        elif code == _ADD64_K and at and body[at - 1][0] == _MOV64_X \
                and body[at - 1][1] >> 4 == _FP and body[at - 1][1] & 0x0F == dst:
            out.append(INSN.pack(code, regs, off, imm - shift))
        else:
            out.append(INSN.pack(code, regs, off, imm))
        at += 1
    return out


def inline_calls(program: bytes, calls: dict[int, bytes], callee_room: int = 0
                 ) -> tuple[bytes, set[int]]:
    """`program` (one function) with each call {index: filter instructions} replaced by the
    filter in line, placed after its last instruction, and the indexes it could do so for;
    the others are left as they are (the caller makes them subprograms). The frames leave
    `callee_room` bytes of the stack when some call is left (CALLEE_ROOM)."""
    slots = list(INSN.iter_unpack(program))
    caller = stack_offsets(slots, program)
    states = written_before(slots) if caller is not None and calls else None
    if states is None:
        return program, set()
    depth = (-min([0, *caller]) + 7) & ~7
    out = bytearray(program)
    block: list[bytes] = []
    done = set()
    start = len(slots)
    for index, filter_insns in sorted(calls.items()):
        body = list(INSN.iter_unpack(filter_insns))
        own = stack_offsets(body, filter_insns)
        have = states[index]
        if own is None or have is None:
            continue
        saved = [reg for reg in _SAVED if have >> reg & 1]
        shift = depth + 8 * len(saved)
        if shift - min([0, *own]) > STACK_LIMIT - callee_room:
            continue
        here = start + len(block)
        body_start = here + len(saved)
        restore = body_start + len(body)
        placed = _in_line(body, body_start, restore, shift)
        into, back = _jump(index, here), _jump(restore + len(saved), index + 1)
        if placed is None or into is None or back is None:
            continue
        out[index * INSN.size:(index + 1) * INSN.size] = into
        block += [INSN.pack(_DW_STX, _FP | reg << 4, -(depth + 8 * (k + 1)), 0)
                  for k, reg in enumerate(saved)]
        block += placed
        block += [INSN.pack(_DW_LDX, reg | _FP << 4, -(depth + 8 * (k + 1)), 0)
                  for k, reg in enumerate(saved)]
        block.append(back)
        done.add(index)
    return bytes(out) + b"".join(block), done
