"""Classic BPF (from libpcap) translated into eBPF instructions: the filter subprogram that
capture/kernel/splice.py appends to the prebuilt kernel program, so that a new filter costs a
translation and the verifier, never a compiler.

The subprogram is called as `r0 = filter(skb, peek, peek_len, direction, tag)` (bpf/ebcap.c's
EBCAP_FILTER_STUB) and returns non-zero for a match:
  skb        the __sk_buff (the program's context), for loads past the peek and metadata; in
             the "tracepoint" context (bpf/drops.c: a raw tracepoint has no __sk_buff) a
             struct ebcap_drop_meta (bpf/drop_record.h) in its place, see TRACEPOINT below
  peek       the first peek_len bytes of the packet as libpcap sees it (a per-CPU map value)
  peek_len   min(packet length, PEEK_BYTES)
  direction  bpf/record.h's EBCAP_DIR_IN or EBCAP_DIR_OUT, for `inbound`/`outbound`
  tag        TPID << 16 | TCI of a VLAN tag the kernel holds in skb metadata, 0 for none: the
             tag is back at offset 12 of the packet libpcap sees, so past byte 15 the skb's
             offsets are 4 lower

Semantics follow the kernel's cBPF (and libpcap's interpreter): A and X are 32-bit, a load
outside the packet or a division or modulo by X = 0 ends the filter with 0 (no match). X + k
of an indirect load wraps at 32 bits, as in the kernel (libpcap's interpreter gives up there
instead; no filter libpcap compiles gets near it). Only
numbers from the instructions reach the program, never the user's expression. A filter that
jumps backwards (libpcap's protochain walks IPv6 extension headers so) gives up, no match,
after MAX_BACKWARD_JUMPS jumps back, which keeps the loop provably bounded.

The direct contexts (tc-direct, offline-direct) make a second filter, called first, as
`r0 = filter(skb, data, data_end, direction, 0)` with skb->data and skb->data_end: it reads
the packet in place, each load checked against data_end as the verifier wants, and returns
UNDECIDED where a load falls past the linear part (the bytes may be in page fragments, or past
the packet's end: only the copying filter can tell). Everything else it computes exactly as
the copying filter, so a decided answer is the same answer.
"""

from __future__ import annotations

from ebcap.capture.errors import TranslateError
from ebcap.capture.filter.assembler import (  # noqa: F401 (the eBPF names, for callers too)
    ADD, AND, CALL, EBPF_ALU, EBPF_ALU64, EBPF_DW, EBPF_JMP, EBPF_JMP32, EBPF_LDX, EBPF_MEM,
    EBPF_ST, EBPF_STX, END, EXIT, FUNC_GET_PRANDOM_U32, FUNC_GET_SMP_PROCESSOR_ID,
    FUNC_PROBE_READ_KERNEL, FUNC_SKB_LOAD_BYTES, INSN, JA, JEQ, JGE, JGT, JLT, JNE, JSET, LSH,
    MOV, NEG, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, TO_BE, XOR, Jump, Program,
    signed32)
# The contexts the filter runs in (__sk_buff field and struct ebcap_drop_meta offsets)
from ebcap.capture.filter.contexts import (  # noqa: F401
    CONTEXTS, META_FRAME, META_HASH, META_IFINDEX, META_LEN, META_LINEAR, META_MARK,
    META_PROTOCOL, OFFLINE, SKB_HASH, SKB_IFINDEX, SKB_LEN, SKB_MARK, SKB_PKT_TYPE,
    SKB_PROTOCOL, SKB_QUEUE_MAPPING, SKB_VLAN_PROTO, SKB_VLAN_TCI, SKB_WIRE_LEN, SKF_PROTOCOL,
    SKF_VLAN_TPID, TC, TRACEPOINT, Context)
from ebcap.capture.filter.libpcap import Insn

# classic BPF (linux/filter.h, pcap/bpf.h)
BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_RET, BPF_MISC = range(8)
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
BPF_IMM, BPF_ABS, BPF_IND, BPF_MEM, BPF_LEN, BPF_MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
BPF_K, BPF_X = 0x00, 0x08
BPF_A = 0x10                                 # RET source
BPF_TAX, BPF_TXA = 0x00, 0x80
BPF_MEMWORDS = 16
SKF_AD_OFF = -0x1000                         # Linux ancillary-data loads

