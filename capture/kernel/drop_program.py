"""The drop capture's kernel program (bpf/drops.c): its C for one configuration, compiled once
and cached as ebcap.c's is (kernel/program.py), the filters translated for the tracepoint
context and spliced in, loaded as a raw tracepoint program (with --owners a BTF tracepoint
one, which may read socket-local storage), and attached to skb:kfree_skb by a link. A dropped frame may start with an Ethernet header or with the IP header (no link header):
the spliced code is libpcap's filter for each link type, behind a test of meta.raw."""

from __future__ import annotations

import os
import struct
from collections import namedtuple

from ebcap.bpf import SOURCE_DIR
from ebcap.capture.errors import KernelFeatureError
from ebcap.capture.filter.libpcap import Insn
from ebcap.capture.filter.assembler import EBPF_JMP, EBPF_LDX, EBPF_MEM, INSN, JNE, R0, R1
from ebcap.capture.filter.contexts import META_RAW
from ebcap.capture.filter.translate import PEEK_BYTES, translate
from ebcap.capture.kernel import btf, tracepoint
from ebcap.capture.kernel.bpfsys import BpfMap
from ebcap.capture.kernel.drop_record import COUNTERS, CONFIG, DropCounters, ReasonSelection
from ebcap.capture.kernel.loader import LoadedProgram
from ebcap.capture.kernel.maps import CaptureMaps
from ebcap.capture.kernel.program import compiled_program
from ebcap.capture.kernel.source import OWNER_FIELDS, PAGE_SIZE, OwnerSpec
from ebcap.capture.packet import Direction

DROP_SOURCE = SOURCE_DIR / "drops.c"
FUNCTION = "ebcap_drop"
TRACEPOINT = "kfree_skb"
DEFAULT_RING_BYTES = 4 << 20

# The kernel structs bpf/drops.c reads, as BTF_<macro> = offset, each with the size it reads
# there: a member of another size (a kernel that changed a type) refuses to build, rather than
# read half a field.
BTF_FIELDS = {
    "SKB_HEAD": ("sk_buff.head", 8), "SKB_DATA": ("sk_buff.data", 8),
    "SKB_MAC_HEADER": ("sk_buff.mac_header", 2), "SKB_NETWORK_HEADER": ("sk_buff.network_header", 2),
    "SKB_LEN": ("sk_buff.len", 4), "SKB_TAIL": ("sk_buff.tail", 4),
    "SKB_DEV": ("sk_buff.dev", 8), "SKB_SK": ("sk_buff.sk", 8),
    "SKB_PROTOCOL": ("sk_buff.protocol", 2), "SKB_MARK": ("sk_buff.mark", 4),
    "SKB_HASH": ("sk_buff.hash", 4), "SKB_VLAN_ALL": ("sk_buff.vlan_all", 4),
    "SKB_VLAN_PROTO": ("sk_buff.vlan_proto", 2), "SKB_VLAN_TCI": ("sk_buff.vlan_tci", 2),
    "SKB_IIF": ("sk_buff.skb_iif", 4),
    "NETDEV_IFINDEX": ("net_device.ifindex", 4), "NETDEV_NET": ("net_device.nd_net.net", 8),
    "SOCK_NET": ("sock.__sk_common.skc_net.net", 8), "NET_INUM": ("net.ns.inum", 4),
}


# Bitfields bpf/drops.c reads, as BTF_<macro> (the byte holding the field), _SHIFT and _MASK
# (on this little-endian kernel, its bits from that byte's lowest): each within one byte.
BTF_BITFIELDS = {"SKB_PKT_TYPE": "sk_buff.pkt_type"}


# The structs whose members are read in one go, from the first to the end of the last: one
# bpf_probe_read_kernel each (a helper call apiece was most of the program's cost).
SPANS = {"sk_buff": "SKB_SPAN", "net_device": "NETDEV_SPAN"}


