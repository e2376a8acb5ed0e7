"""The flush timer of bpf/ebcap.c's per-CPU staging buffer: what BCC's output lacks for it.

A bpf_timer needs two things the compiled program does not bring (bpf/ebcap.c's stage_block):
- its map (`stage_timers`) created with BTF that describes the value, a `struct bpf_timer` at
  its start (the kernel finds the timer there);
- a callback that is a subprogram of the program calling bpf_timer_set_callback(), named by an
  ld_imm64 with src_reg BPF_PSEUDO_FUNC. BCC compiles each function on its own, so ebcap.c passes
  a 64-bit stub constant, and here that ld_imm64 is pointed at ebcap_flush's instructions,
  appended after the program's last one (as capture/kernel/splice.py appends the filters). A
  program that names a callback must be loaded with BTF func_info: one FUNC per subprogram
  (the filters' too), which the BTF below also holds.

The BTF is the smallest that serves both: 1 int, 2 u32, 3 u64, 4 u64[2], 5 struct bpf_timer,
6 struct ebcap_stage_timer (the map's value), 7 void *, 8 int (void *), 9 a global FUNC (each
program's entry), 10 a static FUNC (every subprogram: the verifier checks a static
subprogram's arguments against its BTF only to trust it more, not to refuse it)."""

from __future__ import annotations

import os
import struct

from ebcap.capture.errors import KernelFeatureError
from ebcap.capture.kernel import bpfsys
from ebcap.capture.kernel.splice import BPF_CALL, BPF_PSEUDO_CALL, INSN, LD_IMM64

TIMER_MAP = "stage_timers"          # bpf/ebcap.c's map of struct ebcap_stage_timer
CALLBACK = "ebcap_flush"            # ... and its timer callback
FLUSH_STUB = 0x7EBCC                # EBCAP_FLUSH_STUB's high word (bpf/ebcap.c)
TIMER_VALUE_SIZE = 24               # struct bpf_timer (16), ready, pending
MAP_KEY_TYPE, MAP_VALUE_TYPE = 2, 6
ENTRY_FUNC, SUB_FUNC = 9, 10

BPF_PSEUDO_FUNC = 4                 # src_reg of an ld_imm64 that names a subprogram

_KIND_INT, _KIND_PTR, _KIND_ARRAY, _KIND_STRUCT = 1, 2, 3, 4
_KIND_FUNC, _KIND_FUNC_PROTO = 12, 13
_LINKAGE_STATIC, _LINKAGE_GLOBAL = 0, 1


def timer_btf() -> bytes:
    """Raw BTF with the types above (Documentation/bpf/btf.rst)."""
    names = ["int", "u32", "u64", "bpf_timer", "__opaque", "ebcap_stage_timer", "timer",
             "ready", "pending", "ctx", "ebcap_entry", "ebcap_subprogram"]
    strings = b"\0" + b"".join(name.encode() + b"\0" for name in names)

    def name(text: str) -> int:
        return strings.index(b"\0" + text.encode() + b"\0") + 1

    def member(text: str, type_id: int, bit_offset: int) -> bytes:
        return struct.pack("<III", name(text), type_id, bit_offset)

    types = b"".join([
        struct.pack("<IIII", name("int"), _KIND_INT << 24, 4, (1 << 24) | 32),      # 1, signed
        struct.pack("<IIII", name("u32"), _KIND_INT << 24, 4, 32),                  # 2
        struct.pack("<IIII", name("u64"), _KIND_INT << 24, 8, 64),                  # 3
        struct.pack("<IIIIII", 0, _KIND_ARRAY << 24, 0, 3, 1, 2),                   # 4
        struct.pack("<III", name("bpf_timer"), _KIND_STRUCT << 24 | 1, 16)          # 5
        + member("__opaque", 4, 0),
        struct.pack("<III", name("ebcap_stage_timer"), _KIND_STRUCT << 24 | 3,      # 6
                    TIMER_VALUE_SIZE)
        + member("timer", 5, 0) + member("ready", 2, 128) + member("pending", 2, 160),
        struct.pack("<III", 0, _KIND_PTR << 24, 0),                                 # 7
        struct.pack("<III", 0, _KIND_FUNC_PROTO << 24 | 1, 1)                       # 8
        + struct.pack("<II", name("ctx"), 7),
        struct.pack("<III", name("ebcap_entry"), _KIND_FUNC << 24 | _LINKAGE_GLOBAL, 8),
        struct.pack("<III", name("ebcap_subprogram"), _KIND_FUNC << 24 | _LINKAGE_STATIC, 8),
    ])
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    return header + types + strings


def create_timer_map(spec: bpfsys.MapSpec, btf_fd: int) -> int:
    """`stage_timers` with the BTF that tells the kernel where its value's timer is."""
    if spec.value_size != TIMER_VALUE_SIZE:
        raise KernelFeatureError(f"bpf/ebcap.c's {TIMER_MAP} holds {spec.value_size}-byte "
                                 f"values, {TIMER_VALUE_SIZE} expected")
    return bpfsys.map_create(spec, (btf_fd, MAP_KEY_TYPE, MAP_VALUE_TYPE))


def stub_loads(program: bytes) -> list[int]:
    """Indexes of the ld_imm64 instructions that load EBCAP_FLUSH_STUB."""
    slots = list(INSN.iter_unpack(program))
    return [index for index, (code, regs, _off, imm) in enumerate(slots[:-1])
            if code == LD_IMM64 and regs >> 4 == 0 and imm == 0
            and slots[index + 1][3] == FLUSH_STUB]


def attach_callback(program: bytes, callback: bytes) -> bytes:
    """`program` with each load of the flush stub pointing at `callback`, appended once."""
    loads = stub_loads(program)
    if not loads:
        return program
    out = bytearray(program)
    start = len(program) // INSN.size
    for index in loads:
        code, regs, off, _imm = INSN.unpack_from(out, index * INSN.size)
        INSN.pack_into(out, index * INSN.size, code, (regs & 0x0F) | BPF_PSEUDO_FUNC << 4, off,
                       start - (index + 1))
        INSN.pack_into(out, (index + 1) * INSN.size, 0, 0, 0, 0)
    return bytes(out) + callback


def names_callback(program: bytes) -> bool:
    """Whether `program` loads a callback's address (then it needs func_info to load)."""
    return any(code == LD_IMM64 and regs >> 4 == BPF_PSEUDO_FUNC
               for code, regs, _off, _imm in INSN.iter_unpack(program))


def func_info(program: bytes) -> bytes:
    """BTF func_info for `program`: its entry, then each subprogram (the target of a call to a
    subprogram or of a callback's ld_imm64), in instruction order."""
    starts = set()
    for index, (code, regs, _off, imm) in enumerate(INSN.iter_unpack(program)):
        if (code == BPF_CALL and regs >> 4 == BPF_PSEUDO_CALL
                or code == LD_IMM64 and regs >> 4 == BPF_PSEUDO_FUNC):
            starts.add(index + imm + 1)
    starts.discard(0)
    return struct.pack("<II", 0, ENTRY_FUNC) + b"".join(
        struct.pack("<II", start, SUB_FUNC) for start in sorted(starts))


class TimerBtf:
    """The BTF loaded once per loaded program (its maps and programs refer to it)."""

    def __init__(self):
        self.fd = -1

    def get(self) -> int:
        if self.fd < 0:
            self.fd = bpfsys.btf_load(timer_btf())
        return self.fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
