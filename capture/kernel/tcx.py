"""TC attachment by tcx links (Linux 6.6 and later): a BPF link per hook, owned by its fd, so the
kernel detaches the program by itself when ebcap exits, SIGKILL included. Other programs on the
interface are left alone (the link goes at the end of the interface's chain)."""

from __future__ import annotations

import errno
import os

from ebcap.capture.errors import InterfaceError, KernelFeatureError, PrivilegeError
from ebcap.capture.kernel import bpfsys

INGRESS, EGRESS = bpfsys.BPF_TCX_INGRESS, bpfsys.BPF_TCX_EGRESS


def available() -> bool:
    """tcx links from Linux 6.6 on; clsact filters before (or with EBCAP_ATTACH=clsact, which the
    tests use to cover the fallback on a kernel that has tcx)."""
    choice = os.environ.get("EBCAP_ATTACH")
    if choice in ("clsact", "tcx"):
        return choice == "tcx"
    release = os.uname().release.split(".")
    try:
        return (int(release[0]), int(release[1].split("-")[0])) >= (6, 6)
    except (ValueError, IndexError):
        return True


def attach(prog_fd: int, ifindex: int, attach_type: int) -> int:
    """The link's fd: keep it open as long as the program is to stay attached."""
    try:
        return bpfsys.tcx_attach(prog_fd, ifindex, attach_type)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            raise PrivilegeError("attaching to TC needs CAP_NET_ADMIN (run as root)") from exc
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):      # no tcx on this kernel
            raise KernelFeatureError("this kernel has no tcx links (Linux 6.6 or newer "
                                     "needed)") from exc
        if exc.errno == errno.ENODEV:       # the interface went away meanwhile
            raise InterfaceError(f"interface {ifindex} disappeared") from exc
        raise KernelFeatureError(f"attaching to TC failed: {os.strerror(exc.errno)}") from exc
