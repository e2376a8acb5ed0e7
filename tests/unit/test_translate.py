"""The classic-BPF translator's output, instruction by instruction, and its refusals. What the
programs do is checked in the kernel against libpcap's interpreter
(tests/integration/test_translate_kernel.py) and on the filter corpus against tcpdump."""

import struct

import pytest

from ebcap.capture.errors import TranslateError
from ebcap.capture.filter.libpcap import Insn, compile_filter
from ebcap.capture.filter.translate import MAX_BACKWARD_JUMPS, PEEK_BYTES, translate
from ebcap.capture.kernel.disasm import listing

RET_A, RET_K = 0x16, 0x06


def text(insns, offline=False) -> str:
    return listing(translate([Insn(*i) for i in insns], offline=offline))


def jumps_land_inside(program: bytes) -> bool:
    count = len(program) // 8
    for index, (code, _regs, off, _imm) in enumerate(struct.iter_unpack("<BBhi", program)):
        if code & 0x07 in (5, 6) and code & 0xF0 not in (0x80, 0x90):
            if not 0 <= index + 1 + off < count:
                return False
    return True


@pytest.mark.parametrize("insn, expected", [
    ((0x20, 0, 0, 12), ["r8 = *(u32 *)(r7 +12)", "w8 = be32 w8"]),        # ld [12]: the peek
    ((0x28, 0, 0, 12), ["if r1 < 14 goto", "r8 = *(u16 *)(r7 +12)", "w8 = be16 w8"]),
    ((0x30, 0, 0, 23), ["r8 = *(u8 *)(r7 +23)"]),                        # ldb [23]
    ((0x28, 0, 0, 126), ["r8 = *(u16 *)(r7 +126)"]),                     # last in the peek
    ((0x28, 0, 0, 127), ["w2 = 127", "call 26", "r8 = *(u16 *)(r10 -32)"]),  # past it: skb
    ((0x48, 0, 0, 14), ["w2 = w9", "w2 += 14", f"if r2 > {PEEK_BYTES - 2} goto", "call 26"]),
    ((0x00, 0, 0, 7), ["w8 = 7"]),
    ((0x80, 0, 0, 0), ["r8 = *(u32 *)(r6 +0)", "w8 += 4"]),                # len (+ a tag)
    ((0x60, 0, 0, 3), ["*(u32 *)(r10 -56) = 0", "r8 = *(u32 *)(r10 -56)"]),  # M[3], zeroed
    ((0x01, 0, 0, 40), ["w9 = 40"]),
    ((0xB1, 0, 0, 14), ["r9 = *(u8 *)(r7 +14)", "w9 &= 15", "w9 <<= 2"]),
    ((0x02, 0, 0, 5), ["*(u32 *)(r10 -64) = r8"]),
    ((0x03, 0, 0, 6), ["*(u32 *)(r10 -68) = r9"]),
    ((0x04, 0, 0, 1), ["w8 += 1"]),
    ((0x34, 0, 0, 4), ["w8 /= 4"]),
    ((0x3C, 0, 0, 0), ["if r9 == 0 goto", "w8 /= w9"]),
    ((0x9C, 0, 0, 0), ["if r9 == 0 goto", "w8 %= w9"]),
    ((0x64, 0, 0, 2), ["w8 <<= 2"]),
    ((0x64, 0, 0, 40), ["w8 = 0"]),                                     # shift by 32+: 0
    ((0x6C, 0, 0, 0), ["if r9 >= 32 goto", "w1 <<= w9"]),
    ((0x84, 0, 0, 0), ["w8 = -w8"]),
    ((0x07, 0, 0, 0), ["w9 = w8"]),
    ((0x87, 0, 0, 0), ["w8 = w9"]),
    ((0x20, 0, 0, 0xFFFFF000), ["r8 = *(u32 *)(r6 +16)", "w8 = be16 w8"]),  # SKF_AD_PROTOCOL
    ((0x20, 0, 0, 0xFFFFF004), ["w8 = 4", "r8 = *(u32 *)(r6 +4)"]),       # SKF_AD_PKTTYPE
    ((0x20, 0, 0, 0xFFFFF02C), ["r8 = *(u32 *)(r6 +24)"]),               # SKF_AD_VLAN_TAG
    ((0x20, 0, 0, 0xFFFFF030), ["r1 = *(u64 *)(r10 -24)", "w8 = 1"]),     # ..._TAG_PRESENT
    ((0x20, 0, 0, 0xFFFFF038), ["call 7"]),                             # SKF_AD_RANDOM
])
def test_instruction(insn, expected):
    out = text([insn, (RET_A, 0, 0, 0)])
    for line in expected:
        assert line in out, f"{line!r} not in\n{out}"


def test_offline_length_is_the_files():
    assert "r8 = *(u32 *)(r6 +160)" in text([(0x80, 0, 0, 0), (RET_A, 0, 0, 0)], offline=True)


@pytest.mark.parametrize("code, condition", [(0x15, "if w8 == 6"), (0x25, "if w8 > 6"),
                                             (0x35, "if w8 >= 6"), (0x45, "if w8 & 6"),
                                             (0x1D, "if w8 == w9")])
def test_conditional_jumps_compare_32_bits(code, condition):
    program = translate([Insn(code, 0, 1, 6), Insn(RET_K, 0, 0, 1), Insn(RET_K, 0, 0, 0)])
    assert condition in listing(program) and jumps_land_inside(program)


