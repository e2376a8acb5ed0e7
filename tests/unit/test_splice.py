"""Splicing the filter into the compiled program: the one stub call becomes a call to the
filter appended at the end, and nothing else changes."""

import struct

import pytest

from ebcap.capture.errors import KernelFeatureError
from ebcap.capture.kernel.splice import BPF_CALL, DIRECT_STUB, FILTER_STUB, splice

INSN = struct.Struct("<BBhi")
MOV_R0_0, EXIT = INSN.pack(0xB7, 0, 0, 0), INSN.pack(0x95, 0, 0, 0)
STUB = INSN.pack(BPF_CALL, 0, 0, FILTER_STUB)
LD_IMM64_MAP = INSN.pack(0x18, 0x11, 0, 5) + INSN.pack(0, 0, 0, 0)    # its second slot: code 0
# r1 = r10, a use of the frame capture/kernel/inline.py does not follow: such a filter stays a
# subprogram, appended
NOT_IN_LINE = INSN.pack(0xBF, 0xA1, 0, 0)


def test_the_stub_call_becomes_a_call_to_the_appended_filter():
    program = LD_IMM64_MAP + STUB + MOV_R0_0 + EXIT
    filter_insns = NOT_IN_LINE + INSN.pack(0xB4, 0, 0, 1) + EXIT        # w0 = 1; exit
    out = splice(program, filter_insns)
    assert out[:16] == LD_IMM64_MAP and out[24:40] == MOV_R0_0 + EXIT
    assert out[40:] == filter_insns
    code, regs, off, imm = INSN.unpack_from(out, 16)
    assert (code, regs >> 4, off) == (BPF_CALL, 1, 0)                    # BPF_PSEUDO_CALL
    assert 2 + 1 + imm == 5                                              # lands on the filter


def test_the_stub_call_becomes_the_filter_in_line():
    program = LD_IMM64_MAP + STUB + MOV_R0_0 + EXIT
    filter_insns = INSN.pack(0xB4, 0, 0, 1) + EXIT
    slots = list(INSN.iter_unpack(splice(program, filter_insns)))
    assert slots[2] == (0x05, 0, 2, 0)                                  # goto 5
    assert slots[5] == (0xB4, 0, 0, 1) and slots[6] == (0x05, 0, 0, 0)  # w0 = 1; goto 7
    assert slots[7] == (0x05, 0, -5, 0) and len(slots) == 8             # back to 3


@pytest.mark.parametrize("calls", [0, 2])
def test_exactly_one_filter_call(calls):
    with pytest.raises(KernelFeatureError, match=f"calls its filter {calls} times"):
        splice(STUB * calls + MOV_R0_0 + EXIT, EXIT)


def test_a_helper_call_is_left_alone():
    helper = INSN.pack(BPF_CALL, 0, 0, 26)                               # bpf_skb_load_bytes
    out = splice(helper + STUB + EXIT, EXIT)
    assert out[:8] == helper


def test_the_in_place_filter_goes_in_line_and_the_copying_one_after_it():
    """The in-place call becomes a jump to the filter, placed after the entry's last
    instruction, whose exit jumps back after the call (capture/kernel/inline.py); a copying
    filter that cannot go in line follows as a subprogram."""
    direct_stub = INSN.pack(BPF_CALL, 0, 0, DIRECT_STUB)
    copying = NOT_IN_LINE + INSN.pack(0xB4, 0, 0, 1) + EXIT
    in_place = INSN.pack(0xB4, 0, 0, 2) + EXIT
    out = splice(direct_stub + STUB + EXIT, {FILTER_STUB: copying, DIRECT_STUB: in_place})
    slots = list(INSN.iter_unpack(out))
    assert slots[0] == (0x05, 0, 2, 0)                                  # goto 3
    assert slots[3] == INSN.unpack(in_place[:8])                        # w0 = 2
    assert slots[4] == (0x05, 0, 0, 0)                                  # its exit: goto 5
    assert slots[5] == (0x05, 0, -5, 0)                                 # back to 1
    code, regs, _off, imm = slots[1]
    assert (code, regs >> 4) == (BPF_CALL, 1) and 1 + 1 + imm == 6      # the copying filter
    assert out[48:] == copying


def test_filters_that_cannot_go_in_line_are_appended_the_in_place_one_last():
    direct_stub = INSN.pack(BPF_CALL, 0, 0, DIRECT_STUB)
    copying = NOT_IN_LINE + INSN.pack(0xB4, 0, 0, 1) + EXIT
    in_place = NOT_IN_LINE + INSN.pack(0xB4, 0, 0, 2) + EXIT
    out = splice(direct_stub + STUB + EXIT, {FILTER_STUB: copying, DIRECT_STUB: in_place})
    assert out[24:48] == copying and out[48:] == in_place
    for index, start in ((0, 6), (1, 3)):
        code, regs, _off, imm = INSN.unpack_from(out, 8 * index)
        assert (code, regs >> 4) == (BPF_CALL, 1) and index + 1 + imm == start


def test_an_in_place_call_without_its_filter_is_refused():
    direct_stub = INSN.pack(BPF_CALL, 0, 0, DIRECT_STUB)
    with pytest.raises(KernelFeatureError, match="no filter for it"):
        splice(direct_stub + STUB + EXIT, EXIT)
