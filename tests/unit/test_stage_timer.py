"""capture/kernel/stage_timer.py: the flush callback appended where bpf/ebcap.c loads its stub,
func_info naming every subprogram, and BTF the kernel's own parser (capture/kernel/btf.py's
reader) walks. The kernel's verdict on all three is tests/integration's: every live capture
loads them."""

import struct

import pytest

from ebcap.capture.kernel import stage_timer
from ebcap.capture.kernel.btf import Btf
from ebcap.capture.kernel.splice import splice

INSN = struct.Struct("<BBhi")
EXIT = INSN.pack(0x95, 0, 0, 0)
MOV_R0 = INSN.pack(0xB7, 0, 0, 0)


def stub_load(dst: int = 2) -> bytes:
    """ld_imm64 rDST = EBCAP_FLUSH_STUB (0x7EBCC << 32), as clang emits it."""
    return INSN.pack(0x18, dst, 0, 0) + INSN.pack(0, 0, 0, stage_timer.FLUSH_STUB)


def test_the_stub_becomes_the_callback_appended_once():
    program = MOV_R0 + stub_load() + MOV_R0 + stub_load(3) + EXIT
    callback = MOV_R0 + EXIT
    out = stage_timer.attach_callback(program, callback)
    assert out[len(program):] == callback
    start = len(program) // 8
    for index, dst in ((1, 2), (4, 3)):
        code, regs, _off, imm = INSN.unpack_from(out, index * 8)
        assert (code, regs & 0xF, regs >> 4) == (0x18, dst, stage_timer.BPF_PSEUDO_FUNC)
        assert index + imm + 1 == start
        assert INSN.unpack_from(out, (index + 1) * 8) == (0, 0, 0, 0)
    assert stage_timer.names_callback(out) and not stage_timer.stub_loads(out)


def test_a_program_without_the_stub_is_left_alone():
    program = MOV_R0 + INSN.pack(0x18, 2, 0, 0) + INSN.pack(0, 0, 0, 5) + EXIT
    assert stage_timer.attach_callback(program, MOV_R0 + EXIT) == program
    assert not stage_timer.names_callback(program)


def test_func_info_names_the_entry_and_every_subprogram():
    """The spliced filters (BPF-to-BPF calls) and the callback (ld_imm64 of a function) each
    start a subprogram; the kernel wants one FUNC per subprogram, in order."""
    program = (MOV_R0 + INSN.pack(0x85, 0, 0, 0x7EBCA) + stub_load() + EXIT)
    # r1 = r10 first: a filter that stays a subprogram (capture/kernel/inline.py)
    spliced = splice(program, INSN.pack(0xBF, 0xA1, 0, 0) + MOV_R0 + EXIT)   # the filter at 5
    out = stage_timer.attach_callback(spliced, MOV_R0 + EXIT)   # the callback at 8
    records = list(struct.iter_unpack("<II", stage_timer.func_info(out)))
    assert records == [(0, stage_timer.ENTRY_FUNC), (5, stage_timer.SUB_FUNC),
                       (8, stage_timer.SUB_FUNC)]


def test_btf_describes_the_timer_map_value():
    btf = Btf(stage_timer.timer_btf(), "stage_timer")
    assert btf.struct_size("bpf_timer") == 16
    assert btf.struct_size("ebcap_stage_timer") == stage_timer.TIMER_VALUE_SIZE
    assert [(m.name, m.offset) for m in btf.members("ebcap_stage_timer")] == \
        [("timer", 0), ("ready", 16), ("pending", 20)]


def test_the_timer_map_value_size_is_checked():
    from ebcap.capture.errors import KernelFeatureError
    from ebcap.capture.kernel.bpfsys import MapSpec
    with pytest.raises(KernelFeatureError):
        stage_timer.create_timer_map(MapSpec("stage_timers", 2, 4, 32, 1024, 0, 0), -1)
