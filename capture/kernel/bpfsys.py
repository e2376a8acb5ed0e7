"""ebcap's bpf(2) calls: maps, program loading, tcx links and BPF_PROG_TEST_RUN.

Everything goes through raw syscalls on `union bpf_attr` (uapi/linux/bpf.h), so the capture
process needs neither BCC nor libbpf: BCC only compiles, in a child (capture/kernel/build.py).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import struct
from collections import namedtuple

_SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine, 321)
BPF_MAP_CREATE = 0
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_GET_NEXT_KEY = 4
BPF_PROG_LOAD = 5
BPF_PROG_TEST_RUN = 10
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_BTF_LOAD = 18
BPF_MAP_UPDATE_BATCH = 26
BPF_LINK_CREATE = 28
BPF_LINK_UPDATE = 29
BPF_TCX_INGRESS, BPF_TCX_EGRESS = 46, 47

BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY = 5, 6
BPF_MAP_TYPE_LRU_PERCPU_HASH = 10
BPF_MAP_TYPE_SK_STORAGE = 24
BPF_MAP_TYPE_RINGBUF = 27
# Their lookups and updates carry one value per possible CPU, each padded to 8 bytes.
PERCPU_MAP_TYPES = {BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY,
                    BPF_MAP_TYPE_LRU_PERCPU_HASH}
BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_SCHED_CLS, BPF_PROG_TYPE_XDP = 1, 3, 6
BPF_ANY = 0
BPF_OBJ_NAME_LEN = 16

# A failed load is retried with the verifier's log (as libbpf does), first this big; a log that
# does not fit returns ENOSPC and the size it needed, up to the cap (a 1M-instruction refusal
# logs far more: the rotating log then keeps its end, where the reason is).
VERIFIER_LOG_BYTES = 256 << 10
VERIFIER_LOG_MAX_BYTES = 16 << 20

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

# struct __sk_buff as BPF_PROG_TEST_RUN takes it (uapi/linux/bpf.h): 192 bytes; ebcap sets only
# wire_len (offset 160), the packet's original length, which a truncated packet from a file needs.
SKB_CTX_SIZE = 192
SKB_CTX_WIRE_LEN = 160
# The kernel refuses a wire_len above GSO_LEGACY_MAX_SIZE in test runs.
TEST_RUN_MAX_WIRE_LEN = 65536


def _bpf(cmd: int, attr: ctypes.Array) -> int:
    ret = _libc.syscall(_SYS_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def bpf(cmd: int, attr: ctypes.Array) -> int:
    """bpf(2) for the attachment modules' own commands (kernel/tracepoint.py); OSError on failure."""
    return _bpf(cmd, attr)


def tcx_attach(prog_fd: int, ifindex: int, attach_type: int) -> int:
    """Attach as a tcx link at the end of the interface's chain; returns the link fd.

    The link lives as long as its fd: when ebcap exits, even by SIGKILL, the kernel detaches it.
    """
    attr = ctypes.create_string_buffer(64)
    struct.pack_into("<IIII", attr, 0, prog_fd, ifindex, attach_type, 0)
    return _bpf(BPF_LINK_CREATE, attr)


def link_update(link_fd: int, prog_fd: int) -> None:
    """Point a link at another program of the same type (the swap is atomic for packets)."""
    attr = ctypes.create_string_buffer(16)
    struct.pack_into("<IIII", attr, 0, link_fd, prog_fd, 0, 0)
    _bpf(BPF_LINK_UPDATE, attr)


def _name_bytes(name: str) -> bytes:
    """A BPF object name as the kernel accepts it (and as BCC gives it): at most 15 characters
    of [A-Za-z0-9_.]."""
    cleaned = "".join(c if c.isalnum() or c in "_." else "_" for c in name)
    return cleaned[:BPF_OBJ_NAME_LEN - 1].encode("ascii", "replace")


