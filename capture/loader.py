"""Builds the kernel program with BCC and hands out its programs, ring buffer and counters.

The filter arrives as a generated header (capture/cbpf.py) given to clang with -include; the
configuration as -D constants. `source_text()` is exactly what is compiled.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from capture.bpf import SOURCE_DIR
from capture.cbpf import translate
from capture.errors import KernelFeatureError, PrivilegeError, TranslateError
from capture.kheaders import point_bcc_at_headers
from capture.packet import LinkType
from capture.pcapfilter import Insn

PROGRAM_SOURCE = SOURCE_DIR / "ebcap.c"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
DEFAULT_RING_BYTES = 8 << 20
INGRESS, EGRESS = "ebcap_ingress", "ebcap_egress"
FILTER_HEADER_NAME = "ebcap_filter.h"


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
        ]


def ring_size(kib: int | None) -> int:
    """-B in KiB (tcpdump's unit) rounded up to what a BPF ring buffer needs: a power-of-two
    number of pages."""
    if kib is None:
        return DEFAULT_RING_BYTES
    size = max(kib * 1024, PAGE_SIZE)
    return 1 << (size - 1).bit_length()


@contextlib.contextmanager
def _stderr_captured(log: list[str]):
    """clang and libbpf print straight to fd 2: keep that out of the user's terminal, and
    append it to `log` for error messages and --debug."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            log.append(sink.read().decode(errors="replace"))


def _first_error(log: str) -> str:
    for line in log.splitlines():
        if "error:" in line or "invalid" in line.lower() or "too large" in line or "limit" in line:
            return line.strip()
    lines = [line for line in log.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no message"


class KernelProgram:
    """The compiled BPF module. Close it to free programs and maps (links hold their own refs)."""

    def __init__(self, insns: list[Insn], spec: ProgramSpec):
        self.spec = spec
        self.filter_header = translate(insns)
        self.headers = point_bcc_at_headers()
        self._log: list[str] = []
        try:
            from bcc import BPF
        except ImportError as exc:
            raise KernelFeatureError("BCC's Python module is missing (apt-get install "
                                     "python3-bpfcc)") from exc
        self._BPF = BPF
        # The generated header exists only while clang runs: nothing is left on disk, and
        # nothing needs removing after -Z has dropped root.
        with tempfile.TemporaryDirectory(prefix="ebcap-") as tmp:
            filter_path = Path(tmp) / FILTER_HEADER_NAME
            filter_path.write_text(self.filter_header)
            self._cflags = [f"-I{SOURCE_DIR}", "-include", str(filter_path), *spec.cflags()]
            try:
                with _stderr_captured(self._log):
                    self.bpf = BPF(src_file=str(PROGRAM_SOURCE).encode(), cflags=self._cflags)
            except Exception as exc:
                raise KernelFeatureError(f"compiling the BPF program failed: "
                                         f"{_first_error(self.log())}") from exc
        self._fds: dict[str, int] = {}

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
            try:
                with _stderr_captured(self._log):
                    fn = self.bpf.load_func(name, self._BPF.SCHED_CLS)
            except Exception as exc:
                text = self.log()
                if "Permission denied" in str(exc) and "processed" not in text:
                    raise PrivilegeError("loading BPF programs needs root "
                                         "(CAP_BPF and CAP_NET_ADMIN)") from exc
                if "too large" in text or "complexity" in text:
                    raise TranslateError("the filter is too complex for the kernel's BPF "
                                         f"verifier: {_first_error(text)}") from exc
                raise KernelFeatureError(f"the kernel refused the BPF program: "
                                         f"{_first_error(text)}") from exc
            self._fds[name] = fn.fd
        return self._fds[name]

    @property
    def ring_fd(self) -> int:
        return self.bpf["events"].map_fd

    def register_interface(self, ifindex: int, interface_id: int) -> None:
        """Tell the kernel which pcapng interface id its blocks carry for this ifindex."""
        table = self.bpf["interfaces"]
        table[table.Key(ifindex)] = table.Leaf(
            *[table.sLeaf(interface_id=interface_id) for _ in range(table.total_cpu)])

    def set_wall_clock(self, offset_ns: int) -> None:
        """CLOCK_REALTIME - CLOCK_MONOTONIC, which the kernel adds to bpf_ktime_get_ns()."""
        table = self.bpf["wall_clock"]
        table[table.Key(0)] = table.Leaf(offset_ns & 0xFFFFFFFFFFFFFFFF)

    def counters(self) -> dict[int, tuple[int, int, int]]:
        """ifindex -> (seen, matched, lost), summed over CPUs."""
        totals = {}
        for key, per_cpu in self.bpf["interfaces"].items():
            totals[key.value] = (sum(c.seen for c in per_cpu), sum(c.matched for c in per_cpu),
                                 sum(c.lost for c in per_cpu))
        return totals

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.bpf.cleanup()


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