def btf_cflags(table: btf.Btf | None = None) -> list[str]:
    table = table or btf.vmlinux()
    flags, spans = [], {}
    for macro, (path, size) in BTF_FIELDS.items():
        struct_name, member_path = path.split(".", 1)
        member = table.member(struct_name, member_path)
        if member.is_bitfield or member.size != size:
            raise KernelFeatureError(f"drop capture: {path} is {member.size} bytes in this "
                                     f"kernel's BTF, ebcap reads {size}")
        flags.append(f"-DBTF_{macro}={member.offset}")
        low, high = spans.get(struct_name, (member.offset, member.offset + size))
        spans[struct_name] = (min(low, member.offset), max(high, member.offset + size))
    for macro, path in BTF_BITFIELDS.items():
        struct_name, member_path = path.split(".", 1)
        member = table.member(struct_name, member_path)
        shift = member.bit_offset % 8
        if not member.is_bitfield or shift + member.bit_size > 8:
            raise KernelFeatureError(f"drop capture: {path} is not a bitfield within one byte "
                                     "in this kernel's BTF")
        flags += [f"-DBTF_{macro}={member.offset}", f"-DBTF_{macro}_SHIFT={shift}",
                  f"-DBTF_{macro}_MASK={(1 << member.bit_size) - 1}"]
        low, high = spans[struct_name]
        spans[struct_name] = (min(low, member.offset), max(high, member.offset + 1))
    for struct_name, macro in SPANS.items():
        low, high = spans[struct_name]
        low &= ~7                   # 8-aligned, so that the copy's members are aligned too
        flags += [f"-DBTF_{macro}={low}", f"-DBTF_{macro}_LEN={(high - low + 7) & ~7}"]
    return flags


