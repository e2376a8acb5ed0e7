"""Raw tracepoint attachment by a BPF link (BPF_RAW_TRACEPOINT_OPEN): the fd it returns holds
the attachment, so the kernel detaches the program when ebcap exits, SIGKILL included."""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from ebcap.capture.errors import KernelFeatureError, PrivilegeError
from ebcap.capture.kernel import bpfsys

BPF_RAW_TRACEPOINT_OPEN = 17
BPF_PROG_TYPE_RAW_TRACEPOINT = 17


def open_raw_tracepoint(name: str, prog_fd: int) -> int:
    """Attach the raw tracepoint program `prog_fd` to tracepoint `name`; returns the link fd."""
    name_buf = ctypes.create_string_buffer(name.encode())
    # union bpf_attr's raw_tracepoint: __u64 name, __u32 prog_fd, __u32 pad, __u64 cookie
    attr = ctypes.create_string_buffer(24)
    struct.pack_into("<QI", attr, 0, ctypes.addressof(name_buf), prog_fd)
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
