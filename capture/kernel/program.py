"""Builds the kernel program and hands out its programs, ring buffer and counters.

The filter arrives as a generated header (capture/cbpf.py) given to clang with -include; the
configuration as -D constants. `source_text()` is exactly what is compiled.

BCC compiles, but never in this process: a forked child does and reports each program's
instructions and each map's spec (capture/bpfcompile.py), or the cache has them from an earlier
run (capture/progcache.py). Here the maps are made again with BPF_MAP_CREATE, the instructions'
map references pointed at them, and the programs loaded with BPF_PROG_LOAD. Nothing is pinned:
the kernel frees programs and maps with the last fd, when ebcap exits at the latest.
"""

from __future__ import annotations

import errno
import os
import re
import resource
import struct
from dataclasses import dataclass
from pathlib import Path

from ebcap.capture import debug
from ebcap.bpf import SOURCE_DIR
from ebcap.capture.kernel.build import FILTER_HEADER_NAME, CompiledProgram, compile_program, first_error
from ebcap.capture.kernel.bpfsys import BpfMap, MapSpec, ProgramRefused, map_create, possible_cpus, prog_load
from ebcap.capture.filter.translate import PEEK_BYTES, translate
from ebcap.capture.config import HEADERS_MAX
from ebcap.capture.errors import KernelFeatureError, PrivilegeError, TranslateError
from ebcap.capture.kernel.kheaders import point_bcc_at_headers
from ebcap.capture.packet import LinkType
from ebcap.capture.filter.libpcap import Insn
from ebcap.capture.kernel.cache import ProgramCache, cache_key

PROGRAM_SOURCE = SOURCE_DIR / "ebcap.c"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
DEFAULT_RING_BYTES = 8 << 20
INGRESS, EGRESS = "ebcap_ingress", "ebcap_egress"
PROGRAMS = (INGRESS, EGRESS)
# The maps ebcap itself reads or writes (bpf/ebcap.c); any others are only made and handed over.
EVENTS, SLOTS, INTERFACES, WALL_CLOCK = "events", "slots", "interfaces", "wall_clock"
# struct ebcap_iface (bpf/record.h; tests/unit/test_record_layout.py compares the two):
# seen, matched, lost, interface_id, ifindex
IFACE = struct.Struct("<QQQII")
IFACE_SLOTS = 256               # bpf/ebcap.c's direct-mapped interface table (a power of two)
_u32 = struct.Struct("<I")
_u64 = struct.Struct("<Q")

LD_IMM64 = 0x18                 # BPF_LD | BPF_IMM | BPF_DW: a 64-bit constant over two slots
BPF_PSEUDO_MAP_FD = 1           # ... whose imm is a map fd


@dataclass(frozen=True)
class ProgramSpec:
    """Everything that shapes the compiled program besides the filter."""

    linktype: int = LinkType.ETHERNET
    snaplen: int = 0                 # bytes to copy at most; 0 = headers only
    ring_bytes: int = DEFAULT_RING_BYTES
    offline: bool = False            # run by BPF_PROG_TEST_RUN on packets from a file

    def cflags(self) -> list[str]:
        if self.linktype not in (LinkType.ETHERNET, LinkType.RAW):
            raise KernelFeatureError(f"link type {self.linktype} is not supported")
        return [
            f"-DEBCAP_L2_ETHERNET={int(self.linktype == LinkType.ETHERNET)}",
            f"-DEBCAP_SNAPLEN={self.snaplen}",
            f"-DEBCAP_RING_PAGES={self.ring_bytes // PAGE_SIZE}",
            f"-DEBCAP_OFFLINE={int(self.offline)}",
            f"-DEBCAP_PEEK={PEEK_BYTES}",
            f"-DEBCAP_HEADERS_MAX={HEADERS_MAX}",
            f"-DEBCAP_IFACE_SLOTS={IFACE_SLOTS}",
        ]


def ring_size(kib: int | None) -> int:
    """-B in KiB (tcpdump's unit) rounded up to what a BPF ring buffer needs: a power-of-two
    number of pages."""
    if kib is None:
        return DEFAULT_RING_BYTES
    size = max(kib * 1024, PAGE_SIZE)
    return 1 << (size - 1).bit_length()


