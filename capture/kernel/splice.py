"""The filter goes into the compiled program as instructions, not C: bpf/ebcap.c calls
ebcap_filter() through a helper id that does not exist (EBCAP_FILTER_STUB, bpf/filter_api.h),
and here that call becomes a BPF-to-BPF call to the translated filter (capture/filter/
translate.py), appended after the program's last instruction. Nothing before it moves, so no
other jump needs fixing. The same compiled program serves every filter, so a new filter costs
a translation and the verifier, not BCC's ~1 s of LLVM (the way pwru injects its filters).
The TC programs call a second stub too (DIRECT_STUB: the same filter reading the packet in
place, capture/filter/contexts.py's tc-direct), spliced the same way after the first.

The calling convention is the one of helpers and subprograms alike: arguments in r1-r5, the
result in r0; r6-r9 are the caller's (the verifier and the JITs keep them for it). Each filter
goes in line where it is called instead, when capture/kernel/inline.py can do that safely (it
then keeps the caller's registers and frame itself): a call cost a refused packet ~14 ns."""

from __future__ import annotations

import struct

from ebcap.capture.errors import KernelFeatureError
from ebcap.capture.kernel.inline import CALLEE_ROOM, inline_calls

FILTER_STUB = 0x7EBCA               # bpf/filter_api.h's EBCAP_FILTER_STUB
DIRECT_STUB = 0x7EBCB               # ... and EBCAP_FILTER_DIRECT_STUB (the in-place filter)
BPF_CALL = 0x85                     # BPF_JMP | BPF_CALL
BPF_PSEUDO_CALL = 1                 # src_reg of a call to a subprogram
LD_IMM64 = 0x18                     # BPF_LD | BPF_IMM | BPF_DW: a 64-bit constant over two slots
INSN = struct.Struct("<BBhi")


def stub_calls(program: bytes, stub: int = FILTER_STUB) -> list[int]:
    """Indexes of the calls to `stub` in `program` (the second slot of an ld_imm64 has code 0,
    so scanning every slot is safe). By bytes.find of the whole instruction, at slot starts:
    a loop over the slots in Python cost a start ~1.4 ms (five scans of two programs)."""
    call = INSN.pack(BPF_CALL, 0, 0, stub)
    found = []
    at = program.find(call)
    while at >= 0:
        if at % INSN.size == 0:
            found.append(at // INSN.size)
        at = program.find(call, at + 1)
    return found


def splice(program: bytes, filters: bytes | dict[int, bytes]) -> bytes:
    """`program` with its filter call pointed at `filters` (the filter's instructions, or
    {stub: instructions} for programs with more than one filter: bpf/ebcap.c calls the
    in-place one too), each appended to it. The copying filter is called exactly once; a stub
    the program does not call is left out, one it calls that `filters` lacks is refused."""
    if isinstance(filters, bytes):
        filters = {FILTER_STUB: filters}
    calls = stub_calls(program)
    if len(calls) != 1:
        raise KernelFeatureError(f"the compiled BPF program calls its filter {len(calls)} "
                                 "times (bpf/ebcap.c must call ebcap_filter() once)")
    # in line where they are called, where they can be (capture/kernel/inline.py); what
    # cannot be is appended as a subprogram, as below, and then the frames in line leave it room
    sites = {}
    for stub in (DIRECT_STUB, FILTER_STUB):
        found = stub_calls(program, stub)
        if len(found) == 1 and stub in filters:
            sites[found[0]] = stub
    if sites:
        calls = {index: filters[stub] for index, stub in sites.items()}
        inlined, done = inline_calls(program, calls)
        if len(done) < len(sites):
            inlined, done = inline_calls(program, calls, CALLEE_ROOM)
        program = inlined
        filters = {stub: insns for stub, insns in filters.items()
                   if stub not in {sites[index] for index in done}}
    out = bytearray(program)
    tail = b""
    for stub in (FILTER_STUB, DIRECT_STUB):
        calls = stub_calls(program, stub)
        if not calls:
            continue
        if len(calls) > 1 or stub not in filters:
            raise KernelFeatureError(f"the compiled BPF program calls filter stub 0x{stub:x} "
                                     f"{len(calls)} times, and ebcap has "
                                     f"{'a' if stub in filters else 'no'} filter for it")
        (index,) = calls
        start = (len(program) + len(tail)) // INSN.size
        INSN.pack_into(out, index * INSN.size, BPF_CALL, BPF_PSEUDO_CALL << 4, 0,
                       start - (index + 1))
        tail += filters[stub]
    return bytes(out) + tail