def test_a_large_constant_is_compared_as_32_bits():
    program = listing(translate([Insn(0x15, 0, 1, 0xFFFFFFFF), Insn(RET_K, 0, 0, 1),
                                 Insn(RET_K, 0, 0, 0)]))
    assert "if w8 == -1 goto" in program                # JMP32: the low word only


def test_backward_jump_is_bounded():
    out = text([(0x00, 0, 0, 1), (0x04, 0, 0, 1), (0x05, 0, 0, 0xFFFFFFFE), (RET_A, 0, 0, 0)])
    assert "*(u64 *)(r10 -40) = 0" in out                 # the counter, zeroed
    assert f"if r1 > {MAX_BACKWARD_JUMPS} goto" in out


def test_unreachable_instructions_are_left_out():
    """The verifier refuses code nothing reaches; libpcap's `ret` at the end of a program can
    make the failure exit unused too."""
    out = text([(RET_K, 0, 0, 262144), (RET_K, 0, 0, 0)])
    assert out.splitlines()[-2:] == ["    7: w0 = 1", "    8: exit"]


@pytest.mark.parametrize("insns, message", [
    ([(0x34, 0, 0, 0), (RET_A, 0, 0, 0)], "divides by the constant 0"),
    ([(0x60, 0, 0, 16), (RET_A, 0, 0, 0)], "scratch word 16"),
    ([(0x05, 0, 0, 5), (RET_A, 0, 0, 0)], "jumps outside the program"),
    ([(0x20, 0, 0, 0xFFFFF01C), (RET_A, 0, 0, 0)], "SKF_AD_HATYPE"),
    ([(0x20, 0, 0, 0xFFF00000), (RET_A, 0, 0, 0)], "negative packet offset"),
    ([(0xFF, 0, 0, 0)], "not supported"),
    ([], "empty"),
])
def test_refusals_are_clear(insns, message):
    with pytest.raises(TranslateError, match=message):
        translate([Insn(*i) for i in insns])


@pytest.mark.parametrize("expression", [
    "host 10.1.2.3 and port 80 or ether host 0:1:2:3:4:5", "ip6 protochain 17",
    "vlan 10 and udp", "tcp[tcpflags] & tcp-syn != 0", "inbound", "len > 100",
    " or ".join(f"host 10.0.{i}.1" for i in range(200)),
])
def test_real_filters_give_whole_programs(expression):
    program = translate(compile_filter(expression, 1))
    assert len(program) % 8 == 0 and jumps_land_inside(program)
    assert listing(program).splitlines()[-1].endswith("exit")


def test_sizes_both_sides_depend_on_are_given_to_the_kernel_side_by_python():
    """The peek (the translated filter relies on it) and the headers-only length (the offline
    runner and the IDBs do) are defined in Python only and reach the C as -D flags; the filter
    call's stub id is the C's."""
    import re
    from ebcap.bpf import SOURCE_DIR
    from ebcap.capture.config import HEADERS_MAX
    from ebcap.capture.kernel.source import ProgramSpec
    from ebcap.capture.kernel.splice import FILTER_STUB
    flags = ProgramSpec().cflags()
    assert f"-DEBCAP_PEEK={PEEK_BYTES}" in flags
    assert f"-DEBCAP_HEADERS_MAX={HEADERS_MAX}" in flags
    for path in SOURCE_DIR.iterdir():
        if path.suffix in (".c", ".h"):
            assert not re.search(r"#define\s+EBCAP_(PEEK|HEADERS_MAX)\b", path.read_text()), path
    api = (SOURCE_DIR / "filter_api.h").read_text()
    assert re.search(rf"#define EBCAP_FILTER_STUB {FILTER_STUB:#x}\b", api, re.IGNORECASE)


def direct(insns, context="tc-direct") -> str:
    return listing(translate([Insn(*i) for i in insns], context=context))


@pytest.mark.parametrize("insn, expected", [
    # ld [12]: the prologue bounds data by data_end once, then a plain load
    ((0x20, 0, 0, 12), ["r1 = r7", "r1 += 16", "if r1 > r3 goto", "r8 = *(u32 *)(r7 +12)",
                        "w8 = be32 w8"]),
    ((0x28, 0, 0, 1000), ["r1 += 1002", "r8 = *(u16 *)(r7 +1000)"]),   # no peek limit
    ((0x48, 0, 0, 14), ["w2 = w9", "w2 += 14", "r3 += r2", "r4 += 2", "if r4 > r1 goto",
                        "r8 = *(u16 *)(r3 +0)"]),
])
def test_direct_loads_read_in_place(insn, expected):
    out = direct([insn, (RET_A, 0, 0, 0)])
    for line in expected:
        assert line in out, f"{line!r} not in\n{out}"
    assert "call 26" not in out and "w0 = 2" in out


def test_direct_length_has_no_tag_to_add():
    out = direct([(0x80, 0, 0, 0), (RET_A, 0, 0, 0)])
    assert "r8 = *(u32 *)(r6 +0)" in out and "w8 += 4" not in out


def test_direct_gives_up_undecided_only_where_a_load_is_outside():
    """A load out of reach of the verifier's packet offsets is undecided at once; a filter
    without loads can always decide."""
    assert "w0 = 2" in direct([(0x30, 0, 0, 0x8000), (RET_K, 0, 0, 1)])
    assert "w0 = 2" not in direct([(0x80, 0, 0, 0), (RET_A, 0, 0, 0)])


def test_direct_offline_length_is_the_files():
    assert "r8 = *(u32 *)(r6 +160)" in direct([(0x80, 0, 0, 0), (RET_A, 0, 0, 0)],
                                              "offline-direct")
