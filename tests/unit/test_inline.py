"""Putting the in-place filter in line (capture/kernel/inline.py): the caller's registers that
hold a value at the call kept below its stack frame, the filter's frame moved below them, and
whatever the transformation cannot be sure of refused (None: the filter stays a subprogram)."""

import struct

from ebcap.capture.kernel.inline import CALLEE_ROOM, inline_calls, stack_offsets, written_before

INSN = struct.Struct("<BBhi")
EXIT = INSN.pack(0x95, 0, 0, 0)
CALL_STUB = INSN.pack(0x85, 0, 0, 0x7EBCB)


def mov64(dst, src):
    return INSN.pack(0xBF, dst | src << 4, 0, 0)


def mov_imm(dst, imm):
    return INSN.pack(0xB7, dst, 0, imm)


def stx_dw(base, src, off):
    return INSN.pack(0x7B, base | src << 4, off, 0)


def ldx_dw(dst, base, off):
    return INSN.pack(0x79, dst | base << 4, off, 0)


def slots(program):
    return list(INSN.iter_unpack(program))


def inline_call(program, index, filter_insns):
    out, done = inline_calls(program, {index: filter_insns})
    return out if done == {index} else None


def regs(*numbers):
    return sum(1 << n for n in numbers)


def test_stack_offsets_of_loads_stores_and_pointers():
    program = (stx_dw(10, 1, -8) + ldx_dw(2, 10, -16) + mov64(3, 10) + INSN.pack(0x07, 3, 0, -40)
               + EXIT)
    assert stack_offsets(slots(program), program) == [-8, -16, -40]


def test_stack_offsets_refuse_uses_they_cannot_follow():
    assert stack_offsets(slots(mov64(3, 10) + EXIT), mov64(3, 10) + EXIT) is None            # a copy, not offset
    assert stack_offsets(slots(stx_dw(1, 10, 0) + EXIT), stx_dw(1, 10, 0) + EXIT) is None        # the address stored
    assert stack_offsets(slots(INSN.pack(0x0F, 3 | 10 << 4, 0, 0) + EXIT), INSN.pack(0x0F, 3 | 10 << 4, 0, 0) + EXIT) is None  # r3 += r10


def test_written_before_follows_both_paths_and_calls():
    program = (mov_imm(6, 1)                                            # 0: r6 = 1
               + INSN.pack(0x15, 1, 1, 0)                               # 1: if r1 == 0 goto 3
               + mov_imm(7, 2)                                          # 2: r7 = 2
               + INSN.pack(0x85, 0, 0, 5)                               # 3: call 5
               + CALL_STUB + EXIT)                                      # 4
    state = written_before(slots(program))
    assert state[3] == regs(1, 6, 10)                                   # r7 on one path only
    assert state[4] == regs(0, 6, 10)                                   # r1 clobbered


def test_written_before_takes_a_loop_again():
    program = (mov_imm(6, 1)                                            # 0
               + INSN.pack(0x15, 6, 2, 0)                               # 1: if r6 == 0 goto 4
               + mov_imm(7, 2)                                          # 2: r7 = 2
               + INSN.pack(0x85, 0, 0, 5)                               # 3: call 5 (r1 gone)
               + INSN.pack(0x55, 0, -5, 0)                              # 4: if r0 != 0 goto 0
               + EXIT)                                                  # 5
    state = written_before(slots(program))
    assert state[0] == regs(10)             # the loop comes back where r1 is gone
    assert state[1] == regs(6, 10)          # ... and what follows was taken again
    assert state[3] == regs(6, 7, 10)
    assert state[4] == regs(6, 10)          # r0 and r7 not on the jump from 1


def test_two_calls_share_the_frame_below_the_callers():
    caller = stx_dw(10, 1, -8) + CALL_STUB + CALL_STUB + EXIT
    out, done = inline_calls(caller, {1: stx_dw(10, 1, -8) + EXIT, 2: stx_dw(10, 1, -16) + EXIT})
    assert done == {1, 2}
    out = slots(out)
    assert out[4] == (0x7B, 10 | 1 << 4, -16, 0)        # the first's -8, below the caller's 8
    assert out[7] == (0x7B, 10 | 1 << 4, -24, 0)        # the second's -16, the same region


def test_the_callers_registers_and_frame_are_kept():
    # the caller: r6 = ctx, r9 = 7, a stack slot at -16, then the call, then r0 = r9
    caller = (mov64(6, 1) + mov_imm(9, 7) + stx_dw(10, 9, -16) + CALL_STUB
              + mov64(0, 9) + EXIT)
    # the filter: r6 = r1, a word in its frame at -8, w0 = 1, exit
    in_place = mov64(6, 1) + stx_dw(10, 6, -8) + INSN.pack(0xB4, 0, 0, 1) + EXIT
    out = slots(inline_call(caller, 3, in_place))
    assert out[3] == (0x05, 0, 2, 0)                    # the call: goto 6
    assert out[6] == (0x7B, 10 | 6 << 4, -24, 0)        # r6 kept below the caller's 16 bytes
    assert out[7] == (0x7B, 10 | 9 << 4, -32, 0)        # ... and r9
    assert out[9] == (0x7B, 10 | 6 << 4, -40, 0)        # the filter's -8, moved down by 32
    assert out[11] == (0x05, 0, 0, 0)                   # its exit: to the loads
    assert out[12] == (0x79, 6 | 10 << 4, -24, 0) and out[13] == (0x79, 9 | 10 << 4, -32, 0)
    assert out[14] == (0x05, 0, -11, 0)                 # back to 4, after the call


def test_a_filter_that_calls_a_subprogram_or_names_a_map_stays_one():
    caller = CALL_STUB + EXIT
    assert inline_call(caller, 0, INSN.pack(0x85, 0x10, 0, 1) + EXIT + EXIT) is None
    assert inline_call(caller, 0, INSN.pack(0x18, 0x11, 0, 3) + INSN.pack(0, 0, 0, 0) + EXIT) \
        is None


def test_a_frame_too_deep_stays_a_subprogram():
    filter_insns = stx_dw(10, 1, -8) + EXIT
    assert inline_call(stx_dw(10, 1, -512) + CALL_STUB + EXIT, 1, filter_insns) is None
    # with room left for a filter that stays a subprogram
    caller = stx_dw(10, 1, -400) + CALL_STUB + EXIT
    assert inline_calls(caller, {1: filter_insns})[1] == {1}
    assert inline_calls(caller, {1: filter_insns}, CALLEE_ROOM)[1] == set()
