"""The loader's pure part: map references in the compiled instructions moved to the maps ebcap
made (capture/kernel/loader.py)."""

from __future__ import annotations

import struct

import pytest

from ebcap.capture.kernel import loader
from ebcap.capture.errors import KernelFeatureError


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, src << 4 | dst, off, imm)


def ld_map(dst: int, fd: int, src: int = 1) -> bytes:
    """ld_imm64 dst, map fd: two slots, the second with code 0."""
    return insn(0x18, dst, src, imm=fd) + insn(0)


def imms(code: bytes) -> list[tuple[int, int, int]]:
    return [(c, r >> 4, imm) for c, r, _off, imm in struct.iter_unpack("<BBhi", code)]


def test_map_references_move_to_the_new_fds():
    code = (ld_map(1, 7) + insn(0xb7, 2, imm=7) + ld_map(3, -1, src=0) + ld_map(4, 8)
            + insn(0x95))
    out = loader.relocate(code, {7: 30, 8: 31})
    assert imms(out) == [(0x18, 1, 30), (0, 0, 0), (0xb7, 0, 7), (0x18, 0, -1), (0, 0, 0),
                         (0x18, 1, 31), (0, 0, 0), (0x95, 0, 0)]
    assert len(out) == len(code)


def test_fds_are_swapped_in_one_pass():
    """Child fd 7 -> 8 and 8 -> 7 must not chain into 7 -> 8 -> 7."""
    out = loader.relocate(ld_map(1, 7) + ld_map(2, 8), {7: 8, 8: 7})
    assert [imm for code, _src, imm in imms(out) if code == 0x18] == [8, 7]


@pytest.mark.parametrize("src", [2, 3, 4, 5, 6])
def test_other_relocations_are_refused(src):
    """BPF_PSEUDO_MAP_VALUE (global data), BTF ids, map indexes: this loader cannot fill
    them in, and a program loaded half-relocated would be wrong."""
    with pytest.raises(KernelFeatureError, match=f"relocation .* src_reg {src}"):
        loader.relocate(ld_map(1, 7, src=src), {7: 30})


def test_unknown_map_fd_is_refused():
    with pytest.raises(KernelFeatureError, match="map fd 9, which is not one of its maps"):
        loader.relocate(ld_map(1, 9), {7: 30})