@functools.cache
def possible_cpus() -> int:
    """How many values a per-CPU map holds: one per possible CPU ("0-1", "0,2-5"...)."""
    count = 0
    with open("/sys/devices/system/cpu/possible") as possible:     # not pathlib: see cache.py
        text = possible.read()
    for part in text.strip().split(","):
        first, _, last = part.partition("-")
        count += int(last or first) - int(first) + 1
    return count


class MapSpec(namedtuple("MapSpec", "name type key_size value_size max_entries flags extra",
                         defaults=(0, 0))):
    """What BPF_MAP_CREATE needs to make a map again; `name` is the C name (BCC's table),
    `extra` the map_extra (bloom filters' hash count). A named tuple, not a dataclass: this
    module is imported before the first link begins (capture/kernel/prefetch.py), and
    dataclasses' import (inspect, ast, tokenize) cost ~13 ms there; collections' namedtuple,
    not typing's NamedTuple, as typing (~5 ms) is not imported yet either."""

    __slots__ = ()

    @property
    def per_cpu(self) -> bool:
        return self.type in PERCPU_MAP_TYPES

    @property
    def value_stride(self) -> int:
        """Bytes per CPU in a per-CPU value."""
        return (self.value_size + 7) & ~7


def map_info(fd: int, name: str) -> MapSpec:
    """The spec of an existing map (BPF_OBJ_GET_INFO_BY_FD; struct bpf_map_info)."""
    info = ctypes.create_string_buffer(88)
    attr = ctypes.create_string_buffer(16)
    struct.pack_into("<IIQ", attr, 0, fd, len(info), ctypes.addressof(info))
    _bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
    map_type, _id, key_size, value_size, max_entries, flags = struct.unpack_from("<6I", info, 0)
    extra = struct.unpack_from("<Q", info, 80)[0]
    return MapSpec(name, map_type, key_size, value_size, max_entries, flags, extra)


def map_create(spec: MapSpec, btf: tuple[int, int, int] | None = None) -> int:
    """A new map; the fd holds it (no pinning: it goes away with the last fd). `btf`: (BTF fd,
    key type id, value type id), which some map types need (socket-local storage)."""
    attr = ctypes.create_string_buffer(72)
    struct.pack_into("<5I", attr, 0, spec.type, spec.key_size, spec.value_size,
                     spec.max_entries, spec.flags)
    struct.pack_into("16s", attr, 28, _name_bytes(spec.name))
    if btf is not None:
        struct.pack_into("<III", attr, 48, *btf)
    struct.pack_into("<Q", attr, 64, spec.extra)
    return _bpf(BPF_MAP_CREATE, attr)


