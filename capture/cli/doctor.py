"""`ebcap --doctor`: what this host offers ebcap, one line per feature."""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

from ebcap.capture.errors import EbcapError

CAPS = {"CAP_NET_ADMIN": 12, "CAP_SYS_ADMIN": 21, "CAP_PERFMON": 38, "CAP_BPF": 39}


def _kernel_version() -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _probe_bpf() -> str:
    """The calls the capture process makes itself: a ring buffer map and a SCHED_CLS program
    (`r0 = 0; exit`), both freed at once."""
    from ebcap.capture.kernel.bpfsys import (BPF_MAP_TYPE_RINGBUF, MapSpec, ProgramRefused, map_create,
                                prog_load)
    try:
        os.close(map_create(MapSpec("ebcap_probe", BPF_MAP_TYPE_RINGBUF, 0, 0, 4096)))
    except OSError as exc:
        return f"no ({exc.strerror})"
    try:
        os.close(prog_load(struct.pack("<BBhiBBhi", 0xb7, 0, 0, 0, 0x95, 0, 0, 0),
                           "ebcap_probe"))
    except ProgramRefused as exc:
        return f"maps only: loading a SCHED_CLS program failed ({exc.strerror})"
    return "yes (BPF_MAP_TYPE_RINGBUF, BPF_PROG_TYPE_SCHED_CLS)"


def _drops() -> str:
    """What --drops needs: the sk_buff layout and drop reasons from BTF, and a raw tracepoint
    program (`r0 = 0; exit`) attached to skb:kfree_skb by a link, both freed at once."""
    from ebcap.capture.kernel import btf, tracepoint
    from ebcap.capture.kernel.bpfsys import ProgramRefused, prog_load
    from ebcap.capture.kernel.drop_program import TRACEPOINT, btf_cflags, tracepoint_cflags
    try:
        tracepoint_cflags()
        btf_cflags()
        reasons = len(btf.drop_reasons())
    except EbcapError as exc:
        return f"no: {exc}"
    if os.geteuid() != 0:
        return f"not probed (not root); {reasons} drop reasons in BTF"
    try:
        fd = prog_load(struct.pack("<BBhiBBhi", 0xb7, 0, 0, 0, 0x95, 0, 0, 0), "ebcap_probe",
                       tracepoint.BPF_PROG_TYPE_RAW_TRACEPOINT)
    except ProgramRefused as exc:
        return f"no: loading a raw tracepoint program failed ({exc.strerror})"
    try:
        os.close(tracepoint.open_raw_tracepoint(TRACEPOINT, fd))
    except EbcapError as exc:
        return f"no: {exc}"
    finally:
        os.close(fd)
    return f"yes (raw tracepoint skb:{TRACEPOINT}, {reasons} drop reasons from BTF)"


def _drop_owners() -> str:
    """What --drops with --owners needs besides --drops' and --owners': a BTF tracepoint
    program on skb:kfree_skb that may call bpf_sk_storage_get on the tracepoint's rx_sk
    (`r2 = args[3]; bpf_sk_storage_get(owners, r2, 0, 0); r0 = 0; exit`), attached by a link."""
    from ebcap.capture.kernel import bpfsys, tracepoint
    from ebcap.capture.kernel.drop_program import TRACEPOINT
    from ebcap.capture.kernel.owners import OWNER, create_storage_map
    if os.geteuid() != 0:
        return "not probed (not root)"
    try:
        btf_id = tracepoint.btf_tracepoint_id(TRACEPOINT)
        map_fd = create_storage_map(bpfsys.MapSpec("owners", bpfsys.BPF_MAP_TYPE_SK_STORAGE, 4,
                                                   OWNER.size, 0, 1 | 512))
    except (EbcapError, OSError) as exc:
        return f"no: {exc}"
    insn = struct.Struct("<BBhi")
    code = b"".join([insn.pack(0x79, 0x12, 24, 0),         # r2 = *(u64 *)(r1 + 24): rx_sk
                     insn.pack(0x18, 0x11, 0, map_fd), insn.pack(0, 0, 0, 0),
                     insn.pack(0xb7, 0x03, 0, 0), insn.pack(0xb7, 0x04, 0, 0),
                     insn.pack(0x85, 0, 0, 107),           # bpf_sk_storage_get
                     insn.pack(0xb7, 0, 0, 0), insn.pack(0x95, 0, 0, 0)])
    try:
        fd = bpfsys.prog_load(code, "ebcap_probe", tracepoint.BPF_PROG_TYPE_TRACING,
                              attach_type=tracepoint.BPF_TRACE_RAW_TP, attach_btf_id=btf_id)
    except bpfsys.ProgramRefused as exc:
        lines = [line for line in exc.log.splitlines() if line.strip()]
        return f"no: a tp_btf program was refused ({lines[-2] if len(lines) > 1 else exc.strerror})"
    finally:
        os.close(map_fd)
    try:
        os.close(tracepoint.open_btf_tracepoint(TRACEPOINT, fd))
    except EbcapError as exc:
        return f"no: {exc}"
    finally:
        os.close(fd)
    return f"yes (tp_btf/{TRACEPOINT} with socket-local storage)"


def _capabilities() -> str:
    from ebcap.capture.net.privileges import effective_capabilities
    eff = effective_capabilities()
    have = [name for name, bit in CAPS.items() if eff & (1 << bit)]
    return ", ".join(have) if have else "none (run as root)"


def _bcc() -> str:
    try:
        import bcc
    except ImportError:
        return "missing (apt-get install python3-bpfcc)"
    return f"{getattr(bcc, '__version__', 'unknown version')} ({Path(bcc.__file__).parent})"


def _program_cache() -> str:
    from ebcap.capture.kernel.cache import ProgramCache
    cache = ProgramCache.default()
    if cache is None:
        return "off (EBCAP_NO_CACHE)"
    refusal = cache.refusal()
    if refusal is not None:
        return f"not used: {refusal}"
    return f"{cache.dir} ({len(cache.entries())} compiled programs)"


def _headers() -> str:
    from ebcap.capture.kernel.kheaders import kernel_headers
    try:
        return kernel_headers()[1]
    except EbcapError as exc:
        return f"missing: {exc}"


def _owners() -> str:
    """--owners needs cgroup v2 (its socket hooks) and socket-local storage (Linux 5.2)."""
    from ebcap.capture.kernel.owners import cgroup2_mount
    root = cgroup2_mount()
    if root is None:
        return "no (cgroup v2 is not mounted: --owners, --pid, --comm, --cgroup and --run cannot be used)"
    return f"yes (cgroup v2 socket hooks at {root}; see docs/owners.md)"


def run_doctor() -> int:
    from ebcap.capture.filter.libpcap import libpcap_version
    version = _kernel_version()
    rows = [
        ("kernel", os.uname().release),
        ("bpf syscall", _probe_bpf() if os.geteuid() == 0 else "not probed (not root)"),
        ("capabilities", _capabilities()),
        ("BTF", "yes (/sys/kernel/btf/vmlinux)" if Path("/sys/kernel/btf/vmlinux").exists()
         else "no"),
        ("tcx links", "yes" if version >= (6, 6) else "no (needs Linux 6.6)"),
        ("clsact", "yes" if version >= (4, 5) else "no"),
        ("drop capture (--drops)", _drops()),
        ("socket owners", _owners()),
        ("drop owners (--owners)", _drop_owners()),
        ("BCC", _bcc()),
        ("kernel headers for BCC", _headers()),
        ("compiled program cache", _program_cache()),
        ("libpcap", libpcap_version()),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0