SKB, PEEK, A, X = R6, R7, R8, R9             # registers the filter keeps its state in

# The first bytes of the packet, which the kernel program copies once before the filter runs
# (bpf/filter_api.h's EBCAP_PEEK, which capture/kernel/source.py gives the compiler). A load
# inside it reads only the peek: the peek holds min(packet length, PEEK_BYTES) bytes, so bytes
# it lacks below PEEK_BYTES are past the packet's end, where cBPF fails too.
PEEK_BYTES = 128
VLAN_LEN = 4
DIR_OUT = 2                                  # bpf/record.h EBCAP_DIR_OUT
PACKET_OUTGOING = 4                          # what an AF_PACKET tap sees at egress
MAX_BACKWARD_JUMPS = 8
UNDECIDED = 2                                # a direct filter's "ask the copying one"
DIRECT_MAX_OFF = 0x7FFF                      # in place below this (the verifier's offsets)

# The filter's stack frame (offsets below r10); a direct filter keeps data_end in FP_PEEK_LEN
FP_PEEK_LEN, FP_DIRECTION, FP_TAG, FP_BUFFER, FP_LOOPS = -8, -16, -24, -32, -40
FP_MEM = -44                                 # M[i] at FP_MEM - 4 * i

_SIZES = {BPF_W: (4, 0x00), BPF_H: (2, 0x08), BPF_B: (1, 0x10)}   # bytes, eBPF size bits
_ALU_OPS = {0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or", 0x50: "and",
            0x60: "lsh", 0x70: "rsh", 0x90: "mod", 0xA0: "xor"}
_JUMPS = {0x10: JEQ, 0x20: JGT, 0x30: JGE, 0x40: JSET}
_ANCILLARY_NAMES = {12: "SKF_AD_NLATTR", 16: "SKF_AD_NLATTR_NEST", 28: "SKF_AD_HATYPE",
                    52: "SKF_AD_PAY_OFFSET"}