class BpfMap:
    """Element access to one map by fd. Values of per-CPU maps are lists, one bytes per CPU."""

    def __init__(self, fd: int, spec: MapSpec):
        self.fd = fd
        self.spec = spec
        self._value_bytes = (spec.value_stride * possible_cpus() if spec.per_cpu
                             else spec.value_size)

    def _elem(self, cmd: int, key: bytes | None, out: ctypes.Array, flags: int = 0) -> int:
        attr = ctypes.create_string_buffer(32)
        key_buf = ctypes.create_string_buffer(key, len(key)) if key is not None else None
        struct.pack_into("<IIQQQ", attr, 0, self.fd, 0,
                         ctypes.addressof(key_buf) if key_buf is not None else 0,
                         ctypes.addressof(out), flags)
        return _bpf(cmd, attr)

    def update(self, key: bytes, value: bytes | list[bytes], flags: int = BPF_ANY) -> None:
        if self.spec.per_cpu:
            stride = self.spec.value_stride
            value = b"".join(v.ljust(stride, b"\0") for v in value)
        if len(key) != self.spec.key_size or len(value) != self._value_bytes:
            raise ValueError(f"map {self.spec.name}: key or value of the wrong size")
        self._elem(BPF_MAP_UPDATE_ELEM, key, ctypes.create_string_buffer(value, len(value)),
                   flags)

    def update_batch(self, items: list[tuple[bytes, bytes | list[bytes]]]) -> None:
        """update() of each (key, value) in one syscall (Linux 5.6): -i any registers hundreds
        of interfaces, and a syscall each cost ~9 us of Python and ctypes."""
        if not items:
            return
        if self.spec.per_cpu:
            stride = self.spec.value_stride
            items = [(key, b"".join(v.ljust(stride, b"\0") for v in value)) for key, value in items]
        if any(len(k) != self.spec.key_size or len(v) != self._value_bytes for k, v in items):
            raise ValueError(f"map {self.spec.name}: key or value of the wrong size")
        keys = ctypes.create_string_buffer(b"".join(k for k, _v in items))
        values = ctypes.create_string_buffer(b"".join(v for _k, v in items))
        # union bpf_attr's batch: in_batch, out_batch, keys, values, count, map_fd, elem_flags
        attr = ctypes.create_string_buffer(48)
        struct.pack_into("<QQQQIIQ", attr, 0, 0, 0, ctypes.addressof(keys),
                         ctypes.addressof(values), len(items), self.fd, BPF_ANY)
        _bpf(BPF_MAP_UPDATE_BATCH, attr)

    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        out = ctypes.create_string_buffer(self._value_bytes)
        try:
            self._elem(BPF_MAP_LOOKUP_ELEM, key, out)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise
        if not self.spec.per_cpu:
            return out.raw
        stride, size = self.spec.value_stride, self.spec.value_size
        return [out.raw[i:i + size] for i in range(0, len(out.raw), stride)]

    def keys(self):
        """Every key, by BPF_MAP_GET_NEXT_KEY. (Should the last key seen be deleted meanwhile,
        a hash map starts again from its first key; ebcap never deletes.)"""
        key = None
        while True:
            out = ctypes.create_string_buffer(self.spec.key_size)
            try:
                self._elem(BPF_MAP_GET_NEXT_KEY, key, out)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return
                raise
            key = out.raw
            yield key

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class ProgramRefused(OSError):
    """BPF_PROG_LOAD failed. `errno` is the first attempt's; `log` the verifier's words from
    the retry with a log (empty when the kernel wrote none, e.g. for lack of privileges)."""

    def __init__(self, err: int, log: str):
        super().__init__(err, os.strerror(err))
        self.log = log


def btf_load(blob: bytes) -> int:
    """Load raw BTF type information; returns its fd."""
    buf = ctypes.create_string_buffer(blob, len(blob))
    attr = ctypes.create_string_buffer(32)
    struct.pack_into("<QQI", attr, 0, ctypes.addressof(buf), 0, len(blob))
    return _bpf(BPF_BTF_LOAD, attr)