def relocate(insns: bytes, fds: dict[int, int]) -> bytes:
    """`insns` with every map reference (ld_imm64 with src_reg BPF_PSEUDO_MAP_FD, imm the fd)
    moved from the compiler child's fd to ours. Whatever else would need relocating (a map
    value's address, BTF ids...) this loader cannot provide: refused, never loaded half right.
    (The second slot of an ld_imm64 has code 0, so scanning every slot is safe.)"""
    out = bytearray(insns)
    for index, (code, regs, _off, imm) in enumerate(struct.iter_unpack("<BBhi", insns)):
        if code != LD_IMM64 or regs >> 4 == 0:
            continue
        if regs >> 4 != BPF_PSEUDO_MAP_FD:
            raise KernelFeatureError(f"the compiled BPF program needs a relocation ebcap does not "
                                     f"make (ld_imm64 with src_reg {regs >> 4}, instruction "
                                     f"{index})")
        if imm not in fds:
            raise KernelFeatureError(f"the compiled BPF program refers to map fd {imm}, which is "
                                     f"not one of its maps (instruction {index})")
        struct.pack_into("<i", out, index * 8 + 4, fds[imm])
    return bytes(out)


def program_text(source_text: str, kernel_headers: str) -> str:
    """All the text the bytecode depends on, for the cache key: what is compiled, every header
    in bpf/ (more than ebcap.c includes costs a needless compile at worst; fewer, a stale
    program) and the kernel headers tree BCC compiles against."""
    headers = "".join(f"// ---- {path.name} ----\n{path.read_text()}"
                      for path in sorted(SOURCE_DIR.glob("*.h")))
    return f"// kernel headers: {kernel_headers}\n{source_text}{headers}"


