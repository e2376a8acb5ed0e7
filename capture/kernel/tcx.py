"""TC attachment by tcx links (Linux 6.6 and later): a BPF link per hook, owned by its fd, so the
kernel detaches the program by itself when ebcap exits, SIGKILL included. Other programs on the
interface are left alone (the link goes at the end of the interface's chain)."""

from __future__ import annotations

import errno
import os
import struct
import threading

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


# A pass-everything program (r0 = TCX_NEXT; exit): the placeholder EarlyLinks attach.
PLACEHOLDER = struct.pack("<BBhiBBhi", 0xb7, 0, 0, -1, 0x95, 0, 0, 0)


class EarlyLinks:
    """tcx links made while the real programs are still being verified: each hook gets a link to
    a placeholder that lets every packet pass, made in a thread (a link costs ~8.5 ms, mostly
    the kernel waiting for RCU readers, so it overlaps the verifier), and `finish` then points
    each link at its real program with BPF_LINK_UPDATE (~0.1 ms). The links are this process's
    fds from the start, so SIGKILL at any moment leaves nothing attached; `close` detaches them
    whatever state they are in (a refused program: nothing stays)."""

    def __init__(self, hooks: list[tuple[int, int]]):
        self._hooks = list(hooks)               # (ifindex, tcx attach type)
        self._links: list[int] = []             # the links made so far, in the hooks' order
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._attach, name="ebcap-tcx", daemon=True)
        self._thread.start()

    def _attach(self) -> None:
        try:
            prog = bpfsys.prog_load(PLACEHOLDER, "ebcap_wait")
        except bpfsys.ProgramRefused as exc:
            self._error = (PrivilegeError("attaching to TC needs CAP_NET_ADMIN (run as root)")
                           if exc.errno in (errno.EPERM, errno.EACCES) else
                           KernelFeatureError(f"loading a TC program failed: {exc.strerror}"))
            return
        try:
            for ifindex, attach_type in self._hooks:
                self._links.append(attach(prog, ifindex, attach_type))
        except BaseException as exc:            # re-raised by finish(), in the caller's thread
            self._error = exc
        finally:
            os.close(prog)                      # the links hold it while they point at it

    def finish(self, jobs: list[tuple[int, int, int]]) -> list[int]:
        """Point the link of each (program fd, ifindex, tcx attach type), given in the order of
        the hooks, at its program; returns the link fds, which the caller now owns. On any
        error every link is closed first."""
        self._thread.join()
        try:
            if self._error is not None:
                raise self._error
            if [(index, kind) for _fd, index, kind in jobs] != self._hooks:
                raise ValueError("EarlyLinks.finish: jobs differ from the hooks")
            for position, (prog_fd, ifindex, attach_type) in enumerate(jobs):
                try:
                    bpfsys.link_update(self._links[position], prog_fd)
                except OSError as exc:
                    if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                        raise KernelFeatureError(f"attaching to TC failed: "
                                                 f"{os.strerror(exc.errno)}") from exc
                    # no update for this link here: a new link to the real program instead
                    os.close(self._links[position])
                    self._links[position] = -1
                    self._links[position] = attach(prog_fd, ifindex, attach_type)
        except BaseException:
            self.close()
            raise
        links, self._links = self._links, []
        return links

    def close(self) -> None:
        """Detach every link still held (waits for the thread first)."""
        self._thread.join()
        links, self._links = self._links, []
        for fd in links:
            if fd >= 0:
                os.close(fd)