def _prog_load(prog_type: int, insns: bytes, license: bytes, name: str,
               log: ctypes.Array | None, attach_type: int = 0,
               attach_btf_id: int = 0, btf: tuple[int, bytes] | None = None) -> tuple[int, int]:
    """(fd or -errno, log_true_size)."""
    insn_buf = ctypes.create_string_buffer(insns, len(insns))
    func_buf = None
    license_buf = ctypes.create_string_buffer(license)
    attr = ctypes.create_string_buffer(144)          # up to log_true_size
    struct.pack_into("<IIQQ", attr, 0, prog_type, len(insns) // 8,
                     ctypes.addressof(insn_buf), ctypes.addressof(license_buf))
    if log is not None:
        struct.pack_into("<IIQ", attr, 24, 1, len(log), ctypes.addressof(log))
    struct.pack_into("16s", attr, 48, _name_bytes(name))
    struct.pack_into("<I", attr, 68, attach_type)           # expected_attach_type
    struct.pack_into("<I", attr, 108, attach_btf_id)        # tp_btf: the tracepoint's typedef
    if btf is not None:                 # prog_btf_fd, func_info_rec_size, func_info, its count
        func_buf = ctypes.create_string_buffer(btf[1], len(btf[1]))
        struct.pack_into("<IIQI", attr, 72, btf[0], 8, ctypes.addressof(func_buf),
                         len(btf[1]) // 8)
    ret = _libc.syscall(_SYS_BPF, BPF_PROG_LOAD, ctypes.byref(attr), ctypes.sizeof(attr))
    if ret < 0:
        ret = -ctypes.get_errno()
    return ret, struct.unpack_from("<I", attr, 140)[0]


def prog_load(insns: bytes, name: str, prog_type: int = BPF_PROG_TYPE_SCHED_CLS,
              license: bytes = b"GPL", attach_type: int = 0, attach_btf_id: int = 0,
              btf: tuple[int, bytes] | None = None) -> int:
    """Load a program; returns its fd, or raises ProgramRefused. `btf`: (BTF fd, func_info
    records), for a program with a timer callback (capture/kernel/stage_timer.py).

    The first attempt has no log, which spares the verifier from writing one for every
    instruction it walks; only a refusal is verified again, with a log to explain it."""
    fd, _ = _prog_load(prog_type, insns, license, name, None, attach_type, attach_btf_id, btf)
    if fd >= 0:
        return fd
    first_errno = -fd
    size = VERIFIER_LOG_BYTES
    while True:
        log = ctypes.create_string_buffer(size)
        fd, needed = _prog_load(prog_type, insns, license, name, log, attach_type,
                                attach_btf_id, btf)
        if fd >= 0:
            return fd                   # refused once, accepted now: keep it
        if -fd == errno.ENOSPC and size < VERIFIER_LOG_MAX_BYTES:
            size = min(max(needed, size * 2), VERIFIER_LOG_MAX_BYTES)
            continue
        raise ProgramRefused(first_errno, log.value.decode(errors="replace"))


class TestRunner:
    """BPF_PROG_TEST_RUN of one SCHED_CLS program, one packet at a time. The attribute and
    context buffers are made once: -r calls this per packet, and making them per call cost
    more than the syscall (~5.6 µs against ~8 µs, measured with cProfile on 100,000 packets)."""

    def __init__(self, prog_fd: int):
        self.prog_fd = prog_fd
        self._ctx = ctypes.create_string_buffer(SKB_CTX_SIZE)
        self._attr = ctypes.create_string_buffer(80)
        struct.pack_into("<I", self._attr, 0, prog_fd)
        struct.pack_into("<IIQQ", self._attr, 40, SKB_CTX_SIZE, 0, ctypes.addressof(self._ctx), 0)
        struct.pack_into("<I", self._attr, 32, 1)                   # repeat
        self._ptr = ctypes.pointer(self._attr)
        self._size = ctypes.sizeof(self._attr)

    def run(self, data: bytes, wire_len: int) -> int:
        """Run the program on `data` (the kernel only reads it); returns its return value."""
        struct.pack_into("<I", self._ctx, SKB_CTX_WIRE_LEN,
                         max(len(data), min(wire_len, TEST_RUN_MAX_WIRE_LEN)))
        buf = ctypes.c_char_p(data)
        struct.pack_into("<IIIQ", self._attr, 4, 0, len(data), 0,
                         ctypes.cast(buf, ctypes.c_void_p).value)
        ret = _libc.syscall(_SYS_BPF, BPF_PROG_TEST_RUN, self._ptr, self._size)
        if ret < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return struct.unpack_from("<i", self._attr, 4)[0]

    def batch_args(self) -> tuple:
        """(prog fd, the __sk_buff context buffer, wire_len's offset in it, the most wire_len
        may say) for a loop that makes the same calls in C (capture/kernel/_testrun.c)."""
        return self.prog_fd, self._ctx, SKB_CTX_WIRE_LEN, TEST_RUN_MAX_WIRE_LEN
