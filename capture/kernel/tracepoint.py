"""Raw tracepoint attachment by a BPF link (BPF_RAW_TRACEPOINT_OPEN): the fd it returns holds
the attachment, so the kernel detaches the program when ebcap exits, SIGKILL included. A BTF
tracepoint program (tp_btf: BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP) names its tracepoint when
it is loaded, by the BTF id of the kernel's `btf_trace_<name>` typedef, and is attached by the
same command without a name."""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from ebcap.capture.errors import KernelFeatureError, PrivilegeError
from ebcap.capture.kernel import bpfsys

BPF_RAW_TRACEPOINT_OPEN = 17
BPF_PROG_TYPE_RAW_TRACEPOINT = 17
BPF_PROG_TYPE_TRACING = 26
BPF_TRACE_RAW_TP = 23


def btf_tracepoint_id(name: str) -> int:
    """The BTF id a tp_btf program on tracepoint `name` is loaded with."""
    from ebcap.capture.kernel import btf
    return btf.vmlinux().typedef_id(f"btf_trace_{name}")


def open_btf_tracepoint(name: str, prog_fd: int) -> int:
    """Attach the tp_btf program `prog_fd` (loaded for tracepoint `name`); returns the link fd."""
    return _open(name, prog_fd, None)


def open_raw_tracepoint(name: str, prog_fd: int) -> int:
    """Attach the raw tracepoint program `prog_fd` to tracepoint `name`; returns the link fd."""
    return _open(name, prog_fd, ctypes.create_string_buffer(name.encode()))


def _open(name: str, prog_fd: int, name_buf: ctypes.Array | None) -> int:
    # union bpf_attr's raw_tracepoint: __u64 name, __u32 prog_fd, __u32 pad, __u64 cookie
    attr = ctypes.create_string_buffer(24)
    struct.pack_into("<QI", attr, 0, ctypes.addressof(name_buf) if name_buf else 0, prog_fd)
    try:
        return bpfsys.bpf(BPF_RAW_TRACEPOINT_OPEN, attr)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            raise PrivilegeError(f"attaching to the {name} tracepoint needs root "
                                 "(CAP_BPF and CAP_PERFMON)") from exc
        if exc.errno == errno.ENOENT:
            raise KernelFeatureError(f"this kernel has no {name} tracepoint") from exc
        raise KernelFeatureError(f"attaching to the {name} tracepoint failed: "
                                 f"{os.strerror(exc.errno)}") from exc
