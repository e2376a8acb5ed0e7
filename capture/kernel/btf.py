"""The running kernel's own type layouts, read from its BTF (/sys/kernel/btf/vmlinux).

A program that reads a kernel struct by offset (a raw tracepoint's `struct sk_buff *`) must take
the offsets from the kernel it runs on: BCC compiles against whatever headers tree it finds, and a
wrong offset reads plausible garbage without any error (Debian's 6.1 headers put sk_buff.head at
200, the 6.18 kernel here at 192). The same goes for enum values that change between kernels, such
as `enum skb_drop_reason`.

The file is raw BTF (Documentation/bpf/btf.rst, include/uapi/linux/btf.h): a header, a type
section of variable-length records whose ids are their 1-based position, and a string section.
Only the names of structs, unions, enums, typedefs and ints are indexed; everything else is found
through type ids. Split BTF (kernel modules, /sys/kernel/btf/<module>) is not read.
"""

from __future__ import annotations

import array
import functools
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from ebcap.capture.errors import KernelFeatureError

VMLINUX = Path("/sys/kernel/btf/vmlinux")

BTF_MAGIC = 0xEB9F
HEADER = struct.Struct("HBBIIIII")  # magic, version, flags, hdr_len, type_off/len, str_off/len

KIND_INT = 1
KIND_PTR = 2
KIND_ARRAY = 3
KIND_STRUCT = 4
KIND_UNION = 5
KIND_ENUM = 6
KIND_FWD = 7
KIND_TYPEDEF = 8
KIND_VOLATILE = 9
KIND_CONST = 10
KIND_RESTRICT = 11
KIND_FUNC = 12
KIND_FUNC_PROTO = 13
KIND_VAR = 14
KIND_DATASEC = 15
KIND_FLOAT = 16
KIND_DECL_TAG = 17
KIND_TYPE_TAG = 18
KIND_ENUM64 = 19

# Per kind, in 32-bit words: what follows the 3-word btf_type, and what each of its vlen entries is.
_EXTRA_WORDS = {KIND_INT: 1, KIND_ARRAY: 3, KIND_VAR: 1, KIND_DECL_TAG: 1}
_WORDS_PER_ENTRY = {KIND_STRUCT: 3, KIND_UNION: 3, KIND_ENUM: 2, KIND_FUNC_PROTO: 2,
                    KIND_DATASEC: 3, KIND_ENUM64: 3}
_KNOWN_KINDS = range(KIND_INT, KIND_ENUM64 + 1)
_NAMED_KINDS = (KIND_INT, KIND_STRUCT, KIND_UNION, KIND_ENUM, KIND_TYPEDEF, KIND_ENUM64)
_MODIFIERS = (KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_TYPE_TAG)
_MAX_NESTING = 32   # as the kernel's own BTF check (MAX_RESOLVE_DEPTH): a deeper chain is a loop


def _step_tables() -> tuple[list[int], list[int], list[bool]]:
    """Indexed by the top byte of btf_type.info (kind plus kind_flag), so the walk does no masking.

    An unknown kind steps past the end of any type section: the walk stops at once and the slow
    check in _diagnose() names it.
    """
    fixed, per_entry, named = [1 << 40] * 256, [0] * 256, [False] * 256
    for top in range(256):
        kind = top & 0x1F
        if kind in _KNOWN_KINDS:
            fixed[top] = 3 + _EXTRA_WORDS.get(kind, 0)
            per_entry[top] = _WORDS_PER_ENTRY.get(kind, 0)
            named[top] = kind in _NAMED_KINDS
    return fixed, per_entry, named


_FIXED, _PER_ENTRY, _NAMED = _step_tables()


@dataclass(frozen=True)
class Member:
    """One member of a struct or union, placed from the start of the outermost struct looked up."""

    name: str            # '' for an anonymous struct or union
    type_id: int
    bit_offset: int
    bit_size: int        # 0 unless the member is a bitfield
    size: int            # bytes of the member's type (a bitfield's: of its underlying integer)

    @property
    def is_bitfield(self) -> bool:
        return self.bit_size != 0

    @property
    def offset(self) -> int:
        """Byte offset; for a bitfield, of the byte holding its first bit."""
        return self.bit_offset // 8


