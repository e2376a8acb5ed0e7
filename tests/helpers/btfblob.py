"""Small raw BTF blobs built in tests, laid out as include/uapi/linux/btf.h says.

Type ids are handed out in order of creation, starting at 1; a member's type must be made first.
"""

from __future__ import annotations

import struct

INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST = range(1, 11)
FUNC_PROTO, ENUM64 = 13, 19
INT_SIGNED = 1


class BtfBuilder:
    def __init__(self) -> None:
        self.strings = bytearray(b"\0")
        self.types: list[list[int]] = []

    def name(self, text: str) -> int:
        if not text:
            return 0
        offset = len(self.strings)
        self.strings += text.encode() + b"\0"
        return offset

    def tail_name(self, whole: str, tail: str) -> int:
        """Store `whole` and return the offset of its last characters `tail` (shared tails)."""
        assert whole.endswith(tail)
        return self.name(whole) + len(whole) - len(tail)

    def raw(self, name_off: int, kind: int, vlen: int, size_or_type: int, extra=(),
            kind_flag: int = 0) -> int:
        self.types.append([name_off, kind << 24 | kind_flag << 31 | vlen, size_or_type, *extra])
        return len(self.types)

    def int(self, name: str, size: int, bits: int | None = None, shift: int = 0,
            signed: bool = False) -> int:
        bits = size * 8 if bits is None else bits
        encoding = (INT_SIGNED if signed else 0) << 24 | shift << 16 | bits
        return self.raw(self.name(name), INT, 0, size, [encoding])

    def ptr(self, target: int) -> int:
        return self.raw(0, PTR, 0, target)

    def array(self, elem: int, nelems: int, index_type: int) -> int:
        return self.raw(0, ARRAY, 0, 0, [elem, index_type, nelems])

    def struct(self, name: str, size: int, members, union: bool = False,
               kind_flag: int | None = None) -> int:
        """members: (name, type id, bit offset[, bitfield bits]) each."""
        members = [m if len(m) == 4 else (*m, 0) for m in members]
        if kind_flag is None:
            kind_flag = int(any(bits for *_, bits in members))
        entries = []
        for member_name, member_type, bit_offset, bits in members:
            offset = bits << 24 | bit_offset if kind_flag else bit_offset
            entries += [self.name(member_name), member_type, offset]
        return self.raw(self.name(name), UNION if union else STRUCT, len(members), size, entries,
                        kind_flag)

    def typedef(self, name: str, target: int) -> int:
        return self.raw(self.name(name), TYPEDEF, 0, target)

    def const(self, target: int) -> int:
        return self.raw(0, CONST, 0, target)

    def enum(self, name: str, values: dict[str, int], signed: bool = False, size: int = 4) -> int:
        entries = []
        for value_name, value in values.items():
            entries += [self.name(value_name), value & 0xFFFFFFFF]
        return self.raw(self.name(name), ENUM, len(values), size, entries, int(signed))

    def enum64(self, name: str, values: dict[str, int], signed: bool = False) -> int:
        entries = []
        for value_name, value in values.items():
            value &= (1 << 64) - 1
            entries += [self.name(value_name), value & 0xFFFFFFFF, value >> 32]
        return self.raw(self.name(name), ENUM64, len(values), 8, entries, int(signed))

    def func_proto(self, returns: int, params: list[int]) -> int:
        entries = []
        for param in params:
            entries += [0, param]
        return self.raw(0, FUNC_PROTO, len(params), returns, entries)

    def build(self, order: str = "<", type_len_delta: int = 0) -> bytes:
        """The blob; `type_len_delta` misstates the type section's length in the header."""
        types = b"".join(struct.pack(f"{order}{len(words)}I", *words) for words in self.types)
        header = struct.pack(f"{order}HBBIIIII", 0xEB9F, 1, 0, 24,
                             0, len(types) + type_len_delta, len(types), len(self.strings))
        return header + types + bytes(self.strings)


def skb_like(builder: BtfBuilder) -> BtfBuilder:
    """sk_buff's shapes: an anonymous union of anonymous structs, a struct_group (anonymous
    struct and named struct with the same members), a pointer, bitfields."""
    u8, u16, u32 = builder.int("unsigned char", 1), builder.int("short unsigned int", 2), \
        builder.int("unsigned int", 4)
    ulong = builder.int("long unsigned int", 8)
    ptr = builder.ptr(u8)
    next_prev = builder.struct("", 16, [("next", ptr, 0), ("prev", ptr, 64)])
    list_union = builder.struct("", 16, [("", next_prev, 0), ("rbnode", ulong, 0)], union=True)
    fields = [("network_header", u16, 0), ("mac_header", u16, 16)]
    group = builder.struct("", 4, [("", builder.struct("", 4, fields), 0),
                                   ("headers", builder.struct("skb_headers", 4, fields), 0)],
                           union=True)
    builder.struct("skb", 40, [("", list_union, 0), ("len", u32, 128), ("pkt_type", u8, 160, 3),
                               ("cloned", u8, 163, 1), ("", group, 192), ("head", ptr, 256)])
    return builder