def _create_map(spec: MapSpec) -> int:
    try:
        return map_create(spec)
    except OSError as exc:
        if exc.errno == errno.EPERM:
            # Kernels before 5.11 charge maps to RLIMIT_MEMLOCK, as BCC and libbpf know.
            try:
                resource.setrlimit(resource.RLIMIT_MEMLOCK,
                                   (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
                return map_create(spec)
            except (OSError, ValueError):
                raise PrivilegeError("loading BPF programs needs root (CAP_BPF and "
                                     "CAP_NET_ADMIN)") from exc
        raise KernelFeatureError(f"creating the BPF map {spec.name} failed: "
                                 f"{os.strerror(exc.errno)}") from exc


class KernelProgram:
    """The loaded BPF module. Close it to free programs and maps (links hold their own refs)."""

    def __init__(self, insns: list[Insn], spec: ProgramSpec):
        self.spec = spec
        self.filter_header = translate(insns)
        self.headers = point_bcc_at_headers()
        # The header's real path exists only in the compiler child (capture/bpfcompile.py).
        self._cflags = [f"-I{SOURCE_DIR}", "-include", FILTER_HEADER_NAME, *spec.cflags()]
        self._log: list[str] = []
        self._slot_owners: dict[int, int] = {}          # slot -> ifindex
        self._fds: dict[str, int] = {}
        self._maps: dict[str, BpfMap] = {}
        compiled = self._compiled()
        self._log.append(compiled.log)
        try:
            ours = {}
            for child_fd, map_spec in compiled.maps.items():
                self._maps[map_spec.name] = BpfMap(_create_map(map_spec), map_spec)
                ours[child_fd] = self._maps[map_spec.name].fd
            self._insns = {name: relocate(code, ours) for name, code in compiled.programs.items()}
        except BaseException:
            self.close()
            raise

    def _compiled(self) -> CompiledProgram:
        """From the cache when it has this exact program, else from BCC (then cached)."""
        cache = ProgramCache.default()
        if cache is None:
            debug.note("BPF program compiled by BCC (no cache)")
            return self._compile()
        tree = os.environ.get("BCC_KERNEL_SOURCE") or self.headers
        key = cache_key(program_text(self.source_text(), tree))
        entry = f"{cache.dir}/{key}.json"
        compiled = cache.load(key)
        if compiled is not None and set(PROGRAMS) <= compiled.programs.keys():
            debug.note(f"BPF program from the cache, no compiler ({entry})")
            return compiled
        compiled = self._compile()
        debug.note(f"BPF program compiled by BCC (cache: {entry})")
        cache.store(key, compiled)
        return compiled

    def _compile(self) -> CompiledProgram:
        return compile_program(PROGRAM_SOURCE, self._cflags, self.filter_header, PROGRAMS)

    def log(self) -> str:
        return "".join(self._log)

    def source_text(self) -> str:
        """The exact C that is compiled: flags, the generated filter header, the program."""
        return "".join([
            f"// clang flags: {' '.join(self._cflags)}\n",
            f"// ---- {FILTER_HEADER_NAME} (generated, given with -include) ----\n",
            self.filter_header,
            f"// ---- {PROGRAM_SOURCE} ----\n",
            PROGRAM_SOURCE.read_text(),
        ])

    def program_fd(self, name: str) -> int:
        """Load one of the hook programs (SCHED_CLS) into the kernel and return its fd."""
        if name not in self._fds:
            if name not in self._insns:
                raise KernelFeatureError(f"the BPF program has no function {name}")
            try:
                self._fds[name] = prog_load(self._insns[name], name)
            except ProgramRefused as exc:
                self._log.append(exc.log)
                text = exc.log
                if exc.errno in (errno.EPERM, errno.EACCES) and "processed" not in text:
                    raise PrivilegeError("loading BPF programs needs root "
                                         "(CAP_BPF and CAP_NET_ADMIN)") from exc
                if "too large" in text or "too complex" in text or "complexity" in text:
                    raise TranslateError("the filter is too complex for the kernel's BPF "
                                         f"verifier: {first_error(text)}") from exc
                reason = first_error(text) if text.strip() else os.strerror(exc.errno)
                raise KernelFeatureError(f"the kernel refused the BPF program: {reason}") from exc
        return self._fds[name]

    def _map(self, name: str) -> BpfMap:
        try:
            return self._maps[name]
        except KeyError:
            raise KernelFeatureError(f"the BPF program has no map {name}") from None

    @property
    def ring_fd(self) -> int:
        return self._map(EVENTS).fd

    def register_interface(self, ifindex: int, interface_id: int) -> None:
        """Tell the kernel which pcapng interface id its blocks carry for this ifindex: in the
        ifindex's slot, or in the hash when another interface holds the slot."""
        value = [IFACE.pack(0, 0, 0, interface_id, ifindex)] * possible_cpus()
        slot = ifindex % IFACE_SLOTS
        if self._slot_owners.setdefault(slot, ifindex) == ifindex:
            self._map(SLOTS).update(_u32.pack(slot), value)
        else:
            self._map(INTERFACES).update(_u32.pack(ifindex), value)

    def set_wall_clock(self, offset_ns: int) -> None:
        """CLOCK_REALTIME - CLOCK_MONOTONIC, which the kernel adds to bpf_ktime_get_ns()."""
        self._map(WALL_CLOCK).update(_u32.pack(0), _u64.pack(offset_ns & 0xFFFFFFFFFFFFFFFF))

    def counters(self) -> dict[int, tuple[int, int, int]]:
        """ifindex -> (seen, matched, lost), summed over CPUs."""
        slots, table = self._map(SLOTS), self._map(INTERFACES)
        entries = [(ifindex, slots, _u32.pack(slot)) for slot, ifindex in self._slot_owners.items()]
        entries += [(_u32.unpack(key)[0], table, key) for key in table.keys()]
        totals = {}
        for ifindex, entries_map, key in entries:
            per_cpu = entries_map.lookup(key)
            if per_cpu is None:
                continue
            rows = [IFACE.unpack(value) for value in per_cpu]
            totals[ifindex] = (sum(r[0] for r in rows), sum(r[1] for r in rows),
                               sum(r[2] for r in rows))
        return totals

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        for table in self._maps.values():
            table.close()
        self._maps.clear()


def check_bpf_privileges() -> None:
    """Fail early with one line when BPF cannot work at all for this user."""
    if os.geteuid() != 0:
        try:
            caps = int(re.search(r"CapEff:\s*([0-9a-f]+)",
                                 Path("/proc/self/status").read_text()).group(1), 16)
        except (OSError, AttributeError):
            caps = 0
        CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF = 12, 21, 39
        has = lambda cap: bool(caps & (1 << cap))  # noqa: E731
        if not (has(CAP_NET_ADMIN) and (has(CAP_BPF) or has(CAP_SYS_ADMIN))):
            raise PrivilegeError("you don't have permission to capture: loading BPF programs "
                                 "needs root (CAP_BPF and CAP_NET_ADMIN)")


def errno_message(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


__all__ = ["KernelProgram", "ProgramSpec", "ring_size", "check_bpf_privileges", "INGRESS",
           "EGRESS", "errno", "errno_message"]