class Btf:
    """One BTF blob, indexed at construction: ~25 ms of walking for the 5.5 MB vmlinux here."""

    def __init__(self, data: bytes, source: str = "BTF"):
        self.source = source
        if len(data) < HEADER.size:
            raise self._corrupt(f"{len(data)} bytes is shorter than a BTF header")
        order = "=" if struct.unpack_from("=H", data)[0] == BTF_MAGIC else "<>"[sys.byteorder == "little"]
        magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = \
            struct.unpack_from(order + HEADER.format, data)
        if magic != BTF_MAGIC:
            raise self._corrupt(f"bad magic 0x{magic:04x}")
        if version != 1:
            raise self._corrupt(f"BTF version {version}, only version 1 is known")
        types_at, strings_at = hdr_len + type_off, hdr_len + str_off
        if hdr_len < HEADER.size or types_at + type_len > len(data) or strings_at + str_len > len(data):
            raise self._corrupt(f"sections end past the file's {len(data)} bytes (truncated?)")
        if type_len % 4 or types_at % 4:
            raise self._corrupt("the type section is not 4-byte aligned")
        self._strings = bytes(data[strings_at:strings_at + str_len])
        self._words = array.array("I")
        self._words.frombytes(data[types_at:types_at + type_len])
        if order != "=":
            self._words.byteswap()
        self._starts, named = self._walk()
        self._by_name_off: dict[int, list[int]] = {}
        self._struct_ids: dict[str, int] = {}
        for type_id in named:
            self._by_name_off.setdefault(self._words[self._starts[type_id]], []).append(type_id)

    @classmethod
    def from_file(cls, path: Path = VMLINUX) -> Btf:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise KernelFeatureError(f"no kernel BTF at {path}: the kernel was built without "
                                     f"CONFIG_DEBUG_INFO_BTF, and ebcap needs its struct layouts") from None
        except OSError as err:
            raise KernelFeatureError(f"cannot read kernel BTF {path}: {err.strerror}") from None
        return cls(data, str(path))

    # The walk is the whole cost of loading: 126,699 records here. Per record it does one array
    # read and two table look-ups keyed by info's top byte; struct.unpack_from per record, or
    # masking the kind and vlen out per record, measured 35-46 ms against 22-25 ms for this.
    def _walk(self) -> tuple[list[int], list[int]]:
        words, fixed, per_entry, named_top = self._words, _FIXED, _PER_ENTRY, _NAMED
        starts = [0]            # type id 0 is void; starts[id] = the id's first word
        named: list[int] = []
        add_start, add_named = starts.append, named.append
        at, end = 0, len(words)
        try:
            while at < end:
                info = words[at + 1]
                top = info >> 24
                if named_top[top]:
                    add_named(len(starts))
                add_start(at)
                at += fixed[top] + per_entry[top] * (info & 0xFFFF)
        except IndexError:
            at = end + 1
        if at != end:
            self._diagnose()
        return starts, named

    def _diagnose(self) -> None:
        """The slow, checked walk that explains why the fast one did not end on the section's end."""
        words, at, type_id = self._words, 0, 1
        while at + 3 <= len(words):
            kind = (words[at + 1] >> 24) & 0x1F
            if kind not in _KNOWN_KINDS:
                raise self._corrupt(f"type {type_id} has unknown kind {kind} (a newer BTF format?)")
            at += _FIXED[kind] + _PER_ENTRY[kind] * (words[at + 1] & 0xFFFF)
            if at > len(words):
                break
            type_id += 1
        raise self._corrupt(f"type {type_id} runs past the end of the type section (truncated?)")

    def _corrupt(self, why: str) -> KernelFeatureError:
        return KernelFeatureError(f"unusable BTF in {self.source}: {why}")

    # -- records --------------------------------------------------------------------------------

    def _record(self, type_id: int) -> tuple[int, int, int, int, int]:
        """(first word, kind, kind_flag, vlen, size_or_type) of a type id."""
        if not 0 < type_id < len(self._starts):
            raise self._corrupt(f"reference to type {type_id}, which does not exist")
        at = self._starts[type_id]
        info = self._words[at + 1]
        return at, (info >> 24) & 0x1F, info >> 31, info & 0xFFFF, self._words[at + 2]

    def _name(self, name_off: int) -> str:
        end = self._strings.find(b"\0", name_off)
        if end < 0:
            raise self._corrupt(f"name offset {name_off} is outside the string section")
        return self._strings[name_off:end].decode("utf-8", "replace")

    def _ids_named(self, name: str) -> list[int]:
        """Ids of the indexed types called `name`, in id order. Every occurrence of the name in
        the string section is tried, so a name stored as the tail of a longer string is found too."""
        wanted, ids, at = name.encode() + b"\0", [], self._strings.find(name.encode() + b"\0")
        while at >= 0:
            ids.extend(self._by_name_off.get(at, ()))
            at = self._strings.find(wanted, at + 1)
        return sorted(ids)

    def _find(self, name: str, kinds: tuple[int, ...], what: str) -> int:
        """The first type (in id order, as libbpf's btf__find_by_name_kind) of those kinds."""
        for type_id in self._ids_named(name):
            kind = self._record(type_id)[1]
            if kind in kinds:
                return type_id
            if kind == KIND_TYPEDEF and KIND_TYPEDEF not in kinds:
                target = self._strip(type_id)
                if self._record(target)[1] in kinds:
                    return target
        raise KernelFeatureError(f"the kernel's BTF ({self.source}) has no {what} {name}")

    def _strip(self, type_id: int) -> int:
        """Follow typedefs and qualifiers to the type they name."""
        for _ in range(_MAX_NESTING):
            _at, kind, _flag, _vlen, target = self._record(type_id)
            if kind not in _MODIFIERS:
                return type_id
            type_id = target
        raise self._corrupt(f"type {type_id}: typedefs or qualifiers nested too deep (a loop?)")

    @functools.cached_property
    def pointer_size(self) -> int:
        """The kernel's pointer size: BTF has none for PTR; libbpf takes it from `long` too."""
        for name in ("long unsigned int", "long int", "unsigned long", "long"):
            for type_id in self._ids_named(name):
                at, kind, _flag, _vlen, size = self._record(type_id)
                if kind == KIND_INT:
                    return size
        return struct.calcsize("P")

    def type_size(self, type_id: int, _depth: int = 0) -> int:
        """Bytes a value of the type takes, as sizeof() would say."""
        if _depth > _MAX_NESTING:
            raise self._corrupt(f"type {type_id}: arrays nested too deep (a loop?)")
        type_id = self._strip(type_id)
        at, kind, _flag, _vlen, size = self._record(type_id)
        if kind in (KIND_INT, KIND_STRUCT, KIND_UNION, KIND_ENUM, KIND_ENUM64, KIND_FLOAT, KIND_DATASEC):
            return size
        if kind == KIND_PTR:
            return self.pointer_size
        if kind == KIND_ARRAY:
            return self._words[at + 5] * self.type_size(self._words[at + 3], _depth + 1)
        raise KernelFeatureError(f"BTF type {type_id} (kind {kind}) has no size")

    # -- structs --------------------------------------------------------------------------------

    def _placed(self, type_id: int, base_bits: int = 0) -> list[tuple[str, int, int, int]]:
        """(name, type id, bit offset from base_bits, bitfield bits) of the direct members."""
        at, kind, kind_flag, vlen, _size = self._record(type_id)
        words, found = self._words, []
        for entry in range(at + 3, at + 3 + 3 * vlen, 3):
            name_off, member_type, offset = words[entry], words[entry + 1], words[entry + 2]
            if kind_flag:           # the struct says where its bitfields are
                bit_offset, bit_size = offset & 0xFFFFFF, offset >> 24
            else:                   # the older encoding: a bitfield is an INT narrower than its size
                shift, bit_size = self._int_bitfield(member_type)
                bit_offset = offset + shift
            found.append((self._name(name_off), member_type, base_bits + bit_offset, bit_size))
        return found

    def _member(self, placed: tuple[str, int, int, int]) -> Member:
        name, type_id, bit_offset, bit_size = placed
        return Member(name, type_id, bit_offset, bit_size, self.type_size(type_id))

    def _int_bitfield(self, type_id: int) -> tuple[int, int]:
        """(bit shift, bits) when the type is an INT encoded as a bitfield, else (0, 0)."""
        at, kind, _flag, _vlen, size = self._record(self._strip(type_id))
        if kind != KIND_INT:
            return 0, 0
        encoding = self._words[at + 3]
        bits, shift = encoding & 0xFF, (encoding >> 16) & 0xFF
        return (shift, bits) if bits != size * 8 or shift else (0, 0)

    def struct_id(self, name: str) -> int:
        """The id of struct or union `name` (or of the struct a typedef `name` names)."""
        if name not in self._struct_ids:
            self._struct_ids[name] = self._find(name, (KIND_STRUCT, KIND_UNION), "struct or union")
        return self._struct_ids[name]

    def typedef_id(self, name: str) -> int:
        """The id of typedef `name` itself (a tp_btf program's btf_trace_<tracepoint>)."""
        return self._find(name, (KIND_TYPEDEF,), "typedef")

    def struct_size(self, name: str) -> int:
        return self._record(self.struct_id(name))[4]

    def members(self, name: str) -> list[Member]:
        """The struct's direct members, anonymous ones included (name '')."""
        return [self._member(placed) for placed in self._placed(self.struct_id(name))]

    def member(self, struct_name: str, path: str) -> Member:
        """Member `path` of struct `struct_name`: a name found inside anonymous structs and unions
        as C finds it, or a dotted path through named struct members (`headers.mac_header`)."""
        type_id, found = self.struct_id(struct_name), (struct_name, 0, 0, 0)
        for depth, part in enumerate(path.split(".")):
            if depth:
                type_id = self._strip(found[1])
                if self._record(type_id)[1] not in (KIND_STRUCT, KIND_UNION):
                    raise KernelFeatureError(f"{struct_name}.{'.'.join(path.split('.')[:depth])} "
                                             f"is not a struct or union")
            found = self._search(type_id, part, found[2])
            if found is None:
                raise KernelFeatureError(f"struct {struct_name} has no member {path} in the "
                                         f"kernel's BTF ({self.source})")
        return self._member(found)

    def _search(self, type_id: int, name: str, base_bits: int,
                depth: int = 0) -> tuple[str, int, int, int] | None:
        if depth > _MAX_NESTING:
            raise self._corrupt(f"type {type_id}: anonymous members nested too deep (a loop?)")
        placed = self._placed(type_id, base_bits)
        for member in placed:
            if member[0] == name:
                return member
        for member_name, member_type, bit_offset, _bits in placed:
            inner = self._strip(member_type) if not member_name else 0
            if inner and self._record(inner)[1] in (KIND_STRUCT, KIND_UNION):
                hit = self._search(inner, name, bit_offset, depth + 1)  # C allows a name once
                if hit is not None:
                    return hit
        return None

    def struct_member_offset(self, struct_name: str, path: str) -> int:
        """Byte offset of a member from the start of the struct; a bitfield has none: refused."""
        member = self.member(struct_name, path)
        if member.is_bitfield:
            raise KernelFeatureError(
                f"{struct_name}.{path} is a {member.bit_size}-bit bitfield at bit "
                f"{member.bit_offset} (byte {member.offset} bit {member.bit_offset % 8}): it has "
                f"no byte offset; read the byte with Btf.member() and mask it")
        return member.offset

    # -- enums ----------------------------------------------------------------------------------

    def enum_values(self, name: str) -> dict[str, int]:
        """Names to values of enum `name` (ENUM or ENUM64), in declaration order."""
        at, kind, signed, vlen, _size = self._record(self._find(name, (KIND_ENUM, KIND_ENUM64), "enum"))
        words, values = self._words, {}
        if kind == KIND_ENUM:
            for entry in range(at + 3, at + 3 + 2 * vlen, 2):
                value = words[entry + 1]
                values[self._name(words[entry])] = value - (1 << 32) if signed and value >> 31 else value
        else:
            for entry in range(at + 3, at + 3 + 3 * vlen, 3):
                value = words[entry + 1] | words[entry + 2] << 32
                values[self._name(words[entry])] = value - (1 << 64) if signed and value >> 63 else value
        return values