def choose_filter(ethernet: bytes, raw: bytes) -> bytes:
    """One subprogram of two filters: `if meta->raw, run raw, else ethernet`. Each translated
    filter is self-contained (its jumps are relative, its exits its own), so they follow each
    other as they are."""
    return (INSN.pack(EBPF_LDX | EBPF_MEM | 0x00, (R1 << 4) | R0, META_RAW, 0)
            + INSN.pack(EBPF_JMP | JNE, R0, len(ethernet) // INSN.size, 0)
            + ethernet + raw)


def tracepoint_cflags(table: btf.Btf | None = None) -> list[str]:
    """kfree_skb's arguments differ between kernels: (skb, location) before 5.17, then the
    reason, then (6.18 here) rx_sk. Its trace event's record, in BTF, has a member for each."""
    table = table or btf.vmlinux()
    names = {member.name for member in table.members(f"trace_event_raw_{TRACEPOINT}")}
    if "reason" not in names:
        raise KernelFeatureError(f"this kernel's {TRACEPOINT} tracepoint gives no drop reason "
                                 "(Linux 5.17 or newer needed)")
    try:
        table.member("sk_buff", "vlan_present")
        meta_vlan = 0           # the bit says, and vlan_all may hold a stale tag: not read
    except KernelFeatureError:
        meta_vlan = 1
    return [f"-DEBCAP_TP_RX_SK={int('rx_sk' in names)}", f"-DEBCAP_META_VLAN={meta_vlan}"]


def record_room(snaplen: int) -> int:
    """Bytes of a frame a record holds at most: the peek for headers only (0), else the
    snapshot length rounded up to a power of two (bpf_ringbuf_reserve wants a constant), at
    most 64 KiB (only the skb's linear part is read, rarely more)."""
    if snaplen == 0:
        return PEEK_BYTES
    return min(1 << (max(snaplen, PEEK_BYTES) - 1).bit_length(), 65536)


_DROP_SPEC_FIELDS = {              # name: default
    "snaplen": 0,                   # bytes of the frame to keep; 0 = the peek (headers)
    "ring_bytes": DEFAULT_RING_BYTES,
    **dict.fromkeys(OWNER_FIELDS, False),
}


class DropSpec(OwnerSpec, namedtuple("DropSpec", _DROP_SPEC_FIELDS,
                                     defaults=_DROP_SPEC_FIELDS.values())):
    """Everything that shapes the compiled drop program besides the filter (as ProgramSpec
    for the capture program)."""

    __slots__ = ()

    @property
    def programs(self) -> tuple[str, ...]:
        return (FUNCTION, *self.owner_programs)

    def owner_cflags(self) -> list[str]:
        """Only with --owners, and then every one: without, the flags (so the cache entry) are
        those of the program before --owners existed."""
        return self.owner_defines(always=tuple(OWNER_FIELDS)) if self.owners else []


class DropSource:
    """One spec as the text the compiler gets (`ebcap --drops --dump-c` would print it)."""

    def __init__(self, spec: DropSpec):
        reasons = btf.drop_reasons()
        self.spec = spec
        self.cflags = [
            f"-I{SOURCE_DIR}",
            f"-DEBCAP_RING_PAGES={spec.ring_bytes // PAGE_SIZE}",
            f"-DEBCAP_PEEK={PEEK_BYTES}",
            f"-DEBCAP_DROP_ROOM={record_room(spec.snaplen)}",
            f"-DEBCAP_REASON_NOT_DROPPED_YET={reasons.get('NOT_DROPPED_YET', 0)}",
            f"-DEBCAP_REASON_CONSUMED={reasons.get('CONSUMED', 1)}",
            *tracepoint_cflags(),
            *btf_cflags(),
            *spec.owner_cflags(),
        ]

    def text(self) -> str:
        return "".join([f"// clang flags: {' '.join(self.cflags)}\n",
                        f"// ---- {DROP_SOURCE} ----\n", DROP_SOURCE.read_text()])


class DropProgram:
    """A loaded drop program, its maps, and (once attach() is called) its tracepoint link.
    `ethernet` and `raw` are the classic BPF libpcap compiled for each link type."""

    def __init__(self, ethernet: list[Insn], raw: list[Insn], spec: DropSpec):
        self.spec = spec
        self.source = DropSource(spec)
        compiled = compiled_program(self.source, DROP_SOURCE, spec.programs)
        self.loaded = LoadedProgram(compiled, choose_filter(
            translate(ethernet, context="tracepoint"), translate(raw, context="tracepoint")))
        self.maps = CaptureMaps(self.loaded.maps)
        self.link_fd = -1
        self.ifindex = 0                # configure()'s: 0 for every interface

    def _map(self, name: str) -> BpfMap:
        try:
            return self.loaded.maps[name]
        except KeyError:
            raise KernelFeatureError(f"the drop program has no map {name}") from None

    def configure(self, netns_inum: int, ifindex: int, reasons: ReasonSelection,
                  direction: Direction = Direction.UNKNOWN) -> None:
        """`direction` (-Q): only the drops known to go that way; UNKNOWN: every drop."""
        self.ifindex = ifindex
        self._map(CONFIG.name).update(struct.pack("<I", 0), CONFIG.pack(
            netns_inum, ifindex, int(reasons.others), int(direction), *reasons.words()))

    def attach(self) -> None:
        if self.spec.owners:
            fd = self.loaded.program_fd(FUNCTION, tracepoint.BPF_PROG_TYPE_TRACING,
                                        attach_type=tracepoint.BPF_TRACE_RAW_TP,
                                        attach_btf_id=tracepoint.btf_tracepoint_id(TRACEPOINT))
            self.link_fd = tracepoint.open_btf_tracepoint(TRACEPOINT, fd)
        else:
            fd = self.loaded.program_fd(FUNCTION, tracepoint.BPF_PROG_TYPE_RAW_TRACEPOINT)
            self.link_fd = tracepoint.open_raw_tracepoint(TRACEPOINT, fd)

    def counters(self) -> DropCounters:
        per_cpu = self._map(COUNTERS.name).lookup(struct.pack("<I", 0)) or []
        return DropCounters.sum(per_cpu)

    def close(self) -> None:
        if self.link_fd >= 0:
            os.close(self.link_fd)
            self.link_fd = -1
        self.loaded.close()