class _Translator:
    def __init__(self, insns: list[Insn], context: Context):
        if not insns:
            raise TranslateError("empty BPF program")
        self.insns = insns
        self.context = context
        self.p = Program()
        self.uses_loops = False
        self.words = set()
        self.reach = 0                      # direct: the prologue's bound (fixed_reach)

    def target(self, pc: int, offset: int) -> int:
        dest = (pc + 1 + offset) & 0xFFFFFFFF
        if dest >= len(self.insns):
            raise TranslateError(f"BPF instruction {pc} jumps outside the program")
        if dest <= pc:
            self.uses_loops = True
        return dest

    def goto(self, pc: int, dest: int) -> None:
        p = self.p
        if dest <= pc:          # a jump back: counted, and the filter gives up past the limit
            p.load(EBPF_DW, R1, R10, FP_LOOPS)
            p.add64_imm(R1, 1)
            p.store(EBPF_DW, R10, R1, FP_LOOPS)
            p.jump(EBPF_JMP | JGT, "fail", R1, imm=MAX_BACKWARD_JUMPS)
        if dest != pc + 1:
            p.jump(EBPF_JMP | JA, ("pc", dest))

    def mem(self, pc: int, k: int) -> int:
        if k >= BPF_MEMWORDS:
            raise TranslateError(f"BPF instruction {pc} uses scratch word {k} (at most 15)")
        self.words.add(k)
        return FP_MEM - 4 * k

    # --- packet loads ---------------------------------------------------------------------

    def load_packet(self, pc: int, size: int, dst: int, k: int, indirect: bool) -> None:
        """dst = the `size` bytes at offset k (X + k when indirect) of the packet, big-endian;
        no match when they are past its end."""
        p = self.p
        nbytes, bits = _SIZES[size]
        if self.context.direct:
            return self.load_in_place(pc, dst, nbytes, bits, k, indirect)
        if not indirect:
            if k + nbytes <= PEEK_BYTES:            # from the peek alone
                p.load(EBPF_DW, R1, R10, FP_PEEK_LEN)
                p.jump(EBPF_JMP | JLT, "fail", R1, imm=k + nbytes)
                p.load(bits, dst, PEEK, k)
                p.to_big_endian(dst, nbytes)
                return
            p.mov32_imm(R2, k)
            self.load_from_skb(dst, nbytes, bits)
            return
        slow, done = ("skb", pc), ("loaded", pc)
        p.mov32(R2, X)
        p.emit(EBPF_ALU | ADD, R2, imm=k)           # 32-bit: X + k wraps as in cBPF
        p.jump(EBPF_JMP | JGT, slow, R2, imm=PEEK_BYTES - nbytes)
        p.load(EBPF_DW, R1, R10, FP_PEEK_LEN)
        p.mov64(R3, R2)
        p.add64_imm(R3, nbytes)
        p.jump(EBPF_JMP | JGT | BPF_X, "fail", R3, R1)
        p.mov64(R3, PEEK)
        p.emit(EBPF_ALU64 | ADD | BPF_X, R3, R2)    # the verifier knows R2 <= PEEK - n
        p.load(bits, dst, R3, 0)
        p.to_big_endian(dst, nbytes)
        p.jump(EBPF_JMP | JA, done)
        p.label(slow)
        self.load_from_skb(dst, nbytes, bits)
        p.label(done)

    def load_in_place(self, pc: int, dst: int, nbytes: int, bits: int, k: int,
                      indirect: bool) -> None:
        """dst = the `nbytes` at offset k (X + k) read from the skb's linear part in place;
        UNDECIDED when they are not all in it. The bound is tested on a pointer with the
        same origin as the one loaded through, which is what the verifier accepts."""
        p = self.p
        if not indirect:
            if k + nbytes > self.reach:     # only past DIRECT_MAX_OFF (fixed_reach)
                return p.jump(EBPF_JMP | JA, "undecided")
            p.load(bits, dst, PEEK, k)      # the prologue's bound covers it
            p.to_big_endian(dst, nbytes)
            return None
        p.mov32(R2, X)
        p.emit(EBPF_ALU | ADD, R2, imm=k)           # 32-bit: X + k wraps as in cBPF
        p.jump(EBPF_JMP | JGT, "undecided", R2, imm=DIRECT_MAX_OFF - nbytes)
        p.mov64(R3, PEEK)
        p.emit(EBPF_ALU64 | ADD | BPF_X, R3, R2)
        p.mov64(R4, R3)
        p.add64_imm(R4, nbytes)
        p.load(EBPF_DW, R1, R10, FP_PEEK_LEN)
        p.jump(EBPF_JMP | JGT | BPF_X, "undecided", R4, R1)
        p.load(bits, dst, R3, 0)
        p.to_big_endian(dst, nbytes)
        return None

    def load_from_skb(self, dst: int, nbytes: int, bits: int) -> None:
        """dst = `nbytes` at the offset in R2, from the skb: past the peek, so past byte 15,
        and 4 lower in the skb when the kernel holds the VLAN tag in metadata."""
        if not self.context.skb_loads:
            return self.load_from_frame(dst, nbytes, bits)
        p = self.p
        self.untag_offset()
        p.mov64(R1, SKB)
        p.mov64(R3, R10)
        p.add64_imm(R3, FP_BUFFER)
        p.emit(EBPF_ALU64 | MOV, R4, imm=nbytes)
        p.call(FUNC_SKB_LOAD_BYTES)
        self.from_buffer(dst, nbytes, bits)

    def load_from_frame(self, dst: int, nbytes: int, bits: int) -> None:
        """dst = `nbytes` at the offset in R2 of the frame whose kernel address the tracepoint
        context holds; no match past its linear part (the only part read this way)."""
        p = self.p
        self.untag_offset()
        p.load(0x00, R3, SKB, META_LINEAR)
        p.mov64(R4, R2)
        p.add64_imm(R4, nbytes)
        p.jump(EBPF_JMP | JGT | BPF_X, "fail", R4, R3)
        p.load(EBPF_DW, R3, SKB, META_FRAME)
        p.emit(EBPF_ALU64 | ADD | BPF_X, R3, R2)
        p.mov64(R1, R10)
        p.add64_imm(R1, FP_BUFFER)
        p.emit(EBPF_ALU64 | MOV, R2, imm=nbytes)
        p.call(FUNC_PROBE_READ_KERNEL)
        self.from_buffer(dst, nbytes, bits)

    def untag_offset(self) -> None:
        """R2 = the packet's offset in R2 as the skb (or frame) has it: 4 lower past the tag
        when the kernel holds it in metadata (loads past the peek are all past byte 15)."""
        p = self.p
        label = ("untagged", len(p.items))
        p.load(EBPF_DW, R3, R10, FP_TAG)
        p.jump(EBPF_JMP | JEQ, label, R3, imm=0)
        p.emit(EBPF_ALU | ADD, R2, imm=-VLAN_LEN)
        p.label(label)

    def from_buffer(self, dst: int, nbytes: int, bits: int) -> None:
        """After a copying helper: no match when it failed, else dst = the copy, big-endian."""
        p = self.p
        p.jump(EBPF_JMP | JNE, "fail", R0, imm=0)
        p.load(bits, dst, R10, FP_BUFFER)
        p.to_big_endian(dst, nbytes)

    def load_length(self, dst: int) -> None:
        """libpcap's `len`: the length on the wire (from the file, offline)."""
        p = self.p
        if not self.context.length_adds_tag:
            p.load(0x00, dst, SKB, self.context.length)
            return
        label = ("len", len(p.items))
        p.load(0x00, dst, SKB, SKB_LEN)
        p.load(EBPF_DW, R1, R10, FP_TAG)
        p.jump(EBPF_JMP | JEQ, label, R1, imm=0)
        p.emit(EBPF_ALU | ADD, dst, imm=VLAN_LEN)
        p.label(label)

    def ancillary(self, pc: int, k: int) -> None:
        """A = Linux ancillary data (SKF_AD_*), from skb metadata or a helper."""
        p = self.p
        index = signed32(k) - SKF_AD_OFF
        fields = self.context.fields
        if index in fields:
            p.load(0x00, A, SKB, fields[index])
            if index in (SKF_PROTOCOL, SKF_VLAN_TPID):    # __be16 in the field's low half
                p.to_big_endian(A, 2)
        elif index == 4 and self.context.pkttype is not None:    # SKF_AD_PKTTYPE
            p.load(EBPF_DW, R1, R10, FP_DIRECTION)
            p.mov32_imm(A, PACKET_OUTGOING)
            p.jump(EBPF_JMP | JEQ, ("pkttype", pc), R1, imm=DIR_OUT)
            p.load(0x00, A, SKB, self.context.pkttype)
            p.label(("pkttype", pc))
        elif index in (36, 56):             # SKF_AD_CPU, SKF_AD_RANDOM
            p.call(FUNC_GET_SMP_PROCESSOR_ID if index == 36 else FUNC_GET_PRANDOM_U32)
            p.mov32(A, R0)
        elif index == 40:                   # SKF_AD_ALU_XOR_X
            p.emit(EBPF_ALU | XOR | BPF_X, A, X)
        elif index == 48:                   # SKF_AD_VLAN_TAG_PRESENT
            p.load(EBPF_DW, R1, R10, FP_TAG)
            p.mov32_imm(A, 0)
            p.jump(EBPF_JMP | JEQ, ("tagged", pc), R1, imm=0)
            p.mov32_imm(A, 1)
            p.label(("tagged", pc))
        else:
            name = _ANCILLARY_NAMES.get(index, f"ancillary offset {index}")
            where = "" if self.context.skb_loads else " in a tracepoint (--drops)"
            raise TranslateError(f"BPF instruction {pc} loads Linux {name}, which ebcap "
                                 f"cannot express{where}")

    # --- one classic instruction ----------------------------------------------------------

    def statement(self, pc: int, insn: Insn) -> None:
        p = self.p
        cls, code, k = insn.code & 0x07, insn.code, insn.k & 0xFFFFFFFF
        size, mode, src = code & 0x18, code & 0xE0, code & 0x08
        if cls in (BPF_LD, BPF_LDX):
            dst = A if cls == BPF_LD else X
            if mode == BPF_IMM:
                return p.mov32_imm(dst, k)
            if mode == BPF_MEM:
                return p.load(0x00, dst, R10, self.mem(pc, k))
            if mode == BPF_LEN:
                return self.load_length(dst)
            if cls == BPF_LD and mode == BPF_ABS and size in _SIZES:
                if signed32(k) < 0:
                    if signed32(k) < SKF_AD_OFF:
                        raise TranslateError(f"BPF instruction {pc} uses a negative packet "
                                             "offset, which ebcap cannot express")
                    return self.ancillary(pc, k)
                return self.load_packet(pc, size, A, k, indirect=False)
            if cls == BPF_LD and mode == BPF_IND and size in _SIZES:
                return self.load_packet(pc, size, A, k, indirect=True)
            if cls == BPF_LDX and mode == BPF_MSH and size == BPF_B:
                self.load_packet(pc, BPF_B, X, k, indirect=False)
                p.emit(EBPF_ALU | AND, X, imm=0xF)
                p.emit(EBPF_ALU | LSH, X, imm=2)
                return None
        elif cls in (BPF_ST, BPF_STX):
            return p.store(0x00, R10, A if cls == BPF_ST else X, self.mem(pc, k))
        elif cls == BPF_ALU:
            return self.alu(pc, code & 0xF0, src, k)
        elif cls == BPF_JMP:
            op = code & 0xF0
            if op == JA:
                return self.goto(pc, self.target(pc, k))
            if op in _JUMPS:
                jt, jf = self.target(pc, insn.jt), self.target(pc, insn.jf)
                if src == BPF_X:
                    p.jump(EBPF_JMP32 | _JUMPS[op] | BPF_X, ("pc", jt), A, X)
                else:
                    p.jump(EBPF_JMP32 | _JUMPS[op], ("pc", jt), A, imm=k)
                return self.goto(pc, jf)
        elif cls == BPF_RET:
            rval = code & 0x18
            if rval == BPF_K:
                p.mov32_imm(R0, int(k != 0))
                return p.exit()
            if rval == BPF_A:
                p.mov32_imm(R0, 0)
                p.jump(EBPF_JMP | JEQ, ("ret", pc), A, imm=0)
                p.mov32_imm(R0, 1)
                p.label(("ret", pc))
                return p.exit()
        elif cls == BPF_MISC:
            if code & 0xF8 == BPF_TAX:
                return p.mov32(X, A)
            if code & 0xF8 == BPF_TXA:
                return p.mov32(A, X)
        raise TranslateError(f"BPF instruction {pc} (code 0x{code:02x}) is not supported")

    def alu(self, pc: int, op: int, src: int, k: int) -> None:
        p = self.p
        if op == NEG:
            return p.emit(EBPF_ALU | NEG, A)
        if op not in _ALU_OPS:
            raise TranslateError(f"BPF instruction {pc}: unknown ALU operation 0x{op:02x}")
        name = _ALU_OPS[op]
        if src == BPF_X:
            if name in ("div", "mod"):
                p.jump(EBPF_JMP | JEQ, "fail", X, imm=0)
            if name in ("lsh", "rsh"):      # eBPF masks the shift; cBPF gives 0 from 32 on
                p.mov32_imm(R1, 0)
                p.jump(EBPF_JMP | JGE, ("shift", pc), X, imm=32)
                p.mov32(R1, A)
                p.emit(EBPF_ALU | op | BPF_X, R1, X)
                p.label(("shift", pc))
                return p.mov32(A, R1)
            return p.emit(EBPF_ALU | op | BPF_X, A, X)
        if name in ("div", "mod") and k == 0:
            raise TranslateError(f"BPF instruction {pc} divides by the constant 0")
        if name in ("lsh", "rsh") and k >= 32:
            return p.mov32_imm(A, 0)
        return p.emit(EBPF_ALU | op, A, imm=k)

    def reachable(self) -> set[int]:
        """The classic instructions a run can reach from the first."""
        seen, todo = set(), [0]
        while todo:
            pc = todo.pop()
            if pc in seen or pc >= len(self.insns):
                continue
            seen.add(pc)
            insn = self.insns[pc]
            cls, op = insn.code & 0x07, insn.code & 0xF0
            if cls == BPF_RET:
                continue
            if cls == BPF_JMP and op == JA:
                todo.append((pc + 1 + insn.k) & 0xFFFFFFFF)
            elif cls == BPF_JMP:
                todo += [pc + 1 + insn.jt, pc + 1 + insn.jf]
            else:
                todo.append(pc + 1)
        return seen

    def fixed_reach(self, reachable: set[int]) -> int:
        """How far into the packet the filter's loads at fixed offsets read (0: none)."""
        reach = 0
        for pc in reachable:
            insn = self.insns[pc]
            code, k = insn.code, insn.k & 0xFFFFFFFF
            if code & 0x07 == BPF_LD and code & 0xE0 == BPF_ABS and code & 0x18 in _SIZES:
                end = signed32(k) + _SIZES[code & 0x18][0]
            elif code == BPF_LDX | BPF_MSH | BPF_B:
                end = signed32(k) + 1
            else:
                continue
            if 0 < end <= DIRECT_MAX_OFF:
                reach = max(reach, end)
        return reach

    def translate(self) -> bytes:
        p = self.p
        reachable = self.reachable()
        # the prologue: arguments into the filter's registers and frame
        p.mov64(SKB, R1)
        p.mov64(PEEK, R2)
        if self.context.direct:
            # One bound for every load at a fixed offset: the verifier then knows them all in
            # the linear part, and each is a plain load (a packet with less there is left to
            # the copying filter). Checking each load on its own cost ~4 instructions a load,
            # and the refused path is short enough for that to show (benchmarks/tc_cost.py).
            self.reach = self.fixed_reach(reachable)
            if self.reach:
                p.mov64(R1, PEEK)
                p.add64_imm(R1, self.reach)
                p.jump(EBPF_JMP | JGT | BPF_X, "undecided", R1, R3)
        p.store(EBPF_DW, R10, R3, FP_PEEK_LEN)
        p.store(EBPF_DW, R10, R4, FP_DIRECTION)
        p.store(EBPF_DW, R10, R5, FP_TAG)
        p.mov32_imm(A, 0)
        p.mov32_imm(X, 0)
        prologue_end = len(p.items)
        for pc, insn in enumerate(self.insns):
            if pc in reachable:         # the verifier refuses instructions nothing reaches
                p.label(("pc", pc))
                self.statement(pc, insn)
        last = p.items[-1]
        if not (isinstance(last, Jump) and last.code == EBPF_JMP | JA) and \
                not (isinstance(last, tuple) and last[0] == EBPF_JMP | EXIT):
            p.jump(EBPF_JMP | JA, "fail")         # ran off the end: no match, as in cBPF
        for label, value in (("fail", 0), ("undecided", UNDECIDED)):
            if any(isinstance(item, Jump) and item.label == label for item in p.items):
                p.label(label)
                p.mov32_imm(R0, value)
                p.exit()
        # zeroed scratch words and loop counter, known only now: inserted after the prologue
        setup = Program()
        for word in sorted(self.words):
            setup.store_imm(0x00, R10, FP_MEM - 4 * word, 0)
        if self.uses_loops:
            setup.store_imm(EBPF_DW, R10, FP_LOOPS, 0)
        p.items[prologue_end:prologue_end] = setup.items
        p.labels = {name: pos + (len(setup.items) if pos >= prologue_end else 0)
                    for name, pos in p.labels.items()}
        return p.assemble()


def translate(insns: list[Insn], offline: bool = False, context: str | None = None) -> bytes:
    """The eBPF instructions of the filter subprogram for this classic BPF program, for the
    context its caller hands it: "tc" (the default), "offline" (the same as offline=True),
    "tc-direct", "offline-direct" or "tracepoint"."""
    chosen = CONTEXTS[context] if context else (OFFLINE if offline else TC)
    return _Translator(insns, chosen).translate()
