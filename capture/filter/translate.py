"""Classic BPF (from libpcap) translated into one C function for the eBPF program.

The output is a header that defines `ebcap_filter(skb, direction, view)`, returning non-zero for
a match (direction: which hook runs it, for `inbound`/`outbound`; view: the packet's VLAN
metadata and its first bytes, bpf/filter_api.h). Only numbers from the instructions reach the C
text, never the user's expression. Packet loads go through bpf/filter_api.h, which gives the
filter libpcap's view of the packet.

Semantics follow the kernel's cBPF (and libpcap's interpreter): a load outside the packet, or a
division or modulo by X = 0, ends the filter with 0 (no match).
"""

from __future__ import annotations

from ebcap.capture.errors import TranslateError
from ebcap.capture.filter.libpcap import Insn

# Instruction classes, sizes, modes, operations (linux/filter.h, pcap/bpf.h).
BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_RET, BPF_MISC = range(8)
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
BPF_IMM, BPF_ABS, BPF_IND, BPF_MEM, BPF_LEN, BPF_MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
BPF_K, BPF_X = 0x00, 0x08
BPF_A = 0x10                                 # RET source
BPF_TAX, BPF_TXA = 0x00, 0x80
BPF_MEMWORDS = 16

SKF_AD_OFF = -0x1000                         # Linux ancillary-data loads

# Linux ancillary data (SKF_AD_*) mapped to __sk_buff fields or helpers.
_ANCILLARY = {
    0: "bpf_ntohs(skb->protocol)",           # SKF_AD_PROTOCOL
    4: "ebcap_pkt_type(skb, direction)",     # SKF_AD_PKTTYPE
    8: "skb->ifindex",                       # SKF_AD_IFINDEX
    20: "skb->mark",                         # SKF_AD_MARK
    24: "skb->queue_mapping",                # SKF_AD_QUEUE
    32: "skb->hash",                         # SKF_AD_RXHASH
    36: "bpf_get_smp_processor_id()",        # SKF_AD_CPU
    40: "A ^ X",                             # SKF_AD_ALU_XOR_X
    44: "skb->vlan_tci",                     # SKF_AD_VLAN_TAG
    48: "(view.tagged ? 1 : 0)",             # SKF_AD_VLAN_TAG_PRESENT
    56: "bpf_get_prandom_u32()",             # SKF_AD_RANDOM
    60: "bpf_ntohs(skb->vlan_proto)",        # SKF_AD_VLAN_TPID
}
_ANCILLARY_NAMES = {12: "SKF_AD_NLATTR", 16: "SKF_AD_NLATTR_NEST", 28: "SKF_AD_HATYPE",
                    52: "SKF_AD_PAY_OFFSET"}

_SIZES = {BPF_W: (4, "u32"), BPF_H: (2, "u16"), BPF_B: (1, "u8")}
# The first bytes of the packet, which the kernel program copies once before the filter runs
# (bpf/filter_api.h's EBCAP_PEEK, which capture/loader.py gives the compiler). A load at a
# constant offset inside it reads only the peek: the peek holds min(packet length, PEEK_BYTES)
# bytes, so bytes it lacks below PEEK_BYTES are past the packet's end, where cBPF fails too.
PEEK_BYTES = 128

_ALU_OPS = {0x00: "+", 0x10: "-", 0x20: "*", 0x30: "/", 0x40: "|", 0x50: "&", 0x60: "<<",
            0x70: ">>", 0x90: "%", 0xA0: "^"}
_ALU_NEG = 0x80
_JUMPS = {0x10: "A == {}", 0x20: "A > {}", 0x30: "A >= {}", 0x40: "A & {}"}
_JA = 0x00

# protochain walks IPv6 extension headers with a backward jump; each backward jump taken counts,
# and the walk gives up (no match) after this many, which keeps the loop provably bounded.
MAX_BACKWARD_JUMPS = 8

FILTER_SIGNATURE = ("static __always_inline int ebcap_filter(struct __sk_buff *skb, "
                    "__u32 direction, const struct ebcap_view view)")


def _signed(k: int) -> int:
    return k - (1 << 32) if k & 0x80000000 else k


def _u32(value: int) -> str:
    return f"0x{value & 0xFFFFFFFF:x}U"