@functools.lru_cache(maxsize=1)
def vmlinux() -> Btf:
    """The running kernel's BTF, read once per process on first use."""
    return Btf.from_file(VMLINUX)


def struct_member_offset(struct_name: str, path: str) -> int:
    return vmlinux().struct_member_offset(struct_name, path)


def struct_size(name: str) -> int:
    return vmlinux().struct_size(name)


def enum_values(name: str) -> dict[str, int]:
    return vmlinux().enum_values(name)


def offset_cflags(fields: dict[str, str], btf: Btf | None = None) -> list[str]:
    """-D flags handing a BPF program the running kernel's offsets: {"SKB_HEAD": "sk_buff.head"}
    gives ["-DSKB_HEAD=192"] here. Being compiler flags, they are part of the compiled text, so a
    cached program is keyed by them too."""
    table = btf or vmlinux()
    return [f"-D{macro}={table.struct_member_offset(*path.split('.', 1))}"
            for macro, path in fields.items()]


def strip_prefixes(values: dict[str, int], *prefixes: str) -> dict[str, int]:
    """The names without the first of `prefixes` each starts with (enum constants are prefixed)."""
    def short(name: str) -> str:
        return next((name[len(p):] for p in prefixes if name.startswith(p)), name)
    return {short(name): value for name, value in values.items()}


# Constants of enum skb_drop_reason that bound the enum rather than name a reason.
_DROP_REASON_SENTINELS = ("SKB_DROP_REASON_MAX", "SKB_DROP_REASON_SUBSYS_MASK")


def drop_reasons(btf: Btf | None = None) -> dict[str, int]:
    """The kernel's skb drop reasons by short name, as its kfree_skb tracepoint prints them:
    NOT_DROPPED_YET 0, CONSUMED 1, NOT_SPECIFIED 2, NO_SOCKET 3... (values differ between kernels).
    Reasons of other subsystems (mac80211, openvswitch) carry the subsystem in the value's top 16
    bits and have enums of their own."""
    values = (btf or vmlinux()).enum_values("skb_drop_reason")
    kept = {name: value for name, value in values.items() if name not in _DROP_REASON_SENTINELS}
    return strip_prefixes(kept, "SKB_DROP_REASON_", "SKB_")
