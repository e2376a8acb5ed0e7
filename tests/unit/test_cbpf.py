"""The classic-BPF translator: every instruction class, and its refusals."""

import pytest

from ebcap.capture.filter.translate import MAX_BACKWARD_JUMPS, translate
from ebcap.capture.errors import TranslateError
from ebcap.capture.filter.libpcap import Insn, compile_filter

RET_A, RET_K = 0x16, 0x06


def body(insns):
    return translate([Insn(*i) for i in insns])


@pytest.mark.parametrize("insn, c", [
    ((0x20, 0, 0, 12), "ebcap_peek_u32(&view, 0xcU, &A)"),               # ld [12]
    ((0x28, 0, 0, 12), "ebcap_peek_u16(&view, 0xcU, &A)"),               # ldh [12]
    ((0x30, 0, 0, 23), "ebcap_peek_u8(&view, 0x17U, &A)"),               # ldb [23]
    ((0x28, 0, 0, 126), "ebcap_peek_u16(&view, 0x7eU, &A)"),             # ldh [126]: last in peek
    ((0x28, 0, 0, 127), "ebcap_skb_u16(skb, &view, 0x7fU, &A)"),         # ldh [127]: past it
    ((0x20, 0, 0, 1000), "ebcap_skb_u32(skb, &view, 0x3e8U, &A)"),       # ld [1000]
    ((0x48, 0, 0, 14), "ebcap_load_u16(skb, &view, X + 0xeU, &A)"),      # ldh [x + 14]
    ((0x00, 0, 0, 7), "A = 0x7U;"),                               # ld #7
    ((0x80, 0, 0, 0), "A = ebcap_packet_len(skb, &view);"),              # ld len
    ((0x60, 0, 0, 3), "A = M[3];"),                               # ld M[3]
    ((0x01, 0, 0, 40), "X = 0x28U;"),                             # ldx #40
    ((0x61, 0, 0, 2), "X = M[2];"),                               # ldx M[2]
    ((0x81, 0, 0, 0), "X = ebcap_packet_len(skb, &view);"),              # ldx len
    ((0xB1, 0, 0, 14), "X = (X & 0xf) << 2;"),                    # ldxb 4*([14]&0xf)
    ((0xB1, 0, 0, 14), "ebcap_peek_u8(&view, 0xeU, &X)"),
    ((0x02, 0, 0, 5), "M[5] = A;"),                               # st M[5]
    ((0x03, 0, 0, 6), "M[6] = X;"),                               # stx M[6]
    ((0x04, 0, 0, 1), "A += 0x1U;"),
    ((0x14, 0, 0, 1), "A -= 0x1U;"),
    ((0x24, 0, 0, 8), "A *= 0x8U;"),
    ((0x34, 0, 0, 4), "A /= 0x4U;"),
    ((0x3C, 0, 0, 0), "if (X == 0) return 0; A /= X;"),
    ((0x94, 0, 0, 3), "A %= 0x3U;"),
    ((0x9C, 0, 0, 0), "if (X == 0) return 0; A %= X;"),
    ((0x54, 0, 0, 0xF0), "A &= 0xf0U;"),
    ((0x44, 0, 0, 1), "A |= 0x1U;"),
    ((0xA4, 0, 0, 1), "A ^= 0x1U;"),
    ((0x64, 0, 0, 2), "A <<= 0x2U;"),
    ((0x74, 0, 0, 2), "A >>= 0x2U;"),
    ((0x6C, 0, 0, 0), "A = X < 32 ? A << X : 0;"),
    ((0x84, 0, 0, 0), "A = -A;"),
    ((0x07, 0, 0, 0), "X = A;"),                                  # tax
    ((0x87, 0, 0, 0), "A = X;"),                                  # txa
    ((0x20, 0, 0, 0xFFFFF000), "A = bpf_ntohs(skb->protocol);"),  # ld #proto (SKF_AD_PROTOCOL)
    ((0x20, 0, 0, 0xFFFFF02C), "A = skb->vlan_tci;"),             # SKF_AD_VLAN_TAG
    ((0x20, 0, 0, 0xFFFFF030), "A = (view.tagged ? 1 : 0);"),
])
def test_instruction(insn, c):
    assert c in body([insn, (RET_A, 0, 0, 0)])


def test_sizes_both_sides_depend_on_are_given_to_the_kernel_side_by_python():
    """The peek (the translated filter relies on it) and the headers-only length (the offline
    runner and the IDBs do) are defined in Python only and reach the C as -D flags."""
    import re
    from ebcap.bpf import SOURCE_DIR
    from ebcap.capture.filter.translate import PEEK_BYTES
    from ebcap.capture.config import HEADERS_MAX
    from ebcap.capture.kernel.source import ProgramSpec
    flags = ProgramSpec().cflags()
    assert f"-DEBCAP_PEEK={PEEK_BYTES}" in flags
    assert f"-DEBCAP_HEADERS_MAX={HEADERS_MAX}" in flags
    for path in SOURCE_DIR.iterdir():
        if path.suffix in (".c", ".h"):
            assert not re.search(r"#define\s+EBCAP_(PEEK|HEADERS_MAX)\b", path.read_text()), path


def test_a_looping_filter_loads_indirectly_from_the_skb_only():
    ldh_x, ja_back = (0x48, 0, 0, 14), (0x05, 0, 0, 0xFFFFFFFE)
    loops = body([(0x28, 0, 0, 12), ldh_x, (0x15, 0, 1, 6), ja_back, (RET_A, 0, 0, 0)])
    assert "ebcap_skb_u16(skb, &view, X + 0xeU, &A)" in loops
    assert "ebcap_peek_u16(&view, 0xcU, &A)" in loops              # constant loads: the peek
    straight = body([(0x28, 0, 0, 12), ldh_x, (RET_A, 0, 0, 0)])
    assert "ebcap_load_u16(skb, &view, X + 0xeU, &A)" in straight


@pytest.mark.parametrize("code, cond", [(0x15, "A == 0x6U"), (0x25, "A > 0x6U"),
                                        (0x35, "A >= 0x6U"), (0x45, "A & 0x6U"),
                                        (0x1D, "A == X")])
def test_conditional_jumps(code, cond):
    text = body([(code, 0, 1, 6), (RET_K, 0, 0, 1), (RET_K, 0, 0, 0)])
    assert f"if ({cond}) goto L1; else goto L2;" in text
    assert "L1: \treturn 0x1U != 0;" in text and "L2: \treturn 0x0U != 0;" in text


def test_backward_jump_is_bounded():
    text = body([(0x00, 0, 0, 1), (0x04, 0, 0, 1), (0x05, 0, 0, 0xFFFFFFFE), (RET_A, 0, 0, 0)])
    assert "__u32 loops = 0;" in text
    assert f"if (++loops > {MAX_BACKWARD_JUMPS}) return 0; goto L1;" in text


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
        body(insns)


def test_user_text_never_reaches_c():
    text = translate(compile_filter('host 10.1.2.3 and port 80 or ether host 0:1:2:3:4:5', 1))
    assert "10.1.2.3" not in text and "host" not in text
    assert text.startswith("/* Generated by ebcap")


def test_protochain_translates_with_a_loop_bound():
    text = translate(compile_filter("ip6 protochain 17", 1))
    assert "++loops" in text