class _Translator:
    def __init__(self, insns: list[Insn]):
        if not insns:
            raise TranslateError("empty BPF program")
        self.insns = insns
        self.targets: set[int] = set()
        self.backward = False

    def target(self, pc: int, offset: int) -> int:
        dest = (pc + 1 + offset) & 0xFFFFFFFF
        if dest >= len(self.insns):
            raise TranslateError(f"BPF instruction {pc} jumps outside the program")
        self.targets.add(dest)
        if dest <= pc:
            self.backward = True
        return dest

    def goto(self, pc: int, dest: int) -> str:
        if dest <= pc:
            return f"{{ if (++loops > {MAX_BACKWARD_JUMPS}) return 0; goto L{dest}; }}"
        return f"goto L{dest};"

    def mem(self, pc: int, k: int) -> str:
        if k >= BPF_MEMWORDS:
            raise TranslateError(f"BPF instruction {pc} uses scratch word {k} (at most 15)")
        return f"M[{k}]"

    def load(self, pc: int, size: int, k: int, dest: str, indirect: bool = False) -> str:
        """A packet load: from the peek alone at a constant offset inside it; past it, from
        the skb. Indirect loads try the peek at run time, except in a filter that loops
        (protochain), where two paths per load blow up the verifier's search."""
        nbytes, name = _SIZES[size]
        if indirect:
            source = "skb" if self.backward else "load"
            return f"if (ebcap_{source}_{name}(skb, &view, X + {_u32(k)}, &{dest})) return 0;"
        if k + nbytes <= PEEK_BYTES:
            return f"if (ebcap_peek_{name}(&view, {_u32(k)}, &{dest})) return 0;"
        return f"if (ebcap_skb_{name}(skb, &view, {_u32(k)}, &{dest})) return 0;"

    def ancillary(self, pc: int, k: int) -> str:
        index = _signed(k) - SKF_AD_OFF
        if index in _ANCILLARY:
            return _ANCILLARY[index]
        name = _ANCILLARY_NAMES.get(index, f"ancillary offset {index}")
        raise TranslateError(f"BPF instruction {pc} loads Linux {name}, which ebcap cannot express")

    def statement(self, pc: int, insn: Insn) -> str:
        cls, code, k = insn.code & 0x07, insn.code, insn.k
        size, mode, src = code & 0x18, code & 0xE0, code & 0x08
        if cls == BPF_LD:
            if mode == BPF_IMM:
                return f"A = {_u32(k)};"
            if mode == BPF_ABS:
                if _signed(k) < 0:
                    if _signed(k) < SKF_AD_OFF:
                        raise TranslateError(
                            f"BPF instruction {pc} uses a negative packet offset, "
                            "which ebcap cannot express")
                    return f"A = {self.ancillary(pc, k)};"
                return self.load(pc, size, k, "A")
            if mode == BPF_IND:
                return self.load(pc, size, k, "A", indirect=True)
            if mode == BPF_MEM:
                return f"A = {self.mem(pc, k)};"
            if mode == BPF_LEN:
                return "A = ebcap_packet_len(skb, &view);"
        elif cls == BPF_LDX:
            if mode == BPF_IMM:
                return f"X = {_u32(k)};"
            if mode == BPF_MEM:
                return f"X = {self.mem(pc, k)};"
            if mode == BPF_LEN:
                return "X = ebcap_packet_len(skb, &view);"
            if mode == BPF_MSH and size == BPF_B:
                return f"{self.load(pc, BPF_B, k, 'X')} X = (X & 0xf) << 2;"
        elif cls == BPF_ST:
            return f"{self.mem(pc, k)} = A;"
        elif cls == BPF_STX:
            return f"{self.mem(pc, k)} = X;"
        elif cls == BPF_ALU:
            return self.alu(pc, code & 0xF0, src, k)
        elif cls == BPF_JMP:
            op = code & 0xF0
            if op == _JA:
                return self.goto(pc, self.target(pc, k))
            if op in _JUMPS:
                operand = "X" if src == BPF_X else _u32(k)
                jt, jf = self.target(pc, insn.jt), self.target(pc, insn.jf)
                return f"if ({_JUMPS[op].format(operand)}) goto L{jt}; else goto L{jf};"
        elif cls == BPF_RET:
            rval = code & 0x18
            if rval == BPF_K:
                return f"return {_u32(k)} != 0;"
            if rval == BPF_A:
                return "return A != 0;"
            if rval == BPF_X:
                return "return X != 0;"
        elif cls == BPF_MISC:
            if code & 0xF8 == BPF_TAX:
                return "X = A;"
            if code & 0xF8 == BPF_TXA:
                return "A = X;"
        raise TranslateError(f"BPF instruction {pc} (code 0x{code:02x}) is not supported")

    def alu(self, pc: int, op: int, src: int, k: int) -> str:
        if op == _ALU_NEG:
            return "A = -A;"
        if op not in _ALU_OPS:
            raise TranslateError(f"BPF instruction {pc}: unknown ALU operation 0x{op:02x}")
        symbol = _ALU_OPS[op]
        if src == BPF_X:
            if symbol in ("/", "%"):
                return f"if (X == 0) return 0; A {symbol}= X;"
            if symbol in ("<<", ">>"):
                # C leaves shifts by 32 or more undefined; libpcap's interpreter gives 0.
                return f"A = X < 32 ? A {symbol} X : 0;"
            return f"A {symbol}= X;"
        if symbol in ("/", "%") and k == 0:
            raise TranslateError(f"BPF instruction {pc} divides by the constant 0")
        if symbol in ("<<", ">>") and k >= 32:
            return "A = 0;"
        return f"A {symbol}= {_u32(k)};"

    def translate(self) -> str:
        body = [(pc, self.statement(pc, insn)) for pc, insn in enumerate(self.insns)]
        if self.backward:       # known only once every jump was seen: the loads depend on it
            body = [(pc, self.statement(pc, insn)) for pc, insn in enumerate(self.insns)]
        lines = [
            "/* Generated by ebcap (capture/cbpf.py) from libpcap's classic BPF. */",
            "#include \"filter_api.h\"",
            "",
            FILTER_SIGNATURE,
            "{",
            "\t__u32 A = 0, X = 0;",
            f"\t__u32 M[{BPF_MEMWORDS}] = {{}};",
        ]
        if self.backward:
            lines.append("\t__u32 loops = 0;")
        for pc, text in body:
            label = f"L{pc}: " if pc in self.targets else ""
            lines.append(f"{label}\t{text}" if label else f"\t{text}")
        lines += ["\treturn 0;", "}", ""]
        return "\n".join(lines)


def translate(insns: list[Insn]) -> str:
    """The C header defining ebcap_filter() for this classic BPF program."""
    return _Translator(insns).translate()
